/**
 * A real PHP-FPM (Debian package php8.2-fpm) for the integration tests: the FastCGI application that cgiwire's
 * client side talks to. Each start writes php-fpm.conf into a fresh temporary folder with two pools serving the
 * same scripts: `[www]` on a free 127.0.0.1 port and `[unix]` on a unix socket in the folder (mode 0666), both
 * `pm = static`. The master runs in the foreground (`-F`) in its own process group; a start counts as done when
 * the port and the socket both accept connections. stop() sends SIGQUIT to the pid it started (never a name),
 * judges "stopped" by the process being gone and the port and socket free, kills the process group when the
 * grace time runs out, and removes the folder. Every wait is bounded.
 *
 * Started as root, the workers run as nobody: the scripts must be readable by others. When the repository's
 * copy is not (a folder on the way without o+x, a file without o+r), the scripts are copied into the temporary
 * folder with modes 0755/0644 and `docroot` points there.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync,
  realpathSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findBinary, freePort, portAccepts, socketAccepts, tail, waitFor } from './servers.js';

/** The scripts the tests run (see test/fixtures/php/README.md). */
export const PHP_FIXTURES = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'php');

export interface PhpFpmOptions {
  /** pm.max_children of each pool (`pm = static`: that many workers per pool from the start). Default 4. */
  maxChildren?: number;
  /** The folder holding the scripts. Default: the repository's test/fixtures/php. */
  docroot?: string;
  /** More pool directives for both pools, e.g. `{ 'request_terminate_timeout': '5s' }`. */
  poolSettings?: Record<string, string>;
}

export interface PhpFpm {
  /** The pid of the master this harness started (also its process group). A restart changes it. */
  readonly pid: number;
  /** The temporary folder holding php-fpm.conf, the logs, the pid file and the unix socket. */
  readonly dir: string;
  /** The folder the scripts are in: build SCRIPT_FILENAME as `${docroot}/hello.php`. */
  readonly docroot: string;
  /** The `[www]` pool's listening address. */
  readonly tcp: { readonly host: '127.0.0.1'; readonly port: number };
  /** The `[unix]` pool's listening socket (mode 0666). */
  readonly socketPath: string;
  /** The error log (with the workers' stderr) and the master's stdout/stderr, for failure messages. */
  logs(): string;
  /** Stops PHP-FPM (bounded) and removes its folder. Safe to call twice. */
  stop(): Promise<void>;
  /** Stops the master and starts a new one with the same folder, port and socket; resolves once it accepts. */
  restart(): Promise<void>;
}

const START_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;
const KILL_WAIT_MS = 3_000;

/** Process groups started and not yet stopped: killed if the test process exits without stopping them. */
const live = new Set<number>();
/** Their folders, removed at that exit too. */
const liveDirs = new Set<string>();
process.once('exit', () => {
  for (const pgid of live) {
    try { process.kill(-pgid, 'SIGKILL'); } catch { /* gone */ }
  }
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
});

/** The first of `names` listed in `file` (/etc/passwd, /etc/group), else the last name. */
function firstListed(file: string, names: string[]): string {
  let text = '';
  try { text = readFileSync(file, 'utf8'); } catch { /* none */ }
  const lines = text.split('\n');
  for (const n of names) if (lines.some((l) => l.startsWith(n + ':'))) return n;
  return names[names.length - 1];
}

/**
 * Whether a user that is neither the owner nor in the group could read every script under `root`: each folder
 * from / down needs o+x (and o+r inside root, to be listed), each file o+r. ACLs are not looked at.
 */
function readableByOthers(root: string): boolean {
  const real = realpathSync(root);
  for (let d = dirname(real); ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return false;
    if (d === dirname(d)) break;
  }
  const walk = (d: string): boolean => {
    if ((statSync(d).mode & 0o005) !== 0o005) return false;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (!walk(p)) return false;
      } else if ((statSync(p).mode & 0o004) === 0) {
        return false;
      }
    }
    return true;
  };
  return walk(real);
}

