/**
 * The shared framework suite: one app per framework, written as its docs show for node:http, mounted with
 * cgiwire's createServer, behind a real nginx over FastCGI (upstream keepalive, fastcgi_keep_conn on).
 * Every framework app serves the same routes:
 *
 *   GET  /users/:name?q=..  200 JSON { name, q, url }          (params and query, percent-decoded by the framework)
 *   POST /items             201 JSON { title, n, padLength }   (JSON body parsed by the framework's parser)
 *   GET  /missing           404 from the framework's not-found handling
 *   GET  /boom              500 from the framework's error handling (the route throws)
 *   GET  /headers           200 text/plain, X-Custom: custom-value, Set-Cookie a=1 and b=two (HttpOnly)
 *   GET  /redirect          302 Location: /users/x
 *   GET  /moved             301 Location: /users/y
 *   GET  /big               1 MiB streamed (bigBody()), application/octet-stream
 *   GET  /whoami            200 JSON { ip, port, host, protocol } as the framework reports them
 *   POST /upload            200 JSON { bytes, sha256 } of a raw application/octet-stream body (3 MiB)
 *   GET  /early             103 Early Hints (Link) through the framework or res.writeEarlyHints, then 200 text/plain "hello"
 *   GET  /forever           an endless stream (foreverStream(), or the framework's own streaming helper,
 *                           counted in foreverStats) the client walks away from
 *
 * Each runs on both codecs.
 */
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Codec, Server } from '../../lib/index.js';
import { CODECS } from '../helpers/codecs.js';
import { startNginx, type Nginx } from './nginx.js';

export const BIG_SIZE = 1024 * 1024;
export const BIG_CHUNK = 16 * 1024;

let big: Buffer | undefined;
/** The 1 MiB body /big streams: a fixed pseudo-random pattern, so a misplaced chunk shows. */
export function bigBody(): Buffer {
  if (big) return big;
  big = Buffer.alloc(BIG_SIZE);
  let x = 0x9e3779b9;
  for (let i = 0; i < BIG_SIZE; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    big[i] = x & 0xff;
  }
  return big;
}

/** /big's chunks, for the frameworks that take a node Readable (Readable.from(bigChunks())). */
export function* bigChunks(): Generator<Buffer> {
  const b = bigBody();
  for (let i = 0; i < b.length; i += BIG_CHUNK) yield b.subarray(i, i + BIG_CHUNK);
}

/** Endless streams started and closed by /forever routes, so a test can see that the app was told. */
export const foreverStats = { started: 0, closed: 0 };
export const FOREVER_CHUNK = Buffer.alloc(16 * 1024, 0x61);

/** An endless node Readable for /forever: a chunk every 2 ms until it is destroyed. */
export function foreverStream(): Readable {
  foreverStats.started++;
  let timer: NodeJS.Timeout | undefined;
  return new Readable({
    read() { timer = setTimeout(() => this.push(FOREVER_CHUNK), 2); },
    destroy(err, cb) { clearTimeout(timer); foreverStats.closed++; cb(err); },
  });
}

export const sha256 = (b: Buffer | Uint8Array): string => createHash('sha256').update(b).digest('hex');

export interface RunningApp {
  /** The cgiwire server the framework runs on (already listening). */
  server: Server;
  close(): Promise<void>;
}

export interface PlainApp {
  port: number;
  close(): Promise<void>;
}

export interface FrameworkSpec {
  /** Starts the app on cgiwire with this codec, listening on 127.0.0.1 at some port. */
  start(codec: Codec): Promise<RunningApp>;
  /** Starts the same app on plain node:http (no cgiwire, no nginx): the reference it must match. */
  startPlain(): Promise<PlainApp>;
  /** More GET paths for the differential test. */
  diffPaths?: string[];
  /** The framework's own 404 body and content type. */
  notFound: { type: RegExp; body: RegExp };
  /** The framework's own 500 body and content type. */
  serverError: { type: RegExp; body: RegExp };
  /** Extra tests for this framework, run with the nginx port. */
  extra?: (ctx: () => SuiteContext) => void;
}

export interface SuiteContext {
  nginx: Nginx;
  app: RunningApp;
  plain: PlainApp;
}

export interface Reply {
  status: number;
  headers: import('node:http').IncomingHttpHeaders;
  body: Buffer;
  /** The client's local port: what nginx passes as REMOTE_PORT. */
  localPort: number;
  text(): string;
  json(): any;
}

