/**
 * Encoders: stream framing (records of at most 65528 bytes, padding only where needed, the close record,
 * zero-copy views of large payloads), PARAMS that never split a pair that fits, SCGI headers, and argument
 * checks.
 */
import { describe, expect, test } from 'vitest';
import {
  COALESCE_BELOW, MAX_STREAM_RECORD, encodeBeginRequest, encodeEndRequest, encodeAbortRequest, encodeUnknownType,
  encodeResponseEnd, encodeStreamEnd,
  encodeParams, encodePairBody, encodeScgiHeader, encodeGetValues, encodeGetValuesResult, encodeRequestStart,
} from '../../lib/index.js';
import { CODECS } from '../helpers/codecs.js';
import { T, byteByByte, parseRecords, readAll, streamBytes, whole } from '../helpers/fcgi.js';
import { thrownCode } from '../helpers/pairs.js';
import { Rng, suiteSeed } from '../helpers/prng.js';
import { readScgi } from '../helpers/scgi.js';

const SEED = suiteSeed();
const MiB = 1 << 20;

/** The records a stream of `length` bytes must become, built independently of the library. */
function expectedStream(type: number, id: number, payload: Buffer, close: boolean): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at < payload.length; at += 65528) {
    const part = payload.subarray(at, Math.min(at + 65528, payload.length));
    const pad = (8 - (part.length % 8)) % 8;
    const h = Buffer.from([1, type, id >> 8, id & 0xff, part.length >> 8, part.length & 0xff, pad, 0]);
    parts.push(h, part, Buffer.alloc(pad));
  }
  if (close) parts.push(Buffer.from([1, type, id >> 8, id & 0xff, 0, 0, 0, 0]));
  return Buffer.concat(parts);
}

function payloadOf(length: number, seed: number): Buffer {
  // A payload inside a larger buffer, so views can be told from copies by their offset.
  return new Rng(seed).bytes(length + 24).subarray(11, 11 + length);
}

test('MAX_STREAM_RECORD is 65528, the largest multiple of 8 in a record; COALESCE_BELOW is 1536 (measured crossover)', () => {
  expect(MAX_STREAM_RECORD).toBe(65528);
  expect(MAX_STREAM_RECORD % 8).toBe(0);
  expect(MAX_STREAM_RECORD + 8).toBeGreaterThan(65535);
  expect(COALESCE_BELOW).toBe(1536);
});

