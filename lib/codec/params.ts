/**
 * Decoded params (FastCGI PARAMS or SCGI headers) and what the HTTP layer builds from them.
 *
 * A decode leaves pairs in the core's scratch as offsets; strings are made from one latin1 string of the
 * whole params body by `substring` (V8 makes those slices cheap). A web server location sends the same names
 * in the same order on every request, so each sequence of known-name ids ("shape") seen twice gets a builder
 * compiled to create its objects as literals with constant keys: one allocation, one hidden class. Keys in
 * generated code come only from KNOWN_NAMES, never from the wire. A shape is registered with the core, which
 * compares the ids of every decode with the registered sequences one by one and reports the index of the
 * equal one (so a hash collision cannot mislead a builder); a builder is found by that index. Unknown names
 * take a plain loop.
 */
import {
  type CodecCore, SCRATCH_COUNT, SCRATCH_LIMITS, SCRATCH_PAIRS, SCRATCH_SHAPE, SCRATCH_SHAPE_ID, latin1, pairCapacity,
} from './core.js';
import { KNOWN_NAMES, headerKeyOf } from './known-names.js';
import { outOfRange, protocolError } from '../errors.js';
import { memoize } from '../memo.js';

/** Limits on one request's params; the protocol itself sets none (FastCGI 1.0, section 3.4). */
export interface ParamsLimits {
  /** Bytes of the whole encoded params (or SCGI header). Default 131072. */
  maxParamsBytes: number;
  /** Number of pairs. Default 512. */
  maxParams: number;
  /** Bytes of one name; at most 65535. Default 1024. */
  maxParamNameLength: number;
  /** Bytes of one value. Default 65536. */
  maxParamValueLength: number;
}

export const DEFAULT_PARAMS_LIMITS: Readonly<ParamsLimits> = Object.freeze({
  maxParamsBytes: 131072,
  maxParams: 512,
  maxParamNameLength: 1024,
  maxParamValueLength: 65536,
});

/** Request headers as node:http gives them: lower-case names; repeated ones merged by node's rules. */
export type RequestHeaders = Record<string, string | string[] | undefined>;

/** What the HTTP layer needs first: method, url and headers, and the CGI values of the connection. */
export interface RequestHead {
  method: string;
  url: string;
  headers: RequestHeaders;
  /**
   * The headers as a flat [name, value, ...] list like node:http's rawHeaders: repeats kept, names lower-case
   * (CGI keeps no case); known names in wire order, then the others, then content-type and content-length.
   */
  rawHeaders: string[];
  /** SERVER_PROTOCOL, REMOTE_ADDR, REMOTE_PORT, SERVER_ADDR, SERVER_PORT and HTTPS, as sent (or undefined). */
  protocol: string | undefined;
  remoteAddress: string | undefined;
  remotePort: string | undefined;
  localAddress: string | undefined;
  localPort: string | undefined;
  https: string | undefined;
}

/** A limit as a scratch word: Infinity and anything above 2^32-1 mean "no limit"; NaN or negative throw. */
function limitWord(name: string, v: number): number {
  if (!(v >= 0)) {
    throw outOfRange(`${name} must be a number >= 0; got ${String(v)}`);
  }
  return v > 0xffffffff ? 0xffffffff : Math.floor(v);
}

/** Writes limits into the scratch words a decode call reads. */
export function setLimits(core: CodecCore, limits: ParamsLimits): void {
  const s = core.scratch;
  // The same finite limits as last time (every request of a server): the words are already there.
  if (s[SCRATCH_LIMITS] === limits.maxParamsBytes && s[SCRATCH_LIMITS + 1] === limits.maxParams
    && s[SCRATCH_LIMITS + 2] === limits.maxParamNameLength && s[SCRATCH_LIMITS + 3] === limits.maxParamValueLength) return;
  s[SCRATCH_LIMITS] = limitWord('maxParamsBytes', limits.maxParamsBytes);
  s[SCRATCH_LIMITS + 1] = limitWord('maxParams', limits.maxParams);
  s[SCRATCH_LIMITS + 2] = limitWord('maxParamNameLength', limits.maxParamNameLength);
  s[SCRATCH_LIMITS + 3] = limitWord('maxParamValueLength', limits.maxParamValueLength);
}

