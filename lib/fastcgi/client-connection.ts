/**
 * One FastCGI connection on the client side (FastCGI 1.0 as a web server speaks it): calls go out as
 * BEGIN_REQUEST, PARAMS and STDIN (and DATA for FILTER), answers come back as STDOUT, STDERR and
 * END_REQUEST. With a peer that multiplexes, many calls share the connection by request id.
 */
import { connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import {
  type Codec, type RecordReader, RecordType, encodeAbortRequest, encodeGetValues, encodeRequestStart, encodeStream,
  encodeStreamEnd,
} from '../codec/index.js';
import { CgiwireError } from '../errors.js';
import { OutputQueue } from '../output.js';
import { IdTable } from './id-table.js';
import { timerMs } from '../options.js';
import { type Address, formatAddress } from '../client/address.js';
import { type BodySink, type ClientCall, ClientError } from '../client/call.js';
import type { PoolConnection, PoolHooks } from '../client/pool.js';

const KEEP_CONN = 1;
/** END_REQUEST protocolStatus values (FastCGI 1.0, 5.5). */
const CANT_MPX_CONN = 1, OVERLOADED = 2, UNKNOWN_ROLE = 3;

/** What the peer said of itself (GET_VALUES), or what was assumed. */
export interface PeerInfo {
  multiplexes: boolean;
  /** FCGI_MAX_REQS, when given. */
  maxRequests: number | null;
  /** FCGI_MAX_CONNS, when given. */
  maxConnections: number | null;
}

export interface FastCgiConnectionOptions {
  codec: Codec;
  connectTimeout: number;
  idleTimeout: number;
  /** Calls on one multiplexed connection at most (also bounded by the peer's FCGI_MAX_REQS). */
  maxRequestsPerConnection: number;
  /** Known peer info (no probe), or null to ask with GET_VALUES once connected. */
  peer: PeerInfo | null;
  /** Longest wait for the answer to the GET_VALUES probe (ms); no answer means no multiplexing. */
  probeTimeout: number;
  /** Told what the probe learned. */
  onPeerInfo(info: PeerInfo): void;
  /**
   * Requests a kept connection to a peer that does not multiplex may carry at once, the later ones sent ahead
   * of the answer to the first (1: none). Only requests whose body is bytes, once the ones before have been
   * sent whole: the peer reads the next request after END_REQUEST of the one before (PHP-FPM does).
   */
  pipeline: number;
}

/** What is assumed of a peer that does not answer GET_VALUES. */
const NO_MULTIPLEXING: PeerInfo = Object.freeze({ multiplexes: false, maxRequests: null, maxConnections: null });

/** The variables a client asks about (FastCGI 1.0, 4.1). */
export const MANAGEMENT_NAMES = ['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS'];

export function peerInfoFrom(values: Record<string, string>): PeerInfo {
  const int = (v: string | undefined): number | null => (v !== undefined && /^\d+$/.test(v) ? Number(v) : null);
  return {
    multiplexes: values.FCGI_MPXS_CONNS === '1',
    maxRequests: int(values.FCGI_MAX_REQS),
    maxConnections: int(values.FCGI_MAX_CONNS),
  };
}

interface ValuesWaiter {
  resolve(values: Record<string, string>): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** How long a connection this side has closed waits for the peer to close its side before it is destroyed. */
const CLOSE_GRACE_MS = 1000;

export class FastCgiClientConnection implements PoolConnection {
  readonly addressText: string;
  capacity = 1;
  /** Requests whose END_REQUEST came: with `probed`, says whether a lost call may be retried. */
  served = 0;
  private probed = false;
  private readonly socket: Socket;
  private readonly out: OutputQueue;
  private readonly calls = new IdTable<ClientCall>();
  private readonly ids = new Map<ClientCall, number>();
  /**
   * Ids of cancelled calls still waiting for their END_REQUEST, with the timer that gives up on it (null while
   * it is not running: the peer has not reached the request yet, or the connection is not reading).
   */
  private readonly aborting = new Map<number, NodeJS.Timeout | null>();
  /** Without multiplexing: the ids sent, in order; the peer answers them in that order, the first now. */
  private readonly order: number[] = [];
  /** Calls whose consumer holds their unread body limit: reading stops while there are any. */
  private readonly holding = new Set<ClientCall>();
  private readonly valueWaiters: ValuesWaiter[] = [];
  private multiplexed = false;
  /** Connected and asking GET_VALUES, not yet set up. */
  private probing = false;
  private ready = false;
  private closing = false;
  private closeTimer: NodeJS.Timeout | null = null;
  /** What the peer said of itself (or what was known of it), as this connection was set up. */
  private info: PeerInfo | null = null;
  private closed = false;
  private error: Error | null = null;
  private nextId = 1;
  /** Calls whose request (params and body) is not all written yet. */
  private readonly sending = new Set<ClientCall>();
  /** The peer refused a request sent ahead (CANT_MPX_CONN): no more of that on this connection. */
  private noPipeline = false;
  /** The socket's idle timeout is set (only while no call runs here). */
  private idleArmed = false;
  private readonly reader: RecordReader;

  constructor(address: Address, private readonly hooks: PoolHooks, private readonly options: FastCgiConnectionOptions) {
    this.addressText = formatAddress(address);
    const socket = address.path !== undefined ? connect({ path: address.path }) : connect({ host: address.host, port: address.port });
    this.socket = socket;
    this.out = new OutputQueue(socket, () => { for (const call of this.calls.values()) call.drain(); }, true);
    const reader = options.codec.createRecordReader((type, id, buf, offset, length) => this.onRecord(type, id, buf, offset, length));
    this.reader = reader;
    const connectTimer = setTimeout(() => {
      const err = new ClientError('ERR_CGIWIRE_CONNECT_TIMEOUT', `no connection to ${this.addressText} within ${options.connectTimeout} ms`, this.addressText);
      this.destroy(err);
    }, options.connectTimeout);
    socket.once('connect', () => {
      clearTimeout(connectTimer);
      if (address.path === undefined) socket.setNoDelay(true);
      if (options.peer !== null) this.setUp(options.peer);
      else this.probe();
    });
    socket.on('data', (chunk: Buffer) => {
      const err = reader.push(chunk);
      if (err !== null) this.destroy(err);
    });
    socket.on('error', (err) => { this.error ??= err; });
    socket.on('close', () => {
      clearTimeout(connectTimer);
      if (this.closeTimer !== null) clearTimeout(this.closeTimer);
      this.onClose();
    });
    socket.on('timeout', () => { if (this.active === 0) this.close(); });
  }

  get active(): number {
    return this.calls.size + this.aborting.size;
  }

  /** The peer's FCGI_MAX_CONNS, when it said it. */
  get peerMaxConnections(): number | undefined {
    return this.info?.maxConnections ?? undefined;
  }

  get usable(): boolean {
    return this.ready && !this.closing && !this.closed && !this.socket.destroyed;
  }

  /**
   * Asks GET_VALUES on this connection (management record, request id 0); the answer is awaited `timeout`
   * ms, capped to the longest a timer holds (beyond it, Infinity included, Node fires a timer at once).
   */
  getValues(names: readonly string[] = MANAGEMENT_NAMES, timeout = this.options.probeTimeout): Promise<Record<string, string>> {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(this.closeError());
        return;
      }
      const timer = setTimeout(() => {
        const at = this.valueWaiters.indexOf(waiter);
        if (at !== -1) this.valueWaiters.splice(at, 1);
        reject(new ClientError('ERR_CGIWIRE_TIMEOUT', `no GET_VALUES_RESULT from ${this.addressText} within ${timeout} ms`, this.addressText));
      }, timerMs(timeout));
      const waiter: ValuesWaiter = { resolve, reject, timer };
      this.valueWaiters.push(waiter);
      this.output(encodeGetValues(names));
    });
  }

  start(call: ClientCall): void {
    const id = this.allocateId();
    this.calls.set(id, call);
    this.ids.set(call, id);
    if (this.idleArmed) {
      this.idleArmed = false;
      this.socket.setTimeout(0);
    }
    if (!this.multiplexed) this.order.push(id);
    call.attach(this, this.runsNow(id) && this.holding.size === 0);
    // A request without a body (most): BEGIN_REQUEST, PARAMS and the empty STDIN go out as one buffer.
    const body = call.role === 2 ? null : call.body;
    const noBody = call.role !== 3 && (body === null || (!(body instanceof Readable) && body.length === 0));
    this.output(encodeRequestStart(id, call.role, KEEP_CONN, call.params, call.paramsEncoding, noBody));
    if (noBody) {
      this.out.unitDone();
      return;
    }
    const stdin = this.sink(call, id, RecordType.STDIN);
    this.sending.add(call);
    const sent = (): void => { this.sending.delete(call); };
    if (call.role === 3) call.pump(call.body, stdin, () => call.pump(call.data, this.sink(call, id, RecordType.DATA), sent));
    else call.pump(body, stdin, sent);
    this.out.unitDone();
  }

  canPipeline(call: ClientCall): boolean {
    return this.options.pipeline > 1 && !this.multiplexed && !this.noPipeline && this.usable && call.replayable
      && this.active < this.options.pipeline && this.sending.size === 0;
  }

  resume(call: ClientCall): void {
    this.unhold(call);
  }

  /** The peer is working on this request now: every request when multiplexed, else the first sent. */
  private runsNow(id: number): boolean {
    return this.multiplexed || this.order[0] === id;
  }

  /**
   * A consumer holds its unread body limit: reading stops. Its own wait stops with it (the peer's silence is
   * not the peer's fault); the other calls here now wait on that consumer, and their waits run, started if
   * need be: a request sent ahead of a response nobody reads would otherwise wait for ever.
   */
  private hold(call: ClientCall): void {
    this.holding.add(call);
    if (this.holding.size > 1) return;
    this.socket.pause();
    for (const c of this.calls.values()) c.startTimer();
    for (const [id, timer] of this.aborting) {
      if (timer !== null) clearTimeout(timer);
      this.aborting.set(id, null);
    }
  }

  private unhold(call: ClientCall): void {
    if (!this.holding.delete(call) || this.holding.size > 0 || this.closed) return;
    this.socket.resume();
    this.startWaits();
  }

  /**
   * After an END_REQUEST: without multiplexing the peer moves on to the next request sent, whose wait starts
   * now. (Multiplexed requests' waits run from the start; only unhold has to start them again.)
   */
  private startNext(): void {
    if (this.multiplexed || this.order.length === 0 || this.holding.size > 0 || this.closed) return;
    const id = this.order[0];
    const call = this.calls.get(id);
    if (call !== undefined) call.startTimer();
    else if (this.aborting.get(id) === null) this.armAbortWait(id);
  }

  /** Starts the waits of the requests the peer is working on (see runsNow). */
  private startWaits(): void {
    if (this.holding.size > 0 || this.closed) return;
    for (const [id, call] of this.calls) if (this.runsNow(id)) call.startTimer();
    for (const [id, timer] of this.aborting) if (timer === null && this.runsNow(id)) this.armAbortWait(id);
  }

  /** A peer that never ends a cancelled request would hold its id for good: give up on the connection then. */
  private armAbortWait(id: number): void {
    const wait = this.multiplexed ? Math.max(1000, this.options.probeTimeout) : 30000;
    const timer = setTimeout(() => this.destroy(new ClientError('ERR_CGIWIRE_TIMEOUT',
      `no END_REQUEST from ${this.addressText} for a cancelled request`, this.addressText)), wait);
    timer.unref();
    this.aborting.set(id, timer);
  }

  /**
   * ABORT_REQUEST on a multiplexed connection (the id stays taken until END_REQUEST); a close otherwise. On a
   * connection that does not multiplex but carries other (pipelined) requests, closing would cut them: the
   * cancelled request is left to end and its output dropped.
   */
  cancel(call: ClientCall): void {
    const id = this.ids.get(call);
    if (id === undefined) return;
    this.release(call, id);
    if (this.closed) return;
    if (!this.multiplexed && this.calls.size === 0) {
      this.destroy();
      return;
    }
    if (this.multiplexed) this.output(encodeAbortRequest(id));
    this.aborting.set(id, null);
    if (this.runsNow(id) && this.holding.size === 0) this.armAbortWait(id);
  }

  close(): void {
    this.closing = true;
    if (this.active === 0 && !this.closed) {
      this.out.flush();
      this.socket.end();
      // A peer that never closes its side after this FIN would keep the connection, and its pool slot, for
      // ever: it is destroyed after a short grace.
      this.closeTimer ??= setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
    }
  }

  destroy(err?: Error): void {
    if (err !== undefined) this.error ??= err;
    this.socket.destroy();
  }

  // --- internals

  private async probe(): Promise<void> {
    let info: PeerInfo;
    this.probing = true;
    try {
      info = peerInfoFrom(await this.getValues(MANAGEMENT_NAMES, this.options.probeTimeout));
    } catch {
      // No answer in time, or one it does not know (UNKNOWN_TYPE): a peer that does not multiplex. A hang-up
      // is onClose's to report.
      info = NO_MULTIPLEXING;
    }
    this.probing = false;
    if (this.closed) return;
    this.probed = true;
    this.options.onPeerInfo(info);
    this.setUp(info);
  }

  private setUp(info: PeerInfo): void {
    this.info = info;
    this.multiplexed = info.multiplexes;
    this.capacity = info.multiplexes
      ? Math.max(1, Math.min(this.options.maxRequestsPerConnection, info.maxRequests ?? Infinity, 65535)) : 1;
    this.ready = true;
    this.armIdle();
    this.hooks.ready(this);
  }

  private allocateId(): number {
    if (!this.multiplexed) {
      // One request at a time, or a few pipelined: the lowest free id.
      let id = 1;
      while (this.calls.has(id) || this.aborting.has(id)) id++;
      return id;
    }
    for (;;) {
      const id = this.nextId;
      this.nextId = id >= 65535 ? 1 : id + 1;
      if (!this.calls.has(id) && !this.aborting.has(id)) return id;
    }
  }

  private sink(call: ClientCall, id: number, type: number): BodySink {
    const live = (): boolean => this.calls.get(id) === call && !this.closed;
    return {
      write: (chunk) => (live() ? this.output(encodeStream(this.options.codec.core, type, id, chunk, false)) : false),
      end: () => { if (live()) this.output(encodeStreamEnd(type, id)); },
    };
  }

  private output(pieces: Buffer | Buffer[]): boolean {
    if (this.socket.destroyed) return false;
    if (!Array.isArray(pieces)) return this.out.push(pieces);
    let ok = true;
    for (const p of pieces) ok = this.out.push(p);
    return ok;
  }

  /** The call leaves this connection (ended, failed, cancelled or requeued). */
  private release(call: ClientCall, id: number): void {
    this.calls.delete(id);
    this.ids.delete(call);
    this.sending.delete(call);
    this.unhold(call);
  }

  /**
   * After a call left: a closing connection closes once idle; an idle one starts its idle timeout. Called after
   * the pool had its chance to start the next call here: a busy pool's connections then never touch the timer
   * (arming and clearing it per request cost about 1% of a gateway request).
   */
  private afterCall(): void {
    if (this.active > 0 || this.closed) return;
    if (this.closing) this.close();
    else this.armIdle();
  }

  private armIdle(): void {
    if (this.idleArmed) return;
    this.idleArmed = true;
    this.socket.setTimeout(this.options.idleTimeout);
  }

  private onRecord(type: number, id: number, buf: Buffer, offset: number, length: number): void {
    if (id === 0) return this.onManagement(type, buf, offset, length);
    const call = this.calls.get(id);
    switch (type) {
      case RecordType.STDOUT:
        // END_REQUEST ends the streams: PHP-FPM never sends the empty STDOUT record.
        if (call !== undefined && length > 0 && !call.stdout(buf, offset, length, this.reader.chunkShare) && !call.done) this.hold(call);
        return;
      case RecordType.STDERR:
        if (call !== undefined) call.stderr(buf, offset, length, this.reader.chunkShare);
        return;
      case RecordType.END_REQUEST:
        return this.onEndRequest(id, call, buf, offset, length);
      default:
        // Other application record types a client does not take, and types this version does not know, are ignored.
        return;
    }
  }

  private onEndRequest(id: number, call: ClientCall | undefined, buf: Buffer, offset: number, length: number): void {
    if (!this.multiplexed) {
      const at = this.order.indexOf(id);
      if (at !== -1) this.order.splice(at, 1);
    }
    if (this.aborting.has(id)) {
      const abortTimer = this.aborting.get(id);
      if (abortTimer) clearTimeout(abortTimer);
      this.aborting.delete(id);
      this.served++;
      this.startNext();
      this.hooks.free(this);
      this.afterCall();
      return;
    }
    if (call === undefined) return;
    if (length < 8) {
      this.destroy(new ClientError('ERR_FASTCGI_BAD_RECORD', 'END_REQUEST shorter than 8 bytes', this.addressText));
      return;
    }
    const appStatus = buf.readUInt32BE(offset);
    const protocolStatus = buf[offset + 4];
    this.release(call, id);
    this.served++;
    if (protocolStatus === CANT_MPX_CONN && !call.answered) {
      // The peer takes fewer requests at once on this connection than it said: stay at what it carries now.
      // Only this connection learns it: a peer that is draining for a restart refuses the same way, and that
      // says nothing of the connections after it. The refused call goes back to the queue when its body can
      // be sent again whole (a stream partly sent cannot).
      this.capacity = Math.max(1, this.active);
      this.noPipeline = true;
      if (call.resendable) this.hooks.requeue(call, this);
      else call.fail(new ClientError('ERR_FASTCGI_CANT_MPX_CONN', `${this.addressText} refused a request whose body was a stream`, this.addressText));
    } else if (protocolStatus === CANT_MPX_CONN) {
      call.fail(new ClientError('ERR_FASTCGI_CANT_MPX_CONN', `${this.addressText} refused the request after answering it`, this.addressText));
    } else if (protocolStatus === OVERLOADED) {
      call.fail(new ClientError('ERR_FASTCGI_OVERLOADED', `${this.addressText} is overloaded (END_REQUEST OVERLOADED)`, this.addressText));
    } else if (protocolStatus === UNKNOWN_ROLE) {
      call.fail(new ClientError('ERR_FASTCGI_UNKNOWN_ROLE', `${this.addressText} does not take this role (END_REQUEST UNKNOWN_ROLE)`, this.addressText));
    } else {
      call.end(appStatus);
    }
    this.startNext();
    this.hooks.free(this);
    this.afterCall();
  }

  private onManagement(type: number, buf: Buffer, offset: number, length: number): void {
    if (type === RecordType.GET_VALUES_RESULT) {
      const waiter = this.valueWaiters.shift();
      if (waiter === undefined) return;
      clearTimeout(waiter.timer);
      try {
        waiter.resolve(Object.fromEntries(this.options.codec.decodeNameValues(buf.subarray(offset, offset + length))));
      } catch (err) {
        waiter.reject(err as Error);
      }
    } else if (type === RecordType.UNKNOWN_TYPE) {
      const waiter = this.valueWaiters.shift();
      if (waiter === undefined) return;
      clearTimeout(waiter.timer);
      waiter.reject(new ClientError('ERR_FASTCGI_UNKNOWN_TYPE', `${this.addressText} does not know GET_VALUES`, this.addressText));
    }
  }

  private closeError(): ClientError {
    const cause = this.error;
    if (cause instanceof ClientError) return cause;
    return new ClientError('ERR_CGIWIRE_CONNECTION_CLOSED',
      `the connection to ${this.addressText} closed${cause ? `: ${cause.message}` : ' before the response ended'}`,
      this.addressText, { cause: cause ?? undefined });
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    const err = this.closeError();
    // The peer hung up on GET_VALUES (its close or reset, not this side giving up): some applications take a
    // management record for a fatal fault. It is a peer that does not multiplex, told before the pool hears
    // of the close so that the next connection does not ask again; and the close is no failure of the
    // address (null): the call waiting for this connection goes out on that next one.
    const hungUpOnProbe = this.probing && !(this.error instanceof CgiwireError);
    if (hungUpOnProbe) this.options.onPeerInfo(NO_MULTIPLEXING);
    for (const w of this.valueWaiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    for (const timer of this.aborting.values()) if (timer !== null) clearTimeout(timer);
    this.aborting.clear();
    this.order.length = 0;
    // A call the connection lost before any answer may go again, once, when it is replayable (bytes body,
    // idempotent method) and the connection had been in use before it (a kept connection the peer closed at
    // the same moment).
    const reused = this.served > 0 || this.probed;
    for (const [id, call] of this.calls.entries()) {
      this.release(call, id);
      if (reused && call.replayable && call.replays === 0 && !call.answered && !(this.error instanceof ClientError)) {
        call.replays++;
        this.hooks.requeue(call, this);
      } else call.fail(err);
    }
    this.hooks.closed(this, !hungUpOnProbe && (this.error !== null || !this.ready) ? err : null);
  }
}