describe.each(CODECS)('$name codec: encodeStream', ({ codec }) => {
  test.each([0, 1, 7, 8, 1535, 1536, 8191, 8192, 65527, 65528, 65529, 131056, 131057, MiB])(
    `%i bytes: the pieces are records of at most 65528 bytes, padded only where needed, then the close record (seed ${SEED})`, (length) => {
      const payload = payloadOf(length, SEED + length);
      for (const close of [true, false]) {
        const pieces = codec.encodeStream(T.STDOUT, 0x1234, payload, close);
        const bytes = Buffer.concat(pieces);
        expect(bytes.equals(expectedStream(T.STDOUT, 0x1234, payload, close))).toBe(true);
        const { records, rest } = parseRecords(bytes);
        expect(rest).toBe(0);
        for (const r of records) expect(r.content.length).toBeLessThanOrEqual(65528);
        // Only the last data record may be padded (the others are full multiples of 8).
        expect(records.filter((r) => r.padding !== 0).length).toBeLessThanOrEqual(1);
      }
    });

  test.each([8192, 65528, 65529, MiB])('%i bytes: payload pieces are views of the payload (same ArrayBuffer), not copies', (length) => {
    const payload = payloadOf(length, SEED);
    const pieces = codec.encodeStream(T.STDIN, 1, payload, true);
    const views = pieces.filter((p) => p.buffer === payload.buffer);
    expect(views.reduce((n, p) => n + p.length, 0)).toBe(length);
    let at = payload.byteOffset;
    for (const v of views) {
      expect(v.byteOffset).toBe(at);
      at += v.length;
    }
    // The other pieces are headers and padding: small.
    for (const p of pieces) if (p.buffer !== payload.buffer) expect(p.length).toBeLessThanOrEqual(Math.max(8, 8 * Math.ceil(length / 65528) + 8));
  });

  test('below COALESCE_BELOW the stream is one buffer with its headers; from it on, header and payload views', () => {
    for (const length of [1, 100, COALESCE_BELOW - 1]) expect(codec.encodeStream(T.STDIN, 1, payloadOf(length, 1), true).length).toBe(1);
    const payload = payloadOf(COALESCE_BELOW, 1);
    const pieces = codec.encodeStream(T.STDIN, 1, payload, true);
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.some((p) => p.buffer === payload.buffer && p.byteOffset === payload.byteOffset)).toBe(true);
  });

  test('a 1 MiB payload round-trips through a RecordReader, whole and one byte at a time (first 70000 bytes)', () => {
    const payload = payloadOf(MiB, SEED ^ 7);
    const bytes = Buffer.concat(codec.encodeStream(T.STDIN, 42, payload, true));
    const r = readAll(codec, whole(bytes));
    expect(r.error).toBeNull();
    expect(r.requests[0].streams.get(T.STDIN)!.ended).toBe(true);
    expect(streamBytes(r.requests[0], T.STDIN)!.equals(payload)).toBe(true);
    const small = Buffer.concat(codec.encodeStream(T.STDIN, 42, payload.subarray(0, 70000), true));
    const b = readAll(codec, byteByByte(small));
    expect(streamBytes(b.requests[0], T.STDIN)!.equals(payload.subarray(0, 70000))).toBe(true);
  });

  test('type and requestId are checked: integers 0..255 and 0..65535, else RangeError ERR_OUT_OF_RANGE', () => {
    for (const [type, id] of [[256, 1], [-1, 1], [1.5, 1], [NaN, 1], [5, 65536], [5, -1], [5, 0.5]]) {
      expect(thrownCode(() => codec.encodeStream(type, id, Buffer.alloc(10), true))).toBe('ERR_OUT_OF_RANGE');
      expect(thrownCode(() => codec.encodeStream(type, id, Buffer.alloc(10000), true))).toBe('ERR_OUT_OF_RANGE');
    }
    expect(codec.encodeStream(255, 65535, Buffer.alloc(1), false)[0].subarray(0, 8)).toEqual(Buffer.from([1, 255, 255, 255, 0, 1, 7, 0]));
  });

  test(`writeStreamHeaders of both cores: the record count and the 8-byte headers for any length (seed ${SEED})`, () => {
    const rng = new Rng(SEED);
    const lengths = [0, 1, 65527, 65528, 65529, 3 * 65528, 3 * 65528 + 1, ...Array.from({ length: 200 }, () => rng.int(4 * MiB))];
    for (const length of lengths) {
      for (const close of [false, true]) {
        const count = Math.ceil(length / 65528) + (close ? 1 : 0);
        const out = Buffer.alloc(8 * count + 16, 0xee);
        expect(codec.core.writeStreamHeaders(out, 8, T.DATA, 0xabcd, length, close)).toBe(count);
        const headers: number[] = [];
        for (let left = length; left > 0; left -= 65528) {
          const part = Math.min(left, 65528);
          headers.push(1, T.DATA, 0xab, 0xcd, part >> 8, part & 0xff, (8 - (part % 8)) % 8, 0);
        }
        if (close) headers.push(1, T.DATA, 0xab, 0xcd, 0, 0, 0, 0);
        expect(out.subarray(8, 8 + 8 * count).equals(Buffer.from(headers))).toBe(true);
        expect(out.subarray(0, 8).equals(Buffer.alloc(8, 0xee))).toBe(true);
        expect(out.subarray(8 + 8 * count).equals(Buffer.alloc(8, 0xee))).toBe(true);
      }
    }
  });
});