// ---- Known ids ----------------------------------------------------------------------------------

const ID = (name: string): number => KNOWN_NAMES.indexOf(name) + 1;
const ID_METHOD = ID('REQUEST_METHOD');
const ID_URI = ID('REQUEST_URI');
const ID_SCRIPT = ID('SCRIPT_NAME');
const ID_PATH_INFO = ID('PATH_INFO');
const ID_QUERY = ID('QUERY_STRING');
const ID_CT = ID('CONTENT_TYPE');
const ID_CL = ID('CONTENT_LENGTH');
const ID_HTTP_CT = ID('HTTP_CONTENT_TYPE');
const ID_HTTP_CL = ID('HTTP_CONTENT_LENGTH');
/** Header key of each known id, or null: index = id. HTTP_CONTENT_* are not headers here (see below). */
const KEY_OF_ID: (string | null)[] = [null, ...KNOWN_NAMES.map((n) =>
  n === 'HTTP_CONTENT_TYPE' || n === 'HTTP_CONTENT_LENGTH' ? null : headerKeyOf(n))];
/** The values the head reads; the first of each counts. */
const HEAD_IDS = [ID_METHOD, ID_URI, ID_SCRIPT, ID_PATH_INFO, ID_QUERY, ID_CT, ID_CL, ID_HTTP_CT, ID_HTTP_CL,
  ID('SERVER_PROTOCOL'), ID('REMOTE_ADDR'), ID('REMOTE_PORT'), ID('SERVER_ADDR'), ID('SERVER_PORT'), ID('HTTPS')];

// node:http's rules for a repeated request header (lib/_http_incoming.js, matchKnownFields).
const FIRST_WINS = new Set(['age', 'etag', 'from', 'host', 'server', 'expires', 'location', 'referer',
  'retry-after', 'user-agent', 'content-type', 'content-length', 'last-modified', 'authorization',
  'max-forwards', 'if-modified-since', 'if-unmodified-since', 'proxy-authorization']);

/** Adds one header the way node:http's IncomingMessage does. */
export function addHeader(h: RequestHeaders, key: string, value: string): void {
  if (key === 'set-cookie') {
    const list = h[key];
    if (Array.isArray(list)) list.push(value); else h[key] = [value];
  } else if (FIRST_WINS.has(key)) {
    if (h[key] === undefined) h[key] = value;
  } else {
    const prev = h[key];
    h[key] = typeof prev === 'string' ? prev + (key === 'cookie' ? '; ' : ', ') + value : value;
  }
}

/** headerKeyOf, remembered (bounded: names from the wire must not grow memory without bound). */
const keyOfUnknown = memoize(headerKeyOf);

// CGI/1.1 (RFC 3875, 4.1.5 and 4.1.13): without REQUEST_URI, the path is SCRIPT_NAME + PATH_INFO.
function urlOf(uri: string | undefined, script: string | undefined, pathInfo: string | undefined,
  query: string | undefined): string {
  if (uri) return uri;
  const path = (script ?? '') + (pathInfo ?? '') || '/';
  return query ? path + '?' + query : path;
}

function contentValue(cgi: string | undefined, http: string | undefined): string | undefined {
  if (cgi) return cgi;
  return http || undefined;
}

function finishHead(h: RequestHeaders, raw: string[], v: (string | undefined)[]): RequestHead {
  const ct = contentValue(v[5], v[7]);
  if (ct !== undefined) { h['content-type'] = ct; raw.push('content-type', ct); }
  const cl = contentValue(v[6], v[8]);
  if (cl !== undefined) { h['content-length'] = cl; raw.push('content-length', cl); }
  return {
    method: v[0] || 'GET', url: urlOf(v[1], v[2], v[3], v[4]), headers: h, rawHeaders: raw,
    protocol: v[9], remoteAddress: v[10], remotePort: v[11], localAddress: v[12], localPort: v[13], https: v[14],
  };
}

// ---- The plain loops (any shape) -------------------------------------------------------------------

function valueAt(s: string, e: Uint32Array, b: number, i: number): string {
  const at = e[SCRATCH_PAIRS + 4 * i + 1] - b;
  return s.substring(at, at + e[SCRATCH_PAIRS + 4 * i + 2]);
}

