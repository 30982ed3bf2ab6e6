/**
 * The PHP gateway when its HTTP client goes away in the middle of a response: the request to the FastCGI
 * peer is cancelled and the connection is not left paused behind an unread body (a hand-made peer plays
 * PHP-FPM: it answers in order, one request at a time per connection).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as httpServer, get as httpGet, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { phpFpm, type PhpFpmHandler } from '../../lib/index.js';
import { fakeFastCgi, type FakePeer } from './fake-peer.js';
import { withTimeout } from '../helpers/fcgi-client.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('PHP gateway, HTTP client gone mid-response', () => {
  for (const pipeline of [1, 2]) {
    it(`cancels the request and serves the next one (pipeline ${pipeline})`, async () => {
      const root = mkdtempSync(join(tmpdir(), 'cgiwire-gw-'));
      writeFileSync(join(root, 'x.php'), '');
      cleanups.push(() => rmSync(root, { recursive: true, force: true }));
      const big = Buffer.alloc(60000, 0x61);
      let closed = 0;
      const peer: FakePeer = await fakeFastCgi((r) => {
        r.socket.once('close', () => closed++);
        r.stdout('Status: 200\r\nContent-Type: text/plain\r\n\r\n');
        let n = 0;
        const t = setInterval(() => {
          if (r.socket.destroyed) { clearInterval(t); return; }
          r.stdout(big);
          if (++n === 40) { clearInterval(t); r.end(); }
        }, 5);
      });
      cleanups.push(() => peer.stop());
      const gateway: PhpFpmHandler = phpFpm({ root, address: peer.port, multiplex: false, maxConnectionsPerAddress: 1, pipeline, timeout: 1000 });
      cleanups.push(() => gateway.client.destroy());
      const web: Server = httpServer((req, res) => { void gateway(req, res); });
      await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
      cleanups.push(() => new Promise<void>((r) => { web.closeAllConnections(); web.close(() => r()); }));
      const port = (web.address() as AddressInfo).port;
      // A client that reads the head and leaves.
      await new Promise<void>((resolve) => {
        const c = connect(port, '127.0.0.1', () => c.write('GET /x.php HTTP/1.1\r\nHost: a\r\n\r\n'));
        c.once('data', () => { c.destroy(); resolve(); });
      });
      // The next request gets its whole answer.
      const next = await withTimeout(new Promise<{ status: number; bytes: number }>((resolve, reject) => {
        httpGet(`http://127.0.0.1:${port}/x.php`, (res) => {
          let bytes = 0;
          res.on('data', (d: Buffer) => { bytes += d.length; });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
        }).on('error', reject);
      }), 5000, 'the next request');
      expect(next).toEqual({ status: 200, bytes: 40 * 60000 });
      // Without pipelining the abandoned request's connection was closed (that is how it is cancelled).
      if (pipeline === 1) expect(closed).toBeGreaterThanOrEqual(1);
    });
  }
});
