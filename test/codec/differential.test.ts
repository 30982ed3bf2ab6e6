/**
 * Differential testing of the two cores: generated and mutated inputs (seeded; the seed is in each test's name,
 * replay with CGIWIRE_SEED=<seed>) fed to codec.core of the native and the TypeScript codec with the same state
 * arrays and the same limits in scratch words 0..3. Compared: the return value, the scratch entries for the
 * returned count, the state arrays after the call, and for decodes the shape word and the SCGI content length
 * words. Then the higher layers: RecordReader deliveries, decodeParams and decodeScgiHeader results.
 */
import { beforeAll, expect, test } from 'vitest';
import { BUILD_HEAD, BUILD_OBJECT, type Codec } from '../../lib/index.js';
import {
  NETSTRING_STATE_WORDS, RECORD_STATE_WORDS, SCRATCH_LENGTH_HI, SCRATCH_LENGTH_LO, SCRATCH_LIMITS, SCRATCH_SHAPE,
  SCRATCH_SHAPE_ID,
  ST_CONSUMED, NS_CONSUMED, NS_PHASE, NS_DONE,
} from '../../lib/codec/core.js';
import { KNOWN_NAMES } from '../../lib/codec/known-names.js';
import { JS, NATIVE } from '../helpers/codecs.js';
import { contentOf, lengthBytes } from '../helpers/fcgi.js';
import { FRAGMENTS_AT, PAIRS_AT, fragmentCapacity, pairCapacity } from '../helpers/layout.js';
import { Rng, suiteSeed } from '../helpers/prng.js';

const SEED = suiteSeed();
const RECORD_STREAMS = 3500;
const PAIR_BODIES = 3500;
const NETSTRINGS = 2000;
const SCGI_HEADERS = 2000;
const SHAPED_BODIES = 2000;

beforeAll(() => {
  // Both cores must offer the same room for entries, or a full scratch would stop them at different places.
  const n = Math.max(pairCapacity(NATIVE.core.scratch), pairCapacity(JS.core.scratch));
  NATIVE.core.reserve(n);
  JS.core.reserve(n);
  expect(pairCapacity(NATIVE.core.scratch)).toBe(pairCapacity(JS.core.scratch));
  expect(fragmentCapacity(NATIVE.core.scratch)).toBe(fragmentCapacity(JS.core.scratch));
});

const show = (b: Uint8Array): string => {
  const h = Buffer.from(b).toString('hex');
  return h.length > 400 ? `${h.slice(0, 400)}... (${b.length} bytes)` : h;
};

function sameWords(a: ArrayLike<number>, b: ArrayLike<number>, from: number, to: number): number {
  for (let i = from; i < to; i++) if (a[i] !== b[i]) return i;
  return -1;
}

// ---- Mutations ----------------------------------------------------------------------------------

function mutate(rng: Rng, input: Buffer, interesting: readonly number[] = [0, 1, 2, 0x7f, 0x80, 0xff]): Buffer {
  let b = Buffer.from(input);
  const count = rng.int(4);
  for (let k = 0; k < count; k++) {
    const at = rng.int(b.length + 1);
    switch (rng.int(6)) {
      case 0: // bit flip
        if (b.length) b[Math.min(at, b.length - 1)] ^= 1 << rng.int(8);
        break;
      case 1: // truncation
        b = b.subarray(0, at);
        break;
      case 2: // inserted bytes
        b = Buffer.concat([b.subarray(0, at), rng.bytes(rng.range(1, 9)), b.subarray(at)]);
        break;
      case 3: // an interesting byte
        if (b.length) b[Math.min(at, b.length - 1)] = rng.pick(interesting);
        break;
      case 4: // a repeated slice
        b = Buffer.concat([b.subarray(0, at), b.subarray(rng.int(b.length + 1), rng.int(b.length + 1)), b.subarray(at)]);
        break;
      default: // a removed slice
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + rng.range(1, 16)))]);
    }
  }
  return b;
}

