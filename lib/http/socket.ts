/**
 * The socket a request and its response see. node:http's ServerResponse writes an HTTP/1.1 response to it;
 * this socket turns that into a CGI response (RFC 3875, 6.2): the status line becomes a `Status:` header,
 * hop-by-hop headers are dropped (the web server owns the HTTP connection), and the body goes on as is.
 * Using the real IncomingMessage and ServerResponse keeps every framework working, including those that
 * replace their prototypes (Express).
 */
import { Duplex } from 'node:stream';
import type { Exchange } from '../exchange.js';

/** Response headers a CGI application must not send (RFC 3875, 6.3; RFC 9110, 7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'te', 'trailer']);

/** The addresses of an exchange, from its CGI params. */
export interface SocketAddresses {
  remoteAddress?: string;
  remotePort?: number;
  localAddress?: string;
  localPort?: number;
  encrypted: boolean;
}

export class ExchangeSocket extends Duplex {
  readonly remoteAddress?: string;
  readonly remotePort?: number;
  readonly remoteFamily?: string;
  readonly localAddress?: string;
  readonly localPort?: number;
  /** True when the web server says the client used TLS (HTTPS=on), as on a tls.TLSSocket. */
  readonly encrypted: boolean;
  private headerDone = false;
  private headerText = '';
  private chunked: Dechunker | null = null;
  private waiting: (() => void)[] = [];

  constructor(private readonly exchange: Exchange, addresses: SocketAddresses, bodyBufferBytes: number) {
    // IncomingMessage takes its highWaterMark from its socket: this bounds the unread body per request.
    super({ readableHighWaterMark: bodyBufferBytes, writableHighWaterMark: 65536, decodeStrings: true });
    this.remoteAddress = addresses.remoteAddress;
    this.remotePort = addresses.remotePort;
    this.remoteFamily = addresses.remoteAddress?.includes(':') ? 'IPv6' : addresses.remoteAddress ? 'IPv4' : undefined;
    this.localAddress = addresses.localAddress;
    this.localPort = addresses.localPort;
    this.encrypted = addresses.encrypted;
  }

  // net.Socket methods frameworks call; the web server owns the real connection, so they change nothing here.
  setTimeout(_ms: number, cb?: () => void): this { if (cb) this.once('timeout', cb); return this; }
  setNoDelay(): this { return this; }
  setKeepAlive(): this { return this; }
  ref(): this { return this; }
  unref(): this { return this; }
  address(): { address?: string; port?: number; family?: string } {
    return { address: this.localAddress, port: this.localPort, family: this.remoteFamily };
  }

  override _read(): void { /* the request body is pushed to the IncomingMessage directly */ }

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.send(chunk)) cb(); else this.waiting.push(() => cb());
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    let ok = true;
    for (const c of chunks) ok = this.send(c.chunk);
    if (ok) cb(); else this.waiting.push(() => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.exchange.end(0);
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.exchange.end(0);
    this.flushWaiting();
    cb(err);
  }

  /** The exchange can take output again. */
  drained(): void {
    this.flushWaiting();
  }

  private flushWaiting(): void {
    const w = this.waiting;
    this.waiting = [];
    for (const f of w) f();
  }

  /** Passes response bytes on; the first ones carry the HTTP header block, which becomes the CGI one. */
  private send(chunk: Buffer): boolean {
    if (this.headerDone) return this.body(chunk);
    this.headerText += chunk.toString('latin1');
    const end = this.headerText.indexOf('\r\n\r\n');
    if (end < 0) return true;
    this.headerDone = true;
    const text = this.headerText;
    this.headerText = '';
    const ok = this.exchange.write(Buffer.from(this.cgiHeader(text.slice(0, end)), 'latin1'));
    const rest = Buffer.from(text.slice(end + 4), 'latin1');
    return rest.length > 0 ? this.body(rest) : ok;
  }

  private body(chunk: Buffer): boolean {
    if (this.chunked !== null) {
      const plain = this.chunked.push(chunk);
      return plain.length > 0 ? this.exchange.write(plain) : true;
    }
    return chunk.length > 0 ? this.exchange.write(chunk) : true;
  }

  /** "HTTP/1.1 301 Moved\r\nName: value..." -> "Location: ...\r\nStatus: 301 Moved\r\nName: value...\r\n\r\n". */
  private cgiHeader(block: string): string {
    const lines = block.split('\r\n');
    const statusLine = lines[0];
    const space = statusLine.indexOf(' ');
    let out = '';
    let location = '';
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i];
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      if (HOP_BY_HOP.has(name)) {
        if (name === 'transfer-encoding' && /chunked/i.test(line.slice(colon + 1))) this.chunked = new Dechunker();
        continue;
      }
      // HAProxy 2.6 turns 301 into 302 unless Location comes before Status: so Location goes first.
      if (name === 'location') location += line + '\r\n';
      else out += line + '\r\n';
    }
    return `${location}Status: ${statusLine.slice(space + 1)}\r\n${out}\r\n`;
  }
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
