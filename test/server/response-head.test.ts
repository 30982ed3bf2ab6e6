/**
 * The CGI header block a response becomes (RFC 3875, 6.2), for every way node:http lets a handler give its
 * headers: setHeader, writeHead with an object, a flat [name, value, ...] list or a list of pairs, and
 * array values. Each rule is what node:http would put on the wire, less what the web server owns.
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { header, parseCgi, request } from '../helpers/fcgi-client.js';
import { startRouted, stopAll, type Running } from './setup.js';
import type { CgiResponse } from '../../lib/index.js';
import type { Exchange } from '../../lib/exchange.js';
import { createResponse } from '../../lib/http/response.js';
import { ExchangeSocket } from '../../lib/http/socket.js';

afterEach(stopAll);

async function answer(r: Running, uri: string): Promise<ReturnType<typeof parseCgi>> {
  const c = await r.client();
  c.send(request(1, { uri }));
  return parseCgi((await c.response(1)).stdout);
}

const lines = (a: ReturnType<typeof parseCgi>): string[] => a.headerText.split('\r\n');

describe('the header block', () => {
  it('has no Date of its own (the web server stamps the response); a Date the handler sets is passed', async () => {
    const r = await startRouted({}, {
      '/plain': (_q, res) => res.end('x'),
      '/dated': (_q, res) => { res.setHeader('Date', 'Tue, 01 Dec 2026 10:00:00 GMT'); res.end('x'); },
    });
    expect(header(await answer(r, '/plain'), 'Date')).toBeUndefined();
    expect(header(await answer(r, '/dated'), 'Date')).toBe('Tue, 01 Dec 2026 10:00:00 GMT');
  });

  it('takes headers from writeHead as an object, a flat list and a list of pairs, names in their case', async () => {
    const r = await startRouted({}, {
      '/object': (_q, res) => { res.writeHead(201, { 'X-One': '1', 'x-two': 2 }); res.end(); },
      '/flat': (_q, res) => { res.writeHead(202, ['X-One', '1', 'X-Two', '2']); res.end(); },
      '/pairs': (_q, res) => { (res as unknown as { writeHead(s: number, h: string[][]): void }).writeHead(203, [['X-One', '1'], ['X-Two', '2']]); res.end(); },
      '/merged': (_q, res) => { res.setHeader('X-Set', 'a'); res.writeHead(204, { 'X-Given': 'b' }); res.end(); },
    });
    expect(lines(await answer(r, '/object'))).toEqual(['Status: 201 Created', 'X-One: 1', 'x-two: 2']);
    expect(lines(await answer(r, '/flat'))).toEqual(['Status: 202 Accepted', 'X-One: 1', 'X-Two: 2']);
    expect(lines(await answer(r, '/pairs'))).toEqual(['Status: 203 Non-Authoritative Information', 'X-One: 1', 'X-Two: 2']);
    expect(lines(await answer(r, '/merged'))).toEqual(['Status: 204 No Content', 'X-Set: a', 'X-Given: b']);
  });

  it('writes an array value as one line per element, and a Cookie array as one line joined with "; "', async () => {
    const r = await startRouted({}, {
      '/arrays': (_q, res) => {
        res.writeHead(200, { 'X-Many': ['1', '2'], Cookie: ['a=1', 'b=2'] });
        res.end();
      },
    });
    expect(lines(await answer(r, '/arrays'))).toEqual(['Status: 200 OK', 'X-Many: 1', 'X-Many: 2', 'Cookie: a=1; b=2']);
  });

  it('refuses what node:http refuses: a bad name or value given to writeHead throws, and the 500 follows', async () => {
    const codes: string[] = [];
    const attempt = (res: CgiResponse, f: () => void): void => {
      try { f(); } catch (err) { codes.push((err as NodeJS.ErrnoException).code!); }
      res.end('after');
    };
    const r = await startRouted({}, {
      '/bad-value': (_q, res) => attempt(res, () => res.writeHead(200, { 'X-A': 'one\r\nX-Injected: 1' })),
      '/bad-name': (_q, res) => attempt(res, () => res.writeHead(200, { 'X A': '1' })),
      '/odd-list': (_q, res) => attempt(res, () => res.writeHead(200, ['X-A', '1', 'X-B'])),
      '/undefined': (_q, res) => attempt(res, () => res.writeHead(200, { 'X-A': undefined as unknown as string })),
    });
    for (const uri of ['/bad-value', '/bad-name', '/odd-list', '/undefined']) {
      const a = await answer(r, uri);
      // The head was not stored: the handler's own end() sends a plain 200 with its body, nothing injected.
      expect(a.headerText).not.toMatch(/X-Injected|X-A|X-B/);
      expect(a.body.toString()).toBe('after');
    }
    expect(codes).toEqual(['ERR_INVALID_CHAR', 'ERR_INVALID_HTTP_TOKEN', 'ERR_INVALID_ARG_VALUE', 'ERR_HTTP_INVALID_HEADER_VALUE']);
  });

  it('writes header values as latin1 bytes, whatever the encoding of a string body', async () => {
    const r = await startRouted({}, {
      '/latin1': (_q, res) => {
        res.setHeader('Content-Disposition', 'attachment; filename="na\u00efve.txt"');
        res.end('caf\u00e9 \u20ac', 'utf8');
      },
    });
    const c = await r.client();
    c.send(request(1, { uri: '/latin1' }));
    const out = (await c.response(1)).stdout;
    expect(out.includes(Buffer.from('filename="na\u00efve.txt"', 'latin1'))).toBe(true);
    expect(parseCgi(out).body.toString('utf8')).toBe('caf\u00e9 \u20ac');
  });

  it('keeps strictContentLength working: end() after a body longer than Content-Length throws, as on node:http', async () => {
    let code: string | undefined;
    const r = await startRouted({}, {
      '/strict': (_q, res) => {
        res.strictContentLength = true;
        res.setHeader('Content-Length', '2');
        try {
          res.write('three');
          res.end();
        } catch (err) { code = (err as NodeJS.ErrnoException).code; }
        res.destroy();
      },
    });
    await r.client().then((c) => { c.send(request(1, { uri: '/strict' })); return c.response(1); }).catch(() => undefined);
    expect(code).toBe('ERR_HTTP_CONTENT_LENGTH_MISMATCH');
  });

  it('a Trailer with a Transfer-Encoding: chunked (which node:http accepts) sends the response without both; a 204 still refuses it', async () => {
    const codes: string[] = [];
    const r = await startRouted({}, {
      '/chunked-trailer': (_q, res) => {
        res.writeHead(200, { 'Transfer-Encoding': 'gzip, chunked', Trailer: 'X-T', 'Content-Type': 'text/plain' });
        res.write('abc');
        res.addTrailers({ 'X-T': '1' });
        res.end('def');
      },
      '/no-content': (_q, res) => {
        try { res.writeHead(204, { 'Transfer-Encoding': 'chunked', Trailer: 'X-T' }); } catch (err) { codes.push((err as NodeJS.ErrnoException).code!); }
        res.end();
      },
    });
    const a = await answer(r, '/chunked-trailer');
    expect(lines(a)).toEqual(['Status: 200 OK', 'Content-Type: text/plain']);
    expect(a.body.toString()).toBe('abcdef');
    await answer(r, '/no-content');
    expect(codes).toEqual(['ERR_HTTP_TRAILER_INVALID']);
  });

  it('strictContentLength: a Content-Length set again after removeHeader is held to; a chunked Transfer-Encoding turns the check off, as on node:http', async () => {
    const outcomes: string[] = [];
    const attempt = (res: CgiResponse, f: () => void): void => {
      try { f(); outcomes.push('ok'); } catch (err) { outcomes.push((err as NodeJS.ErrnoException).code!); res.destroy(); }
    };
    const r = await startRouted({}, {
      '/reset': (_q, res) => attempt(res, () => {
        res.strictContentLength = true;
        res.setHeader('Content-Length', '5');
        res.removeHeader('Content-Length');
        res.setHeader('Content-Length', '2');
        res.end('three');
      }),
      '/chunked': (_q, res) => attempt(res, () => {
        res.strictContentLength = true;
        res.writeHead(200, { 'Content-Length': '2', 'Transfer-Encoding': 'chunked' });
        res.end('three');
      }),
    });
    for (const uri of ['/reset', '/chunked']) {
      const c = await r.client();
      c.send(request(1, { uri }));
      await c.response(1).catch(() => undefined);
    }
    expect(outcomes).toEqual(['ERR_HTTP_CONTENT_LENGTH_MISMATCH', 'ok']);
  });

  it('validates and writes the same text of a value: an object whose conversions differ cannot slip a line break past the check', async () => {
    let calls = 0;
    const sly = { toString: () => (calls++ === 0 ? 'fine' : 'fine\r\nX-Injected: 1') };
    let code: string | undefined;
    const r = await startRouted({}, {
      '/sly': (_q, res) => {
        try { res.writeHead(200, { 'X-A': sly as unknown as string }); } catch (err) { code = (err as NodeJS.ErrnoException).code; }
        res.end('x');
      },
    });
    const a = await answer(r, '/sly');
    expect(a.headerText).not.toMatch(/X-Injected/);
    expect(code === undefined ? header(a, 'X-A') : code).toBe('fine');
  });

  it('the head is what res._header holds, and headersSent turns true with writeHead as on node:http', async () => {
    const seen: unknown[] = [];
    const r = await startRouted({}, {
      '/sent': (_q, res) => {
        seen.push(res.headersSent);
        res.writeHead(200, { 'X-A': '1' });
        seen.push(res.headersSent, (res as unknown as { _header: string })._header);
        res.end();
      },
    });
    await answer(r, '/sent');
    expect(seen).toEqual([false, true, 'Status: 200 OK\r\nX-A: 1\r\n\r\n']);
  });
});

describe('the head against node:http\'s own, on generated headers', () => {
  /** A response of this library over a socket whose exchange keeps what it is given (no server). */
  function cgiResponse(): { res: CgiResponse; written: string[] } {
    const written: string[] = [];
    const exchange = {
      finished: false,
      write(b: Buffer) { written.push(b.toString('latin1')); return true; },
      writeText(head: string, body: string) { written.push(head + body); return true; },
      end() {}, abandon() {}, writeStderr() {},
    } as unknown as Exchange;
    const socket = new ExchangeSocket(exchange, { encrypted: false }, 65536);
    const req = new IncomingMessage(socket as never);
    return { res: createResponse(exchange, req as never, socket), written };
  }

  /** node:http's head for the same call, as lines without the status line, Date and Connection. */
  function nodeHead(f: (res: ServerResponse) => void): string[] | string {
    const res = new ServerResponse(new IncomingMessage(null as never));
    try { f(res); } catch (err) { return (err as NodeJS.ErrnoException).code ?? 'thrown'; }
    const head = (res as unknown as { _header: string })._header;
    return head.split('\r\n').slice(1).filter((l) => l !== '' && !/^(date|connection|transfer-encoding|trailer):/i.test(l));
  }

  it('throws when node:http throws, with the same code, and otherwise writes the lines node would (2000 cases)', () => {
    let seed = 0x2f6e2b1;
    const next = (n: number): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed % n; };
    const tokenChars = ['a', 'Z', '-', '_', '!', '0', '~', "'"];
    const otherChars = [' ', ':', '\t', '\r', '\n', '\u0000', '\u007f', '\u00e9', '\u00ff', '\u20ac', '"', '('];
    const text = (max: number, chars: string[]): string => Array.from({ length: next(max + 1) }, () => chars[next(chars.length)]).join('');
    // Mostly clean text, sometimes with one character from the other set somewhere in it.
    const mixed = (max: number, clean: string[]): string => {
      const t = text(max, clean);
      if (next(3) !== 0) return t;
      const at = next(t.length + 1);
      return t.slice(0, at) + otherChars[next(otherChars.length)] + t.slice(at);
    };
    const valueChars = [...tokenChars, ' ', '\t', '\u00e9', '/', ';', '='];
    for (let i = 0; i < 2000; i++) {
      const name = next(10) === 0 ? mixed(4, tokenChars) : `X-${mixed(4, tokenChars)}`;
      const value: unknown = next(6) === 0 ? [mixed(5, valueChars), mixed(5, valueChars)]
        : next(8) === 0 ? next(1000) : mixed(8, valueChars);
      const call = (res: ServerResponse): void => { res.writeHead(200, { [name]: value } as never); };
      const expected = nodeHead(call);
      const { res } = cgiResponse();
      let got: string[] | string;
      try {
        call(res);
        got = (res as unknown as { _header: string })._header.split('\r\n').slice(1).filter((l) => l !== '');
      } catch (err) {
        got = (err as NodeJS.ErrnoException).code ?? 'thrown';
      }
      expect(got, JSON.stringify({ name, value })).toEqual(expected);
    }
  });
});

