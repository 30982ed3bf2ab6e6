/**
 * Registered shapes (CodecCore.registerShape): a decode says which registered sequence of known-name ids it
 * produced, on both cores, for FastCGI pairs and SCGI headers; and heads stay right past the core's capacity.
 */
import { afterEach, describe, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { clearShapeCache, DEFAULT_PARAMS_LIMITS, encodePairBody, encodeScgiHeader } from '../../lib/index.js';
import { SCRATCH_PAIRS, SCRATCH_SHAPE_ID, SHAPE_CAPACITY, type CodecCore } from '../../lib/codec/core.js';
import { setLimits } from '../../lib/codec/params.js';
import { KNOWN_NAMES } from '../../lib/codec/known-names.js';
import { CODECS } from '../helpers/codecs.js';

const id = (name: string): number => KNOWN_NAMES.indexOf(name) + 1;

/** Decodes FastCGI pairs with `core` and returns [pair count, scratch shape id, the ids decoded]. */
function decode(core: CodecCore, pairs: [string, string][]): [number, number, number[]] {
  const body = encodePairBody(pairs);
  setLimits(core, DEFAULT_PARAMS_LIMITS);
  const n = core.decodePairs(body, 0, body.length);
  const ids = Array.from({ length: Math.max(n, 0) }, (_, i) => core.scratch[SCRATCH_PAIRS + 4 * i + 3] >>> 16);
  return [n, core.scratch[SCRATCH_SHAPE_ID], ids];
}

afterEach(() => clearShapeCache());

describe.each(CODECS)('$name codec: registered shapes', ({ codec }) => {
  const core = codec.core;
  const A: [string, string][] = [['REQUEST_METHOD', 'GET'], ['X_UNKNOWN', '1'], ['HTTP_HOST', 'h']];
  const B: [string, string][] = [['HTTP_HOST', 'h'], ['REQUEST_METHOD', 'GET'], ['X_UNKNOWN', '1']];

  test('a decode reports the index of the registered sequence it produced, and 0 for any other', () => {
    core.forgetShapes();
    const [, before, idsA] = decode(core, A);
    expect(before).toBe(0);
    expect(idsA).toEqual([id('REQUEST_METHOD'), 0, id('HTTP_HOST')]);
    const a = core.registerShape(Uint16Array.from(idsA));
    expect(a).toBe(1);
    expect(core.registerShape(Uint16Array.from(idsA))).toBe(1);
    expect(decode(core, A)[1]).toBe(1);
    // Other values, same names in the same order: the same shape.
    expect(decode(core, [['REQUEST_METHOD', 'POST'], ['X_OTHER', ''], ['HTTP_HOST', 'x'.repeat(300)]])[1]).toBe(1);
    expect(decode(core, B)[1]).toBe(0);
    expect(decode(core, A.slice(0, 2))[1]).toBe(0);
    const b = core.registerShape(Uint16Array.from(decode(core, B)[2]));
    expect(b).toBe(2);
    expect(decode(core, B)[1]).toBe(2);
    expect(decode(core, A)[1]).toBe(1);
    core.forgetShapes();
    expect(decode(core, A)[1]).toBe(0);
  });

  test('SCGI headers report their shape too', () => {
    core.forgetShapes();
    const header = encodeScgiHeader(0, [['REQUEST_METHOD', 'GET'], ['HTTP_HOST', 'h']]);
    const body = header.subarray(header.indexOf(0x3a) + 1, header.length - 1);
    setLimits(core, DEFAULT_PARAMS_LIMITS);
    const n = core.decodeScgiHeaders(body, 0, body.length);
    expect(n).toBe(4);
    expect(core.scratch[SCRATCH_SHAPE_ID]).toBe(0);
    const ids = Uint16Array.from({ length: n }, (_, i) => core.scratch[SCRATCH_PAIRS + 4 * i + 3] >>> 16);
    const index = core.registerShape(ids);
    expect(core.decodeScgiHeaders(body, 0, body.length)).toBe(4);
    expect(core.scratch[SCRATCH_SHAPE_ID]).toBe(index);
  });

  test(`a core remembers ${SHAPE_CAPACITY} shapes and refuses more`, () => {
    core.forgetShapes();
    for (let i = 0; i < SHAPE_CAPACITY; i++) expect(core.registerShape(Uint16Array.of(i, 1))).toBe(i + 1);
    expect(core.registerShape(Uint16Array.of(9999))).toBe(0);
    expect(core.registerShape(Uint16Array.of(5, 1))).toBe(6);
    core.forgetShapes();
    expect(core.registerShape(Uint16Array.of(9999))).toBe(1);
    core.forgetShapes();
  });

  test(`heads stay right with more shapes than the core remembers (${SHAPE_CAPACITY + 6} locations, each seen 3 times)`, () => {
    clearShapeCache();
    const names = KNOWN_NAMES.filter((n) => n.startsWith('HTTP_') && n !== 'HTTP_CONTENT_TYPE' && n !== 'HTTP_CONTENT_LENGTH');
    for (let round = 0; round < 3; round++) {
      for (let s = 0; s < SHAPE_CAPACITY + 6; s++) {
        // Shape s: a distinct subset of known header names, in a distinct order, plus the method and URI.
        const chosen = names.filter((_, i) => ((s + 1) >> (i % 7)) & 1 || i === s % names.length);
        const pairs: [string, string][] = [['REQUEST_URI', `/s${s}`], ...chosen.map((n, i): [string, string] => [n, `v${s}.${i}`]),
          ['REQUEST_METHOD', 'PUT']];
        const body = encodePairBody(pairs);
        const { head } = codec.decodeParams(body);
        const want = Object.fromEntries(chosen.map((n, i) => [n.slice(5).toLowerCase().replaceAll('_', '-'), `v${s}.${i}`]));
        expect(head?.url).toBe(`/s${s}`);
        expect(head?.method).toBe('PUT');
        expect(head?.headers).toEqual(want);
      }
    }
  });

  test('a builder is never used for another shape after the core forgets its shapes directly', () => {
    const A: [string, string][] = [['REQUEST_METHOD', 'GET'], ['REQUEST_URI', '/a'], ['HTTP_HOST', 'a.example']];
    const B: [string, string][] = [['HTTP_USER_AGENT', 'ua'], ['REQUEST_URI', '/b'], ['REQUEST_METHOD', 'POST'], ['HTTP_ACCEPT', '*/*']];
    for (let i = 0; i < 3; i++) codec.decodeParams(encodePairBody(A));
    core.forgetShapes(); // index 1 is handed out again, to B
    for (let i = 0; i < 3; i++) {
      const head = codec.decodeParams(encodePairBody(B)).head!;
      expect({ method: head.method, url: head.url, headers: head.headers })
        .toEqual({ method: 'POST', url: '/b', headers: { 'user-agent': 'ua', accept: '*/*' } });
    }
    expect(codec.decodeParams(encodePairBody(A)).head?.headers).toEqual({ host: 'a.example' });
  });
});

test('two copies of the codec module sharing the native core keep its shapes after clearShapeCache', async () => {
  // A second copy of the built package (as a bundler or a test runner that reloads modules may make): both
  // copies use the thread's one native core. Alternating between them must not clear its shapes each time.
  const dist = path.resolve('dist');
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'cgiwire-copy-'));
  try {
    fs.cpSync(dist, path.join(copy, 'dist'), { recursive: true });
    fs.symlinkSync(path.resolve('node_modules'), path.join(copy, 'node_modules'));
    // The addon, wherever this checkout has it (a build from source, or the prebuild CI makes).
    for (const dir of ['build', 'prebuilds']) if (fs.existsSync(dir)) fs.symlinkSync(path.resolve(dir), path.join(copy, dir));
    fs.copyFileSync(path.resolve('package.json'), path.join(copy, 'package.json'));
    const a = await import(path.join(dist, 'index.js'));
    const b = await import(path.join(copy, 'dist', 'index.js'));
    const ca = a.createCodec('native'), cb = b.createCodec('native');
    expect(ca.core).toBe(cb.core);
    a.clearShapeCache();
    const body = encodePairBody([['REQUEST_METHOD', 'GET'], ['REQUEST_URI', '/x'], ['HTTP_HOST', 'h']]);
    const ids: number[] = [];
    for (let i = 0; i < 10; i++) {
      const { head } = (i % 2 ? cb : ca).decodeParams(body);
      expect(head.url).toBe('/x');
      ids.push(ca.core.scratch[SCRATCH_SHAPE_ID]);
    }
    expect(ids.slice(3).every((v) => v !== 0)).toBe(true);
  } finally {
    fs.rmSync(copy, { recursive: true, force: true });
  }
});
