/**
 * How a connection's end is handled, both protocols:
 * - the web server's end of its side is the end of the connection: every request on it is aborted at once,
 *   whole or not (a FIN cannot tell a half-close from a close, and a close is how nginx and Apache abort a
 *   request whose client went away);
 * - a request whose params, body or data stop coming is refused with 408 after idleTimeout without bytes,
 *   and its slot is freed (a stalled peer must not hold slots for ever);
 * - a response cut short is never passed off as complete, and never throws (SCGI on a unix socket has no
 *   reset to send: the connection is closed).
 */
import { connect, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createServer, encodeScgiHeader, type Server } from '../../lib/index.js';
import { begin, params, cgiParams, parseCgi, request, sleep, stdin, until, withTimeout } from '../helpers/fcgi-client.js';
import { startRouted, stopAll } from './setup.js';

afterEach(stopAll);
const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

const GET: [string, string][] = [['REQUEST_METHOD', 'GET'], ['REQUEST_URI', '/late']];
const POST = (uri: string): [string, string][] => [['REQUEST_METHOD', 'POST'], ['REQUEST_URI', uri]];

/** A raw SCGI exchange on a half-open-capable socket: what arrived, and how the connection ended. */
function scgiPeer(target: { port: number } | { path: string }): {
  socket: Socket; got: () => Buffer; ended: Promise<'end' | 'reset' | 'close'>;
} {
  const socket = connect({ ...target, host: '127.0.0.1', allowHalfOpen: true } as never);
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<'end' | 'reset' | 'close'>((resolve) => {
    let how: 'end' | 'reset' | 'close' = 'close';
    socket.on('end', () => { how = 'end'; socket.end(); });
    socket.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'ECONNRESET') how = 'reset'; });
    socket.on('close', () => resolve(how));
  });
  return { socket, got: () => Buffer.concat(chunks), ended };
}

describe('SCGI: the peer ends its side, stalls, or the response is cut', () => {
  it('a peer that ends its side after a whole request has it aborted at once (its end is the close), and gets no answer', async () => {
    let aborted = false;
    const r = await startRouted({ protocol: 'scgi' }, {
      '/late': (req, res) => { req.signal.addEventListener('abort', () => { aborted = true; }); setTimeout(() => res.end('answered late'), 300); },
    });
    const p = scgiPeer({ port: r.port });
    p.socket.write(encodeScgiHeader(0, GET));
    await until(() => r.server.activeRequests === 1, 2000, 'the request');
    p.socket.end();
    await until(() => aborted, 1000, 'the abort, before the handler answers');
    await withTimeout(p.ended, 3000, 'the close');
    expect(p.got().length).toBe(0);
    expect(r.server.activeRequests).toBe(0);
  });

  it('a peer that half-closes before its body is complete has the request aborted, and the server goes on', async () => {
    let aborted = false;
    const r = await startRouted({ protocol: 'scgi' }, {
      '/up': (req) => { req.signal.addEventListener('abort', () => { aborted = true; }); req.resume(); },
    });
    const p = scgiPeer({ port: r.port });
    p.socket.write(Buffer.concat([encodeScgiHeader(10, POST('/up')), Buffer.from('abc')]));
    await until(() => r.server.activeRequests === 1, 2000, 'the request');
    p.socket.end();
    await withTimeout(p.ended, 3000, 'the close');
    await until(() => aborted && r.server.activeRequests === 0, 2000, 'the abort');
  });

  it('a peer that sends the header and never the body gets 408 after idleTimeout, and the slot is freed', async () => {
    const r = await startRouted({ protocol: 'scgi', idleTimeout: 300, maxRequests: 1 }, {
      '/up': (req, res) => { req.resume(); req.on('end', () => res.end('never')); },
    });
    const p = scgiPeer({ port: r.port });
    p.socket.write(encodeScgiHeader(5, POST('/up')));
    await until(() => r.server.activeRequests === 1, 2000, 'the request');
    await withTimeout(p.ended, 3000, 'the refusal');
    expect(parseCgi(p.got()).status).toBe(408);
    expect(r.server.activeRequests).toBe(0);
    const again = scgiPeer({ port: r.port });
    again.socket.write(Buffer.concat([encodeScgiHeader(5, POST('/up')), Buffer.from('12345')]));
    await withTimeout(again.ended, 3000, 'the answer');
    expect(parseCgi(again.got()).status).toBe(200);
  });

  it('a handler that holds the body unread is not timed out by idleTimeout (the silence is this side\'s)', async () => {
    const r = await startRouted({ protocol: 'scgi', idleTimeout: 200, bodyBufferBytes: 1024 }, {
      '/hold': (req, res) => { setTimeout(() => { req.resume(); req.on('end', () => res.end('read late')); }, 700); },
    });
    const p = scgiPeer({ port: r.port });
    const body = Buffer.alloc(200_000, 7);
    p.socket.write(Buffer.concat([encodeScgiHeader(body.length, POST('/hold')), body]));
    await withTimeout(p.ended, 4000, 'the answer');
    expect(parseCgi(p.got()).body.toString()).toBe('read late');
  });

  it('a body that stops coming while the handler held it unread still gets 408 once the handler reads', async () => {
    const r = await startRouted({ protocol: 'scgi', idleTimeout: 200, bodyBufferBytes: 1024 }, {
      '/up': (req, res) => { setTimeout(() => { req.resume(); req.on('end', () => res.end('never')); }, 300); },
    });
    const p = scgiPeer({ port: r.port });
    p.socket.write(Buffer.concat([encodeScgiHeader(100_000, POST('/up')), Buffer.alloc(8000, 1)]));
    await withTimeout(p.ended, 3000, 'the refusal');
    expect(parseCgi(p.got()).status).toBe(408);
    expect(r.server.activeRequests).toBe(0);
  });

  it('over a unix socket, a response cut from a timer closes the connection (no reset there) and the server goes on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cgiwire-ends-'));
    dirs.push(dir);
    const path = join(dir, 's.sock');
    const server: Server = createServer({ protocol: 'scgi' }, (req, res) => {
      if (req.url === '/cut') { res.write('partial'); setTimeout(() => res.destroy(), 20); } else res.end('whole');
    });
    await new Promise<void>((resolve) => server.listen(path, () => resolve()));
    try {
      const cut = scgiPeer({ path });
      cut.socket.write(encodeScgiHeader(0, [['REQUEST_METHOD', 'GET'], ['REQUEST_URI', '/cut']]));
      await withTimeout(cut.ended, 3000, 'the cut');
      expect(cut.got().toString()).toContain('partial');
      const next = scgiPeer({ path });
      next.socket.write(encodeScgiHeader(0, [['REQUEST_METHOD', 'GET'], ['REQUEST_URI', '/next']]));
      await withTimeout(next.ended, 3000, 'the next answer');
      expect(parseCgi(next.got()).body.toString()).toBe('whole');
    } finally {
      await new Promise<void>((resolve) => server.close({ timeout: 50 }, () => resolve()));
    }
  });

  it('over TCP, a response cut in the same tick as its last write reaches the peer as a reset, not an end', async () => {
    const r = await startRouted({ protocol: 'scgi' }, {
      '/cut': (_req, res) => { res.write('partial'); res.destroy(); },
    });
    const p = scgiPeer({ port: r.port });
    p.socket.write(encodeScgiHeader(0, [['REQUEST_METHOD', 'GET'], ['REQUEST_URI', '/cut']]));
    expect(await withTimeout(p.ended, 3000, 'the cut')).toBe('reset');
  });
});