function nameAt(s: string, e: Uint32Array, b: number, i: number): string {
  const w = e[SCRATCH_PAIRS + 4 * i + 3];
  const id = w >>> 16;
  if (id !== 0) return KNOWN_NAMES[id - 1];
  const at = e[SCRATCH_PAIRS + 4 * i] - b;
  return s.substring(at, at + (w & 0xffff));
}

function idAt(e: Uint32Array, i: number): number {
  return e[SCRATCH_PAIRS + 4 * i + 3] >>> 16;
}

/** Adds the header of unknown pair i, if its name is HTTP_*. Known names first, then these (see loop). */
function addUnknownHeader(h: RequestHeaders, raw: string[], s: string, e: Uint32Array, b: number, i: number): void {
  const key = keyOfUnknown(nameAt(s, e, b, i));
  if (key === null) return;
  const value = valueAt(s, e, b, i);
  addHeader(h, key, value);
  raw.push(key, value);
}

function headByLoop(s: string, e: Uint32Array, b: number, n: number): RequestHead {
  const h: RequestHeaders = {};
  const raw: string[] = [];
  const v: (string | undefined)[] = new Array(HEAD_IDS.length).fill(undefined);
  for (let i = 0; i < n; i++) {
    const id = idAt(e, i);
    if (id === 0) continue;
    const slot = HEAD_IDS.indexOf(id);
    if (slot >= 0) { if (v[slot] === undefined) v[slot] = valueAt(s, e, b, i); continue; }
    const key = KEY_OF_ID[id];
    if (key === null) continue;
    const value = valueAt(s, e, b, i);
    addHeader(h, key, value);
    raw.push(key, value);
  }
  for (let i = 0; i < n; i++) if (idAt(e, i) === 0) addUnknownHeader(h, raw, s, e, b, i);
  return finishHead(h, raw, v);
}

function setParam(o: Record<string, string>, name: string, value: string): void {
  if (name === '__proto__') Object.defineProperty(o, name, { value, enumerable: true, writable: true, configurable: true });
  else o[name] = value;
}

function objectByLoop(s: string, e: Uint32Array, b: number, n: number): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i < n; i++) setParam(o, nameAt(s, e, b, i), valueAt(s, e, b, i));
  return o;
}

// ---- Compiled builders per shape -----------------------------------------------------------------

type HeadBuilder = (s: string, e: Uint32Array, b: number) => RequestHead;
type ObjectBuilder = (s: string, e: Uint32Array, b: number) => Record<string, string>;

interface Shape {
  ids: Uint16Array;
  head?: HeadBuilder;
  object?: ObjectBuilder;
}

/**
 * The shapes of one core: builders by the index the core gave each registered shape, and how often each
 * unregistered hash was seen. It is kept on the core itself (under a registered symbol) so that two copies
 * of this module sharing the thread's native core also share its indexes. It is emptied whenever the core
 * forgets its shapes (core.shapeGeneration moves: an index may then name another sequence), and
 * clearShapeCache() makes every core forget them (a generation kept on globalThis, shared by module copies).
 */
interface ShapeCache {
  core: CodecCore;
  generation: number;
  coreGeneration: number;
  byId: (Shape | undefined)[];
  sightings: Map<number, number>;
  /** The core refused a shape (SHAPE_CAPACITY reached): new shapes take the plain loop. */
  full: boolean;
}

const CACHE = Symbol.for('cgiwire.shapeCache');
const GENERATION = Symbol.for('cgiwire.shapeCacheGeneration');
type GenerationHolder = typeof globalThis & { [GENERATION]?: number };
let lastCache: ShapeCache | undefined;

function cacheOf(core: CodecCore): ShapeCache {
  let cache = lastCache;
  const generation = (globalThis as GenerationHolder)[GENERATION] ?? 0;
  if (cache === undefined || cache.core !== core) {
    const holder = core as CodecCore & { [CACHE]?: ShapeCache };
    cache = (holder[CACHE] ??= { core, generation, coreGeneration: -1, byId: [], sightings: new Map(), full: false });
    lastCache = cache;
  }
  if (cache.generation !== generation) {
    cache.generation = generation;
    core.forgetShapes();
  }
  if (cache.coreGeneration !== core.shapeGeneration) {
    cache.byId.length = 0;
    cache.sightings.clear();
    cache.full = false;
    cache.coreGeneration = core.shapeGeneration;
  }
  return cache;
}

