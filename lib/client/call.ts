/**
 * One client request from the moment it is asked for until its response has ended: the protocol-neutral
 * part. A protocol connection (FastCGI or SCGI) carries it: it feeds the response bytes in through
 * stdout/stderr/end and writes the request body the call pumps out to it.
 */
import { Readable } from 'node:stream';
import { CgiwireError } from '../errors.js';
import { clientOption, finiteTimerMs } from '../options.js';
import { memoize } from '../memo.js';
import { contentPiece, type PairPart } from '../codec/index.js';
import { BadResponseError, ClientResponse, LazyReadable, findHeadEnd, parseResponseHead } from './response.js';

/** A request failed on the client side: connection, timeout, abort, queue, or the peer's refusal. */
export class ClientError extends CgiwireError {
  constructor(code: string, message: string, readonly address?: string, options?: { cause?: unknown }) {
    super(code, message);
    if (options?.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}

export type ClientRole = 'responder' | 'authorizer' | 'filter';
export type ParamValue = string | Buffer | number;
export type ParamsInput = Record<string, ParamValue | undefined> | Iterable<readonly [string, ParamValue]>;
export type BodyInput = Buffer | Uint8Array | string | Readable | null | undefined;

export interface RequestOptions {
  /** CGI params, sent as given: an object, or [name, value] pairs (a name may repeat). */
  params: ParamsInput;
  /** The request body (STDIN): bytes, a string (UTF-8) or a Readable streamed with backpressure. */
  body?: BodyInput;
  /** FILTER's DATA stream. */
  data?: BodyInput;
  /** FastCGI role (default 'responder'). */
  role?: ClientRole;
  signal?: AbortSignal;
  /**
   * Longest wait between two steps of the request, in ms (default: the client's): the peer's next bytes, or
   * the next piece of a streamed body sent.
   */
  timeout?: number;
  /**
   * How param strings become bytes: 'utf8' (default), or 'latin1' for strings that hold bytes one per char
   * (what node:http gives for header values and URLs, so they pass on byte-exact).
   */
  paramsEncoding?: 'utf8' | 'latin1';
}

/** What a protocol connection does for a call it carries. */
export interface CallCarrier {
  /** The consumer wants body again after the connection paused for it. */
  resume(call: ClientCall): void;
  /** Stops the call on the wire (ABORT_REQUEST, or closing the connection). */
  cancel(call: ClientCall): void;
  /** Where the call went, for messages. */
  readonly addressText: string;
}

/** Where a call writes its body: false asks it to wait for {@link ClientCall.drain}. */
export interface BodySink {
  write(chunk: Buffer): boolean;
  end(): void;
}

export interface CallLimits {
  maxHeaderBytes: number;
  maxStderrBytes: number;
  bodyBufferBytes: number;
  timeout: number;
}

const ROLE_CODES: Record<ClientRole, number> = { responder: 1, authorizer: 2, filter: 3 };

/**
 * The params as pairs, with CONTENT_LENGTH added when the body's length is known and it is missing, and for a
 * FILTER, FCGI_DATA_LENGTH when the DATA stream's length is known (`dataLength`) and it is missing (FastCGI
 * 1.0, 6.4).
 */
export function normaliseParams(input: ParamsInput, bodyLength: number | null, dataLength: number | null = null): [string, PairPart][] {
  // The usual case (the gateway's list) is an array: read by index, without the iterator protocol.
  const list = (Array.isArray(input) ? input : Symbol.iterator in input ? [...input as Iterable<readonly [string, ParamValue]>]
    : Object.entries(input as Record<string, ParamValue | undefined>)) as readonly unknown[];
  const pairs: [string, PairPart][] = [];
  let hasLength = false, hasDataLength = false;
  for (let i = 0; i < list.length; i++) {
    const pair = pairOf(list[i]);
    if (pair === null) {
      throw new TypeError(`params item ${i} is not a [name, value] pair (an iterable of two); got ${describeItem(list[i])}`);
    }
    const name = pair[0], value = pair[1] as ParamValue | undefined;
    if (value === undefined) continue;
    checkParamName(name);
    // Checked here, so that request() refuses it: found later, on a connection, it would fail others' requests.
    if (typeof value !== 'string' && typeof value !== 'number' && !(value instanceof Uint8Array)) {
      throw new TypeError(`the value of param ${name} must be a string, a number or bytes`);
    }
    if (name === 'CONTENT_LENGTH') hasLength = true;
    else if (name === 'FCGI_DATA_LENGTH') hasDataLength = true;
    pairs.push([name, typeof value === 'number' ? String(value) : value]);
  }
  if (!hasLength && bodyLength !== null && bodyLength > 0) pairs.push(['CONTENT_LENGTH', String(bodyLength)]);
  if (!hasDataLength && dataLength !== null) pairs.push(['FCGI_DATA_LENGTH', String(dataLength)]);
  return pairs;
}

/**
 * RFC 3875, 4.1: a variable name is a token; '=' would end it early in the application's environment
 * (NAME=VALUE) and NUL would cut it short in C strings, so either makes it read as another name. Remembered
 * per name: a regular expression per param cost about 1 us per gateway request.
 */
const isParamName = memoize((name: string): boolean => name !== '' && !/[=\0]/.test(name));

function checkParamName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !isParamName(name)) {
    throw new TypeError(`a param name must be a non-empty string without '=' or NUL; got ${describeItem(name)}`);
  }
}

