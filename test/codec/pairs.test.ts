/**
 * Name-value pairs (FastCGI 1.0, section 3.4): golden bytes of both length encodings, decoding back, the
 * known-name table, truncation, every ParamsLimits field, and the Params accessors.
 */
import { describe, expect, test } from 'vitest';
import {
  CgiwireError, DEFAULT_PARAMS_LIMITS, LimitError, FastCgiProtocolError, encodePairBody, type ParamsLimits,
} from '../../lib/index.js';
import { KNOWN_NAMES } from '../../lib/codec/known-names.js';
import { CODECS } from '../helpers/codecs.js';
import { pairBytes } from '../helpers/fcgi.js';
import { DEFAULTS, MAX_U31, rawDecodePairs, thrownCode } from '../helpers/pairs.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const limits = (o: Partial<ParamsLimits>): ParamsLimits => ({ ...DEFAULT_PARAMS_LIMITS, ...o });

describe.each(CODECS)('$name codec: golden bytes of encodePairBody (1-byte lengths below 128, else 4 bytes with the high bit set), decoded back', ({ codec }) => {
  /** encodePairBody wrote exactly `want`, and this codec decodes `want` back to the pairs. */
  const golden = (pairs: [string | Uint8Array, string | Uint8Array][], want: Buffer, encoding?: BufferEncoding): void => {
    expect(encodePairBody(pairs, encoding).toString('hex')).toBe(want.toString('hex'));
    const text = (p: string | Uint8Array): string => (typeof p === 'string' ? Buffer.from(p, encoding ?? 'utf8') : Buffer.from(p)).toString('latin1');
    expect(codec.decodeParams(want, 0, want.length, limits({ maxParamValueLength: 1 << 20, maxParamsBytes: 1 << 20 })).params.entries())
      .toEqual(pairs.map(([n, v]) => [text(n), text(v)]));
  };

  test('lengths 0 and 0: two zero bytes', () => {
    golden([['', '']], hex('00 00'));
  });

  test('length 127 is one byte 7f', () => {
    const n = 'n'.repeat(127), v = 'v'.repeat(127);
    golden([[n, v]], Buffer.concat([hex('7f 7f'), Buffer.from(n + v)]));
  });

  test('length 128 is four bytes 80 00 00 80', () => {
    const n = 'n'.repeat(128), v = 'v'.repeat(128);
    golden([[n, v]], Buffer.concat([hex('80000080 80000080'), Buffer.from(n + v)]));
    golden([['N', v]], Buffer.concat([hex('01 80000080'), Buffer.from('N' + v)]));
  });

  test('larger lengths are big-endian: 300 is 80 00 01 2c, 70000 is 80 01 11 70', () => {
    const n = 'n'.repeat(300), v = Buffer.alloc(70000, 0x76);
    golden([[n, v]], Buffer.concat([hex('8000012c 80011170'), Buffer.from(n), v]));
  });

  test('several pairs follow each other; bytes are kept as given (Uint8Array) or encoded (string, utf8 by default)', () => {
    golden([['A', 'b'], [new Uint8Array([0xff, 0x00]), 'é']], hex('01 01 41 62  02 02 ff00 c3a9'));
    golden([['A', 'é']], hex('01 01 41 e9'), 'latin1');
  });
});

