/**
 * The in-process cgiwire server (lib/ sources) that nginx and Apache forward to, on a free loopback port.
 */
import { Server, type Codec, type ServerOptions } from '../../lib/index.js';
import { handler } from './app.mjs';

export interface AppServer {
  server: Server;
  port: number;
  /** Handler errors seen (the throwing and rejecting routes). */
  handlerErrors: Error[];
  /** Protocol errors the server reported. */
  protocolErrors: Error[];
  close(): Promise<void>;
}

/** `codec`: the codec the server uses (the tests run each front end on both). */
export function startApp(options: ServerOptions, codec: Codec): Promise<AppServer> {
  const server = new Server({ ...options, codec }, handler as never);
  const handlerErrors: Error[] = [];
  const protocolErrors: Error[] = [];
  server.on('handlerError', (err: Error) => handlerErrors.push(err));
  server.on('protocolError', (err: Error) => protocolErrors.push(err));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      resolve({
        server,
        port,
        handlerErrors,
        protocolErrors,
        close: () => new Promise<void>((done) => server.close({ timeout: 2000 }, () => done())),
      });
    });
  });
}
