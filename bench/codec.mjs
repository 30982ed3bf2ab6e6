#!/usr/bin/env node
/**
 * Codec micro-benchmark: cgiwire's native codec, its TypeScript twin and the npm package fastcgi-stream, in one run,
 * on bytes captured from nginx (test/fixtures). Timed with mitata's `measure`; every result is consumed with
 * `do_not_optimize`. How each contender is driven, and why, is in bench/README.md and bench/RESULTS.md.
 *
 *   npm run bench:codec                       # all scenarios (about 100 s on 2 shared cores)
 *   node bench/codec.mjs --only=1,6 --rounds=5 --time=200 --no-json
 *
 * --rounds=N   rounds per scenario (default 7); cases run in a rotating order each round, the figure reported
 *              is the median over rounds of mitata's p50 (the median of per-batch averages).
 * --time=MS    mitata's min_cpu_time per case and round (default 70).
 * --only=LIST  scenarios to run (1..6).
 * --json=PATH  where to write the raw numbers (default bench/results/codec-<date>.json); --no-json to skip.
 *
 * Needs dist/ (npm run build:ts) and, for the native column, build/Release/cgiwire.node (npx node-gyp rebuild).
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';

// mitata collects garbage before each measurement when a gc function exists at its load; `npm run` passes no
// --expose-gc, so expose one here before importing it.
if (typeof globalThis.gc !== 'function') {
  v8.setFlagsFromString('--expose-gc');
  globalThis.gc = vm.runInNewContext('gc');
}
// fastcgi-stream calls the deprecated `new Buffer(n)` on every record it reads or writes. Node checks whether
// each such call comes from node_modules by walking the stack (up to 10000 times) until it has warned once; warn
// once from here, silently, so its steady state is measured rather than that check.
process.noDeprecation = true;
void new Buffer(0); // eslint-disable-line no-buffer-constructor

const { measure, do_not_optimize } = await import('mitata');

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const cg = await import(new URL('../dist/index.js', import.meta.url).href);
const { writeHeader } = await import(new URL('../dist/codec/js.js', import.meta.url).href);
const { FastCGIStream, records: FR } = require('fastcgi-stream');

// ---- options --------------------------------------------------------------------------------------------

const argv = new Map(process.argv.slice(2).map((a) => {
  const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
  if (!m) throw new Error(`unknown argument ${a}`);
  return [m[1], m[2] ?? true];
}));
const ROUNDS = Number(argv.get('rounds') ?? 7);
const TIME_MS = Number(argv.get('time') ?? 70);
const ONLY = argv.has('only') ? new Set(String(argv.get('only')).split(',').map(Number)) : null;
const STAMP = new Date().toISOString();
const JSON_PATH = argv.get('no-json') ? null
  : (typeof argv.get('json') === 'string' ? argv.get('json')
    : path.join(ROOT, 'bench', 'results', `codec-${STAMP.slice(0, 19).replace(/:/g, '-')}.json`));

// ---- machine --------------------------------------------------------------------------------------------

function cpuModel() {
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'latin1'));
    if (m) return m[1].trim();
  } catch { /* not Linux */ }
  return os.cpus()[0]?.model ?? 'unknown';
}
function gitState() {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'lib', 'native'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${head} + uncommitted changes in lib/ or native/` : head;
  } catch { return 'unknown'; }
}
const nativeCodec = (() => { try { return cg.createCodec('native'); } catch (e) { return e; } })();
if (nativeCodec instanceof Error) {
  console.error(`the native codec did not load (${nativeCodec.message}); build it with: npx node-gyp rebuild`);
  process.exit(1);
}
const jsCodec = cg.createCodec('js');
const machine = {
  cpu: cpuModel(),
  cores: os.availableParallelism?.() ?? os.cpus().length,
  node: process.version,
  v8: process.versions.v8,
  platform: `${os.platform()} ${os.release()} ${os.arch()}`,
  date: STAMP,
  mitata: require('mitata/package.json').version,
  fastcgiStream: require('fastcgi-stream/package.json').version,
  cgiwire: gitState(),
  loadStart: os.loadavg().map((x) => x.toFixed(2)).join(' '),
  nativeBuilt: (() => {
    try { return fs.statSync(path.join(ROOT, 'build/Release/cgiwire.node')).mtime.toISOString(); } catch { return 'prebuild'; }
  })(),
};

// ---- helpers --------------------------------------------------------------------------------------------

const fixture = (name) => fs.readFileSync(path.join(ROOT, 'test', 'fixtures', name));
const chunksOf = (buf, size) => {
  const out = [];
  for (let at = 0; at < buf.length; at += size) out.push(buf.subarray(at, Math.min(at + size, buf.length)));
  return out;
};
function check(what, ok) {
  if (!ok) throw new Error(`bench self-check failed: ${what}`);
}
/** Same keys and values, any order. */
const sameRecord = (a, b) => isDeepStrictEqual(Object.entries(a).sort(), Object.entries(b).sort());

// The record header writer is cgiwire's own (lib/codec/js.ts), imported below with the codec.
const recordHeader = (type, id, len, pad) => { const b = Buffer.alloc(8); writeHeader(b, 0, type, id, len, pad); return b; };

function xorshiftBytes(n, seed = 0x12345678) {
  const out = Buffer.allocUnsafe(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

const GET = fixture('nginx-fastcgi-get-browser.bin');

// ---- contenders: cgiwire --------------------------------------------------------------------------------

const { BUILD_HEAD, BUILD_OBJECT, RecordType } = cg;

/**
 * The RecordReader callback is `(type, requestId, content)` with a view (first release) or
 * `(type, requestId, buf, offset, length)` with a position (lib/codec/records.ts after the allocation work):
 * the bench drives either, and says which in its header.
 */
const POSITIONS_API = (() => {
  let args = 0;
  jsCodec.createRecordReader((...a) => { args = a.length; }).push(GET);
  return args >= 5;
})();

/**
 * One cgiwire "connection": a RecordReader created once and reused for every request pushed through it, as a
 * server does for a kept connection. PARAMS is kept as a position in the chunk (one piece per request in these
 * inputs; several would be joined once) and decoded with decodeParams(buf, begin, end). STDIN pieces are
 * counted and, with `views` (the default), handed on as a Buffer view each, which is what an application
 * receives; `views: false` measures the scan alone (positions API only).
 */
function cgiwireConnection(codec, { views = true } = {}) {
  const st = { pbuf: null, pbegin: 0, pend: 0, pparts: null, body: 0, lastBody: null, stdinEnded: 0 };
  const reader = codec.createRecordReader((type, id, buf, offset, length) => {
    if (offset === undefined) { offset = 0; length = buf.length; }
    if (type === RecordType.PARAMS) {
      if (length === 0) {
        if (st.pparts) { st.pbuf = Buffer.concat(st.pparts); st.pbegin = 0; st.pend = st.pbuf.length; st.pparts = null; }
      } else if (st.pbuf === null) { st.pbuf = buf; st.pbegin = offset; st.pend = offset + length; }
      else {
        st.pparts ??= [st.pbuf.subarray(st.pbegin, st.pend)];
        st.pparts.push(buf.subarray(offset, offset + length));
      }
    } else if (type === RecordType.STDIN) {
      if (length === 0) st.stdinEnded++;
      else {
        st.body += length;
        st.lastBody = views ? (offset === 0 && length === buf.length ? buf : buf.subarray(offset, offset + length)) : buf;
      }
    }
  });
  const reset = () => { st.pbuf = null; st.pparts = null; st.body = 0; st.lastBody = null; st.stdinEnded = 0; };
  const decode = (build) => codec.decodeParams(st.pbuf, st.pbegin, st.pend, undefined, build);
  const paramsCopy = () => Buffer.from(st.pbuf.subarray(st.pbegin, st.pend));
  return { st, reader, reset, decode, paramsCopy };
}

// ---- contenders: fastcgi-stream -------------------------------------------------------------------------

/**
 * fastcgi-stream 1.0.0 reads from a stream: `new FastCGIStream(stream)` calls `stream.on('data', fn)` and
 * `writeRecord` calls `stream.write(buf)`. The most direct drive its API allows: a plain object whose `on`
 * keeps the data listener, which the benchmark calls with each Buffer (no stream machinery, no event loop);
 * records arrive synchronously on the FastCGIStream's 'record' event. Params are decoded inside its parser
 * (Params#read: UTF-8 strings, `[name, value]`, or a bare name when the value is empty); STDIN content is
 * copied by StdIn#read, and its BufferList copies what it `take`s.
 */
function fastcgiStreamConnection(onParams) {
  let ondata = null;
  const written = [];
  const sink = {
    on(event, fn) { if (event === 'data') ondata = fn; return this; },
    write(buf) { written.push(buf); return true; },
  };
  const s = new FastCGIStream(sink);
  const st = { params: null, result: null, body: 0, lastBody: null, stdinEnded: 0 };
  s.on('record', (requestId, record) => {
    switch (record.TYPE) {
      case FR.Params.TYPE:
        if (record.params.length === 0) { if (onParams) st.result = onParams(st.params ?? []); }
        else st.params = st.params === null ? record.params : st.params.concat(record.params);
        break;
      case FR.StdIn.TYPE:
        if (record.data.length === 0) st.stdinEnded++;
        else { st.body += record.data.length; st.lastBody = record.data; }
        break;
      default:
    }
  });
  const reset = () => { st.params = null; st.result = null; st.body = 0; st.lastBody = null; st.stdinEnded = 0; };
  return { st, push: (chunk) => ondata(chunk), stream: s, written, reset };
}

/** fastcgi-stream's pairs as an object of strings. */
function fcgiObject(pairs) {
  const o = {};
  for (let i = 0; i < pairs.length; i++) {
    const p = pairs[i];
    if (typeof p === 'string') o[p] = ''; else o[p[0]] = p[1];
  }
  return o;
}

/**
 * fastcgi-stream's pairs to method, url and headers in plain JS: HTTP_FOO_BAR -> foo-bar (memoised per name in a
 * Map, so the lower-casing is paid once per distinct name, as cgiwire's interned keys are), first value wins,
 * content-type/content-length from CONTENT_TYPE/CONTENT_LENGTH when non-empty.
 */
const fcgiKeys = new Map();
function fcgiHeaderKey(name) {
  let key = fcgiKeys.get(name);
  if (key === undefined) {
    key = name.startsWith('HTTP_') && name !== 'HTTP_CONTENT_TYPE' && name !== 'HTTP_CONTENT_LENGTH'
      ? name.slice(5).toLowerCase().replaceAll('_', '-') : null;
    fcgiKeys.set(name, key);
  }
  return key;
}
function fcgiHead(pairs) {
  let method, url, ct, cl;
  const headers = {};
  for (let i = 0; i < pairs.length; i++) {
    const p = pairs[i];
    const name = typeof p === 'string' ? p : p[0];
    const value = typeof p === 'string' ? '' : p[1];
    switch (name) {
      case 'REQUEST_METHOD': method ??= value; break;
      case 'REQUEST_URI': url ??= value; break;
      case 'CONTENT_TYPE': ct ??= value; break;
      case 'CONTENT_LENGTH': cl ??= value; break;
      default: {
        const key = fcgiHeaderKey(name);
        if (key !== null && headers[key] === undefined) headers[key] = value;
      }
    }
  }
  if (ct) headers['content-type'] = ct;
  if (cl) headers['content-length'] = cl;
  return { method: method || 'GET', url: url ?? '/', headers };
}

// ---- the case registry ------------------------------------------------------------------------------------

/** scenario -> { title, columns, ratios, notes, cases: [{ task, who, fn, bytes }] } */
const scenarios = new Map();
function scenario(id, title, columns, ratios, notes = []) {
  scenarios.set(id, { id, title, columns, ratios, notes, cases: [] });
}
function add(id, task, who, fn, bytes) {
  scenarios.get(id).cases.push({ task, who, fn, bytes, rounds: [] });
}
const N = 'native', J = 'js', F = 'fastcgi-stream';
const COPY = 'copy once', CONCAT = 'concat once', MEMCPY = 'memcpy 1 MiB', ALLOC = 'alloc + copy 1 MiB';
const STD_RATIOS = [[J, N], [F, N], [F, J]];

// ---- 1: the nginx GET ------------------------------------------------------------------------------------

scenario(1, 'nginx GET (nginx-fastcgi-get-browser.bin, 936 B, 28 params in one PARAMS record)',
  [N, J, F], STD_RATIOS);
{
  for (const codec of [nativeCodec, jsCodec]) {
    const who = codec.name === 'native' ? N : J;
    const cA = cgiwireConnection(codec);
    const a = () => {
      cA.reset();
      cA.reader.push(GET);
      return cA.decode(BUILD_OBJECT).params.toObject();
    };
    const cB = cgiwireConnection(codec);
    const b = () => {
      cB.reset();
      cB.reader.push(GET);
      return cB.decode(BUILD_HEAD).head;
    };
    const cC = cgiwireConnection(codec);
    cC.reader.push(GET);
    const P = cC.paramsCopy(); // the PARAMS body alone
    add(1, '(a) bytes -> 28 params as strings', who, () => do_not_optimize(a()));
    add(1, '(b) bytes -> method, url, headers', who, () => do_not_optimize(b()));
    add(1, '(c) PARAMS body -> 28 params as strings (no framing)', who,
      () => do_not_optimize(codec.decodeParams(P, 0, P.length, undefined, BUILD_OBJECT).params.toObject()));
    add(1, '(c) PARAMS body -> method, url, headers (no framing)', who,
      () => do_not_optimize(codec.decodeParams(P, 0, P.length, undefined, BUILD_HEAD).head));
  }
  const fA = fastcgiStreamConnection(fcgiObject);
  const fB = fastcgiStreamConnection(fcgiHead);
  const fa = () => { fA.reset(); fA.push(GET); return fA.st.result; };
  const fb = () => { fB.reset(); fB.push(GET); return fB.st.result; };
  const cP = cgiwireConnection(jsCodec);
  cP.reader.push(GET);
  const P = cP.paramsCopy();
  // Params#read is what its parser calls on a PARAMS record's content.
  const fcObject = () => { const rec = new FR.Params(); rec.read(P); return fcgiObject(rec.params); };
  const fcHead = () => { const rec = new FR.Params(); rec.read(P); return fcgiHead(rec.params); };
  add(1, '(a) bytes -> 28 params as strings', F, () => do_not_optimize(fa()));
  add(1, '(b) bytes -> method, url, headers', F, () => do_not_optimize(fb()));
  add(1, '(c) PARAMS body -> 28 params as strings (no framing)', F, () => do_not_optimize(fcObject()));
  add(1, '(c) PARAMS body -> method, url, headers (no framing)', F, () => do_not_optimize(fcHead()));

  // Self-check: the three give the same answers on this (ASCII) request.
  const once = (codec, build) => { const c = cgiwireConnection(codec); c.reader.push(GET); return c.decode(build); };
  const objN = once(nativeCodec, BUILD_OBJECT).params.toObject(), objJ = once(jsCodec, BUILD_OBJECT).params.toObject();
  const headN = once(nativeCodec, BUILD_HEAD).head, headJ = once(jsCodec, BUILD_HEAD).head;
  check('28 params', Object.keys(objN).length === 28);
  check('native and js objects agree', sameRecord(objN, objJ));
  check('fastcgi-stream object agrees', sameRecord(objN, fa()));
  check('native and js heads agree', isDeepStrictEqual(headN, headJ));
  const headF = fb();
  check('fastcgi-stream head agrees', headF.method === headN.method && headF.url === headN.url
    && sameRecord(headF.headers, headN.headers));
}

// ---- 2: POST with a 64 KiB body, and the 100 KiB capture ------------------------------------------------

/** BEGIN_REQUEST + PARAMS + empty PARAMS of the nginx GET, then STDIN records of 32768 bytes, then empty STDIN. */
function buildPost(bodyLength) {
  // GET = BEGIN_REQUEST (16) | PARAMS 892+4 (904) | empty PARAMS (8) | empty STDIN (8)
  const head = GET.subarray(0, GET.length - 8);
  const body = xorshiftBytes(bodyLength);
  const parts = [head];
  for (let at = 0; at < bodyLength; at += 32768) {
    const n = Math.min(32768, bodyLength - at);
    const pad = (8 - (n & 7)) & 7;
    parts.push(recordHeader(RecordType.STDIN, 1, n, pad), body.subarray(at, at + n), Buffer.alloc(pad));
  }
  parts.push(recordHeader(RecordType.STDIN, 1, 0, 0));
  return { bytes: Buffer.concat(parts), body };
}
const POST64 = buildPost(65536);
const POST100 = fixture('nginx-fastcgi-post-100k.bin');
scenario(2, 'POST body scanning: record framing with STDIN handed on (cgiwire: views; fastcgi-stream: copies)',
  [N, J, F, COPY, CONCAT], [[J, N], [F, N], [F, J], [COPY, N], [COPY, J]], [
    'built 64 KiB POST = BEGIN_REQUEST + the nginx GET\'s PARAMS (+ empty PARAMS) + 2 STDIN records of 32768 B + empty STDIN: '
      + `${POST64.bytes.length} B (the same record layout as test/fixtures/nginx-fastcgi-post-64k-browser.bin)`,
    `nginx-fastcgi-post-100k.bin: ${POST100.length} B, STDIN records 32768 x 3 + 4096`,
    'cgiwire: framing only, PARAMS kept as a position, not decoded; each STDIN piece handed on as a Buffer view '
      + '(what an application receives); "positions only" rows (positions API) skip making the view. fastcgi-stream '
      + 'decodes PARAMS inside its parser (part of its figure, see scenario 1) and copies each STDIN record',
    'baselines, copying the same input bytes once: "copy once" = whole: input.copy(preallocated), chunks: each '
      + 'chunk.copy(preallocated, at); "concat once" = whole: Buffer.from(input), chunks: Buffer.concat(chunks) '
      + '(allocation + copy). "copy once / x" > 1 means x is faster than copying once',
  ]);
{
  const inputs = [
    ['64 KiB POST', POST64.bytes, 65536],
    ['100 KiB POST (capture)', POST100, 102400],
  ];
  for (const [label, bytes, bodyLength] of inputs) {
    const chunks = chunksOf(bytes, 1400);
    const variants = [['whole', [bytes], true], ['1400-byte chunks', chunks, true]];
    if (POSITIONS_API) variants.push(['whole, positions only', [bytes], false], ['1400-byte chunks, positions only', chunks, false]);
    for (const [how, feed, views] of variants) {
      const task = `${label}, ${how}`;
      for (const codec of [nativeCodec, jsCodec]) {
        const c = cgiwireConnection(codec, { views });
        const fn = () => {
          c.reset();
          for (let i = 0; i < feed.length; i++) c.reader.push(feed[i]);
          do_not_optimize(c.st.lastBody);
          return c.st.body;
        };
        check(`${codec.name} ${task} body`, fn() === bodyLength && c.st.stdinEnded === 1 && c.st.pbuf !== null);
        add(2, task, codec.name === 'native' ? N : J, fn, bytes.length);
      }
      if (views) {
        const f = fastcgiStreamConnection(null);
        const ff = () => {
          f.reset();
          for (let i = 0; i < feed.length; i++) f.push(feed[i]);
          do_not_optimize(f.st.lastBody);
          return f.st.body;
        };
        check(`fastcgi-stream ${task} body`, ff() === bodyLength && f.st.stdinEnded === 1);
        add(2, task, F, ff, bytes.length);
      }
      const dst = Buffer.allocUnsafe(bytes.length);
      add(2, task, COPY, () => {
        let at = 0;
        for (let i = 0; i < feed.length; i++) at += feed[i].copy(dst, at);
        return do_not_optimize(at);
      }, bytes.length);
      add(2, task, CONCAT, () => do_not_optimize(Buffer.concat(feed, bytes.length)), bytes.length);
    }
  }
}

// ---- 3: 30 KB cookie --------------------------------------------------------------------------------------

const BIG = fixture('nginx-fastcgi-big-header.bin');
scenario(3, `30 KB cookie (nginx-fastcgi-big-header.bin, ${BIG.length} B): bytes -> method, url, headers`,
  [N, J, F], STD_RATIOS);
{
  const heads = [];
  for (const codec of [nativeCodec, jsCodec]) {
    const c = cgiwireConnection(codec);
    const fn = () => {
      c.reset();
      c.reader.push(BIG);
      return c.decode(BUILD_HEAD).head;
    };
    heads.push(fn());
    add(3, 'framing + head', codec.name === 'native' ? N : J, () => do_not_optimize(fn()), BIG.length);
  }
  const f = fastcgiStreamConnection(fcgiHead);
  const ff = () => { f.reset(); f.push(BIG); return f.st.result; };
  heads.push(ff());
  add(3, 'framing + head', F, () => do_not_optimize(ff()), BIG.length);
  check('big header: cookie of 30000 B', heads[0].headers.cookie.length >= 30000);
  check('big header: heads agree', isDeepStrictEqual(heads[0], heads[1]) && heads[2].url === heads[0].url
    && sameRecord(heads[2].headers, heads[0].headers));
}

// ---- 4: encoding 1 MiB of STDOUT --------------------------------------------------------------------------

const MIB = xorshiftBytes(1 << 20, 0x9e3779b9);
scenario(4, 'Encoding a 1 MiB STDOUT response (records of 65528 B + the closing empty record)',
  [N, J, F, MEMCPY, ALLOC], [[J, N], [F, N], [F, J], [MEMCPY, N], [MEMCPY, J]], [
    'cgiwire: codec.encodeStream(6, 1, oneMiB, true): record headers + views of the payload (no copy)',
    'fastcgi-stream: writeRecord(1, new StdOut(view of 65528 B)) per record + writeRecord(1, new StdOut()) to close; '
      + 'its writer allocates a buffer per record and copies the payload into it (its own API has no other way)',
    'baselines: "memcpy" = oneMiB.copy(preallocated 1 MiB); "alloc + copy" = Buffer.from(oneMiB)',
  ]);
{
  const outs = [];
  for (const codec of [nativeCodec, jsCodec]) {
    const fn = () => codec.encodeStream(6, 1, MIB, true);
    const pieces = fn();
    check(`${codec.name} encode: payload pieces are views`, pieces.some((p) => p.buffer === MIB.buffer && p.length === 65528));
    outs.push(Buffer.concat(pieces));
    add(4, 'encode 1 MiB STDOUT', codec.name === 'native' ? N : J, () => do_not_optimize(fn()), MIB.length);
  }
  const f = fastcgiStreamConnection(null);
  const ff = () => {
    f.written.length = 0;
    for (let at = 0; at < MIB.length; at += 65528) {
      f.stream.writeRecord(1, new FR.StdOut(MIB.subarray(at, Math.min(at + 65528, MIB.length))));
    }
    f.stream.writeRecord(1, new FR.StdOut());
    return f.written;
  };
  outs.push(Buffer.concat(ff()));
  check('encode: native and js bytes agree', outs[0].equals(outs[1]));
  check('encode: fastcgi-stream bytes agree', outs[0].equals(outs[2]));
  add(4, 'encode 1 MiB STDOUT', F, () => do_not_optimize(ff()), MIB.length);
  const dst = Buffer.allocUnsafe(MIB.length);
  add(4, 'encode 1 MiB STDOUT', MEMCPY, () => do_not_optimize(MIB.copy(dst)), MIB.length);
  add(4, 'encode 1 MiB STDOUT', ALLOC, () => do_not_optimize(Buffer.from(MIB)), MIB.length);
}

// ---- 5: SCGI ----------------------------------------------------------------------------------------------

const SCGI = fixture('nginx-scgi-get.bin');
scenario(5, `SCGI request header (nginx-scgi-get.bin, ${SCGI.length} B): netstring + head (fastcgi-stream has no SCGI)`,
  [N, J], [[J, N]]);
{
  const heads = [];
  for (const codec of [nativeCodec, jsCodec]) {
    const fn = () => {
      const r = codec.createNetstringReader();
      r.push(SCGI);
      return codec.decodeScgiHeader(r.header).head;
    };
    heads.push(fn());
    const who = codec.name === 'native' ? N : J;
    add(5, 'NetstringReader push + decodeScgiHeader head', who, () => do_not_optimize(fn()));
    const r = codec.createNetstringReader();
    r.push(SCGI);
    const H = Buffer.from(r.header);
    add(5, 'NetstringReader (new per request) + push alone', who, () => {
      const reader = codec.createNetstringReader();
      reader.push(SCGI);
      return do_not_optimize(reader.header);
    });
    add(5, 'decodeScgiHeader alone, head', who, () => do_not_optimize(codec.decodeScgiHeader(H).head));
    add(5, 'decodeScgiHeader alone, BUILD_NOTHING (scan + validation)', who,
      () => do_not_optimize(codec.decodeScgiHeader(H, undefined, 0)));
  }
  check('scgi heads agree', isDeepStrictEqual(heads[0], heads[1]) && heads[0].method === 'GET');
}

// ---- 6: crossovers ------------------------------------------------------------------------------------------

scenario(6, 'Crossovers (for the lead)', [N, J, 'coalesced', 'views/native', 'views/js'],
  [[J, N], ['views/native', 'coalesced'], ['views/js', 'coalesced']], [
    '(i) core.writeStreamHeaders(out, 0, 6, 1, length, true) into a preallocated buffer',
    '(ii) the two paths of encodeStream re-implemented here: "coalesced" = allocUnsafe(header + payload + padding + '
      + 'closing header) + copy; "views" = allocUnsafe headers + core.writeStreamHeaders + header/payload/padding '
      + 'subarrays. Ratio views/coalesced > 1 means coalescing is faster. Not counted: the writev of 1 vs 3-4 pieces.',
    '(iii) core.decodePairs on the first N pairs of the nginx GET (raw scan into scratch), and decodeParams(...).head '
      + '(scan + strings + head object) on the same bytes',
    '(iv) one RecordReader.push of a 1400-byte chunk of a STDIN stream cut into records of 64392 B (8 + 64392 = 46 x '
      + '1400: one chunk in 46 carries a header), the per-chunk cost behind scenario 2\'s chunked rows',
  ]);
{
  // (i)
  for (const len of [1024, 65536, 256 << 10, 512 << 10, 1 << 20]) {
    const out = Buffer.allocUnsafe(8 * (Math.ceil(len / 65528) + 1));
    const label = `(i) writeStreamHeaders ${len >= 1 << 20 ? '1 MiB' : `${len / 1024} KiB`} (${Math.ceil(len / 65528) + 1} records)`;
    const r = [];
    for (const codec of [nativeCodec, jsCodec]) {
      const core = codec.core;
      r.push(core.writeStreamHeaders(out, 0, 6, 1, len, true), Buffer.from(out));
      add(6, label, codec.name === 'native' ? N : J, () => do_not_optimize(core.writeStreamHeaders(out, 0, 6, 1, len, true)));
    }
    check(`writeStreamHeaders ${len} agree`, r[0] === r[2] && r[1].equals(r[3]));
  }
  // (ii)
  const MAX = 65528;
  const PADDING = Array.from({ length: 8 }, (_, i) => Buffer.alloc(8).subarray(0, i));
  const paddingFor = (n) => (8 - (n & 7)) & 7;
  const coalesced = (type, requestId, payload, close) => {
    const length = payload.length;
    const pad = length === 0 ? 0 : paddingFor(length);
    const head = length === 0 ? 0 : 8;
    const out = Buffer.allocUnsafe(head + length + pad + (close ? 8 : 0));
    let at = 0;
    if (length !== 0) {
      writeHeader(out, 0, type, requestId, length, pad);
      payload.copy(out, 8);
      at = 8 + length;
      out.fill(0, at, at + pad);
      at += pad;
    }
    if (close) writeHeader(out, at, type, requestId, 0, 0);
    return [out];
  };
  const views = (core, type, requestId, payload, close) => {
    const length = payload.length;
    const records = Math.ceil(length / MAX) + (close ? 1 : 0);
    const headers = Buffer.allocUnsafe(8 * records);
    core.writeStreamHeaders(headers, 0, type, requestId, length, close);
    const pieces = [];
    let r = 0;
    for (let at = 0; at < length; at += MAX, r++) {
      const part = Math.min(MAX, length - at);
      pieces.push(headers.subarray(8 * r, 8 * r + 8), payload.subarray(at, at + part));
      const pad = paddingFor(part);
      if (pad !== 0) pieces.push(PADDING[pad]);
    }
    if (close) pieces.push(headers.subarray(8 * r, 8 * r + 8));
    return pieces;
  };
  for (const size of [256, 1024, 2048, 3072, 4000, 4096, 8192, 16384, 32768]) {
    const payload = xorshiftBytes(size, size);
    const label = `(ii) encode ${size % 1024 === 0 ? `${size / 1024} KiB` : `${size} B`}`;
    const a = Buffer.concat(coalesced(6, 1, payload, true));
    check(`coalesced/views ${size} agree`, a.equals(Buffer.concat(views(nativeCodec.core, 6, 1, payload, true)))
      && a.equals(Buffer.concat(views(jsCodec.core, 6, 1, payload, true)))
      && a.equals(Buffer.concat(nativeCodec.encodeStream(6, 1, payload, true))));
    add(6, label, 'coalesced', () => do_not_optimize(coalesced(6, 1, payload, true)), size);
    add(6, label, 'views/native', () => do_not_optimize(views(nativeCodec.core, 6, 1, payload, true)), size);
    add(6, label, 'views/js', () => do_not_optimize(views(jsCodec.core, 6, 1, payload, true)), size);
  }
  // (iii)
  const c = cgiwireConnection(jsCodec);
  c.reader.push(GET);
  const entries = c.decode(0).params.entries();
  check('28 entries', entries.length === 28);
  for (const n of [1, 2, 4, 8, 16, 28]) {
    const body = cg.encodePairBody(entries.slice(0, n), 'latin1');
    for (const codec of [nativeCodec, jsCodec]) {
      const core = codec.core;
      // decodeParams writes the limits into the core's scratch; direct decodePairs calls then reuse them.
      const prime = () => codec.decodeParams(body, 0, body.length, undefined, 0);
      prime();
      check(`decodePairs ${n}`, core.decodePairs(body, 0, body.length) === n);
      const who = codec.name === 'native' ? N : J;
      add(6, `(iii) decodePairs, ${n} pair${n > 1 ? 's' : ''} (${body.length} B)`, who, Object.assign(
        () => do_not_optimize(core.decodePairs(body, 0, body.length)), { before: prime }));
      add(6, `(iii) decodeParams head, ${n} pair${n > 1 ? 's' : ''}`, who,
        () => do_not_optimize(codec.decodeParams(body, 0, body.length, undefined, BUILD_HEAD).head));
    }
  }
}

{
  // (iv)
  const content = 64392;
  const record = Buffer.concat([recordHeader(RecordType.STDIN, 1, content, 0), xorshiftBytes(content, 7)]);
  const chunks = chunksOf(record, 1400);
  check('46 chunks', chunks.length === 46 && chunks.every((c) => c.length === 1400));
  for (const views of [false, true]) {
    for (const codec of [nativeCodec, jsCodec]) {
      const c = cgiwireConnection(codec, { views });
      if (!views && !POSITIONS_API) continue;
      let i = 0;
      const fn = () => {
        c.reader.push(chunks[i]);
        if (++i === chunks.length) i = 0;
        return do_not_optimize(c.st.lastBody);
      };
      for (let k = 0; k < chunks.length; k++) fn();
      check(`(iv) ${codec.name} body`, c.st.body === content);
      add(6, `(iv) push one 1400-byte STDIN chunk${views ? ', with a view' : ', positions only'}`,
        codec.name === 'native' ? N : J, fn, 1400);
    }
  }
}

// ---- 7: floors, and the output of the PERF-NOTES prototype ------------------------------------------------------

scenario(7, 'Calibration: the floors PERF-NOTES measured, and its prototype\'s output, on this machine now', [N, J],
  [[J, N]], [
    'PERF-NOTES measured, on the machine its figures come from: an empty N-API call with a Buffer argument 47 ns; '
      + 'one latin1Slice of the params body about 90 ns; fastcgi-stream on the nginx GET about 12.5 us; and a prototype '
      + 'that turned the PARAMS body into method, url and headers in about 0.54 us (native) and 1.6-1.7 us (TypeScript).',
    '(i) the cheapest call into the addon: scanRecords on an empty Buffer (one napi_get_cb_info, one buffer lookup)',
    '(ii) latin1Slice of the nginx GET\'s PARAMS body (896 B): what making its one string costs',
    '(iii) core.decodePairsText alone: the pair walk, the known-name ids and that string, in one call',
    '(iv) the prototype\'s output from the same call: a literal {method, url, headers} built for this shape with '
      + 'substrings, no rawHeaders, no connection values, no Params object; (v) decodeParams(...).head, what the '
      + 'server builds (scenario 1c), for the difference',
  ]);
{
  const c = cgiwireConnection(jsCodec);
  c.reader.push(GET);
  const P = c.paramsCopy();
  const EMPTY = Buffer.alloc(0);
  const { SCRATCH_BEGIN, SCRATCH_PAIRS, SCRATCH_SHAPE_ID } = await import(new URL('../dist/codec/core.js', import.meta.url).href);
  const binding = nativeCodec.core.binding; // the addon's functions (private to NativeCore; read here only)
  check('the addon is reachable', typeof binding?.scanRecords === 'function');
  // scanRecords reads its start offset from scratch: 0 here, whatever an earlier case left there.
  add(7, '(i) an N-API call with a Buffer argument, nothing to do', N, Object.assign(
    () => do_not_optimize(binding.scanRecords(EMPTY)), { before: () => { nativeCodec.core.scratch[SCRATCH_BEGIN] = 0; } }));
  add(7, '(ii) latin1Slice of the PARAMS body', N, () => do_not_optimize(P.latin1Slice(0, P.length)));
  for (const codec of [nativeCodec, jsCodec]) {
    const core = codec.core;
    const who = codec.name === 'native' ? N : J;
    const prime = () => codec.decodeParams(P, 0, P.length, undefined, BUILD_HEAD);
    for (let i = 0; i < 3; i++) prime(); // the shape is registered: decodes report its index
    const ids = codec.decodeParams(P, 0, P.length, undefined, 0).params.entries().map(([n]) => n);
    const at = (name) => ids.indexOf(name);
    const shape = (prime(), core.scratch[SCRATCH_SHAPE_ID]);
    const slots = { method: at('REQUEST_METHOD'), url: at('REQUEST_URI'), host: at('HTTP_HOST'), ua: at('HTTP_USER_AGENT'),
      accept: at('HTTP_ACCEPT'), lang: at('HTTP_ACCEPT_LANGUAGE'), enc: at('HTTP_ACCEPT_ENCODING'), ref: at('HTTP_REFERER'),
      cookie: at('HTTP_COOKIE'), up: at('HTTP_UPGRADE_INSECURE_REQUESTS') };
    check('the prototype\'s names are all there', Object.values(slots).every((i) => i >= 0) && shape !== 0);
    const prototype = () => {
      const s = core.decodePairsText(P, 0, P.length);
      const e = core.scratch;
      if (typeof s !== 'string' || e[SCRATCH_SHAPE_ID] !== shape) throw new Error('not the registered shape');
      const v = (i) => s.substring(e[SCRATCH_PAIRS + 4 * i + 1], e[SCRATCH_PAIRS + 4 * i + 1] + e[SCRATCH_PAIRS + 4 * i + 2]);
      return { method: v(slots.method), url: v(slots.url), headers: { host: v(slots.host), 'user-agent': v(slots.ua),
        accept: v(slots.accept), 'accept-language': v(slots.lang), 'accept-encoding': v(slots.enc), referer: v(slots.ref),
        cookie: v(slots.cookie), 'upgrade-insecure-requests': v(slots.up) } };
    };
    const head = prime().head;
    const mine = prototype();
    check(`${codec.name}: the prototype's output is the server's`, mine.method === head.method && mine.url === head.url
      && isDeepStrictEqual(mine.headers, head.headers));
    add(7, '(iii) core.decodePairsText alone', who, Object.assign(() => do_not_optimize(core.decodePairsText(P, 0, P.length)),
      { before: prime }));
    add(7, '(iv) the prototype\'s output: method, url, headers', who, Object.assign(() => do_not_optimize(prototype()),
      { before: prime }));
    add(7, '(v) decodeParams(...).head, the server\'s (scenario 1c)', who,
      () => do_not_optimize(codec.decodeParams(P, 0, P.length, undefined, BUILD_HEAD).head));
  }
}

// ---- running ------------------------------------------------------------------------------------------------

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmtTime = (ns) => (ns < 1e3 ? `${ns.toFixed(ns < 100 ? 1 : 0)} ns`
  : ns < 1e6 ? `${(ns / 1e3).toFixed(ns < 1e4 ? 2 : 1)} us` : `${(ns / 1e6).toFixed(2)} ms`);
const fmtOps = (ns) => {
  const ops = 1e9 / ns;
  return ops >= 1e6 ? `${(ops / 1e6).toFixed(2)}M/s` : ops >= 1e3 ? `${(ops / 1e3).toFixed(1)}k/s` : `${ops.toFixed(0)}/s`;
};
const fmtRatio = (r) => `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}x`;

// Batches of 256 calls keep a sample short (under 1 ms up to 4 us per call), so most samples fall between the
// scheduler's interruptions on a shared machine and the p50 stays clean.
const opts = () => ({ min_cpu_time: TIME_MS * 1e6, batch_samples: 256, min_samples: 12 });
const started = process.hrtime.bigint();
const lines = [];
const out = (s = '') => { lines.push(s); console.log(s); };

out(`# cgiwire codec benchmark`);
out(`machine: ${machine.cpu}, ${machine.cores} cores | ${machine.platform}`);
out(`node ${machine.node} (V8 ${machine.v8}) | mitata ${machine.mitata} | fastcgi-stream ${machine.fastcgiStream} | `
  + `cgiwire ${machine.cgiwire}, native built ${machine.nativeBuilt}`);