describe.each(CODECS)('$name codec: encodeParams', ({ codec }) => {
  test(`never splits a pair across records when it fits in one, and round-trips through RecordReader + decodeParams (seed ${SEED})`, () => {
    const rng = new Rng(SEED ^ 0x5a5a);
    for (let round = 0; round < 20; round++) {
      const pairs: [string, Buffer][] = [];
      const count = rng.range(1, 400);
      for (let i = 0; i < count; i++) {
        const size = rng.chance(0.1) ? rng.range(1000, 30000) : rng.int(300);
        pairs.push([`NAME_${i}_${'n'.repeat(rng.int(200))}`, rng.bytes(size)]);
      }
      const bytes = encodeParams(7, pairs);
      const { records, rest } = parseRecords(bytes);
      expect(rest).toBe(0);
      expect(records.at(-1)!.content.length).toBe(0);
      // Each record's content is whole pairs: it decodes on its own.
      let decoded = 0;
      for (const r of records.slice(0, -1)) {
        expect(r.type).toBe(T.PARAMS);
        expect(r.requestId).toBe(7);
        expect(r.content.length).toBeLessThanOrEqual(65528);
        expect(r.padding).toBe((8 - (r.content.length % 8)) % 8);
        decoded += codec.decodeParams(r.content, 0, r.content.length, { maxParamsBytes: 65535, maxParams: 1000, maxParamNameLength: 1024, maxParamValueLength: 65536 }).params.count;
      }
      expect(decoded).toBe(count);
      const read = readAll(codec, whole(bytes));
      const body = streamBytes(read.requests[0], T.PARAMS)!;
      expect(body.equals(encodePairBody(pairs))).toBe(true);
      const entries = codec.decodeParams(body, 0, body.length, { maxParamsBytes: 1 << 24, maxParams: 1000, maxParamNameLength: 1024, maxParamValueLength: 65536 }).params.entries();
      expect(entries).toEqual(pairs.map(([n, v]) => [n, v.toString('latin1')]));
    }
  });

  test('strings in latin1 (one char per byte) and utf8 give the bytes encodePairBody gives, lengths of every size', () => {
    const latin = [['A', ''], ['QUERY', 'a=\u00e9&b=\u00ff'], ['LONG', 'x'.repeat(127)], ['LONGER', '\u00e9'.repeat(128)],
      ['N'.repeat(130), 'v'.repeat(70000 - 200)]] as [string, string][];
    for (const encoding of ['latin1', 'utf8'] as const) {
      const pairs = latin.slice(0, 4);
      const bytes = encodeParams(3, pairs, true, encoding);
      const { records, rest } = parseRecords(bytes);
      expect(rest).toBe(0);
      expect(Buffer.concat(records.map((r) => r.content)).equals(encodePairBody(pairs, encoding))).toBe(true);
    }
    // Past one record the pairs are laid out over several, in either encoding.
    const big = encodeParams(3, latin, true, 'latin1');
    const { records } = parseRecords(big);
    expect(Buffer.concat(records.map((r) => r.content)).equals(encodePairBody(latin, 'latin1'))).toBe(true);
    expect(records.length).toBe(4);  // the small pairs, the big pair cut in two, the end
  });

  test('a pair larger than one record is cut, because it must be, and still round-trips', () => {
    const big = Buffer.alloc(150000, 0x61);
    const bytes = encodeParams(1, [['SMALL', 'x'], ['BIG', big], ['AFTER', 'y']]);
    const { records } = parseRecords(bytes);
    // SMALL (8 bytes) stays whole in the first record; BIG (1 + 4 + 3 + 150000 bytes) starts the next and is cut
    // at 65528; AFTER (8 bytes) follows BIG's tail.
    expect(records.map((r) => r.content.length)).toEqual([8, 65528, 65528, 150008 - 2 * 65528 + 8, 0]);
    const body = streamBytes(readAll(codec, whole(bytes)).requests[0], T.PARAMS)!;
    expect(codec.decodeParams(body, 0, body.length, { maxParamsBytes: 1 << 20, maxParams: 10, maxParamNameLength: 10, maxParamValueLength: 1 << 20 })
      .params.entries()).toEqual([['SMALL', 'x'], ['BIG', big.toString('latin1')], ['AFTER', 'y']]);
  });

  test('pairs filling a record exactly do not spill; the next pair starts a new record', () => {
    // One pair of exactly 65528 bytes: 1 + 4 + 1 + 65522.
    const exact: [string, Buffer] = ['E', Buffer.alloc(65522, 0x62)];
    expect(encodePairBody([exact]).length).toBe(65528);
    const { records } = parseRecords(encodeParams(1, [exact, ['N', 'v']]));
    expect(records.map((r) => [r.content.length, r.padding])).toEqual([[65528, 0], [4, 4], [0, 0]]);
  });

  test('encodeRequestStart: BEGIN_REQUEST, the PARAMS records and, for a request without a body, the empty STDIN, in one buffer', () => {
    const cases: [string, string][][] = [[], [['A', 'b']], [['QUERY', 'a=\u00e9'], ['X', 'y'.repeat(300)]],
      [['N'.repeat(130), 'v'.repeat(70000)], ['AFTER', 'z']]];
    for (const pairs of cases) {
      for (const encoding of ['latin1', 'utf8'] as const) {
        for (const [role, flags] of [[1, 1], [2, 0]]) {
          for (const noBody of [true, false]) {
            const expected = Buffer.concat([encodeBeginRequest(9, role, flags), encodeParams(9, pairs, true, encoding),
              ...(noBody ? [encodeStreamEnd(T.STDIN, 9)] : [])]);
            expect(encodeRequestStart(9, role, flags, pairs, encoding, noBody).equals(expected)).toBe(true);
          }
        }
      }
    }
  });

  test('pairs may be any iterable of any two-element iterables (a Map, a generator, a Set as a pair)', () => {
    const expected = encodeParams(1, [['A', 'b'], ['C', 'd']]);
    function* gen(): Generator<[string, string]> { yield ['A', 'b']; yield ['C', 'd']; }
    expect(encodeParams(1, new Map([['A', 'b'], ['C', 'd']])).equals(expected)).toBe(true);
    expect(encodeParams(1, gen()).equals(expected)).toBe(true);
    expect(encodeParams(1, [new Set(['A', 'b']) as unknown as [string, string], ['C', 'd']]).equals(expected)).toBe(true);
  });

  test('close = false leaves out the empty PARAMS record; no pairs and no close is nothing', () => {
    expect(parseRecords(encodeParams(1, [['A', 'b']], false)).records.map((r) => r.content.length)).toEqual([4]);
    expect(encodeParams(1, [], false).length).toBe(0);
  });
});