describe('FastCGI: the peer ends its side or stalls', () => {
  it('a peer that ends its side aborts every request on the connection, whole or not', async () => {
    const signals: AbortSignal[] = [];
    const r = await startRouted({}, {
      '/up': (req) => { signals.push(req.signal); req.resume(); },
      '/late': (req, res) => { signals.push(req.signal); setTimeout(() => res.end('too late'), 300); },
    });
    const c = await r.client();
    c.send(begin(1), params(1, cgiParams('/up', { CONTENT_LENGTH: '10' }, 'POST')), stdin(1, 'abc', false));
    c.send(request(2, { uri: '/late' }));
    await until(() => signals.length === 2, 2000, 'both requests');
    c.socket.end();
    await until(() => signals.every((s) => s.aborted), 1000, 'both aborted');
    await c.waitClosed(2000);
    expect(r.server.activeRequests).toBe(0);
  });

  it('a request whose body stops coming gets 408 after idleTimeout without bytes, and its slot is freed', async () => {
    const r = await startRouted({ idleTimeout: 300 }, { '/up': (req, res) => { req.resume(); req.on('end', () => res.end('never')); } });
    const c = await r.client();
    c.send(begin(1), params(1, cgiParams('/up', { CONTENT_LENGTH: '10' }, 'POST')), stdin(1, 'abc', false));
    const t0 = Date.now();
    const res = await c.response(1, 3000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(parseCgi(res.stdout).status).toBe(408);
    expect(r.server.activeRequests).toBe(0);
    // The connection stays usable for the next request.
    c.send(request(2, { uri: '/other', body: 'ok' }));
    expect(parseCgi((await c.response(2)).stdout).status).toBe(200);
  });

  it('a body that stops coming while the handler held it unread still gets 408 once the handler reads', async () => {
    const r = await startRouted({ idleTimeout: 200, bodyBufferBytes: 1024 }, {
      '/up': (req, res) => { setTimeout(() => { req.resume(); req.on('end', () => res.end('never')); }, 300); },
    });
    const c = await r.client();
    c.send(begin(1), params(1, cgiParams('/up', { CONTENT_LENGTH: '100000' }, 'POST')), stdin(1, Buffer.alloc(8000, 1), false, 1000));
    const res = await c.response(1, 3000);
    expect(parseCgi(res.stdout).status).toBe(408);
    expect(r.server.activeRequests).toBe(0);
  });

  it('a request whose params stop coming is refused the same way (before paramsTimeout when idleTimeout is shorter)', async () => {
    const r = await startRouted({ idleTimeout: 300, paramsTimeout: 60_000 });
    const c = await r.client();
    c.send(begin(1), params(1, cgiParams('/p'), false));
    const res = await c.response(1, 3000);
    expect(parseCgi(res.stdout).status).toBe(408);
    expect(r.server.activeRequests).toBe(0);
    await sleep(10);
  });
});
