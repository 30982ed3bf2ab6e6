/**
 * The socket a request and its response see. node:http's ServerResponse writes an HTTP/1.1 response to it;
 * this socket turns that into a CGI response (RFC 3875, 6.2): the status line becomes a `Status:` header,
 * hop-by-hop headers are dropped (the web server owns the HTTP connection), and the body goes on as is.
 * Using the real IncomingMessage and ServerResponse keeps every framework working, including those that
 * replace their prototypes (Express).
 *
 * It is an EventEmitter with the part of net.Socket's surface that node:http and frameworks use, not a
 * stream: a Duplex per request cost more than the rest of the request (its two stream states, a nextTick
 * per write callback and per destroy). The contract ServerResponse relies on (Node >= 20): write(data,
 * encoding, cb) returning false under backpressure and 'drain' after, cork/uncork with _writableState.corked,
 * writable/destroyed, 'close' when the response is over.
 */
import { EventEmitter } from 'node:events';
import type { Exchange } from '../exchange.js';
import { HOP_BY_HOP } from './hop-by-hop.js';

/**
 * Response headers not passed to the web server: the hop-by-hop ones (it owns the connection), and a
 * handler's own Status header (the status comes from res.statusCode; two Status lines would leave the web
 * server to pick one).
 */
const DROPPED = new Set([...HOP_BY_HOP, 'status']);
/** 1 at the lengths of those names and of Location: a header name of any other length is passed as it is. */
const SPECIAL_LENGTH = new Uint8Array(18);
for (const name of [...DROPPED, 'location']) SPECIAL_LENGTH[name.length] = 1;

/** The addresses of an exchange, from its CGI params. */
export interface SocketAddresses {
  remoteAddress?: string;
  remotePort?: number;
  localAddress?: string;
  localPort?: number;
  encrypted: boolean;
}

type WriteCallback = (err?: Error | null) => void;

export class ExchangeSocket extends EventEmitter {
  readonly remoteAddress?: string;
  readonly remotePort?: number;
  readonly remoteFamily?: string;
  readonly localAddress?: string;
  readonly localPort?: number;
  /** True when the web server says the client used TLS (HTTPS=on), as on a tls.TLSSocket. */
  readonly encrypted: boolean;
  /** IncomingMessage takes its highWaterMark from here: it bounds the unread body per request. */
  readonly readableHighWaterMark: number;
  readonly writableHighWaterMark = 65536;
  readonly readable = true;
  writable = true;
  destroyed = false;
  /** What ServerResponse#end pokes (it sets corked = 1, then calls uncork()). */
  readonly _writableState = { corked: 0 };
  bytesWritten = 0;
  /** Request body bytes received. */
  bytesRead = 0;
  /** As on a connected net.Socket. */
  readonly pending = false;
  readonly connecting = false;
  private headerDone = false;
  private headerText = '';
  private chunked: Dechunker | null = null;
  private blocked = false;
  private waiting: WriteCallback[] = [];
  /** Callbacks of writes handed on, run at the next uncork (asynchronously, as net.Socket's). */
  private handed: WriteCallback[] = [];
  /** Bytes whose write callbacks have not run: what `writableLength` reports. */
  private unconfirmed = 0;
  private timer: NodeJS.Timeout | null = null;
  private timeoutMs = 0;
  /** The request read through this socket (node:http gives it 'timeout' too, and ends it with a cut response). */
  request: (EventEmitter & { complete: boolean; destroyed: boolean; destroy(err?: Error): unknown }) | null = null;
  /** The response written through this socket. */
  response: { statusCode: number } | null = null;

  constructor(private readonly exchange: Exchange, addresses: SocketAddresses, bodyBufferBytes: number) {
    super();
    this.remoteAddress = addresses.remoteAddress;
    this.remotePort = addresses.remotePort;
    this.remoteFamily = addresses.remoteAddress?.includes(':') ? 'IPv6' : addresses.remoteAddress ? 'IPv4' : undefined;
    this.localAddress = addresses.localAddress;
    this.localPort = addresses.localPort;
    this.encrypted = addresses.encrypted;
    this.readableHighWaterMark = bodyBufferBytes;
  }

