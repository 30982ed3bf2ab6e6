/**
 * The `cgiwire` command end to end: bin/cgiwire.js (on dist/, built when stale) run as child processes.
 * `serve` serves the fixture apps; `request` and `get-values` talk to them.
 */
import { createHash } from 'node:crypto';
import { lstatSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BINARY } from './fixtures/echo-app.mjs';
import { cleanup, ensureDist, freePort, header, run, serve, splitCgi, startServe, tempDir } from './helpers.js';

beforeAll(() => ensureDist(), 150_000);
afterEach(cleanup);

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
  length: number;
  sha256: string;
  remoteAddress: string;
  params: Record<string, string>;
}

function echoOf(out: Buffer): Echo {
  return JSON.parse(splitCgi(out).body.toString()) as Echo;
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** A file of `size` pseudo-random bytes in a temporary directory. */
function bigFile(size: number): { path: string; bytes: Buffer } {
  const bytes = Buffer.alloc(size);
  let x = 12345;
  for (let i = 0; i < size; i++) { x = (x * 1103515245 + 12345) >>> 0; bytes[i] = x >>> 24; }
  const path = join(tempDir(), 'body.bin');
  writeFileSync(path, bytes);
  return { path, bytes };
}

describe('serve (FastCGI on TCP) + request', () => {
  it('GET with headers: the CGI params the app sees, and the cgi-fcgi output format', async () => {
    const s = await serve(['echo-app.mjs', '--fastcgi', '127.0.0.1:0']);
    expect(s.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(s.stderr()).toMatch(new RegExp(`^cgiwire: serving echo-app\\.mjs over fastcgi on 127\\.0\\.0\\.1:${s.port} \\(pid ${s.child.pid}, codec (native|js)\\)\\n`));
    const r = await run(['request', `127.0.0.1:${s.port}`, '/some/path?x=1&y=2', '-H', 'X-Test: hello there', '-H', 'Proxy: evil', '-H', 'Accept: text/*']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const cgi = splitCgi(r.stdout);
    expect(cgi.status).toBe('Status: 200 OK');
    expect(header(cgi.headers, 'X-Pid')).toBe(String(s.pid));
    expect(header(cgi.headers, 'Content-Type')).toBe('application/json');
    const e = echoOf(r.stdout);
    expect(e.method).toBe('GET');
    expect(e.url).toBe('/some/path?x=1&y=2');
    expect(e.headers['x-test']).toBe('hello there');
    expect(e.headers.accept).toBe('text/*');
    expect(e.headers.proxy).toBeUndefined();
    expect(e.params.HTTP_PROXY).toBeUndefined();
    expect(e.length).toBe(0);
    expect(e.params).toMatchObject({
      REQUEST_METHOD: 'GET', REQUEST_URI: '/some/path?x=1&y=2', QUERY_STRING: 'x=1&y=2', SCRIPT_NAME: '/some/path',
      DOCUMENT_URI: '/some/path', GATEWAY_INTERFACE: 'CGI/1.1', SERVER_PROTOCOL: 'HTTP/1.1', HTTP_X_TEST: 'hello there',
    });
    expect(e.params.CONTENT_LENGTH).toBeUndefined();
  });

  it('--include prints the same CGI format as the default: Status first, CRLF lines, a blank line, the body', async () => {
    const s = await serve(['echo-app.mjs', '--fastcgi', '0']);
    const plain = await run(['request', String(s.port), '/missing']);
    const inc = await run(['request', String(s.port), '/missing', '--include']);
    const short = await run(['request', String(s.port), '/missing', '-i']);
    for (const r of [plain, inc, short]) {
      expect(r.code).toBe(0);
      const text = r.stdout.toString('latin1');
      expect(text).toMatch(/^Status: 404 Not Found\r\nX-Pid: \d+\r\nContent-Type: text\/plain\r\n(?:[A-Za-z-]+: [^\r\n]*\r\n)*\r\nno such thing\n$/);
      expect(text.replace(/Date: [^\r]*/, '')).toBe(plain.stdout.toString('latin1').replace(/Date: [^\r]*/, ''));
    }
  });

  it('POST -d @file of 1 MiB: streamed, CONTENT_LENGTH its size, every byte arrives', async () => {
    const s = await serve(['echo-app.mjs', '--fastcgi', '127.0.0.1:0']);
    const f = bigFile(1 << 20);
    const r = await run(['request', `127.0.0.1:${s.port}`, '/upload', '-d', `@${f.path}`, '-H', 'Content-Type: application/octet-stream']);
    expect(r.code, r.stderr).toBe(0);
    const e = echoOf(r.stdout);
    expect(e.method).toBe('POST');
    expect(e.length).toBe(1 << 20);
    expect(e.sha256).toBe(sha256(f.bytes));
    expect(e.params.CONTENT_LENGTH).toBe(String(1 << 20));
    expect(e.params.CONTENT_TYPE).toBe('application/octet-stream');
  });

  it('-d TEXT, -X, and -d - (stdin, streamed with no CONTENT_LENGTH)', async () => {
    const s = await serve(['echo-app.mjs', '--fastcgi', '0']);
    const text = await run(['request', String(s.port), '/t', '-d', 'héllo']);
    expect(echoOf(text.stdout)).toMatchObject({ method: 'POST', length: 6 });
    expect(echoOf(text.stdout).params.CONTENT_LENGTH).toBe('6');
    const put = await run(['request', String(s.port), '/t', '-X', 'PUT', '-d', 'abc']);
    expect(echoOf(put.stdout)).toMatchObject({ method: 'PUT', length: 3 });
    const del = await run(['request', String(s.port), '/t', '--request', 'DELETE']);
    expect(echoOf(del.stdout)).toMatchObject({ method: 'DELETE', length: 0 });
    const input = Buffer.alloc(200_000, 'z');
    const stdin = await run(['request', String(s.port), '/t', '-d', '-'], { input });
    expect(stdin.code, stdin.stderr).toBe(0);
    const e = echoOf(stdin.stdout);
    expect(e).toMatchObject({ method: 'POST', length: input.length, sha256: sha256(input) });
    expect(e.params.CONTENT_LENGTH).toBeUndefined();
  });

  it('--body-only prints the body bytes exactly (binary); the default mode too, after the header block', async () => {
    const s = await serve(['echo-app.mjs', '--fastcgi', '127.0.0.1:0']);
    const only = await run(['request', `127.0.0.1:${s.port}`, '/binary', '--body-only']);
    expect(only.code, only.stderr).toBe(0);
    expect(only.stdout.length).toBe(BINARY.length);
    expect(only.stdout.equals(BINARY)).toBe(true);
    const full = await run(['request', `127.0.0.1:${s.port}`, '/binary']);
    const cgi = splitCgi(full.stdout);
    expect(header(cgi.headers, 'Content-Type')).toBe('application/octet-stream');
    expect(cgi.body.equals(BINARY)).toBe(true);
  });

  it('--fail: exit 22 and nothing on stdout for a 404; without it, exit 0 with the 404 printed', async () => {
    const s = await serve(['echo-app.mjs', '--fastcgi', '0']);
    const failed = await run(['request', String(s.port), '/missing', '--fail']);
    expect(failed.code).toBe(22);
    expect(failed.stdout.length).toBe(0);
    expect(failed.stderr).toBe('cgiwire: the application answered 404 Not Found\n');
    const ok = await run(['request', String(s.port), '/missing']);
    expect(ok.code).toBe(0);
    const fine = await run(['request', String(s.port), '/x', '--fail']);
    expect(fine.code).toBe(0);
  });

  it('--param sets or replaces params (SCRIPT_FILENAME, REMOTE_ADDR)', async () => {
    const s = await serve(['echo-app.mjs', '--fastcgi', '0']);
    const r = await run(['request', String(s.port), '/index.php', '--param', 'SCRIPT_FILENAME=/srv/www/index.php',
      '--param', 'REMOTE_ADDR=10.1.2.3', '--param', 'EMPTY=', '--param', 'WITH_EQ=a=b']);
    const e = echoOf(r.stdout);
    expect(e.params.SCRIPT_FILENAME).toBe('/srv/www/index.php');
    expect(e.params.REMOTE_ADDR).toBe('10.1.2.3');
    expect(e.remoteAddress).toBe('10.1.2.3');
    expect(e.params.EMPTY).toBe('');
    expect(e.params.WITH_EQ).toBe('a=b');
  });

  it('-v: the params sent and a summary line on stderr; the application STDERR is forwarded', async () => {
    const s = await serve(['echo-app.mjs', '--fastcgi', '127.0.0.1:0']);
    const r = await run(['request', `127.0.0.1:${s.port}`, '/binary', '--body-only', '-v']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('> REQUEST_URI=/binary\n');
    expect(r.stderr).toMatch(new RegExp(`cgiwire: 200 OK, ${BINARY.length} body bytes in \\d+ ms from 127\\.0\\.0\\.1:${s.port}\\n$`));
    const e = await run(['request', `127.0.0.1:${s.port}`, '/stderr']);
    expect(e.code).toBe(0);
    expect(e.stderr).toBe('echo-app: a line for the error log\n');
    expect(splitCgi(e.stdout).body.toString()).toBe('ok\n');
  });

  it('exit 1 with the error code: connection refused, and a timeout', async () => {
    const port = await freePort();
    const refused = await run(['request', `127.0.0.1:${port}`, '/']);
    expect(refused.code).toBe(1);
    expect(refused.stdout.length).toBe(0);
    expect(refused.stderr).toMatch(/^cgiwire: ERR_CGIWIRE_CONNECT_FAILED: .*ECONNREFUSED/);
    const s = await serve(['echo-app.mjs', '--fastcgi', '0']);
    const slow = await run(['request', String(s.port), '/silent?ms=5000', '--timeout', '300']);
    expect(slow.code).toBe(1);
    expect(slow.stderr).toMatch(/^cgiwire: ERR_CGIWIRE_TIMEOUT: /);
    const noFile = await run(['request', String(s.port), '/', '-d', '@/nonexistent/file']);
    expect(noFile.code).toBe(1);
    expect(noFile.stderr).toMatch(/^cgiwire: ENOENT: cannot read \/nonexistent\/file/);
  });

  it('exit 2 on usage errors, with the usage on stderr', async () => {
    for (const args of [
      ['request', '9000'],
      ['request', '9000', '/', '-H', 'no colon here'],
      ['request', '9000', '/', '--timeout', 'soon'],
      ['request', '9000', '/', '--nope'],
      ['request', '9000', '/', '-i', '--body-only'],
      ['request', 'not-an-address', '/'],
      ['request', '9000', '/', '--param', 'NOVALUE'],
      ['serve'],
      ['serve', 'echo-app.mjs', '--fastcgi', '0', '--scgi', '0'],
      ['serve', 'echo-app.mjs', '--fastcgi', '0', '--workers', '0'],
      ['serve', 'echo-app.mjs', '--fastcgi', '0', '--unix-mode', '660'],
      ['get-values'],
      ['frobnicate'],
      ['--nope'],
      [],
    ]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout.length).toBe(0);
      expect(r.stderr, args.join(' ')).toMatch(/^cgiwire: .+\n\nUsage: cgiwire /);
    }
  });
});

describe('serve: the kinds of app', () => {
  it('an Express app', async () => {
    const s = await serve(['express-app.mjs', '--fastcgi', '127.0.0.1:0']);
    const r = await run(['request', `127.0.0.1:${s.port}`, '/hello/ann?q=1']);
    expect(r.code, r.stderr).toBe(0);
    const cgi = splitCgi(r.stdout);
    expect(cgi.status).toBe('Status: 200 OK');
    expect(header(cgi.headers, 'X-Pid')).toBe(String(s.pid));
    expect(JSON.parse(cgi.body.toString())).toEqual({ hello: 'ann', q: '1' });
    const f = bigFile(1 << 20);
    const up = await run(['request', `127.0.0.1:${s.port}`, '/upload', '-d', `@${f.path}`, '-H', 'Content-Type: application/x-thing']);
    expect(JSON.parse(splitCgi(up.stdout).body.toString())).toEqual({ length: 1 << 20, type: 'application/x-thing' });
    const none = await run(['request', `127.0.0.1:${s.port}`, '/nothing-here', '--fail']);
    expect(none.code).toBe(22);
  });

  it('a Koa app (its callback())', async () => {
    const s = await serve(['koa-app.mjs', '--fastcgi', '0']);
    const r = await run(['request', String(s.port), '/k/1', '-X', 'PATCH']);
    const cgi = splitCgi(r.stdout);
    expect(header(cgi.headers, 'X-Framework')).toBe('koa');
    expect(JSON.parse(cgi.body.toString())).toEqual({ koa: true, path: '/k/1', method: 'PATCH' });
  });

  it('a Hono app (its fetch(request))', async () => {
    const s = await serve(['hono-app.mjs', '--fastcgi', '0']);
    const r = await run(['request', String(s.port), '/hono/bea?q=2', '-H', 'Host: example.test']);
    const cgi = splitCgi(r.stdout);
    expect(cgi.status).toBe('Status: 200 OK');
    expect(cgi.headers.filter(([n]) => n.toLowerCase() === 'set-cookie').map(([, v]) => v)).toEqual(['a=1', 'b=2']);
    expect(JSON.parse(cgi.body.toString())).toEqual({ hono: 'bea', q: '2', host: 'example.test' });
    const post = await run(['request', String(s.port), '/hono', '-d', 'x'.repeat(1000)]);
    expect(post.stdout.toString()).toMatch(/^Status: 201 Created\r\n[^]*\r\n\r\ngot 1000 bytes$/);
  });

  it('a module that is no app, or fails to load: exit 1 with a message', async () => {
    const port = String(await freePort());
    const bad = await run(['serve', 'not-an-app.mjs', '--fastcgi', port]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^cgiwire: ERR_CGIWIRE_APP_EXPORT: the default export of not-an-app\.mjs is not a request handler/);
    const fails = await run(['serve', 'fails-to-load.mjs', '--fastcgi', port]);
    expect(fails.code).toBe(1);
    expect(fails.stderr).toMatch(/cannot load fails-to-load\.mjs: this module fails on purpose/);
    const missing = await run(['serve', 'no-such-module.mjs', '--fastcgi', port]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^cgiwire: ERR_MODULE_NOT_FOUND: cannot load no-such-module\.mjs/);
  });

  it('no address and no listening socket on fd 0: exit 2 with a clear message', async () => {
    const r = await run(['serve', 'echo-app.mjs']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^cgiwire: no address to listen on: give --fastcgi ADDR or --scgi ADDR, or start cgiwire with a listening socket as fd 0/);
  });

  it('a unix socket with --unix-mode; a live socket is not taken over', async () => {
    const path = join(tempDir(), 'app.sock');
    const s = await serve(['echo-app.mjs', '--fastcgi', path, '--unix-mode', '600']);
    expect(s.address).toBe(path);
    expect(lstatSync(path).isSocket()).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const r = await run(['request', path, '/over/unix', '-H', 'X-Test: u']);
    expect(r.code, r.stderr).toBe(0);
    expect(echoOf(r.stdout)).toMatchObject({ url: '/over/unix', headers: { 'x-test': 'u' } });
    const second = await run(['serve', 'echo-app.mjs', '--fastcgi', path]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/EADDRINUSE/);
  });
});

describe('SCGI', () => {
  it('serve --scgi + request --scgi: GET, POST -d @file of 1 MiB, -d - (stdin, read first)', async () => {
    const s = await serve(['echo-app.mjs', '--scgi', '127.0.0.1:0']);
    expect(s.stderr()).toMatch(/over scgi on 127\.0\.0\.1:/);
    const r = await run(['request', `127.0.0.1:${s.port}`, '/scgi/path?q=s', '--scgi', '-H', 'X-Test: scgi']);
    expect(r.code, r.stderr).toBe(0);
    expect(splitCgi(r.stdout).status).toBe('Status: 200 OK');
    expect(echoOf(r.stdout)).toMatchObject({ method: 'GET', url: '/scgi/path?q=s', headers: { 'x-test': 'scgi' }, length: 0 });
    const f = bigFile(1 << 20);
    const up = await run(['request', `127.0.0.1:${s.port}`, '/up', '--scgi', '-d', `@${f.path}`]);
    expect(up.code, up.stderr).toBe(0);
    expect(echoOf(up.stdout)).toMatchObject({ method: 'POST', length: 1 << 20, sha256: sha256(f.bytes) });
    const input = Buffer.from('from stdin over scgi');
    const stdin = await run(['request', `127.0.0.1:${s.port}`, '/in', '--scgi', '-d', '-'], { input });
    expect(stdin.code, stdin.stderr).toBe(0);
    const e = echoOf(stdin.stdout);
    expect(e).toMatchObject({ length: input.length, sha256: sha256(input) });
    expect(e.params.CONTENT_LENGTH).toBe(String(input.length));
    const bin = await run(['request', `127.0.0.1:${s.port}`, '/binary', '--scgi', '--body-only']);
    expect(bin.stdout.equals(BINARY)).toBe(true);
    // FastCGI spoken to an SCGI server: a bad response, exit 1.
    const wrong = await run(['request', `127.0.0.1:${s.port}`, '/', '--timeout', '2000']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^cgiwire: ERR_CGIWIRE_\w+: /);
  });
});

describe('get-values', () => {
  it('prints what the application allows, as NAME=VALUE lines or JSON', async () => {
    const s = await serve(['echo-app.mjs', '--fastcgi', '127.0.0.1:0']);
    const r = await run(['get-values', `127.0.0.1:${s.port}`]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.toString().trim().split('\n').sort();
    expect(lines).toEqual(['FCGI_MAX_CONNS=1024', 'FCGI_MAX_REQS=1024', 'FCGI_MPXS_CONNS=1']);
    const json = await run(['get-values', String(s.port), '--json']);
    expect(JSON.parse(json.stdout.toString())).toEqual({ FCGI_MAX_CONNS: '1024', FCGI_MAX_REQS: '1024', FCGI_MPXS_CONNS: '1' });
    const one = await run(['get-values', String(s.port), 'FCGI_MPXS_CONNS']);
    expect(one.stdout.toString()).toBe('FCGI_MPXS_CONNS=1\n');
  });

  it('exit 1 when nobody listens', async () => {
    const r = await run(['get-values', String(await freePort()), '--timeout', '2000']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^cgiwire: \w+: .*ECONNREFUSED/);
  });
});

/** True when a TCP connection to the port opens (it is closed at once). */
function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

/** Sends requests until `want` different X-Pid values have answered (or `max` requests). */
async function pidsAnswering(address: string, want: number, max = 40): Promise<Set<string>> {
  const pids = new Set<string>();
  for (let i = 0; i < max && pids.size < want; i++) {
    const r = await run(['request', address, `/n/${i}`]);
    expect(r.code, r.stderr).toBe(0);
    pids.add(header(splitCgi(r.stdout).headers, 'X-Pid')!);
  }
  return pids;
}

describe('serve --workers', () => {
  it('TCP: requests are served by more than one worker; SIGKILLed worker is restarted', async () => {
    const s = await serve(['echo-app.mjs', '--fastcgi', '127.0.0.1:0', '--workers', '2']);
    expect(s.stderr()).toMatch(/over fastcgi on 127\.0\.0\.1:\d+ \(pid \d+, 2 workers, codec \w+\)/);
    const pids = await pidsAnswering(`127.0.0.1:${s.port}`, 2);
    expect(pids.size).toBe(2);
    expect(pids.has(String(s.pid))).toBe(false);
    const victim = Number([...pids][0]);
    process.kill(victim, 'SIGKILL');
    const m = await s.waitFor(new RegExp(`worker ${victim} died \\(signal SIGKILL\\); restarted as (\\d+)`));
    const survivor = [...pids][1];
    const after = await pidsAnswering(`127.0.0.1:${s.port}`, 2);
    expect([...after].sort()).toEqual([survivor, m[1]].sort());
    process.kill(s.pid, 'SIGTERM');
    expect(await s.exited).toEqual({ code: 0, signal: null });
    expect(s.stderr()).toMatch(/cgiwire: drained, \d+ requests? served\n$/);
  });

  it('a unix socket path', async () => {
    const path = join(tempDir(), 'workers.sock');
    const s = await serve(['echo-app.mjs', '--fastcgi', path, '--workers', '2', '--unix-mode', '660']);
    expect(s.address).toBe(path);
    expect(statSync(path).mode & 0o777).toBe(0o660);
    const pids = await pidsAnswering(path, 2);
    expect(pids.size).toBe(2);
    process.kill(s.pid, 'SIGTERM');
    expect((await s.exited).code).toBe(0);
  });

  it('3 restarted workers in a row that fail before listening stop the whole thing with exit 1, whatever the rate', async () => {
    // Four restarts happen here, fewer than the 5 in 10 s the rate limit allows: the stop is not the rate limit's.
    const s = startServe(['cannot-restart.mjs', '--fastcgi', '127.0.0.1:0', '--workers', '2']);
    await s.waitFor(/cgiwire: serving/);
    const still = new Promise((resolve) => setTimeout(() => resolve('still running after 6 s'), 6000));
    expect(await Promise.race([s.exited, still]), s.stderr()).toEqual({ code: 1, signal: null });
    expect(s.stderr().match(/restarted as \d+/g)).toHaveLength(4);
    expect(s.stderr()).toMatch(/cgiwire: worker \d+ exited \(code 1\) before listening; 3 workers in a row did: stopping\n/);
    expect(s.stderr()).not.toMatch(/not restarting/);
  });

  it('a worker that cannot start stops the whole thing with exit 1', async () => {
    const r = await run(['serve', 'not-an-app.mjs', '--fastcgi', String(await freePort()), '--workers', '2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ERR_CGIWIRE_APP_EXPORT/);
    expect(r.stderr).toMatch(/exited \(code 1\) before listening; stopping/);
  });
});

describe('SIGTERM drains', () => {
  for (const workers of ['1', '2']) {
    it(`a slow request in progress completes, new connections are refused, then exit 0 (--workers ${workers})`, async () => {
      const s = await serve(['echo-app.mjs', '--fastcgi', '127.0.0.1:0', '--workers', workers, '--drain-timeout', '8000']);
      const slow = run(['request', `127.0.0.1:${s.port}`, '/slow?ms=2500', '--body-only']);
      await s.waitFor(/echo-app: slow request started/);
      process.kill(s.pid, 'SIGTERM');
      await s.waitFor(/cgiwire: SIGTERM: draining/);
      // The listening socket closes at once (with workers, once each has heard from the primary): wait for
      // that with bare TCP connects, which a closing server drops without counting a request.
      const deadline = Date.now() + 2000;
      while (await connects(s.port) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      const late = await run(['request', `127.0.0.1:${s.port}`, '/late']);
      expect(late.code).toBe(1);
      expect(late.stderr).toMatch(/ECONNREFUSED/);
      const done = await slow;
      expect(done.code, done.stderr).toBe(0);
      expect(done.stdout.toString()).toBe('first part\nsecond part\n');
      expect(await s.exited).toEqual({ code: 0, signal: null });
      expect(s.stderr()).toMatch(/cgiwire: drained, 1 request served\n$/);
    });
  }

  it('SIGTERM while the workers still load the app: each drains as soon as it listens, none serves, exit 0', async () => {
    const s = startServe(['slow-to-load.mjs', '--fastcgi', '127.0.0.1:0', '--workers', '2', '--drain-timeout', '1000']);
    await s.waitFor(/slow-to-load: loading/);
    process.kill(s.child.pid!, 'SIGTERM');
    // Well before drain-timeout + 5 s, when the primary gives up on its workers and kills them.
    const still = new Promise((resolve) => setTimeout(() => resolve('still running after 4 s'), 4000));
    expect(await Promise.race([s.exited, still]), s.stderr()).toEqual({ code: 0, signal: null });
    expect(s.stderr()).toMatch(/^cgiwire: SIGTERM: draining 2 workers$/m);
    expect(s.stderr()).not.toMatch(/cgiwire: serving/);
    expect(s.stderr()).toMatch(/cgiwire: drained, 0 requests served\n$/);
  });

  it('SIGTERM while one process still loads the app: it stops once loaded, never serves, exit 0', async () => {
    const s = startServe(['slow-to-load.mjs', '--fastcgi', '127.0.0.1:0', '--drain-timeout', '1000']);
    await s.waitFor(/slow-to-load: loading/);
    process.kill(s.child.pid!, 'SIGTERM');
    const still = new Promise((resolve) => setTimeout(() => resolve('still running after 4 s'), 4000));
    expect(await Promise.race([s.exited, still]), s.stderr()).toEqual({ code: 0, signal: null });
    expect(s.stderr()).not.toMatch(/cgiwire: serving/);
    expect(s.stderr()).toMatch(/^cgiwire: SIGTERM while starting: stopped, 0 requests served$/m);
  });

  it('SIGTERM to the whole process group while the workers load (Ctrl-C, systemd): no EPIPE from telling dead workers to drain, exit 0', async () => {
    // The workers die of the signal itself; the primary's 'drain' to them must not fail it. A race: three tries.
    for (let i = 0; i < 3; i++) {
      const s = startServe(['slow-to-load.mjs', '--fastcgi', '127.0.0.1:0', '--workers', '2', '--drain-timeout', '1000']);
      await s.waitFor(/slow-to-load: loading/);
      process.kill(-s.child.pid!, 'SIGTERM');
      const still = new Promise((resolve) => setTimeout(() => resolve('still running after 4 s'), 4000));
      expect(await Promise.race([s.exited, still]), s.stderr()).toEqual({ code: 0, signal: null });
      expect(s.stderr()).not.toMatch(/EPIPE|Unhandled/);
    }
  });

  it('a worker that dies during the drain makes the exit 1, and says so', async () => {
    const s = await serve(['dies-in-drain.mjs', '--fastcgi', '127.0.0.1:0', '--workers', '2']);
    process.kill(s.pid, 'SIGTERM');
    expect(await s.exited).toEqual({ code: 1, signal: null });
    expect(s.stderr()).toMatch(/cgiwire: worker \d+ died \(code 3\) while draining\n/);
    expect(s.stderr()).not.toMatch(/cgiwire: drained/);
  });

  it('requests still running after --drain-timeout are aborted; the exit is still 0', async () => {
    const s = await serve(['echo-app.mjs', '--fastcgi', '0', '--drain-timeout', '300']);
    const slow = run(['request', String(s.port), '/slow?ms=5000', '--body-only']);
    await s.waitFor(/echo-app: slow request started/);
    const t0 = Date.now();
    process.kill(s.pid, 'SIGTERM');
    expect(await s.exited).toEqual({ code: 0, signal: null });
    const done = await slow;
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(done.stdout.toString()).toBe('first part\n');
    // The cut response ends with the connection, not with END_REQUEST: the client reports it as a failure.
    expect(done.code).toBe(1);
    expect(done.stderr).toMatch(/ERR_CGIWIRE_CONNECTION_CLOSED/);
  });
});

describe('spawn mode (a listening socket as fd 0)', () => {
  /** Starts `serve args` with a listening TCP socket made here as its fd 0, as a web server that spawns apps does. */
  async function serveOnFd0(args: string[]): Promise<{ s: Awaited<ReturnType<typeof serve>>; port: number }> {
    const listener = createNetServer();
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', () => resolve()));
    const port = (listener.address() as AddressInfo).port;
    const fd = (listener as unknown as { _handle: { fd: number } })._handle.fd;
    try {
      return { s: await serve(args, { stdin: fd }), port };
    } finally {
      listener.close(); // the child has its own copy; this process must not accept on it
    }
  }

  for (const workers of ['1', '2']) {
    it(`serves the socket it was given (--workers ${workers})`, async () => {
      const { s, port } = await serveOnFd0(['echo-app.mjs', '--workers', workers]);
      expect(s.address).toBe(`fd 0 (127.0.0.1:${port})`);
      const pids = await pidsAnswering(`127.0.0.1:${port}`, Number(workers));
      expect(pids.size).toBe(Number(workers));
      if (workers === '1') expect([...pids]).toEqual([String(s.pid)]);
      process.kill(s.pid, 'SIGTERM');
      expect((await s.exited).code).toBe(0);
    });
  }

  it('--scgi - serves SCGI on fd 0', async () => {
    const { s, port } = await serveOnFd0(['echo-app.mjs', '--scgi', '-']);
    expect(s.stderr()).toMatch(/over scgi on fd 0/);
    const r = await run(['request', String(port), '/spawned', '--scgi']);
    expect(echoOf(r.stdout).url).toBe('/spawned');
  });
});

describe('help and version', () => {
  it('--help of each command exits 0 and names its options; --version prints the package version', async () => {
    const top = await run(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout.toString()).toMatch(/^Usage: cgiwire <command>/);
    for (const [cmd, options] of [
      ['serve', ['--fastcgi', '--scgi', '--workers', '--unix-mode', '--drain-timeout']],
      ['request', ['-X', '-H', '-d', '--param', '--scgi', '--timeout', '--include', '--body-only', '--fail', '-v']],
      ['get-values', ['--timeout', '--json']],
    ] as const) {
      const r = await run([cmd, '--help']);
      expect(r.code).toBe(0);
      const text = r.stdout.toString();
      expect(text).toMatch(new RegExp(`^Usage: cgiwire ${cmd} `));
      for (const o of options) expect(text, `${cmd} ${o}`).toContain(o);
    }
    const v = await run(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout.toString()).toMatch(/^\d+\.\d+\.\d+\S*\n$/);
  });
});
