/**
 * FastCGI and SCGI encoders. Stream payloads are framed, not copied: each record is an 8-byte header, a
 * view of the payload and a padding slice of one shared zero buffer, ready for a corked write. Payloads
 * below COALESCE_BELOW are copied into one buffer with their headers instead, which measures faster
 * (bench/RESULTS.md). Records carry at most 65528 bytes, a multiple of 8, so only the last needs padding.
 */
import type { CodecCore } from './core.js';
import { outOfRange } from '../errors.js';
import { RecordType } from './records.js';
import { writeHeader } from './js.js';

export const MAX_RECORD_CONTENT = 65535;
/** Stream records are cut at this size: the largest multiple of 8 that fits in a record. */
export const MAX_STREAM_RECORD = 65528;
/**
 * Below this many payload bytes a stream is written as one coalesced buffer: copying costs less than the
 * views up to about 1.3-1.6 KiB here (bench/RESULTS.md, "Crossovers").
 */
export const COALESCE_BELOW = 1536;

const ZERO = Buffer.alloc(8);
const PADDING: readonly Buffer[] = Array.from({ length: 8 }, (_, i) => ZERO.subarray(0, i));
const paddingFor = (n: number): number => (8 - (n & 7)) & 7;

function rangeError(what: string, value: unknown, max: number): RangeError {
  return outOfRange(`${what} must be an integer from 0 to ${max}; got ${String(value)}`);
}

function checkInt(what: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) throw rangeError(what, value, max);
}

/**
 * Frames `payload` as records of stream `type` for `requestId`; `close` appends the empty record that ends
 * the stream. Returns the pieces to write in order; large payloads appear in them as views, not copies.
 */
export function encodeStream(core: CodecCore, type: number, requestId: number, payload: Buffer,
  close: boolean): Buffer[] {
  checkInt('type', type, 255);
  checkInt('requestId', requestId, 65535);
  const length = payload.length;
  if (length < COALESCE_BELOW) {
    const pad = length === 0 ? 0 : paddingFor(length);
    const head = length === 0 ? 0 : 8;
    const out = Buffer.allocUnsafe(head + length + pad + (close ? 8 : 0));
    let at = 0;
    if (length !== 0) {
      writeHeader(out, 0, type, requestId, length, pad);
      payload.copy(out, 8);
      at = zeros(out, 8 + length, pad);
    }
    if (close) writeHeader(out, at, type, requestId, 0, 0);
    return [out];
  }
  // Three header shapes at most: the full record's (the same bytes for every full record, so one view serves
  // them all: a Buffer view costs about 100 ns here and 1 MiB has 16 full records), the last part's, the end.
  const fullRecords = Math.floor(length / MAX_STREAM_RECORD);
  const part = length - fullRecords * MAX_STREAM_RECORD;
  const pad = paddingFor(part);
  const headers = Buffer.allocUnsafe(24);
  const pieces: Buffer[] = [];
  if (fullRecords > 0) {
    writeHeader(headers, 0, type, requestId, MAX_STREAM_RECORD, 0);
    const fullHeader = headers.subarray(0, 8);
    for (let r = 0, at = 0; r < fullRecords; r++, at += MAX_STREAM_RECORD) {
      pieces.push(fullHeader, payload.subarray(at, at + MAX_STREAM_RECORD));
    }
  }
  if (part > 0) {
    writeHeader(headers, 8, type, requestId, part, pad);
    pieces.push(headers.subarray(8, 16), fullRecords === 0 ? payload : payload.subarray(length - part));
    if (pad !== 0) pieces.push(PADDING[pad]);
  }
  if (close) {
    writeHeader(headers, 16, type, requestId, 0, 0);
    pieces.push(headers.subarray(16, 24));
  }
  return pieces;
}

const EMPTY = Buffer.alloc(0);

/**
 * One stream record holding `head` (latin1) then `body` (in `encoding`), encoded straight into the record:
 * what a response's first write is (the header block and a string body). Null when they do not fit in one
 * record; the caller then encodes them as buffers. An empty buffer when they hold no bytes.
 */