  // net.Socket methods frameworks call; the web server owns the real connection, so they change nothing here.
  /**
   * As net.Socket: 'timeout' after `ms` without a write or a body piece (0 turns it off). Then, as node:http's
   * server does, the request (while its body is incomplete) and the response get 'timeout' too, and when
   * nobody listens for it anywhere the response is cut (req.setTimeout/res.setTimeout rely on this).
   */
  setTimeout(ms: number, cb?: () => void): this {
    if (cb) this.once('timeout', cb);
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.timeoutMs = ms > 0 && Number.isFinite(ms) ? ms : 0;
    this.touch();
    return this;
  }

  /** Activity: restarts the timeout, if one is set. */
  touch(): void {
    if (this.timeoutMs === 0 || this.destroyed) return;
    if (this.timer !== null) this.timer.refresh();
    else this.timer = setTimeout(() => this.onTimeout(), this.timeoutMs).unref();
  }

  private onTimeout(): void {
    this.timer = null;
    if (this.destroyed) return;
    const socketTimeout = this.emit('timeout');
    const req = this.request;
    const reqTimeout = req !== null && !req.complete && req.emit('timeout', this);
    const res = (this as { _httpMessage?: EventEmitter })._httpMessage;
    const resTimeout = res !== undefined && res !== null && res.emit('timeout', this);
    if (!socketTimeout && !reqTimeout && !resTimeout) this.destroy();
  }
  setNoDelay(): this { return this; }
  setKeepAlive(): this { return this; }
  ref(): this { return this; }
  unref(): this { return this; }
  pause(): this { return this; }
  resume(): this { return this; }
  address(): { address?: string; port?: number; family?: string } {
    return { address: this.localAddress, port: this.localPort, family: this.remoteFamily };
  }

  get readyState(): string {
    return this.destroyed ? 'closed' : 'open';
  }

  /**
   * Bytes written whose callbacks are still to run. ServerResponse#end sends its 'finish' behind them when
   * this is not 0, so a write's callback comes before 'finish', as on a net.Socket.
   */
  get writableLength(): number {
    return this.unconfirmed;
  }

  get writableCorked(): number {
    return this._writableState.corked;
  }

  /** Request body bytes arrived for the request on this socket. */
  received(bytes: number): void {
    this.bytesRead += bytes;
    this.touch();
  }

  get writableNeedDrain(): boolean {
    return this.blocked;
  }

  cork(): void {
    this._writableState.corked++;
  }

  uncork(): void {
    if (this._writableState.corked > 0) this._writableState.corked--;
    if (this._writableState.corked === 0) this.flushCallbacks();
  }

  /** Response bytes from ServerResponse. Callbacks run after the bytes are handed to the connection. */
  write(data: string | Uint8Array, encoding?: BufferEncoding | WriteCallback, cb?: WriteCallback): boolean {
    if (typeof encoding === 'function') { cb = encoding; encoding = undefined; }
    if (this.destroyed) {
      if (cb) process.nextTick(cb, new Error('write after the response ended'));
      return false;
    }
    this.touch();
    if (!(typeof data === 'string' ? this.sendText(data, encoding ?? 'utf8') : this.send(asBuffer(data)))) this.blocked = true;
    if (cb) {
      this.unconfirmed += data.length;
      if (this.blocked) this.waiting.push(cb);
      else this.handed.push(cb);
      if (this._writableState.corked === 0) this.flushCallbacks();
    }
    return !this.blocked;
  }

  end(data?: string | Uint8Array | (() => void), encoding?: BufferEncoding | (() => void), cb?: () => void): this {
    if (typeof data === 'function') { cb = data; data = undefined; }
    if (typeof encoding === 'function') { cb = encoding; encoding = undefined; }
    if (data !== undefined) this.write(data, encoding);
    this.exchange.end(0);
    if (cb) process.nextTick(cb);
    return this;
  }

