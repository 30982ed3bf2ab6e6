/**
 * The PHP gateway at the edges of HTTP and of what PHP may answer: responses node refuses to send, HTTP
 * clients that leave before the gateway runs, statuses and lengths PHP gets wrong, bodies a parser already
 * read, and request lines and headers as clients send them. A hand-made peer plays PHP-FPM; a middleware
 * before the gateway may set headers, read the body or take a while, as Express apps do.
 */
import { afterEach, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { phpFpm, type PhpFpmOptions } from '../../lib/index.js';
import { fakeFastCgi, gatewayOver, type BeforeGateway, type FakeRequest } from './fake-peer.js';
import { until } from '../helpers/fcgi-client.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });

/** The gateway behind node:http, after `before`, in front of a peer that answers with `onRequest`. */
function serve(onRequest: (r: FakeRequest) => void, before?: BeforeGateway, options: Partial<PhpFpmOptions> = {}) {
  return gatewayOver(onRequest, cleanups, options, before);
}

/** A peer that answers every request with `answer` (STDOUT) and END_REQUEST at once: a small, complete response. */
const answering = (answer: string | Buffer) => (r: FakeRequest): void => { r.stdout(answer); r.end(); };

/** What a raw HTTP client that sends `request` receives until the server closes (or `ms` pass). */
function exchange(port: number, request: string | Buffer, ms = 1500): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const c = connect(port, '127.0.0.1', () => c.write(request));
    const timer = setTimeout(() => c.destroy(), ms);
    c.on('data', (d: Buffer) => { text += d.toString('latin1'); });
    c.on('error', () => {});
    c.on('close', () => { clearTimeout(timer); resolve(text); });
  });
}

const GET = 'GET /x.php HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n';

/** A middleware that sets a header before the gateway (Express sets X-Powered-By on every response). */
const poweredBy: BeforeGateway = (_req, res) => { res.setHeader('X-Powered-By', 'Express'); };

it('a status text with a byte node refuses is a 502, and the process goes on', async () => {
  const { port, outcomes } = await serve(answering('Status: 404 Not Found\x7f\r\nContent-Type: text/plain\r\n\r\nnope'));
  const text = await exchange(port, GET);
  expect(text).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
  await until(() => outcomes.length === 1, 1000, 'the handler to settle');
  expect(outcomes).toEqual(['ok']);
});

for (const [what, before] of [['alone', undefined], ['after a middleware set a header', poweredBy]] as const) {
  it(`a header value node refuses is a 502 with its own status text and none of PHP's headers (${what})`, async () => {
    const { port, outcomes } = await serve(
      answering('Status: 201 Made\r\nX-Good: 1\r\nContent-Length: 4\r\nX-Bad: a\x01b\r\n\r\nmade'), before);
    const text = await exchange(port, GET);
    const head = text.split('\r\n\r\n')[0];
    expect(head).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    expect(head).not.toMatch(/X-Good|Content-Length: 4/i);
    expect(text.endsWith('\r\n\r\nmade')).toBe(false);
    await until(() => outcomes.length === 1, 1000, 'the handler to settle');
    expect(outcomes).toEqual(['ok']);
  });
}

/** A peer that streams a large answer (40 pieces of 60000 bytes), stopping if its connection goes. */
function streamingLarge(r: FakeRequest): void {
  r.stdout('Content-Type: text/plain\r\n\r\n');
  let n = 0;
  const t = setInterval(() => {
    if (r.socket.destroyed) { clearInterval(t); return; }
    r.stdout(Buffer.alloc(60000, 0x61));
    if (++n === 40) { clearInterval(t); r.end(); }
  }, 5);
}

it('an HTTP client gone before the gateway runs (after an async middleware) holds no PHP connection', async () => {
  const slowMiddleware: BeforeGateway = () => new Promise((r) => setTimeout(r, 150));
  const { port, peer, outcomes } = await serve(streamingLarge, slowMiddleware, { maxConnectionsPerAddress: 1, pipeline: 1 });
  // A client that sends its request and leaves while the middleware runs.
  await new Promise<void>((resolve) => {
    const c = connect(port, '127.0.0.1', () => { c.write(GET); setTimeout(() => { c.destroy(); resolve(); }, 30); });
    c.on('error', () => {});
  });
  await until(() => outcomes.length === 1, 3000, 'the first handler to settle');
  // The one PHP connection is free: the next request gets its whole answer.
  const text = await exchange(port, GET, 4000);
  expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  expect(text.length).toBeGreaterThan(40 * 60000);
  // The request of the client that left never went to PHP.
  expect(peer.seen.filter((s) => s.type === 1 /* BEGIN_REQUEST */)).toHaveLength(1);
});

it('a 1xx status from PHP is a 502 (a CGI response is final), not a response the HTTP client waits past', async () => {
  const { port } = await serve(answering('Status: 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nbody'));
  const text = await exchange(port, GET);
  expect(text).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
});

