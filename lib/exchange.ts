/**
 * The protocol-neutral exchange: one request as a protocol connection (FastCGI or SCGI) produced it, and
 * the way back for its response. The HTTP layer consumes exchanges and knows no protocol; the protocol
 * layers produce them and know no HTTP objects.
 */
import { STATUS_CODES } from 'node:http';
import type { Params, RequestHead } from './codec/index.js';

/** FastCGI roles (FastCGI 1.0, section 6); an SCGI request is always a responder. */
export type Role = 'responder' | 'authorizer' | 'filter';

/** How a protocol connection carries one exchange's response. */
export interface ResponseSink {
  /**
   * Response bytes in order: the CGI header block, then the body. Returns false when the connection's
   * output is full; `onDrain` of the exchange is called when it has room again.
   */
  write(chunk: Buffer): boolean;
  /** The same for text: `head` in latin1 then `body` in `encoding` (saves encoding to a buffer first). */
  writeText(head: string, body: string, encoding: BufferEncoding): boolean;
  /** Bytes for the web server's error log (FastCGI STDERR); SCGI has no such stream and drops them. */
  writeStderr(chunk: Buffer): void;
  /** Ends the response (FastCGI: the closing STDOUT and STDERR records and END_REQUEST; SCGI: the close). */
  end(appStatus: number): void;
  /**
   * The response was cut off before its end: the web server must not take it for complete. FastCGI: the
   * connection closes without END_REQUEST (END_REQUEST means complete whatever appStatus says), or, when
   * other requests are in progress on it, END_REQUEST with appStatus 1. SCGI: the connection is reset.
   */
  abandon(): void;
}

/** What the consumer of an exchange (the HTTP layer) is told. */
export interface ExchangeListener {
  /** A piece of the request body (a view; it stays valid). Return false to ask for no more for now. */
  body(chunk: Buffer): boolean;
  /** The request body is complete. */
  bodyEnd(): void;
  /** FILTER's DATA stream, like body/bodyEnd. */
  dataPiece?(chunk: Buffer): boolean;
  dataEnd?(): void;
  /** The web server gave up on the request or the connection dropped. */
  abort(reason: Error): void;
  /** The response may be written again after a write returned false. */
  drain(): void;
}

export class Exchange {
  /** Made when the signal is first asked for: an AbortController costs microseconds per request. */
  private controller: AbortController | null = null;
  private abortReason: Error | null = null;
  private abortedByPeer = false;
  private listener: ExchangeListener | null = null;
  /** Body events that came before a listener was attached. */
  private early: (Buffer | null)[] | null = [];
  private ended = false;
  /** True while the consumer has asked for no more body. */
  bodyPaused = false;

  constructor(
    /** All params (FastCGI PARAMS or SCGI headers), byte-safe. */
    readonly params: Params,
    /** Method, url and headers as node:http builds them. */
    readonly head: RequestHead,
    readonly role: Role,
    private readonly sink: ResponseSink,
    /** Called when the consumer wants body again after pausing it. */
    private readonly onResume: (exchange: Exchange) => void,
    /** FILTER only: FCGI_DATA_LENGTH and FCGI_DATA_LAST_MOD (FastCGI 1.0, 6.4). */
    readonly dataLength?: number,
    readonly dataLastModified?: number,
  ) {}

  /** Fires when the web server aborts the request or the connection drops. */
  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.abortReason !== null) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  /** True once the web server aborted the request or the connection dropped. */
  get aborted(): boolean {
    return this.abortReason !== null;
  }

  /** True once end() was called. */
  get finished(): boolean {
    return this.ended;
  }

  /** Attaches the consumer; body pieces that came before are replayed to it. */
  attach(listener: ExchangeListener): void {
    this.listener = listener;
    const early = this.early;
    this.early = null;
    if (early !== null) for (const piece of early) this.deliverBody(piece);
    if (this.abortReason !== null) listener.abort(this.abortReason);
  }

  // ---- From the protocol connection ----

  /** A body piece, or null at its end. Returns false when the consumer asked for no more. */
  deliverBody(piece: Buffer | null): boolean {
    const l = this.listener;
    if (l === null) {
      this.early!.push(piece);
      return true;
    }
    if (piece === null) {
      l.bodyEnd();
      return true;
    }
    if (!l.body(piece)) this.bodyPaused = true;
    return !this.bodyPaused;
  }

  /** A DATA piece (FILTER), or null at its end. */
  deliverData(piece: Buffer | null): boolean {
    const l = this.listener;
    if (l === null || l.dataPiece === undefined) return true;
    if (piece === null) {
      l.dataEnd?.();
      return true;
    }
    if (!l.dataPiece(piece)) this.bodyPaused = true;
    return !this.bodyPaused;
  }

  /**
   * The request is over before its response: `byPeer` when the web server ended it (ABORT_REQUEST, its close),
   * false when this side gives up on it (a closing server's timeout, a broken connection).
   */
  abort(reason: Error, byPeer = true): void {
    if (this.abortReason !== null) return;
    this.abortReason = reason;
    this.abortedByPeer = byPeer;
    this.controller?.abort(reason);
    this.listener?.abort(reason);
  }

  drain(): void {
    this.listener?.drain();
  }

  // ---- From the consumer ----

  /** The consumer wants more body (or, for FILTER, more DATA). */
  resumeBody(): void {
    if (!this.bodyPaused) return;
    this.bodyPaused = false;
    this.onResume(this);
  }

  write(chunk: Buffer): boolean {
    if (this.ended) return false;
    return this.sink.write(chunk);
  }

  writeText(head: string, body: string, encoding: BufferEncoding): boolean {
    if (this.ended) return false;
    return this.sink.writeText(head, body, encoding);
  }

  writeStderr(chunk: Buffer): void {
    if (!this.ended) this.sink.writeStderr(chunk);
  }

  /**
   * Cuts the response where it stands (see ResponseSink.abandon). After the web server's own abort it simply
   * ends (FastCGI 1.0, 5.4: END_REQUEST answers ABORT_REQUEST).
   */
  abandon(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.abortReason !== null && this.abortedByPeer) this.sink.end(0);
    else this.sink.abandon();
  }

  end(appStatus = 0): void {
    if (this.ended) return;
    this.ended = true;
    this.sink.end(appStatus);
  }
}

/**
 * The CGI response for a request this side refuses (a crossed limit, bad params, a timeout), the same for
 * both protocols: a Status line with the standard reason, and the reason as text.
 */
export function refusalResponse(status: number): Buffer {
  const reason = STATUS_CODES[status] ?? 'Error';
  return Buffer.from(`Status: ${status} ${reason}\r\nContent-Type: text/plain\r\n\r\n${reason}\n`, 'latin1');
}
