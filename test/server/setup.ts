/**
 * Starting and stopping application servers for the raw-socket tests: each server listens on 127.0.0.1,
 * port 0, and records the protocol errors and handler errors it reports.
 */
import type { AddressInfo } from 'node:net';
import { createServer, type CgiRequest, type CgiResponse, type Codec, type Server, type ServerOptions } from '../../lib/index.js';
import { expect } from 'vitest';
import { FcgiClient, parseCgi, PS, request, withTimeout } from '../helpers/fcgi-client.js';

export type Handler = (req: CgiRequest, res: CgiResponse) => unknown;

export interface Running {
  server: Server;
  port: number;
  protocolErrors: Error[];
  handlerErrors: unknown[];
  /** A new raw client connected to this server. */
  client(): Promise<FcgiClient>;
  stop(): Promise<void>;
}

const running = new Set<Running>();

export async function start(options: ServerOptions & { codec?: Codec }, handler: Handler): Promise<Running> {
  const server = createServer(options, handler);
  const protocolErrors: Error[] = [];
  const handlerErrors: unknown[] = [];
  server.on('protocolError', (err: Error) => protocolErrors.push(err));
  server.on('handlerError', (err: unknown) => handlerErrors.push(err));
  server.closeTimeout = 300;
  await withTimeout(new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  }), 2000, 'listen');
  const port = (server.address() as AddressInfo).port;
  const clients: FcgiClient[] = [];
  const r: Running = {
    server, port, protocolErrors, handlerErrors,
    async client() {
      const c = await FcgiClient.connect(port, { codec: options.codec });
      clients.push(c);
      return c;
    },
    async stop() {
      running.delete(r);
      for (const c of clients) c.destroy();
      if (!server.listening) return;
      await withTimeout(new Promise<void>((resolve) => server.close({ timeout: 50 }, () => resolve())), 2000, 'server close');
    },
  };
  running.add(r);
  return r;
}

/** Stops every server still running (afterEach). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((r) => r.stop()));
}

/** A handler answering 200 with `method url body-length body-sha` style text: the body it read, echoed. */
export const echo: Handler = async (req, res) => {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  const body = Buffer.concat(parts);
  res.setHeader('Content-Type', 'application/octet-stream');
  res.setHeader('X-Url', req.url ?? '');
  res.setHeader('X-Length', String(body.length));
  res.end(body);
};

/** A handler answering "ok" at once. */
export const ok: Handler = (_req, res) => {
  res.setHeader('Content-Type', 'text/plain');
  res.end('ok');
};

/** A server whose handler dispatches on the path: `routes[path]`, else {@link echo}. */
export async function startRouted(options: ServerOptions & { codec?: Codec }, routes: Record<string, Handler> = {}): Promise<Running> {
  return start(options, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    return (routes[path] ?? echo)(req, res);
  });
}

/**
 * The rule after every malformed input: the server still serves a normal request, on `client` when given
 * (the old connection is still usable), else on a new connection.
 */
export async function expectServes(r: Running, client?: FcgiClient, id = 1): Promise<FcgiClient> {
  const c = client ?? await r.client();
  c.send(request(id, { uri: '/after', body: 'still here' }));
  const res = await c.response(id);
  expect(res.protocolStatus).toBe(PS.REQUEST_COMPLETE);
  const a = parseCgi(res.stdout);
  expect(a.status).toBe(200);
  expect(a.body.toString()).toBe('still here');
  return c;
}

/** A promise with its resolve function, for handlers a test releases by hand. */
export function deferred<V = void>(): { promise: Promise<V>; resolve: (v: V) => void } {
  let resolve!: (v: V) => void;
  const promise = new Promise<V>((r) => { resolve = r; });
  return { promise, resolve };
}
