/**
 * The pool under both clients: connections per address up to a maximum, calls waiting in one queue with its
 * own limit, balancing over addresses by load, idle connections closed after a while. Protocol connections
 * (FastCGI, SCGI) plug in through {@link PoolConnection}; the pool knows no record or netstring.
 */
import { type Address, formatAddress } from './address.js';
import { type CallCarrier, type ClientCall, ClientError } from './call.js';

/** A protocol connection as the pool sees it. */
export interface PoolConnection extends CallCarrier {
  /** Calls it carries now (an aborted call whose id is not yet free counts). */
  readonly active: number;
  /** Calls it may carry at once: 1, or more when the peer multiplexes. */
  readonly capacity: number;
  /** Connections the peer said it takes (FastCGI FCGI_MAX_CONNS), once set up; undefined when unknown. */
  readonly peerMaxConnections?: number;
  /** Connected, set up, and not closing. */
  readonly usable: boolean;
  start(call: ClientCall): void;
  /**
   * True when the connection, though at its capacity, may take `call` now, sent ahead of the answer to the
   * one it carries (pipelining on a kept connection to a peer that does not multiplex).
   */
  canPipeline(call: ClientCall): boolean;
  /** Closes once idle. */
  close(): void;
  destroy(err?: Error): void;
}

/** What a protocol connection tells the pool. */
export interface PoolHooks {
  /** The connection is connected and set up: it takes calls from now on. */
  ready(conn: PoolConnection): void;
  /** The connection has room for one more call. */
  free(conn: PoolConnection): void;
  /** A call the connection lost before any answer, which may run elsewhere. */
  requeue(call: ClientCall, conn: PoolConnection): void;
  /**
   * The connection is gone; `err` when it failed (a connect error, a reset, a protocol fault). Null before
   * it was ready: it connected, and the peer hung up on its set-up (FastCGI: on the GET_VALUES probe); a
   * fresh connection to that address is set up without what the peer refused.
   */
  closed(conn: PoolConnection, err: Error | null): void;
}

export type Connector = (address: Address, hooks: PoolHooks) => PoolConnection;

export interface PoolOptions {
  maxConnectionsPerAddress: number;
  maxQueue: number;
  /** Longest wait in the queue for a connection (ms; 0 or Infinity: none). */
  queueTimeout: number;
  /** After a failed connect, an address is skipped for this long while another one is up (ms). */
  retryDelay: number;
  /** Calls put back in the queue at most this many times. */
  maxRetries: number;
}

class Backend {
  readonly text: string;
  readonly connections = new Set<PoolConnection>();
  /** Connections being opened (in `connections`, not yet ready). */
  opening = 0;
  /** A connection to it became ready since it was last found down: the pool may open several at once. */
  known = false;
  downUntil = 0;
  /** Passed over only because the peer hung up during set-up: it is no connect failure, and still counts as up
   * when deciding whether a call waiting on another address has anywhere else to go. */
  hungUpOnSetUp = false;
  lastError: Error | null = null;
  /** At most this many connections: maxConnectionsPerAddress, or fewer when the peer said so. */
  maxConnections: number;

  constructor(readonly address: Address, maxConnections: number) {
    this.text = formatAddress(address);
    this.maxConnections = maxConnections;
  }

  get load(): number {
    let n = this.opening;
    for (const c of this.connections) n += c.active;
    return n;
  }
}

export class Pool {
  private readonly backends: Backend[];
  private readonly owner = new Map<PoolConnection, Backend>();
  private readonly readySet = new Set<PoolConnection>();
  private readonly queue: ClientCall[] = [];
  private readonly hooks: PoolHooks;
  private turn = 0;
  private closing = false;
  /** Set by destroy(): nothing is started or opened any more, and a call coming back fails with it. */
  private destroyed: Error | null = null;
  /** A dispatch planned for when an address that refused connections may be tried again. */
  private retryTimer: NodeJS.Timeout | null = null;
  private closeWaiters: (() => void)[] = [];
  /** Calls queued or running. */
  private inFlight = 0;

  constructor(addresses: Address[], private readonly connect: Connector, private readonly options: PoolOptions) {
    this.backends = addresses.map((a) => new Backend(a, options.maxConnectionsPerAddress));
    this.hooks = {
      ready: (conn) => this.ready(conn),
      free: () => this.dispatch(),
      requeue: (call) => this.requeue(call),
      closed: (conn, err) => this.closed(conn, err),
    };
  }

  get queued(): number {
    return this.queue.length;
  }

  get connectionCount(): number {
    return this.owner.size;
  }

  /** It takes new calls: neither close() nor destroy() was called. */
  get accepting(): boolean {
    return !this.closing;
  }