out(`RecordReader callback: ${POSITIONS_API ? '(type, id, buf, offset, length) positions' : '(type, id, content) views'}`);
out(`date ${machine.date} | load average at start ${machine.loadStart} | ${ROUNDS} rounds x ${TIME_MS} ms per case, `
  + `in rotating order; figure = median over rounds of mitata's p50; ± = half the range over rounds, in % of the median; `
  + `best = the fastest round (the nearest to a quiet machine when other processes compete for the cores)`);

for (const sc of scenarios.values()) {
  if (ONLY && !ONLY.has(sc.id)) continue;
  const cases = sc.cases;
  // Warm-up: JIT and the shape cache.
  for (const c of cases) {
    c.fn.before?.();
    const until = performance.now() + Math.max(20, TIME_MS / 5);
    for (let i = 0; i < 200 || performance.now() < until; i++) c.fn();
  }
  for (let round = 0; round < ROUNDS; round++) {
    // Rotate the order each round so no case always runs first or after the same neighbour.
    for (let k = 0; k < cases.length; k++) {
      const c = cases[(k + round * Math.max(1, Math.floor(cases.length / ROUNDS))) % cases.length];
      c.fn.before?.();
      const stats = await measure(c.fn, opts());
      c.rounds.push(stats.p50);
    }
  }
  for (const c of cases) {
    c.ns = median(c.rounds);
    c.best = Math.min(...c.rounds);
    c.spread = (Math.max(...c.rounds) - c.best) / c.ns;
  }
  printScenario(sc);
}