export function encodeTextRecord(type: number, requestId: number, head: string, body: string,
  encoding: BufferEncoding): Buffer | null {
  const headLength = head.length;
  const bodyLength = body.length === 0 ? 0 : Buffer.byteLength(body, encoding);
  const total = headLength + bodyLength;
  if (total > MAX_STREAM_RECORD) return null;
  // Nothing to send ('==' in base64 is no bytes): an empty record would end the stream (FastCGI 1.0, 3.3).
  if (total === 0) return EMPTY;
  const pad = paddingFor(total);
  const out = Buffer.allocUnsafe(8 + total + pad);
  writeHeader(out, 0, type, requestId, total, pad);
  if (headLength !== 0) out.write(head, 8, headLength, 'latin1');
  if (bodyLength !== 0) out.write(body, 8 + headLength, bodyLength, encoding);
  zeros(out, 8 + total, pad);
  return out;
}

/** The empty record that ends stream `type` of `requestId` (FastCGI 1.0, 3.3). */
export function encodeStreamEnd(type: number, requestId: number): Buffer {
  checkInt('type', type, 255);
  checkInt('requestId', requestId, 65535);
  const out = Buffer.allocUnsafe(8);
  writeHeader(out, 0, type, requestId, 0, 0);
  return out;
}

/** BEGIN_REQUEST (FastCGI 1.0, 5.1): role 1 RESPONDER, 2 AUTHORIZER, 3 FILTER; flags bit 0 KEEP_CONN. */
export function encodeBeginRequest(requestId: number, role: number, flags: number): Buffer {
  checkInt('requestId', requestId, 65535);
  checkInt('role', role, 65535);
  checkInt('flags', flags, 255);
  const out = Buffer.allocUnsafe(16);
  writeBeginRequest(out, requestId, role, flags);
  return out;
}

/** END_REQUEST (FastCGI 1.0, 5.5): protocolStatus 0 REQUEST_COMPLETE, 1 CANT_MPX_CONN, 2 OVERLOADED, 3 UNKNOWN_ROLE. */
export function encodeEndRequest(requestId: number, appStatus: number, protocolStatus: number): Buffer {
  checkInt('requestId', requestId, 65535);
  checkInt('appStatus', appStatus, 0xffffffff);
  checkInt('protocolStatus', protocolStatus, 255);
  const out = Buffer.allocUnsafe(16);
  writeEndRequest(out, 0, requestId, appStatus, protocolStatus);
  return out;
}

function writeEndRequest(out: Buffer, at: number, requestId: number, appStatus: number, protocolStatus: number): void {
  writeHeader(out, at, RecordType.END_REQUEST, requestId, 8, 0);
  out.writeUInt32BE(appStatus, at + 8);
  out[at + 12] = protocolStatus;
  out[at + 13] = out[at + 14] = out[at + 15] = 0;
}

/**
 * The end of a response in one buffer: the empty STDOUT record, the empty STDERR record when STDERR was
 * used, and END_REQUEST (FastCGI 1.0, 5.3 and 5.5): what a server writes when a request is complete.
 */
export function encodeResponseEnd(requestId: number, appStatus: number, protocolStatus: number,
  stderr: boolean): Buffer {
  checkInt('requestId', requestId, 65535);
  checkInt('appStatus', appStatus, 0xffffffff);
  checkInt('protocolStatus', protocolStatus, 255);
  const out = Buffer.allocUnsafe(stderr ? 32 : 24);
  writeHeader(out, 0, RecordType.STDOUT, requestId, 0, 0);
  let at = 8;
  if (stderr) {
    writeHeader(out, 8, RecordType.STDERR, requestId, 0, 0);
    at = 16;
  }
  writeEndRequest(out, at, requestId, appStatus, protocolStatus);
  return out;
}

/** ABORT_REQUEST (FastCGI 1.0, 5.4): a header with no content. */
export function encodeAbortRequest(requestId: number): Buffer {
  checkInt('requestId', requestId, 65535);
  const out = Buffer.alloc(8);
  writeHeader(out, 0, RecordType.ABORT_REQUEST, requestId, 0, 0);
  return out;
}

