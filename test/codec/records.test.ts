/**
 * FastCGI record framing (FastCGI 1.0, section 3.3): golden bytes of every encoder, each record type read
 * back through a RecordReader, the largest record, empty stream records, unknown types, bad versions,
 * and reading across chunk boundaries.
 */
import { describe, expect, test } from 'vitest';
import {
  FastCgiProtocolError, RecordType, contentPiece, encodeAbortRequest, encodeBeginRequest, encodeEndRequest, encodeGetValues,
  encodeGetValuesResult, encodePairBody, encodeParams, encodeUnknownType, isStreamType,
} from '../../lib/index.js';
import { CODECS } from '../helpers/codecs.js';
import { fragmentCapacity, pairCapacity } from '../helpers/layout.js';
import {
  T, byteByByte, contentOf, cutAt, diffResults, expectedResult, parseRecords, readAll, record, splitAt, verifyRead, whole,
} from '../helpers/fcgi.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Every delivery of a reader as [type, id, content hex], for inputs small enough to list. */
function deliveries(codec: (typeof CODECS)[number]['codec'], chunks: Iterable<Buffer>) {
  const out: [number, number, string][] = [];
  const reader = codec.createRecordReader((type, id, buf, offset?: number, length?: number) => {
    out.push([type, id, contentOf(buf, offset, length).toString('hex')]);
  });
  let error: string | null = null;
  for (const c of chunks) {
    const e = reader.push(c);
    if (e !== null) { error = e.code; break; }
  }
  return { out, error };
}

test('RecordType names the eleven types of FastCGI 1.0 with their numbers, and isStreamType is true for 4..8 only', () => {
  expect(RecordType).toEqual({
    BEGIN_REQUEST: 1, ABORT_REQUEST: 2, END_REQUEST: 3, PARAMS: 4, STDIN: 5, STDOUT: 6, STDERR: 7, DATA: 8,
    GET_VALUES: 9, GET_VALUES_RESULT: 10, UNKNOWN_TYPE: 11,
  });
  for (let t = 0; t < 256; t++) expect(isStreamType(t)).toBe(t >= 4 && t <= 8);
});

