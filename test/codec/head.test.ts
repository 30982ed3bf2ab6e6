/**
 * The request head (method, url, headers) built from params as node:http would build it from the same HTTP
 * request. The oracle is node:http itself: IncomingMessage merging the header lines the params came from.
 * Both builders are checked: the plain loop (BuildOptions { compiled: false }) and the builder compiled for a
 * shape seen twice.
 */
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { BUILD_NOTHING, clearShapeCache, encodePairBody, type Codec, type RequestHead } from '../../lib/index.js';
import { KNOWN_NAMES } from '../../lib/codec/known-names.js';
import { CODECS } from '../helpers/codecs.js';
import { Rng, suiteSeed } from '../helpers/prng.js';

const SEED = suiteSeed();
type Pair = readonly [string, string | Buffer];

/** Runs `fn` counting `new Function` calls (how params.ts compiles a shape). */
function countCompilations<R>(fn: () => R): [R, number] {
  const original = globalThis.Function;
  let n = 0;
  globalThis.Function = new Proxy(original, {
    construct(target, args, newTarget) { n++; return Reflect.construct(target, args, newTarget); },
    apply(target, self, args) { n++; return Reflect.apply(target, self, args); },
  });
  try {
    return [fn(), n];
  } finally {
    globalThis.Function = original;
  }
}

interface Built {
  loopHead: RequestHead;
  compiledHead: RequestHead;
  loopObject: Record<string, string>;
  compiledObject: Record<string, string>;
  compilations: number;
}

/** The head and object of `pairs` by the plain loop and by the compiled builder (the shape seen twice). */
function build(codec: Codec, pairs: readonly Pair[]): Built {
  const body = encodePairBody(pairs, 'latin1');
  const limits = { maxParamsBytes: 1 << 20, maxParams: 2048, maxParamNameLength: 1024, maxParamValueLength: 65536 };
  clearShapeCache();
  const a = codec.decodeParams(body, 0, body.length, limits, BUILD_NOTHING).params;
  const loopHead = a.head({ compiled: false });
  const loopObject = a.toObject({ compiled: false });
  const b = codec.decodeParams(body, 0, body.length, limits, BUILD_NOTHING).params;
  const [[compiledHead, compiledObject], compilations] = countCompilations(() => {
    b.head(); // first sighting: the loop
    return [b.head(), b.toObject()] as const; // second sighting: compiled
  });
  return { loopHead, compiledHead, loopObject, compiledObject, compilations };
}

/** What node:http gives for these header lines. */
function nodeHeaders(lines: readonly (readonly [string, string])[]): Record<string, string | string[] | undefined> {
  const msg = new IncomingMessage(new Socket());
  const raw = lines.flat();
  (msg as unknown as { _addHeaderLines(h: string[], n: number): void })._addHeaderLines(raw, raw.length);
  return { ...msg.headers };
}

afterEach(() => clearShapeCache());

/** The part of a head node:http also has: method, url, headers. */
type HttpHead = Pick<RequestHead, 'method' | 'url' | 'headers'>;
const httpPart = (h: RequestHead): HttpHead => ({ method: h.method, url: h.url, headers: h.headers });

