/**
 * The pure-TypeScript twin of native/fastcgi.cc and native/scgi.cc: the same contract (core.ts), the same
 * results, the same error codes. It runs where the addon cannot load, and it is the oracle of the
 * differential tests. Keep every branch in the order of its C++ counterpart.
 */
import {
  type CodecCore, FRAG_FIRST, FRAG_LAST, FRAGMENT_CAPACITY, MAX_NAME_LENGTH, SCRATCH_FRAGMENTS, SCRATCH_LENGTH_HI,
  SCRATCH_COUNT, SCRATCH_LENGTH_LO, SCRATCH_PAIRS, SCRATCH_SHAPE, SCRATCH_SHAPE_ID, SHAPE_CAPACITY, latin1, newScratch,
  pairCapacity,
} from './core.js';
import { KNOWN_NAMES } from './known-names.js';

// Codes of native/codes.h.
const BAD_VERSION = -1;
const PAIRS_TRUNCATED = -10;
const PARAMS_TOO_LARGE = -11;
const PARAMS_TOO_MANY = -12;
const NAME_TOO_LONG = -13;
const VALUE_TOO_LONG = -14;
const SCGI_BAD_NETSTRING = -20;
const SCGI_HEADER_TOO_LARGE = -21;
const SCGI_BAD_HEADER = -22;
const SCGI_NO_CONTENT_LENGTH = -23;
const SCGI_BAD_CONTENT_LENGTH = -24;
const SCGI_NO_SCGI = -25;
const SCGI_DUPLICATE_HEADER = -26;

// Record scanner state words (native/fastcgi.h ScanState).
const PHASE = 0, HEADER_FILL = 1, HEADER_LO = 2, HEADER_HI = 3, CONTENT_LEFT = 4, PADDING_LEFT = 5,
  CONSUMED = 6, ERROR = 7;
const P_HEADER = 0, P_CONTENT = 1, P_PADDING = 2, P_FAILED = 3;
// Netstring state words (native/scgi.h NetstringState).
const NS_PHASE = 0, NS_DECLARED = 1, NS_DIGITS = 2, NS_LEFT = 3, NS_CONSUMED = 4, NS_ERROR = 5;
const NS_LENGTH = 0, NS_HEADER = 1, NS_COMMA = 2, NS_DONE = 3, NS_FAILED = 4;

const SHAPE_SEED = 2166136261;
const MAX_ENCODED_CONTENT = 65528;
const CONTENT_LENGTH_BYTES = [67, 79, 78, 84, 69, 78, 84, 95, 76, 69, 78, 71, 84, 72]; // CONTENT_LENGTH
const MAX_LENGTH_DIGITS = 15;

/** FNV-1a over bytes: for SCGI's repeated-name check. */
function hashBytes(buf: Uint8Array, at: number, len: number): number {
  let h = 2166136261;
  for (let i = 0; i < len; i++) h = Math.imul(h ^ buf[at + i], 16777619) >>> 0;
  return h;
}

/**
 * A cheap hash for known-name lookup: the length and three bytes. Known names share long prefixes (HTTP_,
 * REQUEST_, SERVER_) but rarely their length and last bytes; a collision only costs a comparison.
 */
function nameHash(buf: Uint8Array, at: number, len: number): number {
  return (len * 0x2f + buf[at + len - 1] * 0x3b1 + buf[at + len - 2] * 0x65 + buf[at + (len >> 1)] * 0x1d) >>> 0;
}

function shapeStep(h: number, id: number): number {
  return Math.imul(h ^ id, 16777619) >>> 0;
}

/** Known names by bytes: an open-addressing table (its own hash; the ids are what must match native). */
class NameTable {
  private readonly ids: Uint16Array;
  private readonly offsets: Uint32Array;  // of each slot's name in `pool`
  private readonly lengths: Uint16Array;
  /** Offset and length in `pool` of each id's name (index = id). */
  private readonly idOffsets: Uint32Array;
  private readonly idLengths: Uint16Array;
  private readonly pool: Uint8Array;
  private readonly poolView: DataView;
  private readonly mask: number;
  private readonly longest: number;
  /** At least 4: the comparison reads whole 4-byte words of a name. */
  private readonly shortest: number;

