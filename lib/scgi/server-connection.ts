/**
 * One SCGI connection on the application side: one request, its CONTENT_LENGTH body bytes, and a response
 * that ends with the close (SCGI protocol description).
 */
import type { Socket } from 'node:net';
import { BUILD_HEAD, type NetstringReader } from '../codec/index.js';
import { CgiwireError, LimitError } from '../errors.js';
import { Exchange, refusalResponse, type ResponseSink } from '../exchange.js';
import type { ServerState } from '../fastcgi/server-connection.js';
import { OutputQueue } from '../output.js';

export class ScgiServerConnection implements ResponseSink {
  private readonly reader: NetstringReader;
  private exchange: Exchange | null = null;
  private contentLength = 0;
  private received = 0;
  private holding = false;
  private done = false;
  private readonly out: OutputQueue;
  private counted = false;
  /** Response bytes have been queued: a refusal can no longer be sent in their place. */
  private responded = false;
  /** Runs out paramsTimeout after the first byte, when the header did not arrive in one chunk. */
  private headerTimer: NodeJS.Timeout | null = null;

  constructor(readonly socket: Socket, private readonly server: ServerState) {
    this.reader = server.codec.createNetstringReader(server.options.params.maxParamsBytes);
    this.out = new OutputQueue(socket, () => this.exchange?.drain());
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    // The close that ends every response is normal: an error (and its stack) only for a request cut short.
    socket.on('close', () => {
      if (this.exchange !== null && !this.done) this.close(new CgiwireError('ERR_CONNECTION_CLOSED', 'the web server closed the connection'));
      else this.close(null);
    });
    socket.on('error', () => { /* 'close' follows */ });
    socket.setTimeout(server.options.idleTimeout);
    socket.on('timeout', () => {
      if (this.exchange === null || this.done) socket.destroy();
      // A body that stopped coming while this side was reading: the request is refused and its slot freed.
      else if (this.received < this.contentLength && !this.holding) {
        this.timedOut(new LimitError('ERR_BODY_TIMEOUT', 'no request body bytes for idleTimeout'));
      }
    });
  }

  get size(): number {
    return this.exchange !== null && !this.done ? 1 : 0;
  }

  drainAndClose(): void {
    if (this.exchange === null) this.socket.destroy();
  }

  /** Aborts the request in progress and closes the connection now. */
  destroy(err: Error): void {
    this.close(err, false);
    this.socket.destroy();
  }

  /** 408 when nothing of the response is out yet (the handler is told by the abort), else a cut. */
  private timedOut(err: Error): void {
    const ex = this.exchange!;
    if (this.responded) {
      this.server.onError(err);
      ex.abort(err, false);
      this.finishResponse(true);
      return;
    }
    // Refused first (the request is then over), so that the abort the handler hears cuts nothing.
    this.refuse(408, err);
    ex.abort(err, false);
  }

  private onData(chunk: Buffer): void {
    // A refused or answered request is over: the rest of its bytes (a body the web server was still sending)
    // is dropped.
    if (this.done) return;
    if (this.exchange === null) {
      const at = this.reader.push(chunk);
      if (typeof at !== 'number') return this.refuse(at instanceof LimitError ? 431 : 400, at);
      if (at < 0) {
        this.headerTimer ??= setTimeout(() => {
          if (this.exchange === null && !this.done) {
            this.refuse(408, new LimitError('ERR_PARAMS_TIMEOUT', 'the SCGI header did not end within paramsTimeout'));
          }
        }, this.server.options.paramsTimeout).unref();
        return;
      }
      this.stopHeaderTimer();
      if (!this.begin()) return;
      chunk = chunk.subarray(at);
    }
    this.onBody(chunk);
  }