describe.each(CODECS)('$name codec: encodeScgiHeader', ({ codec }) => {
  const decodeBack = (bytes: Buffer) => {
    const r = readScgi(codec, whole(bytes));
    expect(r.error).toBeNull();
    return { ...codec.decodeScgiHeader(r.header!), body: r.body };
  };

  test('CONTENT_LENGTH first, then SCGI=1, then the headers; CONTENT_LENGTH or SCGI among them are skipped', () => {
    const bytes = encodeScgiHeader(12, [['REQUEST_METHOD', 'GET'], ['SCGI', '2'], ['CONTENT_LENGTH', '99']]);
    expect(bytes.toString('latin1')).toBe('44:CONTENT_LENGTH\x0012\x00SCGI\x001\x00REQUEST_METHOD\x00GET\x00,');
    expect(decodeBack(bytes).params.entries()).toEqual([['CONTENT_LENGTH', '12'], ['SCGI', '1'], ['REQUEST_METHOD', 'GET']]);
  });

  test('round-trips through NetstringReader + decodeScgiHeader, byte values kept (latin1 by default)', () => {
    const headers: [string, string][] = [['REQUEST_METHOD', 'POST'], ['REQUEST_URI', '/é?x'], ['HTTP_X', '\u00ff\u0001'], ['EMPTY', '']];
    const bytes = Buffer.concat([encodeScgiHeader(3, headers), Buffer.from('abc')]);
    for (const chunks of [whole(bytes), byteByByte(bytes)]) {
      const r = readScgi(codec, chunks);
      expect(r.error).toBeNull();
      expect(r.body.toString()).toBe('abc');
      const d = codec.decodeScgiHeader(r.header!);
      expect(d.contentLength).toBe(3);
      expect(d.params.entries()).toEqual([['CONTENT_LENGTH', '3'], ['SCGI', '1'], ...headers]);
      expect(d.params.raw('REQUEST_URI')).toEqual(Buffer.from('/é?x', 'latin1'));
    }
    expect(decodeBack(encodeScgiHeader(0, [['X', 'é']], 'utf8')).params.raw('X')).toEqual(Buffer.from('é', 'utf8'));
  });

  test('refuses NUL bytes in names or values, empty names, and repeated names; names differing in case are distinct', () => {
    expect(() => encodeScgiHeader(0, [['A\0B', 'v']])).toThrow(TypeError);
    expect(() => encodeScgiHeader(0, [['A', 'v\0']])).toThrow(TypeError);
    expect(() => encodeScgiHeader(0, [['', 'v']])).toThrow(TypeError);
    expect(() => encodeScgiHeader(0, [['A', '1'], ['A', '2']])).toThrow(TypeError);
    expect(decodeBack(encodeScgiHeader(0, [['A', '1'], ['a', '2']])).params.toObject()).toEqual({ CONTENT_LENGTH: '0', SCGI: '1', A: '1', a: '2' });
  });

  test('contentLength must be a safe non-negative integer; the largest round-trips exactly', () => {
    for (const n of [-1, 1.5, NaN, Infinity, 2 ** 53]) expect(thrownCode(() => encodeScgiHeader(n, []))).toBe('ERR_OUT_OF_RANGE');
    expect(decodeBack(encodeScgiHeader(999999999999999, [])).contentLength).toBe(999999999999999);
    expect(encodeScgiHeader(Number.MAX_SAFE_INTEGER, []).toString()).toContain('9007199254740991');
  });
});