  constructor(list: readonly string[]) {
    let cap = 16;
    while (cap < list.length * 4) cap <<= 1;
    this.ids = new Uint16Array(cap);
    this.offsets = new Uint32Array(cap);
    this.lengths = new Uint16Array(cap);
    this.idOffsets = new Uint32Array(list.length + 1);
    this.idLengths = new Uint16Array(list.length + 1);
    this.pool = new Uint8Array(list.reduce((n, name) => n + name.length, 0));
    this.mask = cap - 1;
    this.poolView = new DataView(this.pool.buffer);
    this.longest = Math.max(4, ...list.map((n) => n.length));
    this.shortest = Math.max(4, Math.min(...list.map((n) => n.length)));
    if (list.some((n) => n.length < 4)) throw new Error('known names must be at least 4 bytes long');
    let used = 0;
    list.forEach((name, index) => {
      const bytes = new Uint8Array(Buffer.from(name, 'latin1'));
      if (this.find(bytes, new DataView(bytes.buffer), 0, 0, bytes.length) !== 0) return;
      let i = nameHash(bytes, 0, bytes.length) & this.mask;
      while (this.ids[i] !== 0) i = (i + 1) & this.mask;
      this.ids[i] = index + 1;
      this.offsets[i] = used;
      this.lengths[i] = bytes.length;
      this.idOffsets[index + 1] = used;
      this.idLengths[index + 1] = bytes.length;
      this.pool.set(bytes, used);
      used += bytes.length;
    });
  }

  /**
   * The id of the name at buf[at, at + len), or 0. `view` is a DataView whose byte `base + at` is buf[at]:
   * names are compared four bytes at a time, from the end (shared prefixes such as HTTP_ and REQUEST_ are
   * common); a byte loop made the lookup most of the twin's pair walk.
   */
  find(buf: Uint8Array, view: DataView, base: number, at: number, len: number): number {
    if (len < this.shortest || len > this.longest) return 0;
    for (let i = nameHash(buf, at, len) & this.mask; ; i = (i + 1) & this.mask) {
      const id = this.ids[i];
      if (id === 0) return 0;
      if (this.lengths[i] === len && this.equal(this.offsets[i], view, base + at, len)) return id;
    }
  }

  /** Whether the name at buf[at, at + len) is known name `id` (as find, without the hash and the probe). */
  is(id: number, view: DataView, base: number, at: number, len: number): boolean {
    return this.idLengths[id] === len && this.equal(this.idOffsets[id], view, base + at, len);
  }

  /** pool[o, o + len) against view[v, v + len), len >= 4. */
  private equal(o: number, view: DataView, v: number, len: number): boolean {
    const pool = this.poolView;
    let k = len - 4;
    while (k > 0 && pool.getUint32(o + k, true) === view.getUint32(v + k, true)) k -= 4;
    return k <= 0 && pool.getUint32(o, true) === view.getUint32(v, true);
  }
}

/** Registered sequences of known-name ids (native ShapeTable's twin); indexes are 1-based. */
class ShapeTable {
  private readonly hashes: number[] = [];
  private readonly sequences: Uint16Array[] = [];
  /** The sequence matched last, and its index: the twin's pair walk checks names against it first. */
  lastIds: Uint16Array | null = null;
  lastIndex = 0;

  register(ids: Uint16Array): number {
    let hash = SHAPE_SEED;
    for (let i = 0; i < ids.length; i++) hash = shapeStep(hash, ids[i]);
    for (let e = 0; e < this.sequences.length; e++) {
      const known = this.sequences[e];
      if (this.hashes[e] !== hash || known.length !== ids.length) continue;
      let i = 0;
      while (i < ids.length && known[i] === ids[i]) i++;
      if (i === ids.length) return e + 1;
    }
    if (this.sequences.length >= SHAPE_CAPACITY) return 0;
    this.hashes.push(hash);
    this.sequences.push(ids.slice());
    return this.sequences.length;
  }

