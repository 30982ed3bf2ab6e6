/**
 * FastCGI test tools that do not use the library: a record builder, a whole-buffer reference parser, the
 * collector that turns a RecordReader's callbacks into a comparable result, and chunkings of an input
 * (whole, one byte at a time, split in two). Chunks handed to a reader live in buffers followed by guard
 * bytes (0xEE), so a scanner that read past a chunk's end would see bytes that are not the stream's.
 */
import type { Codec } from '../../lib/index.js';

export const T = {
  BEGIN_REQUEST: 1, ABORT_REQUEST: 2, END_REQUEST: 3, PARAMS: 4, STDIN: 5, STDOUT: 6, STDERR: 7, DATA: 8,
  GET_VALUES: 9, GET_VALUES_RESULT: 10, UNKNOWN_TYPE: 11,
} as const;

export const isStream = (type: number): boolean => type >= 4 && type <= 8;

/** One record's bytes, built by hand: header, content, `padding` bytes of `padByte`. */
export function record(type: number, requestId: number, content: Uint8Array | string = Buffer.alloc(0),
  padding = 0, opts: { version?: number; contentLength?: number; reserved?: number; padByte?: number } = {}): Buffer {
  const body = typeof content === 'string' ? Buffer.from(content, 'latin1') : Buffer.from(content);
  const out = Buffer.alloc(8 + body.length + padding, opts.padByte ?? 0);
  out[0] = opts.version ?? 1;
  out[1] = type;
  out.writeUInt16BE(requestId, 2);
  out.writeUInt16BE(opts.contentLength ?? body.length, 4);
  out[6] = padding;
  out[7] = opts.reserved ?? 0;
  body.copy(out, 8);
  return out;
}

/** A copy of `bytes` in a fresh buffer followed by `guard` bytes of 0xEE; the copy ends where `bytes` ends. */
export function guarded(bytes: Uint8Array, guard = 16): Buffer {
  const ab = new ArrayBuffer(bytes.length + guard);
  const all = new Uint8Array(ab);
  all.set(bytes);
  all.fill(0xee, bytes.length);
  return Buffer.from(ab, 0, bytes.length);
}

// ---- Reference parser --------------------------------------------------------------------------

export interface RefRecord {
  version: number;
  type: number;
  requestId: number;
  content: Buffer;
  padding: number;
  offset: number;
}

/** Every complete record of `buf`, in order; stops at the first header whose version is not 1. */
export function parseRecords(buf: Buffer): { records: RefRecord[]; error: string | null; rest: number } {
  const records: RefRecord[] = [];
  let at = 0;
  while (buf.length - at >= 8) {
    const version = buf[at];
    if (version !== 1) return { records, error: 'ERR_FASTCGI_BAD_VERSION', rest: buf.length - at };
    const length = buf.readUInt16BE(at + 4);
    const padding = buf[at + 6];
    if (buf.length - at < 8 + length + padding) break;
    records.push({
      version, type: buf[at + 1], requestId: buf.readUInt16BE(at + 2),
      content: buf.subarray(at + 8, at + 8 + length), padding, offset: at,
    });
    at += 8 + length + padding;
  }
  return { records, error: null, rest: buf.length - at };
}

// ---- Collector ---------------------------------------------------------------------------------

export interface StreamResult {
  pieces: Buffer[];
  ended: boolean;
  /** Pieces that came after the empty record that ended the stream. */
  afterEnd: number;
}

export interface RequestResult {
  id: number;
  /** BEGIN_REQUEST content, or null for records with no BEGIN_REQUEST before them (responses, management). */
  begin: Buffer | null;
  streams: Map<number, StreamResult>;
  /** Non-stream records other than BEGIN_REQUEST, whole. */
  records: [number, Buffer][];
}

export interface ReadResult {
  /** `type:id:d` (stream data, consecutive pieces of one stream collapsed), `type:id:e` (stream end), `type:id:r`. */
  events: string[];
  /** Request instances in order of appearance: a BEGIN_REQUEST starts a new one for its id. */
  requests: RequestResult[];
  error: string | null;
}

/** The content a RecordReader callback was handed, as a Buffer (see Collector.onRecord). */
export function contentOf(buf: Buffer, offset?: number, length?: number): Buffer {
  if (!Buffer.isBuffer(buf)) throw new Error('the callback was not handed a Buffer');
  if (offset === undefined) return buf;
  if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || offset + length! > buf.length) {
    throw new Error(`bad content position ${offset}+${length} in ${buf.length} bytes`);
  }
  return buf.subarray(offset, offset + length!);
}

export class Collector {
  readonly result: ReadResult = { events: [], requests: [], error: null };
  private readonly current = new Map<number, RequestResult>();
  private lastData = '';