/** Cut points for feeding `length` bytes in chunks. */
function cuts(rng: Rng, length: number): number[] {
  if (length <= 64 && rng.chance(0.2)) return Array.from({ length }, (_, i) => i + 1);
  const n = rng.int(6);
  const out = Array.from({ length: n }, () => rng.int(length + 1));
  out.push(length);
  return [...new Set(out)].sort((a, b) => a - b);
}

/** Chunks of `bytes`, each a fresh copy with a random prefix; `start` is where its bytes begin. */
function chunksOf(rng: Rng, bytes: Buffer): { chunk: Buffer; start: number }[] {
  const out: { chunk: Buffer; start: number }[] = [];
  let from = 0;
  for (const to of cuts(rng, bytes.length)) {
    const prefix = rng.chance(0.3) ? rng.range(1, 9) : 0;
    const chunk = Buffer.concat([rng.bytes(prefix), bytes.subarray(from, to)]);
    out.push({ chunk, start: prefix });
    from = to;
  }
  return out;
}

// ---- Generators ---------------------------------------------------------------------------------

function genRecords(rng: Rng): Buffer {
  const parts: Buffer[] = [];
  if (rng.chance(0.02)) {
    // More records in one chunk than the scratch has room for.
    const n = rng.range(1000, 2600);
    // Empty records, or one content byte and 7 of padding: a call that fills the scratch stops before it.
    const record = rng.chance(0.5) ? Buffer.from([1, 5, 0, 1, 0, 0, 0, 0]) : Buffer.from([1, 5, 0, 1, 0, 1, 7, 0, 0x41, 0, 0, 0, 0, 0, 0, 0]);
    for (let i = 0; i < n; i++) parts.push(record);
    return Buffer.concat(parts);
  }
  const n = rng.range(1, 14);
  for (let i = 0; i < n; i++) {
    const type = rng.chance(0.85) ? rng.range(1, 11) : rng.pick([0, 12, 13, 0x7f, 0x80, 0xff]);
    const id = rng.pick([0, 1, 1, 3, 0x7fff, 0x8000, 0xffff, rng.int(65536)]);
    const length = rng.chance(0.03) ? rng.pick([65535, 65528, 65529, 40000]) : rng.length(2000, [0, 0, 1, 7, 8, 9]);
    const padding = rng.chance(0.5) ? (8 - (length % 8)) % 8 : rng.chance(0.5) ? 0 : rng.int(256);
    const h = Buffer.from([1, type, id >> 8, id & 0xff, length >> 8, length & 0xff, padding, rng.chance(0.9) ? 0 : rng.int(256)]);
    parts.push(h, rng.bytes(length), rng.chance(0.8) ? Buffer.alloc(padding) : rng.bytes(padding));
  }
  return Buffer.concat(parts);
}

function genPairBody(rng: Rng): Buffer {
  const parts: Buffer[] = [];
  const many = rng.chance(0.03); // past the default maxParams of 512, with short pairs
  const n = many ? rng.range(500, 700) : rng.int(24);
  const big = rng.chance(0.05) ? rng.int(n) : -1; // one value near the default maxParamValueLength
  for (let i = 0; i < n; i++) {
    let name: Buffer;
    const r = rng.int(10);
    if (r < 5) name = Buffer.from(rng.pick(KNOWN_NAMES), 'latin1');
    else if (r < 6) { const k = Buffer.from(rng.pick(KNOWN_NAMES), 'latin1'); name = Buffer.from(k); name[rng.int(k.length)] ^= 1 << rng.int(8); }
    else name = rng.bytes(many ? rng.int(8) : rng.length(300, [0, 1, 8, 16, 17, 127, 128, 1024, 1025]));
    const value = rng.bytes(i === big ? rng.pick([65535, 65536, 65537, 70000]) : many ? rng.int(8) : rng.length(400, [0, 1, 127, 128]));
    parts.push(lengthBytes(name.length, rng.chance(0.1)), lengthBytes(value.length, rng.chance(0.1)), name, value);
  }
  let body: Buffer = Buffer.concat(parts);
  if (rng.chance(0.6)) body = mutate(rng, body, [0, 0x7f, 0x80, 0xff, 0x81]);
  if (rng.chance(0.05) && body.length >= 4) body.writeUInt32BE(rng.pick([0xffffffff, 0x80000000, 0xfffffffe, 0x80010000]), rng.int(body.length - 3));
  return body;
}