  /** Takes a call: runs it at once when a connection has room, else queues it. */
  submit(call: ClientCall): void {
    if (this.closing) {
      call.fail(new ClientError('ERR_CGIWIRE_CLIENT_CLOSED', 'the client is closed'));
      return;
    }
    if (this.queue.length - this.roomSoon() >= this.options.maxQueue) {
      call.fail(new ClientError('ERR_CGIWIRE_QUEUE_FULL', `the request queue is full (maxQueue ${this.options.maxQueue})`));
      return;
    }
    this.inFlight++;
    call.onDone = (queued) => this.callDone(call, queued);
    this.queue.push(call);
    this.dispatch();
    if (call.queued) call.waitInQueue(this.options.queueTimeout);
  }

  /**
   * Refuses new calls, lets those queued or running finish, then closes every connection. Resolves once
   * the last one has closed.
   */
  close(): Promise<void> {
    this.closing = true;
    const done = new Promise<void>((resolve) => this.closeWaiters.push(resolve));
    this.settleClose();
    return done;
  }

  private settleClose(): void {
    if (!this.closing || this.inFlight > 0) return;
    if (this.owner.size > 0) {
      this.closeConnections();
      return;
    }
    for (const w of this.closeWaiters.splice(0)) w();
  }

  /** Fails every call and closes every connection now. */
  destroy(err: Error): void {
    this.closing = true;
    this.destroyed = err;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    for (const call of this.queue.splice(0)) call.fail(err);
    for (const conn of [...this.owner.keys()]) conn.destroy(err);
  }

  /**
   * Calls that can start without waiting for one to end: free places on ready connections, plus one for each
   * connection being opened or that may still be opened to an address that is up.
   */
  private roomSoon(): number {
    const now = Date.now();
    let room = 0;
    for (const b of this.backends) {
      for (const c of b.connections) if (c.usable) room += Math.max(0, c.capacity - c.active);
      room += b.opening;
      if (b.downUntil <= now) room += Math.max(0, b.maxConnections - b.connections.size);
    }
    return room;
  }

  private callDone(call: ClientCall, queued: boolean): void {
    // Only a call that ends while waiting (abort, timeout) is still in the queue; a started one never is.
    if (queued) {
      const at = this.queue.indexOf(call);
      if (at !== -1) this.queue.splice(at, 1);
    }
    this.inFlight--;
    this.settleClose();
  }

  private closeConnections(): void {
    for (const conn of [...this.owner.keys()]) conn.close();
  }

  private requeue(call: ClientCall): void {
    if (this.destroyed !== null) {
      call.fail(this.destroyed);
      return;
    }
    call.requeue();
    if (call.retries > this.options.maxRetries) {
      call.fail(new ClientError('ERR_CGIWIRE_RETRIES_EXHAUSTED', `the request was refused or lost ${call.retries} times`));
      return;
    }
    this.queue.unshift(call);
    queueMicrotask(() => this.dispatch());
  }

  /** Backends in the order to try: up ones by load (round-robin among equals), then down ones. */
  private order(): Backend[] {
    const now = Date.now();
    const n = this.backends.length;
    if (n === 1) return this.backends;
    const start = this.turn++ % n;
    const rotated = [...this.backends.slice(start), ...this.backends.slice(0, start)];
    return rotated.sort((a, b) => Number(a.downUntil > now) - Number(b.downUntil > now) || a.load - b.load);
  }

  /** Starts queued calls on connections with room, opening connections where the maxima allow. */
  private dispatch(): void {
    if (this.destroyed !== null) return;
    while (this.queue.length > 0) {
      const call = this.queue[0];
      if (call.done) {
        this.queue.shift();
        continue;
      }
      const conn = this.roomFor();
      if (conn !== null) {
        this.queue.shift();
        conn.start(call);
        continue;
      }
      // No room: open connections for the calls still waiting (beyond those already being opened).
      let waiting = this.queue.length;
      for (const b of this.backends) waiting -= b.opening;
      if (waiting > 0 && this.open(waiting) > 0) return;
      // None can be opened: a call may be sent ahead on a kept connection, where that is allowed.
      const ahead = this.pipelineFor(call);
      if (ahead === null) return;
      this.queue.shift();
      ahead.start(call);
    }
  }

  /** A connection with room, the least loaded backend first; busy multiplexed connections before new ones. */
  private roomFor(): PoolConnection | null {
    for (const b of this.order()) {
      let best: PoolConnection | null = null;
      for (const c of b.connections) {
        if (c.usable && c.active < c.capacity && (best === null || c.active < best.active)) best = c;
      }
      if (best !== null) return best;
    }
    return null;
  }

  /** A connection that may take `call` sent ahead (pipelining), the least busy first. */
  private pipelineFor(call: ClientCall): PoolConnection | null {
    for (const b of this.order()) {
      let best: PoolConnection | null = null;
      for (const c of b.connections) {
        if (c.usable && c.canPipeline(call) && (best === null || c.active < best.active)) best = c;
      }
      if (best !== null) return best;
    }
    return null;
  }