  /** The index of the registered sequence equal to the ids of the n pairs in scratch, or 0. */
  match(s: Uint32Array, n: number, hash: number): number {
    for (let e = 0; e < this.sequences.length; e++) {
      const ids = this.sequences[e];
      if (this.hashes[e] !== hash || ids.length !== n) continue;
      let i = 0;
      while (i < n && ids[i] === s[SCRATCH_PAIRS + 4 * i + 3] >>> 16) i++;
      if (i === n) {
        this.lastIds = ids;
        this.lastIndex = e + 1;
        return e + 1;
      }
    }
    return 0;
  }

  clear(): void {
    this.hashes.length = 0;
    this.sequences.length = 0;
    this.lastIds = null;
    this.lastIndex = 0;
  }
}

/**
 * The record scanner (native ScanRecords' twin), writing at most `capacity` fragments into `out`'s fragment
 * area. Exported for the native core, which scans a chunk's first few records here (see native.ts).
 */
export function scanRecordsInto(out: Uint32Array, chunk: Uint8Array, start: number, state: Int32Array,
  capacity: number): number {
  if (state[PHASE] === P_FAILED) {
    state[CONSUMED] = start;
    return state[ERROR];
  }
  // As native: the state lives in locals while scanning and in `state` between calls.
  let phase = state[PHASE];
  let fill = state[HEADER_FILL];
  let lo = state[HEADER_LO];  // header bytes 0..3, byte i in bits 8i..8i+7
  let hi = state[HEADER_HI];  // header bytes 4..7
  let contentLeft = state[CONTENT_LEFT];
  let paddingLeft = state[PADDING_LEFT];
  const len = chunk.length;
  let pos = start;
  let n = 0;
  let result = 0;
  while (pos < len && n < capacity) {
    if (phase === P_HEADER && fill === 0 && len - pos >= 8 && (chunk[pos] === 1)) {
      // A whole record (header, content, padding) in the chunk: one fragment, one iteration. The same
      // fragment and end state as the general path below (and native) give; only fewer steps.
      const content = chunk[pos + 4] << 8 | chunk[pos + 5];
      const padding = chunk[pos + 6];
      if (len - pos - 8 >= content + padding) {
        lo = chunk[pos] | chunk[pos + 1] << 8 | chunk[pos + 2] << 16 | chunk[pos + 3] << 24;
        hi = content >>> 8 | (content & 0xff) << 8 | padding << 16 | chunk[pos + 7] << 24;
        const f = SCRATCH_FRAGMENTS + 4 * n++;
        out[f] = (chunk[pos + 1] | (FRAG_FIRST | FRAG_LAST) << 8 | chunk[pos + 2] << 24 | chunk[pos + 3] << 16) >>> 0;
        out[f + 1] = pos + 8;
        out[f + 2] = content;
        out[f + 3] = content | padding << 16;
        contentLeft = 0;
        if (n === capacity && padding > 0) {
          // As native, a call that fills the fragment area stops before the padding.
          pos += 8 + content;
          paddingLeft = padding;
          phase = P_PADDING;
        } else {
          pos += 8 + content + padding;
          paddingLeft = 0;
        }
        continue;
      }
    }
    if (phase === P_HEADER) {
      if (fill === 0 && len - pos >= 8) {
        lo = chunk[pos] | chunk[pos + 1] << 8 | chunk[pos + 2] << 16 | chunk[pos + 3] << 24;
        hi = chunk[pos + 4] | chunk[pos + 5] << 8 | chunk[pos + 6] << 16 | chunk[pos + 7] << 24;
        pos += 8;
      } else {
        while (fill < 8 && pos < len) {
          const shift = 8 * (fill & 3);
          if (fill < 4) lo = (lo & ~(0xff << shift)) | (chunk[pos++] << shift);
          else hi = (hi & ~(0xff << shift)) | (chunk[pos++] << shift);
          fill++;
        }
        if (fill < 8) break;
      }
      fill = 0;
      if ((lo & 0xff) !== 1) {
        result = BAD_VERSION;
        break;
      }
      contentLeft = (hi & 0xff) << 8 | (hi >>> 8) & 0xff;
      paddingLeft = (hi >>> 16) & 0xff;
      if (contentLeft === 0) {
        const f = SCRATCH_FRAGMENTS + 4 * n++;
        out[f] = ((lo >>> 8) & 0xff | (FRAG_FIRST | FRAG_LAST) << 8 | ((lo >>> 16) & 0xff) << 24 | (lo >>> 24) << 16) >>> 0;
        out[f + 1] = pos;
        out[f + 2] = 0;
        out[f + 3] = paddingLeft << 16;
        phase = paddingLeft ? P_PADDING : P_HEADER;
      } else {
        phase = P_CONTENT;
      }
    } else if (phase === P_CONTENT) {
      const content = (hi & 0xff) << 8 | (hi >>> 8) & 0xff;
      const take = contentLeft < len - pos ? contentLeft : len - pos;
      const flags = (contentLeft === content ? FRAG_FIRST : 0) | (take === contentLeft ? FRAG_LAST : 0);
      const f = SCRATCH_FRAGMENTS + 4 * n++;
      out[f] = ((lo >>> 8) & 0xff | flags << 8 | ((lo >>> 16) & 0xff) << 24 | (lo >>> 24) << 16) >>> 0;
      out[f + 1] = pos;
      out[f + 2] = take;
      out[f + 3] = content | ((hi >>> 16) & 0xff) << 16;
      pos += take;
      contentLeft -= take;
      if (contentLeft === 0) phase = paddingLeft ? P_PADDING : P_HEADER;
    } else {
      const take = paddingLeft < len - pos ? paddingLeft : len - pos;
      pos += take;
      paddingLeft -= take;
      if (paddingLeft === 0) phase = P_HEADER;
    }
  }
  state[HEADER_FILL] = fill;
  state[HEADER_LO] = lo;
  state[HEADER_HI] = hi;
  state[CONTENT_LEFT] = contentLeft;
  state[PADDING_LEFT] = paddingLeft;
  if (result !== 0) {
    // As native: the fragments before the bad header still count; the error comes when there are none.
    const code = failScan(state, pos, result);
    return n === 0 ? code : n;
  }
  state[PHASE] = phase;
  state[CONSUMED] = pos;
  return n;
}

