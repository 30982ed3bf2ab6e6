/**
 * The socket a request and its response see. node:http's ServerResponse writes to it: first the CGI header
 * block its head was stored as (lib/http/response.ts), then the body, which goes on as is. Using the real
 * IncomingMessage and ServerResponse keeps every framework working, including those that replace their
 * prototypes (Express).
 *
 * It is an EventEmitter with the part of net.Socket's surface that node:http and frameworks use, not a
 * stream: a Duplex per request cost more than the rest of the request (its two stream states, a nextTick
 * per write callback and per destroy). The contract ServerResponse relies on (Node >= 20): write(data,
 * encoding, cb) returning false under backpressure and 'drain' after, cork/uncork with _writableState.corked,
 * writable/destroyed, 'close' when the response is over.
 */
import { EventEmitter } from 'node:events';
import type { Exchange } from '../exchange.js';

/** The addresses of an exchange, from its CGI params. */
export interface SocketAddresses {
  remoteAddress?: string;
  remotePort?: number;
  localAddress?: string;
  localPort?: number;
  encrypted: boolean;
}

type WriteCallback = (err?: Error | null) => void;

/** The head node:http writes for an interim response (100 Continue, 102 Processing, 103 Early Hints). */
const INTERIM = /^HTTP\/1\.1 1\d\d /;

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
  /** The CGI header block has gone out. */
  private headerDone = false;
  /** Length of the header block the response stored, which starts its next write (0: none pending). */
  private headLength = 0;
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

  /** The response stored its head, `length` chars of latin1 text that its next write starts with. */
  headStored(length: number): void {
    this.headLength = length;
  }

  /** Text from ServerResponse: the stored head, with the body appended when the body is a string. */
  private sendText(text: string, encoding: BufferEncoding): boolean {
    let head = '';
    if (!this.headerDone) {
      // writeContinue, writeProcessing and writeEarlyHints write their interim heads themselves, before or
      // after writeHead: CGI has no interim responses, so they are dropped. A CGI head never starts so (it
      // starts with Location or Status), so the test is only run on text that starts with 'H'.
      if (text.charCodeAt(0) === 0x48 && INTERIM.test(text)) return true;
      if (this.headLength > 0) {
        head = text.slice(0, this.headLength);
        text = text.slice(this.headLength);
        this.headLength = 0;
        this.headerDone = true;
      }
    }
    this.bytesWritten += head.length + text.length;
    return head.length + text.length === 0 ? true : this.exchange.writeText(head, text, encoding);
  }

  /** Body bytes, passed on. */
  private send(chunk: Buffer): boolean {
    this.bytesWritten += chunk.length;
    return chunk.length > 0 ? this.exchange.write(chunk) : true;
  }
}

/** node:http takes a Buffer or any Uint8Array; the encoders need a Buffer (a view, not a copy). */
function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function runAll(callbacks: WriteCallback[]): void {
  for (const f of callbacks) f(null);
}