function genLimits(rng: Rng, bodyLength: number): [number, number, number, number] {
  switch (rng.int(5)) {
    case 0: return [131072, 512, 1024, 65536];
    case 1: return [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff];
    case 2: return [0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff];
    case 3: return [rng.range(Math.max(0, bodyLength - 2), bodyLength + 2), rng.int(30), rng.int(300), rng.int(500)];
    default: return [rng.int(1 << 18), rng.int(1000), rng.int(70000), rng.int(80000)];
  }
}

function genScgiHeader(rng: Rng): Buffer {
  const pairs: [Buffer, Buffer][] = [];
  const b = (s: string): Buffer => Buffer.from(s, 'latin1');
  const cl = rng.pick(['0', '1', '102400', '999999999999999', '1234567890123456', '01', '', '4294967296', String(rng.int(1e9)), 'x1']);
  if (rng.chance(0.9)) pairs.push([b('CONTENT_LENGTH'), b(cl)]);
  if (rng.chance(0.9)) pairs.splice(rng.int(pairs.length + 1) || (pairs.length ? 1 : 0), 0, [b('SCGI'), b(rng.chance(0.9) ? '1' : rng.pick(['0', '', '11']))]);
  const n = rng.int(rng.chance(0.05) ? 600 : 20);
  for (let i = 0; i < n; i++) {
    const name = rng.chance(0.5) ? b(rng.pick(KNOWN_NAMES)) : b(`H_${rng.int(50)}_${'x'.repeat(rng.chance(0.05) ? rng.range(250, 1100) : rng.int(20))}`);
    const value = rng.bytes(rng.length(200, [0, 1])).map((x) => (x === 0 ? 0x20 : x));
    pairs.push([name, Buffer.from(value)]);
  }
  const nul = Buffer.from([0]);
  let bytes: Buffer = Buffer.concat(pairs.flatMap(([n, v]) => [n, nul, v, nul]));
  if (rng.chance(0.5)) bytes = mutate(rng, bytes, [0, 0x30, 0x31, 0x3a, 0x2c]);
  return bytes;
}

function genNetstring(rng: Rng): Buffer {
  const header = rng.bytes(rng.length(3000, [0, 1, 9, 10, 11, 99, 100]));
  let text = String(header.length);
  if (rng.chance(0.05)) text = '0' + text;
  if (rng.chance(0.03)) text = '9'.repeat(rng.range(10, 22));
  const bytes = Buffer.concat([Buffer.from(text + ':', 'latin1'), header, Buffer.from(rng.chance(0.95) ? ',' : ';'), rng.bytes(rng.int(20))]);
  return rng.chance(0.4) ? mutate(rng, bytes, [0x30, 0x31, 0x39, 0x3a, 0x2c, 0x2d]) : bytes;
}

// ---- Core comparisons -----------------------------------------------------------------------------

/** The C++ scanner alone: NativeCore.scanRecords hands a chunk's first records to the TypeScript scanner. */
const nativeScan = (NATIVE.core as typeof NATIVE.core & { scanRecordsNative: typeof NATIVE.core.scanRecords });