/** Generous for what the suite asks of a local nginx (a 1 MiB body takes milliseconds); a stall fails fast. */
const REQUEST_TIMEOUT_MS = 3_000;

/** One HTTP/1.1 request to nginx on a fresh connection. */
export function fetchVia(port: number, method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {},
  opts: { chunked?: boolean } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const payload = typeof body === 'string' ? Buffer.from(body) : body;
    const req = request({
      host: '127.0.0.1', port, method, path, agent: false,
      headers: { ...headers, ...(payload && !opts.chunked ? { 'content-length': String(payload.length) } : {}) },
    });
    let localPort = 0;
    req.on('socket', (s) => s.on('connect', () => { localPort = s.localPort!; }));
    req.on('error', reject);
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`${method} ${path}: no complete response in ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        resolve({
          status: res.statusCode!, headers: res.headers, body: buf, localPort,
          text: () => buf.toString('utf8'),
          json: () => JSON.parse(buf.toString('utf8')),
        });
      });
    });
    if (payload && opts.chunked) {
      // Transfer-Encoding: chunked, in three pieces: nginx has to assemble the body itself.
      const third = Math.floor(payload.length / 3);
      req.write(payload.subarray(0, third));
      req.write(payload.subarray(third, 2 * third));
      req.end(payload.subarray(2 * third));
    } else {
      req.end(payload);
    }
  });
}

/** A GET with Connection: close on a raw socket: the response exactly as nginx sent it (latin1). */
export function rawGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect(port, '127.0.0.1');
    let out = '';
    const timer = setTimeout(() => { c.destroy(); reject(new Error(`GET ${path}: not closed in ${REQUEST_TIMEOUT_MS} ms; got ${JSON.stringify(out)}`)); }, REQUEST_TIMEOUT_MS);
    c.on('data', (d: Buffer) => { out += d.toString('latin1'); });
    c.on('error', reject);
    c.on('close', () => { clearTimeout(timer); resolve(out); });
    c.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
  });
}

/** GETs /forever, reads 64 KiB, then drops the connection. */
export function walkAway(port: number, path = '/forever'): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false });
    req.on('error', () => { /* we destroy it */ });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => { req.destroy(); reject(new Error(`GET ${path}: 64 KiB did not come in ${REQUEST_TIMEOUT_MS} ms`)); });
    req.on('response', (res) => {
      let got = 0;
      res.on('data', (c: Buffer) => {
        got += c.length;
        if (got >= 64 * 1024) { req.destroy(); resolve(); }
      });
      res.on('end', () => reject(new Error('an endless stream ended')));
    });
    req.end();
  });
}

/** Waits until cond() holds (or the timeout passes). */
export async function until(cond: () => boolean, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/** Response headers nginx owns or rewrites (the HTTP connection, framing, its own Date and Server). */
const NGINX_OWNED = new Set(['date', 'server', 'connection', 'keep-alive', 'transfer-encoding']);

/** status, headers (without NGINX_OWNED) and body, for comparing a response through nginx with node:http's. */
function comparable(r: Reply, withBody: boolean): object {
  const headers: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r.headers)) if (!NGINX_OWNED.has(k)) headers[k] = v;
  return { status: r.status, headers, ...(withBody ? { body: r.body.toString('latin1') } : { bodyLength: r.body.length }) };
}

const NAME = 'Jürgen Müller';
const NAME_PATH = '/users/' + encodeURIComponent(NAME); // /users/J%C3%BCrgen%20M%C3%BCller
const QUERY = '?q=caf%C3%A9+ol%C3%A9&other=1';

export function frameworkSuite(framework: string, spec: FrameworkSpec): void {
  describe.each(CODECS)(`${framework} behind nginx over FastCGI ($name codec)`, ({ codec }) => {
    let app: RunningApp;
    let nginx: Nginx;
    let plain: PlainApp;
    let connections = 0;
    let get: (path: string, headers?: Record<string, string>) => Promise<Reply>;

    beforeAll(async () => {
      app = await spec.start(codec);
      app.server.on('connection', () => { connections++; });
      const addr = app.server.address();
      if (addr === null || typeof addr === 'string') throw new Error('app is not listening on TCP');
      nginx = await startNginx(addr.port);
      plain = await spec.startPlain();
      get = (path, headers) => fetchVia(nginx.port, 'GET', path, undefined, headers);
    });

    afterAll(async () => {
      await nginx?.stop();
      await app?.close();
      await plain?.close();
    });

    test('GET with route params and query: percent-encoded non-ASCII decoded by the framework', async () => {
      const r = await get(NAME_PATH + QUERY);
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toMatch(/^application\/json/);
      expect(r.json()).toEqual({ name: NAME, q: 'café olé', url: NAME_PATH + QUERY });
    });

    test('POST JSON: parsed by the framework body parser, 201', async () => {
      const pad = 'x'.repeat(90_000); // more than nginx's client_body_buffer_size and one FastCGI record
      const body = JSON.stringify({ title: 'naïve ☃', n: 42, pad });
      const r = await fetchVia(nginx.port, 'POST', '/items', body, { 'content-type': 'application/json' });
      expect(r.status).toBe(201);
      expect(r.headers['content-type']).toMatch(/^application\/json/);
      expect(r.json()).toEqual({ title: 'naïve ☃', n: 42, padLength: 90_000 });
    });

    test('404 from the framework not-found handling', async () => {
      const r = await get('/missing');
      expect(r.status).toBe(404);
      expect(r.headers['content-type']).toMatch(spec.notFound.type);
      expect(r.text()).toMatch(spec.notFound.body);
    });

    test('500 from the framework error handling, and the app goes on', async () => {
      const r = await get('/boom');
      expect(r.status).toBe(500);
      expect(r.headers['content-type']).toMatch(spec.serverError.type);
      expect(r.text()).toMatch(spec.serverError.body);
      const after = await get('/users/x?q=1');
      expect(after.status).toBe(200);
      expect(after.json().name).toBe('x');
    });

    test('response headers: content-type, a custom header, two cookies', async () => {
      const r = await get('/headers');
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toMatch(/^text\/plain; ?charset=utf-8$/i);
      expect(r.headers['x-custom']).toBe('custom-value');
      const cookies = r.headers['set-cookie'] ?? [];
      expect(cookies).toHaveLength(2);
      expect(cookies[0]).toMatch(/^a=1(;|$)/);
      expect(cookies[1]).toMatch(/^b=two;/);
      expect(cookies[1]).toMatch(/;\s*httponly/i);
      expect(r.text()).toBe('hello');
    });

    test('redirects: 302 and 301 with Location', async () => {
      const r = await get('/redirect');
      expect(r.status).toBe(302);
      expect(r.headers.location).toBe('/users/x');
      const m = await get('/moved');
      expect(m.status).toBe(301);
      expect(m.headers.location).toBe('/users/y');
    });

    test('103 Early Hints: CGI has no interim responses; the client gets the final response, and only it', async () => {
      // Read raw: a node client would fail on what a misframed response looks like without showing it.
      const raw = await rawGet(nginx.port, '/early');
      const head = raw.slice(0, raw.indexOf('\r\n\r\n'));
      expect({ statusLine: head.split('\r\n')[0], body: raw.slice(raw.indexOf('\r\n\r\n') + 4), raw })
        .toEqual({ statusLine: 'HTTP/1.1 200 OK', body: 'hello', raw: expect.any(String) });
      expect(head).toMatch(/\r\ncontent-type: text\/plain; ?charset=utf-8\r\n/i);
    });

    test('a streamed 1 MiB response arrives whole and in order', async () => {
      const r = await get('/big');
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toMatch(/^application\/octet-stream/);
      expect(r.body.length).toBe(BIG_SIZE);
      expect(r.body.equals(bigBody())).toBe(true);
    });

    test('remote address, host and protocol as the framework reports them', async () => {
      const r = await get('/whoami');
      expect(r.status).toBe(200);
      expect(r.json()).toEqual({ ip: '127.0.0.1', port: r.localPort, host: `127.0.0.1:${nginx.port}`, protocol: 'http' });
    });

    test('POST JSON with a chunked request body (no Content-Length from the client)', async () => {
      const body = JSON.stringify({ title: 'chunked', n: 7, pad: 'y'.repeat(50_000) });
      const r = await fetchVia(nginx.port, 'POST', '/items', body, { 'content-type': 'application/json' }, { chunked: true });
      expect(r.status).toBe(201);
      expect(r.json()).toEqual({ title: 'chunked', n: 7, padLength: 50_000 });
    });

    test('a 3 MiB raw upload (odd length) reaches the handler whole', async () => {
      const body = Buffer.concat([bigBody(), Buffer.from(bigBody()).reverse(), bigBody().subarray(1)]);
      const r = await fetchVia(nginx.port, 'POST', '/upload', body, { 'content-type': 'application/octet-stream' });
      expect(r.status).toBe(200);
      expect(r.json()).toEqual({ bytes: body.length, sha256: sha256(body) });
    });

    test('16 concurrent requests (8 streamed 1 MiB GETs, 8 JSON POSTs) over several FastCGI connections', async () => {
      const gets = Array.from({ length: 8 }, () => get('/big'));
      const posts = Array.from({ length: 8 }, (_, i) => fetchVia(nginx.port, 'POST', '/items',
        JSON.stringify({ title: `t${i}`, n: i, pad: 'z'.repeat(1000 * i) }), { 'content-type': 'application/json' }));
      for (const r of await Promise.all(gets)) {
        expect(r.status).toBe(200);
        expect(r.body.equals(bigBody())).toBe(true);
      }
      const replies = await Promise.all(posts);
      replies.forEach((r, i) => {
        expect(r.status).toBe(201);
        expect(r.json()).toEqual({ title: `t${i}`, n: i, padLength: 1000 * i });
      });
    });

    test('a client that walks away mid-stream: the app is told, the request is freed', async () => {
      const started = foreverStats.started, closed = foreverStats.closed;
      await walkAway(nginx.port);
      await until(() => foreverStats.closed >= closed + 1 && app.server.activeRequests === 0);
      expect(foreverStats.started).toBe(started + 1);
      expect(foreverStats.closed).toBe(closed + 1);
      expect(app.server.activeRequests).toBe(0);
      expect((await get('/users/after?q=abort')).json().q).toBe('abort');
    });

    test('differential: status, headers and body match the same app on plain node:http', async () => {
      const paths = [NAME_PATH + QUERY, '/missing', '/headers', '/redirect', '/moved', '/big', ...(spec.diffPaths ?? [])];
      for (const path of paths) {
        const [viaNginx, direct] = [await get(path), await fetchVia(plain.port, 'GET', path)];
        expect.soft(comparable(viaNginx, path !== '/big'), path).toEqual(comparable(direct, path !== '/big'));
        const [headNginx, headDirect] = [await fetchVia(nginx.port, 'HEAD', path), await fetchVia(plain.port, 'HEAD', path)];
        expect.soft(comparable(headNginx, true), `HEAD ${path}`).toEqual(comparable(headDirect, true));
        if (direct.headers.etag !== undefined) {
          // The framework's freshness check (Express: an ETag on every send; static files): a 304 without a body.
          const h = { 'if-none-match': direct.headers.etag };
          const [c1, c2] = [await get(path, h), await fetchVia(plain.port, 'GET', path, undefined, h)];
          expect.soft(comparable(c1, true), `conditional ${path}`).toEqual(comparable(c2, true));
        }
      }
      // /boom: the body may hold a stack trace, whose frames differ (cgiwire's server vs node's).
      const [viaNginx, direct] = [await get('/boom'), await fetchVia(plain.port, 'GET', '/boom')];
      const strip = (r: Reply) => { const c = comparable(r, false) as { headers: Record<string, unknown> }; delete c.headers['content-length']; return c; };
      expect(strip(viaNginx)).toEqual(strip(direct));
    });

    spec.extra?.(() => ({ nginx, app, plain }));

    test('nginx reuses its FastCGI connection for sequential requests (keepalive, fastcgi_keep_conn)', async () => {
      const before = connections;
      for (let i = 0; i < 5; i++) expect((await get(`/users/k${i}?q=${i}`)).status).toBe(200);
      expect(connections - before).toBeLessThanOrEqual(1);
    });

    test('nginx logged no upstream error', () => {
      expect(nginx.errors()).toEqual([]);
    });
  });
}

/** Listens on 127.0.0.1 at a free port, as an app's own `server.listen(port, host, cb)` would. */
export function listenLocal(server: Server): Promise<RunningApp> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve({ server, close: () => new Promise<void>((done) => server.close(() => done())) });
    });
  });
}

/** A plain node:http server for a request listener, on 127.0.0.1 at a free port. */
export async function plainHttp(listener: import('node:http').RequestListener): Promise<PlainApp> {
  const { createServer: createHttpServer } = await import('node:http');
  const server = createHttpServer(listener);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
