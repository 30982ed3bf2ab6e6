/**
 * A small HTTP client on node:http for the integration tests: one fresh connection per request (unless an agent is given),
 * the exact path given, arrival times of the body's pieces, and a bounded time for everything.
 */
import { request as httpRequest, type Agent, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  /** When each body piece arrived (ms, performance.now()) and its size. */
  pieces: { at: number; bytes: number }[];
  /** When the request was sent and when the response ended. */
  sentAt: number;
  endedAt: number;
  /** The client side's local port (what the web server sees as the remote port). */
  localPort: number | undefined;
}

export interface RequestOptions {
  method?: string;
  headers?: OutgoingHttpHeaders;
  body?: Buffer;
  /** Send the body with Transfer-Encoding: chunked, in pieces of this size. */
  chunkedPieces?: number;
  /** An agent (e.g. keep-alive); default none: a fresh connection that closes after the response. */
  agent?: Agent;
  /** Whole request and response, at most (default 10 s; every request here normally takes well under 1 s). */
  timeoutMs?: number;
  /**
   * Called for each body piece with the total so far; returning true destroys the connection there and
   * resolves with what arrived (the status of such a reply is the real one; the body is partial).
   */
  abortWhen?: (received: number) => boolean;
}

export function request(base: string, path: string, opts: RequestOptions = {}): Promise<Reply> {
  const target = new URL(base);
  const headers: OutgoingHttpHeaders = { ...opts.headers };
  const body = opts.body;
  if (body !== undefined && opts.chunkedPieces === undefined) headers['content-length'] = String(body.length);
  if (opts.chunkedPieces !== undefined) headers['transfer-encoding'] = 'chunked';
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return new Promise<Reply>((resolve, reject) => {
    let settled = false;
    const sentAt = performance.now();
    const req = httpRequest({
      host: target.hostname,
      port: Number(target.port),
      method: opts.method ?? 'GET',
      path,
      headers,
      agent: opts.agent ?? false,
    });
    const timer = setTimeout(() => {
      fail(new Error(`${opts.method ?? 'GET'} ${path}: no complete response within ${timeoutMs} ms`));
    }, timeoutMs);
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(err);
    };
    req.on('error', fail);
    req.on('response', (res) => {
      const pieces: { at: number; bytes: number }[] = [];
      const chunks: Buffer[] = [];
      let received = 0;
      const localPort = req.socket?.localPort;
      const finish = (): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body: Buffer.concat(chunks),
          pieces,
          sentAt,
          endedAt: performance.now(),
          localPort,
        });
      };
      res.on('data', (c: Buffer) => {
        pieces.push({ at: performance.now(), bytes: c.length });
        chunks.push(c);
        received += c.length;
        if (opts.abortWhen?.(received)) {
          finish();
          req.destroy();
        }
      });
      res.on('end', finish);
      res.on('error', (err) => fail(err));
      res.on('aborted', () => fail(new Error(`${path}: the response was cut after ${received} bytes`)));
    });
    if (body !== undefined && opts.chunkedPieces !== undefined) {
      for (let at = 0; at < body.length; at += opts.chunkedPieces) req.write(body.subarray(at, at + opts.chunkedPieces));
      req.end();
    } else {
      req.end(body);
    }
  });
}
