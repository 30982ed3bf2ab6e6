/**
 * One FastCGI connection on the application side (FastCGI 1.0): records in, exchanges out, responses back
 * as records. Requests are multiplexed by id; management records (id 0) are answered here.
 */
import type { Socket } from 'node:net';
import {
  BUILD_HEAD, type Codec, type Params, RecordType, contentPiece, encodeEndRequest, encodeGetValuesResult, encodeStream,
  encodeResponseEnd, encodeTextRecord, encodeUnknownType,
} from '../codec/index.js';
import { CgiwireError, LimitError } from '../errors.js';
import { Exchange, refusalResponse, type ResponseSink, type Role } from '../exchange.js';
import type { ResolvedOptions } from '../options.js';
import { OutputQueue } from '../output.js';
import { IdTable } from './id-table.js';
import { quickAcker } from '../node-internals.js';

/** END_REQUEST protocolStatus values (FastCGI 1.0, 5.5). */
export const ProtocolStatus = { REQUEST_COMPLETE: 0, CANT_MPX_CONN: 1, OVERLOADED: 2, UNKNOWN_ROLE: 3 } as const;
const ROLES: (Role | undefined)[] = [undefined, 'responder', 'authorizer', 'filter'];
const KEEP_CONN = 1;
/** TCP_QUICKACK is asked for while a request's body is within this many bytes of its end. */
const QUICKACK_TAIL = 65536;

/** What every connection of one server shares. */
export interface ServerState {
  readonly options: ResolvedOptions;
  readonly codec: Codec;
  /** Requests in progress on all connections (for maxRequests). */
  active: number;
  onExchange(exchange: Exchange): void;
  /** A handler error or a refused request, for the server's 'clientError'-like reporting. */
  onError(err: Error): void;
}

class Request implements ResponseSink {
  /** PARAMS pieces so far; null once the params have ended (or never will). */
  params: Buffer[] | null = [];
  paramsBytes = 0;
  exchange: Exchange | null = null;
  bodyBytes = 0;
  bodyDone = false;
  dataDone = false;
  responseStarted = false;
  stderrUsed = false;
  done = false;
  /** Body bytes still to come by CONTENT_LENGTH (Infinity when unknown). */
  bodyLeft = Infinity;
  /** FILTER: DATA bytes still to come by FCGI_DATA_LENGTH (Infinity when unknown). */
  dataLeft = Infinity;
  /** Counted in the connection's `tailing`: the last QUICKACK_TAIL bytes of its body are arriving. */
  tail = false;
  /** Runs out paramsTimeout after the params started, when they did not end in the chunk that began them. */
  paramsTimer: NodeJS.Timeout | null = null;

  constructor(readonly conn: FastCgiServerConnection, readonly id: number, readonly role: Role,
    readonly keepConn: boolean) {}

  write(chunk: Buffer): boolean {
    if (this.done) return false;
    this.responseStarted = true;
    return this.conn.output(encodeStream(this.conn.codec.core, RecordType.STDOUT, this.id, chunk, false));
  }

  writeText(head: string, body: string, encoding: BufferEncoding): boolean {
    if (this.done) return false;
    this.responseStarted = true;
    const record = encodeTextRecord(RecordType.STDOUT, this.id, head, body, encoding);
    if (record !== null) return record.length === 0 ? true : this.conn.output(record);
    const ok = this.write(Buffer.from(head, 'latin1'));
    return this.write(Buffer.from(body, encoding)) && ok;
  }

  writeStderr(chunk: Buffer): void {
    if (this.done || chunk.length === 0) return;
    this.stderrUsed = true;
    this.conn.output(encodeStream(this.conn.codec.core, RecordType.STDERR, this.id, chunk, false));
  }

  end(appStatus: number): void {
    if (this.done) return;
    // The closing STDOUT (and STDERR) record and END_REQUEST, in one buffer.
    this.conn.output(encodeResponseEnd(this.id, appStatus >>> 0, ProtocolStatus.REQUEST_COMPLETE, this.stderrUsed));
    this.conn.finish(this);
  }

  abandon(): void {
    if (this.done) return;
    if (this.conn.size > 1) this.end(1);
    else this.conn.cut(this);
  }
}