describe.each(CODECS)('$name codec: pairs', ({ codec }) => {
  test('golden bodies decode back to their pairs (lengths 0, 127, 128 and more)', () => {
    const cases: [string, string][][] = [
      [['', '']],
      [['n'.repeat(127), 'v'.repeat(127)]],
      [['n'.repeat(128), 'v'.repeat(128)]],
      [['N', 'v'.repeat(128)], ['n'.repeat(128), ''], ['', 'x']],
      [['n'.repeat(1000), 'v'.repeat(60000)]],
    ];
    for (const pairs of cases) {
      const body = encodePairBody(pairs);
      expect(codec.decodeParams(body).params.entries()).toEqual(pairs);
    }
  });

  test('a 4-byte length may encode a small number (00..7f) and is accepted', () => {
    const body = Buffer.concat([
      pairBytes('abc', 'de', { name: true, value: true }),
      pairBytes('', '', { name: true, value: true }),
      pairBytes('n'.repeat(127), 'v', { name: true }),
    ]);
    expect(body.subarray(0, 8)).toEqual(hex('80000003 80000002'));
    expect(codec.decodeParams(body).params.entries()).toEqual([['abc', 'de'], ['', ''], ['n'.repeat(127), 'v']]);
  });

  test('declared length 2^31-1 (ff ff ff ff) in a short buffer: VALUE_TOO_LONG / NAME_TOO_LONG under the default limits', () => {
    const value = hex('01 ffffffff 41 42 43');
    const name = hex('ffffffff 01 41 42 43');
    expect(rawDecodePairs(codec, value).n).toBe(-14);
    expect(rawDecodePairs(codec, name).n).toBe(-13);
    expect(thrownCode(() => codec.decodeParams(value))).toBe('ERR_FASTCGI_PARAM_VALUE_TOO_LONG');
    expect(thrownCode(() => codec.decodeParams(name))).toBe('ERR_FASTCGI_PARAM_NAME_TOO_LONG');
  });

  test('declared value length 2^31-1 with the limits raised to 2^31-1: ERR_FASTCGI_PAIRS_TRUNCATED', () => {
    const value = hex('01 ffffffff 41 42 43');
    expect(rawDecodePairs(codec, value, [MAX_U31, MAX_U31, MAX_U31, MAX_U31]).n).toBe(-10);
    expect(rawDecodePairs(codec, value, [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff]).n).toBe(-10);
    const raised = limits({ maxParamsBytes: MAX_U31, maxParamNameLength: MAX_U31, maxParamValueLength: MAX_U31 });
    expect(thrownCode(() => codec.decodeParams(value, 0, value.length, raised))).toBe('ERR_FASTCGI_PAIRS_TRUNCATED');
  });

  test('names are capped at 65535 bytes whatever maxParamNameLength says: 2^31-1 is NAME_TOO_LONG, 65535 is checked against the data', () => {
    const raised = [MAX_U31, MAX_U31, MAX_U31, MAX_U31] as const;
    expect(rawDecodePairs(codec, hex('ffffffff 01 41 42 43'), raised).n).toBe(-13);
    expect(rawDecodePairs(codec, hex('80010000 01 41 42 43'), raised).n).toBe(-13);
    expect(rawDecodePairs(codec, hex('8000ffff 01 41 42 43'), raised).n).toBe(-10);
    expect(rawDecodePairs(codec, hex('8000ffff ffffffff 41 42 43'), raised).n).toBe(-10);
  });

  test.each([
    ['an empty body', '', 0],
    ['a name length alone', '01', -10],
    ['a 4-byte name length cut after 3 bytes', '800000', -10],
    ['a name length and no value length', '0101', -10],
    ['a 4-byte value length cut after 2 bytes', '01 8000', -10],
    ['a name running past the end', '02 00 41', -10],
    ['a value running past the end', '01 02 41 42', -10],
    ['a whole pair then one stray byte', '01 01 41 42 00', -10],
    ['a pair with an empty name and value', '00 00', 1],
    ['three empty pairs', '000000000000', 3],
  ])('%s decodes to %s (count or code)', (_, bytes, n) => {
    expect(rawDecodePairs(codec, hex(bytes)).n).toBe(n);
  });

  test('a truncated body throws FastCgiProtocolError ERR_FASTCGI_PAIRS_TRUNCATED from decodeParams', () => {
    let err: unknown;
    try { codec.decodeParams(hex('01 05 41 42')); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(FastCgiProtocolError);
    expect((err as FastCgiProtocolError).code).toBe('ERR_FASTCGI_PAIRS_TRUNCATED');
  });

  test('pair words: absolute offsets of name and value, value length, name length; decoding a sub-range of a buffer', () => {
    const body = encodePairBody([['SCRIPT_NAME', '/x'], ['X_UNKNOWN', 'v'.repeat(200)]]);
    const buf = Buffer.concat([Buffer.from('junk!'), body, Buffer.from('tail')]);
    const { n, pairs } = rawDecodePairs(codec, buf, DEFAULTS, 5, 5 + body.length);
    expect(n).toBe(2);
    expect(pairs[0]).toEqual({ nameOffset: 7, valueOffset: 18, valueLength: 2, nameLength: 11, id: KNOWN_NAMES.indexOf('SCRIPT_NAME') + 1 });
    expect(pairs[1]).toEqual({ nameOffset: 25, valueOffset: 34, valueLength: 200, nameLength: 9, id: 0 });
    const { params } = codec.decodeParams(buf, 5, 5 + body.length);
    expect(params.entries()).toEqual([['SCRIPT_NAME', '/x'], ['X_UNKNOWN', 'v'.repeat(200)]]);
    const raw = params.raw('X_UNKNOWN')!;
    expect(raw.buffer).toBe(buf.buffer);
    expect(raw.byteOffset - buf.byteOffset).toBe(34);
    expect(params.text()).toBe(body.toString('latin1'));
  });

  test('every KNOWN_NAMES entry gets its id (position + 1); unknown names get 0', () => {
    codec.core.reserve(4096);
    const body = encodePairBody([...KNOWN_NAMES.map((n) => [n, 'v'] as const), ['NOT_KNOWN', 'v'], ['', 'v']], 'latin1');
    const { n, pairs } = rawDecodePairs(codec, body, [1 << 20, 4096, 1024, 1024]);
    expect(n).toBe(KNOWN_NAMES.length + 2);
    expect(pairs.map((p) => p.id)).toEqual([...KNOWN_NAMES.map((name) => KNOWN_NAMES.indexOf(name) + 1), 0, 0]);
  });

  test('a known name with any one byte changed, cut short, extended or lower-cased is not taken for it', () => {
    codec.core.reserve(8192);
    const variants: string[] = [];
    for (const name of KNOWN_NAMES) {
      for (let i = 0; i < name.length; i++) {
        variants.push(name.slice(0, i) + String.fromCharCode(name.charCodeAt(i) ^ 0x20) + name.slice(i + 1));
        variants.push(name.slice(0, i) + String.fromCharCode(name.charCodeAt(i) ^ 0x01) + name.slice(i + 1));
      }
      variants.push(name.slice(0, -1), name.slice(1), name + 'X', name + '\0', '\0' + name, name.toLowerCase());
    }
    const body = encodePairBody(variants.map((v) => [v, ''] as const), 'latin1');
    const { n, pairs } = rawDecodePairs(codec, body, [1 << 24, 8192, 1024, 1024]);
    expect(n).toBe(variants.length);
    const wrong = pairs.map((p, i) => [variants[i], p.id, KNOWN_NAMES.indexOf(variants[i]) + 1] as const)
      .filter(([, got, want]) => got !== want);
    expect(wrong).toEqual([]);
  });

  test('names of 1..40 bytes sharing their first and last eight bytes with a known name are told apart', () => {
    codec.core.reserve(4096);
    const variants: string[] = [];
    for (const name of KNOWN_NAMES.filter((n) => n.length > 16)) {
      // Same length, head and tail; one middle byte differs.
      for (let i = 8; i < name.length - 8; i++) variants.push(name.slice(0, i) + '#' + name.slice(i + 1));
    }
    for (let len = 1; len <= 40; len++) variants.push('H'.repeat(len));
    const body = encodePairBody(variants.map((v) => [v, ''] as const), 'latin1');
    const { n, pairs } = rawDecodePairs(codec, body, [1 << 24, 4096, 1024, 1024]);
    expect(n).toBe(variants.length);
    expect(pairs.filter((p) => p.id !== 0).length).toBe(0);
  });

  test('decodeNameValues gives the pairs of a GET_VALUES record as latin1 strings, and refuses names over 255 bytes', () => {
    const content = encodePairBody([['FCGI_MAX_CONNS', ''], ['FCGI_MPXS_CONNS', '1'], ['X', Buffer.from([0xe9])]]);
    expect(codec.decodeNameValues(content)).toEqual([['FCGI_MAX_CONNS', ''], ['FCGI_MPXS_CONNS', '1'], ['X', 'é']]);
    expect(thrownCode(() => codec.decodeNameValues(encodePairBody([['n'.repeat(256), '']])))).toBe('ERR_FASTCGI_PARAM_NAME_TOO_LONG');
    expect(thrownCode(() => codec.decodeNameValues(encodePairBody([['n', 'v'.repeat(256)]])))).toBe('ERR_FASTCGI_PARAM_VALUE_TOO_LONG');
  });
});

describe.each(CODECS)('$name codec: ParamsLimits', ({ codec }) => {
  const body = encodePairBody([['NAME_OF_10', 'value-of-10'.slice(0, 10)], ['B', 'c'], ['D', 'e']]);

  test('DEFAULT_PARAMS_LIMITS are 131072 bytes, 512 params, 1024-byte names, 65536-byte values', () => {
    expect(DEFAULT_PARAMS_LIMITS).toEqual({ maxParamsBytes: 131072, maxParams: 512, maxParamNameLength: 1024, maxParamValueLength: 65536 });
    expect(Object.isFrozen(DEFAULT_PARAMS_LIMITS)).toBe(true);
  });

  test('every limit met exactly decodes', () => {
    const exact = { maxParamsBytes: body.length, maxParams: 3, maxParamNameLength: 10, maxParamValueLength: 10 };
    expect(codec.decodeParams(body, 0, body.length, exact).params.count).toBe(3);
  });

  test.each([
    ['maxParamsBytes', 'ERR_FASTCGI_PARAMS_TOO_LARGE'],
    ['maxParams', 'ERR_FASTCGI_TOO_MANY_PARAMS'],
    ['maxParamNameLength', 'ERR_FASTCGI_PARAM_NAME_TOO_LONG'],
    ['maxParamValueLength', 'ERR_FASTCGI_PARAM_VALUE_TOO_LONG'],
  ] as const)('%s exceeded by one gives %s, a LimitError', (field, code) => {
    const exact = { maxParamsBytes: body.length, maxParams: 3, maxParamNameLength: 10, maxParamValueLength: 10 };
    let err: unknown;
    try { codec.decodeParams(body, 0, body.length, { ...exact, [field]: exact[field] - 1 }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(LimitError);
    expect((err as LimitError).code).toBe(code);
  });

  test('the default limits refuse 513 params, a 1025-byte name, a 65537-byte value and 131073 bytes', () => {
    const many = encodePairBody(Array.from({ length: 513 }, () => ['a', ''] as const));
    expect(thrownCode(() => codec.decodeParams(many))).toBe('ERR_FASTCGI_TOO_MANY_PARAMS');
    expect(codec.decodeParams(many.subarray(3)).params.count).toBe(512);
    expect(thrownCode(() => codec.decodeParams(encodePairBody([['n'.repeat(1025), '']])))).toBe('ERR_FASTCGI_PARAM_NAME_TOO_LONG');
    expect(codec.decodeParams(encodePairBody([['n'.repeat(1024), '']])).params.count).toBe(1);
    expect(thrownCode(() => codec.decodeParams(encodePairBody([['v', 'v'.repeat(65537)]])))).toBe('ERR_FASTCGI_PARAM_VALUE_TOO_LONG');
    expect(codec.decodeParams(encodePairBody([['v', 'v'.repeat(65536)]])).params.count).toBe(1);
    // Three pairs of 6 + value bytes each: 120018 bytes, plus the third value.
    const ofSize = (total: number): Buffer =>
      encodePairBody([['a', 'v'.repeat(60000)], ['b', 'v'.repeat(60000)], ['c', 'v'.repeat(total - 120018)]]);
    expect(ofSize(131073).length).toBe(131073);
    expect(thrownCode(() => codec.decodeParams(ofSize(131073)))).toBe('ERR_FASTCGI_PARAMS_TOO_LARGE');
    expect(codec.decodeParams(ofSize(131072)).params.count).toBe(3);
  });

  test('a limit applies to the declared length, before the bytes it declares have arrived', () => {
    expect(thrownCode(() => codec.decodeParams(hex('01 80011170 41')))).toBe('ERR_FASTCGI_PARAM_VALUE_TOO_LONG');
    expect(thrownCode(() => codec.decodeParams(hex('80000401 00 41')))).toBe('ERR_FASTCGI_PARAM_NAME_TOO_LONG');
  });

  test('maxParams above the scratch capacity still decodes that many params', () => {
    const many = encodePairBody(Array.from({ length: 3000 }, (_, i) => [`N${i}`, `${i}`] as const));
    const { params } = codec.decodeParams(many, 0, many.length, limits({ maxParams: 3000 }));
    expect(params.count).toBe(3000);
    expect(params.get('N2999')).toBe('2999');
  });

  test('ParamsLimits of 2^31-1 in every field (maxParams too) decode a short body without sizing memory by the limit', () => {
    const max = { maxParamsBytes: MAX_U31, maxParams: MAX_U31, maxParamNameLength: MAX_U31, maxParamValueLength: MAX_U31 };
    expect(thrownCode(() => codec.decodeParams(hex('01 ffffffff 41 42 43'), 0, 7, max))).toBe('ERR_FASTCGI_PAIRS_TRUNCATED');
    expect(codec.decodeParams(hex('01 01 41 42'), 0, 4, max).params.entries()).toEqual([['A', 'B']]);
  });

  test('a limit above 2^32-1 (Infinity included) is not wrapped to a small number: it decodes, or is refused as an argument', () => {
    for (const big of [Infinity, 2 ** 32, 2 ** 32 + 2]) {
      const l = { maxParamsBytes: big, maxParams: 512, maxParamNameLength: big, maxParamValueLength: big };
      let outcome = 'decoded';
      try {
        expect(codec.decodeParams(hex('01 01 41 42'), 0, 4, l).params.entries()).toEqual([['A', 'B']]);
      } catch (err) {
        outcome = err instanceof CgiwireError ? (err as CgiwireError).code : 'argument error';
        if (!(err instanceof CgiwireError) && !(err instanceof RangeError) && !(err instanceof TypeError)) throw err;
      }
      expect([big, outcome]).toEqual([big, expect.stringMatching(/^(decoded|argument error)$/)]);
    }
  });
});

describe.each(CODECS)('$name codec: Params accessors', ({ codec }) => {
  const body = encodePairBody([
    ['HTTP_X', 'first'], ['A', Buffer.from([0xc3, 0xa9])], ['HTTP_X', 'second'], ['EMPTY', ''],
    ['BIN', Buffer.from(Array.from({ length: 256 }, (_, i) => i))],
  ]);

  test('entries in wire order; get: the last value of a repeated name; getAll: every value in wire order', () => {
    const { params } = codec.decodeParams(body);
    expect(params.count).toBe(5);
    expect(params.entries().map(([n]) => n)).toEqual(['HTTP_X', 'A', 'HTTP_X', 'EMPTY', 'BIN']);
    expect(params.get('HTTP_X')).toBe('second');
    expect(params.getAll('HTTP_X')).toEqual(['first', 'second']);
    expect(params.get('EMPTY')).toBe('');
    expect(params.toObject()).toEqual({ HTTP_X: 'second', A: 'Ã©', EMPTY: '', BIN: Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('latin1') });
  });

  test('byte-safe values: raw gives the exact bytes (UTF-8 é is c3 a9), get gives them as latin1', () => {
    const { params } = codec.decodeParams(body);
    expect(params.raw('A')).toEqual(Buffer.from([0xc3, 0xa9]));
    expect(params.get('A')).toBe('\u00c3\u00a9');
    expect(params.raw('BIN')).toEqual(Buffer.from(Array.from({ length: 256 }, (_, i) => i)));
    expect(params.raw('HTTP_X')!.toString()).toBe('first');
    expect(params.raw('EMPTY')).toEqual(Buffer.alloc(0));
  });

  test('a name that is not on the wire is undefined for get and raw, also when it names an Object.prototype member', () => {
    const { params } = codec.decodeParams(body);
    for (const name of ['MISSING', 'toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf']) {
      expect([name, params.get(name)]).toEqual([name, undefined]);
      expect([name, params.raw(name)]).toEqual([name, undefined]);
      expect([name, params.getAll(name)]).toEqual([name, []]);
    }
  });

  test('accessors keep working after the core has decoded something else', () => {
    const { params } = codec.decodeParams(body);
    codec.decodeParams(encodePairBody([['OTHER', 'x'], ['MORE', 'y']]));
    expect(params.raw('A')).toEqual(Buffer.from([0xc3, 0xa9]));
    expect(params.getAll('HTTP_X')).toEqual(['first', 'second']);
  });
});