/**
 * A string (UTF-8) or bytes as a Buffer, the bytes not copied (a Uint8Array becomes a Buffer view: the
 * encoders and sockets below take Buffers only); null for anything else.
 */
function bodyBytes(chunk: unknown): Buffer | null {
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return null;
}

/**
 * A params item as [name, value]: an array or any other iterable holding exactly two elements; null for
 * anything else. A string is iterable too, but as characters: 'NAME=VALUE' is no pair.
 */
function pairOf(item: unknown): readonly unknown[] | null {
  // Arrays, the usual case, are read as they are.
  if (Array.isArray(item)) return item.length === 2 ? item : null;
  if (item === null || typeof item !== 'object' || !(Symbol.iterator in item)) return null;
  const pair: unknown[] = [];
  // A third element is enough to refuse it: an endless iterable is not read to its end.
  for (const element of item as Iterable<unknown>) if (pair.push(element) > 2) break;
  return pair.length === 2 ? pair : null;
}

/** What was given, for messages: a string as itself, an array by its length, else its type. */
function describeItem(item: unknown): string {
  if (typeof item === 'string') return JSON.stringify(item);
  if (Array.isArray(item)) return `an array of ${item.length}`;
  return item === null ? 'null' : typeof item;
}

function toBody(input: BodyInput): Buffer | Readable | null {
  if (input === null || input === undefined) return null;
  if (input instanceof Readable) return input;
  const bytes = bodyBytes(input);
  if (bytes === null) throw new TypeError('a request body must be a Buffer, a Uint8Array, a string or a Readable');
  return bytes;
}

const enum State { Queued, Running, Done }

/** STDERR's stream holds what a Readable holds by default before its reader is asked to wait. */
const STDERR_HIGH_WATER_MARK = 16 * 1024;

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Whether the params name an idempotent REQUEST_METHOD (the first one counts; none: not idempotent). */
function idempotent(params: readonly (readonly [string, PairPart])[]): boolean {
  for (const [name, value] of params) {
    if (name !== 'REQUEST_METHOD') continue;
    const method = typeof value === 'string' ? value : Buffer.from(value).toString('latin1');
    return IDEMPOTENT.has(method);
  }
  return false;
}

