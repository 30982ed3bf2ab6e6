/**
 * Running the `cgiwire` command (bin/cgiwire.js on dist/) as child processes: `serve` in the background,
 * `request` and the others to completion. Every child is bounded in time and killed by pid in cleanup().
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDist as buildDist, ROOT } from '../helpers/build.js';

export { ROOT };
export const BIN = join(ROOT, 'bin', 'cgiwire.js');
export const FIXTURES = join(ROOT, 'test', 'cli', 'fixtures');

/** bin/cgiwire.js runs dist/cli.js: build dist/ (tsc) when it is missing or older than lib/. */
export function ensureDist(): void {
  buildDist(['cli.js', 'index.js']);
}

const children = new Set<ChildProcess>();
const dirs: string[] = [];

export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'cgiwire-cli-'));
  dirs.push(d);
  return d;
}

/**
 * Kills every child still running (SIGKILL to its process group: a `serve --workers` primary and its
 * workers) and removes the temporary directories.
 */
export async function cleanup(): Promise<void> {
  const waits: Promise<unknown>[] = [];
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      waits.push(new Promise((resolve) => { c.once('exit', resolve); setTimeout(resolve, 2000); }));
      try { process.kill(-c.pid, 'SIGKILL'); } catch { try { c.kill('SIGKILL'); } catch { /* gone */ } }
    }
  }
  children.clear();
  await Promise.all(waits);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs `cgiwire ...args` to completion (killed after `timeout` ms), feeding `input` on stdin. */
export function run(args: string[], options: { input?: Buffer | string; timeout?: number; cwd?: string } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd ?? FIXTURES, stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    const out: Buffer[] = [];
    let err = '';
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => { err += d; });
    child.stdin!.on('error', () => { /* the command may not read its stdin */ });
    child.stdin!.end(options.input);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`cgiwire ${args.join(' ')} did not finish in ${options.timeout ?? 15_000} ms; stderr: ${err}`));
    }, options.timeout ?? 15_000);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: err });
    });
  });
}

/** A `cgiwire serve` child, whatever it has printed so far. */
export interface Started {
  child: ChildProcess;
  stderr(): string;
  /** Resolves when stderr has matched `re` (rejects after `timeout` ms or when the process exits first). */
  waitFor(re: RegExp, timeout?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface Serving extends Started {
  pid: number;
  /** What the listening line names: host:port, a socket path or "fd 0 (...)". */
  address: string;
  /** The TCP port, when there is one. */
  port: number;
}

/**
 * Starts `cgiwire serve ...args` in its own process group, without waiting for anything.
 * `stdin`: what fd 0 is (a listening socket's fd for spawn mode); /dev/null by default.
 */
export function startServe(args: string[], options: { stdin?: number | 'ignore' } = {}): Started {
  const stdio: StdioOptions = [options.stdin ?? 'ignore', 'ignore', 'pipe'];
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { cwd: FIXTURES, stdio, detached: true });
  children.add(child);
  let err = '';
  const waiters = new Set<() => void>();
  child.stderr!.on('data', (d: Buffer) => { err += d; for (const w of waiters) w(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => { for (const w of waiters) w(); resolve({ code, signal }); });
  });
  const waitFor = (re: RegExp, timeout = 10_000): Promise<RegExpMatchArray> => new Promise((resolve, reject) => {
    const check = (): void => {
      const m = err.match(re);
      if (m !== null) { done(); resolve(m); return; }
      if (child.exitCode !== null || child.signalCode !== null) {
        done();
        reject(new Error(`cgiwire serve exited (${child.exitCode ?? child.signalCode}) before printing ${re}; stderr: ${err}`));
      }
    };
    const timer = setTimeout(() => { done(); reject(new Error(`no ${re} from cgiwire serve in ${timeout} ms; stderr: ${err}`)); }, timeout);
    const done = (): void => { clearTimeout(timer); waiters.delete(check); };
    waiters.add(check);
    check();
  });
  return { child, stderr: () => err, waitFor, exited };
}

/** Starts `cgiwire serve ...args` (as {@link startServe}) and waits for its listening line. */
export async function serve(args: string[], options: { stdin?: number | 'ignore'; timeout?: number } = {}): Promise<Serving> {
  const started = startServe(args, options);
  const m = await started.waitFor(/cgiwire: serving \S+ over \w+ on (.+?) \(pid (\d+)/, options.timeout);
  const port = /:(\d+)\)?$/.exec(m[1]);
  return { ...started, pid: Number(m[2]), address: m[1], port: port ? Number(port[1]) : 0 };
}

/** A TCP port nobody listens on (it was free a moment ago). */
export async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** A CGI response printed by `cgiwire request`: the header block and the body bytes. */
export function splitCgi(out: Buffer): { status: string; headers: [string, string][]; head: string; body: Buffer } {
  const end = out.indexOf('\r\n\r\n');
  if (end === -1) throw new Error(`no blank line in ${JSON.stringify(out.subarray(0, 200).toString('latin1'))}`);
  const head = out.subarray(0, end + 4).toString('latin1');
  const lines = head.slice(0, -4).split('\r\n');
  const headers = lines.slice(1).map((l) => {
    const colon = l.indexOf(': ');
    return [l.slice(0, colon), l.slice(colon + 2)] as [string, string];
  });
  return { status: lines[0], headers, head, body: out.subarray(end + 4) };
}

export function header(headers: [string, string][], name: string): string | undefined {
  return headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
}