  /**
   * Closes the socket for its users. A response not yet ended is cut where it stands, and the web server is
   * told it is incomplete (Exchange.abandon); after a complete response this changes nothing.
   */
  destroy(err?: Error): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.writable = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    // Cut before its end (res.destroy(), a timeout): the request ends too, as node:http's does when its
    // connection closes under an unfinished response ('aborted', an ECONNRESET 'aborted' error, 'close').
    const cut = !this.exchange.finished;
    this.exchange.abandon();
    const cbs = this.waiting.concat(this.handed);
    this.waiting = [];
    this.handed = [];
    this.unconfirmed = 0;
    process.nextTick(() => {
      // The request first, as node:http's: in the response's 'close', req is already aborted and destroyed.
      const req = this.request;
      if (cut && req !== null && !req.destroyed) req.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
      for (const f of cbs) f(err ?? null);
      if (err && this.listenerCount('error') > 0) this.emit('error', err);
      this.emit('close', err !== undefined);
    });
    return this;
  }

  destroySoon(): void {
    this.destroy();
  }

  /** The exchange can take output again: callbacks held by backpressure run, then 'drain'. */
  drained(): void {
    if (!this.blocked) return;
    this.blocked = false;
    const w = this.waiting;
    this.waiting = [];
    if (this.handed.length === 0) this.unconfirmed = 0;
    for (const f of w) f(null);
    this.emit('drain');
  }

  private flushCallbacks(): void {
    if (this.handed.length === 0) return;
    const p = this.handed;
    this.handed = [];
    if (this.waiting.length === 0) this.unconfirmed = 0;
    // Write callbacks are asynchronous in net.Socket; ServerResponse emits 'finish' from one of them.
    process.nextTick(runAll, p);
  }

  /**
   * Text from ServerResponse: its first write is the header block, with the body appended when the body
   * is a string; both go into one record without an intermediate buffer.
   */
  private sendText(text: string, encoding: BufferEncoding): boolean {
    if (this.chunked !== null || (!this.headerDone && this.headerText !== '')) return this.send(Buffer.from(text, encoding));
    if (this.headerDone) {
      this.bytesWritten += text.length;
      return text.length === 0 ? true : this.exchange.writeText('', text, encoding);
    }
    const end = text.indexOf('\r\n\r\n');
    if (end < 0) return this.send(Buffer.from(text, encoding));
    if (this.isInterim(text)) { // writeContinue/writeProcessing/writeEarlyHints: CGI has no interim responses
      this.bytesWritten += end + 4;
      return end + 4 === text.length ? true : this.sendText(text.slice(end + 4), encoding);
    }
    this.headerDone = true;
    this.bytesWritten += text.length;
    const head = this.cgiHeader(text, end);
    if (this.chunked !== null) {
      // A handler chose chunked coding: the body is undone from bytes (rare).
      const ok = this.exchange.writeText(head, '', 'latin1');
      return end + 4 === text.length ? ok : this.body(Buffer.from(text.slice(end + 4), encoding));
    }
    return this.exchange.writeText(head, end + 4 === text.length ? '' : text.slice(end + 4), encoding);
  }

  /** Passes response bytes on; the first ones carry the HTTP header block, which becomes the CGI one. */
  private send(chunk: Buffer): boolean {
    this.bytesWritten += chunk.length;
    if (this.headerDone) return this.body(chunk);
    this.headerText += chunk.toString('latin1');
    const end = this.headerText.indexOf('\r\n\r\n');
    if (end < 0) return true;
    if (this.isInterim(this.headerText)) {
      const rest = this.headerText.slice(end + 4);
      this.headerText = '';
      this.bytesWritten -= rest.length;
      return rest.length === 0 ? true : this.send(Buffer.from(rest, 'latin1'));
    }
    this.headerDone = true;
    const text = this.headerText;
    this.headerText = '';
    const ok = this.exchange.write(Buffer.from(this.cgiHeader(text, end), 'latin1'));
    if (end + 4 === text.length) return ok;
    return this.body(Buffer.from(text.slice(end + 4), 'latin1'));
  }

  /**
   * "HTTP/1.1 1xx ..." while the response's own status is not 1xx: an interim response (100 Continue, 102
   * Processing, 103 Early Hints, before or after writeHead). A 1xx given to writeHead is a final status.
   */
  private isInterim(text: string): boolean {
    if (!/^HTTP\/\d\.\d 1\d\d\b/.test(text)) return false;
    const status = this.response?.statusCode;
    return status === undefined || status < 100 || status > 199;
  }

  private body(chunk: Buffer): boolean {
    if (this.chunked !== null) {
      const plain = this.chunked.push(chunk);
      return plain.length > 0 ? this.exchange.write(plain) : true;
    }
    return chunk.length > 0 ? this.exchange.write(chunk) : true;
  }

  /**
   * text[0, end) is "HTTP/1.1 301 Moved\r\nName: value..." -> "Location: ...\r\nStatus: 301 Moved\r\nName: value\r\n\r\n".
   * HAProxy 2.6 turns 301 into 302 unless Location comes before Status: so Location goes first. Kept lines
   * are copied in runs; only a name as long as a hop-by-hop name or Location is lower-cased and looked at.
   */
  private cgiHeader(text: string, end: number): string {
    let at = text.indexOf('\r\n');
    if (at < 0 || at > end) at = end;
    let status = text.slice(text.indexOf(' ') + 1, at);
    // A final 1xx (writeHead(101) for an upgrade): CGI cannot carry one, and the web server would get none.
    if (status.charCodeAt(0) === 0x31) status = '500 Internal Server Error';
    let out = '';
    let location = '';
    let kept = at + 2; // where the current run of kept lines starts
    while (at < end) {
      const from = at + 2;
      let to = text.indexOf('\r\n', from);
      if (to < 0 || to > end) to = end;
      const colon = text.indexOf(':', from);
      if (colon > from && colon < to && colon - from < SPECIAL_LENGTH.length && SPECIAL_LENGTH[colon - from] === 1) {
        const name = text.slice(from, colon).toLowerCase();
        if (name === 'location' || DROPPED.has(name)) {
          out += text.slice(kept, from);
          kept = to + 2;
          if (name === 'location') location += text.slice(from, to + 2);
          else if (name === 'transfer-encoding' && /chunked/i.test(text.slice(colon + 1, to))) this.chunked = new Dechunker();
        }
      }
      at = to;
    }
    if (kept < end) out += text.slice(kept, end) + '\r\n';
    return `${location}Status: ${status}\r\n${out}\r\n`;
  }
}