  /** Opens up to `count` connections where the maxima allow; returns how many. */
  private open(count: number): number {
    let opened = 0;
    for (let i = 0; i < count; i++) {
      // `connections` holds those being opened too. An address that refused connections is passed over for
      // retryDelay while another is up; a dispatch is planned for when it may be tried again.
      const now = Date.now();
      const anyUp = this.backends.some((x) => x.downUntil <= now);
      const b = this.order().find((x) => x.connections.size < x.maxConnections && (!anyUp || x.downUntil <= now)
        // Until a first connection is up, open one at a time: the first one learns whether the peer
        // multiplexes (which decides how many more are needed) and whether it is up at all.
        && (x.known || x.opening === 0));
      if (b === undefined) {
        this.planRetry();
        break;
      }
      b.opening++;
      opened++;
      const conn = this.connect(b.address, this.hooks);
      this.owner.set(conn, b);
      b.connections.add(conn);
    }
    return opened;
  }

  /** Connections open or opening to the address written as `text`. */
  connectionsTo(text: string): number {
    let n = 0;
    for (const b of this.backends) if (b.text === text) n += b.connections.size;
    return n;
  }

  /** Dispatches again when the first address now passed over may be tried again. */
  private planRetry(): void {
    if (this.retryTimer !== null || this.queue.length === 0) return;
    // Called on every dispatch of a busy pool: a plain loop, no array.
    const now = Date.now();
    let next = Infinity;
    for (const b of this.backends) if (b.downUntil > now && b.downUntil < next) next = b.downUntil;
    if (next === Infinity) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.dispatch();
    }, next - now);
    this.retryTimer.unref();
  }

  private closed(conn: PoolConnection, err: Error | null): void {
    const b = this.owner.get(conn);
    if (b === undefined) return;
    this.owner.delete(conn);
    b.connections.delete(conn);
    if (!this.readySet.delete(conn)) {
      // It never became ready: a failed connect, or a peer that hung up during set-up (err null). Either way
      // the address is passed over for retryDelay while another is up.
      b.opening = Math.max(0, b.opening - 1);
      const reason = err ?? new ClientError('ERR_CGIWIRE_CONNECTION_CLOSED', 'the peer closed the connection during set-up', b.text);
      b.lastError = reason;
      b.known = false;
      b.downUntil = Date.now() + this.options.retryDelay;
      b.hungUpOnSetUp = err === null;
      // A call was waiting for this connection. After a hang-up during set-up it goes back to the queue (a
      // fresh connection is set up another way: it opens here when no other address is up); counted as a
      // retry, which bounds a peer that hangs up every time. After a failed connect it fails with the reason
      // unless another backend can take it, or this one still has a connection that works (an extra one the
      // peer did not take).
      const others = this.backends.some((x) => x !== b && (x.downUntil <= Date.now() || x.hungUpOnSetUp));
      const working = [...b.connections].some((c) => c.usable);
      if (working) b.downUntil = 0;
      if (err === null) {
        const call = this.queue.shift();
        if (call !== undefined) this.requeue(call);
      } else if (!others && !working) {
        const call = this.queue.shift();
        call?.fail(new ClientError(connectCode(reason), `cannot connect to ${b.text}: ${reason.message}`, b.text, { cause: reason }));
      }
    } else if (err !== null && b.connections.size === 0) {
      b.known = false;  // it may come back as another program: learn it again
    }
    // With no connection left, what the peer said of itself may be out of date (a restart): start afresh.
    if (b.connections.size === 0) b.maxConnections = this.options.maxConnectionsPerAddress;
    // Closing refuses new calls only: those already queued still run.
    this.dispatch();
    this.settleClose();
  }

  private ready(conn: PoolConnection): void {
    const b = this.owner.get(conn);
    if (b === undefined) return;
    this.readySet.add(conn);
    b.opening = Math.max(0, b.opening - 1);
    b.known = true;
    const said = conn.peerMaxConnections;
    b.maxConnections = said !== undefined && said > 0 ? Math.min(this.options.maxConnectionsPerAddress, said)
      : this.options.maxConnectionsPerAddress;
    b.downUntil = 0;
    b.hungUpOnSetUp = false;
    b.lastError = null;
    this.dispatch();
    this.settleClose();
  }
}

/** The code of a failure to open a connection: a timeout keeps its own, anything else is a failed connect. */
export function connectCode(err: Error): string {
  const code = (err as { code?: unknown }).code;
  return code === 'ERR_CGIWIRE_CONNECT_TIMEOUT' ? code : 'ERR_CGIWIRE_CONNECT_FAILED';
}