function compareScanRecords(bytes: Buffer, chunks: { chunk: Buffer; start: number }[], seen: Seen): string | null {
  const sn = new Int32Array(RECORD_STATE_WORDS), sj = new Int32Array(RECORD_STATE_WORDS);
  for (const [ci, { chunk, start: first }] of chunks.entries()) {
    let start = first;
    while (start < chunk.length) {
      const n = nativeScan.scanRecordsNative(chunk, start, sn);
      const j = JS.core.scanRecords(chunk, start, sj);
      const where = `chunk ${ci} start ${start}`;
      if (n !== j) return `${where}: scanRecords returned ${n} (native) vs ${j} (js)`;
      const d = sameWords(sn, sj, 0, RECORD_STATE_WORDS);
      if (d >= 0) return `${where}: state word ${d}: ${sn[d]} vs ${sj[d]}`;
      if (n > 0) {
        const e = sameWords(NATIVE.core.scratch, JS.core.scratch, FRAGMENTS_AT, FRAGMENTS_AT + 4 * n);
        if (e >= 0) return `${where}: fragment word ${e - FRAGMENTS_AT}: ${NATIVE.core.scratch[e]} vs ${JS.core.scratch[e]}`;
      }
      if (n < 0) {
        // Failed for good: the next call returns the same code and consumes nothing.
        const again = [nativeScan.scanRecordsNative(chunk, start, sn), JS.core.scanRecords(chunk, start, sj)];
        if (again[0] !== n || again[1] !== n) return `${where}: after failing, returned ${again}`;
        note(seen, n);
        return null;
      }
      if (n === fragmentCapacity(NATIVE.core.scratch)) note(seen, 'full scratch');
      if (sn[ST_CONSUMED] <= start) return `${where}: no progress`;
      start = sn[ST_CONSUMED];
    }
  }
  void bytes;
  note(seen, 'ok');
  return null;
}

function compareDecode(kind: 'pairs' | 'scgi', buf: Buffer, begin: number, end: number, limits: readonly number[],
  seen: Seen): string | null {
  for (const c of [NATIVE, JS]) for (let i = 0; i < 4; i++) c.core.scratch[SCRATCH_LIMITS + i] = limits[i];
  // Stale words that a call must overwrite on success.
  NATIVE.core.scratch[SCRATCH_SHAPE] = 1; JS.core.scratch[SCRATCH_SHAPE] = 2;
  const n = kind === 'pairs' ? NATIVE.core.decodePairs(buf, begin, end) : NATIVE.core.decodeScgiHeaders(buf, begin, end);
  const j = kind === 'pairs' ? JS.core.decodePairs(buf, begin, end) : JS.core.decodeScgiHeaders(buf, begin, end);
  if (n !== j) return `returned ${n} (native) vs ${j} (js)`;
  note(seen, n < 0 ? n : 'ok');
  if (n < 0) return null;
  const sN = NATIVE.core.scratch, sJ = JS.core.scratch;
  const e = sameWords(sN, sJ, PAIRS_AT, PAIRS_AT + 4 * n);
  if (e >= 0) return `pair ${(e - PAIRS_AT) >> 2} word ${(e - PAIRS_AT) & 3}: ${sN[e]} vs ${sJ[e]}`;
  if (sN[SCRATCH_SHAPE] !== sJ[SCRATCH_SHAPE]) return `shape ${sN[SCRATCH_SHAPE]} vs ${sJ[SCRATCH_SHAPE]}`;
  if (sN[SCRATCH_SHAPE_ID] !== sJ[SCRATCH_SHAPE_ID]) return `shape id ${sN[SCRATCH_SHAPE_ID]} vs ${sJ[SCRATCH_SHAPE_ID]}`;
  if (kind === 'scgi' && (sN[SCRATCH_LENGTH_LO] !== sJ[SCRATCH_LENGTH_LO] || sN[SCRATCH_LENGTH_HI] !== sJ[SCRATCH_LENGTH_HI])) {
    return `content length ${sN[SCRATCH_LENGTH_HI]}:${sN[SCRATCH_LENGTH_LO]} vs ${sJ[SCRATCH_LENGTH_HI]}:${sJ[SCRATCH_LENGTH_LO]}`;
  }
  return null;
}