function failScan(state: Int32Array, pos: number, code: number): number {
  state[PHASE] = P_FAILED;
  state[ERROR] = code;
  state[CONSUMED] = pos;
  return code;
}

class JsCore implements CodecCore {
  readonly name = 'js' as const;
  scratch = newScratch();
  private readonly names = new NameTable(KNOWN_NAMES);
  private readonly shapes = new ShapeTable();
  private viewBuffer: ArrayBufferLike | null = null;
  private view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

  /**
   * A DataView over buf's whole ArrayBuffer (byte buf.byteOffset + i is buf[i]), kept for the next call:
   * requests mostly arrive in slices of the same pooled buffer, and a DataView per call cost about 5% of
   * the pair walk. It keeps the last ArrayBuffer alive until another one is decoded.
   */
  private viewOf(buf: Uint8Array): DataView<ArrayBufferLike> {
    if (buf.buffer !== this.viewBuffer) {
      this.viewBuffer = buf.buffer;
      this.view = new DataView(buf.buffer);
    }
    return this.view;
  }

  registerShape(ids: Uint16Array): number {
    return this.shapes.register(ids);
  }

  shapeGeneration = 0;

  forgetShapes(): void {
    this.shapes.clear();
    this.shapeGeneration++;
  }

  reserve(pairs: number): void {
    if (pairs <= pairCapacity(this.scratch)) return;
    const next = newScratch(pairs);
    next.set(this.scratch.subarray(0, SCRATCH_PAIRS));
    this.scratch = next;
  }