test('encodeResponseEnd: the empty records of the given streams, then END_REQUEST, as one buffer (golden bytes)', () => {
  const hex = (b: Buffer): string => b.toString('hex');
  expect(hex(encodeResponseEnd(0x0102, 0xa0b0c0d0, 3, false))).toBe(
    '0106010200000000' + '0103010200080000' + 'a0b0c0d003000000');
  expect(hex(encodeResponseEnd(7, 1, 0, true))).toBe(
    '0106000700000000' + '0107000700000000' + '0103000700080000' + '0000000100000000');
  for (const stderr of [false, true]) {
    expect(encodeResponseEnd(65535, 0xffffffff, 255, stderr)).toEqual(Buffer.concat([
      encodeStreamEnd(6, 65535), ...(stderr ? [encodeStreamEnd(7, 65535)] : []), encodeEndRequest(65535, 0xffffffff, 255)]));
  }
  expect(thrownCode(() => encodeResponseEnd(65536, 0, 0, false))).toBe('ERR_OUT_OF_RANGE');
  expect(thrownCode(() => encodeResponseEnd(1, 2 ** 32, 0, false))).toBe('ERR_OUT_OF_RANGE');
  expect(thrownCode(() => encodeResponseEnd(1, 0, 256, false))).toBe('ERR_OUT_OF_RANGE');
});

describe.each(CODECS)('$name codec: argument checks of the record encoders', ({ codec }) => {
  test.each([
    ['encodeBeginRequest requestId', () => encodeBeginRequest(65536, 1, 0)],
    ['encodeBeginRequest role', () => encodeBeginRequest(1, 65536, 0)],
    ['encodeBeginRequest flags', () => encodeBeginRequest(1, 1, 256)],
    ['encodeEndRequest appStatus', () => encodeEndRequest(1, 2 ** 32, 0)],
    ['encodeEndRequest negative appStatus', () => encodeEndRequest(1, -1, 0)],
    ['encodeEndRequest protocolStatus', () => encodeEndRequest(1, 0, 256)],
    ['encodeAbortRequest requestId', () => encodeAbortRequest(-1)],
    ['encodeUnknownType type', () => encodeUnknownType(256)],
    ['encodeParams requestId', () => encodeParams(70000, [])],
    ['encodeGetValuesResult larger than one record', () => encodeGetValuesResult([['N', 'v'.repeat(65535)]])],
  ])('%s out of range: RangeError ERR_OUT_OF_RANGE', (_, fn) => {
    expect(fn).toThrow(RangeError);
    expect(thrownCode(fn)).toBe('ERR_OUT_OF_RANGE');
  });

  test('the largest values in range encode and read back', () => {
    const bytes = Buffer.concat([encodeBeginRequest(65535, 65535, 255), encodeEndRequest(65535, 0xffffffff, 255),
      encodeAbortRequest(65535), encodeUnknownType(255), encodeGetValues(['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS'])]);
    const r = readAll(codec, whole(bytes));
    expect(r.error).toBeNull();
    expect(r.events).toEqual(['1:65535:r', '3:65535:r', '2:65535:r', '11:0:r', '9:0:r']);
    expect(r.requests[0].begin).toEqual(Buffer.from([0xff, 0xff, 0xff, 0, 0, 0, 0, 0]));
    expect(codec.decodeNameValues(r.requests[1].records[1][1]).map(([n]) => n)).toEqual(['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS']);
  });
});