describe.each(CODECS)('$name codec: request head', ({ codec }) => {
  /** Both builders give `expected`. */
  const expectHead = (pairs: readonly Pair[], expected: HttpHead): void => {
    const b = build(codec, pairs);
    expect(httpPart(b.loopHead)).toEqual(expected);
    expect(httpPart(b.compiledHead)).toEqual(expected);
    expect(b.compiledHead).toEqual(b.loopHead);
  };

  test('a shape seen twice is compiled (once), and gives what the loop gives', () => {
    const pairs: Pair[] = [['REQUEST_METHOD', 'GET'], ['REQUEST_URI', '/a'], ['HTTP_HOST', 'h'], ['HTTP_X_ODD', 'o']];
    const b = build(codec, pairs);
    expect(b.compilations).toBeGreaterThanOrEqual(1);
    expect(b.compiledHead).toEqual(b.loopHead);
    expect(b.compiledObject).toEqual(b.loopObject);
    expect(httpPart(b.loopHead)).toEqual({ method: 'GET', url: '/a', headers: { host: 'h', 'x-odd': 'o' } });
    expect(b.loopHead.rawHeaders).toEqual(['host', 'h', 'x-odd', 'o']);
  });

  test('HTTP_* names become lower-case dashed header names; other params and a bare HTTP_ are not headers', () => {
    expectHead([
      ['HTTP_ACCEPT_ENCODING', 'gzip'], ['HTTP_X_CUSTOM_HEADER', 'c'], ['HTTP_USER_AGENT', 'ua'], ['SERVER_NAME', 's'],
      ['HTTP_', 'bare'], ['REMOTE_ADDR', '1.2.3.4'], ['X_HTTP_NOT', 'n'], ['HTTP_Mixed_Case', 'm'],
    ], { method: 'GET', url: '/', headers: { 'accept-encoding': 'gzip', 'x-custom-header': 'c', 'user-agent': 'ua', 'mixed-case': 'm' } });
  });

  test('repeated header params (nginx sends a repeated request header as two params) merge by node:http rules', () => {
    const pairs: Pair[] = [
      ['HTTP_COOKIE', 'a=1'], ['HTTP_ACCEPT', 'text/html'], ['HTTP_HOST', 'first'], ['HTTP_USER_AGENT', 'ua1'],
      ['HTTP_COOKIE', 'b=2'], ['HTTP_ACCEPT', '*/*'], ['HTTP_HOST', 'second'], ['HTTP_USER_AGENT', 'ua2'],
      ['HTTP_X_TRACE', 't1'], ['HTTP_X_TRACE', 't2'], ['HTTP_REFERER', 'r1'], ['HTTP_REFERER', 'r2'],
      ['HTTP_AUTHORIZATION', 'x'], ['HTTP_AUTHORIZATION', 'y'], ['HTTP_FROM', 'f1'], ['HTTP_FROM', 'f2'],
      ['HTTP_MAX_FORWARDS', '1'], ['HTTP_MAX_FORWARDS', '2'], ['HTTP_IF_NONE_MATCH', 'e1'], ['HTTP_IF_NONE_MATCH', 'e2'],
      ['HTTP_SET_COOKIE', 's1'], ['HTTP_SET_COOKIE', 's2'], ['HTTP_COOKIE', 'c=3'],
    ];
    const expected = nodeHeaders([
      ['Cookie', 'a=1'], ['Accept', 'text/html'], ['Host', 'first'], ['User-Agent', 'ua1'],
      ['Cookie', 'b=2'], ['Accept', '*/*'], ['Host', 'second'], ['User-Agent', 'ua2'],
      ['X-Trace', 't1'], ['X-Trace', 't2'], ['Referer', 'r1'], ['Referer', 'r2'],
      ['Authorization', 'x'], ['Authorization', 'y'], ['From', 'f1'], ['From', 'f2'],
      ['Max-Forwards', '1'], ['Max-Forwards', '2'], ['If-None-Match', 'e1'], ['If-None-Match', 'e2'],
      ['Set-Cookie', 's1'], ['Set-Cookie', 's2'], ['Cookie', 'c=3'],
    ]);
    expect(expected).toMatchObject({ cookie: 'a=1; b=2; c=3', accept: 'text/html, */*', host: 'first', 'set-cookie': ['s1', 's2'] });
    expectHead(pairs, { method: 'GET', url: '/', headers: expected });
  });

  test('CONTENT_TYPE and CONTENT_LENGTH become content-type and content-length; HTTP_CONTENT_* beside them never give "1, 1"', () => {
    expectHead([
      ['REQUEST_METHOD', 'POST'], ['CONTENT_TYPE', 'text/plain'], ['CONTENT_LENGTH', '1'],
      ['HTTP_CONTENT_TYPE', 'text/plain'], ['HTTP_CONTENT_LENGTH', '1'],
    ], { method: 'POST', url: '/', headers: { 'content-type': 'text/plain', 'content-length': '1' } });
    // nginx sends the CGI pair after the HTTP_ pair on some paths; the result is the same.
    expectHead([['HTTP_CONTENT_LENGTH', '1'], ['CONTENT_LENGTH', '1'], ['HTTP_CONTENT_TYPE', 'a/b'], ['CONTENT_TYPE', 'a/b']],
      { method: 'GET', url: '/', headers: { 'content-type': 'a/b', 'content-length': '1' } });
  });

  test('HTTP_CONTENT_TYPE / HTTP_CONTENT_LENGTH alone still give the headers (the HTTP request had them)', () => {
    expectHead([['HTTP_CONTENT_TYPE', 'x/y'], ['HTTP_CONTENT_LENGTH', '5']],
      { method: 'GET', url: '/', headers: { 'content-type': 'x/y', 'content-length': '5' } });
  });

  test('empty CONTENT_TYPE and CONTENT_LENGTH (nginx on a GET) give no content-type or content-length header', () => {
    expectHead([['REQUEST_METHOD', 'GET'], ['REQUEST_URI', '/p'], ['CONTENT_TYPE', ''], ['CONTENT_LENGTH', ''], ['HTTP_HOST', 'h']],
      { method: 'GET', url: '/p', headers: { host: 'h' } });
  });

  test('url is REQUEST_URI, else SCRIPT_NAME + PATH_INFO + ?QUERY_STRING (RFC 3875); method defaults to GET', () => {
    expectHead([['SCRIPT_NAME', '/app'], ['PATH_INFO', '/a b'], ['QUERY_STRING', 'x=1']], { method: 'GET', url: '/app/a b?x=1', headers: {} });
    expectHead([['SCRIPT_NAME', ''], ['PATH_INFO', '/only'], ['QUERY_STRING', '']], { method: 'GET', url: '/only', headers: {} });
    expectHead([['SCRIPT_NAME', '/s.php'], ['QUERY_STRING', 'q']], { method: 'GET', url: '/s.php?q', headers: {} });
    expectHead([['QUERY_STRING', 'q']], { method: 'GET', url: '/?q', headers: {} });
    expectHead([['REQUEST_URI', '/real?z'], ['SCRIPT_NAME', '/app'], ['PATH_INFO', '/p'], ['QUERY_STRING', 'x']], { method: 'GET', url: '/real?z', headers: {} });
    expectHead([['REQUEST_URI', ''], ['SCRIPT_NAME', '/app']], { method: 'GET', url: '/app', headers: {} });
    expectHead([['REQUEST_METHOD', 'DELETE']], { method: 'DELETE', url: '/', headers: {} });
  });

  test('the first REQUEST_METHOD and REQUEST_URI count when repeated', () => {
    expectHead([['REQUEST_METHOD', 'PUT'], ['REQUEST_URI', '/1'], ['REQUEST_METHOD', 'GET'], ['REQUEST_URI', '/2']],
      { method: 'PUT', url: '/1', headers: {} });
  });

  test('header values are the wire bytes as latin1 (as node:http gives them)', () => {
    expectHead([['HTTP_X_NAME', Buffer.from('café', 'utf8')], ['HTTP_X_BIN', Buffer.from([0xff, 0x80, 0x20])]],
      { method: 'GET', url: '/', headers: { 'x-name': 'cafÃ©', 'x-bin': '\u00ff\u0080 ' } });
  });

  test('a wire name "__proto__" does not change the prototype of toObject()\'s result, by either builder', () => {
    const b = build(codec, [['__proto__', 'polluted'], ['A', '1'], ['REQUEST_METHOD', 'GET']]);
    for (const o of [b.loopObject, b.compiledObject]) {
      expect(Object.getPrototypeOf(o)).toBe(Object.prototype);
      expect(Object.getOwnPropertyDescriptor(o, '__proto__')?.value).toBe('polluted');
      expect(o.A).toBe('1');
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    }
    expect(b.compiledObject).toEqual(b.loopObject);
  });

  test('a name like HTTP_Host that maps to an existing key: known names first, by node:http rules, in both builders', () => {
    const pairs: Pair[] = [['HTTP_Host', 'alias'], ['HTTP_HOST', 'known'], ['HTTP_accept', 'a1'], ['HTTP_ACCEPT', 'a2'],
      ['HTTP_X-FORWARDED-FOR', '1.1.1.1'], ['HTTP_X_FORWARDED_FOR', '2.2.2.2']];
    const b = build(codec, pairs);
    expect(b.loopHead.headers).toEqual({ host: 'known', accept: 'a2, a1', 'x-forwarded-for': '2.2.2.2, 1.1.1.1' });
    expect(b.compiledHead).toEqual(b.loopHead);
  });

  test(`generated HTTP requests passed through nginx-style params: the head equals node:http's, by both builders (seed ${SEED})`, () => {
    const rng = new Rng(SEED);
    const pool = ['Host', 'User-Agent', 'Accept', 'Accept-Language', 'Accept-Encoding', 'Cookie', 'Referer', 'Authorization',
      'Cache-Control', 'If-None-Match', 'If-Modified-Since', 'X-Forwarded-For', 'X-Forwarded-Proto', 'X-Real-Ip', 'Set-Cookie',
      'From', 'Max-Forwards', 'Connection', 'Age', 'Etag', 'Expires', 'Location', 'Server', 'Retry-After', 'Last-Modified',
      'Proxy-Authorization', 'Dnt', 'Te', 'Via', 'Origin', 'Upgrade', 'X-Request-Id', 'Proxy', 'Range', 'If-Unmodified-Since',
      'X-Name', 'X-Custom', 'Sec-Fetch-Mode', 'Priority', 'Constructor', 'Tostring', 'X-A-B-C'];
    const value = (): string => {
      const n = rng.int(12);
      let s = '';
      for (let i = 0; i < n; i++) s += String.fromCharCode(rng.chance(0.1) ? rng.range(0x80, 0xff) : rng.range(0x21, 0x7e));
      return s;
    };
    const failures: string[] = [];
    for (let round = 0; round < 200 && failures.length < 3; round++) {
      const lines: [string, string][] = [];
      const count = rng.int(14);
      for (let i = 0; i < count; i++) {
        let name = rng.chance(0.85) ? rng.pick(pool) : `X-Gen-${rng.int(5)}`;
        if (rng.chance(0.3)) name = rng.chance(0.5) ? name.toLowerCase() : name.toUpperCase();
        lines.push([name, value()]);
        if (rng.chance(0.15)) lines.push([name, value()]); // a repeated header
      }
      const post = rng.chance(0.5);
      const type = 'application/x-' + rng.int(100), length = String(rng.int(100000));
      if (post) {
        lines.splice(rng.int(lines.length + 1), 0, ['Content-Type', type]);
        lines.splice(rng.int(lines.length + 1), 0, ['Content-Length', length]);
      }
      const method = post ? 'POST' : rng.pick(['GET', 'HEAD', 'DELETE']);
      const uri = '/p' + rng.int(1000) + (rng.chance(0.5) ? '?q=' + rng.int(10) : '');
      // nginx: CGI variables first (CONTENT_* empty on a GET), then one HTTP_ param per header line in order.
      const cgi: Pair[] = [['QUERY_STRING', ''], ['REQUEST_METHOD', method], ['CONTENT_TYPE', post ? type : ''],
        ['CONTENT_LENGTH', post ? length : ''], ['SCRIPT_NAME', '/s'], ['SERVER_PROTOCOL', 'HTTP/1.1']];
      if (rng.chance(0.8)) cgi.push(['REQUEST_URI', uri]);
      const http: Pair[] = lines.map(([n, v]) => [`HTTP_${n.toUpperCase().replace(/-/g, '_')}`, v]);
      // Caddy sends its params in random order: move CGI variables anywhere (HTTP_ params keep their order).
      const pairs: Pair[] = rng.chance(0.5) ? [...cgi, ...http] : cgi.reduce((acc, p) => {
        acc.splice(rng.int(acc.length + 1), 0, p);
        return acc;
      }, [...http]);
      const expected: HttpHead = {
        method,
        url: cgi.some(([n]) => n === 'REQUEST_URI') ? uri : '/s',
        headers: nodeHeaders(lines),
      };
      const b = build(codec, pairs);
      for (const [how, got] of [['loop', b.loopHead], ['compiled', b.compiledHead]] as const) {
        try {
          expect(httpPart(got)).toEqual(expected);
        } catch {
          failures.push(`${how} round ${round}: ${JSON.stringify(pairs)} gave ${JSON.stringify(got)}, node: ${JSON.stringify(expected)}`);
        }
      }
      if (b.compilations === 0) failures.push(`round ${round}: the compiled builder did not run`);
    }
    expect(failures).toEqual([]);
  });

  test(`compiled builders equal the plain loops on generated shapes with unknown names, aliases and repeats (seed ${SEED})`, () => {
    const rng = new Rng(SEED ^ 0x9e37);
    const names = [...KNOWN_NAMES, 'HTTP_Host', 'HTTP_host', 'HTTP_X-Forwarded-For', 'HTTP_', 'HTTP_X_UNKNOWN', 'HTTP_Y', 'X_OTHER',
      '__proto__', 'constructor', 'toString', 'HTTP_CONSTRUCTOR', 'HTTP_SET_COOKIE', 'HTTP_Cookie', 'HTTP_Content_Type', 'hasOwnProperty', ''];
    const failures: string[] = [];
    for (let round = 0; round < 250 && failures.length < 3; round++) {
      const pairs: Pair[] = [];
      const count = rng.int(30);
      for (let i = 0; i < count; i++) {
        const name = rng.chance(0.1) && pairs.length > 0 ? rng.pick(pairs)[0] : rng.pick(names);
        pairs.push([name, rng.chance(0.15) ? '' : `v${i}`]);
      }
      const b = build(codec, pairs);
      try {
        expect(b.compiledHead).toEqual(b.loopHead);
        expect(b.compiledObject).toEqual(b.loopObject);
        expect(Object.getPrototypeOf(b.compiledObject)).toBe(Object.prototype);
        expect(Object.getPrototypeOf(b.loopObject)).toBe(Object.prototype);
        expect(b.compilations).toBeGreaterThan(0);
      } catch (err) {
        failures.push(`round ${round}: ${JSON.stringify(pairs)}: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    expect(failures).toEqual([]);
  });

  test('decodeParams builds the head by default; the same head comes from Params.head() and from decodeScgiHeader', () => {
    const pairs: Pair[] = [['REQUEST_METHOD', 'POST'], ['REQUEST_URI', '/x'], ['CONTENT_LENGTH', '3'], ['HTTP_HOST', 'h'], ['HTTP_COOKIE', 'a=1']];
    const body = encodePairBody(pairs);
    const { head, params } = codec.decodeParams(body);
    const expected = { method: 'POST', url: '/x', headers: { host: 'h', cookie: 'a=1', 'content-length': '3' } };
    expect(httpPart(head!)).toEqual(expected);
    expect(params.head()).toEqual(head);
    const scgi = Buffer.from('CONTENT_LENGTH\x003\x00SCGI\x001\x00REQUEST_METHOD\x00POST\x00REQUEST_URI\x00/x\x00HTTP_HOST\x00h\x00HTTP_COOKIE\x00a=1\x00', 'latin1');
    expect(httpPart(codec.decodeScgiHeader(scgi).head!)).toEqual(expected);
    expect(codec.decodeParams(body, 0, body.length, undefined, BUILD_NOTHING).head).toBeUndefined();
  });
});