  scanRecords(chunk: Uint8Array, start: number, state: Int32Array): number {
    return scanRecordsInto(this.scratch, chunk, start, state, FRAGMENT_CAPACITY);
  }

  scanNetstring(chunk: Uint8Array, start: number, state: Int32Array, maxHeader: number): number {
    if (state[NS_PHASE] === NS_FAILED) {
      state[NS_CONSUMED] = start;
      return state[NS_ERROR];
    }
    const out = this.scratch;
    const len = chunk.length;
    let pos = start;
    let n = 0;
    while (n < FRAGMENT_CAPACITY) {
      const phase = state[NS_PHASE];
      if (phase === NS_DONE || pos >= len) break;
      if (phase === NS_LENGTH) {
        const b = chunk[pos];
        if (b >= 48 && b <= 57) {
          if (state[NS_DIGITS] > 0 && state[NS_DECLARED] === 0) return this.nsFail(state, pos, SCGI_BAD_NETSTRING);
          const declared = state[NS_DECLARED] * 10 + (b - 48);
          if (declared > maxHeader) return this.nsFail(state, pos, SCGI_HEADER_TOO_LARGE);
          state[NS_DECLARED] = declared;
          state[NS_DIGITS]++;
          pos++;
        } else if (b === 58 && state[NS_DIGITS] > 0) {
          pos++;
          state[NS_LEFT] = state[NS_DECLARED];
          if (state[NS_DECLARED] === 0) {
            const f = SCRATCH_FRAGMENTS + 4 * n++;
            out[f] = (FRAG_FIRST | FRAG_LAST) << 8;
            out[f + 1] = pos;
            out[f + 2] = 0;
            out[f + 3] = 0;
            state[NS_PHASE] = NS_COMMA;
          } else {
            state[NS_PHASE] = NS_HEADER;
          }
        } else {
          return this.nsFail(state, pos, SCGI_BAD_NETSTRING);
        }
      } else if (phase === NS_HEADER) {
        const declared = state[NS_DECLARED];
        const left = state[NS_LEFT];
        const take = Math.min(left, len - pos);
        const f = SCRATCH_FRAGMENTS + 4 * n++;
        out[f] = ((left === declared ? FRAG_FIRST : 0) | (take === left ? FRAG_LAST : 0)) << 8;
        out[f + 1] = pos;
        out[f + 2] = take;
        out[f + 3] = declared;
        pos += take;
        state[NS_LEFT] = left - take;
        if (left === take) state[NS_PHASE] = NS_COMMA;
      } else {
        if (chunk[pos] !== 44) return this.nsFail(state, pos, SCGI_BAD_NETSTRING);
        pos++;
        state[NS_PHASE] = NS_DONE;
      }
    }
    state[NS_CONSUMED] = pos;
    return n;
  }

  private nsFail(state: Int32Array, pos: number, code: number): number {
    state[NS_PHASE] = NS_FAILED;
    state[NS_ERROR] = code;
    state[NS_CONSUMED] = pos;
    return code;
  }