/** UNKNOWN_TYPE (FastCGI 1.0, 4.2): the answer to a management record of a type not understood. */
export function encodeUnknownType(type: number): Buffer {
  checkInt('type', type, 255);
  const out = Buffer.alloc(16);
  writeHeader(out, 0, RecordType.UNKNOWN_TYPE, 0, 8, 0);
  out[8] = type;
  return out;
}

/** A name or value: bytes, or a string encoded with the encoder's encoding. */
export type PairPart = string | Uint8Array;

function lengthSize(n: number): number {
  return n < 128 ? 1 : 4;
}

function writeLength(out: Buffer, at: number, n: number): number {
  if (n < 128) {
    out[at] = n;
    return at + 1;
  }
  out.writeUInt32BE((n | 0x80000000) >>> 0, at);
  return at + 4;
}

/**
 * Name-value pairs as one encoded stream body (no record framing): 1-byte lengths below 128, else 4 bytes
 * with the high bit set (FastCGI 1.0, 3.4).
 */
export function encodePairBody(pairs: Iterable<readonly [PairPart, PairPart]>, encoding: BufferEncoding = 'utf8'): Buffer {
  const parts: Buffer[] = [];
  let total = 0;
  for (const [name, value] of pairs) {
    const n = typeof name === 'string' ? Buffer.from(name, encoding) : Buffer.from(name.buffer, name.byteOffset, name.byteLength);
    const v = typeof value === 'string' ? Buffer.from(value, encoding) : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    if (n.length > 0x7fffffff || v.length > 0x7fffffff) throw rangeError('pair length', Math.max(n.length, v.length), 0x7fffffff);
    parts.push(n, v);
    total += lengthSize(n.length) + lengthSize(v.length) + n.length + v.length;
  }
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (let i = 0; i < parts.length; i += 2) {
    at = writeLength(out, at, parts[i].length);
    at = writeLength(out, at, parts[i + 1].length);
    at += parts[i].copy(out, at);
    at += parts[i + 1].copy(out, at);
  }
  return out;
}

/**
 * A stream of pairs (PARAMS) as records. A pair is never split across two records when it fits in one
 * (PHP-FPM, among others, rejects split pairs); only a pair larger than a record is cut, because it must be.
 * `close` appends the empty PARAMS record.
 */
export function encodeParams(requestId: number, pairs: Iterable<readonly [PairPart, PairPart]>, close = true,
  encoding: BufferEncoding = 'utf8'): Buffer {
  return paramsWithRoom(requestId, pairs, close, encoding, 0, 0);
}

/**
 * What a client sends first for a request, in one buffer: BEGIN_REQUEST (role, flags), the PARAMS records
 * with their end, and, for a request without a body (`noBody`), the empty STDIN record (FastCGI 1.0, 5.1-5.3).
 */
export function encodeRequestStart(requestId: number, role: number, flags: number,
  pairs: Iterable<readonly [PairPart, PairPart]>, encoding: BufferEncoding, noBody: boolean): Buffer {
  checkInt('role', role, 65535);
  checkInt('flags', flags, 255);
  const out = paramsWithRoom(requestId, pairs, true, encoding, 16, noBody ? 8 : 0);
  writeBeginRequest(out, requestId, role, flags);
  if (noBody) writeHeader(out, out.length - 8, RecordType.STDIN, requestId, 0, 0);
  return out;
}

function writeBeginRequest(out: Buffer, requestId: number, role: number, flags: number): void {
  writeHeader(out, 0, RecordType.BEGIN_REQUEST, requestId, 8, 0);
  out[8] = role >>> 8;
  out[9] = role & 0xff;
  out[10] = flags;
  out[11] = out[12] = out[13] = out[14] = out[15] = 0;
}