export class FastCgiServerConnection {
  readonly codec: Codec;
  private readonly requests = new IdTable<Request>();
  private readonly reader;
  /** Requests whose consumer holds bodyBufferBytes of unread body: reading stops while there are any. */
  private readonly holding = new Set<Request>();
  private readonly out: OutputQueue;
  /** Reading stopped because the web server is not taking this side's output (as node:http does). */
  private outputBlocked = false;
  private closing = false;
  /** Requests whose body is in its last QUICKACK_TAIL bytes. */
  private tailing = 0;
  /** Requests begun whose params have not ended. */
  private awaitingParams = 0;

  constructor(readonly socket: Socket, private readonly server: ServerState) {
    this.codec = server.codec;
    this.out = new OutputQueue(socket, () => {
      if (this.outputBlocked) {
        this.outputBlocked = false;
        this.updateReading();
      }
      for (const r of this.requests.values()) r.exchange?.drain();
    });
    this.reader = server.codec.createRecordReader((type, id, buf, offset, length) => this.onRecord(type, id, buf, offset, length));
    const ack = server.options.quickAck ? quickAcker(socket) : null;
    socket.on('data', (chunk: Buffer) => {
      const err = this.reader.push(chunk);
      if (err !== null) return this.fail(err);
      // A peer that sends but does not read (answers to its management records, refusals, responses) would
      // otherwise make this side queue output without bound: stop reading until it takes what is queued.
      if (this.out.blocked && !this.outputBlocked) {
        this.outputBlocked = true;
        this.updateReading();
      }
      // Near the end of a body, ACK at once: nginx holds a body's last small segment under Nagle until the
      // previous one is acknowledged, and a delayed ACK makes that 40 ms (p99 30-35 ms at one connection in
      // bench/E2E-RESULTS.md). Only near the end: immediate ACKs for a whole body cost CPU on both sides.
      if (ack !== null && this.tailing > 0) ack();
      // Params almost always end in the chunk that begins them; only a request still waiting gets a timer.
      if (this.awaitingParams > 0) this.armParamsTimers();
    });
    socket.on('close', () => {
      if (this.requests.size > 0) this.abortAll(new CgiwireError('ERR_CONNECTION_CLOSED', 'the web server closed the connection'), true);
    });
    socket.on('error', () => { /* 'close' follows and aborts the requests */ });
    socket.setTimeout(server.options.idleTimeout);
    socket.on('timeout', () => {
      if (this.requests.size === 0) return void socket.destroy();
      // Input that stopped coming while this side was reading (a stalled peer must not hold slots for ever):
      // those requests are refused with 408. Silence while this side holds reading is its own doing.
      if (this.holding.size > 0 || this.outputBlocked) return;
      for (const r of this.requests.values()) {
        if (awaitsInput(r)) {
          this.refuse(r, 408, new LimitError('ERR_INPUT_TIMEOUT', `request ${r.id} got no input for idleTimeout`));
        }
      }
    });
  }

  /** Requests in progress on this connection. */
  get size(): number {
    return this.requests.size;
  }

  /** Stops taking requests and closes the connection once those in progress are done. */
  drainAndClose(): void {
    this.closing = true;
    if (this.requests.size === 0) this.endSocket();
  }

  /** Closes the connection under a response that was cut off (its only request): no END_REQUEST. */
  cut(r: Request): void {
    this.finish(r);
    this.out.flush();
    this.socket.destroy();
  }

  /** Aborts every request in progress and closes the connection now. */
  destroy(err: Error): void {
    this.abortAll(err, false);
    this.socket.destroy();
  }

  /** Closes the connection after what is queued for it. */
  private endSocket(): void {
    this.out.flush();
    this.socket.end();
  }

  /** Writes records; what one tick writes goes out in one write (OutputQueue). */
  output(pieces: Buffer | Buffer[]): boolean {
    if (this.socket.destroyed) return false;
    if (!Array.isArray(pieces)) return this.out.push(pieces);
    let ok = true;
    for (const p of pieces) ok = this.out.push(p);
    return ok;
  }

  /**
   * A request's body has ended (or will not be read any more). Its unread body no longer stops the
   * connection's reading: nothing more of it can come, and other requests, ABORT_REQUEST and the peer's
   * close must still be seen.
   */
  private endBody(r: Request): void {
    if (r.bodyDone) return;
    r.bodyDone = true;
    if (r.tail) {
      r.tail = false;
      this.tailing--;
    }
    this.release(r);
  }