/** node:http takes a Buffer or any Uint8Array; the encoders need a Buffer (a view, not a copy). */
function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function runAll(callbacks: WriteCallback[]): void {
  for (const f of callbacks) f(null);
}

/** Undoes chunked transfer coding, which node:http applies only when a handler sets Transfer-Encoding itself. */
class Dechunker {
  private state: 'size' | 'data' | 'crlf' | 'trailer' | 'done' = 'size';
  private line = '';
  private left = 0;

  push(chunk: Buffer): Buffer {
    const out: Buffer[] = [];
    let i = 0;
    while (i < chunk.length && this.state !== 'done') {
      if (this.state === 'data') {
        const take = Math.min(this.left, chunk.length - i);
        out.push(chunk.subarray(i, i + take));
        i += take;
        this.left -= take;
        if (this.left === 0) this.state = 'crlf';
        continue;
      }
      const nl = chunk.indexOf(10, i);
      const end = nl < 0 ? chunk.length : nl + 1;
      this.line += chunk.toString('latin1', i, end);
      i = end;
      if (nl < 0) break;
      const line = this.line.trim();
      this.line = '';
      if (this.state === 'size') {
        this.left = parseInt(line, 16) || 0;
        this.state = this.left === 0 ? 'trailer' : 'data';
      } else if (this.state === 'crlf') {
        this.state = 'size';
      } else if (line === '') {
        this.state = 'done';
      }
    }
    return out.length === 1 ? out[0] : Buffer.concat(out);
  }
}