  decodePairs(buf: Uint8Array, begin: number, end: number): number {
    const s = this.scratch;
    if (end - begin > s[0]) return PARAMS_TOO_LARGE;
    const maxPairs = Math.min(s[1], pairCapacity(s));
    const maxName = Math.min(s[2], MAX_NAME_LENGTH);
    const maxValue = s[3];
    let h = SHAPE_SEED;
    const view = this.viewOf(buf);
    const base = buf.byteOffset;
    // Names are checked against the shape matched last (a location sends the same names in the same order)
    // before the hash lookup; onShape stays true while every id so far is the expected one.
    const shapes = this.shapes;
    const expected = shapes.lastIds;
    const expectedCount = expected === null ? 0 : expected.length;
    let onShape = expected !== null;
    let pos = begin;
    let n = 0;
    while (pos < end) {
      if (n >= maxPairs) return PARAMS_TOO_MANY;
      // Length prefixes: 1 byte below 128, else 4 bytes with the high bit set (FastCGI 1.0, 3.4).
      let b = buf[pos];
      let nameLen: number;
      if ((b & 0x80) === 0) { nameLen = b; pos += 1; } else {
        if (end - pos < 4) return PAIRS_TRUNCATED;
        nameLen = (b & 0x7f) * 0x1000000 + (buf[pos + 1] << 16 | buf[pos + 2] << 8 | buf[pos + 3]);
        pos += 4;
      }
      if (pos >= end) return PAIRS_TRUNCATED;
      b = buf[pos];
      let valueLen: number;
      if ((b & 0x80) === 0) { valueLen = b; pos += 1; } else {
        if (end - pos < 4) return PAIRS_TRUNCATED;
        valueLen = (b & 0x7f) * 0x1000000 + (buf[pos + 1] << 16 | buf[pos + 2] << 8 | buf[pos + 3]);
        pos += 4;
      }
      if (nameLen > maxName) return NAME_TOO_LONG;
      if (valueLen > maxValue) return VALUE_TOO_LONG;
      if (nameLen > end - pos) return PAIRS_TRUNCATED;
      if (valueLen > end - pos - nameLen) return PAIRS_TRUNCATED;
      let id: number;
      const want = onShape && n < expectedCount ? expected![n] : -1;
      if (want > 0 && this.names.is(want, view, base, pos, nameLen)) {
        id = want;
      } else {
        id = this.names.find(buf, view, base, pos, nameLen);
        if (id !== want) onShape = false;
      }
      const p = SCRATCH_PAIRS + 4 * n;
      s[p] = pos;
      s[p + 1] = pos + nameLen;
      s[p + 2] = valueLen;
      s[p + 3] = nameLen | id << 16;
      h = shapeStep(h, id);
      pos += nameLen + valueLen;
      n++;
    }
    s[SCRATCH_SHAPE] = h;
    s[SCRATCH_SHAPE_ID] = onShape && n === expectedCount ? shapes.lastIndex : shapes.match(s, n, h);
    return n;
  }

  decodePairsText(buf: Uint8Array, begin: number, end: number): string | number {
    const n = this.decodePairs(buf, begin, end);
    if (n < 0) return n;
    this.scratch[SCRATCH_COUNT] = n;
    return latin1(buf, begin, end);
  }

