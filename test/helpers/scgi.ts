/**
 * SCGI test tools: a reference netstring parser that does not use the library, and a driver that feeds
 * chunks to a NetstringReader and gathers the header and the body bytes after it.
 */
import type { Codec } from '../../lib/index.js';

export interface ScgiRead {
  header: Buffer | null;
  body: Buffer;
  done: boolean;
  error: string | null;
}

/** `<len>:<header>,<body>` split by hand; null when `buf` is not such a netstring. */
export function parseNetstring(buf: Buffer): { header: Buffer; body: Buffer } | null {
  const m = /^(0|[1-9][0-9]*):/.exec(buf.subarray(0, 24).toString('latin1'));
  if (m === null) return null;
  const start = m[0].length, length = Number(m[1]);
  if (buf.length < start + length + 1 || buf[start + length] !== 0x2c) return null;
  return { header: buf.subarray(start, start + length), body: buf.subarray(start + length + 1) };
}

/** Feeds `chunks` to a NetstringReader; the body is every byte from the offset push returns on. */
export function readScgi(codec: Codec, chunks: Iterable<Buffer>, maxHeaderBytes?: number): ScgiRead {
  const reader = maxHeaderBytes === undefined ? codec.createNetstringReader() : codec.createNetstringReader(maxHeaderBytes);
  const body: Buffer[] = [];
  let header: Buffer | null = null;
  let error: string | null = null;
  for (const chunk of chunks) {
    const r = reader.push(chunk);
    if (typeof r !== 'number') {
      error = r.code;
      break;
    }
    // Copy now: chunks may be reused by the caller, and a header that arrived whole is a view of one.
    if (reader.done && header === null) header = Buffer.from(reader.header!);
    if (r >= 0) body.push(Buffer.from(chunk.subarray(r)));
    else if (r !== -1) throw new Error(`push returned ${r}`);
  }
  return { header, body: Buffer.concat(body), done: reader.done, error };
}

/** SCGI header bytes from pairs, by hand: NAME\0VALUE\0 each. */
export function scgiHeaderBytes(pairs: readonly (readonly [string | Buffer, string | Buffer])[]): Buffer {
  const parts: Buffer[] = [];
  for (const [n, v] of pairs) {
    parts.push(typeof n === 'string' ? Buffer.from(n, 'latin1') : n, Buffer.from([0]),
      typeof v === 'string' ? Buffer.from(v, 'latin1') : v, Buffer.from([0]));
  }
  return Buffer.concat(parts);
}

export function netstring(header: Buffer, body: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([Buffer.from(`${header.length}:`, 'latin1'), header, Buffer.from(','), body]);
}

/**
 * Feeds `chunks` to a NetstringReader and checks, without copying the body, that it yields `header` and then
 * exactly `body`; null when it does.
 */
export function verifyScgi(codec: Codec, chunks: Iterable<Buffer>, header: Buffer, body: Buffer): string | null {
  const reader = codec.createNetstringReader();
  let pos = 0;
  let seenHeader = false;
  for (const chunk of chunks) {
    const r = reader.push(chunk);
    if (typeof r !== 'number') return `push returned ${r.code}`;
    if (r === -1) {
      if (reader.done) return 'push returned -1 once done';
      continue;
    }
    if (!reader.done) return `push returned ${r} before done`;
    if (!seenHeader) {
      if (!reader.header!.equals(header)) return 'header differs';
      seenHeader = true;
    }
    const len = chunk.length - r;
    if (pos + len > body.length || chunk.compare(body, pos, pos + len, r) !== 0) return `body differs at ${pos}`;
    pos += len;
  }
  if (!seenHeader) return 'never done';
  return pos === body.length ? null : `body ${pos} of ${body.length} bytes`;
}
