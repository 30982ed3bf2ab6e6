/**
 * The response a client receives: the CGI header block read into status and headers (RFC 3875, 6.3),
 * then the body and STDERR output as streams.
 */
import { STATUS_CODES } from 'node:http';
import { Readable } from 'node:stream';
import { CgiwireError } from '../errors.js';

/** The peer's response broke the CGI response rules; the request fails with it. */
export class BadResponseError extends CgiwireError {}

export interface ResponseHead {
  status: number;
  statusText: string;
  /** Lower-case names; a header sent more than once is an array of its values in order. */
  headers: Record<string, string | string[]>;
  /** Names and values as sent, alternating, repeats kept (Status: is not among them). */
  rawHeaders: string[];
}

/** RFC 9110 token characters, by char code. */
const TOKEN_CHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") TOKEN_CHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c < 58; c++) TOKEN_CHAR[c] = 1;
for (let c = 65; c < 91; c++) TOKEN_CHAR[c] = TOKEN_CHAR[c + 32] = 1;

function isToken(text: string, from: number, to: number): boolean {
  if (from >= to) return false;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || TOKEN_CHAR[c] === 0) return false;
  }
  return true;
}

/**
 * Finds the blank line that ends a header block starting at `buf[start]`, in `buf[start, end)`, searching from
 * `from` (>= start). Returns the index of the first body byte, or -1. Lines end with LF or CRLF (RFC 3875, 6.3).
 */
export function findHeadEnd(buf: Buffer, start: number, from: number, end: number): number {
  // An empty header block: the blank line is the first line.
  if (from === start && end > start && buf[start] === 10) return start + 1;
  if (from === start && end > start + 1 && buf[start] === 13 && buf[start + 1] === 10) return start + 2;
  for (let i = buf.indexOf(10, from); i !== -1 && i < end; i = buf.indexOf(10, i + 1)) {
    if (i + 1 < end && buf[i + 1] === 10) return i + 2;
    if (i + 2 < end && buf[i + 1] === 13 && buf[i + 2] === 10) return i + 3;
  }
  return -1;
}

/** Reads a CGI header block (without its blank line) as latin1 text. Throws a BadResponseError. */
/**
 * Header maps: objects whose prototype has no properties (so no header name meets an inherited one, and
 * `__proto__` is a plain key), made by a constructor so that they stay fast objects, not dictionaries.
 */
const HeaderMap = function HeaderMap() {} as unknown as new () => Record<string, string | string[]>;
HeaderMap.prototype = Object.create(null);

export function parseResponseHead(text: string): ResponseHead {
  const headers = new HeaderMap();
  const rawHeaders: string[] = [];
  let status = 200, statusText = '', statusSeen = false, location = false;
  for (let at = 0; at < text.length;) {
    let eol = text.indexOf('\n', at);
    if (eol === -1) eol = text.length;
    const lineEnd = eol > at && text.charCodeAt(eol - 1) === 13 ? eol - 1 : eol;
    const from = at;
    at = eol + 1;
    if (lineEnd === from) continue;
    const colon = text.indexOf(':', from);
    // Names as sent, but trimmed of the spaces some applications put before the colon.
    let nameEnd = colon === -1 || colon > lineEnd ? -1 : colon;
    while (nameEnd > from && (text.charCodeAt(nameEnd - 1) === 32 || text.charCodeAt(nameEnd - 1) === 9)) nameEnd--;
    if (nameEnd <= from || !isToken(text, from, nameEnd)) {
      throw new BadResponseError('ERR_CGIWIRE_BAD_RESPONSE_HEADER',
        `the response header line ${JSON.stringify(text.slice(from, Math.min(lineEnd, from + 80)))} is not "Name: value"`);
    }
    const name = text.slice(from, nameEnd);
    const value = text.slice(colon + 1, lineEnd).trim();
    const key = name.toLowerCase();
    if (key === 'status') {
      // The reason phrase goes on to an HTTP status line: only the bytes allowed there (RFC 9112, 4; node's rule).
      const m = /^(\d{3})(?:\s+([\t\x20-\x7e\x80-\xff]*))?$/.exec(value);
      // A CGI response is final: a 1xx passed on as one would leave the HTTP client waiting for the real one.
      if (m === null || statusSeen || Number(m[1]) < 200) {
        throw new BadResponseError('ERR_CGIWIRE_BAD_RESPONSE_STATUS', `bad or repeated Status header ${JSON.stringify(value.slice(0, 80))}`);
      }
      statusSeen = true;
      status = Number(m[1]);
      statusText = m[2] ?? '';
      continue;
    }
    if (key === 'location') location = true;
    rawHeaders.push(name, value);
    const had = headers[key];
    if (had === undefined) headers[key] = value;
    else if (typeof had === 'string') headers[key] = [had, value];
    else had.push(value);
  }
  // RFC 3875, 6.2.3/6.2.4: a redirect without a Status is a 302.
  if (!statusSeen && location) status = 302;
  if (statusText === '') statusText = STATUS_CODES[status] ?? '';
  return { status, statusText, headers, rawHeaders };
}