  /** The header is complete: validate it and hand the exchange over. */
  private begin(): boolean {
    const o = this.server.options;
    let decoded;
    try {
      decoded = this.server.codec.decodeScgiHeader(this.reader.header!, o.params, BUILD_HEAD);
    } catch (err) {
      this.refuse(err instanceof LimitError ? 431 : 400, err as Error);
      return false;
    }
    if (this.server.active >= o.maxRequests) {
      this.refuse(503, new LimitError('ERR_OVERLOADED', 'maxRequests requests are in progress'));
      return false;
    }
    if (decoded.contentLength > o.maxBodyBytes) {
      this.refuse(413, new LimitError('ERR_BODY_TOO_LARGE', 'the request body is larger than maxBodyBytes'));
      return false;
    }
    this.server.active++;
    this.counted = true;
    this.contentLength = decoded.contentLength;
    const ex = new Exchange(decoded.params, decoded.head!, 'responder', this, () => this.resume());
    this.exchange = ex;
    if (this.contentLength === 0) ex.deliverBody(null);
    this.server.onExchange(ex);
    return true;
  }

  private onBody(chunk: Buffer): void {
    const ex = this.exchange!;
    const left = this.contentLength - this.received;
    if (left <= 0 || chunk.length === 0) return; // bytes past CONTENT_LENGTH are not part of the request
    const piece = chunk.length > left ? chunk.subarray(0, left) : chunk;
    this.received += piece.length;
    const more = ex.deliverBody(piece);
    if (this.received === this.contentLength) ex.deliverBody(null);
    else if (!more && !this.holding) {
      this.holding = true;
      this.socket.pause();
    }
  }

  private resume(): void {
    if (this.holding) {
      this.holding = false;
      this.socket.resume();
      // The idle timer restarts with reading (see the FastCGI connection's updateReading).
      this.socket.setTimeout(this.server.options.idleTimeout);
    }
  }

  write(chunk: Buffer): boolean {
    if (this.done || this.socket.destroyed) return false;
    this.responded = true;
    return this.out.push(chunk);
  }

  writeText(head: string, body: string, encoding: BufferEncoding): boolean {
    if (this.done || this.socket.destroyed) return false;
    this.responded = true;
    const headLength = head.length;
    const out = Buffer.allocUnsafe(headLength + (body.length === 0 ? 0 : Buffer.byteLength(body, encoding)));
    out.write(head, 0, headLength, 'latin1');
    if (out.length > headLength) out.write(body, headLength, encoding);
    return this.out.push(out);
  }

  /** SCGI has no error stream: the bytes go to this process's stderr, which a spawning web server logs. */
  writeStderr(chunk: Buffer): void {
    process.stderr.write(chunk);
  }

  /** The close ends the response (SCGI). */
  end(): void {
    this.finishResponse(false);
  }

  /** A cut response: the connection is reset rather than closed, so the web server sees an error, not an end. */
  abandon(): void {
    this.finishResponse(true);
  }

  private finishResponse(cut: boolean): void {
    if (this.done) return;
    this.done = true;
    this.release();
    // Reading again (a body left unread had paused it): the rest is dropped, and the web server's close seen.
    this.resume();
    if (!cut) {
      this.out.flush();
      this.socket.end();
      return;
    }
    // A cut: what this tick queued is dropped, so the last pieces do not arrive as if whole; then a reset
    // over TCP (the web server sees an error). A unix socket has no reset: its close looks like an end, which
    // only a Content-Length lets the web server tell apart.
    this.out.discard();
    const tcp = this.socket.remoteFamily === 'IPv4' || this.socket.remoteFamily === 'IPv6';
    if (tcp) this.socket.resetAndDestroy();
    else this.socket.destroy();
  }

  /** Answers with a refusal and ends the connection; the request (if counted) no longer is. */
  private refuse(status: number, err: Error): void {
    this.done = true;
    this.release();
    this.server.onError(err);
    this.socket.end(refusalResponse(status));
  }

  private stopHeaderTimer(): void {
    if (this.headerTimer !== null) clearTimeout(this.headerTimer);
    this.headerTimer = null;
  }

  private release(): void {
    if (this.counted) {
      this.counted = false;
      this.server.active--;
    }
  }

  private close(err: Error | null, byPeer = true): void {
    this.stopHeaderTimer();
    if (err !== null && this.exchange !== null && !this.done) this.exchange.abort(err, byPeer);
    this.done = true;
    this.release();
  }
}
