/**
 * Real web servers for the integration tests: nginx, lighttpd, Apache, h2o, Caddy and HAProxy (the Debian
 * packages; .ci/run installs them). Each start writes a config into a fresh temporary folder, takes free loopback ports,
 * starts the server in the foreground in its own process group, and waits until its port accepts
 * connections. stop() signals the process it started (never a name), judges "stopped" by the port being
 * free, kills the process group when the grace time runs out, and removes the folder. Every wait is bounded.
 * Servers listen on 127.0.0.1 only.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, closeSync, constants, cpSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface WebServer {
  /** e.g. "nginx", "lighttpd", "apache2". */
  readonly name: string;
  /** http://127.0.0.1:PORT (no trailing slash). */
  readonly url: string;
  readonly port: number;
  /** The temporary folder holding the config, logs and pid file. */
  readonly dir: string;
  /** The pid of the process this harness started (also its process group). */
  readonly pid: number;
  /** The server's logs (error log, stdout/stderr), for failure messages. */
  logs(): string;
  /** Stops the server (bounded) and removes its folder. Safe to call twice. */
  stop(): Promise<void>;
}

export interface NginxServer extends WebServer {
  /** Base URLs of the server blocks: fastcgi_pass and scgi_pass, as configured. */
  readonly urls: { fastcgi?: string; scgi?: string };
}

const START_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;
const KILL_WAIT_MS = 3_000;