  decodeScgiHeaders(buf: Uint8Array, begin: number, end: number): number {
    const s = this.scratch;
    if (end - begin > s[0]) return SCGI_HEADER_TOO_LARGE;
    const maxPairs = Math.min(s[1], pairCapacity(s));
    const maxName = Math.min(s[2], MAX_NAME_LENGTH);
    const maxValue = s[3];
    let h = SHAPE_SEED;
    const view = this.viewOf(buf);
    const base = buf.byteOffset;
    let scgiSeen = false;
    let pos = begin;
    let n = 0;
    const seen = new Map<number, number[]>(); // name hash -> pair indexes
    let contentLength = 0;
    while (pos < end) {
      if (n >= maxPairs) return PARAMS_TOO_MANY;
      const nameEnd = buf.indexOf(0, pos);
      if (nameEnd < 0 || nameEnd >= end || nameEnd === pos) return SCGI_BAD_HEADER;
      const nameLen = nameEnd - pos;
      if (nameLen > maxName) return NAME_TOO_LONG;
      const valueAt = nameEnd + 1;
      const valueEnd = valueAt < end ? buf.indexOf(0, valueAt) : -1;
      if (valueEnd < 0 || valueEnd >= end) return SCGI_BAD_HEADER;
      const valueLen = valueEnd - valueAt;
      if (valueLen > maxValue) return VALUE_TOO_LONG;
      if (n === 0) {
        if (nameLen !== CONTENT_LENGTH_BYTES.length) return SCGI_NO_CONTENT_LENGTH;
        for (let i = 0; i < nameLen; i++) if (buf[pos + i] !== CONTENT_LENGTH_BYTES[i]) return SCGI_NO_CONTENT_LENGTH;
        if (valueLen === 0 || valueLen > MAX_LENGTH_DIGITS || (valueLen > 1 && buf[valueAt] === 48)) {
          return SCGI_BAD_CONTENT_LENGTH;
        }
        let v = 0;
        for (let i = 0; i < valueLen; i++) {
          const d = buf[valueAt + i];
          if (d < 48 || d > 57) return SCGI_BAD_CONTENT_LENGTH;
          v = v * 10 + (d - 48);
        }
        contentLength = v;
      }
      if (nameLen === 4 && buf[pos] === 83 && buf[pos + 1] === 67 && buf[pos + 2] === 71 && buf[pos + 3] === 73) {
        if (valueLen !== 1 || buf[valueAt] !== 49) return SCGI_NO_SCGI;
        scgiSeen = true;
      }
      const hash = hashBytes(buf, pos, nameLen);
      const same = seen.get(hash);
      if (same !== undefined) {
        for (const other of same) {
          const o = SCRATCH_PAIRS + 4 * other;
          if ((s[o + 3] & 0xffff) !== nameLen) continue;
          let equal = true;
          for (let i = 0; i < nameLen; i++) if (buf[s[o] + i] !== buf[pos + i]) { equal = false; break; }
          // As native: a repeated HTTP_ name (nginx 1.22's repeated header) is allowed, no other repeat.
          if (equal) {
            if (nameLen > 5 && buf[pos] === 72 && buf[pos + 1] === 84 && buf[pos + 2] === 84 && buf[pos + 3] === 80 &&
              buf[pos + 4] === 95) break;
            return SCGI_DUPLICATE_HEADER;
          }
        }
        same.push(n);
      } else {
        seen.set(hash, [n]);
      }
      const id = this.names.find(buf, view, base, pos, nameLen);
      const p = SCRATCH_PAIRS + 4 * n;
      s[p] = pos;
      s[p + 1] = valueAt;
      s[p + 2] = valueLen;
      s[p + 3] = nameLen | id << 16;
      h = shapeStep(h, id);
      n++;
      pos = valueEnd + 1;
    }
    if (n === 0) return SCGI_NO_CONTENT_LENGTH;
    if (!scgiSeen) return SCGI_NO_SCGI;
    s[SCRATCH_SHAPE] = h;
    s[SCRATCH_SHAPE_ID] = this.shapes.match(s, n, h);
    s[SCRATCH_LENGTH_LO] = contentLength % 0x100000000;
    s[SCRATCH_LENGTH_HI] = Math.floor(contentLength / 0x100000000);
    return n;
  }

  writeStreamHeaders(out: Uint8Array, offset: number, type: number, requestId: number, length: number,
    close: boolean): number {
    return writeStreamHeaders(out, offset, type, requestId, length, close);
  }
}

/** Record headers for a stream payload of `length` bytes (native WriteStreamHeaders' twin). */
export function writeStreamHeaders(out: Uint8Array, offset: number, type: number, requestId: number, length: number,
  close: boolean): number {
  let n = 0;
  while (length > 0) {
    const part = length < MAX_ENCODED_CONTENT ? length : MAX_ENCODED_CONTENT;
    writeHeader(out, offset + 8 * n++, type, requestId, part, (8 - (part & 7)) & 7);
    length -= part;
  }
  if (close) writeHeader(out, offset + 8 * n++, type, requestId, 0, 0);
  return n;
}

/** Writes one 8-byte record header at out[at]. */
export function writeHeader(out: Uint8Array, at: number, type: number, requestId: number, contentLength: number,
  paddingLength: number): void {
  out[at] = 1;
  out[at + 1] = type;
  out[at + 2] = requestId >>> 8;
  out[at + 3] = requestId & 0xff;
  out[at + 4] = contentLength >>> 8;
  out[at + 5] = contentLength & 0xff;
  out[at + 6] = paddingLength;
  out[at + 7] = 0;
}

/** A new TypeScript core. */
export function createJsCore(): CodecCore {
  return new JsCore();
}
