/**
 * The known attacks of PROTOCOL.md that concern a codec, each pinned by name.
 */
import { describe, expect, test } from 'vitest';
import { CgiwireError, encodeBeginRequest, encodeEndRequest, encodeParams, type ParamsLimits } from '../../lib/index.js';
import { CODECS } from '../helpers/codecs.js';
import { xorshiftBody } from '../helpers/body.js';
import { T, byteByByte, cutAt, expectedResult, diffResults, readAll, record, splitAt, streamBytes, whole } from '../helpers/fcgi.js';
import { MAX_U31, rawDecodePairs, thrownCode } from '../helpers/pairs.js';
import { readScgi } from '../helpers/scgi.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe.each(CODECS)('$name codec', ({ codec }) => {
  describe('CVE-2025-23016 (libfcgi): two pair lengths near 2^31 wrapped the allocation size', () => {
    const both = hex('ffffffff ffffffff 41 42 43 44');

    test('name and value lengths 0x7fffffff in a short buffer are refused under the default limits', () => {
      expect(rawDecodePairs(codec, both).n).toBe(-13);
      expect(thrownCode(() => codec.decodeParams(both))).toBe('ERR_FASTCGI_PARAM_NAME_TOO_LONG');
    });

    test('with the limits in scratch raised to the maximum, lengths are checked against what remains: ERR_FASTCGI_PAIRS_TRUNCATED', () => {
      for (const max of [MAX_U31, 0xffffffff]) {
        const limits = [max, max, max, max] as const;
        // Names are capped at 65535 bytes (the pair words hold 16 bits), so the largest name is 0xffff.
        expect(rawDecodePairs(codec, hex('8000ffff ffffffff 41 42 43 44'), limits).n).toBe(-10);
        expect(rawDecodePairs(codec, hex('01 ffffffff 41 42 43 44'), limits).n).toBe(-10);
        expect(rawDecodePairs(codec, hex('01 fffffffa 41 42 43 44'), limits).n).toBe(-10);
        // 0x7fffffff for both is refused too, never read.
        expect(rawDecodePairs(codec, both, limits).n).toBeLessThan(0);
      }
    });

    test('lengths whose 32-bit sum wraps (0x80000000 + 0x7ffffff9 + 7 bytes) are not taken as fitting', () => {
      const limits = [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff] as const;
      // name 7 + value 0xfffffff9 would wrap a 32-bit "pos + name + value" back into the buffer.
      const body = Buffer.concat([hex('07 fffffff9'), Buffer.from('ABCDEFG'), Buffer.alloc(16)]);
      expect(rawDecodePairs(codec, body, limits).n).toBe(-10);
      // At an offset near the end of a larger buffer too.
      const big = Buffer.concat([Buffer.alloc(70000), body]);
      expect(rawDecodePairs(codec, big, limits, 70000, big.length).n).toBe(-10);
    });

    test('through a PARAMS stream and decodeParams with size limits at 2^31-1: a CgiwireError, no crash', () => {
      const bytes = Buffer.concat([encodeBeginRequest(1, 1, 0), record(T.PARAMS, 1, hex('01 ffffffff 41 42 43')), record(T.PARAMS, 1)]);
      const r = readAll(codec, whole(bytes));
      const body = streamBytes(r.requests[0], T.PARAMS)!;
      const raised: ParamsLimits = { maxParamsBytes: MAX_U31, maxParams: 512, maxParamNameLength: MAX_U31, maxParamValueLength: MAX_U31 };
      let err: unknown;
      try { codec.decodeParams(body, 0, body.length, raised); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(CgiwireError);
      expect((err as CgiwireError).code).toBe('ERR_FASTCGI_PAIRS_TRUNCATED');
    });
  });

  describe('HAProxy 2026: contentLength 65535 + padding 255 overflowed a 16-bit accumulator', () => {
    // A 16-bit accumulator takes 8 + ((65535 + 255) mod 65536) = 262 bytes for this record; a record header planted
    // there (content offset 254) would then be read as a BEGIN_REQUEST from inside the content.
    const content = Buffer.alloc(65535, 0x2e);
    encodeBeginRequest(0x6666, 1, 0).copy(content, 254);
    const bytes = Buffer.concat([
      encodeBeginRequest(1, 1, 0),
      record(T.STDIN, 1, content, 255, { padByte: 0x01 }),
      encodeEndRequest(1, 0, 0),
      record(T.STDIN, 1),
    ]);
    const expected = expectedResult(bytes);

    test('the record after it is found after its 255 padding bytes, never inside its content', () => {
      expect(expected.events).toEqual(['1:1:r', '5:1:d', '3:1:r', '5:1:e']);
      const r = readAll(codec, whole(bytes));
      expect(diffResults(r, expected)).toBeNull();
      expect(r.events.filter((e) => e.startsWith('1:'))).toEqual(['1:1:r']);
      expect(streamBytes(r.requests[0], T.STDIN)!.equals(content)).toBe(true);
    });

    test('the same at every cut near the header, the content end, the padding and the next record', () => {
      const at = [...Array(24).keys()].map((i) => 16 + i - 4);
      const end = 16 + 8 + 65535;
      for (let i = -12; i <= 12; i++) at.push(end + i, end + 255 + i, end + 255 + 16 + i);
      const cuts = at.filter((c) => c >= 0 && c <= bytes.length).sort((a, b) => a - b);
      for (const cut of cuts) expect([cut, diffResults(readAll(codec, splitAt(bytes, cut)), expected)]).toEqual([cut, null]);
      expect(diffResults(readAll(codec, cutAt(bytes, cuts)), expected)).toBeNull();
      expect(diffResults(readAll(codec, byteByByte(bytes)), expected)).toBeNull();
    });
  });

  describe('HAProxy tune.bufsize > 65536: a 65536-byte STDIN record whose 16-bit length wrapped to 0 (request smuggling)', () => {
    // The receiver sees an empty STDIN (end of body) and then the 65536 body bytes where the next header should be.
    // The body chosen here is the fixtures' xorshift32 body, which begins with a5: not version 1, so the stream
    // must fail with ERR_FASTCGI_BAD_VERSION at its first byte. (A body that began with a well-formed header would be
    // framed as records: the codec cannot tell, see the last test.)
    const body = xorshiftBody(65536);
    const bytes = Buffer.concat([
      encodeBeginRequest(1, 1, 1),
      encodeParams(1, [['REQUEST_METHOD', 'POST'], ['CONTENT_LENGTH', '65536']]),
      hex('01 05 0001 0000 00 00'), // STDIN, contentLength 65536 & 0xffff = 0
      body,
      record(T.STDIN, 1),
    ]);

    test.each([
      ['whole', (b: Buffer) => whole(b), false],
      ['one byte at a time', (b: Buffer) => byteByByte(b), true],
      ['split where the body starts', (b: Buffer) => splitAt(b, b.length - body.length - 8), true],
      ['split inside the body', (b: Buffer) => splitAt(b, b.length - 30000), false],
    ])('%s: STDIN ends early, then push returns ERR_FASTCGI_BAD_VERSION; no record is read from body bytes', (_, chunks, bodyInOwnChunk) => {
      expect(body[0]).not.toBe(1);
      const r = readAll(codec, chunks(bytes));
      expect(r.error).toBe('ERR_FASTCGI_BAD_VERSION');
      // Only records from before the body, if any (whether those in the failing chunk are delivered is pinned in
      // records.test.ts); nothing from the body.
      const legit = ['1:1:r', '4:1:d', '4:1:e', '5:1:e'];
      expect(r.events).toEqual(legit.slice(0, r.events.length));
      expect(r.requests.length).toBeLessThanOrEqual(1);
      // When the body starts a chunk of its own, everything before it has been delivered.
      if (bodyInOwnChunk) expect(r.events).toEqual(legit);
    });

    test('a smuggled body that begins with a well-formed header is framed as records (the codec cannot tell; the protocol layer must refuse a second BEGIN_REQUEST for an active id)', () => {
      const smuggled = Buffer.concat([encodeBeginRequest(1, 1, 0), record(T.PARAMS, 1)]);
      const evil = Buffer.concat([bytes.subarray(0, bytes.length - body.length - 8), smuggled]);
      const r = readAll(codec, whole(evil));
      expect(r.error).toBeNull();
      expect(r.events).toEqual(['1:1:r', '4:1:d', '4:1:e', '5:1:e', '1:1:r', '4:1:e']);
    });
  });

  describe('fastcgi-stream (npm): an unknown type byte threw inside the socket handler and killed the process', () => {
    test.each([0, 12, 255])('type %i is delivered whole, as a management record and with a request id, and push does not throw', (type) => {
      const bytes = Buffer.concat([record(type, 0, 'mgmt', 4), record(type, 1, 'app'), encodeEndRequest(1, 0, 0)]);
      for (const chunks of [whole(bytes), byteByByte(bytes)]) {
        let r: ReturnType<typeof readAll> | undefined;
        expect(() => { r = readAll(codec, chunks); }).not.toThrow();
        expect(r!.error).toBeNull();
        expect(r!.events).toEqual([`${type}:0:r`, `${type}:1:r`, '3:1:r']);
        expect(r!.requests[0].records).toEqual([[type, Buffer.from('mgmt')]]);
        expect(r!.requests[1].records[0]).toEqual([type, Buffer.from('app')]);
      }
    });
  });

  describe('SCGI netstring lengths', () => {
    test('a leading zero ("01:...") gives ERR_SCGI_BAD_NETSTRING', () => {
      expect(readScgi(codec, whole(Buffer.from('01:a,'))).error).toBe('ERR_SCGI_BAD_NETSTRING');
      expect(readScgi(codec, byteByByte(Buffer.from('01:a,'))).error).toBe('ERR_SCGI_BAD_NETSTRING');
      expect(readScgi(codec, whole(Buffer.from('007:abcdefg,'))).error).toBe('ERR_SCGI_BAD_NETSTRING');
    });

    test('an overflowing length ("99999999999999999999:") gives ERR_SCGI_HEADER_TOO_LARGE, at the default and the largest limit', () => {
      const text = Buffer.from('99999999999999999999:');
      for (const max of [undefined, 131072, 0x7fffffff]) {
        expect(readScgi(codec, whole(text), max).error).toBe('ERR_SCGI_HEADER_TOO_LARGE');
        expect(readScgi(codec, byteByByte(text), max).error).toBe('ERR_SCGI_HEADER_TOO_LARGE');
      }
      // 2^32 + 5 would wrap a 32-bit accumulator to 5.
      expect(readScgi(codec, whole(Buffer.from('4294967301:hello,')), 0x7fffffff).error).toBe('ERR_SCGI_HEADER_TOO_LARGE');
    });

    test('SCGI CONTENT_LENGTH of 16 digits or more is refused, not rounded', () => {
      const h = (cl: string) => Buffer.from(`CONTENT_LENGTH\0${cl}\0SCGI\x001\0`, 'latin1');
      expect(thrownCode(() => codec.decodeScgiHeader(h('9007199254740993')))).toBe('ERR_SCGI_BAD_CONTENT_LENGTH');
      expect(thrownCode(() => codec.decodeScgiHeader(h('18446744073709551617')))).toBe('ERR_SCGI_BAD_CONTENT_LENGTH');
      expect(codec.decodeScgiHeader(h('999999999999999')).contentLength).toBe(999999999999999);
    });
  });
});