function printScenario(sc) {
  const tasks = [...new Set(sc.cases.map((c) => c.task))];
  const cols = sc.columns.filter((w) => sc.cases.some((c) => c.who === w));
  const ratios = sc.ratios.filter(([a, b]) => cols.includes(a) && cols.includes(b));
  const get = (task, who) => sc.cases.find((c) => c.task === task && c.who === who);
  out();
  out(`## ${sc.id}. ${sc.title}`);
  for (const n of sc.notes) out(`- ${n}`);
  out();
  out(`| task | ${cols.map((w) => `${w} (time, ops/s)`).join(' | ')} | ${ratios.map(([a, b]) => `${a} / ${b}`).join(' | ')} |`);
  out(`|---|${cols.map(() => '---:').join('|')}|${ratios.map(() => '---:').join('|')}|`);
  for (const task of tasks) {
    const cells = cols.map((w) => {
      const c = get(task, w);
      if (!c) return '';
      const gbps = c.bytes / c.ns; // bytes per ns = GB/s
      const mbps = c.bytes ? `, ${gbps >= 1 ? `${gbps.toFixed(1)} GB/s` : `${(gbps * 1e3).toFixed(0)} MB/s`}` : '';
      return `${fmtTime(c.ns)} (${fmtOps(c.ns)}${mbps}) ±${(c.spread * 50).toFixed(0)}%, best ${fmtTime(c.best)}`;
    });
    const rs = ratios.map(([a, b]) => {
      const ca = get(task, a), cb = get(task, b);
      return ca && cb ? fmtRatio(ca.ns / cb.ns) : '';
    });
    out(`| ${task} | ${cells.join(' | ')} | ${rs.join(' | ')} |`);
  }
  out(`(ratios of medians; a / b = time of a divided by time of b: above 1 means b is faster)`);
}

