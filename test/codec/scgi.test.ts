/**
 * SCGI (Schemenauer, 2006): the netstring that opens a request, read across chunks, and the validation
 * rules of its NAME\0VALUE\0 headers, each with its stable code.
 */
import { describe, expect, test } from 'vitest';
import { LimitError, ScgiProtocolError, encodeScgiHeader, DEFAULT_PARAMS_LIMITS } from '../../lib/index.js';
import { CODECS } from '../helpers/codecs.js';
import { byteByByte, splitAt, whole } from '../helpers/fcgi.js';
import { thrownCode } from '../helpers/pairs.js';
import { netstring, readScgi, scgiHeaderBytes, verifyScgi } from '../helpers/scgi.js';

const CL0: [string, string] = ['CONTENT_LENGTH', '0'];
const SCGI1: [string, string] = ['SCGI', '1'];

describe.each(CODECS)('$name codec: NetstringReader', ({ codec }) => {
  test('a netstring built by hand: header bytes of any value, the body right after the comma', () => {
    const header = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const bytes = netstring(header, Buffer.from('body'));
    expect(bytes.subarray(0, 4).toString()).toBe('256:');
    const r = readScgi(codec, whole(bytes));
    expect(r).toMatchObject({ error: null, done: true });
    expect(r.header).toEqual(header);
    expect(r.body.toString()).toBe('body');
  });

  test('"0:," is an empty header; push returns the offset where the body begins', () => {
    const r = codec.createNetstringReader();
    expect(r.done).toBe(false);
    expect(r.push(Buffer.from('0:,body'))).toBe(3);
    expect(r.done).toBe(true);
    expect(r.header).toEqual(Buffer.alloc(0));
  });

  test('push returns -1 while the netstring is incomplete, then the body offset in the chunk that completes it, then 0', () => {
    const r = codec.createNetstringReader();
    expect(r.push(Buffer.from('5'))).toBe(-1);
    expect(r.push(Buffer.from(':he'))).toBe(-1);
    expect(r.header).toBeNull();
    expect(r.push(Buffer.from('llo'))).toBe(-1);
    expect(r.push(Buffer.from(',BODY'))).toBe(1);
    expect(r.header!.toString()).toBe('hello');
    expect(r.push(Buffer.from('more body'))).toBe(0);
    expect(r.header!.toString()).toBe('hello');
  });

  test('a header that arrives in one chunk is a view of it; one cut by chunks is gathered into one buffer', () => {
    const bytes = Buffer.from('11:hello world,tail');
    const r = codec.createNetstringReader();
    expect(r.push(bytes)).toBe(15);
    expect(r.header!.buffer).toBe(bytes.buffer);
    expect(r.header!.byteOffset).toBe(bytes.byteOffset + 3);
    const s = codec.createNetstringReader();
    for (const c of ['11:hel', 'lo wo', 'rld', ',']) s.push(Buffer.from(c));
    expect(s.header!.toString()).toBe('hello world');
  });

  test('a request made by encodeScgiHeader reads the same whole, one byte at a time, and split at every offset', () => {
    const header = encodeScgiHeader(5, [['REQUEST_METHOD', 'POST'], ['X', 'y'.repeat(300)]]);
    const body = Buffer.from('abcde');
    const bytes = Buffer.concat([header, body]);
    const inner = header.subarray(header.indexOf(0x3a) + 1, header.length - 1);
    expect(verifyScgi(codec, whole(bytes), inner, body)).toBeNull();
    expect(verifyScgi(codec, byteByByte(bytes), inner, body)).toBeNull();
    for (let at = 0; at <= bytes.length; at++) expect([at, verifyScgi(codec, splitAt(bytes, at), inner, body)]).toEqual([at, null]);
  });

  test.each([
    ['a leading zero', '01:a,'],
    ['two zeros', '00:,'],
    ['a non-digit first', 'a:'],
    ['a colon with no digits', ':,'],
    ['a sign', '+5:hello,'],
    ['a minus', '-1:'],
    ['a space before the digits', ' 5:hello,'],
    ['a space before the colon', '5 :hello,'],
    ['another byte where the colon goes', '5;hello,'],
    ['another byte where the comma goes', '5:hello;'],
    ['no comma after an empty header', '0:;'],
  ])('%s (%j) gives ERR_SCGI_BAD_NETSTRING, a ScgiProtocolError returned by push', (_, text) => {
    for (const chunks of [whole(Buffer.from(text)), byteByByte(Buffer.from(text))]) {
      const r = readScgi(codec, chunks);
      expect(r.error).toBe('ERR_SCGI_BAD_NETSTRING');
      expect(r.done).toBe(false);
    }
    const reader = codec.createNetstringReader();
    const err = reader.push(Buffer.from(text));
    expect(err).toBeInstanceOf(ScgiProtocolError);
    // Failed for good.
    expect(reader.push(Buffer.from('0:,'))).toBe(err);
  });

  test('createNetstringReader(max): a declared length of max reads; max + 1 gives ERR_SCGI_HEADER_TOO_LARGE, a LimitError', () => {
    const ok = readScgi(codec, whole(Buffer.from('10:0123456789,')), 10);
    expect(ok.error).toBeNull();
    expect(ok.header!.toString()).toBe('0123456789');
    const reader = codec.createNetstringReader(10);
    const err = reader.push(Buffer.from('11:0123456789a,'));
    expect(err).toBeInstanceOf(LimitError);
    expect((err as LimitError).code).toBe('ERR_SCGI_HEADER_TOO_LARGE');
    expect(readScgi(codec, byteByByte(Buffer.from('11:')), 10).error).toBe('ERR_SCGI_HEADER_TOO_LARGE');
  });

  test('the default limit is DEFAULT_PARAMS_LIMITS.maxParamsBytes (131072), refused as soon as the digits exceed it', () => {
    expect(readScgi(codec, whole(Buffer.from('131072:'))).error).toBeNull();
    expect(readScgi(codec, whole(Buffer.from('131073:'))).error).toBe('ERR_SCGI_HEADER_TOO_LARGE');
    // Refused at the digit that crosses the limit: no colon needed.
    expect(readScgi(codec, whole(Buffer.from('1310720'))).error).toBe('ERR_SCGI_HEADER_TOO_LARGE');
    expect(DEFAULT_PARAMS_LIMITS.maxParamsBytes).toBe(131072);
  });

  test('createNetstringReader(0) takes only "0:,"', () => {
    expect(readScgi(codec, whole(Buffer.from('0:,')), 0).error).toBeNull();
    expect(readScgi(codec, whole(Buffer.from('1:a,')), 0).error).toBe('ERR_SCGI_HEADER_TOO_LARGE');
  });
});

