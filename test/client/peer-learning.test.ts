/**
 * What the client learns of a peer (FCGI_MAX_CONNS, multiplexing limits) follows the peer through restarts:
 * a lower limit learned from one draining worker does not stay for good, a higher one after a restart is
 * used, and maxQueue counts the connections the peer allows.
 */
import { afterEach, expect, it } from 'vitest';
import type { AddressInfo, Socket } from 'node:net';
import { Client, createServer, type Server } from '../../lib/index.js';
import { sleep } from '../helpers/fcgi-client.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });

async function app(port: number, maxConnections: number): Promise<{ server: Server; port: number; peak: () => number }> {
  let open = 0, peak = 0;
  const server = createServer({ maxConnections, maxRequestsPerConnection: 1 }, async (_req, res) => {
    await sleep(100);
    res.end('ok');
  });
  server.on('connection', (s: Socket) => { open++; peak = Math.max(peak, open); s.on('close', () => open--); });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return { server, port: (server.address() as AddressInfo).port, peak: () => peak };
}

const close = (s: Server) => new Promise<void>((r) => s.close({ timeout: 50 }, () => r()));

/** A multiplexing application whose requests take 300 ms; counts the most requests in flight at once. */
function slowMultiplexer(): { make: () => Server; peak: () => number; reset: () => void } {
  let inFlight = 0, peak = 0;
  return {
    make: () => createServer({ maxRequestsPerConnection: 100 }, async (_req, res) => {
      inFlight++; peak = Math.max(peak, inFlight);
      await sleep(300);
      inFlight--;
      res.end('ok');
    }),
    peak: () => peak,
    reset: () => { inFlight = 0; peak = 0; },
  };
}

async function burst(client: Client, n: number): Promise<string[]> {
  return Promise.all(Array.from({ length: n }, async () => {
    try {
      const res = await client.request({ params: { REQUEST_METHOD: 'GET', SCRIPT_NAME: '/', REQUEST_URI: '/' } });
      return (await res.text()).toString();
    } catch (e) { return (e as { code?: string }).code ?? String(e); }
  }));
}

it('a peer that restarts with a higher FCGI_MAX_CONNS gets more connections again', async () => {
  const a = await app(0, 1);
  const client = new Client({ address: a.port, maxConnectionsPerAddress: 4, timeout: 3000 });
  cleanups.push(() => client.destroy());
  await close(a.server); // a clean restart: the kept connection is closed with a FIN
  await sleep(100);
  const b = await app(a.port, 4);
  cleanups.push(() => close(b.server));
  const results = await burst(client, 4);
  expect(results).toEqual(Array(4).fill(results[0]));
  expect(results[0]).not.toMatch(/^ERR_/);
  expect(b.peak()).toBe(4);
});

it('control: a fresh client to the restarted peer opens 4', async () => {
  const b = await app(0, 4);
  cleanups.push(() => close(b.server));
  const client = new Client({ address: b.port, maxConnectionsPerAddress: 4, timeout: 3000 });
  cleanups.push(() => client.destroy());
  await burst(client, 1);
  await burst(client, 4);
  expect(b.peak()).toBe(4);
});

it('maxQueue counts the connections the peer allows (FCGI_MAX_CONNS), not maxConnectionsPerAddress', async () => {
  const a = await app(0, 1);
  cleanups.push(() => close(a.server));
  const client = new Client({ address: a.port, maxConnectionsPerAddress: 4, maxQueue: 1, timeout: 3000 });
  cleanups.push(() => client.destroy());
  await burst(client, 1); // learn the peer: FCGI_MAX_CONNS=1, no multiplexing
  const results = await burst(client, 5);
  // 1 runs, 1 waits (maxQueue 1): 3 refused with ERR_CGIWIRE_QUEUE_FULL
  expect(results.filter((r) => r === 'ERR_CGIWIRE_QUEUE_FULL').length).toBe(3);
});

it('a multiplexing peer that drains for a restart (CANT_MPX_CONN while closing) does not cap later multiplexing for good', async () => {
  const apps = slowMultiplexer();
  const mk = apps.make;
  const a = mk();
  await new Promise<void>((r) => a.listen(0, '127.0.0.1', () => r()));
  const port = (a.address() as AddressInfo).port;
  const client = new Client({ address: port, maxConnectionsPerAddress: 1, timeout: 5000, retryDelay: 50 });
  cleanups.push(() => client.destroy());
  const first = burst(client, 1);
  await sleep(50);
  a.close({ timeout: 2000 }); // graceful: the request in progress finishes, new ones are refused (CANT_MPX_CONN)
  const during = burst(client, 1);
  await new Promise((r) => setTimeout(r, 100));
  // the same application again (a restart)
  const b = mk();
  await new Promise<void>((r) => b.listen(port, '127.0.0.1', () => r()));
  cleanups.push(() => close(b));
  apps.reset();
  await burst(client, 10);
  expect(apps.peak()).toBe(10);
  // The request in progress at the drain finished there; the one refused meanwhile was served after.
  for (const r of [...await first, ...await during]) expect(r).not.toMatch(/^ERR_/);
});

it('rolling restart behind one address (cluster-like): a draining worker\'s CANT_MPX_CONN does not cap later multiplexing', async () => {
  const { createServer: netServer, connect } = await import('node:net');
  const apps = slowMultiplexer();
  const a = apps.make(), b = apps.make();
  await new Promise<void>((r) => a.listen(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => b.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => close(b));
  let target = (a.address() as AddressInfo).port;
  const sockets: Socket[] = [];
  const proxy = netServer((s) => {
    const up = connect(target, '127.0.0.1');
    sockets.push(s, up);
    s.pipe(up); up.pipe(s);
    s.on('error', () => up.destroy()); up.on('error', () => s.destroy());
    s.on('close', () => up.destroy()); up.on('close', () => s.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); proxy.close(() => r()); }));
  const client = new Client({ address: (proxy.address() as AddressInfo).port, maxConnectionsPerAddress: 1, timeout: 5000 });
  cleanups.push(() => client.destroy());
  await burst(client, 1); // probe: multiplexes, FCGI_MAX_REQS 1024
  const first = burst(client, 1);
  await sleep(50);
  a.close({ timeout: 2000 }); // worker A drains
  target = (b.address() as AddressInfo).port; // new connections go to worker B
  const during = burst(client, 1); // refused by A with CANT_MPX_CONN, then served by B
  apps.reset();
  await burst(client, 10);
  expect(apps.peak()).toBe(10);
  // The request in progress at the drain finished there; the one refused meanwhile was served after.
  for (const r of [...await first, ...await during]) expect(r).not.toMatch(/^ERR_/);
});
