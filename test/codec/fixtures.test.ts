/**
 * What each captured request carries, checked against what the capture client sent (test/fixtures/README.md),
 * and the SCGI captures read whole, one byte at a time and split at every offset. The FastCGI captures' chunkings
 * are in fixtures-chunks.test.ts.
 */
import { describe, expect, test } from 'vitest';
import type { Codec } from '../../lib/index.js';
import { CODECS } from '../helpers/codecs.js';
import { bigCookie, xorshiftBody } from '../helpers/body.js';
import {
  T, byteByByte, readAll, splitAt, splitOffsets, streamBytes, whole,
  type ReadResult, type RequestResult,
} from '../helpers/fcgi.js';
import { COOKIE, GET_URI, USER_AGENT, X_NAME_BYTES, listFixtures, type Fixture } from '../helpers/fixtures.js';
import { Rng, suiteSeed } from '../helpers/prng.js';
import { parseNetstring, readScgi, verifyScgi } from '../helpers/scgi.js';

const SEED = suiteSeed();
const FIXTURES = listFixtures();
const FASTCGI = FIXTURES.filter((f) => f.protocol === 'fastcgi');
const SCGI = FIXTURES.filter((f) => f.protocol === 'scgi');
const BODY = xorshiftBody();
const isFrontEnd = (f: Fixture): boolean => f.frontEnd !== 'php-fpm' && f.frontEnd !== 'cgi-fcgi';

function fileSeed(file: string): number {
  let h = SEED;
  for (let i = 0; i < file.length; i++) h = Math.imul(h ^ file.charCodeAt(i), 16777619) >>> 0;
  return h;
}

/** The requests a front end sent (those opened by BEGIN_REQUEST). */
function requestsOf(r: ReadResult): RequestResult[] {
  return r.requests.filter((q) => q.begin !== null);
}

function paramsOf(codec: Codec, req: RequestResult) {
  const bytes = streamBytes(req, T.PARAMS);
  expect(bytes, `request ${req.id} has PARAMS`).toBeDefined();
  expect(req.streams.get(T.PARAMS)!.ended, `request ${req.id}: PARAMS ended`).toBe(true);
  return codec.decodeParams(bytes!);
}

test('the fixture list covers every front end and case the README describes', () => {
  expect(new Set(FIXTURES.map((f) => f.frontEnd))).toEqual(new Set(['nginx', 'apache', 'apache-authnz', 'lighttpd', 'h2o',
    'caddy', 'haproxy', 'php-fpm', 'cgi-fcgi']));
  expect(SCGI.map((f) => f.file)).toEqual(expect.arrayContaining(['nginx-scgi-get.bin', 'apache-scgi-post-100k.bin',
    'lighttpd-scgi-big-header.bin']));
  expect(BODY.subarray(0, 8).toString('hex')).toBe('a5a3c498884d1d29');
  // Every capture meets a test below that checks what its requests carry.
  const checked = ['get', 'get-nokeep', 'keepalive-2', 'mpx-8', 'post-100k', 'post-0', 'big-header', 'header-12k',
    'mpx-8-post-slow', 'get-browser', 'post-64k-browser', 'request-hello', 'request-200k', 'response-hello', 'response-200k'];
  expect(FIXTURES.filter((f) => !checked.includes(f.kind)).map((f) => f.file)).toEqual([]);
});

