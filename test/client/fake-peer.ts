/**
 * A hand-made FastCGI or SCGI application for the client tests: a TCP server on 127.0.0.1 whose every
 * answer a test writes as raw bytes, to make the faults a real application never makes on purpose
 * (a header block that never ends, a connection cut mid-response, a request that is never answered).
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { codec, encodeEndRequest, encodeStream, phpFpm, type PhpFpmOptions, RecordType } from '../../lib/index.js';

export interface FakeRequest {
  id: number;
  params: Record<string, string>;
  socket: Socket;
  /** Writes a STDOUT piece for this request. */
  stdout(bytes: Buffer | string): void;
  stderr(bytes: Buffer | string): void;
  /** END_REQUEST with protocolStatus (default 0). */
  end(appStatus?: number, protocolStatus?: number): void;
}

export interface FakePeer {
  port: number;
  /** Connections accepted so far. */
  connections: Socket[];
  /** Record types seen, with their request ids. */
  seen: { type: number; id: number }[];
  /** Called on ABORT_REQUEST for a request whose params have arrived. */
  onAbort?: (r: FakeRequest) => void;
  stop(): Promise<void>;
}

/** A FastCGI peer that calls `onRequest` once a request's PARAMS have ended. */
export async function fakeFastCgi(onRequest: (r: FakeRequest) => void,
  onManagement: (socket: Socket, type: number) => void = () => {}): Promise<FakePeer> {
  const connections: Socket[] = [];
  const seen: { type: number; id: number }[] = [];
  const server: Server = createServer((socket) => {
    connections.push(socket);
    socket.on('error', () => {});
    const params = new Map<number, Buffer[]>();
    const requests = new Map<number, FakeRequest>();
    const reader = codec.createRecordReader((type, id, buf, offset, length) => {
      seen.push({ type, id });
      if (id === 0) onManagement(socket, type);
      if (type === RecordType.ABORT_REQUEST) {
        const r = requests.get(id);
        if (r !== undefined) peer.onAbort?.(r);
      }
      if (type === RecordType.BEGIN_REQUEST) params.set(id, []);
      if (type !== RecordType.PARAMS || !params.has(id)) return;
      if (length > 0) {
        params.get(id)!.push(Buffer.from(buf.subarray(offset, offset + length)));
        return;
      }
      const all = Buffer.concat(params.get(id)!);
      params.delete(id);
      const decoded = Object.fromEntries(codec.decodeParams(all, 0, all.length, undefined, 0).params.entries());
      const write = (type: number, bytes: Buffer | string): void => {
        if (socket.destroyed) return;
        for (const piece of encodeStream(codec.core, type, id, Buffer.from(bytes), false)) socket.write(piece);
      };
      const request: FakeRequest = {
        id, params: decoded, socket,
        stdout: (b) => write(RecordType.STDOUT, b),
        stderr: (b) => write(RecordType.STDERR, b),
        end: (appStatus = 0, protocolStatus = 0) => { if (!socket.destroyed) socket.write(encodeEndRequest(id, appStatus, protocolStatus)); },
      };
      requests.set(id, request);
      onRequest(request);
    });
    socket.on('data', (chunk) => { reader.push(chunk); });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const peer: FakePeer = {
    port: (server.address() as AddressInfo).port,
    connections,
    seen,
    stop: () => new Promise<void>((resolve) => {
      for (const s of connections) s.destroy();
      server.close(() => resolve());
    }),
  };
  return peer;
}

/** What runs in the HTTP server before the gateway (an async middleware, say). */
export type BeforeGateway = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/**
 * The PHP gateway behind node:http, after `before`, in front of a hand-made peer playing PHP-FPM (a root
 * holding x.php). What it starts is stopped by the functions it adds to `cleanups` (run them in reverse
 * order). `outcomes` gets each handler call's end, in the order they settled: 'ok', or what it rejected with.
 */
export async function gatewayOver(onRequest: (r: FakeRequest) => void, cleanups: (() => Promise<void> | void)[],
  options: Partial<PhpFpmOptions> = {}, before: BeforeGateway = () => {}): Promise<{ port: number; peer: FakePeer; outcomes: unknown[] }> {
  const root = mkdtempSync(join(tmpdir(), 'cgiwire-gw-'));
  writeFileSync(join(root, 'x.php'), '');
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  const peer = await fakeFastCgi(onRequest);
  cleanups.push(() => peer.stop());
  const gateway = phpFpm({ root, address: peer.port, multiplex: false, timeout: 2000, ...options });
  cleanups.push(() => gateway.client.destroy());
  const outcomes: unknown[] = [];
  const web: HttpServer = createHttpServer((req, res) => {
    void (async () => {
      await before(req, res);
      await gateway(req, res).then(() => { outcomes.push('ok'); }, (err: unknown) => { outcomes.push(err); });
    })();
  });
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => { web.closeAllConnections(); web.close(() => r()); }));
  return { port: (web.address() as AddressInfo).port, peer, outcomes };
}