export class ClientCall {
  readonly params: [string, PairPart][];
  readonly paramsEncoding: 'utf8' | 'latin1';
  readonly body: Buffer | Readable | null;
  readonly data: Buffer | Readable | null;
  readonly role: number;
  /**
   * The call may be sent again on another connection when one is lost before any answer: its body is bytes
   * and its REQUEST_METHOD is idempotent (RFC 9110, 9.2.2: GET, HEAD, OPTIONS, TRACE, PUT, DELETE). A POST
   * whose connection dies may have run, so it is never sent twice. It is also what pipelining requires.
   */
  readonly replayable: boolean;
  /** Its body and data were given as bytes (not streams): it can be sent again whole, e.g. after a refusal. */
  readonly resendable: boolean;
  /** Times the call was sent again after a lost connection: at most once. */
  replays = 0;
  readonly promise: Promise<ClientResponse>;
  /** Times the call was put back in the queue (a connection refused or lost it before any answer). */
  retries = 0;
  /** Some response bytes (STDOUT or STDERR) arrived. */
  answered = false;
  /** The connection stopped reading for this call's unread body. */
  holding = false;
  /** Called once when the call is over, whatever the outcome (the pool takes it out of its books); `queued` when it never started. */
  onDone: ((queued: boolean) => void) | null = null;
  /** For the client's 'stderr' event. */
  onStderr: ((chunk: Buffer, call: ClientCall) => void) | null = null;

  private state = State.Queued;
  private carrier: CallCarrier | null = null;
  private resolve!: (r: ClientResponse) => void;
  private reject!: (e: Error) => void;
  private response: ClientResponse | null = null;
  private head: Buffer | null = null;
  private headLength = 0;
  /** The response body, a stream once asked for (a body taken whole never needs one). */
  private readonly responseBody: LazyReadable;
  /** STDERR, the same way (most responses have none). */
  private readonly stderrOut: LazyReadable;
  private stderrHeld = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly timeout: number;
  private readonly signal: AbortSignal | undefined;
  private readonly onAbort = (): void => this.abort(abortError(this.signal!.reason, this.carrier?.addressText));
  private pumps: { resume(): void; stop(): void }[] = [];

  constructor(options: RequestOptions, readonly limits: CallLimits) {
    if (options === null || typeof options !== 'object' || options.params === null || typeof options.params !== 'object') {
      throw new TypeError('request options need params: an object or [name, value] pairs');
    }
    const role = options.role ?? 'responder';
    // Own keys only: `in` also finds Object.prototype's names ('toString'), whose values are no role code.
    if (!Object.hasOwn(ROLE_CODES, role)) throw new TypeError(`unknown role ${JSON.stringify(role)}`);
    this.role = ROLE_CODES[role];
    // FastCGI 1.0, 6.3: an authorizer is sent no request body (none would go out; its CONTENT_LENGTH would lie).
    if (role === 'authorizer' && options.body !== undefined && options.body !== null) {
      throw new TypeError('an authorizer request has no body');
    }
    this.body = toBody(options.body);
    this.data = toBody(options.data);
    this.params = normaliseParams(options.params, this.body instanceof Buffer ? this.body.length : null,
      role === 'filter' && !(this.data instanceof Readable) ? this.data?.length ?? 0 : null);
    this.resendable = !(this.body instanceof Readable) && !(this.data instanceof Readable);
    this.replayable = this.resendable && idempotent(this.params);
    const encoding = options.paramsEncoding ?? 'utf8';
    if (encoding !== 'utf8' && encoding !== 'latin1') throw new TypeError(`paramsEncoding must be 'utf8' or 'latin1'`);
    this.paramsEncoding = encoding;
    // Checked as the client's own timeout is: the same value means the same here and there.
    this.timeout = finiteTimerMs(clientOption('timeout', options.timeout, limits.timeout, true));
    this.promise = new Promise((resolve, reject) => { this.resolve = resolve; this.reject = reject; });
    this.responseBody = new LazyReadable(limits.bodyBufferBytes, () => this.readMore(),
      () => { if (this.state !== State.Done) this.cancelQuietly(); });
    this.stderrOut = new LazyReadable(STDERR_HIGH_WATER_MARK, () => { this.stderrHeld = 0; });
    this.signal = options.signal;
    if (this.signal !== undefined) {
      if (this.signal.aborted) queueMicrotask(this.onAbort);
      else this.signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  get done(): boolean {
    return this.state === State.Done;
  }

  /** The address of the connection carrying the call ('' while queued). */
  get address(): string {
    return this.carrier?.addressText ?? '';
  }

  get running(): boolean {
    return this.state === State.Running;
  }

  /** A connection takes the call: the read timeout starts. */
  /**
   * A connection takes the call. The read timeout starts now, or, with `timed` false, when the connection
   * calls {@link startTimer} (a request sent ahead of another waits for the peer to reach it).
   */
  attach(carrier: CallCarrier, timed = true): void {
    if (this.state !== State.Queued) return;
    this.clearTimer(); // the wait in the queue is over
    this.state = State.Running;
    this.carrier = carrier;
    this.answered = false;
    if (timed) this.armTimer();
  }

  /** Waiting in the pool's queue for a connection. */
  get queued(): boolean {
    return this.state === State.Queued;
  }

  /** Bounds the wait in the pool's queue (ms; 0 or Infinity: none): ERR_CGIWIRE_QUEUE_TIMEOUT beyond it. */
  waitInQueue(ms: number): void {
    if (!(ms > 0 && Number.isFinite(ms)) || this.state !== State.Queued || this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.state === State.Queued) {
        this.abort(new ClientError('ERR_CGIWIRE_QUEUE_TIMEOUT', `no connection was free for ${ms} ms (queueTimeout)`));
      }
    }, ms);
  }