/** Process groups started and not yet stopped: killed if the test process exits without stopping them. */
const live = new Set<number>();
process.once('exit', () => {
  for (const pgid of live) {
    try { process.kill(-pgid, 'SIGKILL'); } catch { /* gone */ }
  }
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The path of a web server binary, or a clear error naming the Debian package that provides it. */
export function findBinary(name: string, pkg = name): string {
  const dirs = ['/usr/sbin', '/usr/bin', '/sbin', '/bin', ...(process.env.PATH ?? '').split(':').filter(Boolean)];
  for (const d of dirs) {
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch { /* next */ }
  }
  throw new Error(`${name} is not installed: the integration tests need the Debian package "${pkg}" ` +
    `(.ci/run installs it; by hand: apt-get install -y ${pkg})`);
}

/** A free TCP port on 127.0.0.1 (bind port 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** True when something accepts connections at `target` (one attempt, at most 1 s). */
function accepts(target: { port: number; host: string } | { path: string }): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(target);
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(true), 1000); // a full backlog still counts as taken
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** True when something accepts connections on 127.0.0.1:port (one attempt, at most 1 s). */
export function portAccepts(port: number): Promise<boolean> {
  return accepts({ host: '127.0.0.1', port });
}

/** True when something accepts connections on the unix socket `path` (one attempt, at most 1 s). */
export function socketAccepts(path: string): Promise<boolean> {
  return accepts({ path });
}

/** Waits until `cond` is true, polling every `everyMs`, at most `timeoutMs`; returns whether it became true. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() >= until) return false;
    await sleep(everyMs);
  }
}

/** The end of a log file, for failure messages ('' when it cannot be read). */
export function tail(path: string, bytes = 4000): string {
  try {
    const s = readFileSync(path, 'latin1');
    return s.length > bytes ? '...' + s.slice(-bytes) : s;
  } catch {
    return '';
  }
}

interface StartSpec {
  name: string;
  dir: string;
  port: number;
  /** Other ports the server listens on (all must accept before the start counts as done). */
  extraPorts?: number[];
  argv: [string, ...string[]];
  /** Graceful stop signal (nginx: SIGQUIT). */
  stopSignal: NodeJS.Signals;
  /** Log files in dir to show on failure. */
  logFiles: string[];
  env?: NodeJS.ProcessEnv;
}

async function start(spec: StartSpec): Promise<WebServer> {
  const out = join(spec.dir, 'stdout.log');
  const fd = openSync(out, 'a');
  let child: ChildProcess;
  try {
    child = spawn(spec.argv[0], spec.argv.slice(1), {
      cwd: spec.dir,
      stdio: ['ignore', fd, fd],
      detached: true, // its own process group: workers and spawned apps are stopped with it
      env: spec.env ?? process.env,
    });
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  let spawnError: Error | null = null;
  child.once('error', (err) => { spawnError = err; });
  let exited: string | null = null;
  child.once('exit', (code, signal) => { exited = `exit code ${code}, signal ${signal}`; });
  if (pid !== undefined) live.add(pid);

  const logs = (): string => [...spec.logFiles, 'stdout.log']
    .map((f) => join(spec.dir, f))
    .filter((p) => existsSync(p))
    .map((p) => `--- ${p}\n${tail(p)}`)
    .join('\n');

  let stopped = false;
  const ports = [spec.port, ...(spec.extraPorts ?? [])];
  const allFree = async (): Promise<boolean> => {
    for (const p of ports) if (await portAccepts(p)) return false;
    return true;
  };
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (pid !== undefined) {
      try { process.kill(pid, spec.stopSignal); } catch { /* already gone */ }
      const graceful = await waitFor(async () => exited !== null && (await allFree()), STOP_GRACE_MS, 50);
      // Whatever is left of the group (workers, a spawned app) goes now; "stopped" means the ports are free.
      try { process.kill(-pid, 'SIGKILL'); } catch { /* group gone */ }
      if (!graceful) {
        const free = await waitFor(allFree, KILL_WAIT_MS, 50);
        if (!free) console.warn(`${spec.name} (pid ${pid}): a port is still taken after SIGKILL`);
      }
      live.delete(pid);
    }
    rmSync(spec.dir, { recursive: true, force: true });
  };

  const up = await waitFor(async () => {
    if (spawnError !== null || exited !== null) return true;
    for (const p of ports) if (!(await portAccepts(p))) return false;
    return true;
  }, START_TIMEOUT_MS, 50);
  if (spawnError !== null || exited !== null || !up) {
    const why = spawnError !== null ? `could not start: ${(spawnError as Error).message}`
      : exited !== null ? `exited at start (${exited})` : `did not accept connections within ${START_TIMEOUT_MS} ms`;
    const text = logs();
    await stop();
    throw new Error(`${spec.name}: ${why}\ncommand: ${spec.argv.join(' ')}\n${text}`);
  }
  return {
    name: spec.name,
    url: `http://127.0.0.1:${spec.port}`,
    port: spec.port,
    dir: spec.dir,
    pid: pid!,
    logs,
    stop,
  };
}

/** A fresh folder under the system's temporary one, which workers running as another user can enter. */
export function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `cgiwire-${name}-`));
  // Workers of a server started as root run as another user (nobody, www-data): they must reach the folder.
  chmodSync(dir, 0o755);
  return dir;
}