function compareNetstring(chunks: { chunk: Buffer; start: number }[], max: number, seen: Seen): string | null {
  const sn = new Int32Array(NETSTRING_STATE_WORDS), sj = new Int32Array(NETSTRING_STATE_WORDS);
  for (const [ci, { chunk, start: first }] of chunks.entries()) {
    let start = first;
    while (start < chunk.length && sn[NS_PHASE] !== NS_DONE) {
      const n = NATIVE.core.scanNetstring(chunk, start, sn, max);
      const j = JS.core.scanNetstring(chunk, start, sj, max);
      const where = `chunk ${ci} start ${start}`;
      if (n !== j) return `${where}: scanNetstring returned ${n} (native) vs ${j} (js)`;
      const d = sameWords(sn, sj, 0, NETSTRING_STATE_WORDS);
      if (d >= 0) return `${where}: state word ${d}: ${sn[d]} vs ${sj[d]}`;
      if (n > 0) {
        const e = sameWords(NATIVE.core.scratch, JS.core.scratch, FRAGMENTS_AT, FRAGMENTS_AT + 4 * n);
        if (e >= 0) return `${where}: fragment word ${e - FRAGMENTS_AT}`;
      }
      if (n < 0) { note(seen, n); return null; }
      if (sn[NS_CONSUMED] < start || (sn[NS_CONSUMED] === start && sn[NS_PHASE] !== NS_DONE)) return `${where}: no progress`;
      start = sn[NS_CONSUMED];
    }
  }
  if (sn[NS_PHASE] === NS_DONE) note(seen, 'done');
  return null;
}

// ---- Higher layers --------------------------------------------------------------------------------

function deliveries(codec: Codec, chunks: { chunk: Buffer; start: number }[]) {
  const out: [number, number, Buffer][] = [];
  const reader = codec.createRecordReader((t, id, buf, o?: number, l?: number) => { out.push([t, id, Buffer.from(contentOf(buf, o, l))]); });
  let error: string | null = null;
  for (const { chunk, start } of chunks) {
    const e = reader.push(chunk.subarray(start));
    if (e !== null) { error = e.code; break; }
  }
  return { out, error };
}

function compareReaders(chunks: { chunk: Buffer; start: number }[]): string | null {
  const a = deliveries(NATIVE, chunks), b = deliveries(JS, chunks);
  if (a.error !== b.error) return `reader error ${a.error} vs ${b.error}`;
  if (a.out.length !== b.out.length) return `reader: ${a.out.length} vs ${b.out.length} deliveries`;
  for (let i = 0; i < a.out.length; i++) {
    const [x, y] = [a.out[i], b.out[i]];
    if (x[0] !== y[0] || x[1] !== y[1] || !x[2].equals(y[2])) return `reader delivery ${i}: ${x[0]}/${x[1]}/${x[2].length} vs ${y[0]}/${y[1]}/${y[2].length}`;
  }
  return null;
}

function outcome(fn: () => unknown): unknown {
  try {
    return fn();
  } catch (err) {
    return { thrown: (err as { code?: string }).code ?? String(err) };
  }
}

function compareDecodeParams(buf: Buffer, begin: number, end: number, limits: readonly number[], scgi: boolean): string | null {
  const l = { maxParamsBytes: limits[0], maxParams: Math.min(limits[1], 4096), maxParamNameLength: limits[2], maxParamValueLength: limits[3] };
  const run = (c: Codec) => outcome(() => {
    const d = scgi ? c.decodeScgiHeader(buf.subarray(begin, end), l, BUILD_HEAD | BUILD_OBJECT) : c.decodeParams(buf, begin, end, l, BUILD_HEAD | BUILD_OBJECT);
    return { head: d.head, object: d.params.toObject(), entries: d.params.entries(), contentLength: (d as { contentLength?: number }).contentLength };
  });
  const [a, b] = [JSON.stringify(run(NATIVE)), JSON.stringify(run(JS))];
  if (a === b) return null;
  let i = 0;
  while (a[i] === b[i]) i++;
  return `${scgi ? 'decodeScgiHeader' : 'decodeParams'} differs at ${i}: ${a.slice(Math.max(0, i - 40), i + 60)} vs ${b.slice(Math.max(0, i - 40), i + 60)}`;
}

// ---- Tests ----------------------------------------------------------------------------------------

/** Outcomes seen in a run (a result code, or 'ok'), to check the generators reach every path they aim at. */
type Seen = Map<string, number>;

