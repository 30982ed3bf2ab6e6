/**
 * The captures in test/fixtures (see its README): loading, and what each file's name says it holds.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { guarded } from './fcgi.js';

export const FIXTURES_DIR = fileURLToPath(new URL('../fixtures/', import.meta.url));

export interface Fixture {
  file: string;
  /** Front end (nginx, apache, ...), or php-fpm / cgi-fcgi. */
  frontEnd: string;
  protocol: 'fastcgi' | 'scgi';
  /** get, post-100k, post-0, big-header, header-12k, keepalive-2, mpx-8, ... or the response name. */
  kind: string;
  bytes: Buffer;
}

const cache = new Map<string, Buffer>();

/** The file's bytes in a fresh buffer followed by guard bytes (readFileSync may hand out pooled memory). */
export function loadFixture(file: string): Buffer {
  let b = cache.get(file);
  if (b === undefined) cache.set(file, (b = guarded(readFileSync(FIXTURES_DIR + file))));
  return b;
}

export function listFixtures(): Fixture[] {
  return readdirSync(FIXTURES_DIR).filter((f) => f.endsWith('.bin')).sort().map((file) => {
    const base = file.slice(0, -4);
    let frontEnd: string, protocol: 'fastcgi' | 'scgi', kind: string;
    let m: RegExpMatchArray | null;
    if ((m = /^(php-fpm)-response-(.+)$/.exec(base))) {
      [frontEnd, protocol, kind] = [m[1], 'fastcgi', 'response-' + m[2]];
    } else if ((m = /^(cgi-fcgi)-request-(.+)$/.exec(base))) {
      [frontEnd, protocol, kind] = [m[1], 'fastcgi', 'request-' + m[2]];
    } else if ((m = /^(apache-authnz)-(authn|authz|checkuserid)-(.+)$/.exec(base))) {
      [frontEnd, protocol, kind] = [m[1], 'fastcgi', m[3]];
    } else if ((m = /^([a-z0-9]+)-(fastcgi|scgi)-(.+)$/.exec(base))) {
      [frontEnd, protocol, kind] = [m[1], m[2] as 'fastcgi' | 'scgi', m[3]];
    } else {
      throw new Error(`fixture name not understood: ${file}`);
    }
    return { file, frontEnd, protocol, kind, bytes: loadFixture(file) };
  });
}

/** The request the capture client sent for each case (test/fixtures/README.md). */
export const GET_URI = '/path/a%20b?x=1&y=%C3%A9';
export const COOKIE = 'session=abc123; theme=dark';
export const USER_AGENT = 'cgiwire-fixture/1';
/** X-Name: caf\xC3\xA9, the UTF-8 bytes of "café". */
export const X_NAME_BYTES = Buffer.from('café', 'utf8');
