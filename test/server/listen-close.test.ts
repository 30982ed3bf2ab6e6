/**
 * Where the application server listens (unix socket with mode, stale and live socket files, TCP port 0,
 * spawn mode with a listening socket on fd 0), who may connect (webServerAddrs / FCGI_WEB_SERVER_ADDRS,
 * IPv4 and IPv6), and close(): stop accepting, finish what is in progress, abort after a timeout.
 */
import { spawn, spawnSync, type ChildProcess, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { connect, createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createServer, encodeScgiHeader, type Server } from '../../lib/index.js';
import { resolveOptions } from '../../lib/options.js';
import { FcgiClient, PS, parseCgi, request, sleep, until, withTimeout } from '../helpers/fcgi-client.js';
import { deferred, echo, expectServes, startRouted, stopAll } from './setup.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dirs: string[] = [];
const servers: Server[] = [];
const children: ChildProcess[] = [];

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'cgiwire-server-test-'));
  dirs.push(d);
  return d;
}

afterEach(async () => {
  await stopAll();
  for (const s of servers.splice(0)) if (s.listening) await new Promise<void>((r) => s.close({ timeout: 50 }, () => r()));
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function listening(server: Server, ...args: unknown[]): Promise<void> {
  return withTimeout(new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    (server.listen as (...a: unknown[]) => Server)(...args, () => resolve());
  }), 2000, 'listen');
}

/** A socket file nobody listens on any more (its process exited), so listen(path) checks it asynchronously. */
function staleSocketFile(path: string): void {
  execFileSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.exit(0))`]);
}

function serve(options: Parameters<typeof createServer>[0] = {}): Server {
  const s = createServer(options, echo);
  servers.push(s);
  return s;
}

/** One GET on a new connection; the parsed answer. */
async function get(target: Parameters<typeof FcgiClient.connect>[0], body = 'hi'): Promise<ReturnType<typeof parseCgi>> {
  const c = await FcgiClient.connect(target);
  try {
    c.send(request(1, { body, keepConn: false }));
    return parseCgi((await c.response(1)).stdout);
  } finally {
    c.destroy();
  }
}

/** True when this machine can listen on and connect to ::1. */
async function probeIPv6(): Promise<boolean> {
  const s = createNetServer();
  try {
    await new Promise<void>((resolve, reject) => { s.once('error', reject); s.listen(0, '::1', () => resolve()); });
    const port = (s.address() as AddressInfo).port;
    await new Promise<void>((resolve, reject) => {
      const c = connect({ port, host: '::1' }, () => { c.destroy(); resolve(); });
      c.once('error', reject);
    });
    return true;
  } catch {
    return false;
  } finally {
    s.close();
  }
}
const hasIPv6 = await probeIPv6();

describe('listen targets', () => {
  it('a unix socket path with mode 0o660: the mode is applied by the time the listen callback runs', async () => {
    const path = join(tempDir(), 'app.sock');
    const s = serve();
    let modeInCallback = -1;
    await withTimeout(new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen({ path, mode: 0o660 }, () => { modeInCallback = statSync(path).mode & 0o777; resolve(); });
    }), 2000, 'listen');
    expect(statSync(path).isSocket()).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o660);
    expect(modeInCallback).toBe(0o660);
    const a = await get(path, 'over unix');
    expect(a.body.toString()).toBe('over unix');
  });

  it('a stale socket file (nobody listening) is replaced', async () => {
    const path = join(tempDir(), 'stale.sock');
    // A process that listens on the path and dies without cleaning up leaves a stale socket file.
    const killed = spawnSync(process.execPath, ['-e',
      `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`],
    { stdio: 'ignore', timeout: 5000 });
    expect(killed.signal).toBe('SIGKILL');
    expect(statSync(path).isSocket()).toBe(true);
    const s = serve();
    await listening(s, path);
    expect((await get(path, 'fresh')).body.toString()).toBe('fresh');
  });

  it('a live socket file gives EADDRINUSE on error, and the live server keeps its socket', async () => {
    const path = join(tempDir(), 'live.sock');
    const live: NetServer = createNetServer((sock) => { sock.on('error', () => {}); sock.end('live'); });
    await new Promise<void>((resolve) => live.listen(path, () => resolve()));
    try {
      const s = serve();
      const err = await withTimeout(new Promise<NodeJS.ErrnoException>((resolve) => {
        s.once('error', resolve);
        s.listen(path);
      }), 2000, "the 'error' event");
      expect(err.code).toBe('EADDRINUSE');
      expect(s.listening).toBe(false);
      const got = await withTimeout(new Promise<string>((resolve) => {
        const c = connect(path);
        c.on('error', () => {});
        let text = '';
        c.on('data', (d) => { text += d; });
        c.on('close', () => resolve(text));
      }), 2000, 'the live server');
      expect(got).toBe('live');
    } finally {
      live.close();
    }
  });

  it('a path that is a regular file is not removed: listen fails with EADDRINUSE', async () => {
    const path = join(tempDir(), 'not-a-socket');
    writeFileSync(path, 'keep me');
    const s = serve();
    const err = await withTimeout(new Promise<NodeJS.ErrnoException>((resolve) => { s.once('error', resolve); s.listen(path); }), 2000, 'error');
    expect(err.code).toBe('EADDRINUSE');
    expect(readFileSync(path, 'utf8')).toBe('keep me');
  });

  it("TCP port 0: 'listening', address() gives the port, requests are served", async () => {
    const s = serve();
    let events = 0;
    s.on('listening', () => events++);
    await listening(s, 0, '127.0.0.1');
    const addr = s.address() as AddressInfo;
    expect(addr.address).toBe('127.0.0.1');
    expect(addr.port).toBeGreaterThan(0);
    expect(events).toBe(1);
    expect((await get(addr.port, 'tcp')).body.toString()).toBe('tcp');
  });

  it('listen() with no address and no listening socket on fd 0 reports an error', async () => {
    const dist = buildDist();
    const script = join(dist, 'no-spawn.mjs');
    writeFileSync(script, `import { createServer } from './dist/index.js';