  /** Counts the request in `tailing` once its body's end is near. */
  private checkTail(r: Request): void {
    if (!r.tail && !r.bodyDone && r.bodyLeft <= QUICKACK_TAIL) {
      r.tail = true;
      this.tailing++;
    }
  }

  /** Starts the paramsTimeout of each request whose params have not ended and that has none yet. */
  private armParamsTimers(): void {
    for (const r of this.requests.values()) {
      if (r.exchange !== null || r.done || r.paramsTimer !== null) continue;
      r.paramsTimer = setTimeout(() => {
        r.paramsTimer = null;
        // Params left unread because this side stopped reading are not the web server's delay: wait again.
        if (this.holding.size > 0 || this.outputBlocked) {
          if (!r.done) this.armParamsTimers();
          return;
        }
        if (r.exchange === null && !r.done) {
          this.refuse(r, 408, new LimitError('ERR_PARAMS_TIMEOUT',
            `the params of request ${r.id} did not end within paramsTimeout`));
        }
      }, this.server.options.paramsTimeout);
      r.paramsTimer.unref();
    }
  }

  /** The request's params have ended (or never will): it no longer waits for them. */
  private paramsSettled(r: Request): void {
    if (r.paramsTimer !== null) {
      clearTimeout(r.paramsTimer);
      r.paramsTimer = null;
    }
    if (r.params !== null) {
      r.params = null;
      this.awaitingParams--;
    }
  }

  /** A request's END_REQUEST is out. */
  finish(r: Request): void {
    if (r.done) return;
    r.done = true;
    this.paramsSettled(r);
    this.endBody(r);
    this.requests.delete(r.id);
    this.server.active--;
    this.release(r);
    // KEEP_CONN clear: close after END_REQUEST (FastCGI 1.0, 5.1), but not under other requests in progress.
    if (!r.keepConn) this.closing = true;
    if (this.closing && this.requests.size === 0) this.endSocket();
  }

  private onRecord(type: number, id: number, buf: Buffer, offset: number, length: number): void {
    // After a fault closed the connection, the rest of its chunk is not acted on.
    if (this.socket.destroyed) return;
    if (id === 0) return this.onManagement(type, buf, offset, length);
    const r = this.requests.get(id);
    switch (type) {
      case RecordType.BEGIN_REQUEST:
        // A BEGIN for an id already active is a protocol error (FastCGI 1.0, 3.3): the connection cannot be trusted.
        if (r !== undefined) return this.fail(new CgiwireError('ERR_FASTCGI_DUPLICATE_REQUEST', `BEGIN_REQUEST for active request ${id}`));
        if (length < 8) return this.fail(new CgiwireError('ERR_FASTCGI_BAD_RECORD', 'BEGIN_REQUEST shorter than 8 bytes'));
        return this.begin(id, buf.readUInt16BE(offset), buf[offset + 2]);
      case RecordType.ABORT_REQUEST:
        if (r !== undefined) this.abortRequest(r);
        return;
      case RecordType.PARAMS:
        if (r !== undefined) this.onParams(r, buf, offset, length);
        return;
      case RecordType.STDIN:
        if (r !== undefined) this.onStdin(r, buf, offset, length);
        return;
      case RecordType.DATA:
        if (r !== undefined && r.role === 'filter' && r.exchange !== null && !r.dataDone) {
          // DATA follows the end of STDIN, and is held to FCGI_DATA_LENGTH as the body is to CONTENT_LENGTH.
          if (!r.bodyDone || breaksLength(r.dataLeft, length)) {
            return this.fail(new CgiwireError('ERR_FASTCGI_DATA_LENGTH', r.bodyDone
              ? `request ${r.id}'s DATA does not match its FCGI_DATA_LENGTH` : `DATA before the end of STDIN for request ${r.id}`));
          }
          r.dataLeft -= length;
          if (length === 0) {
            r.dataDone = true;
            r.exchange.deliverData(null);
            this.release(r);
          } else if (!r.exchange.deliverData(contentPiece(buf, offset, length, this.reader.chunkShare)) && !this.holding.has(r)) {
            this.holding.add(r); // the same bound as the body: unread DATA stops the connection's reading
            this.updateReading();
          }
        }
        return;
      default:
        // Records for ids that are not active, and application record types this side does not take, are ignored.
        return;
    }
  }