const valueExpr = (i: number): string =>
  `s.substring(e[${SCRATCH_PAIRS + 4 * i + 1}] - b, e[${SCRATCH_PAIRS + 4 * i + 1}] - b + e[${SCRATCH_PAIRS + 4 * i + 2}])`;

function compileHead(ids: Uint16Array): HeadBuilder {
  const used = new Set<number>();
  const v = (i: number): string => { used.add(i); return `v${i}`; };
  const slots: (number | undefined)[] = HEAD_IDS.map(() => undefined);
  const byKey = new Map<string, number[]>();
  const raw: string[] = [];
  const unknown: number[] = [];
  ids.forEach((id, i) => {
    if (id === 0) { unknown.push(i); return; }
    const slot = HEAD_IDS.indexOf(id);
    if (slot >= 0) { if (slots[slot] === undefined) slots[slot] = i; return; }
    const key = KEY_OF_ID[id];
    if (key === null) return;
    byKey.set(key, [...(byKey.get(key) ?? []), i]);
    raw.push(JSON.stringify(key), v(i));
  });
  const props: string[] = [];
  for (const [key, at] of byKey) {
    let expr: string;
    if (key === 'set-cookie') expr = `[${at.map(v).join(', ')}]`;
    else if (FIRST_WINS.has(key) || at.length === 1) expr = v(at[0]);
    else expr = at.map(v).join(key === 'cookie' ? ' + "; " + ' : ' + ", " + ');
    props.push(`${JSON.stringify(key)}: ${expr}`);
  }
  const slot = (k: number): string => (slots[k] === undefined ? 'undefined' : v(slots[k]!));
  // A value cut only when needed (SCRIPT_NAME, PATH_INFO and QUERY_STRING make the url only without REQUEST_URI).
  const lazySlot = (k: number): string => (slots[k] === undefined ? 'undefined' : valueExpr(slots[k]!));
  const url = slots[1] === undefined ? `r(undefined, ${lazySlot(2)}, ${lazySlot(3)}, ${lazySlot(4)})`
    : `${slot(1)} || r(undefined, ${lazySlot(2)}, ${lazySlot(3)}, ${lazySlot(4)})`;
  // The same rules as finishHead, resolved for this shape.
  const content = (key: string, cgi: number, http: number): string =>
    `{ const c = ${slot(cgi)} || ${slot(http)}; if (c) { h[${JSON.stringify(key)}] = c; raw.push(${JSON.stringify(key)}, c); } }`;
  const tail = [
    ...unknown.map((i) => `u(h, raw, s, e, b, ${i});`),
    content('content-type', 5, 7),
    content('content-length', 6, 8),
    `return { method: ${slot(0)} || "GET", url: ${url}, headers: h, rawHeaders: raw, ` +
      `protocol: ${slot(9)}, remoteAddress: ${slot(10)}, remotePort: ${slot(11)}, localAddress: ${slot(12)}, ` +
      `localPort: ${slot(13)}, https: ${slot(14)} };`,
  ];
  const head = `const h = {${props.join(', ')}};\nconst raw = [${raw.join(', ')}];`;
  const values = [...used].sort((a, b) => a - b).map((i) => `const v${i} = ${valueExpr(i)};`);
  const body = [...values, head, ...tail].join('\n');
  const make = new Function('u', 'r', `"use strict"; return function head(s, e, b) {\n${body}\n};`);
  return make(addUnknownHeader, urlOf) as HeadBuilder;
}

