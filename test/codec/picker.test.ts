/**
 * The picker (lib/codec/index.ts): createCodec by name, the CGIWIRE_CODEC switch, and loading the codec module
 * more than once in one process. Tests that reload the module come last: they replace module state.
 */
import { afterEach, describe, expect, test, vi } from 'vitest';
import { Codec, createCodec, encodePairBody } from '../../lib/index.js';
import { CODECS } from '../helpers/codecs.js';

type Lib = typeof import('../../lib/index.js');
const body = encodePairBody([['A', 'b'], ['REQUEST_URI', '/x']]);

async function freshLib(env: string | undefined): Promise<Lib> {
  const saved = process.env.CGIWIRE_CODEC;
  if (env === undefined) delete process.env.CGIWIRE_CODEC; else process.env.CGIWIRE_CODEC = env;
  try {
    vi.resetModules();
    return (await import('../../lib/index.js')) as Lib;
  } finally {
    if (saved === undefined) delete process.env.CGIWIRE_CODEC; else process.env.CGIWIRE_CODEC = saved;
  }
}

describe.each(CODECS)('$name codec', ({ name, codec }) => {
  test('createCodec(name) gives a Codec over that core, which decodes', () => {
    expect(codec).toBeInstanceOf(Codec);
    expect(codec.name).toBe(name);
    expect(codec.core.name).toBe(name);
    expect(createCodec(name).name).toBe(name);
    expect(codec.decodeParams(body).params.entries()).toEqual([['A', 'b'], ['REQUEST_URI', '/x']]);
  });
});

describe('module loading (reloads lib)', () => {
  afterEach(() => vi.resetModules());

  test.each(['js', 'native'] as const)('CGIWIRE_CODEC=%s forces that codec', async (forced) => {
    const lib = await freshLib(forced);
    expect(lib.codecName).toBe(forced);
    expect(lib.codec.name).toBe(forced);
    expect(lib.codec.decodeParams(body).head!.url).toBe('/x');
  });

  test('CGIWIRE_CODEC unset picks the native codec when the addon loads', async () => {
    const lib = await freshLib(undefined);
    expect(lib.codecName).toBe('native');
    expect(lib.nativeLoadError).toBeUndefined();
  });

  test('any other CGIWIRE_CODEC value is ERR_CGIWIRE_BAD_CODEC at load', async () => {
    await expect(freshLib('fast')).rejects.toMatchObject({ code: 'ERR_CGIWIRE_BAD_CODEC' });
  });

  test('loading the codec module a second time in one process does not break native codecs created before it', async () => {
    const before = (await freshLib('native')).createCodec('native');
    expect(before.decodeParams(body).params.entries()).toEqual([['A', 'b'], ['REQUEST_URI', '/x']]);
    const lib = await freshLib('native');
    const after = lib.createCodec('native');
    expect(after.decodeParams(body).params.entries()).toEqual([['A', 'b'], ['REQUEST_URI', '/x']]);
    // A body of another shape than the last one decoded, so stale scratch words cannot pass for results.
    const other = encodePairBody([['X', 'yz'], ['Q', ''], ['R', 's']]);
    expect(before.decodeParams(other).params.entries()).toEqual([['X', 'yz'], ['Q', ''], ['R', 's']]);
    const got: number[] = [];
    const reader = before.createRecordReader((t) => { got.push(t); });
    let result: unknown;
    try { result = reader.push(Buffer.from([1, 5, 0, 1, 0, 1, 0, 0, 0x41, 1, 5, 0, 1, 0, 0, 0, 0])); } catch (err) { result = err; }
    expect(result).toBeNull();
    expect(got).toEqual([5, 5]);
  });
});