for (const [when, onRequest] of [
  ['with END_REQUEST', answering('Content-Length: 5\r\ncontent-length: 5\r\n\r\nhello')],
  ['END_REQUEST later', (r: FakeRequest) => { r.stdout('Content-Length: 5\r\ncontent-length: 5\r\n\r\nhello'); setTimeout(() => r.end(), 20); }],
] as const) {
  it(`a Content-Length PHP repeats goes out once after a middleware set a header (${when})`, async () => {
    const { port } = await serve(onRequest, poweredBy);
    const text = await exchange(port, GET);
    const [head, body] = text.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(head).toContain('X-Powered-By: Express');
    expect(head.match(/^content-length:.*$/gim)).toEqual([expect.stringMatching(/^content-length: 5$/i)]);
    expect(body).toBe('hello');
  });
}

it('a complete answer shorter than its Content-Length is a 502 while no head is out', async () => {
  const { port } = await serve(answering('Content-Length: 100\r\nContent-Type: text/plain\r\n\r\nshort'));
  const text = await exchange(port, GET);
  expect(text).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
  expect(text).toContain('\r\n\r\nBad Gateway: PHP sent fewer bytes than its Content-Length\n');
  expect(text).not.toMatch(/Content-Length: 100/i);
});

it('a body a parser decoded to a string (express.text) is refused with 500: its bytes are gone', async () => {
  // What express.text does for a charset=iso-8859-1 body: reads it, decodes it, sets req.body.
  const textParser: BeforeGateway = async (req) => {
    const parts: Buffer[] = [];
    for await (const chunk of req) parts.push(chunk as Buffer);
    (req as { body?: unknown }).body = Buffer.concat(parts).toString('latin1');
  };
  const { port, peer } = await serve(answering('Content-Type: text/plain\r\n\r\nran'), textParser);
  const body = Buffer.from([0x63, 0x61, 0x66, 0xe9]); // "café" in ISO-8859-1
  const text = await exchange(port, Buffer.concat([Buffer.from('POST /x.php HTTP/1.1\r\nHost: a\r\n'
    + 'Content-Type: text/plain; charset=iso-8859-1\r\nContent-Length: 4\r\nConnection: close\r\n\r\n'), body]));
  expect(text).toMatch(/^HTTP\/1\.1 500 Internal Server Error\r\n/);
  expect(text).toContain('put body parsers after it');
  expect(peer.seen).toHaveLength(0);
});

/** The params PHP gets for a raw HTTP request (the peer answers each request with an empty page). */
async function paramsFor(request: string): Promise<{ text: string; params: Record<string, string>[] }> {
  const params: Record<string, string>[] = [];
  const { port } = await serve((r) => { params.push(r.params); r.stdout('Content-Type: text/plain\r\n\r\n'); r.end(); });
  return { text: await exchange(port, request), params };
}

it('SERVER_PROTOCOL is the request\'s own HTTP version', async () => {
  const { text, params } = await paramsFor('GET /x.php HTTP/1.0\r\nHost: a\r\n\r\n');
  expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  expect(params.map((p) => p.SERVER_PROTOCOL)).toEqual(['HTTP/1.0']);
});

it('a request with more than one Host header is a 400, as nginx answers (RFC 9112, 3.2)', async () => {
  const { text, params } = await paramsFor('GET /x.php HTTP/1.1\r\nHost: good.example\r\nhost: evil.example\r\nConnection: close\r\n\r\n');
  expect(text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
  expect(params).toHaveLength(0);
});

it('a request target in absolute form runs its script, with REQUEST_URI its path and query (as nginx\'s $request_uri)', async () => {
  const { text, params } = await paramsFor('GET http://good.example/x.php/more?a=1 HTTP/1.1\r\nHost: good.example\r\nConnection: close\r\n\r\n');
  expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  expect(params).toHaveLength(1);
  expect(params[0]).toMatchObject({ REQUEST_URI: '/x.php/more?a=1', QUERY_STRING: 'a=1', SCRIPT_NAME: '/x.php', PATH_INFO: '/more' });
});

it('a request target in absolute form under an Express mount', async () => {
  const root = mkdtempSync(join(tmpdir(), 'cgiwire-gw-'));
  writeFileSync(join(root, 'x.php'), '');
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  const params: Record<string, string>[] = [];
  const peer = await fakeFastCgi((r) => { params.push(r.params); r.stdout('Content-Type: text/plain\r\n\r\n'); r.end(); });
  cleanups.push(() => peer.stop());
  const gateway = phpFpm({ root, address: peer.port, multiplex: false, timeout: 2000 });
  cleanups.push(() => gateway.client.destroy());
  const app = express();
  app.use('/m', gateway);
  const web = createServer(app);
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => { web.closeAllConnections(); web.close(() => r()); }));
  const text = await exchange((web.address() as AddressInfo).port, 'GET http://good.example/m/x.php?a=1 HTTP/1.1\r\nHost: good.example\r\nConnection: close\r\n\r\n');
  expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  expect(params).toHaveLength(1);
  expect(params[0]).toMatchObject({ REQUEST_URI: '/m/x.php?a=1', SCRIPT_NAME: '/m/x.php', DOCUMENT_URI: '/m/x.php' });
});