  private onManagement(type: number, buf: Buffer, offset: number, length: number): void {
    if (type !== RecordType.GET_VALUES) {
      // Any management type not understood gets UNKNOWN_TYPE (FastCGI 1.0, 4.2), never a crash.
      this.output(encodeUnknownType(type));
      return;
    }
    let names: [string, string][];
    try {
      names = this.codec.decodeNameValues(buf.subarray(offset, offset + length));
    } catch (err) {
      return this.fail(err as Error);
    }
    // The values advertised are the limits enforced (FastCGI 1.0, 4.1).
    const o = this.server.options;
    const known: Record<string, string> = {
      FCGI_MAX_CONNS: String(o.maxConnections),
      FCGI_MAX_REQS: String(o.maxRequests),
      FCGI_MPXS_CONNS: o.maxRequestsPerConnection > 1 ? '1' : '0',
    };
    this.output(encodeGetValuesResult(names.filter(([n]) => Object.hasOwn(known, n)).map(([n]) => [n, known[n]] as const)));
  }

  private begin(id: number, roleNumber: number, flags: number): void {
    const keepConn = (flags & KEEP_CONN) !== 0;
    const role = ROLES[roleNumber];
    const o = this.server.options;
    let refusal = -1;
    if (role === undefined || !o.roles.has(role)) refusal = ProtocolStatus.UNKNOWN_ROLE;
    else if (this.closing || this.requests.size >= o.maxRequestsPerConnection) refusal = ProtocolStatus.CANT_MPX_CONN;
    else if (this.server.active >= o.maxRequests) refusal = ProtocolStatus.OVERLOADED;
    if (refusal >= 0) {
      this.output(encodeEndRequest(id, 0, refusal));
      if (!keepConn) this.closing = true;
      if (this.closing && this.requests.size === 0) this.endSocket();
      return;
    }
    this.server.active++;
    this.awaitingParams++;
    this.requests.set(id, new Request(this, id, role!, keepConn));
  }

  private onParams(r: Request, buf: Buffer, offset: number, length: number): void {
    const pieces = r.params;
    if (pieces === null || r.exchange !== null || r.done) return;
    if (length > 0) {
      r.paramsBytes += length;
      if (r.paramsBytes > this.server.options.params.maxParamsBytes) {
        return this.refuse(r, 431,
          new LimitError('ERR_FASTCGI_PARAMS_TOO_LARGE', 'the params are larger than maxParamsBytes'));
      }
      pieces.push(contentPiece(buf, offset, length));
      return;
    }
    // The empty PARAMS record: the params are complete. One piece is decoded where it lies; more are joined once.
    const body = pieces.length === 1 ? pieces[0] : Buffer.concat(pieces, r.paramsBytes);
    this.paramsSettled(r);
    let decoded;
    try {
      decoded = this.codec.decodeParams(body, 0, body.length, this.server.options.params, BUILD_HEAD);
    } catch (err) {
      const limit = err instanceof LimitError;
      return this.refuse(r, limit ? 431 : 400, err as Error);
    }
    const { params, head } = decoded;
    // No CONTENT_LENGTH (Apache passes a chunked body on as STDIN without one): the length is unknown.
    const contentLength = head!.headers['content-length'];
    const declared = contentLength === undefined || contentLength === '' ? NaN : Number(contentLength);
    if (Number.isSafeInteger(declared) && declared >= 0) r.bodyLeft = declared;
    const exchange = new Exchange(params, head!, r.role, r, (ex) => this.resume(ex), ...filterData(r.role, params));
    r.exchange = exchange;
    if (exchange.dataLength !== undefined) r.dataLeft = exchange.dataLength;
    if (r.role === 'authorizer') {
      // An authorizer gets no body; Apache's mod_authnz_fcgi sends no STDIN at all, so answer now.
      this.endBody(r);
      exchange.deliverBody(null);
    }
    this.checkTail(r);
    this.server.onExchange(exchange);
  }

