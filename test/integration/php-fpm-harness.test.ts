/**
 * The PHP-FPM harness (test/helpers/php-fpm.ts) against a client that is not cgiwire: libfcgi's `cgi-fcgi`
 * (Debian package libfcgi-bin), which sends its whole environment as PARAMS and prints the CGI response
 * (headers, blank line, body) on stdout. Pins that both pools answer, that a binary body arrives byte-exact,
 * and that restart() and stop() do what the other PHP-FPM tests rely on.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.js';
import { findBinary, portAccepts } from '../helpers/servers.js';

interface CgiResponse {
  /** The CGI header block as PHP-FPM sent it (lines joined by \r\n, without the blank line). */
  head: string;
  body: Buffer;
  stderr: string;
}

/** One GET of `script` (relative to the docroot) through `cgi-fcgi -bind -connect target`, at most 10 s. */
function cgiFcgi(fpm: PhpFpm, target: string, script: string, query = ''): Promise<CgiResponse> {
  const bin = findBinary('cgi-fcgi', 'libfcgi-bin');
  // cgi-fcgi forwards its entire environment as FastCGI params: give it only the request's variables.
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REQUEST_METHOD: 'GET',
    SCRIPT_FILENAME: `${fpm.docroot}/${script}`,
    SCRIPT_NAME: `/${script}`,
    REQUEST_URI: `/${script}${query === '' ? '' : '?' + query}`,
    QUERY_STRING: query,
    DOCUMENT_ROOT: fpm.docroot,
  };
  return new Promise((resolve, reject) => {
    const child = execFile(bin, ['-bind', '-connect', target],
      { env, encoding: 'buffer', timeout: 10_000, killSignal: 'SIGKILL', maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`cgi-fcgi ${target} /${script}: ${err.message}\n${stderr.toString('latin1')}\n${fpm.logs()}`));
          return;
        }
        const cut = stdout.indexOf('\r\n\r\n');
        if (cut < 0) {
          reject(new Error(`cgi-fcgi ${target} /${script}: no header block in ${JSON.stringify(stdout.toString('latin1').slice(0, 200))}`));
          return;
        }
        resolve({ head: stdout.subarray(0, cut).toString('latin1'), body: stdout.subarray(cut + 4), stderr: stderr.toString('latin1') });
      });
    child.stdin?.end(); // a GET has no body; cgi-fcgi must not wait for one
  });
}

describe('PHP-FPM harness (php8.2-fpm, checked with cgi-fcgi)', { timeout: 60_000 }, () => {
  let fpm: PhpFpm;
  const tcp = (): string => `${fpm.tcp.host}:${fpm.tcp.port}`;

  beforeAll(async () => {
    fpm = await startPhpFpm({ maxChildren: 2 });
  }, 30_000);

  afterAll(async () => {
    await fpm?.stop();
  }, 30_000);

  test('hello.php answers on the [www] pool over TCP', async () => {
    const r = await cgiFcgi(fpm, tcp(), 'hello.php');
    expect(r.body.toString('latin1'), fpm.logs()).toBe('Hello from PHP');
    expect(r.head).toMatch(/^Content-type: text\/plain/im);
  });

  test('hello.php answers on the [unix] pool over the unix socket', async () => {
    expect(existsSync(fpm.socketPath)).toBe(true);
    const r = await cgiFcgi(fpm, fpm.socketPath, 'hello.php');
    expect(r.body.toString('latin1'), fpm.logs()).toBe('Hello from PHP');
  });

  test('binary.php: 204800 body bytes, byte i = (i * 7 + 3) mod 256', async () => {
    const r = await cgiFcgi(fpm, tcp(), 'binary.php');
    expect(r.head).toMatch(/^Content-type: application\/octet-stream/im);
    expect(r.body.length).toBe(204800);
    let firstBad = -1;
    for (let i = 0; i < r.body.length; i++) {
      if (r.body[i] !== ((i * 7 + 3) & 0xff)) { firstBad = i; break; }
    }
    expect(firstBad).toBe(-1);
  });

  test('restart() brings up a new master on the same port and socket', async () => {
    const before = fpm.pid;
    const { port } = fpm.tcp;
    await fpm.restart();
    expect(fpm.pid).not.toBe(before);
    expect(fpm.tcp.port).toBe(port);
    const overTcp = await cgiFcgi(fpm, tcp(), 'hello.php');
    expect(overTcp.body.toString('latin1'), fpm.logs()).toBe('Hello from PHP');
    const overUnix = await cgiFcgi(fpm, fpm.socketPath, 'hello.php');
    expect(overUnix.body.toString('latin1'), fpm.logs()).toBe('Hello from PHP');
  });

  test('stop() frees the port, removes the folder, and is safe twice', async () => {
    const { port } = fpm.tcp;
    const { dir, pid } = fpm;
    await fpm.stop();
    expect(await portAccepts(port)).toBe(false);
    expect(existsSync(dir)).toBe(false);
    // stop() waited for the master's exit event, so Node has reaped it: its pid is gone (ESRCH).
    expect(() => process.kill(pid, 0)).toThrow();
    await fpm.stop();
  });
});