function compileObject(ids: Uint16Array): ObjectBuilder {
  const lastOf = new Map<number, number>();
  ids.forEach((id, i) => { if (id !== 0) lastOf.set(id, i); });
  const props = [...lastOf].map(([id, i]) => `${JSON.stringify(KNOWN_NAMES[id - 1])}: ${valueExpr(i)}`);
  const unknown = [...ids.keys()].filter((i) => ids[i] === 0);
  const body = [`const o = {${props.join(', ')}};`, ...unknown.map((i) => `p(o, n(s, e, b, ${i}), v(s, e, b, ${i}));`),
    'return o;'].join('\n');
  const make = new Function('p', 'n', 'v', `"use strict"; return function object(s, e, b) {\n${body}\n};`);
  return make(setParam, nameAt, valueAt) as ObjectBuilder;
}

/**
 * The shape of the pairs now in scratch: the one the core matched (registerShape), or, on a hash's second
 * sighting, a new one registered with the core. Undefined: use the plain loop.
 */
function shapeOf(core: CodecCore, e: Uint32Array, n: number): Shape | undefined {
  const cache = cacheOf(core);
  const id = e[SCRATCH_SHAPE_ID];
  if (id !== 0) {
    const known = cache.byId[id];
    if (known !== undefined) return known;
  }
  const hash = e[SCRATCH_SHAPE] & 0x3fffffff; // a small integer: a Map key that needs no boxing
  if (id === 0) {
    if (cache.full) return undefined;
    const seen = (cache.sightings.get(hash) ?? 0) + 1;
    if (seen < 2) {
      if (cache.sightings.size >= 4096) cache.sightings.clear();
      cache.sightings.set(hash, seen);
      return undefined;
    }
    cache.sightings.delete(hash);
  }
  const ids = new Uint16Array(n);
  for (let i = 0; i < n; i++) ids[i] = idAt(e, i);
  const index = core.registerShape(ids);
  if (index === 0) {
    cache.full = true;
    return undefined;
  }
  return (cache.byId[index] ??= { ids });
}

/** Forgets every compiled shape, in every core (for tests and benchmarks). */
export function clearShapeCache(): void {
  const holder = globalThis as GenerationHolder;
  holder[GENERATION] = (holder[GENERATION] ?? 0) + 1;
}

/** Options of {@link buildHead} and {@link buildObject}: `compiled: false` forces the plain loops. */
export interface BuildOptions {
  compiled?: boolean;
}

export function buildHead(core: CodecCore, s: string, b: number, n: number, opts?: BuildOptions): RequestHead {
  const e = core.scratch;
  if (opts?.compiled === false) return headByLoop(s, e, b, n);
  const shape = shapeOf(core, e, n);
  if (shape === undefined) return headByLoop(s, e, b, n);
  return (shape.head ??= compileHead(shape.ids))(s, e, b);
}

export function buildObject(core: CodecCore, s: string, b: number, n: number, opts?: BuildOptions): Record<string, string> {
  const e = core.scratch;
  if (opts?.compiled === false) return objectByLoop(s, e, b, n);
  const shape = shapeOf(core, e, n);
  if (shape === undefined) return objectByLoop(s, e, b, n);
  return (shape.object ??= compileObject(shape.ids))(s, e, b);
}

// ---- Params --------------------------------------------------------------------------------------

/** How pairs are decoded: FastCGI name-value pairs or SCGI headers. */
export interface PairDecoder {
  /** Pairs of buf[begin, end) into scratch; the count or a negative code. */
  pairs(core: CodecCore, buf: Buffer, begin: number, end: number): number;
  /** The same, returning the latin1 text of the range (count in scratch[SCRATCH_COUNT]) or a negative code. */
  pairsText(core: CodecCore, buf: Buffer, begin: number, end: number): string | number;
}

/**
 * The params of one request. Values are bytes on the wire: `get` gives them as latin1 strings (each byte
 * one char, as node:http gives header values), `raw` as a view of the bytes. Built by
 * {@link decodeParams}; accessors decode again on demand rather than keeping a copy of the offsets.
 */
export class Params {
  private str: string | undefined;
  private object: Record<string, string> | undefined;

  /** @internal */
  constructor(
    private readonly core: CodecCore,
    private readonly decoder: PairDecoder,
    private readonly limits: ParamsLimits,
    /** The bytes the params were decoded from. */
    readonly buffer: Buffer,
    readonly begin: number,
    readonly end: number,
    /** Number of pairs. */
    readonly count: number,
    text?: string,
  ) {
    this.str = text;
  }