describe.each(CODECS)('$name codec: golden bytes of the record encoders, read back', ({ codec }) => {
  /** The encoder wrote exactly `want`, and this codec's reader reads `want` as the records it holds. */
  const golden = (bytes: Buffer, want: Buffer | string): void => {
    const w = typeof want === 'string' ? hex(want) : want;
    expect(bytes.toString('hex')).toBe(w.toString('hex'));
    const ref = parseRecords(w);
    expect(ref.rest).toBe(0);
    expect(deliveries(codec, whole(w))).toEqual({
      out: ref.records.map((r) => [r.type, r.requestId, r.content.toString('hex')]), error: null,
    });
  };

  test('BEGIN_REQUEST: role u16 BE, flags, 5 reserved zero bytes (FastCGI 1.0, 5.1)', () => {
    golden(encodeBeginRequest(1, 1, 1), '01 01 0001 0008 00 00  0001 01 0000000000');
    golden(encodeBeginRequest(0xfffe, 3, 0), '01 01 fffe 0008 00 00  0003 00 0000000000');
    golden(encodeBeginRequest(0x1234, 0x0102, 0xff), '01 01 1234 0008 00 00  0102 ff 0000000000');
  });

  test('ABORT_REQUEST: a header with no content (5.4)', () => {
    golden(encodeAbortRequest(7), '01 02 0007 0000 00 00');
    golden(encodeAbortRequest(65535), '01 02 ffff 0000 00 00');
  });

  test('END_REQUEST: appStatus u32 BE, protocolStatus, 3 reserved zero bytes (5.5)', () => {
    golden(encodeEndRequest(1, 0, 0), '01 03 0001 0008 00 00  00000000 00 000000');
    golden(encodeEndRequest(0x0102, 0x01020304, 3), '01 03 0102 0008 00 00  01020304 03 000000');
    golden(encodeEndRequest(1, 0xffffffff, 1), '01 03 0001 0008 00 00  ffffffff 01 000000');
  });

  test('PARAMS: pairs padded to 8, then the empty PARAMS record', () => {
    golden(encodeParams(1, [['A', 'b']]), '01 04 0001 0004 04 00  01 01 41 62 00000000  01 04 0001 0000 00 00');
    golden(encodeParams(2, [['AB', 'cdef']], false), '01 04 0002 0008 00 00  02 04 4142 63646566');
    golden(encodeParams(3, []), '01 04 0003 0000 00 00');
  });

  test('STDIN, STDOUT, STDERR, DATA through encodeStream: header, content, padding to 8, empty record', () => {
    for (const type of [T.STDIN, T.STDOUT, T.STDERR, T.DATA]) {
      const t = type.toString(16).padStart(2, '0');
      golden(Buffer.concat(codec.encodeStream(type, 1, Buffer.from('hello'), true)),
        `01 ${t} 0001 0005 03 00  68656c6c6f 000000  01 ${t} 0001 0000 00 00`);
      golden(Buffer.concat(codec.encodeStream(type, 0x0203, Buffer.from('12345678'), false)), `01 ${t} 0203 0008 00 00  3132333435363738`);
      golden(Buffer.concat(codec.encodeStream(type, 9, Buffer.alloc(0), true)), `01 ${t} 0009 0000 00 00`);
    }
  });

  test('GET_VALUES: id 0, names with empty values (4.1)', () => {
    golden(encodeGetValues(['FCGI_MAX_CONNS']), Buffer.concat([hex('01 09 0000 0010 00 00  0e 00'), Buffer.from('FCGI_MAX_CONNS')]));
    golden(encodeGetValues(['FCGI_MAX_REQS', 'FCGI_MPXS_CONNS']), Buffer.concat([
      hex('01 09 0000 0020 00 00  0d 00'), Buffer.from('FCGI_MAX_REQS'), hex('0f 00'), Buffer.from('FCGI_MPXS_CONNS'),
    ]));
  });

  test('GET_VALUES_RESULT: id 0, name-value pairs padded to 8 (4.1)', () => {
    golden(encodeGetValuesResult([['FCGI_MPXS_CONNS', '1']]), Buffer.concat([
      hex('01 0a 0000 0012 06 00  0f 01'), Buffer.from('FCGI_MPXS_CONNS1'), Buffer.alloc(6),
    ]));
  });

  test('UNKNOWN_TYPE: id 0, the type byte, 7 reserved zero bytes (4.2)', () => {
    golden(encodeUnknownType(12), '01 0b 0000 0008 00 00  0c 00000000000000');
    golden(encodeUnknownType(255), '01 0b 0000 0008 00 00  ff 00000000000000');
  });
});

