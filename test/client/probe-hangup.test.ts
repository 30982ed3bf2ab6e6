/**
 * multiplex 'auto' asks each new peer GET_VALUES first. Management records are optional (FastCGI 1.0,
 * 4.1): a peer may hang up on one. That says the peer does not multiplex, not that it is down: the request
 * waiting goes out on a fresh connection, which does not ask again.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { Client } from '../../lib/index.js';
import { withTimeout } from '../helpers/fcgi-client.js';

const clients: Client[] = [];
const servers: Server[] = [];
const sockets = new Set<Socket>();
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const s of sockets) s.destroy();
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
});

const record = (type: number, id: number, content: Buffer): Buffer => {
  const head = Buffer.alloc(8);
  head[0] = 1;
  head[1] = type;
  head.writeUInt16BE(id, 2);
  head.writeUInt16BE(content.length, 4);
  return Buffer.concat([head, content]);
};

/**
 * A FastCGI peer by hand: it hangs up on GET_VALUES and answers each request 'ok' once its STDIN has ended;
 * `onConnection` runs first on each connection. Counts connections and GET_VALUES records.
 */
async function peer(onConnection: (socket: Socket) => void = () => {}): Promise<{ port: number; connections: number; probes: number }> {
  const seen = { port: 0, connections: 0, probes: 0 };
  const server = createServer((socket) => {
    seen.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onConnection(socket);
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 8) {
        const type = buf[1], id = buf.readUInt16BE(2), length = buf.readUInt16BE(4), padding = buf[6];
        if (buf.length < 8 + length + padding) break;
        buf = buf.subarray(8 + length + padding);
        if (type === 9) {
          seen.probes++;
          socket.destroy();
          return;
        }
        if (type === 5 && length === 0) {
          socket.write(Buffer.concat([record(6, id, Buffer.from('Status: 200\r\n\r\nok')), record(3, id, Buffer.alloc(8))]));
        }
      }
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  seen.port = (server.address() as AddressInfo).port;
  return seen;
}

it('a peer that hangs up on GET_VALUES serves the first request, on a fresh connection that does not ask again', async () => {
  const p = await peer();
  const client = new Client({ address: p.port, timeout: 2000 });
  clients.push(client);
  for (let i = 0; i < 2; i++) {
    const res = await withTimeout(client.request({ params: { REQUEST_METHOD: 'GET' } }), 2000, `request ${i + 1}`);
    expect(await res.text()).toBe('ok');
  }
  expect(p.probes).toBe(1);
  expect(p.connections).toBe(2);
});

it('a peer that hangs up on every connection fails the request as a closed connection, after one fresh try', async () => {
  const p = await peer((socket) => socket.destroy());
  const client = new Client({ address: p.port, timeout: 2000 });
  clients.push(client);
  const err = await withTimeout(client.request({ params: { REQUEST_METHOD: 'GET' } }).then(() => null, (e: Error) => e), 2000, 'request');
  expect(err).toMatchObject({ code: 'ERR_CGIWIRE_CONNECTION_CLOSED' });
  expect(p.connections).toBe(2);
});

it('with several addresses that hang up on GET_VALUES, each is asked once and the request is served', async () => {
  const peers = await Promise.all(Array.from({ length: 5 }, () => peer()));
  const client = new Client({ address: peers.map((p) => `127.0.0.1:${p.port}`), timeout: 2000 });
  clients.push(client);
  const res = await withTimeout(client.request({ params: { REQUEST_METHOD: 'GET' } }), 3000, 'the request');
  expect(await res.text()).toBe('ok');
  for (const p of peers) expect(p.probes).toBeLessThanOrEqual(1);
});

it('an address that hung up on GET_VALUES still serves when the other address is down', async () => {
  const p = await peer();
  const dead = createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()));
  const deadPort = (dead.address() as AddressInfo).port;
  await new Promise<void>((r) => dead.close(() => r()));
  const client = new Client({ address: [`127.0.0.1:${p.port}`, `127.0.0.1:${deadPort}`], timeout: 2000, retryDelay: 200 });
  clients.push(client);
  for (let i = 0; i < 3; i++) {
    const res = await withTimeout(client.request({ params: { REQUEST_METHOD: 'GET' } }), 3000, `request ${i + 1}`);
    expect(await res.text()).toBe('ok');
  }
  expect(p.probes).toBe(1);
});