function run(count: number, salt: number, one: (rng: Rng, seen: Seen) => string | null): Seen {
  const rng = new Rng((SEED ^ salt) >>> 0);
  const failures: string[] = [];
  const seen: Seen = new Map();
  let i = 0;
  for (; i < count && failures.length < 3; i++) {
    const f = one(rng, seen);
    if (f !== null) failures.push(`seed ${SEED} input ${i}: ${f}`);
  }
  expect(failures).toEqual([]);
  expect(i).toBe(count);
  return seen;
}

const note = (seen: Seen, key: string | number): void => { seen.set(String(key), (seen.get(String(key)) ?? 0) + 1); };

/** Every outcome in `keys` was seen at least `min` times. */
function expectSeen(seen: Seen, keys: (string | number)[], min: number): void {
  const counts = Object.fromEntries(keys.map((k) => [String(k), seen.get(String(k)) ?? 0]));
  for (const k of keys) expect({ outcome: String(k), count: counts[String(k)] >= min ? 'enough' : counts[String(k)] }).toEqual({ outcome: String(k), count: 'enough' });
}

test(`scanRecords and RecordReader agree on ${RECORD_STREAMS} generated, cut and mutated record streams (seed ${SEED})`, () => {
  const seen = run(RECORD_STREAMS, 0x1111, (rng, seen) => {
    const valid = genRecords(rng);
    let bytes = rng.chance(0.7) ? mutate(rng, valid) : valid;
    if (rng.chance(0.3)) bytes = bytes.subarray(0, rng.int(bytes.length + 1));
    const chunks = chunksOf(rng, bytes);
    const f = compareScanRecords(bytes, chunks, seen) ?? compareReaders(chunks);
    return f === null ? null : `${f}; input ${show(bytes)}; cuts ${chunks.map((c) => c.chunk.length - c.start)}`;
  });
  expectSeen(seen, ['ok', -1], 20);
  expectSeen(seen, ['full scratch'], 3);
});

test(`decodePairs and decodeParams agree on ${PAIR_BODIES} generated and mutated pair bodies under random limits (seed ${SEED})`, () => {
  const seen = run(PAIR_BODIES, 0x2222, (rng, seen) => {
    const body = genPairBody(rng);
    const limits = genLimits(rng, body.length);
    const prefix = rng.int(9), suffix = rng.int(9);
    const buf = Buffer.concat([rng.bytes(prefix), body, rng.bytes(suffix)]);
    let begin = prefix, end = prefix + body.length;
    if (rng.chance(0.1)) { begin = rng.int(buf.length + 1); end = begin + rng.int(buf.length - begin + 1); }
    const f = compareDecode('pairs', buf, begin, end, limits, seen) ?? compareDecodeParams(buf, begin, end, limits, false);
    return f === null ? null : `${f}; body ${show(buf.subarray(begin, end))}; limits ${limits}`;
  });
  expectSeen(seen, ['ok', -10, -11, -12, -13, -14], 30);
});

/** A body following `names` (a registered shape), sometimes bent away from it: values always random. */
function bodyNear(rng: Rng, names: readonly Buffer[]): Buffer {
  const list = names.map((n) => Buffer.from(n));
  const r = rng.int(8);
  if (r === 1 && list.length) list.splice(rng.int(list.length), 1); // one pair fewer
  else if (r === 2) list.splice(rng.int(list.length + 1), 0, Buffer.from(rng.pick(KNOWN_NAMES), 'latin1')); // one more
  else if (r === 3 && list.length) { const k = list[rng.int(list.length)]; k[rng.int(k.length)] ^= 1 << rng.int(8); } // a bit off
  else if (r === 4 && list.length) list[rng.int(list.length)] = Buffer.from(rng.pick(KNOWN_NAMES), 'latin1'); // another name
  else if (r === 5 && list.length > 1) { const i = rng.int(list.length - 1); [list[i], list[i + 1]] = [list[i + 1], list[i]]; }
  const parts = list.flatMap((name) => { const v = rng.bytes(rng.length(200, [0, 1])); return [lengthBytes(name.length, false), lengthBytes(v.length, false), name, v]; });
  return Buffer.concat(parts);
}