  /**
   * The RecordReader callback. Accepts the content either as a Buffer (`content`) or as a position in a
   * buffer (`buf, offset, length`), so the suite reads the same bytes under either callback signature.
   */
  readonly onRecord = (type: number, requestId: number, buf: Buffer, offset?: number, length?: number): void => {
    const content = contentOf(buf, offset, length);
    const r = this.result;
    let req = this.current.get(requestId);
    if (type === T.BEGIN_REQUEST || req === undefined) {
      req = { id: requestId, begin: null, streams: new Map(), records: [] };
      r.requests.push(req);
      this.current.set(requestId, req);
    }
    const copy = Buffer.from(content);
    if (isStream(type)) {
      let s = req.streams.get(type);
      if (s === undefined) req.streams.set(type, (s = { pieces: [], ended: false, afterEnd: 0 }));
      if (content.length === 0) {
        s.ended = true;
        r.events.push(`${type}:${requestId}:e`);
        this.lastData = '';
      } else {
        if (s.ended) s.afterEnd++;
        s.pieces.push(copy);
        const key = `${type}:${requestId}:d`;
        if (this.lastData !== key) r.events.push(key);
        this.lastData = key;
      }
      return;
    }
    this.lastData = '';
    r.events.push(`${type}:${requestId}:r`);
    if (type === T.BEGIN_REQUEST && req.begin === null) req.begin = copy;
    else req.records.push([type, copy]);
  };
}

/** Feeds `chunks` to a RecordReader of `codec`; stops at the first error. */
export function readAll(codec: Codec, chunks: Iterable<Buffer>): ReadResult {
  const c = new Collector();
  const reader = codec.createRecordReader(c.onRecord);
  for (const chunk of chunks) {
    const err = reader.push(chunk);
    if (err !== null) {
      c.result.error = err.code;
      break;
    }
  }
  return c.result;
}

/** What a correct reader gives for `buf`, from the reference parser (each record delivered whole). */
export function expectedResult(buf: Buffer): ReadResult {
  const { records, error } = parseRecords(buf);
  const c = new Collector();
  for (const rec of records) c.onRecord(rec.type, rec.requestId, rec.content);
  c.result.error = error;
  return c.result;
}

export function streamBytes(req: RequestResult, type: number): Buffer | undefined {
  const s = req.streams.get(type);
  return s === undefined ? undefined : Buffer.concat(s.pieces);
}

/** The first difference between two results, or null. */
export function diffResults(a: ReadResult, b: ReadResult): string | null {
  if (a.error !== b.error) return `error ${a.error} vs ${b.error}`;
  if (a.events.length !== b.events.length || a.events.some((e, i) => e !== b.events[i])) {
    let i = 0;
    while (i < a.events.length && a.events[i] === b.events[i]) i++;
    return `events differ at ${i}: [${a.events.slice(i, i + 3).join(' ')}] vs [${b.events.slice(i, i + 3).join(' ')}]`;
  }
  if (a.requests.length !== b.requests.length) return `${a.requests.length} vs ${b.requests.length} requests`;
  for (let i = 0; i < a.requests.length; i++) {
    const x = a.requests[i], y = b.requests[i];
    if (x.id !== y.id) return `request ${i}: id ${x.id} vs ${y.id}`;
    if ((x.begin === null) !== (y.begin === null) || (x.begin && !x.begin.equals(y.begin!))) return `request ${i}: BEGIN differs`;
    if (x.records.length !== y.records.length) return `request ${i}: ${x.records.length} vs ${y.records.length} records`;
    for (let k = 0; k < x.records.length; k++) {
      if (x.records[k][0] !== y.records[k][0] || !x.records[k][1].equals(y.records[k][1])) return `request ${i}: record ${k} differs`;
    }
    const types = new Set([...x.streams.keys(), ...y.streams.keys()]);
    for (const t of types) {
      const s = x.streams.get(t), u = y.streams.get(t);
      if (s === undefined || u === undefined) return `request ${i}: stream ${t} only on one side`;
      if (s.ended !== u.ended) return `request ${i}: stream ${t} ended ${s.ended} vs ${u.ended}`;
      if (!Buffer.concat(s.pieces).equals(Buffer.concat(u.pieces))) return `request ${i}: stream ${t} bytes differ`;
    }
  }
  return null;
}

// ---- Chunkings ---------------------------------------------------------------------------------

export function* whole(buf: Buffer): Generator<Buffer> {
  yield guarded(buf);
}

/** One byte at a time, each in the same guarded 1-byte buffer (the collector copies what it keeps). */
export function* byteByByte(buf: Buffer): Generator<Buffer> {
  const cell = guarded(Buffer.alloc(1));
  for (let i = 0; i < buf.length; i++) {
    cell[0] = buf[i];
    yield cell;
  }
}

const spares = new WeakMap<Buffer, Buffer>();

/**
 * Two chunks cut at `at`: the first a copy of buf[0, at) followed by guard bytes (in a spare buffer reused
 * between calls for the same `buf`), the second a view of the rest, up to the (guarded) end of `buf`.
 * Callers must be done with the first chunk before the next call.
 */
export function* splitAt(buf: Buffer, at: number): Generator<Buffer> {
  let spare = spares.get(buf);
  if (spare === undefined) spares.set(buf, (spare = Buffer.alloc(buf.length + 16)));
  buf.copy(spare, 0, 0, at);
  spare.fill(0xee, at, at + 16);
  yield spare.subarray(0, at);
  yield buf.subarray(at);
}