/** A string literal for nginx / lighttpd / Apache configs (paths and commands from this machine only). */
function q(s: string): string {
  if (/["\\\n]/.test(s)) throw new Error(`unexpected character in config value: ${s}`);
  return `"${s}"`;
}

export interface NginxOptions {
  /** Port of a cgiwire FastCGI server on 127.0.0.1: a server block with fastcgi_pass to a keepalive upstream. */
  fastcgiPort?: number;
  /** Port of a cgiwire SCGI server on 127.0.0.1: a server block with scgi_pass. */
  scgiPort?: number;
}

/**
 * nginx in the foreground (`daemon off`), one worker, every temp path in its folder; fastcgi_pass to an upstream
 * with `keepalive` and `fastcgi_keep_conn on`, scgi_pass with /etc/nginx/scgi_params; client_max_body_size 64m.
 */
/** nginx's main config around `servers` (its upstream and server blocks); pid, logs and temp files in `dir`. */
function nginxConf(dir: string, servers: string): string {
  return `daemon off;
master_process on;
worker_processes 1;
pid ${q(join(dir, 'nginx.pid'))};
error_log ${q(join(dir, 'error.log'))} warn;
events {
  worker_connections 1024;
}
http {
  access_log ${q(join(dir, 'access.log'))};
  client_body_temp_path ${q(join(dir, 'client_body_temp'))};
  proxy_temp_path ${q(join(dir, 'proxy_temp'))};
  fastcgi_temp_path ${q(join(dir, 'fastcgi_temp'))};
  uwsgi_temp_path ${q(join(dir, 'uwsgi_temp'))};
  scgi_temp_path ${q(join(dir, 'scgi_temp'))};
  client_max_body_size 64m;
  keepalive_timeout 10s;
${servers}
}
`;
}

export async function startNginx(opts: NginxOptions): Promise<NginxServer> {
  const bin = findBinary('nginx');
  if (opts.fastcgiPort === undefined && opts.scgiPort === undefined) throw new Error('startNginx: give fastcgiPort or scgiPort');
  const dir = tempDir('nginx');
  const fcgiListen = opts.fastcgiPort !== undefined ? await freePort() : undefined;
  const scgiListen = opts.scgiPort !== undefined ? await freePort() : undefined;
  const blocks: string[] = [];
  if (fcgiListen !== undefined) {
    blocks.push(`
  upstream cgiwire_fastcgi {
    server 127.0.0.1:${opts.fastcgiPort};
    keepalive 8;
  }
  server {
    listen 127.0.0.1:${fcgiListen};
    server_name localhost;
    location / {
      include /etc/nginx/fastcgi_params;
      fastcgi_pass cgiwire_fastcgi;
      fastcgi_keep_conn on;
      fastcgi_read_timeout 30s;
    }
  }`);
  }
  if (scgiListen !== undefined) {
    blocks.push(`
  server {
    listen 127.0.0.1:${scgiListen};
    server_name localhost;
    location / {
      include /etc/nginx/scgi_params;
      scgi_pass 127.0.0.1:${opts.scgiPort};
      scgi_read_timeout 30s;
    }
  }`);
  }
  const conf = nginxConf(dir, blocks.join('\n'));
  const confPath = join(dir, 'nginx.conf');
  writeFileSync(confPath, conf);
  const [port, ...extra] = [fcgiListen, scgiListen].filter((p): p is number => p !== undefined);
  const server = await start({
    name: 'nginx',
    dir,
    port,
    extraPorts: extra,
    argv: [bin, '-p', dir + '/', '-c', confPath, '-e', join(dir, 'error.log')],
    stopSignal: 'SIGQUIT',
    logFiles: ['error.log'],
  });
  return Object.assign(server, {
    urls: {
      fastcgi: fcgiListen !== undefined ? `http://127.0.0.1:${fcgiListen}` : undefined,
      scgi: scgiListen !== undefined ? `http://127.0.0.1:${scgiListen}` : undefined,
    },
  });
}

export interface LighttpdOptions {
  /**
   * The command lighttpd's mod_fastcgi runs with `bin-path` (spawn mode: the listening socket on fd 0), e.g.
   * `${process.execPath} /abs/app.mjs`. No spaces inside an argument.
   */
  binPath: string;
  /** Environment of the spawned app (bin-environment). */
  binEnvironment?: Record<string, string>;
}

/**
 * lighttpd in the foreground (-D) with mod_fastcgi `bin-path`: lighttpd spawns the application itself on a unix
 * socket in its folder (one process), and streams response bodies (server.stream-response-body = 2).
 */
/** lighttpd's main settings (on 127.0.0.1:port; pid, log and uploads in `dir`), then `rest`. */
function lighttpdConf(dir: string, port: number, modules: string, rest: string): string {
  return `server.modules = ( ${modules} )
server.document-root = ${q(dir)}
server.bind = "127.0.0.1"
server.port = ${port}
server.pid-file = ${q(join(dir, 'lighttpd.pid'))}
server.errorlog = ${q(join(dir, 'error.log'))}
server.upload-dirs = ( ${q(dir)} )
${rest}`;
}

export async function startLighttpd(opts: LighttpdOptions): Promise<WebServer> {
  const bin = findBinary('lighttpd');
  const dir = tempDir('lighttpd');
  const port = await freePort();
  const env = Object.entries(opts.binEnvironment ?? {})
    .map(([k, v]) => `${q(k)} => ${q(v)}`).join(', ');
  const conf = lighttpdConf(dir, port, '"mod_fastcgi"', `server.max-request-size = 65536
server.stream-response-body = 2
server.max-connections = 512
fastcgi.server = ( "/" => ( "cgiwire" => (
  "socket" => ${q(join(dir, 'app.sock'))},
  "bin-path" => ${q(opts.binPath)},
  "bin-environment" => ( ${env} ),
  "max-procs" => 1,
  "check-local" => "disable"
) ) )
`);
  const confPath = join(dir, 'lighttpd.conf');
  writeFileSync(confPath, conf);
  return start({
    name: 'lighttpd',
    dir,
    port,
    argv: [bin, '-D', '-f', confPath],
    stopSignal: 'SIGTERM',
    logFiles: ['error.log'],
  });
}

export interface ApacheOptions {
  /** Port of a cgiwire FastCGI server on 127.0.0.1 (mod_proxy_fcgi, enablereuse=on). */
  fastcgiPort: number;
}

/** The first of `names` that exists as a user on this machine (Apache started as root must drop to one). */
function existingUser(names: string[]): string {
  let passwd = '';
  try { passwd = readFileSync('/etc/passwd', 'utf8'); } catch { /* none */ }
  for (const n of names) if (passwd.split('\n').some((l) => l.startsWith(n + ':'))) return n;
  return names[names.length - 1];
}

function existingGroup(names: string[]): string {
  let group = '';
  try { group = readFileSync('/etc/group', 'utf8'); } catch { /* none */ }
  for (const n of names) if (group.split('\n').some((l) => l.startsWith(n + ':'))) return n;
  return names[names.length - 1];
}

/**
 * apache2 in the foreground (-DFOREGROUND), mpm_event, mod_proxy_fcgi to a cgiwire server with enablereuse=on
 * and flushpackets=on (without it mod_proxy_fcgi holds a slow response back until it ends).
 */
const APACHE_MODULES = '/usr/lib/apache2/modules';

/** Apache's main config (event MPM, mod_proxy_fcgi) around `site`; pid, logs and locks in `dir`. */
function apacheConf(dir: string, user: string, group: string, site: string): string {
  return `ServerRoot ${q(dir)}
ServerName 127.0.0.1
PidFile ${q(join(dir, 'apache2.pid'))}
ErrorLog ${q(join(dir, 'error.log'))}
LogLevel warn
DefaultRuntimeDir ${q(dir)}
Mutex file:${dir} default
LoadModule mpm_event_module ${APACHE_MODULES}/mod_mpm_event.so
LoadModule authz_core_module ${APACHE_MODULES}/mod_authz_core.so
LoadModule proxy_module ${APACHE_MODULES}/mod_proxy.so
LoadModule proxy_fcgi_module ${APACHE_MODULES}/mod_proxy_fcgi.so
User ${user}
Group ${group}
StartServers 1
ServerLimit 1
ThreadsPerChild 64
MaxRequestWorkers 64
MinSpareThreads 1
MaxSpareThreads 64
ThreadLimit 64
Timeout 30
KeepAlive On
LimitRequestBody 0
${site}
`;
}

/** The apache2 binary, once the modules apacheConf loads are there. */
function apacheBinary(): string {
  const bin = findBinary('apache2');
  for (const m of ['mod_mpm_event.so', 'mod_authz_core.so', 'mod_proxy.so', 'mod_proxy_fcgi.so']) {
    if (!existsSync(join(APACHE_MODULES, m))) throw new Error(`apache2: ${join(APACHE_MODULES, m)} is missing (Debian package apache2)`);
  }
  return bin;
}

export async function startApache(opts: ApacheOptions): Promise<WebServer> {
  const bin = apacheBinary();
  const dir = tempDir('apache2');
  const port = await freePort();
  const user = existingUser(['www-data', 'nobody']);
  const group = existingGroup(['www-data', 'nogroup']);
  const conf = apacheConf(dir, user, group, `Listen 127.0.0.1:${port}
# flushpackets=on: mod_proxy_fcgi otherwise holds a slow response until its buffer fills or the response ends.
ProxyPass "/" "fcgi://127.0.0.1:${opts.fastcgiPort}/" enablereuse=on flushpackets=on`);
  const confPath = join(dir, 'apache2.conf');
  writeFileSync(confPath, conf);
  return startApacheWith(bin, dir, port, confPath);
}

/** apache2 in the foreground on the config at `confPath` in `dir`. */
function startApacheWith(bin: string, dir: string, port: number, confPath: string): Promise<WebServer> {
  return start({
    name: 'apache2',
    dir,
    port,
    argv: [bin, '-d', dir, '-f', confPath, '-DFOREGROUND'],
    stopSignal: 'SIGTERM',
    logFiles: ['error.log'],
    // apache2 as started by Debian's apache2ctl reads these; the configs here need none of them.
    env: { ...process.env, APACHE_RUN_DIR: dir, APACHE_LOCK_DIR: dir, APACHE_LOG_DIR: dir, APACHE_PID_FILE: join(dir, 'apache2.pid') },
  });
}

// ---- Front ends run from the configs in examples/ ------------------------------------------------------

const EXAMPLES = join(dirname(fileURLToPath(import.meta.url)), '../../examples');
/** The application socket the example configs name. */
const EXAMPLE_APP_SOCKET = '/run/cgiwire/app.sock';

/**
 * The text of examples/FILE with each [from, to] replaced. Every `from` must occur: a change to an example
 * then fails the test that runs it, instead of leaving the test on a config the example no longer has.
 */
export function exampleConfig(file: string, replacements: [string, string][]): string {
  let text = readFileSync(join(EXAMPLES, file), 'utf8');
  for (const [from, to] of replacements) {
    if (!text.includes(from)) throw new Error(`examples/${file} no longer contains ${JSON.stringify(from)}`);
    text = text.split(from).join(to);
  }
  return text;
}

/**
 * A fresh folder holding `file`, written with what `build` returns; the folder is removed again when `build`
 * throws (start() owns it after).
 */
function configure(name: string, file: string, build: (dir: string) => string): { dir: string; path: string } {
  const dir = tempDir(name);
  try {
    const path = join(dir, file);
    writeFileSync(path, build(dir));
    return { dir, path };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

export interface ExampleFrontEndOptions {
  /** The unix socket the in-process cgiwire server listens on (the examples' /run/cgiwire/app.sock). */
  appSocket: string;
}

/** HAProxy with examples/haproxy.cfg: FastCGI multiplexed on kept connections, GET_VALUES first. */
export async function startHaproxy(opts: ExampleFrontEndOptions): Promise<WebServer> {
  const bin = findBinary('haproxy');
  const port = await freePort();
  const { dir, path: confPath } = configure('haproxy', 'haproxy.cfg', (dir) => exampleConfig('haproxy.cfg', [
    ['bind 127.0.0.1:8086', `bind 127.0.0.1:${port}`],
    [`server app1 ${EXAMPLE_APP_SOCKET} proto fcgi`, `server app1 ${opts.appSocket} proto fcgi`],
    ['docroot /srv/cgiwire', `docroot ${dir}`],
  ]));
  // -db: foreground, no daemon; its warnings and alerts go to stdout.log.
  return start({ name: 'haproxy', dir, port, argv: [bin, '-db', '-f', confPath], stopSignal: 'SIGTERM', logFiles: [] });
}

/** Caddy with examples/Caddyfile: reverse_proxy with the fastcgi transport, a connection per request. */
export async function startCaddy(opts: ExampleFrontEndOptions): Promise<WebServer> {
  const bin = findBinary('caddy');
  const port = await freePort();
  const { dir, path: confPath } = configure('caddy', 'Caddyfile', (dir) => exampleConfig('Caddyfile', [
    ['http://127.0.0.1:8085', `http://127.0.0.1:${port}`],
    [`unix/${EXAMPLE_APP_SOCKET}`, `unix/${opts.appSocket}`],
  ]));
  return start({
    name: 'caddy', dir, port,
    argv: [bin, 'run', '--adapter', 'caddyfile', '--config', confPath],
    stopSignal: 'SIGTERM',
    logFiles: [],
    // Caddy keeps its state (certificates, autosaved config) under these: the test's folder, not $HOME.
    env: { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
  });
}

/**
 * h2o with examples/h2o.conf: its fastcgi.connect host. The example's second host (fastcgi.spawn, h2o
 * starting the app as www-data from /srv/cgiwire) is checked with `h2o -t` but not served: spawn mode is
 * served through lighttpd's bin-path (lighttpd.test.ts).
 */
export async function startH2o(opts: ExampleFrontEndOptions): Promise<WebServer> {
  const bin = findBinary('h2o');
  const port = await freePort();
  const { dir, path: confPath } = configure('h2o', 'h2o.conf', (dir) => {
    const conf = exampleConfig('h2o.conf', [
      ['"127.0.0.1:8084":', `"127.0.0.1:${port}":`],
      ['port: 8084', `port: ${port}`],
      [`port: ${EXAMPLE_APP_SOCKET}`, `port: ${opts.appSocket}`],
    ]);
    const spawnHost = conf.indexOf('  "127.0.0.1:8089":');
    if (spawnHost < 0) throw new Error('examples/h2o.conf no longer has its fastcgi.spawn host on 127.0.0.1:8089');
    const full = join(dir, 'h2o-full.conf');
    writeFileSync(full, conf);
    const check = spawnSync(bin, ['-t', '-c', full], { encoding: 'utf8', timeout: 10_000 });
    if (check.status !== 0) throw new Error(`h2o -t rejects examples/h2o.conf:\n${check.stdout}${check.stderr}`);
    return conf.slice(0, spawnHost);
  });
  return start({ name: 'h2o', dir, port, argv: [bin, '-c', confPath], stopSignal: 'SIGTERM', logFiles: [] });
}

/** nginx with examples/nginx-fastcgi.conf or nginx-scgi.conf as its http block's servers, before `appSocket`. */
export async function startNginxExample(opts: { file: 'nginx-fastcgi.conf' | 'nginx-scgi.conf'; appSocket: string }): Promise<WebServer> {
  const bin = findBinary('nginx');
  const port = await freePort();
  const scgi = opts.file === 'nginx-scgi.conf';
  const { dir, path: confPath } = configure('nginx', 'nginx.conf', (dir) => nginxConf(dir, exampleConfig(opts.file, [
    [`listen 127.0.0.1:${scgi ? 8081 : 8080};`, `listen 127.0.0.1:${port};`],
    [`server unix:/run/cgiwire/${scgi ? 'scgi' : 'app'}.sock;`, `server unix:${opts.appSocket};`],
    // Relative to nginx's own folder in a real install; this nginx runs from the test's folder.
    [`include ${scgi ? 'scgi' : 'fastcgi'}_params;`, `include /etc/nginx/${scgi ? 'scgi' : 'fastcgi'}_params;`],
  ])));
  return start({
    name: 'nginx', dir, port,
    argv: [bin, '-p', dir + '/', '-c', confPath, '-e', join(dir, 'error.log')],
    stopSignal: 'SIGQUIT',
    logFiles: ['error.log'],
  });
}

/** Apache with examples/apache-proxy-fcgi.conf as its site: mod_proxy_fcgi to `appSocket`, kept connections. */
export async function startApacheExample(opts: ExampleFrontEndOptions): Promise<WebServer> {
  const bin = apacheBinary();
  const port = await freePort();
  const user = existingUser(['www-data', 'nobody']);
  const group = existingGroup(['www-data', 'nogroup']);
  const { dir, path } = configure('apache2', 'apache2.conf', (dir) => apacheConf(dir, user, group,
    exampleConfig('apache-proxy-fcgi.conf', [
      ['127.0.0.1:8082', `127.0.0.1:${port}`],
      [`unix:${EXAMPLE_APP_SOCKET}|`, `unix:${opts.appSocket}|`],
    ])));
  return startApacheWith(bin, dir, port, path);
}

/**
 * lighttpd with examples/lighttpd-fastcgi.conf or lighttpd-scgi.conf: lighttpd starts examples/app.mjs itself
 * (bin-path, spawn mode), from this checkout (built: the example imports dist/) with this Node.
 */
export async function startLighttpdExample(opts: { file: 'lighttpd-fastcgi.conf' | 'lighttpd-scgi.conf' }): Promise<WebServer> {
  const bin = findBinary('lighttpd');
  const port = await freePort();
  const scgi = opts.file === 'lighttpd-scgi.conf';
  const app = join(EXAMPLES, 'app.mjs');
  if (/\s/.test(process.execPath + app)) throw new Error(`lighttpd bin-path cannot hold spaces: ${process.execPath} ${app}`);
  const socket = `/run/cgiwire/lighttpd-${scgi ? 'scgi' : 'fastcgi'}.sock`;
  const { dir, path: confPath } = configure('lighttpd', 'lighttpd.conf', (dir) => lighttpdConf(dir, port, '',
    exampleConfig(opts.file, [
      [`"${socket}"`, q(join(dir, 'app.sock'))],
      [`"/usr/bin/node /srv/cgiwire/examples/app.mjs`, `"${process.execPath} ${app}`],
    ])));
  return start({ name: 'lighttpd', dir, port, argv: [bin, '-D', '-f', confPath], stopSignal: 'SIGTERM', logFiles: ['error.log'] });
}

/**
 * Apache with examples/apache-fcgid.conf as its site: mod_fcgid starts examples/app.mjs itself (spawn mode) as
 * Apache's user. That user must read the script and the build it imports, so they are copied into the test's
 * folder (the example's /srv/cgiwire); the copy loads the TypeScript codec (no node_modules beside it). mod_fcgid
 * keeps its sockets and process table in the folder, and gets this Node on PATH for the script's `env node`.
 */
export async function startApacheFcgidExample(): Promise<WebServer> {
  const bin = apacheBinary();
  for (const m of ['mod_alias.so', 'mod_fcgid.so']) {
    if (!existsSync(join(APACHE_MODULES, m))) throw new Error(`apache2: ${join(APACHE_MODULES, m)} is missing (Debian package libapache2-mod-fcgid)`);
  }
  const port = await freePort();
  const user = existingUser(['www-data', 'nobody']);
  const group = existingGroup(['www-data', 'nogroup']);
  const repo = join(EXAMPLES, '..');
  const { dir, path } = configure('apache2', 'apache2.conf', (dir) => {
    const root = join(dir, 'cgiwire');
    cpSync(join(repo, 'examples', 'app.mjs'), join(root, 'examples', 'app.mjs'));
    cpSync(join(repo, 'dist'), join(root, 'dist'), { recursive: true });
    cpSync(join(repo, 'package.json'), join(root, 'package.json'));
    return apacheConf(dir, user, group, `LoadModule alias_module ${APACHE_MODULES}/mod_alias.so
LoadModule fcgid_module ${APACHE_MODULES}/mod_fcgid.so
FcgidIPCDir ${q(join(dir, 'fcgid'))}
FcgidProcessTableFile ${q(join(dir, 'fcgid_shm'))}
FcgidInitialEnv PATH ${dirname(process.execPath)}:/usr/bin:/bin
${exampleConfig('apache-fcgid.conf', [
    ['127.0.0.1:8083', `127.0.0.1:${port}`],
    ['/srv/cgiwire', root],
  ])}`);
  });
  return startApacheWith(bin, dir, port, path);
}