/**
 * A response stream (the body, STDERR) made when first asked for. Pieces that come before wait here under the
 * rule Readable#push applies (room while less than the high-water mark is held), so a consumer that takes
 * them whole (takeWhole) never needs a stream. Made late, the stream gets what waited, then the end or the
 * failure.
 */
export class LazyReadable {
  private stream: Readable | null = null;
  private early: Buffer[] = [];
  private earlyBytes = 0;
  private ended = false;
  private error: Error | null = null;
  /** take() handed the pieces over before any stream was made. */
  private taken = false;

  /**
   * @param read the stream's _read: the consumer wants more.
   * @param onClose the stream closed (a consumer that destroys it before its end).
   */
  constructor(private readonly highWaterMark: number, private readonly read: () => void,
    private readonly onClose?: () => void) {}

  /** A piece; false when the consumer holds the high-water mark unread (the sender should wait). */
  push(chunk: Buffer): boolean {
    if (this.stream !== null) return this.stream.push(chunk);
    this.early.push(chunk);
    this.earlyBytes += chunk.length;
    return this.earlyBytes < this.highWaterMark;
  }

  end(): void {
    this.ended = true;
    this.stream?.push(null);
  }

  fail(err: Error): void {
    if (this.stream !== null) {
      this.stream.destroy(err);
      return;
    }
    this.error = err;
    this.early = [];
    this.earlyBytes = 0;
  }

  readable(): Readable {
    if (this.stream === null) {
      const stream = new Readable({ read: this.read, highWaterMark: this.highWaterMark });
      if (this.onClose) stream.on('close', this.onClose);
      // A failed stream keeps its error for whoever reads it later (for await, pipeline, 'error' listeners), but
      // one nobody reads must not crash the process with an unhandled 'error' event.
      stream.on('error', () => {});
      this.stream = stream;
      const early = this.early;
      this.early = [];
      this.earlyBytes = 0;
      for (const chunk of early) stream.push(chunk);
      if (this.error !== null) stream.destroy(this.error);
      else if (this.ended) {
        stream.push(null);
        if (this.taken) stream.resume(); // taken whole: 'end' and 'close' come, as after any full read
      }
    }
    return this.stream;
  }

  /** Everything, once ended and when nobody has read from the stream; null otherwise. Empty from then on. */
  take(): Buffer | null {
    const stream = this.stream;
    if (stream !== null) {
      if (!this.ended || stream.readableFlowing !== null || stream.destroyed || stream.readableEnded) return null;
      const whole = (stream.read() as Buffer | null) ?? Buffer.alloc(0);
      stream.resume(); // lets 'end' (and 'close') come, as after any full read
      return whole;
    }
    if (!this.ended || this.error !== null || this.taken) return null;
    this.taken = true;
    const early = this.early;
    this.early = [];
    const whole = early.length === 1 ? early[0] : Buffer.concat(early, this.earlyBytes);
    this.earlyBytes = 0;
    return whole;
  }
}

/** Where a response's body and STDERR come from (the call that received them). */
export interface ResponseSource {
  bodyReadable(): Readable;
  stderrReadable(): Readable;
  takeBody(): Buffer | null;
}

/**
 * A response. `body` is a binary-safe Readable with backpressure: while its unread bytes exceed the client's
 * `bodyBufferBytes`, the connection stops reading. Read or destroy it, or the connection stays held.
 */
export class ClientResponse implements ResponseHead {
  status: number;
  statusText: string;
  headers: Record<string, string | string[]>;
  rawHeaders: string[];
  /** FastCGI END_REQUEST's appStatus, once the body has ended (SCGI: 0). */
  appStatus: number | null = null;

  constructor(head: ResponseHead, private readonly source: ResponseSource, readonly address: string) {
    this.status = head.status;
    this.statusText = head.statusText;
    this.headers = head.headers;
    this.rawHeaders = head.rawHeaders;
  }

  /** The body (made on first use: until then its bytes wait in the call, which takeWhole can hand over). */
  get body(): Readable {
    return this.source.bodyReadable();
  }

  /** What the application wrote to STDERR (FastCGI), as a stream that ends with the response. */
  get stderr(): Readable {
    return this.source.stderrReadable();
  }

  /**
   * The whole body at once, when the response has already ended and nobody has read from the body: it is all
   * buffered. Null otherwise (read the stream). Taken, the body stream is empty.
   */
  takeWhole(): Buffer | null {
    return this.source.takeBody();
  }

  /** The whole body in one Buffer. */
  async buffer(): Promise<Buffer> {
    const whole = this.takeWhole();
    if (whole !== null) return whole;
    const parts: Buffer[] = [];
    for await (const chunk of this.body) parts.push(chunk as Buffer);
    return Buffer.concat(parts);
  }

  /** The whole body decoded as text. */
  async text(encoding: BufferEncoding = 'utf8'): Promise<string> {
    return (await this.buffer()).toString(encoding);
  }

  /** Everything the application wrote to STDERR, once the response has ended. */
  async stderrText(encoding: BufferEncoding = 'utf8'): Promise<string> {
    const parts: Buffer[] = [];
    for await (const chunk of this.stderr) parts.push(chunk as Buffer);
    return Buffer.concat(parts).toString(encoding);
  }
}