/** encodeParams with `before` bytes left free in front of the records and `after` bytes behind them. */
function paramsWithRoom(requestId: number, pairs: Iterable<readonly [PairPart, PairPart]>, close: boolean,
  encoding: BufferEncoding, before: number, after: number): Buffer {
  checkInt('requestId', requestId, 65535);
  const list = pairList(pairs);
  // One pass sizes the body and, while every part is a string whose bytes are its char codes (latin1, or
  // ASCII in UTF-8) and it fits in one record, makes it as latin1 text, length prefixes included: then it
  // goes in with one write (a client sends this once per request; no Buffer per name and value).
  let text: string | null = encoding === 'latin1' || encoding === 'utf8' ? '' : null;
  let total = 0;
  for (let i = 0; i < list.length; i++) {
    const name = list[i][0], value = list[i][1];
    const n = partLength(name, encoding), v = partLength(value, encoding);
    if (n > 0x7fffffff || v > 0x7fffffff) throw rangeError('pair length', Math.max(n, v), 0x7fffffff);
    total += lengthSize(n) + lengthSize(v) + n + v;
    if (text === null) continue;
    if (total > MAX_STREAM_RECORD || typeof name !== 'string' || typeof value !== 'string' || n !== name.length
      || v !== value.length) text = null;
    else text += lengthChars(n) + lengthChars(v) + name + value;
  }
  if (total > MAX_STREAM_RECORD) return paramsInRecords(requestId, list, close, encoding, before, after);
  const pad = paddingFor(total);
  const out = Buffer.allocUnsafe(before + (total > 0 ? 8 + total + pad : 0) + (close ? 8 : 0) + after);
  let at = before;
  if (total > 0) {
    writeHeader(out, at, RecordType.PARAMS, requestId, total, pad);
    at += 8;
    if (text !== null) {
      out.write(text, at, total, 'latin1');
      at += total;
    } else {
      for (let i = 0; i < list.length; i++) {
        const name = list[i][0], value = list[i][1];
        const n = partLength(name, encoding), v = partLength(value, encoding);
        at = writeLength(out, at, n);
        at = writeLength(out, at, v);
        at = writePart(out, at, name, n, encoding);
        at = writePart(out, at, value, v, encoding);
      }
    }
    at = zeros(out, at, pad);
  }
  if (close) writeHeader(out, at, RecordType.PARAMS, requestId, 0, 0);
  return out;
}

/** Pairs as an array of arrays: the usual array is read as it is; other iterables are spread once. */
function pairList(pairs: Iterable<readonly [PairPart, PairPart]>): readonly (readonly [PairPart, PairPart])[] {
  const list = Array.isArray(pairs) ? pairs as readonly (readonly [PairPart, PairPart])[] : [...pairs];
  for (let i = 0; i < list.length; i++) {
    if (!Array.isArray(list[i])) return list.map((p) => (Array.isArray(p) ? p : [...p] as unknown as readonly [PairPart, PairPart]));
  }
  return list;
}

/** Bytes a name or value takes in `encoding` (latin1: one per char). */
function partLength(part: PairPart, encoding: BufferEncoding): number {
  if (typeof part !== 'string') return part.byteLength;
  return encoding === 'latin1' ? part.length : Buffer.byteLength(part, encoding);
}

/** Writes `n` (at most 7) zero bytes of padding at `at`; a loop, not fill(): fill crosses into C++. */
function zeros(out: Buffer, at: number, n: number): number {
  for (let i = 0; i < n; i++) out[at + i] = 0;
  return at + n;
}

/** Pair lengths below 128 as their one latin1 char, made once. */
const SHORT_LENGTH: readonly string[] = Array.from({ length: 128 }, (_, n) => String.fromCharCode(n));