  /** Runs the read timeout again (the peer is working on this call and nothing holds its reading). */
  startTimer(): void {
    if (this.timer === null && this.state === State.Running && !this.holding) this.armTimer();
  }

  /** The read timeout: from now, unless the call has none. */
  private armTimer(): void {
    if (!(this.timeout > 0 && Number.isFinite(this.timeout))) return;
    const address = this.carrier!.addressText;
    this.timer = setTimeout(() => this.abort(new ClientError('ERR_CGIWIRE_TIMEOUT',
      `no answer from ${address} for ${this.timeout} ms`, address)), this.timeout);
  }

  /**
   * The call goes back to the pool's queue, counted in `retries`: a connection lost it before any answer
   * and it may go elsewhere, or (still queued) the connection it waited for could not be set up.
   */
  requeue(): void {
    if (this.state === State.Done) return;
    this.retries++;
    if (this.state !== State.Running) return;
    this.stopPumps();
    this.clearTimer();
    this.state = State.Queued;
    this.carrier = null;
  }

  // --- the response, fed by the carrier

  /**
   * A piece of STDOUT. Returns false when the consumer holds bodyBufferBytes unread (stop reading).
   * `share`: what the chunk carries for this call (contentPiece).
   */
  stdout(buf: Buffer, offset: number, length: number, share = length): boolean {
    if (this.state !== State.Running) return true;
    this.answered = true;
    this.timer?.refresh();
    if (this.response !== null) return this.pushBody(contentPiece(buf, offset, length, share));
    const max = this.limits.maxHeaderBytes;
    const have = this.headLength;
    if (have === 0) {
      // The usual case: the whole header block is in the first piece; read it there, with no copy.
      const end = findHeadEnd(buf, offset, offset, offset + Math.min(length, max + 4));
      if (end !== -1) return this.haveHead(buf.toString('latin1', offset, end), buf, end, offset + length, share - (end - offset));
    }
    // Gather the header block (bounded: CVE-2014-3583 was a header that never ends).
    const take = Math.min(length, max + 4 - have);
    if (this.head === null) this.head = Buffer.allocUnsafe(Math.min(max + 4, Math.max(1024, take)));
    if (have + take > this.head.length) {
      const grown = Buffer.allocUnsafe(Math.min(max + 4, Math.max(have + take, 2 * this.head.length)));
      this.head.copy(grown, 0, 0, have);
      this.head = grown;
    }
    buf.copy(this.head, have, offset, offset + take);
    this.headLength = have + take;
    const end = findHeadEnd(this.head, 0, Math.max(0, have - 2), this.headLength);
    if (end === -1) {
      if (this.headLength >= max) {
        this.abort(new BadResponseError('ERR_CGIWIRE_RESPONSE_HEADER_TOO_LARGE',
          `the response header block is larger than maxHeaderBytes (${max})`));
      }
      return true;
    }
    const text = this.head.toString('latin1', 0, end);
    this.head = null;
    // The body starts `end - have` bytes into this piece.
    return this.haveHead(text, buf, offset + end - have, offset + length, share - (end - have));
  }