// ---- targets ------------------------------------------------------------------------------------------------

const caseOf = (id, taskPrefix, who) => {
  const cases = scenarios.get(id)?.cases ?? [];
  return cases.find((c) => c.task === taskPrefix && c.who === who)
    ?? cases.find((c) => c.task.startsWith(taskPrefix) && c.who === who);
};
const ns = (id, taskPrefix, who) => caseOf(id, taskPrefix, who)?.ns;
const best = (id, taskPrefix, who) => caseOf(id, taskPrefix, who)?.best;
const targets = [];
function target(text, value, ok) {
  if (value === undefined || Number.isNaN(value)) return;
  targets.push({ text, value, hit: ok });
}
{
  const bN = ns(1, '(b)', N), bJ = ns(1, '(b)', J), bF = ns(1, '(b)', F), aN = ns(1, '(a)', N);
  const bestOf = (id, t, who) => `best round ${fmtTime(best(id, t, who))}`;
  if (bN !== undefined) {
    target('GET bytes -> method/url/headers, native <= 0.8 us', `${fmtTime(bN)} (${bestOf(1, '(b)', N)})`, bN <= 800);
    target('GET bytes -> method/url/headers, native >= 15x fastcgi-stream', fmtRatio(bF / bN), bF / bN >= 15);
    target('GET bytes -> method/url/headers, native >= 2x the TypeScript twin', fmtRatio(bJ / bN), bJ / bN >= 2);
    target('GET bytes -> method/url/headers, TypeScript twin <= 2.5 us', `${fmtTime(bJ)} (${bestOf(1, '(b)', J)})`, bJ <= 2500);
    target('GET all 28 params as strings, native <= 1 us', `${fmtTime(aN)} (${bestOf(1, '(a)', N)})`, aN <= 1000);
  }
  const whole = ns(2, '64 KiB POST, whole', COPY);
  for (const how of ['whole', '1400-byte chunks', 'whole, positions only', '1400-byte chunks, positions only']) {
    const base = ns(2, `64 KiB POST, ${how}`, COPY); // copying the same bytes once, into a preallocated buffer
    for (const who of [N, J]) {
      const t = ns(2, `64 KiB POST, ${how}`, who);
      if (t === undefined) continue;
      target(`scan 64 KiB POST (${how}), ${who}, faster than copying the same ${how.startsWith('whole') ? 'buffer' : 'chunks'} `
        + `once (${fmtTime(base)})`, `${fmtTime(t)}, ${fmtRatio(base / t)}`, t < base);
      if (!how.startsWith('whole')) {
        target(`scan 64 KiB POST (${how}), ${who}, faster than one memcpy of the whole input (${fmtTime(whole)})`,
          `${fmtTime(t)}, ${fmtRatio(whole / t)}`, t < whole);
      }
    }
  }
  const eN = ns(4, 'encode', N), eJ = ns(4, 'encode', J);
  if (eN !== undefined) {
    target('encode 1 MiB STDOUT without copying the payload, about 2 us (hit: views and <= 2.5 us), native',
      `${fmtTime(eN)} (${bestOf(4, 'encode', N)})`, eN <= 2500);
    target('encode 1 MiB STDOUT without copying the payload, about 2 us (hit: views and <= 2.5 us), js',
      `${fmtTime(eJ)} (${bestOf(4, 'encode', J)})`, eJ <= 2500);
  }
}
if (targets.length) {
  out();
  out('## Targets');
  for (const t of targets) out(`- ${t.hit ? 'HIT ' : 'MISS'} ${t.text}: ${t.value}`);
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
machine.loadEnd = os.loadavg().map((x) => x.toFixed(2)).join(' ');
out();
out(`run time ${seconds.toFixed(0)} s; load average at end ${machine.loadEnd}`);

if (JSON_PATH) {
  const data = {
    machine, recordCallback: POSITIONS_API ? 'positions' : 'views', rounds: ROUNDS, timeMs: TIME_MS, seconds: Math.round(seconds),
    cases: [...scenarios.values()].flatMap((sc) => sc.cases.filter((c) => c.ns !== undefined).map((c) => ({
      scenario: sc.id, task: c.task, who: c.who, ns: Math.round(c.ns * 10) / 10, best: Math.round(c.best * 10) / 10,
      rounds: c.rounds.map((r) => Math.round(r * 10) / 10), ...(c.bytes ? { bytes: c.bytes } : {}),
    }))),
    targets,
  };
  fs.mkdirSync(path.dirname(JSON_PATH), { recursive: true });
  // One line per case keeps the file small and diffable.
  const text = JSON.stringify({ ...data, cases: '@cases' }, null, 1)
    .replace('"@cases"', `[\n${data.cases.map((c) => `  ${JSON.stringify(c)}`).join(',\n')}\n ]`);
  fs.writeFileSync(JSON_PATH, text + '\n');
  console.log(`raw numbers: ${path.relative(process.cwd(), JSON_PATH)}`);
}
