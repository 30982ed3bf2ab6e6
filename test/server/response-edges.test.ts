/**
 * Edges of the node:http-compatible request and response, each compared with what node:http does:
 * a handler failing in odd ways (the 500 must never throw, and never carry the failed response's status
 * text or headers), the request's end when the response is cut, write callbacks before 'finish',
 * headersDistinct, the socket's net.Socket fields, and a final 1xx status (which CGI cannot carry).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { IncomingMessage } from 'node:http';
import { header, parseCgi, request, until } from '../helpers/fcgi-client.js';
import { startRouted, stopAll, type Running } from './setup.js';

afterEach(stopAll);

async function answer(r: Running, uri: string, opts: { params?: Record<string, string> } = {}): Promise<ReturnType<typeof parseCgi>> {
  const c = await r.client();
  const p = opts.params === undefined ? undefined : {
    REQUEST_METHOD: 'GET', REQUEST_URI: uri, SERVER_PROTOCOL: 'HTTP/1.1', ...opts.params,
  };
  c.send(request(1, p === undefined ? { uri } : { params: p }));
  return parseCgi((await c.response(1)).stdout);
}

describe('a failing handler gets a clean 500, and the server goes on', () => {
  it('a Trailer header (CGI has no trailers) makes the write throw, and the 500 that follows does not', async () => {
    const r = await startRouted({}, {
      '/trailer': (_req, res) => {
        res.setHeader('Trailer', 'Server-Timing');
        res.write('body');
        res.end();
      },
    });
    const a = await answer(r, '/trailer');
    expect(a.status).toBe(500);
    expect(header(a, 'Trailer')).toBeUndefined();
    expect(r.handlerErrors.map((e) => (e as NodeJS.ErrnoException).code)).toEqual(['ERR_HTTP_TRAILER_INVALID']);
    expect((await answer(r, '/next')).status).toBe(200);
  });

  it('a status message that node refuses: the 500 is sent with its own text, not the bad one', async () => {
    const r = await startRouted({}, {
      '/bad-message': (_req, res) => { res.statusMessage = 'OK\nX: y'; res.end('x'); },
      '/bad-message-async': async (_req, res) => { await Promise.resolve(); res.statusMessage = 'OK\nX: y'; res.end('x'); },
    });
    for (const uri of ['/bad-message', '/bad-message-async']) {
      const a = await answer(r, uri);
      expect(a.status).toBe(500);
      expect(a.headerText).toMatch(/^Status: 500 Internal Server Error$/m);
    }
    expect(r.handlerErrors).toHaveLength(2);
  });

  it("the 500 does not carry the headers or status text the handler had set", async () => {
    const r = await startRouted({}, {
      '/half-set': (_req, res) => {
        res.statusMessage = 'Created';
        res.setHeader('Content-Length', '2');
        res.setHeader('Content-Encoding', 'gzip');
        res.setHeader('Set-Cookie', ['a=1']);
        throw new Error('failed after setting headers');
      },
    });
    const a = await answer(r, '/half-set');
    expect(a.headerText).toMatch(/^Status: 500 Internal Server Error$/m);
    for (const name of ['Content-Length', 'Content-Encoding', 'Set-Cookie']) expect(header(a, name)).toBeUndefined();
    expect(a.body.toString()).toBe('Internal Server Error\n');
  });
});

describe('the request ends with a cut response, as with node:http', () => {
  it("res.destroy() before the end: req gets 'aborted', then 'close' (an ECONNRESET 'aborted' error to its listeners)", async () => {
    const events: string[] = [];
    const r = await startRouted({}, {
      '/cut': (req, res) => {
        req.on('aborted', () => events.push('aborted'));
        req.on('error', (e: NodeJS.ErrnoException) => events.push(`error ${e.code} ${e.message}`));
        req.on('close', () => events.push('close'));
        res.write('partial');
        setTimeout(() => res.destroy(), 10);
      },
    });
    const c = await r.client();
    c.send(request(1, { uri: '/cut' }));
    await until(() => events.includes('close'), 2000, "req 'close'");
    expect(events).toEqual(['aborted', 'error ECONNRESET aborted', 'close']);
  });

  it("in res 'close' after a cut, req is already aborted and destroyed (node:http's order)", async () => {
    let seen: { aborted: boolean; destroyed: boolean } | undefined;
    const r = await startRouted({}, {
      '/cut': (req, res) => {
        res.on('close', () => { seen = { aborted: req.aborted, destroyed: req.destroyed }; });
        res.write('partial');
        setTimeout(() => res.destroy(), 10);
      },
    });
    const c = await r.client();
    c.send(request(1, { uri: '/cut' }));
    await until(() => seen !== undefined, 2000, "res 'close'");
    expect(seen).toEqual({ aborted: true, destroyed: true });
  });

  it("a socket timeout with nobody listening cuts the response and closes req", async () => {
    const events: string[] = [];
    const r = await startRouted({}, {
      '/slow': (req, res) => {
        req.on('close', () => events.push('req close'));
        res.on('close', () => events.push('res close'));
        res.setTimeout(50);
        res.write('started');
      },
    });
    const c = await r.client();
    c.send(request(1, { uri: '/slow' }));
    await until(() => events.includes('req close') && events.includes('res close'), 2000, "both 'close' events");
  });
});

describe('writes and their callbacks', () => {
  it("a write's callback runs before 'finish' and before end's callback; writableLength counts unconfirmed bytes", async () => {
    const order: string[] = [];
    let lengthAfterWrite = -1;
    const r = await startRouted({}, {
      '/cb': (_req, res) => {
        res.on('finish', () => order.push('finish'));
        res.write('abc', () => order.push('write cb'));
        lengthAfterWrite = res.writableLength;
        res.end(() => order.push('end cb'));
      },
    });
    await answer(r, '/cb');
    await until(() => order.length === 3, 2000, 'the callbacks');
    expect(order).toEqual(['write cb', 'finish', 'end cb']);
    expect(lengthAfterWrite).toBeGreaterThan(0);
  });
});

describe('the request and its socket', () => {
  it('req.headersDistinct lists every value of every header, as node:http does', async () => {
    let distinct: IncomingMessage['headersDistinct'] | undefined;
    const r = await startRouted({}, { '/d': (req, res) => { distinct = req.headersDistinct; res.end(); } });
    // nginx sends a repeated request header as two params of the same name.
    const c = await r.client();
    c.send(request(1, { params: [['REQUEST_METHOD', 'GET'], ['REQUEST_URI', '/d'], ['HTTP_X_MULTI', 'a'], ['HTTP_X_MULTI', 'b'],
      ['HTTP_HOST', 'h'], ['CONTENT_TYPE', 'text/plain']] }));
    await c.response(1);
    expect(distinct).toEqual({ 'x-multi': ['a', 'b'], host: ['h'], 'content-type': ['text/plain'] });
  });

  it('req.headersDistinct takes header names that are Object.prototype names, and is not an own enumerable key', async () => {
    let distinct: unknown;
    let keys: string[] = [];
    const r = await startRouted({}, { '/d': (req, res) => { keys = Object.keys(req); distinct = req.headersDistinct; res.end(); } });
    const c = await r.client();
    c.send(request(1, { params: [['REQUEST_METHOD', 'GET'], ['REQUEST_URI', '/d'], ['HTTP_CONSTRUCTOR', 'c'], ['HTTP_TOSTRING', 't']] }));
    await c.response(1);
    expect(distinct).toEqual({ constructor: ['c'], tostring: ['t'] });
    expect(keys).not.toContain('headersDistinct');
  });

  it("req.socket has net.Socket's state fields: pending, connecting, readyState, bytesRead; res.writableCorked is a number", async () => {
    let seen: Record<string, unknown> = {};
    const r = await startRouted({}, {
      '/s': (req, res) => {
        req.on('data', () => {});
        req.on('end', () => {
          const s = req.socket as unknown as Record<string, unknown>;
          seen = { pending: s.pending, connecting: s.connecting, readyState: s.readyState, bytesRead: s.bytesRead, corked: res.writableCorked };
          res.end();
        });
      },
    });
    const c = await r.client();
    c.send(request(1, { uri: '/s', body: 'twelve bytes' }));
    await c.response(1);
    expect(seen).toEqual({ pending: false, connecting: false, readyState: 'open', bytesRead: 12, corked: 0 });
  });
});

describe('a final 1xx status', () => {
  it('writeHead(101) then end(): CGI cannot carry it, so the web server gets a 500 instead of an empty answer', async () => {
    const r = await startRouted({}, { '/upgrade': (_req, res) => { res.writeHead(101, { Upgrade: 'websocket' }); res.end(); } });
    const a = await answer(r, '/upgrade');
    expect(a.status).toBe(500);
  });

  it('writeEarlyHints after writeHead(200) stays interim: the 200 goes out, not a 500', async () => {
    const r = await startRouted({}, {
      '/late-hints': (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.writeEarlyHints({ link: '</a.css>; rel=preload' });
        res.end('hello');
      },
    });
    const a = await answer(r, '/late-hints');
    expect(a.status).toBe(200);
    expect(a.body.toString()).toBe('hello');
  });

  it('writeContinue and writeEarlyHints stay interim: dropped, and the final response follows', async () => {
    const r = await startRouted({}, {
      '/hints': (_req, res) => {
        res.writeContinue();
        res.writeEarlyHints({ link: '</a.css>; rel=preload' });
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end('final');
      },
    });
    const a = await answer(r, '/hints');
    expect(a.status).toBe(200);
    expect(a.body.toString()).toBe('final');
  });
});