describe.each(CODECS)('$name codec', ({ codec }) => {
  // ---- What the requests carry -----------------------------------------------------------------

  const frontEndFastCgi = FASTCGI.filter(isFrontEnd);

  test.each(frontEndFastCgi)('$file: every request has an 8-byte BEGIN_REQUEST, ended PARAMS that decode, and a head matching them', (fx) => {
    const reqs = requestsOf(readAll(codec, whole(fx.bytes)));
    expect(reqs.length).toBeGreaterThan(0);
    for (const req of reqs) {
      expect(req.begin!.length).toBe(8);
      const role = req.begin!.readUInt16BE(0);
      expect(role).toBe(fx.frontEnd === 'apache-authnz' ? 2 : 1);
      const { params, head } = paramsOf(codec, req);
      expect(head!.method).toBe(params.get('REQUEST_METHOD'));
      expect(head!.url).toBe(params.get('REQUEST_URI'));
    }
  });

  const getCases = frontEndFastCgi.filter((f) => ['get', 'get-nokeep', 'keepalive-2', 'mpx-8'].includes(f.kind));
  test.each(getCases)('$file: GET /path/a%20b?x=1&y=%C3%A9 with its cookie, user agent and UTF-8 X-Name bytes', (fx) => {
    const reqs = requestsOf(readAll(codec, whole(fx.bytes)));
    expect(reqs.length).toBe(fx.kind === 'keepalive-2' ? 2 : fx.kind === 'mpx-8' ? 8 : 1);
    const ns: string[] = [];
    for (const req of reqs) {
      const { params, head } = paramsOf(codec, req);
      expect(params.get('REQUEST_METHOD')).toBe('GET');
      const uri = params.get('REQUEST_URI')!;
      if (fx.kind === 'mpx-8') {
        expect(uri.startsWith(GET_URI + '&n=')).toBe(true);
        ns.push(uri.slice(GET_URI.length + 3));
      } else {
        expect(uri).toBe(GET_URI);
      }
      expect(head!.headers.cookie).toBe(COOKIE);
      expect(head!.headers['user-agent']).toBe(USER_AGENT);
      expect(params.raw('HTTP_X_NAME')).toEqual(X_NAME_BYTES);
      expect(head!.headers['x-name']).toBe(X_NAME_BYTES.toString('latin1'));
      if (fx.frontEnd === 'apache-authnz') {
        expect(req.streams.has(T.STDIN)).toBe(false);
      } else {
        expect(req.streams.get(T.STDIN)).toEqual({ pieces: [], ended: true, afterEnd: 0 });
      }
    }
    if (fx.kind === 'mpx-8') expect(ns.sort()).toEqual(['1', '2', '3', '4', '5', '6', '7', '8']);
  });

  test.each(frontEndFastCgi.filter((f) => f.kind === 'post-100k'))('$file: POST /upload whose STDIN is the 102400-byte xorshift32 body', (fx) => {
    const reqs = requestsOf(readAll(codec, whole(fx.bytes)));
    expect(reqs.length).toBe(1);
    const { params, head } = paramsOf(codec, reqs[0]);
    expect(params.get('REQUEST_METHOD')).toBe('POST');
    expect(params.get('REQUEST_URI')).toBe('/upload');
    expect(head!.headers['content-type']).toBe('application/octet-stream');
    if (fx.frontEnd === 'apache-authnz') {
      // mod_authnz_fcgi forwards neither the body nor CONTENT_LENGTH.
      expect(reqs[0].streams.has(T.STDIN)).toBe(false);
      expect(params.get('CONTENT_LENGTH')).toBeUndefined();
    } else {
      expect(head!.headers['content-length']).toBe('102400');
      expect(reqs[0].streams.get(T.STDIN)!.ended).toBe(true);
      expect(streamBytes(reqs[0], T.STDIN)!.equals(BODY)).toBe(true);
    }
  });

  test.each(frontEndFastCgi.filter((f) => f.kind === 'post-0'))('$file: POST /empty with an ended empty STDIN and content-length 0', (fx) => {
    const reqs = requestsOf(readAll(codec, whole(fx.bytes)));
    expect(reqs.length).toBe(1);
    const { params, head } = paramsOf(codec, reqs[0]);
    expect(params.get('REQUEST_METHOD')).toBe('POST');
    expect(params.get('REQUEST_URI')).toBe('/empty');
    expect(head!.headers['content-length']).toBe('0');
    expect(head!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(reqs[0].streams.get(T.STDIN)).toEqual({ pieces: [], ended: true, afterEnd: 0 });
  });

  test.each(frontEndFastCgi.filter((f) => f.kind === 'big-header' || f.kind === 'header-12k'))('$file: the big cookie arrives whole (Apache drops the 30000-byte one)', (fx) => {
    const reqs = requestsOf(readAll(codec, whole(fx.bytes)));
    expect(reqs.length).toBe(1);
    const { params, head } = paramsOf(codec, reqs[0]);
    expect(params.get('REQUEST_URI')).toBe(fx.kind === 'big-header' ? '/big-header' : '/header-12k');
    if (fx.kind === 'big-header' && fx.frontEnd.startsWith('apache')) {
      expect(params.get('HTTP_COOKIE')).toBeUndefined();
      expect(head!.headers.cookie).toBeUndefined();
    } else {
      const cookie = bigCookie(fx.kind === 'big-header' ? 30000 : 12000);
      expect(params.get('HTTP_COOKIE')).toBe(cookie);
      expect(head!.headers.cookie).toBe(cookie);
    }
  });

  test.each(FASTCGI.filter((f) => f.frontEnd === 'apache-authnz'))('$file: AUTHORIZER with flags 0, PARAMS ended, no STDIN record at all', (fx) => {
    const r = readAll(codec, whole(fx.bytes));
    const reqs = requestsOf(r);
    expect(reqs.length).toBe(1);
    expect(reqs[0].begin!.readUInt16BE(0)).toBe(2);
    expect(reqs[0].begin![2]).toBe(0);
    expect(paramsOf(codec, reqs[0]).params.get('FCGI_ROLE')).toBe('AUTHORIZER');
    expect([...reqs[0].streams.keys()]).toEqual([T.PARAMS]);
    expect(r.events.at(-1)).toBe(`${T.PARAMS}:1:e`);
  });

  test('haproxy-fastcgi-get.bin: GET_VALUES (id 0) for FCGI_MAX_REQS and FCGI_MPXS_CONNS comes first', () => {
    const r = readAll(codec, whole(FASTCGI.find((f) => f.file === 'haproxy-fastcgi-get.bin')!.bytes));
    expect(r.events[0]).toBe(`${T.GET_VALUES}:0:r`);
    const [type, content] = r.requests[0].records[0];
    expect(type).toBe(T.GET_VALUES);
    expect(codec.decodeNameValues(content)).toEqual([['FCGI_MAX_REQS', ''], ['FCGI_MPXS_CONNS', '']]);
    expect(requestsOf(r).map((q) => q.id)).toEqual([1]);
  });

  test('haproxy-fastcgi-mpx-8.bin: 8 concurrent GETs with odd ids 3..17, each reassembled', () => {
    const r = readAll(codec, whole(FASTCGI.find((f) => f.file === 'haproxy-fastcgi-mpx-8.bin')!.bytes));
    const reqs = requestsOf(r);
    expect(reqs.map((q) => q.id).sort((a, b) => a - b)).toEqual([3, 5, 7, 9, 11, 13, 15, 17]);
    for (const q of reqs) {
      expect(paramsOf(codec, q).params.get('REQUEST_URI')).toMatch(/&n=[1-8]$/);
      expect(q.streams.get(T.STDIN)!.ended).toBe(true);
    }
  });

  test('haproxy-fastcgi-mpx-8-post-slow.bin: 8 interleaved uploads, each body the xorshift32 body', () => {
    const r = readAll(codec, whole(FASTCGI.find((f) => f.file === 'haproxy-fastcgi-mpx-8-post-slow.bin')!.bytes));
    const reqs = requestsOf(r);
    expect(reqs.map((q) => q.id)).toEqual([19, 21, 23, 25, 27, 29, 31, 33]);
    // Interleaved: STDIN data of one request is followed by another request's records before it ends.
    const stdinEvents = r.events.filter((e) => e.startsWith(`${T.STDIN}:`));
    const switches = stdinEvents.filter((e, i) => i > 0 && e.split(':')[1] !== stdinEvents[i - 1].split(':')[1]).length;
    expect(switches).toBeGreaterThan(8);
    const ns: string[] = [];
    for (const q of reqs) {
      const { params } = paramsOf(codec, q);
      expect(params.get('REQUEST_METHOD')).toBe('POST');
      ns.push(params.get('REQUEST_URI')!);
      expect(q.streams.get(T.STDIN)!.ended).toBe(true);
      expect(streamBytes(q, T.STDIN)!.equals(BODY)).toBe(true);
    }
    expect(ns.sort()).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((n) => `/upload?n=${n}`));
  });

  test('nginx browser captures: GET with 28 params, POST with a 65536-byte body', () => {
    const get = requestsOf(readAll(codec, whole(FASTCGI.find((f) => f.file === 'nginx-fastcgi-get-browser.bin')!.bytes)));
    const g = paramsOf(codec, get[0]);
    expect(g.params.count).toBe(28);
    expect(g.head!.url).toBe('/products/list?page=2&sort=price');
    const post = requestsOf(readAll(codec, whole(FASTCGI.find((f) => f.file === 'nginx-fastcgi-post-64k-browser.bin')!.bytes)));
    const p = paramsOf(codec, post[0]);
    expect(p.head!.method).toBe('POST');
    expect(p.head!.headers['content-length']).toBe('65536');
    expect(streamBytes(post[0], T.STDIN)!.length).toBe(65536);
  });

  test('cgi-fcgi requests: GET /hello.php and /big.php with an ended empty STDIN', () => {
    for (const [file, uri] of [['cgi-fcgi-request-hello.bin', '/hello.php'], ['cgi-fcgi-request-200k.bin', '/big.php']]) {
      const reqs = requestsOf(readAll(codec, whole(FASTCGI.find((f) => f.file === file)!.bytes)));
      expect(reqs.length).toBe(1);
      const { head } = paramsOf(codec, reqs[0]);
      expect(head).toMatchObject({ method: 'GET', url: uri });
      expect(reqs[0].streams.get(T.STDIN)).toEqual({ pieces: [], ended: true, afterEnd: 0 });
    }
  });

  test('php-fpm-response-hello.bin: STDOUT then END_REQUEST, which ends the stream without an empty STDOUT', () => {
    const r = readAll(codec, whole(FASTCGI.find((f) => f.file === 'php-fpm-response-hello.bin')!.bytes));
    expect(r.events).toEqual([`${T.STDOUT}:1:d`, `${T.END_REQUEST}:1:r`]);
    const req = r.requests[0];
    expect(req.streams.get(T.STDOUT)!.ended).toBe(false);
    expect(streamBytes(req, T.STDOUT)!.toString('latin1')).toMatch(/^X-Powered-By: PHP\/[\d.]+\r\n[\s\S]*\r\n\r\nHello, world!\n$/);
    expect(req.records).toEqual([[T.END_REQUEST, Buffer.from([0, 0, 0, 0, 0, 0, 0, 0])]]);
  });

  test('php-fpm-response-200k.bin: STDERR line, 204800 body bytes of STDOUT, END_REQUEST last with no empty STDOUT or STDERR', () => {
    const r = readAll(codec, whole(FASTCGI.find((f) => f.file === 'php-fpm-response-200k.bin')!.bytes));
    expect(r.events).toEqual([`${T.STDERR}:1:d`, `${T.STDOUT}:1:d`, `${T.END_REQUEST}:1:r`]);
    const req = r.requests[0];
    expect(streamBytes(req, T.STDERR)!.toString()).toBe('PHP message: fixture: this line goes to FCGI_STDERR');
    const out = streamBytes(req, T.STDOUT)!.toString('latin1');
    const split = out.indexOf('\r\n\r\n');
    expect(out.slice(0, split)).toContain('X-Fixture-One: one\r\nX-Fixture-Two: two');
    let lines = '';
    for (let i = 0; i < 200; i++) lines += `block ${i} `.padEnd(1023, '.') + '\n';
    expect(out.slice(split + 4)).toBe(lines);
    // appStatus 0, REQUEST_COMPLETE; PHP-FPM leaves whatever was in its buffer in the 3 reserved bytes.
    expect(req.records.length).toBe(1);
    expect(req.records[0][0]).toBe(T.END_REQUEST);
    expect(req.records[0][1].length).toBe(8);
    expect(req.records[0][1].subarray(0, 5)).toEqual(Buffer.alloc(5));
  });

  // ---- SCGI ------------------------------------------------------------------------------------

  describe.each(SCGI)('SCGI capture $file', (fx) => {
    const ref = parseNetstring(fx.bytes)!;

    test('NetstringReader, whole: the header and body of the reference parse', () => {
      expect(ref).not.toBeNull();
      const r = readScgi(codec, whole(fx.bytes));
      expect(r.error).toBeNull();
      expect(r.done).toBe(true);
      expect(r.header!.equals(ref.header)).toBe(true);
      expect(r.body.equals(ref.body)).toBe(true);
    });

    test('NetstringReader, one byte at a time: same header and body', () => {
      expect(verifyScgi(codec, byteByByte(fx.bytes), ref.header, ref.body)).toBeNull();
    });

    test(`NetstringReader, split in two at every offset: same header and body (seed ${SEED})`, () => {
      const rng = new Rng(fileSeed(fx.file));
      const failures: string[] = [];
      for (const at of splitOffsets(fx.bytes.length, (n) => rng.int(n))) {
        const d = verifyScgi(codec, splitAt(fx.bytes, at), ref.header, ref.body);
        if (d !== null && failures.push(`at ${at}: ${d}`) >= 5) break;
      }
      expect(failures).toEqual([]);
    });

    test('decodeScgiHeader: CONTENT_LENGTH first, SCGI=1, body length equals CONTENT_LENGTH, request as sent', () => {
      const { params, head, contentLength } = codec.decodeScgiHeader(ref.header);
      expect(params.entries()[0][0]).toBe('CONTENT_LENGTH');
      expect(params.get('SCGI')).toBe('1');
      expect(contentLength).toBe(Number(params.get('CONTENT_LENGTH')));
      expect(ref.body.length).toBe(contentLength);
      expect(head!.method).toBe(params.get('REQUEST_METHOD'));
      expect(head!.url).toBe(params.get('REQUEST_URI'));
      switch (fx.kind) {
        case 'get':
          expect(head!.method).toBe('GET');
          expect(head!.url).toBe(GET_URI);
          expect(head!.headers.cookie).toBe(COOKIE);
          expect(params.raw('HTTP_X_NAME')).toEqual(X_NAME_BYTES);
          expect(contentLength).toBe(0);
          break;
        case 'post-100k':
          expect(head!.method).toBe('POST');
          expect(head!.url).toBe('/upload');
          expect(head!.headers['content-length']).toBe('102400');
          expect(ref.body.equals(BODY)).toBe(true);
          break;
        case 'post-0':
          expect(head).toMatchObject({ method: 'POST', url: '/empty' });
          expect(head!.headers['content-length']).toBe('0');
          break;
        case 'big-header':
          expect(head!.url).toBe('/big-header');
          expect(head!.headers.cookie).toBe(bigCookie(30000));
          break;
        default:
          throw new Error(`no expectations for ${fx.kind}`);
      }
    });
  });
});