describe.each(CODECS)('$name codec: RecordReader', ({ codec }) => {
  test('every record type 1..11, as the encoders write them, is read back in order with its content', () => {
    const bytes = Buffer.concat([
      encodeGetValues(['FCGI_MPXS_CONNS']),
      encodeBeginRequest(1, 1, 1),
      encodeParams(1, [['REQUEST_METHOD', 'GET']]),
      ...codec.encodeStream(T.STDIN, 1, Buffer.from('in'), true),
      ...codec.encodeStream(T.DATA, 1, Buffer.from('data'), true),
      encodeAbortRequest(1),
      ...codec.encodeStream(T.STDOUT, 1, Buffer.from('out'), true),
      ...codec.encodeStream(T.STDERR, 1, Buffer.from('err'), true),
      encodeEndRequest(1, 7, 0),
      encodeGetValuesResult([['FCGI_MPXS_CONNS', '1']]),
      encodeUnknownType(42),
    ]);
    const expected: [number, number, string][] = [
      [9, 0, '0f00' + Buffer.from('FCGI_MPXS_CONNS').toString('hex')],
      [1, 1, '0001010000000000'],
      [4, 1, '0e03' + Buffer.from('REQUEST_METHODGET').toString('hex')], [4, 1, ''],
      [5, 1, Buffer.from('in').toString('hex')], [5, 1, ''],
      [8, 1, Buffer.from('data').toString('hex')], [8, 1, ''],
      [2, 1, ''],
      [6, 1, Buffer.from('out').toString('hex')], [6, 1, ''],
      [7, 1, Buffer.from('err').toString('hex')], [7, 1, ''],
      [3, 1, '0000000700000000'],
      [10, 0, '0f01' + Buffer.from('FCGI_MPXS_CONNS1').toString('hex')],
      [11, 0, '2a00000000000000'],
    ];
    expect(deliveries(codec, whole(bytes))).toEqual({ out: expected, error: null });
    expect(verifyRead(codec, byteByByte(bytes), parseRecords(bytes).records)).toBeNull();
    for (let at = 0; at <= bytes.length; at++) expect(verifyRead(codec, splitAt(bytes, at), parseRecords(bytes).records)).toBeNull();
  });

  test('a record with contentLength 65535 and paddingLength 255 is read whole and the next record is found after its padding', () => {
    const content = Buffer.alloc(65535);
    for (let i = 0; i < content.length; i++) content[i] = (i * 7 + 3) & 0xff;
    const bytes = Buffer.concat([
      record(T.STDIN, 1, content, 255, { padByte: 0x01 }), // padding of 0x01 bytes would look like headers
      record(T.STDIN, 1),
      encodeEndRequest(1, 0, 0),
    ]);
    expect(bytes.length).toBe(8 + 65535 + 255 + 8 + 16);
    const r = readAll(codec, whole(bytes));
    expect(r.error).toBeNull();
    expect(r.events).toEqual(['5:1:d', '5:1:e', '3:1:r']);
    expect(Buffer.concat(r.requests[0].streams.get(T.STDIN)!.pieces).equals(content)).toBe(true);
    expect(r.requests[0].records).toEqual([[T.END_REQUEST, Buffer.alloc(8)]]);
  });

  test('an empty stream record ends the stream: an empty Buffer is delivered for each stream type', () => {
    for (const type of [T.PARAMS, T.STDIN, T.STDOUT, T.STDERR, T.DATA]) {
      const got: Buffer[] = [];
      const reader = codec.createRecordReader((t, id, buf, offset?: number, length?: number) => {
        expect([t, id]).toEqual([type, 3]);
        got.push(contentOf(buf, offset, length));
      });
      expect(reader.push(Buffer.concat([record(type, 3, 'x', 7), record(type, 3)]))).toBeNull();
      expect(got.map((b) => Buffer.isBuffer(b) && b.toString())).toEqual(['x', '']);
      expect(got[1].length).toBe(0);
    }
  });

  test('an empty stream record with padding still ends the stream, and its padding is skipped', () => {
    const bytes = Buffer.concat([record(T.STDIN, 1, '', 5, { padByte: 1 }), encodeAbortRequest(1)]);
    expect(deliveries(codec, whole(bytes))).toEqual({ out: [[5, 1, ''], [2, 1, '']], error: null });
    expect(deliveries(codec, byteByByte(bytes))).toEqual({ out: [[5, 1, ''], [2, 1, '']], error: null });
  });

  test.each([0, 12, 100, 255])('unknown type byte %i is delivered whole to the callback, not an error (fastcgi-stream threw)', (type) => {
    const content = Buffer.from('0123456789abcdef0123', 'latin1');
    const bytes = Buffer.concat([record(type, 5, content, 4), record(type, 0), encodeAbortRequest(5)]);
    const expected = [[type, 5, content.toString('hex')], [type, 0, ''], [2, 5, '']];
    expect(deliveries(codec, whole(bytes))).toEqual({ out: expected, error: null });
    // Cut anywhere, the unknown record still arrives as one delivery of its whole content.
    expect(deliveries(codec, byteByByte(bytes))).toEqual({ out: expected, error: null });
    for (let at = 0; at <= bytes.length; at++) expect(deliveries(codec, splitAt(bytes, at))).toEqual({ out: expected, error: null });
  });

  test('a non-stream record cut at any offset is delivered once, whole', () => {
    const bytes = Buffer.concat([encodeBeginRequest(1, 1, 1), encodeEndRequest(1, 0xdeadbeef, 2), encodeUnknownType(99)]);
    const expected = deliveries(codec, whole(bytes));
    expect(expected.out.length).toBe(3);
    for (let a = 0; a <= bytes.length; a++) {
      for (let b = a; b <= bytes.length; b += 3) expect(deliveries(codec, cutAt(bytes, [a, b]))).toEqual(expected);
    }
  });

  test.each([0, 2, 0x81, 0xff])('version byte %i gives ERR_FASTCGI_BAD_VERSION, returned by push (not thrown), and the reader stays failed', (version) => {
    const good = Buffer.concat([encodeBeginRequest(1, 1, 0), record(T.PARAMS, 1)]);
    const bad = record(T.STDIN, 1, 'abc', 0, { version });
    const got: number[] = [];
    const reader = codec.createRecordReader((t) => { got.push(t); });
    expect(reader.push(good)).toBeNull();
    expect(got).toEqual([1, 4]);
    const err = reader.push(bad);
    expect(err).toBeInstanceOf(FastCgiProtocolError);
    expect(err!.code).toBe('ERR_FASTCGI_BAD_VERSION');
    // Failed for good: valid bytes afterwards deliver nothing and give the same error.
    expect(reader.push(good)).toBe(err);
    expect(reader.push(Buffer.alloc(0))).toBe(err);
    expect(got).toEqual([1, 4]);
  });

  test('records before a bad header are delivered the same however the bytes are cut, the whole chunk included', () => {
    const bytes = Buffer.concat([encodeBeginRequest(1, 1, 0), record(T.PARAMS, 1, 'ab'), record(T.PARAMS, 1), encodeEndRequest(1, 0, 0),
      record(T.STDIN, 1, 'cd', 0, { version: 2 })]);
    const expected = expectedResult(bytes);
    expect(expected.error).toBe('ERR_FASTCGI_BAD_VERSION');
    expect(expected.events).toEqual(['1:1:r', '4:1:d', '4:1:e', '3:1:r']);
    const failures: string[] = [];
    let failed = 0;
    const check = (how: string, r: ReturnType<typeof readAll>): void => {
      const d = diffResults(r, expected);
      if (d !== null && failed++ < 4) failures.push(`${how}: ${d}`);
    };
    check('whole', readAll(codec, whole(bytes)));
    check('one byte at a time', readAll(codec, byteByByte(bytes)));
    for (let at = 0; at <= bytes.length; at++) check(`split at ${at}`, readAll(codec, splitAt(bytes, at)));
    expect({ failed, failures }).toEqual({ failed: 0, failures: [] });
  });

  test('the reserved header byte is ignored', () => {
    const bytes = Buffer.concat([record(T.STDIN, 1, 'abc', 5, { reserved: 0xff }), record(T.STDIN, 1, '', 0, { reserved: 1 })]);
    expect(deliveries(codec, whole(bytes))).toEqual({ out: [[5, 1, '616263'], [5, 1, '']], error: null });
  });

  test('request ids 0 and 65535 and every type byte keep their values (no sign or width loss)', () => {
    for (const id of [0, 1, 0x7fff, 0x8000, 0xffff]) {
      for (const type of [1, 4, 0x7f, 0x80, 0xff]) {
        expect(deliveries(codec, whole(record(type, id, 'z')))).toEqual({ out: [[type, id, '7a']], error: null });
      }
    }
  });

  test('a chunk holding more records than one core call has room for loses none', () => {
    const n = 3 * fragmentCapacity(codec.core.scratch) + 5;
    const parts: Buffer[] = [];
    for (let i = 0; i < n; i++) parts.push(record(i % 2 ? T.STDIN : T.ABORT_REQUEST, i & 0xffff, i % 3 ? 'q' : ''));
    const bytes = Buffer.concat(parts);
    expect(readAll(codec, whole(bytes))).toEqual(expectedResult(bytes));
    expect(verifyRead(codec, whole(bytes), parseRecords(bytes).records)).toBeNull();
  });

  test('stream content arrives as views of the chunk being pushed (zero-copy), cut where the chunks are cut', () => {
    const content = Buffer.from('abcdefghijklmnopqrstuvwxyz');
    const bytes = record(T.STDOUT, 2, content, 6);
    const chunks = [bytes.subarray(0, 5), bytes.subarray(5, 12), bytes.subarray(12, 20), bytes.subarray(20)];
    let pushing = chunks[0];
    const pieces: string[] = [];
    const reader = codec.createRecordReader((t, id, buf, offset?: number, length?: number) => {
      expect([t, id]).toEqual([T.STDOUT, 2]);
      const c = contentOf(buf, offset, length);
      expect(c.buffer).toBe(pushing.buffer);
      expect(c.byteOffset).toBeGreaterThanOrEqual(pushing.byteOffset);
      expect(c.byteOffset + c.length).toBeLessThanOrEqual(pushing.byteOffset + pushing.length);
      pieces.push(c.toString());
    });
    for (const c of chunks) {
      pushing = c;
      expect(reader.push(c)).toBeNull();
    }
    expect(pieces).toEqual(['abcd', 'efghijkl', 'mnopqrstuvwxyz']);
  });

  test('a callback may push into another reader before returning; both read correctly', () => {
    const inner = Buffer.concat([record(T.STDIN, 9, 'inner'), record(T.STDIN, 9), encodeAbortRequest(9)]);
    const innerGot: string[] = [];
    const innerReader = codec.createRecordReader((t, id, buf, offset?: number, length?: number) => {
      innerGot.push(`${t}:${id}:${contentOf(buf, offset, length)}`);
    });
    const outerGot: string[] = [];
    const outer = codec.createRecordReader((t, id, buf, offset?: number, length?: number) => {
      outerGot.push(`${t}:${id}:${contentOf(buf, offset, length)}`);
      expect(innerReader.push(inner)).toBeNull();
    });
    const outerBytes = Buffer.concat([record(T.PARAMS, 1, 'a'), record(T.PARAMS, 1, 'b'), record(T.PARAMS, 1), record(0x63, 2, 'x')]);
    expect(outer.push(outerBytes)).toBeNull();
    expect(outerGot).toEqual(['4:1:a', '4:1:b', '4:1:', '99:2:x']);
    expect(innerGot).toEqual(Array.from({ length: 4 }, () => ['5:9:inner', '5:9:', '2:9:']).flat());
  });

  test('a callback that grows the scratch (decodeParams with maxParams above its capacity) loses no later record of the same push', () => {
    // Larger than any scratch so far, of either codec (the reader's fragment lists are shared between readers).
    const capacity = Math.max(...CODECS.map((c) => Math.max(pairCapacity(c.codec.core.scratch), fragmentCapacity(c.codec.core.scratch))));
    const params = encodePairBody([['A', 'b']]);
    const n = capacity + 2000;
    const parts = [record(T.PARAMS, 1, params), record(T.PARAMS, 1)];
    for (let i = 0; i < n; i++) parts.push(record(T.STDIN, 1, String.fromCharCode(97 + (i % 26))));
    let stdin = '';
    let delivered = 0;
    const reader = codec.createRecordReader((t, _id, buf, o?: number, l?: number) => {
      const c = contentOf(buf, o, l);
      delivered++;
      // What a server does when PARAMS ends: decode them, here under a maxParams the scratch has no room for yet.
      if (t === T.PARAMS && c.length === 0) {
        const limits = { maxParamsBytes: 100, maxParams: 2 * capacity + 8000, maxParamNameLength: 10, maxParamValueLength: 10 };
        expect(codec.decodeParams(params, 0, params.length, limits).params.get('A')).toBe('b');
      }
      if (t === T.STDIN) stdin += c.toString();
    });
    let result: unknown;
    try { result = reader.push(Buffer.concat(parts)); } catch (err) { result = err; }
    expect(result).toBeNull();
    expect(delivered).toBe(n + 2);
    expect(stdin).toBe(Array.from({ length: n }, (_, i) => String.fromCharCode(97 + (i % 26))).join(''));
  });

  test('an empty chunk delivers nothing and keeps the state of a partial header', () => {
    const bytes = record(T.STDIN, 1, 'hi');
    const d = deliveries(codec, [bytes.subarray(0, 3), Buffer.alloc(0), bytes.subarray(3, 8), Buffer.alloc(0), bytes.subarray(8)]);
    expect(d).toEqual({ out: [[5, 1, '6869']], error: null });
  });

  test('readers are independent: each keeps its own partial state', () => {
    const a = Buffer.concat([record(T.STDIN, 1, 'first'), record(T.STDIN, 1)]);
    const b = Buffer.concat([record(T.STDOUT, 2, 'second'), record(T.STDOUT, 2)]);
    const ca: string[] = [], cb: string[] = [];
    const readerA = codec.createRecordReader((t, _id, buf, o?: number, l?: number) => { ca.push(`${t}:${contentOf(buf, o, l)}`); });
    const readerB = codec.createRecordReader((t, _id, buf, o?: number, l?: number) => { cb.push(`${t}:${contentOf(buf, o, l)}`); });
    // Pushes of the two readers interleaved byte by byte.
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (i < a.length) expect(readerA.push(a.subarray(i, i + 1))).toBeNull();
      if (i < b.length) expect(readerB.push(b.subarray(i, i + 1))).toBeNull();
    }
    expect(ca).toEqual(['5:f', '5:i', '5:r', '5:s', '5:t', '5:']);
    expect(cb).toEqual(['6:s', '6:e', '6:c', '6:o', '6:n', '6:d', '6:']);
  });
});