  /** The latin1 string of the whole params body, made once. */
  text(): string {
    return (this.str ??= latin1(this.buffer, this.begin, this.end));
  }

  /** Puts this request's pairs back into scratch. */
  private load(): Uint32Array {
    setLimits(this.core, this.limits);
    const n = this.decoder.pairs(this.core, this.buffer, this.begin, this.end);
    if (n !== this.count) throw protocolError(n < 0 ? n : 0);
    return this.core.scratch;
  }

  /** @internal Fills the object from pairs already in scratch. */
  adopt(object: Record<string, string>): void {
    this.object = object;
  }

  /** All params as latin1 strings; a repeated name keeps its last value (see {@link getAll}). */
  toObject(opts?: BuildOptions): Record<string, string> {
    if (this.object === undefined) {
      this.load();
      this.object = buildObject(this.core, this.text(), this.begin, this.count, opts);
    }
    return this.object;
  }

  /** The value of `name` as a latin1 string, or undefined. */
  get(name: string): string | undefined {
    const object = this.toObject();
    return Object.hasOwn(object, name) ? object[name] : undefined;
  }

  /** Every value of `name`, in wire order (nginx sends a repeated request header as two params). */
  getAll(name: string): string[] {
    return this.entries().filter(([n]) => n === name).map(([, v]) => v);
  }

  /** The bytes of the first value of `name`, as a view of the buffer (no copy), or undefined. */
  raw(name: string): Buffer | undefined {
    const e = this.load();
    const s = this.text();
    for (let i = 0; i < this.count; i++) {
      if (nameAt(s, e, this.begin, i) === name) {
        const at = e[SCRATCH_PAIRS + 4 * i + 1];
        return this.buffer.subarray(at, at + e[SCRATCH_PAIRS + 4 * i + 2]);
      }
    }
    return undefined;
  }

  /** [name, value] pairs in wire order, values as latin1 strings. */
  entries(): [string, string][] {
    const e = this.load();
    const s = this.text();
    const out: [string, string][] = [];
    for (let i = 0; i < this.count; i++) out.push([nameAt(s, e, this.begin, i), valueAt(s, e, this.begin, i)]);
    return out;
  }

  /** Method, url and headers, built as node:http would build them from the same request. */
  head(opts?: BuildOptions): RequestHead {
    this.load();
    return buildHead(this.core, this.text(), this.begin, this.count, opts);
  }
}

/** What to build while the pairs are still in scratch, besides the Params object itself. */
export const BUILD_NOTHING = 0;
export const BUILD_HEAD = 1;
export const BUILD_OBJECT = 2;

/** A request whose params were decoded: the Params and, when asked for, the head. */
export interface DecodedParams {
  params: Params;
  head: RequestHead | undefined;
}

/**
 * Decodes the pairs in buf[begin, end) with `decode` (FastCGI pairs or SCGI headers) under the limits.
 * Throws a CgiwireError with a stable code on bad bytes or a crossed limit.
 */
export function decodeWith(
  core: CodecCore, decoder: PairDecoder,
  buf: Buffer, begin: number, end: number, limits: ParamsLimits, build: number,
): DecodedParams {
  // Room for as many pairs as these bytes can hold (each takes at least its two length bytes), up to the limit.
  const most = Math.min(limits.maxParams, ((end - begin) >>> 1) + 1);
  if (most > pairCapacity(core.scratch)) core.reserve(most);
  setLimits(core, limits);
  if (build === BUILD_NOTHING) {
    const n = decoder.pairs(core, buf, begin, end);
    if (n < 0) throw protocolError(n);
    return { params: new Params(core, decoder, limits, buf, begin, end, n), head: undefined };
  }
  const text = decoder.pairsText(core, buf, begin, end);
  if (typeof text === 'number') throw protocolError(text);
  const e = core.scratch;
  const n = e[SCRATCH_COUNT];
  const params = new Params(core, decoder, limits, buf, begin, end, n, text);
  const head = build & BUILD_HEAD ? buildHead(core, text, begin, n) : undefined;
  if (build & BUILD_OBJECT) params.adopt(buildObject(core, text, begin, n));
  return { params, head };
}
