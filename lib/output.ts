/**
 * Gathers what one tick writes to a socket and sends it in one write when the tick's work is done (a
 * microtask runs after every nextTick callback, so a response's header, body and end go out together).
 * One write per response, not one per record: separate small writes cost nginx measurably more (PERF-NOTES).
 */
import type { Socket } from 'node:net';

/** Pieces smaller than this in total are joined into one buffer; larger ones go out as a corked writev. */
const JOIN_BELOW = 16384;

export class OutputQueue {
  private pieces: Buffer[] = [];
  private bytes = 0;
  private scheduled = false;
  /** A push returned false: `onDrain` is owed once there is room. */
  private full = false;
  private readonly flushNow = (): void => this.flush();

  /** A push returned false and the socket has not drained since: the peer is not taking what is sent. */
  get blocked(): boolean {
    return this.full;
  }

  /** An eager queue wrote this tick's first piece at once; the rest of the tick is gathered. */
  private wroteFirst = false;
  private readonly endTick = (): void => { this.wroteFirst = false; };

  /**
   * @param onDrain called once there is room again after a push returned false.
   * @param eager with {@link unitDone}: the first unit of a tick (a request, a response) goes out at once and
   *   the rest of the tick is gathered, so that the peer starts on the first while this side prepares the
   *   others (a multiplexed connection otherwise makes the two sides take turns).
   */
  constructor(private readonly socket: Socket, private readonly onDrain: () => void, private readonly eager = false) {
    socket.on('drain', () => this.drained());
  }

  /** Queues bytes; false when the socket's buffer is over its high-water mark (onDrain follows). */
  push(piece: Buffer): boolean {
    this.pieces.push(piece);
    this.bytes += piece.length;
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.flushNow);
    }
    if (this.socket.writableLength + this.bytes < this.socket.writableHighWaterMark) return true;
    this.full = true;
    return false;
  }

  /** A whole unit (request or response) has been pushed: an eager queue sends the tick's first one now. */
  unitDone(): void {
    if (!this.eager || this.wroteFirst || this.socket.writableLength > 0) return;
    this.wroteFirst = true;
    queueMicrotask(this.endTick);
    this.flush();
  }

  private drained(): void {
    if (!this.full) return;
    this.full = false;
    this.onDrain();
  }

  /** Drops what this tick queued (a response being cut must not send its last pieces as if whole). */
  discard(): void {
    this.pieces = [];
    this.bytes = 0;
  }

  flush(): void {
    this.scheduled = false;
    const pieces = this.pieces;
    const bytes = this.bytes;
    if (pieces.length === 0) return;
    this.pieces = [];
    this.bytes = 0;
    const socket = this.socket;
    if (socket.destroyed) return;
    if (pieces.length === 1) socket.write(pieces[0]);
    else if (bytes < JOIN_BELOW) socket.write(Buffer.concat(pieces, bytes));
    else {
      socket.cork();
      for (const p of pieces) socket.write(p);
      socket.uncork();
    }
    // The socket took it all without reaching its mark: it will emit no 'drain', so the debt is paid now.
    if (this.full && !socket.writableNeedDrain) queueMicrotask(() => this.drained());
  }
}