/** Copies the tree `from` into `to` (created), folders 0755 and files 0644, whatever the umask. */
function copyReadable(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  chmodSync(to, 0o755);
  for (const e of readdirSync(from, { withFileTypes: true })) {
    const src = join(from, e.name);
    const dst = join(to, e.name);
    if (e.isDirectory()) {
      copyReadable(src, dst);
    } else if (e.isFile()) {
      copyFileSync(src, dst);
      chmodSync(dst, 0o644);
    }
  }
}

/** A php-fpm.conf value: paths and settings from this machine and the tests only, so nothing needs quoting. */
function v(s: string): string {
  if (/[\r\n;"]/.test(s)) throw new Error(`unexpected character in a php-fpm.conf value: ${s}`);
  return s;
}

/** A php-fpm.conf directive name, e.g. `request_terminate_timeout` or `php_admin_value[memory_limit]`. */
function k(s: string): string {
  if (!/^[A-Za-z0-9_.]+(\[[A-Za-z0-9_.]+\])?$/.test(s)) throw new Error(`unexpected php-fpm.conf directive: ${s}`);
  return s;
}

interface Master {
  child: ChildProcess;
  pid: number;
  /** Why the process ended ("exit code N, signal S"), or null while it runs. */
  exited(): string | null;
  spawnError(): Error | null;
}

/**
 * Starts PHP-FPM with pools `[www]` (TCP) and `[unix]` (unix socket) on the scripts in `opts.docroot`
 * (default test/fixtures/php), and waits (at most 15 s) until both accept connections. Throws with the log
 * tail when it does not come up.
 */
export async function startPhpFpm(opts: PhpFpmOptions = {}): Promise<PhpFpm> {
  const bin = findBinary('php-fpm8.2', 'php8.2-fpm');
  const maxChildren = opts.maxChildren ?? 4;
  if (!Number.isInteger(maxChildren) || maxChildren < 1) throw new Error(`startPhpFpm: bad maxChildren ${maxChildren}`);

  const dir = mkdtempSync(join(tmpdir(), 'cgiwire-php-fpm-'));
  liveDirs.add(dir);
  const removeDir = (): void => {
    rmSync(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
  };
  // The workers (nobody, when started as root) open scripts in the folder when the docroot is copied there.
  chmodSync(dir, 0o755);
  const asRoot = process.getuid?.() === 0;
  let docroot = resolve(opts.docroot ?? PHP_FIXTURES);
  try {
    if (asRoot && !readableByOthers(docroot)) {
      const copy = join(dir, 'docroot');
      copyReadable(docroot, copy);
      docroot = copy;
    }
  } catch (err) {
    removeDir();
    throw err;
  }

  const port = await freePort();
  const socketPath = join(dir, 'php-fpm.sock');
  const confPath = join(dir, 'php-fpm.conf');
  const errorLog = join(dir, 'error.log');
  const outLog = join(dir, 'stdout.log');

  // Started as root, php-fpm refuses a pool without a non-root user (unless -R); as anyone else it ignores them.
  const identity = asRoot
    ? [`user = ${firstListed('/etc/passwd', ['nobody'])}`, `group = ${firstListed('/etc/group', ['nogroup', 'nobody'])}`]
    : [];
  const common = [
    ...identity,
    'pm = static',
    `pm.max_children = ${maxChildren}`,
    'catch_workers_output = yes',
    'decorate_workers_output = no',
    // php.ini's 8M would refuse (or, at exactly 8 MiB, just fit) the echo test's bodies; raise it well clear.
    'php_admin_value[post_max_size] = 64M',
    ...Object.entries(opts.poolSettings ?? {}).map(([name, val]) => `${k(name)} = ${v(val)}`),
  ];
  const conf = `[global]
pid = ${v(join(dir, 'php-fpm.pid'))}
error_log = ${v(errorLog)}
log_level = notice
daemonize = no

[www]
listen = 127.0.0.1:${port}
${common.join('\n')}

[unix]
listen = ${v(socketPath)}
listen.mode = 0666
${common.join('\n')}
`;
  writeFileSync(confPath, conf);

  const argv = [bin, '-F', '-y', confPath];
  const env = { ...process.env };
  delete env.FPM_SOCKETS; // a master inherits listening sockets named there (its own reload path)

  const logs = (): string => [errorLog, outLog]
    .filter((p) => existsSync(p))
    .map((p) => `--- ${p}\n${tail(p)}`)
    .join('\n');

  const tcpFree = async (): Promise<boolean> => !(await portAccepts(port));
  const bothFree = async (): Promise<boolean> => (await tcpFree()) && !(await socketAccepts(socketPath));

  const launch = (): Master => {
    const fd = openSync(outLog, 'a');
    let child: ChildProcess;
    try {
      child = spawn(argv[0], argv.slice(1), {
        cwd: dir,
        stdio: ['ignore', fd, fd],
        detached: true, // its own process group: the workers are stopped with it
        env,
      });
    } finally {
      closeSync(fd);
    }
    let exited: string | null = null;
    let spawnError: Error | null = null;
    child.once('error', (err) => { spawnError = err; });
    child.once('exit', (code, signal) => { exited = `exit code ${code}, signal ${signal}`; });
    if (child.pid !== undefined) live.add(child.pid);
    return { child, pid: child.pid ?? -1, exited: () => exited, spawnError: () => spawnError };
  };

  /**
   * SIGQUIT (php-fpm's graceful stop), then SIGKILL to whatever is left of the group. With the default
   * process_control_timeout a request in flight is cut short, not drained: its worker ends within milliseconds.
   */
  const halt = async (m: Master): Promise<void> => {
    if (m.pid < 0) return;
    try { process.kill(m.pid, 'SIGQUIT'); } catch { /* already gone */ }
    const graceful = await waitFor(async () => m.exited() !== null && (await bothFree()), STOP_GRACE_MS, 50);
    try { process.kill(-m.pid, 'SIGKILL'); } catch { /* group gone */ }
    if (!graceful) {
      // A killed process can linger as a zombie: "stopped" means the port and the socket are free.
      const free = await waitFor(bothFree, KILL_WAIT_MS, 50);
      if (!free) console.warn(`php-fpm (pid ${m.pid}): the port or the socket is still taken after SIGKILL`);
    }
    live.delete(m.pid);
  };

  /** Waits until both listeners accept; on failure stops what was started and throws with the log tail. */
  const awaitUp = async (m: Master): Promise<void> => {
    const up = await waitFor(async () => {
      if (m.spawnError() !== null || m.exited() !== null) return true;
      return (await portAccepts(port)) && existsSync(socketPath) && (await socketAccepts(socketPath));
    }, START_TIMEOUT_MS, 50);
    const failed = m.spawnError() !== null || m.exited() !== null || !up;
    if (!failed) return;
    const why = m.spawnError() !== null ? `could not start: ${m.spawnError()!.message}`
      : m.exited() !== null ? `exited at start (${m.exited()})`
        : `did not accept connections within ${START_TIMEOUT_MS} ms`;
    const text = logs();
    await halt(m);
    throw new Error(`php-fpm: ${why}\ncommand: ${argv.join(' ')}\n${text}`);
  };

  let master!: ReturnType<typeof launch>;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await halt(master);
    removeDir();
  };

  /** Launches a master and waits until it answers; a master that does not come up leaves nothing behind. */
  const bringUp = async (): Promise<void> => {
    master = launch();
    try {
      await awaitUp(master);
    } catch (err) {
      stopped = true;
      removeDir();
      throw err;
    }
  };
  await bringUp();

  const restart = async (): Promise<void> => {
    if (stopped) throw new Error('php-fpm: restart() after stop()');
    await halt(master);
    await bringUp();
  };

  return {
    get pid() { return master.pid; },
    dir,
    docroot,
    tcp: { host: '127.0.0.1', port },
    socketPath,
    logs,
    stop,
    restart,
  };
}