/** Chunks cut at the given sorted offsets, each a guarded copy. */
export function* cutAt(buf: Buffer, cuts: readonly number[]): Generator<Buffer> {
  let from = 0;
  for (const c of cuts) {
    if (c <= from || c >= buf.length) continue;
    yield guarded(buf.subarray(from, c));
    from = c;
  }
  yield guarded(buf.subarray(from));
}

/** The offsets a split test tries: all of them for small inputs, else both ends and `samples` in between. */
export function splitOffsets(length: number, rand: (n: number) => number, every = 20480, edge = 2048,
  samples = 300): number[] {
  if (length <= every) return Array.from({ length: length + 1 }, (_, i) => i);
  const set = new Set<number>();
  for (let i = 0; i <= edge; i++) { set.add(i); set.add(length - i); }
  while (set.size < 2 * (edge + 1) + samples) set.add(rand(length + 1));
  return [...set].sort((a, b) => a - b);
}

/** Name-value pair bytes, built by hand: `forceLong` writes even short lengths as 4 bytes. */
export function pairBytes(name: Uint8Array | string, value: Uint8Array | string,
  forceLong: { name?: boolean; value?: boolean } = {}): Buffer {
  const n = typeof name === 'string' ? Buffer.from(name, 'latin1') : Buffer.from(name);
  const v = typeof value === 'string' ? Buffer.from(value, 'latin1') : Buffer.from(value);
  return Buffer.concat([lengthBytes(n.length, forceLong.name), lengthBytes(v.length, forceLong.value), n, v]);
}

export function lengthBytes(n: number, forceLong = false): Buffer {
  if (n < 128 && !forceLong) return Buffer.from([n]);
  const b = Buffer.alloc(4);
  b.writeUInt32BE((n | 0x80000000) >>> 0);
  return b;
}

// ---- Verifier ----------------------------------------------------------------------------------

/**
 * Checks a reader's callbacks against the reference records as they arrive, without copying: each record
 * is delivered in order; a stream record with content as one or more non-empty pieces that together are its
 * content; any other record (an empty stream record included) as one delivery of its whole content.
 */
export class Verifier {
  private i = 0;
  private pos = 0;
  problem: string | null = null;

  constructor(private readonly records: readonly RefRecord[]) {}

  readonly onRecord = (type: number, requestId: number, buf: Buffer, offset?: number, length?: number): void => {
    if (this.problem !== null) return;
    const at = offset ?? 0;
    const len = offset === undefined ? buf.length : length!;
    let rec = this.records[this.i];
    const i = this.i;
    const where = (): string => `record ${i} (type ${this.records[i].type}, id ${this.records[i].requestId}, at ${this.records[i].offset})`;
    if (rec === undefined) { this.problem = `extra delivery type ${type} id ${requestId}`; return; }
    if (rec.type !== type || rec.requestId !== requestId) {
      this.problem = `${where()}: delivered type ${type} id ${requestId}`;
      return;
    }
    if (!isStream(type) || rec.content.length === 0) {
      if (this.pos !== 0 || len !== rec.content.length || buf.compare(rec.content, 0, len, at, at + len) !== 0) {
        this.problem = `${where()}: content differs (${len} bytes delivered)`;
        return;
      }
      this.i++;
      return;
    }
    if (len === 0) { this.problem = `${where()}: an empty piece inside a record with content`; return; }
    let k = 0;
    while (k < len) {
      rec = this.records[this.i];
      if (rec === undefined || rec.type !== type || rec.requestId !== requestId || rec.content.length === 0) {
        this.problem = `${where()}: piece runs past the record`;
        return;
      }
      const take = Math.min(rec.content.length - this.pos, len - k);
      if (buf.compare(rec.content, this.pos, this.pos + take, at + k, at + k + take) !== 0) {
        this.problem = `${where()}: stream bytes differ at ${this.pos}`;
        return;
      }
      k += take;
      this.pos += take;
      if (this.pos === rec.content.length) { this.i++; this.pos = 0; }
    }
  };

  /** Null when every record was delivered and nothing else. */
  finish(error: string | null): string | null {
    if (this.problem !== null) return this.problem;
    if (error !== null) return `push returned ${error}`;
    if (this.i !== this.records.length || this.pos !== 0) return `stopped at record ${this.i} + ${this.pos} of ${this.records.length}`;
    return null;
  }
}

/** Feeds `chunks` to a reader and checks every callback against `records`; null when all is as expected. */
export function verifyRead(codec: Codec, chunks: Iterable<Buffer>, records: readonly RefRecord[]): string | null {
  const v = new Verifier(records);
  const reader = codec.createRecordReader(v.onRecord);
  let error: string | null = null;
  for (const chunk of chunks) {
    const err = reader.push(chunk);
    if (err !== null) { error = err.code; break; }
    if (v.problem !== null) break;
  }
  return v.finish(error);
}
