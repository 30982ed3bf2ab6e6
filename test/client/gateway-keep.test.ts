/**
 * The gateway's Content-Length rule keeps what works: HEAD responses (a length, no body) pass, and a body
 * that reaches its length before END_REQUEST leaves the kept PHP-FPM connection usable. A hand-made peer
 * plays PHP-FPM.
 */
import { afterEach, expect, it } from 'vitest';
import { Agent, request as httpRequest } from 'node:http';
import { gatewayOver, type FakeRequest } from './fake-peer.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });

const gateway = (onRequest: (r: FakeRequest) => void): ReturnType<typeof gatewayOver> => gatewayOver(onRequest, cleanups);

function get(port: number, method = 'GET', agent: Agent | false = false): Promise<{ status: number; headers: Record<string, unknown>; body: string; error?: string }> {
  return new Promise((resolve) => {
    const req = httpRequest({ port, host: '127.0.0.1', path: '/x.php', method, agent }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      res.on('error', (e) => resolve({ status: res.statusCode!, headers: res.headers, body, error: e.message }));
    });
    req.on('error', (e) => resolve({ status: -1, headers: {}, body: '', error: e.message }));
    req.end();
  });
}

it('HEAD: PHP sends Content-Length and no body (as PHP-FPM does for HEAD): the gateway answers, no reset', async () => {
  // END_REQUEST with the head (the takeWhole path)
  const { port } = await gateway((r) => { r.stdout('Content-Type: text/html\r\nContent-Length: 1234\r\n\r\n'); r.end(); });
  const res = await get(port, 'HEAD');
  expect(res.error).toBeUndefined();
  expect(res.status).toBe(200);
  expect(res.headers['content-length']).toBe('1234');
});

it('HEAD: END_REQUEST a little after the head (the pipeExactly path)', async () => {
  const { port } = await gateway((r) => { r.stdout('Content-Type: text/html\r\nContent-Length: 1234\r\n\r\n'); setTimeout(() => r.end(), 20); });
  const res = await get(port, 'HEAD');
  expect(res.error).toBeUndefined();
  expect(res.status).toBe(200);
});

it('control: body and END_REQUEST in one write keep the connection', async () => {
  const body = 'x'.repeat(1000);
  const { port, peer } = await gateway((r) => {
    r.stdout(`Content-Length: ${body.length}\r\n\r\n`);
    setTimeout(() => { r.stdout(body); r.end(); }, 10); // body and END_REQUEST in the same tick
  });
  for (let i = 0; i < 3; i++) {
    const res = await get(port);
    expect(res.body).toBe(body);
  }
  // the same requests without Content-Length reuse one connection; with it, one each
  expect(peer.connections.length).toBe(1);
});

it('control: without Content-Length the connection is kept', async () => {
  const body = 'x'.repeat(1000);
  const { port, peer } = await gateway((r) => {
    r.stdout(`Content-Type: text/plain\r\n\r\n`);
    setTimeout(() => { r.stdout(body); r.end(); }, 10);
  });
  for (let i = 0; i < 3; i++) expect((await get(port)).body).toBe(body);
  expect(peer.connections.length).toBe(1);
});

it('Content-Length body all sent, END_REQUEST a little later: the PHP-FPM connection is kept', async () => {
  const body = 'x'.repeat(1000);
  const { port, peer } = await gateway((r) => {
    r.stdout(`Content-Length: ${body.length}\r\n\r\n`);
    setTimeout(() => { r.stdout(body); setTimeout(() => r.end(), 10); }, 10);
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 }); // a keep-alive HTTP client, as a browser
  cleanups.push(() => agent.destroy());
  for (let i = 0; i < 3; i++) { expect((await get(port, 'GET', agent)).body).toBe(body); await new Promise((r) => setTimeout(r, 30)); }
  // Nothing was cut: no ABORT_REQUEST went to the peer, and its one connection was kept throughout.
  expect(peer.seen.filter((s) => s.type === 2)).toHaveLength(0);
  expect(peer.connections.length).toBe(1);
});

it('control (no Content-Length), END_REQUEST a little later', async () => {
  const body = 'x'.repeat(1000);
  const { port, peer } = await gateway((r) => {
    r.stdout(`Content-Type: text/plain\r\n\r\n`);
    setTimeout(() => { r.stdout(body); setTimeout(() => r.end(), 10); }, 10);
  });
  for (let i = 0; i < 3; i++) expect((await get(port)).body).toBe(body);
  expect(peer.connections.length).toBe(1);
});

it('pipeExactly under backpressure: a large Content-Length body read slowly arrives whole', async () => {
  const size = 8 << 20;
  const { port } = await gateway((r) => {
    r.stdout(`Content-Length: ${size}\r\n\r\n`);
    setTimeout(() => {
      const chunk = Buffer.alloc(1 << 20, 0x62);
      let i = 0;
      const go = () => { while (i < 8) { r.stdout(chunk); i++; if (!r.socket.write(Buffer.alloc(0))) { r.socket.once('drain', go); return; } } setTimeout(() => r.end(), 20); };
      go();
    }, 10);
  });
  const got = await new Promise<{ n: number; err?: string }>((resolve) => {
    const req = httpRequest({ port, host: '127.0.0.1', path: '/x.php', agent: false }, (res) => {
      let n = 0;
      res.on('data', (d: Buffer) => { n += d.length; res.pause(); setTimeout(() => res.resume(), 1); });
      res.on('end', () => resolve({ n }));
      res.on('error', (e) => resolve({ n, err: e.message }));
    });
    req.on('error', (e) => resolve({ n: -1, err: e.message }));
    req.end();
  });
  expect(got).toEqual({ n: size });
});
