/**
 * Every FastCGI capture in test/fixtures read whole, one byte at a time, and split in two at every offset (for
 * files over 20 KiB: every offset in the first and last 2 KiB and 300 seeded random ones), with the same result
 * each way: that of a reference parse that does not use the library. (SCGI captures: fixtures.test.ts.)
 */
import { describe, expect, test } from 'vitest';
import { CODECS } from '../helpers/codecs.js';
import { byteByByte, diffResults, expectedResult, parseRecords, readAll, splitAt, splitOffsets, verifyRead, whole } from '../helpers/fcgi.js';
import { listFixtures } from '../helpers/fixtures.js';
import { Rng, suiteSeed } from '../helpers/prng.js';

const SEED = suiteSeed();
const FASTCGI = listFixtures().filter((f) => f.protocol === 'fastcgi');

function fileSeed(file: string): number {
  let h = SEED;
  for (let i = 0; i < file.length; i++) h = Math.imul(h ^ file.charCodeAt(i), 16777619) >>> 0;
  return h;
}

test('there are FastCGI captures to read', () => {
  expect(FASTCGI.length).toBeGreaterThanOrEqual(48);
});

describe.each(CODECS)('$name codec', ({ codec }) => {
  describe.each(FASTCGI)('FastCGI capture $file', (fx) => {
    const expected = expectedResult(fx.bytes);
    const { records } = parseRecords(fx.bytes);

    test('the reference parse takes the whole file as complete records', () => {
      const { error, rest, records } = parseRecords(fx.bytes);
      expect(error).toBeNull();
      expect(rest).toBe(0);
      expect(records.length).toBeGreaterThan(1);
    });

    test('read whole: same records and stream bytes as the reference parse', () => {
      expect(diffResults(readAll(codec, whole(fx.bytes)), expected)).toBeNull();
      expect(verifyRead(codec, whole(fx.bytes), records)).toBeNull();
    });

    test('read one byte at a time: every record delivered in order with its bytes', () => {
      expect(verifyRead(codec, byteByByte(fx.bytes), records)).toBeNull();
    });

    test(`split in two at every offset: every record delivered in order with its bytes (seed ${SEED})`, () => {
      const rng = new Rng(fileSeed(fx.file));
      const failures: string[] = [];
      for (const at of splitOffsets(fx.bytes.length, (n) => rng.int(n))) {
        const d = verifyRead(codec, splitAt(fx.bytes, at), records);
        if (d !== null && failures.push(`at ${at}: ${d}`) >= 5) break;
      }
      expect(failures).toEqual([]);
    });
  });
});