  private onStdin(r: Request, buf: Buffer, offset: number, length: number): void {
    const ex = r.exchange;
    if (ex === null) {
      if (!r.done) this.fail(new CgiwireError('ERR_FASTCGI_BAD_RECORD', `STDIN before the end of PARAMS for request ${r.id}`));
      return;
    }
    if (r.bodyDone) return;
    if (breaksLength(r.bodyLeft, length)) {
      return this.fail(new CgiwireError('ERR_FASTCGI_BODY_LENGTH',
        `request ${r.id}'s STDIN ${length === 0 ? `ended ${r.bodyLeft} bytes short of` : 'went past'} its CONTENT_LENGTH`));
    }
    if (length === 0) {
      this.endBody(r);
      ex.deliverBody(null);
      return;
    }
    r.bodyBytes += length;
    r.bodyLeft -= length;
    this.checkTail(r);
    if (r.bodyBytes > this.server.options.maxBodyBytes) {
      this.endBody(r);
      return this.refuse(r, 413, new LimitError('ERR_BODY_TOO_LARGE', 'the request body is larger than maxBodyBytes'));
    }
    if (!ex.deliverBody(contentPiece(buf, offset, length, this.reader.chunkShare)) && !this.holding.has(r)) {
      this.holding.add(r);
      this.updateReading();
    }
  }

  private resume(ex: Exchange): void {
    for (const r of this.holding) if (r.exchange === ex) this.release(r);
  }

  private release(r: Request): void {
    if (this.holding.delete(r) && this.holding.size === 0) this.updateReading();
  }

  /** Reads while no request holds its unread body limit and the web server takes this side's output. */
  private updateReading(): void {
    if (this.socket.destroyed) return;
    if (this.holding.size > 0 || this.outputBlocked) this.socket.pause();
    else if (this.socket.isPaused()) {
      this.socket.resume();
      // The idle timer restarts with reading: one that ran out while this side held reading did nothing,
      // and a net.Socket's timer does not run again until there is traffic.
      this.socket.setTimeout(this.server.options.idleTimeout);
    }
  }

  /** Answers a request the application never sees, or stops one it sees, with an HTTP status. */
  private refuse(r: Request, status: number, err: Error): void {
    this.server.onError(err);
    if (r.responseStarted) {
      // Part of the handler's response is out: it is cut, never passed off as complete (see abandon).
      if (r.exchange !== null) r.exchange.abandon(); else r.abandon();
      r.exchange?.abort(err, false);
      return;
    }
    r.write(refusalResponse(status));
    // Ended before the handler hears of the abort, so nothing it does then can reach the web server.
    if (r.exchange !== null) r.exchange.end(0); else r.end(0);
    r.exchange?.abort(err);
  }

  /** ABORT_REQUEST (FastCGI 1.0, 5.4): the application is told, and the request ends with END_REQUEST now. */
  private abortRequest(r: Request): void {
    const err = new CgiwireError('ERR_FASTCGI_ABORTED', `the web server aborted request ${r.id}`);
    r.exchange?.abort(err);
    if (r.exchange !== null) r.exchange.end(0); else r.end(0);
  }

  private abortAll(err: Error, byPeer: boolean): void {
    for (const r of this.requests.values()) {
      this.paramsSettled(r);
      r.exchange?.abort(err, byPeer);
      this.endBody(r);
      if (!r.done) {
        r.done = true;
        this.requests.delete(r.id);
        this.server.active--;
      }
    }
    this.holding.clear();
  }

  /** A fault that makes the byte stream untrustworthy: every request on it is aborted and it is closed. */
  private fail(err: Error): void {
    this.server.onError(err);
    this.abortAll(err, false);
    this.socket.destroy();
  }
}

/**
 * A stream record of `length` bytes (0: the stream's end) against the bytes its announced length leaves
 * (Infinity: none announced). Past it (a record length that wrapped, PROTOCOL.md) the records it hides would
 * be taken for content; an end short of it would pass a cut stream off as whole. Either makes the byte
 * stream untrustworthy: the connection fails.
 */
function breaksLength(left: number, length: number): boolean {
  return length === 0 ? left > 0 && left !== Infinity : length > left;
}

/** The request still waits for its params, its body or (FILTER) its data. */
function awaitsInput(r: Request): boolean {
  return !r.done && (r.exchange === null || !r.bodyDone || (r.role === 'filter' && !r.dataDone));
}

/** FILTER's FCGI_DATA_LENGTH and FCGI_DATA_LAST_MOD (FastCGI 1.0, 6.4), as numbers. */
function filterData(role: Role, params: Params): [number?, number?] {
  if (role !== 'filter') return [];
  const num = (name: string): number | undefined => {
    const v = params.get(name);
    return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
  };
  return [num('FCGI_DATA_LENGTH'), num('FCGI_DATA_LAST_MOD')];
}
