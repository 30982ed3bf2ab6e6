/**
 * The error table: native/codes.h and CORE_ERRORS list the same codes with the same numbers; every code is a
 * unique ERR_ string with its class; and each code is what both cores return for the fault it names.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import {
  CORE_ERRORS, CgiwireError, FastCgiProtocolError, LimitError, ScgiProtocolError, protocolError, encodePairBody,
} from '../../lib/index.js';
import { CODECS } from '../helpers/codecs.js';
import { record, readAll, whole } from '../helpers/fcgi.js';
import { rawDecodePairs, rawDecodeScgi } from '../helpers/pairs.js';
import { readScgi, scgiHeaderBytes } from '../helpers/scgi.js';

/** name -> value of every enumerator of `enum Code` in native/codes.h. */
function parseCodesH(): Map<string, number> {
  const text = readFileSync(new URL('../../native/codes.h', import.meta.url), 'latin1');
  const body = /enum\s+Code\s*:\s*int32_t\s*\{([\s\S]*?)\};/.exec(text);
  if (body === null) throw new Error('enum Code not found in native/codes.h');
  const out = new Map<string, number>();
  const noComments = body[1].replace(/\/\/[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
  for (const item of noComments.split(',')) {
    const t = item.trim();
    if (t === '') continue;
    const m = /^(k\w+)\s*=\s*(-?\d+)$/.exec(t);
    if (m === null) throw new Error(`enumerator without an explicit value in codes.h: ${t}`);
    out.set(m[1], Number(m[2]));
  }
  return out;
}

const CODES_H = parseCodesH();

test('native/codes.h parses: kOk = 0 and at least the thirteen fault codes', () => {
  expect(CODES_H.get('kOk')).toBe(0);
  expect([...CODES_H.values()].filter((v) => v < 0).length).toBeGreaterThanOrEqual(13);
});

test('every negative code of native/codes.h has an entry in CORE_ERRORS with the same number, and vice versa', () => {
  const fromHeader = [...CODES_H.values()].filter((v) => v < 0).sort((a, b) => a - b);
  const fromTs = [...CORE_ERRORS.keys()].sort((a, b) => a - b);
  expect(fromTs).toEqual(fromHeader);
  expect(CORE_ERRORS.has(0)).toBe(false);
});

test('codes.h enumerator values are unique', () => {
  const values = [...CODES_H.values()];
  expect(new Set(values).size).toBe(values.length);
});

test('error codes are unique strings starting with ERR_, each with a class and a message', () => {
  const names = [...CORE_ERRORS.values()].map(([, name]) => name);
  expect(new Set(names).size).toBe(names.length);
  for (const [num, [Class, name, message]] of CORE_ERRORS) {
    expect(name).toMatch(/^ERR_[A-Z0-9_]+$/);
    expect(message.length).toBeGreaterThan(0);
    const err = protocolError(num);
    expect(err).toBeInstanceOf(Class);
    expect(err).toBeInstanceOf(CgiwireError);
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe(name);
    expect(err.message).toBe(message);
    expect(err.name).toBe(Class.name);
  }
});

test('the classes follow the kind of fault: FastCGI framing, limits, SCGI rules', () => {
  const classOf = (name: string) => [...CORE_ERRORS.values()].find(([, n]) => n === name)![0];
  expect(classOf('ERR_FASTCGI_BAD_VERSION')).toBe(FastCgiProtocolError);
  expect(classOf('ERR_FASTCGI_PAIRS_TRUNCATED')).toBe(FastCgiProtocolError);
  for (const n of ['ERR_FASTCGI_PARAMS_TOO_LARGE', 'ERR_FASTCGI_TOO_MANY_PARAMS', 'ERR_FASTCGI_PARAM_NAME_TOO_LONG',
    'ERR_FASTCGI_PARAM_VALUE_TOO_LONG', 'ERR_SCGI_HEADER_TOO_LARGE']) expect(classOf(n)).toBe(LimitError);
  for (const n of ['ERR_SCGI_BAD_NETSTRING', 'ERR_SCGI_BAD_HEADER', 'ERR_SCGI_NO_CONTENT_LENGTH', 'ERR_SCGI_BAD_CONTENT_LENGTH',
    'ERR_SCGI_NO_SCGI', 'ERR_SCGI_DUPLICATE_HEADER']) expect(classOf(n)).toBe(ScgiProtocolError);
});

test('an unknown core result becomes ERR_CGIWIRE_INTERNAL, a plain CgiwireError', () => {
  const err = protocolError(-999);
  expect(err.code).toBe('ERR_CGIWIRE_INTERNAL');
  expect(err.constructor).toBe(CgiwireError);
});

describe.each(CODECS)('$name codec: each code is returned for the fault it names', ({ codec }) => {
  const tight = [64, 2, 4, 4] as const;
  const header = (pairs: [string, string][]) => scgiHeaderBytes(pairs);
  const cases: [string, () => number | string | null][] = [
    ['ERR_FASTCGI_BAD_VERSION', () => readAll(codec, whole(record(5, 1, 'x', 0, { version: 0 }))).error],
    ['ERR_FASTCGI_PAIRS_TRUNCATED', () => rawDecodePairs(codec, Buffer.from([1, 5, 65])).n],
    ['ERR_FASTCGI_PARAMS_TOO_LARGE', () => rawDecodePairs(codec, Buffer.alloc(65, 0), tight).n],
    ['ERR_FASTCGI_TOO_MANY_PARAMS', () => rawDecodePairs(codec, Buffer.alloc(6, 0), tight).n],
    ['ERR_FASTCGI_PARAM_NAME_TOO_LONG', () => rawDecodePairs(codec, encodePairBody([['12345', '']]), tight).n],
    ['ERR_FASTCGI_PARAM_VALUE_TOO_LONG', () => rawDecodePairs(codec, encodePairBody([['1', '12345']]), tight).n],
    ['ERR_SCGI_BAD_NETSTRING', () => readScgi(codec, whole(Buffer.from('x'))).error],
    ['ERR_SCGI_HEADER_TOO_LARGE', () => readScgi(codec, whole(Buffer.from('100:')), 99).error],
    ['ERR_SCGI_BAD_HEADER', () => rawDecodeScgi(codec, Buffer.from('CONTENT_LENGTH\x000\x00SCGI\x001\x00X')).n],
    ['ERR_SCGI_NO_CONTENT_LENGTH', () => rawDecodeScgi(codec, header([['SCGI', '1'], ['CONTENT_LENGTH', '0']])).n],
    ['ERR_SCGI_BAD_CONTENT_LENGTH', () => rawDecodeScgi(codec, header([['CONTENT_LENGTH', '01'], ['SCGI', '1']])).n],
    ['ERR_SCGI_NO_SCGI', () => rawDecodeScgi(codec, header([['CONTENT_LENGTH', '0']])).n],
    ['ERR_SCGI_DUPLICATE_HEADER', () => rawDecodeScgi(codec, header([['CONTENT_LENGTH', '0'], ['SCGI', '1'], ['SCGI', '1']])).n],
  ];

  test('the cases below cover every code in CORE_ERRORS', () => {
    expect(cases.map(([n]) => n).sort()).toEqual([...CORE_ERRORS.values()].map(([, n]) => n).sort());
  });

  test.each(cases)('%s', (name, run) => {
    const got = run();
    const code = typeof got === 'number' ? CORE_ERRORS.get(got)?.[1] ?? `result ${got}` : got;
    expect(code).toBe(name);
  });
});