createServer(() => {}).on('error', (e) => { console.log(e.code); process.exit(0); }).listen();
setTimeout(() => { console.log('no error'); process.exit(1); }, 2000);
`);
    const out = execFileSync(process.execPath, [script], { stdio: ['pipe', 'pipe', 'inherit'], timeout: 5000 }).toString().trim();
    expect(out).toBe('ERR_CGIWIRE_NO_SPAWN_SOCKET');
  });

  it('spawn mode: a child whose fd 0 is a listening TCP socket serves FastCGI on it with listen()', async () => {
    const dist = buildDist();
    const script = join(dist, 'spawned.mjs');
    writeFileSync(script, `import { createServer } from './dist/index.js';
const s = createServer((req, res) => { res.setHeader('X-Pid', String(process.pid)); res.end('spawned ' + req.url); });
s.on('error', (e) => { console.error('child error', e); process.exit(2); });
s.listen(() => console.log('listening'));
`);
    const listener = createNetServer();
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', () => resolve()));
    const port = (listener.address() as AddressInfo).port;
    const fd = (listener as unknown as { _handle: { fd: number } })._handle.fd;
    const child = spawn(process.execPath, [script], { stdio: [fd, 'pipe', 'inherit'] });
    children.push(child);
    listener.close(); // the child holds its own copy; the parent must not accept on it
    let out = '';
    child.stdout!.on('data', (d) => { out += d; });
    await until(() => out.includes('listening') || child.exitCode !== null, 5000, 'the child to listen');
    expect(child.exitCode).toBeNull();
    const c = await FcgiClient.connect(port);
    c.send(request(1, { uri: '/from-the-child', keepConn: false }));
    const res = await c.response(1, 5000);
    const a = parseCgi(res.stdout);
    expect(a.status).toBe(200);
    expect(a.body.toString()).toBe('spawned /from-the-child');
    expect(a.headers).toContainEqual(['X-Pid', String(child.pid)]);
    c.destroy();
  });
});

describe('webServerAddrs / FCGI_WEB_SERVER_ADDRS', () => {
  it('a TCP peer not on the list is closed at once', async () => {
    const s = serve({ webServerAddrs: ['127.0.0.2'] });
    await listening(s, 0, '127.0.0.1');
    const c = await FcgiClient.connect((s.address() as AddressInfo).port);
    c.send(request(1));
    await c.waitClosed(1000);
    expect(c.receivedBytes).toBe(0);
  });

  it('a TCP peer on the list is served', async () => {
    const s = serve({ webServerAddrs: ['127.0.0.2', '127.0.0.1'] });
    await listening(s, 0, '127.0.0.1');
    expect((await get((s.address() as AddressInfo).port, 'allowed')).body.toString()).toBe('allowed');
  });

  it('the list comes from FCGI_WEB_SERVER_ADDRS when no option is given (spaces trimmed)', async () => {
    const saved = process.env.FCGI_WEB_SERVER_ADDRS;
    process.env.FCGI_WEB_SERVER_ADDRS = '10.0.0.1, 127.0.0.2';
    let deny: Server, allow: Server;
    try {
      deny = serve();
      process.env.FCGI_WEB_SERVER_ADDRS = '10.0.0.1, 127.0.0.1';
      allow = serve();
    } finally {
      if (saved === undefined) delete process.env.FCGI_WEB_SERVER_ADDRS; else process.env.FCGI_WEB_SERVER_ADDRS = saved;
    }
    await listening(deny, 0, '127.0.0.1');
    await listening(allow, 0, '127.0.0.1');
    const c = await FcgiClient.connect((deny.address() as AddressInfo).port);
    c.send(request(1));
    await c.waitClosed(1000);
    expect((await get((allow.address() as AddressInfo).port, 'env')).body.toString()).toBe('env');
  });

  it('entries that are not addresses are refused in the option (a RangeError), and left out of FCGI_WEB_SERVER_ADDRS with a warning', async () => {
    for (const bad of ['127.0.0.1/8', 'localhost', '127.0.0.1:9000', '127.0.0', '::1/128']) {
      expect(() => resolveOptions({ webServerAddrs: ['127.0.0.1', bad] })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    }
    expect([...resolveOptions({ webServerAddrs: [' 127.0.0.1 ', '[::1]', ''] }).webServerAddrs!]).toEqual(['127.0.0.1', '::1']);
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => { warnings.push(w); };
    process.on('warning', onWarning);
    try {
      const set = resolveOptions({}, { FCGI_WEB_SERVER_ADDRS: 'localhost, 127.0.0.1,10.0.0.0/8' }).webServerAddrs!;
      expect([...set]).toEqual(['127.0.0.1']);
      // Only bad entries: nobody is allowed (fail closed), as with a list of empty entries.
      expect([...resolveOptions({}, { FCGI_WEB_SERVER_ADDRS: 'localhost' }).webServerAddrs!]).toEqual([]);
      await until(() => warnings.length >= 2, 1000, 'the warnings');
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings[0].message).toMatch(/FCGI_WEB_SERVER_ADDRS.*localhost.*10\.0\.0\.0\/8/);
  });

  it('a prefix of an allowed address is not allowed (127.0.0.1 vs 127.0.0.10)', async () => {
    const s = serve({ webServerAddrs: ['127.0.0.10', '127.0.0.100'] });
    await listening(s, 0, '127.0.0.1');
    const c = await FcgiClient.connect((s.address() as AddressInfo).port);
    await c.waitClosed(1000);
  });

  it('a unix socket peer has no address and is served', async () => {
    const path = join(tempDir(), 'addrs.sock');
    const s = serve({ webServerAddrs: ['127.0.0.2'] });
    await listening(s, path);
    expect((await get(path, 'unix')).body.toString()).toBe('unix');
  });

  it('IPv6: ::1 is served when listed, closed when not (full-address comparison)', async (ctx) => {
    if (!hasIPv6) { console.warn('IPv6 loopback (::1) unavailable: IPv6 webServerAddrs cases skipped'); ctx.skip(); }
    const allowed = serve({ webServerAddrs: ['::1'] });
    await listening(allowed, 0, '::1');
    expect((await get({ port: (allowed.address() as AddressInfo).port, host: '::1' }, 'v6')).body.toString()).toBe('v6');
    const denied = serve({ webServerAddrs: ['::2', '127.0.0.1', '::'] });
    await listening(denied, 0, '::1');
    const c = await FcgiClient.connect({ port: (denied.address() as AddressInfo).port, host: '::1' });
    await c.waitClosed(1000);
  });

  it('IPv6: an allowed address written in another form (0:0:0:0:0:0:0:1) still matches ::1 (compared as addresses, not strings)', async (ctx) => {
    if (!hasIPv6) { console.warn('IPv6 loopback (::1) unavailable: IPv6 webServerAddrs cases skipped'); ctx.skip(); }
    const s = serve({ webServerAddrs: ['0:0:0:0:0:0:0:1'] });
    await listening(s, 0, '::1');
    expect((await get({ port: (s.address() as AddressInfo).port, host: '::1' }, 'long form')).body.toString()).toBe('long form');
  });

  it('IPv4-mapped peers (::ffff:127.0.0.1 on a dual-stack socket) compare as their IPv4 address', async (ctx) => {
    if (!hasIPv6) { console.warn('IPv6 unavailable: dual-stack case skipped'); ctx.skip(); }
    const s = serve({ webServerAddrs: ['127.0.0.1'] });
    await listening(s, { port: 0, host: '::' });
    expect((await get({ port: (s.address() as AddressInfo).port, host: '127.0.0.1' }, 'mapped')).body.toString()).toBe('mapped');
  });
});

describe('close()', () => {
  it("stops accepting, finishes requests in progress, then emits 'close'", async () => {
    const release = deferred();
    const r = await startRouted({}, { '/slow': async (_q, res) => { await release.promise; res.end('finished'); } });
    const busy = await r.client();
    const idle = await r.client();
    busy.send(request(1, { uri: '/slow' }));
    await until(() => r.server.activeRequests === 1, 2000, 'request in progress');
    const order: string[] = [];
    r.server.close(() => order.push('close'));
    // Idle keep-alive connections are closed at once; new connections are refused.
    await idle.waitClosed(1000);
    await expect(FcgiClient.connect(r.port, { timeout: 1000 })).rejects.toThrow();
    // A new request on the draining connection is refused, not started.
    busy.send(request(2));
    expect((await busy.response(2)).protocolStatus).toBe(PS.CANT_MPX_CONN);
    await sleep(50);
    expect(order).toEqual([]);
    release.resolve();
    const res = await busy.response(1);
    order.push('response');
    expect(parseCgi(res.stdout).body.toString()).toBe('finished');
    await busy.waitClosed(1000);
    await until(() => order.includes('close'), 2000, "'close'");
    expect(order).toEqual(['response', 'close']);
    expect(r.server.listening).toBe(false);
  });

  it("close({timeout: 200}) aborts a request that never ends after the timeout, before 'close'", async () => {
    let signal: AbortSignal | undefined;
    const r = await startRouted({}, { '/never': (req) => { signal = req.signal; } });
    r.server.closeTimeout = 30_000;
    const c = await r.client();
    c.send(request(1, { uri: '/never' }));
    await until(() => signal !== undefined, 2000, 'handler running');
    const t0 = Date.now();
    let closedAt = 0;
    let atClose: { aborted: boolean; active: number } | undefined;
    r.server.close({ timeout: 200 }, () => {
      closedAt = Date.now();
      atClose = { aborted: signal!.aborted, active: r.server.activeRequests };
    });
    await sleep(100);
    expect(signal!.aborted).toBe(false);
    await until(() => closedAt > 0, 2000, "'close'");
    expect(closedAt - t0).toBeGreaterThanOrEqual(180);
    expect(closedAt - t0).toBeLessThan(1500);
    await c.waitClosed(1000);
    await until(() => signal!.aborted, 1000, 'the request to be aborted');
    expect(r.server.activeRequests).toBe(0);
    // When 'close' is emitted, the server is done: the request was aborted already.
    expect(atClose).toEqual({ aborted: true, active: 0 });
  });

  it('a response cut by the close timeout ends with the connection, not with END_REQUEST', async () => {
    const r = await startRouted({}, { '/half': (_req, res) => { res.write('first part'); } });
    const c = await r.client();
    c.send(request(1, { uri: '/half' }));
    await until(() => (c.partial(1)?.stdout.length ?? 0) > 0, 2000, 'the first part');
    r.server.close({ timeout: 100 });
    await c.waitClosed(2000);
    expect(c.partial(1)?.stdout.toString()).toContain('first part');
    expect(c.partial(1)?.events).not.toContain('end');
  });

  it('close() with nothing in progress emits close promptly', async () => {
    const r = await startRouted({});
    await expectServes(r);
    const t0 = Date.now();
    await withTimeout(new Promise<void>((resolve) => r.server.close(() => resolve())), 1000, "'close'");
    expect(Date.now() - t0).toBeLessThan(250);
  });
});

describe('close() then listen() again', () => {
  it('a closed server listens again, serves, and closes again (as net.Server does)', async () => {
    const server = createServer((_q, res) => res.end('ok'));
    servers.push(server);
    const listen = (): Promise<number> => withTimeout(new Promise<number>((resolve) =>
      server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port))), 2000, 'listen');
    const close = (): Promise<void> => withTimeout(new Promise<void>((resolve) => server.close(() => resolve())), 2000, "'close'");
    for (let round = 0; round < 2; round++) {
      const c = await FcgiClient.connect(await listen());
      c.send(request(1));
      const res = await c.response(1);
      expect(res.protocolStatus).toBe(PS.REQUEST_COMPLETE);
      expect(parseCgi(res.stdout).body.toString()).toBe('ok');
      c.destroy();
      await close();
      expect(server.listening).toBe(false);
    }
  });
});

describe('listen() and close() in every order and form', () => {
  it('a unix path with a mode, closed, then a TCP listen: the old path is not touched again', async () => {
    const path = join(tempDir(), 'mode.sock');
    const server = serve();
    const errors: Error[] = [];
    server.on('error', (e) => errors.push(e));
    await listening(server, { path, mode: 0o600 });
    await new Promise<void>((resolve) => server.close(() => resolve()));
    // The chmod of the first listen must not run for the second (the file is gone: it threw ENOENT).
    await listening(server, 0, '127.0.0.1');
    expect(errors).toEqual([]);
    expect((await get((server.address() as AddressInfo).port)).status).toBe(200);
  });

  it('an abstract unix socket with a mode listens and serves (there is no file to chmod)', async () => {
    const name = `\0cgiwire-test-${process.pid}-${Date.now()}`;
    const server = serve();
    await listening(server, { path: name, mode: 0o600 });
    expect((await get(name)).status).toBe(200);
  });

  it('a mode that cannot be applied is an error event, not an exception', async () => {
    const dir = tempDir();
    const path = join(dir, 'gone.sock');
    const server = serve();
    const failed = new Promise<Error>((resolve) => server.once('error', resolve));
    // The socket file is removed as soon as net has created it: the chmod then fails with ENOENT.
    const net = (server as unknown as { net: NetServer }).net;
    net.prependOnceListener('listening', () => rmSync(path, { force: true }));
    server.listen({ path, mode: 0o600 });
    expect(((await withTimeout(failed, 2000, "'error'")) as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  it('listen(path) then close() at once: the server ends up closed, as net.Server does', async () => {
    const path = join(tempDir(), 'quick.sock');
    writeFileSync(join(dirname(path), 'marker'), '');
    const server = serve();
    const events: string[] = [];
    server.on('listening', () => events.push('listening'));
    server.listen(path);
    const closed = new Promise<Error | undefined>((resolve) => server.close((err) => resolve(err)));
    expect(await withTimeout(closed, 2000, "close's callback")).toBeUndefined();
    await sleep(150);
    expect(server.listening).toBe(false);
    expect(existsSync(path)).toBe(false);
    expect(events).not.toContain('listening');
    // It can listen again afterwards.
    await listening(server, path);
    expect((await get(path)).status).toBe(200);
  });

  it("close() during a pending listen(path) leaves no timer behind to cut the next listen's requests", async () => {
    const path = join(tempDir(), 'stale.sock');
    staleSocketFile(path);
    const release = 400;
    const server = createServer({}, async (_req, res) => { await sleep(release); res.end('slow ok'); });
    servers.push(server);
    server.closeTimeout = 150;
    server.listen(path);
    server.close();
    await sleep(50);
    await listening(server, path);
    const c = await FcgiClient.connect(path);
    c.send(request(1));
    const res = await c.response(1, 3000);
    expect(parseCgi(res.stdout).body.toString()).toBe('slow ok');
    c.destroy();
  });

  it('a second listen() while a unix path is still being checked is an error event, not a crash', async () => {
    const path = join(tempDir(), 'twice.sock');
    staleSocketFile(path);
    const server = serve();
    const errors: NodeJS.ErrnoException[] = [];
    server.on('error', (e) => errors.push(e));
    server.listen(path);
    server.listen(0, '127.0.0.1');
    await until(() => server.listening, 2000, 'the first listen to win');
    await sleep(100);
    expect(errors.map((e) => e.code)).toEqual(['ERR_SERVER_ALREADY_LISTEN']);
  });

  it('listen(handle): a net.Server given as the handle is served on its own port', async () => {
    const other = createNetServer();
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', () => resolve()));
    const port = (other.address() as AddressInfo).port;
    const server = serve();
    await listening(server, other);
    expect((server.address() as AddressInfo).port).toBe(port);
    expect((await get(port)).status).toBe(200);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    other.close();
  });

  it('listen() with an object that names no port, path, fd or handle throws, as net.Server does', () => {
    const server = serve();
    expect(() => server.listen({} as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => server.listen({ host: '127.0.0.1' } as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(server.listening).toBe(false);
  });

  it('close(cb) on a server that is not listening gives cb ERR_SERVER_NOT_RUNNING, as net.Server does', async () => {
    const server = serve();
    const err = await withTimeout(new Promise<Error | undefined>((resolve) => server.close((e) => resolve(e))), 2000, 'close');
    expect((err as NodeJS.ErrnoException | undefined)?.code).toBe('ERR_SERVER_NOT_RUNNING');
  });

  it("SCGI close({timeout}): the aborted request's 'error' and 'close' come before the server's 'close'", async () => {
    const order: string[] = [];
    const r = await startRouted({ protocol: 'scgi' }, {
      '/never': (req, res) => {
        req.on('error', () => order.push('req error'));
        req.on('close', () => order.push('req close'));
        res.on('close', () => order.push('res close'));
      },
    });
    const c = connect(r.port, '127.0.0.1');
    c.on('error', () => {});
    c.write(encodeScgiHeader(0, [['REQUEST_METHOD', 'GET'], ['REQUEST_URI', '/never']]));
    await until(() => r.server.activeRequests === 1, 2000, 'the request in progress');
    await withTimeout(new Promise<void>((resolve) => r.server.close({ timeout: 100 }, () => { order.push('server close'); resolve(); })),
      2000, "'close'");
    c.destroy();
    expect(order[order.length - 1]).toBe('server close');
    expect(order).toEqual(expect.arrayContaining(['req error', 'req close', 'res close']));
  });
});

// ---- A runnable copy of lib/ for child processes ----------------------------------------------------

let distDir: string | undefined;

/**
 * Transpiles lib/ (no type check) into a temporary package: <tmp>/dist plus links to this package's
 * node_modules and build/, so the child loads the same native addon. The shared dist/ is not touched.
 */
function buildDist(): string {
  if (distDir !== undefined) return distDir;
  const dir = tempDir();
  const lib = join(ROOT, 'lib');
  const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [join(d, e.name)] : []));
  for (const file of walk(lib)) {
    const out = join(dir, 'dist', relative(lib, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(out), { recursive: true });
    const js = ts.transpileModule(readFileSync(file, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 }, fileName: file,
    }).outputText;
    writeFileSync(out, js);
  }
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'cgiwire-test-copy', type: 'module' }));
  for (const link of ['node_modules', 'build', 'prebuilds']) {
    if (existsSync(join(ROOT, link))) symlinkSync(join(ROOT, link), join(dir, link));
  }
  return (distDir = dir);
}