test(`decodePairs reports the same registered shape on both cores, on ${SHAPED_BODIES} bodies near registered shapes (seed ${SEED})`, () => {
  const rng0 = new Rng((SEED ^ 0x5555) >>> 0);
  // Shapes: known names (some repeated), an unknown one now and then.
  const shapes = Array.from({ length: 12 }, () => Array.from({ length: rng0.range(0, 30) }, () =>
    rng0.chance(0.9) ? Buffer.from(rng0.pick(KNOWN_NAMES), 'latin1') : Buffer.from(`X_UNKNOWN_${rng0.int(5)}`, 'latin1')));
  const idsOf = (names: readonly Buffer[]): number[] => names.map((n) => KNOWN_NAMES.indexOf(n.toString('latin1')) + 1);
  const registered: string[] = [];
  for (const c of [NATIVE, JS]) c.core.forgetShapes();
  try {
    for (const names of shapes) {
      const ids = Uint16Array.from(idsOf(names));
      const got = [NATIVE.core.registerShape(ids), JS.core.registerShape(ids)];
      if (!registered.includes(ids.join())) registered.push(ids.join());
      expect(got).toEqual([registered.indexOf(ids.join()) + 1, registered.indexOf(ids.join()) + 1]);
    }
    const seen = run(SHAPED_BODIES, 0x6666, (rng, seen) => {
      const body = bodyNear(rng, rng.pick(shapes));
      const f = compareDecode('pairs', body, 0, body.length, [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], seen);
      if (f !== null) return `${f}; body ${show(body)}`;
      const n = NATIVE.core.decodePairs(body, 0, body.length);
      const ids = Array.from({ length: n }, (_, i) => NATIVE.core.scratch[PAIRS_AT + 4 * i + 3] >>> 16);
      const want = registered.indexOf(ids.join()) + 1;
      const got = [NATIVE.core.scratch[SCRATCH_SHAPE_ID], JS.core.decodePairs(body, 0, body.length) && JS.core.scratch[SCRATCH_SHAPE_ID]];
      if (n > 0 && (got[0] !== want || got[1] !== want)) return `shape id ${got} (native, js), want ${want}; body ${show(body)}`;
      note(seen, want ? 'registered' : 'other');
      return null;
    });
    expectSeen(seen, ['registered', 'other'], 50);
  } finally {
    for (const c of [NATIVE, JS]) c.core.forgetShapes();
  }
});

test(`scanNetstring agrees on ${NETSTRINGS} generated and mutated netstrings under random limits (seed ${SEED})`, () => {
  const seen = run(NETSTRINGS, 0x3333, (rng, seen) => {
    const bytes = genNetstring(rng);
    const max = rng.pick([0, 1, 10, 100, 3000, 131072, 0x7fffffff, rng.int(4000)]);
    const chunks = chunksOf(rng, bytes);
    const f = compareNetstring(chunks, max, seen);
    return f === null ? null : `${f}; input ${show(bytes)}; max ${max}`;
  });
  expectSeen(seen, ['done', -20, -21], 30);
});

test(`decodeScgiHeaders and decodeScgiHeader agree on ${SCGI_HEADERS} generated and mutated SCGI headers (seed ${SEED})`, () => {
  const seen = run(SCGI_HEADERS, 0x4444, (rng, seen) => {
    const header = genScgiHeader(rng);
    const limits = genLimits(rng, header.length);
    const prefix = rng.int(5);
    const buf = Buffer.concat([rng.bytes(prefix), header, Buffer.from([0, 0])]);
    const f = compareDecode('scgi', buf, prefix, prefix + header.length, limits, seen)
      ?? compareDecodeParams(buf, prefix, prefix + header.length, limits, true);
    return f === null ? null : `${f}; header ${show(header)}; limits ${limits}`;
  });
  expectSeen(seen, ['ok', -12, -13, -14, -21, -22, -23, -24, -25, -26], 10);
});

test('the differential runs at least 10,000 inputs', () => {
  expect(RECORD_STREAMS + PAIR_BODIES + NETSTRINGS + SCGI_HEADERS + SHAPED_BODIES).toBeGreaterThanOrEqual(10000);
});