describe.each(CODECS)('$name codec: what a chunk carries for one request, and when its pieces stay views', ({ codec }) => {
  /** Reads `chunks` (each copied into a buffer of its own) and returns every piece as contentPiece hands it on. */
  function piecesOf(chunks: Buffer[]): { pieces: Buffer[]; chunks: Buffer[] } {
    const pieces: Buffer[] = [];
    const reader = codec.createRecordReader((_type, _id, buf, offset, length) => {
      if (length > 0) pieces.push(contentPiece(buf, offset, length, reader.chunkShare));
    });
    const own = chunks.map((c) => Buffer.from(c));
    for (const c of own) expect(reader.push(c)).toBeNull();
    return { pieces, chunks: own };
  }

  test('the end of one STDIN record, a whole one and the start of the next, all of one request: views, though two are small', () => {
    const stream = Buffer.concat([record(T.STDIN, 1, Buffer.alloc(20000, 1)), record(T.STDIN, 1, Buffer.alloc(30000, 2)),
      record(T.STDIN, 1, Buffer.alloc(10000, 3))]);
    const from = 8 + 15000;
    const to = 8 + 20000 + 8 + 30000 + 8 + 2000;
    const { pieces, chunks } = piecesOf([stream.subarray(0, from), stream.subarray(from, to), stream.subarray(to)]);
    expect(pieces.map((p) => p.length)).toEqual([15000, 5000, 30000, 2000, 8000]);
    // Pieces 1-3 are all of the second chunk's content but 24 bytes of headers: each is a view of it.
    for (const p of pieces.slice(1, 4)) expect(p.buffer).toBe(chunks[1].buffer);
  });

  test('a small piece beside another request\'s content, or a small total, is a copy', () => {
    const mixed = Buffer.concat([record(T.STDIN, 1, Buffer.alloc(100, 1)), record(T.STDIN, 2, Buffer.alloc(30000, 2))]);
    const sparse = Buffer.concat(Array.from({ length: 200 }, () => record(T.STDIN, 1, Buffer.alloc(1, 5), 255)));
    const a = piecesOf([mixed]);
    expect(a.pieces[0].buffer).not.toBe(a.chunks[0].buffer);
    expect(a.pieces[1].buffer).toBe(a.chunks[0].buffer);
    const b = piecesOf([sparse]);
    expect(b.pieces).toHaveLength(200);
    for (const p of b.pieces) expect(p.buffer).not.toBe(b.chunks[0].buffer);
  });

  test('PARAMS are not counted: a small params piece beside a large body piece is a copy', () => {
    const chunk = Buffer.concat([record(T.PARAMS, 1, Buffer.alloc(900, 1)), record(T.STDIN, 1, Buffer.alloc(30000, 2))]);
    const pieces: Buffer[] = [];
    const reader = codec.createRecordReader((type, _id, buf, offset, length) => {
      // As the server takes params: without a share.
      pieces.push(type === T.PARAMS ? contentPiece(buf, offset, length) : contentPiece(buf, offset, length, reader.chunkShare));
    });
    const own = Buffer.from(chunk);
    reader.push(own);
    expect(pieces[0].buffer).not.toBe(own.buffer);
    expect(pieces[1].buffer).toBe(own.buffer);
  });
});
