/**
 * main() of the `cgiwire` command called in-process (lib/cli.ts) with its own streams: usage, help, version,
 * and request/get-values against servers made with createServer in this process.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../lib/cli.js';
import { createServer, type RequestListener, type Server } from '../../lib/index.js';
import { ROOT } from './helpers.js';

class Capture extends Writable {
  readonly chunks: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(Buffer.from(chunk));
    cb();
  }
  get bytes(): Buffer { return Buffer.concat(this.chunks); }
  get text(): string { return this.bytes.toString(); }
}

async function cli(argv: string[], stdin?: Readable): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await main(argv, { stdout, stderr, stdin: stdin ?? Readable.from([]), cwd: ROOT });
  return { code, stdout: stdout.bytes, stderr: stderr.text };
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close({ timeout: 50 }, () => resolve()))));
});

async function start(handler: RequestListener, protocol: 'fastcgi' | 'scgi' = 'fastcgi'): Promise<number> {
  const s = createServer({ protocol }, handler);
  servers.push(s);
  await new Promise<void>((resolve, reject) => { s.once('error', reject); s.listen(0, '127.0.0.1', () => resolve()); });
  return (s.address() as AddressInfo).port;
}

describe('main(): usage, help, version', () => {
  it('--help, -h, help <command>: exit 0 with the usage on stdout', async () => {
    for (const argv of [['--help'], ['-h'], ['help']]) {
      const r = await cli(argv);
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toMatch(/^Usage: cgiwire <command> \[options\]\n[^]*serve <module>[^]*request <addr> <path>[^]*get-values <addr>/);
    }
    const r = await cli(['help', 'request']);
    expect(r.stdout.toString()).toMatch(/^Usage: cgiwire request /);
    for (const cmd of ['serve', 'request', 'get-values']) {
      const h = await cli([cmd, '-h']);
      expect(h.code).toBe(0);
      expect(h.stdout.toString()).toMatch(new RegExp(`^Usage: cgiwire ${cmd} `));
      expect(h.stderr).toBe('');
    }
  });

  it('--version and -V print the version in package.json', async () => {
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    for (const flag of ['--version', '-V']) {
      const r = await cli([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toBe(`${version}\n`);
    }
  });

  it('an unknown command or option, a missing argument: exit 2, the message and the usage on stderr', async () => {
    const cases: [string[], RegExp][] = [
      [[], /^cgiwire: no command given\n\nUsage: cgiwire <command>/],
      [['launch'], /^cgiwire: unknown command "launch"\n\nUsage: cgiwire <command>/],
      [['--verbose'], /^cgiwire: unknown option --verbose\n/],
      [['request', '9000', '/', '--frob'], /^cgiwire: Unknown option '--frob'[^\n]*\n\nUsage: cgiwire request /],
      [['request', '9000'], /^cgiwire: request needs an address and a path/],
      [['request', '9000', '/', '-X', 'GE T'], /^cgiwire: bad method "GE T"/],
      [['get-values', '9000', '--timeout', '0'], /^cgiwire: --timeout must be a whole number of at least 1/],
      [['serve', 'a.mjs', 'b.mjs', '--fastcgi', '9000'], /^cgiwire: serve takes one module/],
      [['serve', 'a.mjs', '--fastcgi', 'nonsense'], /^cgiwire: invalid address "nonsense"[^\n]*\n\nUsage: cgiwire serve /],
      [['serve', 'a.mjs', '--fastcgi', '/tmp/x.sock', '--unix-mode', '999'], /^cgiwire: --unix-mode must be octal/],
      [['serve', 'a.mjs', '--fastcgi', '9000', '--drain-timeout', '-1'], /^cgiwire: .*--drain-timeout/],
    ];
    for (const [argv, re] of cases) {
      const r = await cli(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stdout.length).toBe(0);
      expect(r.stderr, argv.join(' ')).toMatch(re);
    }
  });
  it('an invalid address: the error names the text typed (port 0 too); the socket-path hint only for text that is no host:port or port', async () => {
    const cases: [string[], string][] = [
      [['serve', 'a.mjs', '--fastcgi', ':0'], 'cgiwire: invalid address ":0": expected host:port, a port, or a socket path\n'],
      [['serve', 'a.mjs', '--scgi', '[zz]:0'], 'cgiwire: invalid address "[zz]:0": not an IPv6 address in brackets\n'],
      [['serve', 'a.mjs', '--fastcgi', '1.2.3.4:99999'], 'cgiwire: invalid address "1.2.3.4:99999": the port is not from 1 to 65535\n'],
      [['request', '99999', '/'], 'cgiwire: invalid address "99999": the port is not from 1 to 65535\n'],
      [['serve', 'a.mjs', '--fastcgi', 'app.sock'], 'cgiwire: invalid address "app.sock": expected host:port, a port, or a socket path (a socket path needs a "/", e.g. ./app.sock)\n'],
      [['get-values', 'app.sock'], 'cgiwire: invalid address "app.sock": expected host:port, a port, or a socket path (a socket path needs a "/", e.g. ./app.sock)\n'],
    ];
    for (const [argv, line] of cases) {
      const r = await cli(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr.slice(0, r.stderr.indexOf('\n') + 1), argv.join(' ')).toBe(line);
    }
  });
});

describe('main(): request and get-values in-process', () => {
  it('request prints Status, the headers as sent (repeats kept), a blank line and the body', async () => {
    const port = await start((req, res) => {
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      res.setHeader('X-Method', req.method!);
      res.statusCode = 201;
      res.end(`hello ${req.url}`);
    });
    const r = await cli(['request', `127.0.0.1:${port}`, 'no-slash?q=1']);
    expect(r.code, r.stderr).toBe(0);
    const text = r.stdout.toString('latin1');
    expect(text).toMatch(/^Status: 201 Created\r\n/);
    expect(text).toContain('\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n');
    expect(text).toContain('\r\nX-Method: GET\r\n');
    expect(text.endsWith('\r\n\r\nhello /no-slash?q=1')).toBe(true);
  });

  it('-d - streams the given stdin over FastCGI and reads it first over SCGI (CONTENT_LENGTH)', async () => {
    const echo: RequestListener = (req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => res.end(`${req.headers['content-length'] ?? '-'} ${Buffer.concat(parts).toString()}`));
    };
    const fcgi = await start(echo);
    const a = await cli(['request', String(fcgi), '/', '-d', '-', '--body-only'], Readable.from([Buffer.from('abc'), Buffer.from('def')]));
    expect(a.stdout.toString()).toBe('- abcdef');
    const scgi = await start(echo, 'scgi');
    const b = await cli(['request', String(scgi), '/', '--scgi', '-d', '-', '--body-only'], Readable.from([Buffer.from('abc'), Buffer.from('def')]));
    expect(b.stdout.toString()).toBe('6 abcdef');
  });

  it('a bad response is exit 1 with its error code', async () => {
    const port = await start((_req, res) => { (res as unknown as { stderr: Writable }).stderr.write('warn\n'); res.end('x'); });
    // A FastCGI server spoken to with SCGI: the SCGI client reads FastCGI records as a CGI header block.
    const r = await cli(['request', String(port), '/', '--scgi', '--timeout', '1000']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^cgiwire: (ERR_CGIWIRE_\w+|ECONNRESET): /);
  });

  it('--fail: statuses below 400 print as usual, 400 and above exit 22', async () => {
    const port = await start((req, res) => { res.statusCode = Number(req.url!.slice(1)); res.end('body'); });
    expect((await cli(['request', String(port), '/399', '--fail'])).code).toBe(0);
    const r = await cli(['request', String(port), '/400', '--fail']);
    expect(r.code).toBe(22);
    expect(r.stdout.length).toBe(0);
    expect((await cli(['request', String(port), '/503', '--fail'])).stderr).toBe('cgiwire: the application answered 503 Service Unavailable\n');
  });

  it('get-values --json against an in-process server', async () => {
    const port = await start((_req, res) => res.end());
    const r = await cli(['get-values', String(port), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.toString())).toMatchObject({ FCGI_MPXS_CONNS: '1' });
  });
});