  /**
   * The header block is complete: the response is made, and what follows it in the piece is body, handed on
   * as any body piece (`bodyShare`: what the chunk carries for this call past the header block).
   */
  private haveHead(text: string, buf: Buffer, bodyStart: number, pieceEnd: number, bodyShare: number): boolean {
    let head;
    try {
      head = parseResponseHead(text);
    } catch (err) {
      this.abort(err as Error);
      return true;
    }
    this.headLength = text.length;
    this.response = new ClientResponse(head, this, this.carrier!.addressText);
    this.resolve(this.response);
    return bodyStart < pieceEnd ? this.pushBody(contentPiece(buf, bodyStart, pieceEnd - bodyStart, bodyShare)) : true;
  }

  /** A piece of STDERR: kept in the stderr stream up to maxStderrBytes unread, and reported to the client. */
  stderr(buf: Buffer, offset: number, length: number, share = length): void {
    if (this.state !== State.Running || length === 0) return;
    this.answered = true;
    this.timer?.refresh();
    const chunk = contentPiece(buf, offset, length, share);
    this.onStderr?.(chunk, this);
    if (this.stderrHeld + length <= this.limits.maxStderrBytes) {
      this.stderrHeld += length;
      this.stderrOut.push(chunk);
    }
  }

  /** The response is complete (FastCGI END_REQUEST, SCGI the peer's close). */
  end(appStatus: number): void {
    if (this.state !== State.Running) return;
    if (this.response === null) {
      this.fail(new BadResponseError('ERR_CGIWIRE_BAD_RESPONSE',
        this.headLength === 0 ? 'the response ended with no output' : 'the response ended inside its header block'));
      return;
    }
    this.response.appStatus = appStatus;
    this.finish();
    this.responseBody.end();
    this.stderrOut.end();
  }

  /** The call failed (connection lost, peer refused, bad response). */
  fail(err: Error): void {
    if (this.state === State.Done) return;
    this.finish();
    if (this.response === null) this.reject(err);
    else this.responseBody.fail(err);
    this.stderrOut.end();
  }

  /** Stops the call (abort, timeout, bad response): cancelled on the wire, then failed with `err`. */
  abort(err: Error): void {
    if (this.state === State.Done) return;
    const carrier = this.carrier;
    this.fail(err);
    carrier?.cancel(this);
  }

  /** The connection has room again: resume the bodies it paused. */
  drain(): void {
    for (const p of this.pumps) p.resume();
  }

  /**
   * Sends `source` into `sink`: at once for bytes, with backpressure for a Readable. `then` runs once it has
   * all gone (a FILTER call sends its DATA stream after STDIN).
   */
  pump(source: Buffer | Readable | null, sink: BodySink, then?: () => void): void {
    if (!(source instanceof Readable)) {
      if (source !== null && source.length > 0) sink.write(source);
      sink.end();
      then?.();
      return;
    }
    this.pumpStream(source, sink, then);
  }

