/**
 * The in-process cgiwire server (lib/ sources) that nginx and Apache forward to, on a free loopback port.
 */
import { Server, type Codec, type ServerOptions } from '../../lib/index.js';
import { handler } from './app.mjs';

export interface AppServer {
  server: Server;
  /** The TCP port it listens on (0 when it listens on a unix socket). */
  port: number;
  /** The unix socket it listens on, when started with one. */
  path?: string;
  /** Handler errors seen (the throwing and rejecting routes). */
  handlerErrors: Error[];
  /** Protocol errors the server reported. */
  protocolErrors: Error[];
  close(): Promise<void>;
}

/**
 * `codec`: the codec the server uses (the tests run each front end on both). `path`: listen on this unix
 * socket (readable by every user: web server workers run as another one) instead of a free TCP port.
 */
export function startApp(options: ServerOptions, codec: Codec, path?: string): Promise<AppServer> {
  const server = new Server({ ...options, codec }, handler as never);
  const handlerErrors: Error[] = [];
  const protocolErrors: Error[] = [];
  server.on('handlerError', (err: Error) => handlerErrors.push(err));
  server.on('protocolError', (err: Error) => protocolErrors.push(err));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const ready = (): void => {
      const port = path === undefined ? (server.address() as { port: number }).port : 0;
      resolve({
        server,
        port,
        path,
        handlerErrors,
        protocolErrors,
        close: () => new Promise<void>((done) => server.close({ timeout: 2000 }, () => done())),
      });
    };
    if (path === undefined) server.listen(0, '127.0.0.1', ready);
    else server.listen({ path, mode: 0o666 }, ready);
  });
}
