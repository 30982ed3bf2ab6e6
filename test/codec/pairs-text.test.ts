import { describe, expect, test } from 'vitest';
import { CODECS } from '../helpers/codecs.js';
import { SCRATCH_COUNT, SCRATCH_PAIRS } from '../../lib/codec/core.js';
import { encodePairBody } from '../../lib/codec/encode.js';

describe.each(CODECS)('decodePairsText ($name)', ({ codec }) => {
  const core = codec.core;
  const setLimits = (bytes: number) => core.scratch.set([bytes, 512, 1024, 65536], 0);

  test('gives the pairs decodePairs gives, the count in scratch, and the latin1 text of exactly the range', () => {
    const body = encodePairBody([['REQUEST_METHOD', 'GET'], ['HTTP_X_NAME', Buffer.from('caf\u00e9', 'utf8')], ['Z', '']]);
    const buf = Buffer.concat([Buffer.from('xx'), body, Buffer.from('yy')]);
    setLimits(1 << 20);
    const n = core.decodePairs(buf, 2, 2 + body.length);
    const pairs = Array.from(core.scratch.subarray(SCRATCH_PAIRS, SCRATCH_PAIRS + 4 * n));
    const text = core.decodePairsText(buf, 2, 2 + body.length);
    expect(text).toBe(body.toString('latin1'));
    expect(core.scratch[SCRATCH_COUNT]).toBe(n);
    expect(Array.from(core.scratch.subarray(SCRATCH_PAIRS, SCRATCH_PAIRS + 4 * n))).toEqual(pairs);
  });

  test('returns the negative code, not a string, on bad bytes or a crossed limit', () => {
    setLimits(1 << 20);
    expect(core.decodePairsText(Buffer.from([5, 0, 65]), 0, 3)).toBe(-10); // ERR_FASTCGI_PAIRS_TRUNCATED
    setLimits(2);
    expect(core.decodePairsText(Buffer.from([1, 1, 65, 66]), 0, 4)).toBe(-11); // ERR_FASTCGI_PARAMS_TOO_LARGE
  });
});