  private pumpStream(source: Readable, sink: BodySink, then?: () => void): void {
    // A stream already over gives no 'end' or 'error' again: an ended one is an empty body, a destroyed one a failure.
    if (source.readableEnded) {
      sink.end();
      then?.();
      return;
    }
    if (source.destroyed) {
      this.abort(new ClientError('ERR_CGIWIRE_BODY_FAILED', 'the request body stream was destroyed before it was sent',
        this.carrier?.addressText, { cause: source.errored ?? undefined }));
      return;
    }
    // A stream's chunks may be anything (object mode): only strings and bytes are a body.
    const onData = (chunk: unknown): void => {
      if (this.state !== State.Running) return;
      const bytes = bodyBytes(chunk);
      if (bytes === null) {
        this.abort(new ClientError('ERR_CGIWIRE_BODY_FAILED',
          `the request body stream gave a chunk of type ${typeof chunk}: a body is strings or bytes`,
          this.carrier?.addressText));
        return;
      }
      // Sending is a step of the request as much as reading is: the read timeout is the longest wait between
      // two steps (as nginx's), so an upload that keeps moving is not cut for taking long in all. A peer that
      // stops reading it stops the chunks, and the timeout runs out.
      this.timer?.refresh();
      if (!sink.write(bytes)) source.pause();
    };
    const onEnd = (): void => {
      cleanup();
      if (this.state !== State.Running) return;
      this.timer?.refresh();
      sink.end();
      then?.();
    };
    const onError = (err: Error): void => {
      cleanup();
      this.abort(new ClientError('ERR_CGIWIRE_BODY_FAILED', `the request body stream failed: ${err.message}`,
        this.carrier?.addressText, { cause: err }));
    };
    // Destroyed without an error before its end: the body is incomplete.
    const onClose = (): void => {
      if (!source.readableEnded) onError(new Error('the stream closed before its end'));
    };
    const pump = { resume: (): void => { source.resume(); }, stop: (): void => { cleanup(); source.pause(); } };
    const cleanup = (): void => {
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', onError);
      source.off('close', onClose);
      this.pumps = this.pumps.filter((p) => p !== pump);
    };
    this.pumps.push(pump);
    source.on('data', onData);
    source.once('end', onEnd);
    source.once('error', onError);
    source.once('close', onClose);
    source.resume();
  }

  /** The STDERR stream (made on first use). */
  stderrReadable(): Readable {
    return this.stderrOut.readable();
  }

  // --- internals

  private stopPumps(): void {
    for (const p of this.pumps.splice(0)) p.stop();
  }

  /** @internal The response body as a stream (ClientResponse.body), made on first use. */
  bodyReadable(): Readable {
    return this.responseBody.readable();
  }

  /** @internal ClientResponse.takeWhole: the whole body once it has ended and nobody has read from it, else null. */
  takeBody(): Buffer | null {
    return this.responseBody.take();
  }

  private pushBody(chunk: Buffer): boolean {
    if (chunk.length === 0) return true;
    const more = this.responseBody.push(chunk);
    if (!more) {
      // The connection stops reading for the consumer: the peer's silence from now on is not the peer's fault.
      this.holding = true;
      this.clearTimer();
    }
    return more;
  }

  private readMore(): void {
    if (!this.holding) return;
    this.holding = false;
    if (this.state !== State.Running) return;
    if (this.timer === null) this.armTimer();
    this.carrier?.resume(this);
  }

  /** The consumer destroyed the body before its end: stop the request without an error. */
  private cancelQuietly(): void {
    const carrier = this.carrier;
    this.fail(new ClientError('ERR_CGIWIRE_ABORTED', 'the response body was destroyed before its end', carrier?.addressText));
    carrier?.cancel(this);
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private finish(): void {
    const queued = this.state === State.Queued;
    this.state = State.Done;
    this.clearTimer();
    this.stopPumps();
    this.signal?.removeEventListener('abort', this.onAbort);
    const done = this.onDone;
    this.onDone = null;
    done?.(queued);
  }
}

/** An AbortSignal's reason as the error the request fails with. */
function abortError(reason: unknown, address?: string): ClientError {
  const err = new ClientError('ABORT_ERR', 'the request was aborted', address, { cause: reason });
  err.name = 'AbortError';
  return err;
}