describe.each(CODECS)('$name codec: decodeScgiHeader', ({ codec }) => {
  const decode = (pairs: (readonly [string | Buffer, string | Buffer])[]) => codec.decodeScgiHeader(scgiHeaderBytes(pairs));
  const code = (pairs: (readonly [string | Buffer, string | Buffer])[]): string => thrownCode(() => decode(pairs));

  test('CONTENT_LENGTH first and SCGI=1: decodes, with contentLength and the head', () => {
    const d = decode([['CONTENT_LENGTH', '27'], SCGI1, ['REQUEST_METHOD', 'PUT'], ['REQUEST_URI', '/u?q'], ['HTTP_HOST', 'h']]);
    expect(d.contentLength).toBe(27);
    expect(d.params.count).toBe(5);
    expect(d.head).toMatchObject({ method: 'PUT', url: '/u?q', rawHeaders: ['host', 'h', 'content-length', '27'] });
    expect(d.head!.headers).toEqual({ host: 'h', 'content-length': '27' });
  });

  test.each([
    ['0', 0], ['7', 7], ['102400', 102400], ['4294967295', 4294967295], ['4294967296', 4294967296],
    ['123456789012345', 123456789012345], ['999999999999999', 999999999999999],
  ])('CONTENT_LENGTH %s is read exactly, above 2^32 too', (text, n) => {
    expect(decode([['CONTENT_LENGTH', text], SCGI1]).contentLength).toBe(n);
  });

  test.each([
    ['empty', ''], ['a leading zero', '01'], ['a letter', '1a'], ['a minus', '-1'], ['a plus', '+1'],
    ['a leading space', ' 1'], ['a trailing space', '1 '], ['hex', '0x10'], ['16 digits', '1234567890123456'],
  ])('CONTENT_LENGTH %s gives ERR_SCGI_BAD_CONTENT_LENGTH', (_, text) => {
    expect(code([['CONTENT_LENGTH', text], SCGI1])).toBe('ERR_SCGI_BAD_CONTENT_LENGTH');
  });

  test('no headers at all, or a first header other than CONTENT_LENGTH, gives ERR_SCGI_NO_CONTENT_LENGTH', () => {
    expect(thrownCode(() => codec.decodeScgiHeader(Buffer.alloc(0)))).toBe('ERR_SCGI_NO_CONTENT_LENGTH');
    expect(code([SCGI1, CL0])).toBe('ERR_SCGI_NO_CONTENT_LENGTH');
    expect(code([['content_length', '0'], SCGI1])).toBe('ERR_SCGI_NO_CONTENT_LENGTH');
    expect(code([['CONTENT_LENGTH_', '0'], SCGI1])).toBe('ERR_SCGI_NO_CONTENT_LENGTH');
  });

  test.each([
    ['missing', [CL0, ['X', '1']]],
    ['0', [CL0, ['SCGI', '0']]],
    ['empty', [CL0, ['SCGI', '']]],
    ['11', [CL0, ['SCGI', '11']]],
    ['" 1"', [CL0, ['SCGI', ' 1']]],
    ['only in lower case', [CL0, ['scgi', '1']]],
  ] as const)('SCGI %s gives ERR_SCGI_NO_SCGI', (_, pairs) => {
    expect(code(pairs as unknown as [string, string][])).toBe('ERR_SCGI_NO_SCGI');
  });

  test('a header name that appears twice gives ERR_SCGI_DUPLICATE_HEADER; names differing in case are distinct', () => {
    expect(code([CL0, SCGI1, ['REQUEST_URI', '/a'], ['REQUEST_URI', '/b']])).toBe('ERR_SCGI_DUPLICATE_HEADER');
    expect(code([CL0, SCGI1, ['HTTP_', 'a'], ['HTTP_', 'b']])).toBe('ERR_SCGI_DUPLICATE_HEADER');
    expect(code([CL0, SCGI1, ['CONTENT_LENGTH', '0']])).toBe('ERR_SCGI_DUPLICATE_HEADER');
    expect(code([CL0, SCGI1, ['SCGI', '1']])).toBe('ERR_SCGI_DUPLICATE_HEADER');
    expect(code([CL0, SCGI1, ['X', ''], ['Y', ''], ['X', '']])).toBe('ERR_SCGI_DUPLICATE_HEADER');
    expect(decode([CL0, SCGI1, ['HTTP_HOST', 'a'], ['HTTP_Host', 'b'], ['http_host', 'c']]).params.count).toBe(5);
  });

  test('a repeated HTTP_ name (nginx 1.22 sends a repeated request header so) is accepted and merged like node:http', () => {
    const d = decode([CL0, SCGI1, ['HTTP_X_REP', 'one'], ['HTTP_X_REP', 'two'], ['HTTP_COOKIE', 'a=1'], ['HTTP_COOKIE', 'b=2']]);
    expect(d.params.count).toBe(6);
    expect(d.head!.headers['x-rep']).toBe('one, two');
    expect(d.head!.headers.cookie).toBe('a=1; b=2');
    expect(d.params.getAll('HTTP_X_REP')).toEqual(['one', 'two']);
  });

  test('510 distinct names are not taken for repeats, and a repeat among them is found', () => {
    const names = Array.from({ length: 510 }, (_, i) => [`H${i.toString(36)}_${'x'.repeat(i % 20)}`, `${i}`] as const);
    expect(decode([CL0, SCGI1, ...names]).params.count).toBe(512);
    expect(code([CL0, SCGI1, ...names.slice(0, 509), names[137]])).toBe('ERR_SCGI_DUPLICATE_HEADER');
  });

  test('names sharing their length and first and last eight bytes (one hash bucket) are told apart; a true repeat is found', () => {
    const names = Array.from({ length: 300 }, (_, i) => [`XTTP_AAA_${i.toString().padStart(4, '0')}_ZZZZZZZZ`, 'v'] as const);
    expect(decode([CL0, SCGI1, ...names]).params.count).toBe(302);
    expect(code([CL0, SCGI1, ...names, names[299]])).toBe('ERR_SCGI_DUPLICATE_HEADER');
    expect(code([CL0, SCGI1, ...names, names[0]])).toBe('ERR_SCGI_DUPLICATE_HEADER');
  });

  test('bytes that are not NAME\\0VALUE\\0 pairs give ERR_SCGI_BAD_HEADER', () => {
    const ok = scgiHeaderBytes([CL0, SCGI1]);
    expect(thrownCode(() => codec.decodeScgiHeader(Buffer.concat([ok, Buffer.from('\0v\0')])))).toBe('ERR_SCGI_BAD_HEADER');
    expect(thrownCode(() => codec.decodeScgiHeader(Buffer.concat([ok, Buffer.from('NAME')])))).toBe('ERR_SCGI_BAD_HEADER');
    expect(thrownCode(() => codec.decodeScgiHeader(Buffer.concat([ok, Buffer.from('NAME\0value')])))).toBe('ERR_SCGI_BAD_HEADER');
    expect(thrownCode(() => codec.decodeScgiHeader(Buffer.concat([ok, Buffer.from('NAME\0')])))).toBe('ERR_SCGI_BAD_HEADER');
    expect(thrownCode(() => codec.decodeScgiHeader(Buffer.from('CONTENT_LENGTH\0')))).toBe('ERR_SCGI_BAD_HEADER');
    expect(thrownCode(() => codec.decodeScgiHeader(Buffer.from('CONTENT_LENGTH')))).toBe('ERR_SCGI_BAD_HEADER');
  });

  test('a NUL after the header end is not read: decoding a sub-range stops at its end', () => {
    const ok = scgiHeaderBytes([CL0, SCGI1, ['N', 'v']]);
    const buf = Buffer.concat([ok.subarray(0, ok.length - 1), Buffer.from([0])]);
    // The view ends before the final NUL; the NUL that follows in memory must not count.
    expect(thrownCode(() => codec.decodeScgiHeader(buf.subarray(0, buf.length - 1)))).toBe('ERR_SCGI_BAD_HEADER');
  });

  test.each([
    ['maxParamsBytes', 'ERR_SCGI_HEADER_TOO_LARGE'],
    ['maxParams', 'ERR_FASTCGI_TOO_MANY_PARAMS'],
    ['maxParamNameLength', 'ERR_FASTCGI_PARAM_NAME_TOO_LONG'],
    ['maxParamValueLength', 'ERR_FASTCGI_PARAM_VALUE_TOO_LONG'],
  ] as const)('%s exceeded by one gives %s', (field, expected) => {
    const header = scgiHeaderBytes([['CONTENT_LENGTH', '1234567890'], SCGI1, ['ABCDEFGHIJKLMNOP', 'v']]);
    const exact = { maxParamsBytes: header.length, maxParams: 3, maxParamNameLength: 16, maxParamValueLength: 10 };
    expect(codec.decodeScgiHeader(header, exact).params.count).toBe(3);
    let err: unknown;
    try { codec.decodeScgiHeader(header, { ...exact, [field]: exact[field] - 1 }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(LimitError);
    expect((err as LimitError).code).toBe(expected);
  });

  test('values are bytes: raw gives them exactly, get as latin1', () => {
    const d = decode([CL0, SCGI1, ['X', Buffer.from([0xc3, 0xa9, 0xff, 0x01])]]);
    expect(d.params.raw('X')).toEqual(Buffer.from([0xc3, 0xa9, 0xff, 0x01]));
    expect(d.params.get('X')).toBe('Ã©ÿ\u0001');
  });
});

describe.each(CODECS)('$name codec: netstring limits above 2^31-1', ({ codec }) => {
  test.each([2 ** 31, 2 ** 32 - 1, Infinity])('createNetstringReader(%s): push never throws, reads "5:hello," and refuses a 20-digit length', (max) => {
    let reader;
    try {
      reader = codec.createNetstringReader(max);
    } catch (err) {
      // Refusing the argument up front is an acceptable answer too.
      expect(err).toBeInstanceOf(RangeError);
      return;
    }
    expect(thrownCode(() => reader.push(Buffer.from('5:hello,')))).toBe('no error');
    expect(readScgi(codec, whole(Buffer.from('5:hello,')), max)).toMatchObject({ error: null, done: true });
    expect(readScgi(codec, whole(Buffer.from('99999999999999999999:')), max).error).toBe('ERR_SCGI_HEADER_TOO_LARGE');
  });
});

describe.each(CODECS)('$name codec: memory follows the bytes received, not the length announced', ({ codec }) => {
  test('eight readers announcing 64 MiB each and sending 10 bytes hold far less than 512 MiB', () => {
    const before = process.memoryUsage().arrayBuffers;
    const readers = Array.from({ length: 8 }, () => codec.createNetstringReader(2 ** 30));
    for (const r of readers) expect(r.push(Buffer.from('67108864:CONTENT_L'))).toBe(-1);
    const grown = process.memoryUsage().arrayBuffers - before;
    expect(grown).toBeLessThan(8 << 20);
    expect(readers.every((r) => !r.done)).toBe(true);
  });

  test('a large header that arrives in many small pieces is gathered whole and exact', () => {
    const pairs: [string, string][] = [CL0, SCGI1, ['HTTP_X', 'v'.repeat(300_000)], ['HTTP_Y', 'end']];
    const header = scgiHeaderBytes(pairs);
    const bytes = netstring(header, Buffer.from('B'));
    const chunks: Buffer[] = [];
    for (let at = 0, size = 1; at < bytes.length; at += size, size = Math.min(size * 3, 7001)) chunks.push(bytes.subarray(at, at + size));
    const r = readScgi(codec, chunks, 1 << 20);
    expect(r).toMatchObject({ error: null, done: true });
    expect(r.header!.equals(header)).toBe(true);
    expect(r.body.toString()).toBe('B');
  });
});
