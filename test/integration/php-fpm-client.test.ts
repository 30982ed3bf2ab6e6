/**
 * The cgiwire client and the PHP gateway against a real PHP-FPM (Debian php8.2-fpm, started here on a free
 * loopback port and a unix socket, stopped by pid): bodies both ways byte-exact, PHP's status, headers and
 * STDERR, a pool under concurrency, a PHP-FPM restart in the middle, and the gateway serving a PHP app
 * through Express with the script mapping's refusals.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { createServer as httpServer, request as httpRequest, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { Client, phpFpm, type PhpFpmHandler } from '../../lib/index.js';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.js';
import { sleep } from '../helpers/fcgi-client.js';

let fpm: PhpFpm;
const clients: Client[] = [];

beforeAll(async () => {
  fpm = await startPhpFpm({ maxChildren: 4 });
}, 30_000);

// A kept connection holds a PHP worker while idle (PHP-FPM has no idle timeout): every test closes its clients,
// or the next test's requests would wait for workers that never free.
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await fpm?.stop();
});

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function params(script: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    GATEWAY_INTERFACE: 'CGI/1.1', SERVER_PROTOCOL: 'HTTP/1.1', REQUEST_METHOD: 'GET',
    SCRIPT_FILENAME: `${fpm.docroot}/${script}`, SCRIPT_NAME: `/${script}`, REQUEST_URI: `/${script}`,
    QUERY_STRING: '', DOCUMENT_ROOT: fpm.docroot, ...extra,
  };
}

function client(where: 'tcp' | 'unix' = 'tcp', extra: Partial<ConstructorParameters<typeof Client>[0]> = {}): Client {
  const c = new Client({ address: where === 'tcp' ? `127.0.0.1:${fpm.tcp.port}` : fpm.socketPath, maxConnectionsPerAddress: 4, ...extra });
  clients.push(c);
  return c;
}

describe('client against php-fpm', () => {
  for (const where of ['tcp', 'unix'] as const) {
    it(`runs hello.php over ${where}`, async () => {
      const r = await client(where).request({ params: params('hello.php') });
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toMatch(/^text\/plain/);
      expect(await r.text()).toBe('Hello from PHP');
    });
  }

  it('learns that php-fpm does not multiplex', async () => {
    expect((await client().getValues()).FCGI_MPXS_CONNS).toBe('0');
  });

  for (const size of [0, 64 * 1024, 8 * 1024 * 1024]) {
    it(`echoes a POST body of ${size} bytes byte-exact`, async () => {
      const body = randomBytes(size);
      const r = await client().request({ params: params('echo.php', { REQUEST_METHOD: 'POST', CONTENT_TYPE: 'application/octet-stream' }), body });
      expect(r.status).toBe(200);
      const back = await r.buffer();
      expect(back.length).toBe(size);
      expect(sha(back)).toBe(sha(body));
    });
  }

  it('reads a 200 KiB binary response byte-exact', async () => {
    const body = await (await client('unix').request({ params: params('binary.php') })).buffer();
    expect(body.length).toBe(204800);
    let wrong = 0;
    for (let i = 0; i < body.length; i++) if (body[i] !== ((i * 7 + 3) & 0xff)) wrong++;
    expect(wrong).toBe(0);
  });

  it('passes on the status and headers PHP sets', async () => {
    const r = await client().request({ params: params('headers.php', { HTTP_X_TEST: 'yes', QUERY_STRING: 'a=1' }) });
    expect(r.status).toBe(201);
    expect(r.statusText).toBe('Created');
    expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(r.headers['x-custom']).toBe('yes');
    const seen = JSON.parse(await r.text()) as Record<string, string | null>;
    expect(seen).toMatchObject({ HTTP_X_TEST: 'yes', QUERY_STRING: 'a=1', SCRIPT_NAME: '/headers.php' });
    const missing = await client().request({ params: params('status.php') });
    expect([missing.status, await missing.text()]).toEqual([404, 'not here']);
    const moved = await client().request({ params: params('redirect.php') });
    expect([moved.status, moved.headers.location]).toEqual([302, '/hello.php']);
  });

  it('reports what PHP writes to STDERR, as a stream and as an event', async () => {
    const c = client();
    const events: string[] = [];
    c.on('stderr', (chunk: Buffer) => events.push(chunk.toString()));
    const r = await c.request({ params: params('stderr.php') });
    expect(await r.text()).toBe('ok');
    expect(await r.stderrText()).toContain('php error_log line');
    expect(events.join('')).toContain('php error_log line');
  });

  it('runs 50 concurrent requests through a pool of 4 connections', async () => {
    const c = client('tcp', { maxConnectionsPerAddress: 4 });
    const bodies = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      c.request({ params: params('headers.php', { QUERY_STRING: `n=${i}` }) }).then((r) => r.text())));
    bodies.forEach((b, i) => expect(JSON.parse(b).QUERY_STRING).toBe(`n=${i}`));
    expect(c.stats.connections).toBeLessThanOrEqual(4);
  });

  it('pipelines on kept connections: PHP-FPM answers the request sent ahead after the one before', async () => {
    const c = client('tcp', { maxConnectionsPerAddress: 2, pipeline: 2 });
    const scripts = Array.from({ length: 30 }, (_, i) => (i % 7 === 3 ? ['slow.php', 'ms=30'] : ['headers.php', `n=${i}`]));
    const bodies = await Promise.all(scripts.map(([script, query]) =>
      c.request({ params: params(script, { QUERY_STRING: query }) }).then((r) => r.text())));
    bodies.forEach((b, i) => {
      if (scripts[i][0] === 'slow.php') expect(b).toBe('slept');
      else expect(JSON.parse(b).QUERY_STRING).toBe(`n=${i}`);
    });
    expect(c.stats.connections).toBeLessThanOrEqual(2);
  });

  it('times out a slow script and goes on', async () => {
    const c = client('tcp', { timeout: 100 });
    await expect(c.request({ params: params('slow.php', { QUERY_STRING: 'ms=1000' }) })).rejects.toMatchObject({ code: 'ERR_CGIWIRE_TIMEOUT' });
    expect(await (await c.request({ params: params('hello.php') })).text()).toBe('Hello from PHP');
  });

  it('works again after php-fpm restarts in the middle', async () => {
    const c = client('tcp', { maxConnectionsPerAddress: 2, retryDelay: 0 });
    expect(await (await c.request({ params: params('hello.php') })).text()).toBe('Hello from PHP');
    const before = fpm.pid;
    const inFlight = c.request({ params: params('slow.php', { QUERY_STRING: 'ms=300' }) }).then((r) => r.text()).catch((e: Error) => e);
    await sleep(50);
    await fpm.restart();
    expect(fpm.pid).not.toBe(before);
    const outcome = await inFlight;
    // The request cut by the restart either failed with a clear error or (interrupted sleep) came back.
    if (outcome instanceof Error) expect(outcome).toMatchObject({ code: expect.stringMatching(/^ERR_CGIWIRE_(CONNECTION_CLOSED|CONNECT_FAILED)$/) });
    else expect(outcome).toBe('slept');
    const after = await Promise.all(Array.from({ length: 6 }, () => c.request({ params: params('hello.php') }).then((r) => r.text())));
    expect(after).toEqual(Array(6).fill('Hello from PHP'));
  });
});

describe('PHP gateway through Express', () => {
  let http: HttpServer;
  let base: string;
  let gateway: PhpFpmHandler;
  let outside: string;
  const stderr: string[] = [];

  beforeAll(async () => {
    // A symlink inside the docroot that leads out of it, to a PHP file elsewhere.
    outside = mkdtempSync(join(tmpdir(), 'cgiwire-outside-'));
    chmodSync(outside, 0o755);
    writeFileSync(join(outside, 'evil.php'), '<?php echo "outside";');
    chmodSync(join(outside, 'evil.php'), 0o644);
    try { symlinkSync(join(outside, 'evil.php'), join(fpm.docroot, 'app', 'link.php')); } catch { /* left from an earlier run */ }
    gateway = phpFpm({ root: fpm.docroot, address: fpm.socketPath, maxConnectionsPerAddress: 4, onStderr: (t) => stderr.push(t) });
    const app = express();
    app.get('/node', (_req, res) => { res.send('from node'); });
    // A body parser ahead of the gateway for one path: the gateway sends what it read.
    const raw = express.raw({ type: () => true });
    app.use((req, res, next) => {
      if (req.url !== '/parsed') return next();
      req.url = '/echo.php';
      raw(req, res, next);
    });
    app.use(gateway);
    app.use((_req, res) => { res.status(404).send('express 404'); });
    http = httpServer(app);
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await gateway?.close();
    await new Promise<void>((r) => (http ? http.close(() => r()) : r()));
    rmSync(join(fpm.docroot, 'app', 'link.php'), { force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  /** A raw HTTP request (the path is sent as given, not normalised by a URL parser). */
  function get(path: string, options: { method?: string; headers?: Record<string, string>; body?: Buffer } = {}):
    Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(`${base}/`, { method: options.method ?? 'GET', headers: options.headers, path }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      });
      req.on('error', reject);
      req.end(options.body);
    });
  }

  it('serves a PHP app, with PATH_INFO and the directory index', async () => {
    expect((await get('/app/info.php')).body.toString()).toBe('app info');
    expect((await get('/app/')).body.toString()).toBe('app index');
    expect((await get('/app/index.php/users/7')).body.toString()).toBe('app index\n/users/7');
    expect((await get('/node')).body.toString()).toBe('from node');
  });

  it('passes status, repeated headers and the request data PHP sees', async () => {
    const r = await get('/headers.php?x=1', { headers: { 'X-Test': 'hi', Proxy: 'http://evil:1', 'PHP-Value': 'x' } });
    expect(r.status).toBe(201);
    expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    const seen = JSON.parse(r.body.toString()) as Record<string, string | null>;
    expect(seen).toMatchObject({
      REQUEST_METHOD: 'GET', REQUEST_URI: '/headers.php?x=1', QUERY_STRING: 'x=1', SCRIPT_NAME: '/headers.php',
      HTTP_X_TEST: 'hi', HTTP_PROXY: null, PATH_INFO: null,
    });
    expect(seen.SCRIPT_FILENAME).toBe(join(fpm.docroot, 'headers.php'));
  });

  it('passes header bytes on as they came (UTF-8 in a header stays UTF-8)', async () => {
    const utf8AsSent = Buffer.from('café ☕', 'utf8').toString('latin1');  // node writes one byte per char
    const r = await get('/headers.php', { headers: { 'X-Test': utf8AsSent } });
    expect(JSON.parse(r.body.toString()).HTTP_X_TEST).toBe('café ☕');
  });

  it('sends a body a parser before it has already read, with a length or chunked', async () => {
    const body = randomBytes(3000);
    const r = await get('/parsed', { method: 'POST', body, headers: { 'Content-Type': 'application/octet-stream' } });
    expect(sha(r.body)).toBe(sha(body));
    const chunked = await new Promise<Buffer>((resolve, reject) => {
      const req = httpRequest(`${base}/`, { method: 'POST', path: '/parsed', headers: { 'Content-Type': 'application/octet-stream' } }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve(Buffer.concat(parts)));
      });
      req.on('error', reject);
      req.write(body.subarray(0, 1000));
      req.end(body.subarray(1000));
    });
    expect(sha(chunked)).toBe(sha(body));
  });

  it('never lets a request set PHP_VALUE or PHP_ADMIN_VALUE', async () => {
    const r = await get('/ini.php', { headers: {
      'PHP-Value': 'auto_prepend_file=/etc/passwd', 'PHP-Admin-Value': 'auto_prepend_file=/etc/passwd',
      PHP_VALUE: 'auto_prepend_file=/etc/passwd',
    } });
    expect(r.body.toString()).toBe('|none|none');
  });

  it('streams a POST body through, byte-exact, and a chunked one too', async () => {
    const body = randomBytes(1 << 20);
    const r = await get('/echo.php', { method: 'POST', body, headers: { 'Content-Type': 'application/octet-stream' } });
    expect(sha(r.body)).toBe(sha(body));
    const chunked = await new Promise<Buffer>((resolve, reject) => {
      const req = httpRequest(`${base}/echo.php`, { method: 'POST' }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve(Buffer.concat(parts)));
      });
      req.on('error', reject);
      req.write(body.subarray(0, 1000));
      req.end(body.subarray(1000, 5000));
    });
    expect(sha(chunked)).toBe(sha(body.subarray(0, 5000)));
  });

  it('refuses paths that climb out of the root, resolve outside it, or are malformed', async () => {
    for (const path of ['/../../../etc/passwd', '/app/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/app/%2e%2e/hello.php']) {
      const r = await get(path);
      expect([path, r.status]).toEqual([path, 403]);
    }
    expect((await get('/app/link.php')).status).toBe(403);
    expect((await get('/hello.php%00.txt')).status).toBe(400);
    expect((await get('/hello.php%0a')).status).toBe(400);
    expect((await get('/%E0%A4%A')).status).toBe(400);
  });

  it('hands non-PHP paths to the next middleware', async () => {
    const r = await get('/README.md');
    expect([r.status, r.body.toString()]).toEqual([404, 'express 404']);
    expect((await get('/nothing.php')).body.toString()).toBe('express 404');
  });

  it("reports PHP's STDERR", async () => {
    expect((await get('/stderr.php')).body.toString()).toBe('ok');
    expect(stderr.join('')).toContain('php error_log line');
  });

  it('reuses a path\'s script mapping for scriptCacheMs, then looks again', async () => {
    const late = join(fpm.docroot, 'late.php');
    rmSync(late, { force: true });
    try {
      expect((await get('/late.php')).status).toBe(404);
      writeFileSync(late, '<?php echo "late";');
      chmodSync(late, 0o644);
      expect((await get('/late.php')).status).toBe(404);  // the miss is still cached
      await sleep(1100);
      expect((await get('/late.php')).body.toString()).toBe('late');
    } finally {
      rmSync(late, { force: true });
    }
  });

  it('behind plain node:http passes status, repeated headers and the body', async () => {
    // The owner's params win over what the request brings (here a header of the same name).
    const plain = phpFpm({ root: fpm.docroot, address: fpm.socketPath, maxConnectionsPerAddress: 2, params: { HTTP_X_TEST: 'owner' } });
    const server = httpServer(plain);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const r = await new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
        httpRequest(`http://127.0.0.1:${port}/headers.php`, { headers: { 'X-Test': 'request' } }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => { body += c; });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        }).on('error', reject).end();
      });
      expect(r.status).toBe(201);
      expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2']);
      expect(r.headers['content-length']).toBe(String(Buffer.byteLength(r.body)));
      expect(JSON.parse(r.body).SCRIPT_NAME).toBe('/headers.php');
      expect(JSON.parse(r.body).HTTP_X_TEST).toBe('owner');
    } finally {
      await plain.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('answers 502 when PHP-FPM is not there', async () => {
    const dead = phpFpm({ root: fpm.docroot, address: join(tmpdir(), 'cgiwire-no-such.sock') });
    const server = httpServer(dead);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const status = await new Promise<number>((resolve, reject) => {
      httpRequest(`http://127.0.0.1:${port}/hello.php`, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject).end();
    });
    expect(status).toBe(502);
    await dead.close();
    await new Promise<void>((r) => server.close(() => r()));
  });
});