/** A pair length as latin1 chars: one below 128, else four with the high bit set (FastCGI 1.0, 3.4). */
function lengthChars(n: number): string {
  if (n < 128) return SHORT_LENGTH[n];
  return String.fromCharCode(0x80 | (n >>> 24), (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

function writePart(out: Buffer, at: number, part: PairPart, length: number, encoding: BufferEncoding): number {
  if (length === 0) return at;
  if (typeof part === 'string') out.write(part, at, length, encoding);
  else out.set(part, at);
  return at + length;
}

/**
 * Params larger than one record, with room before and after: laid out so that no pair is split unless it is
 * larger than a record.
 */
function paramsInRecords(requestId: number, list: readonly (readonly [PairPart, PairPart])[], close: boolean,
  encoding: BufferEncoding, before: number, after: number): Buffer {
  const encoded = list.map((pair) => encodePairBody([pair], encoding));
  // Lay out records: [start, length] of each record's content within the concatenated pairs.
  const records: [number, number][] = [];
  let recordStart = 0, recordLength = 0, offset = 0;
  for (const pair of encoded) {
    if (recordLength > 0 && recordLength + pair.length > MAX_STREAM_RECORD) {
      records.push([recordStart, recordLength]);
      recordStart = offset;
      recordLength = 0;
    }
    let left = pair.length;
    while (recordLength + left > MAX_STREAM_RECORD) {  // a pair larger than one record
      const take = MAX_STREAM_RECORD - recordLength;
      records.push([recordStart, recordLength + take]);
      left -= take;
      recordStart += recordLength + take;
      recordLength = 0;
    }
    recordLength += left;
    offset += pair.length;
  }
  if (recordLength > 0) records.push([recordStart, recordLength]);
  const body = Buffer.concat(encoded, offset);
  let size = before + (close ? 8 : 0) + after;
  for (const [, len] of records) size += 8 + len + paddingFor(len);
  const out = Buffer.allocUnsafe(size);
  let at = before;
  for (const [start, len] of records) {
    const pad = paddingFor(len);
    writeHeader(out, at, RecordType.PARAMS, requestId, len, pad);
    body.copy(out, at + 8, start, start + len);
    at = zeros(out, at + 8 + len, pad);
  }
  if (close) writeHeader(out, at, RecordType.PARAMS, requestId, 0, 0);
  return out;
}

/** One management record of pairs (GET_VALUES or GET_VALUES_RESULT, FastCGI 1.0, 4.1): it must fit in one record. */
function encodeManagementPairs(type: number, pairs: Iterable<readonly [PairPart, PairPart]>): Buffer {
  const body = encodePairBody(pairs, 'latin1');
  if (body.length > MAX_RECORD_CONTENT) throw rangeError('management record content', body.length, MAX_RECORD_CONTENT);
  const pad = paddingFor(body.length);
  const out = Buffer.alloc(8 + body.length + pad);
  writeHeader(out, 0, type, 0, body.length, pad);
  body.copy(out, 8);
  return out;
}

/** GET_VALUES asking for these variables (values empty). */
export function encodeGetValues(names: Iterable<string>): Buffer {
  return encodeManagementPairs(RecordType.GET_VALUES, [...names].map((n) => [n, ''] as const));
}

/** GET_VALUES_RESULT with these values. */
export function encodeGetValuesResult(values: Iterable<readonly [string, string]>): Buffer {
  return encodeManagementPairs(RecordType.GET_VALUES_RESULT, values);
}

/**
 * The SCGI netstring for a request: CONTENT_LENGTH first, then SCGI=1, then `headers` (a CONTENT_LENGTH or
 * SCGI among them is skipped). Names must be non-empty and, like values, free of NUL bytes; no repeats.
 */
export function encodeScgiHeader(contentLength: number, headers: Iterable<readonly [string, string]>,
  encoding: BufferEncoding = 'latin1'): Buffer {
  if (!Number.isSafeInteger(contentLength) || contentLength < 0) throw rangeError('contentLength', contentLength, Number.MAX_SAFE_INTEGER);
  const seen = new Set<string>(['CONTENT_LENGTH', 'SCGI']);
  const parts: string[] = ['CONTENT_LENGTH', String(contentLength), 'SCGI', '1'];
  for (const [name, value] of headers) {
    if (name === 'CONTENT_LENGTH' || name === 'SCGI') continue;
    if (name.length === 0 || name.includes('\0') || value.includes('\0')) {
      throw new TypeError(`SCGI header ${JSON.stringify(name)} is empty or contains a NUL byte`);
    }
    if (seen.has(name)) throw new TypeError(`SCGI header ${JSON.stringify(name)} is repeated`);
    seen.add(name);
    parts.push(name, value);
  }
  const body = Buffer.from(parts.join('\0') + '\0', encoding);
  return Buffer.concat([Buffer.from(`${body.length}:`, 'latin1'), body, Buffer.from(',', 'latin1')]);
}
