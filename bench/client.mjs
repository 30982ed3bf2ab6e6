#!/usr/bin/env node
// The client-side benchmark: cgiwire as the web server's side of FastCGI, in one run.
//
//  1. "php": a small PHP script (bench/client/hello.php) through three Node FastCGI clients in turn, each driven
//     in a process of its own by bench/client/driver.mjs (N requests in flight, closed loop): cgiwire's Client,
//     the npm package fastcgi-client and the npm package node-phpfpm, against one PHP-FPM pool (pm static).
//     Target: cgiwire >= 2x fastcgi-client.
//  2. "gateway": cgiwire's phpFpm handler behind node:http (bench/client/app.mjs) against nginx fastcgi_pass (one
//     worker) to the same pool and script, loaded by wrk, nginx both with fastcgi_keep_conn on + upstream keepalive
//     and with a connection per request. Target: gateway >= 0.9x nginx; the nginx baseline is the keep-conn one
//     when it serves every wrk connection, else (it starves the connections beyond pm.max_children, see
//     bench/RESULTS.md) the one that works with PHP-FPM, a connection per request. Reports the CPU the gateway
//     process spends per request, and for every front end how many of the wrk connections were served.
//  3. "mux": the cgiwire Client against a cgiwire FastCGI server (createServer, in a child process, TCP loopback):
//     multiplexed over ONE connection (multiplex 'auto', maxConnectionsPerAddress 1) against one request per
//     connection at a time over a pool as large as the concurrency (multiplex false). Target: mux >= 1.0x pool.
//
// Each run: a warm-up (part 2: until the rate settles), then a fixed window; contenders alternated over rounds; the median is reported. Every
// response is checked (a contender with errors is reported with them). The CPU of each process involved is
// read from /proc around each window; "other" is what the rest of the machine used meanwhile (shared cores).
// When a target is missed, the cgiwire process of that part is run again under --cpu-prof and summarised.
//
//   npm run bench:client                    # everything, about 2 minutes
//   node bench/client.mjs --only=mux --rounds=1 --duration=2 --no-profile    # a quick look
//   options: --duration=S (4) --warmup=S (1) --rounds=N (2) --concurrency=N (16) --children=N (4, PHP-FPM
//            pm.max_children and the connection limit given to the clients) --only=php,gateway,mux
//            --settle-max=S (12): part 2's longest warm-up, 1 s windows until two agree within 10%
//            --profile (always profile) --no-profile --md=PATH --json=PATH
//            --quiet-wait=S (6) --quiet-total=S (40): before each run wait until the rest of the machine is idle
//            --retries=N (6): repeat a run disturbed by other work (> 0.35 cores), N times in the whole bench
//
// Needs php-fpm8.2, nginx, wrk, the build (npm run build:ts), and the npm contenders in bench/client/node_modules
// (npm install --prefix bench/client, done here when missing). Writes bench/client/results/client-<date>.{md,json}.
// Every process it starts is stopped by its pid (also on an error and on SIGINT), and its temp folder removed.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync,
  rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer as netServer } from 'node:net';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLK_TCK, cpuUs as processCpuUs } from './proc.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = dirname(here);
const benchDir = join(here, 'client');

// ---- options
const opt = {};
for (const a of process.argv.slice(2)) {
  const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
  if (!m) { console.error(`bench:client: unknown argument ${a}`); process.exit(2); }
  opt[m[1]] = m[2] ?? true;
}
const DURATION = Math.max(1, Math.round(Number(opt.duration ?? 4))); // whole seconds (wrk takes no less)
const WARMUP = Math.max(0, Math.round(Number(opt.warmup ?? 1)));
const ROUNDS = Math.max(1, Number(opt.rounds ?? 2));
const CONC = Math.max(1, Number(opt.concurrency ?? 16));
const CHILDREN = Math.max(1, Number(opt.children ?? 4));
const PARTS = new Set(String(opt.only ?? 'php,gateway,mux').split(','));
const EXPECT = 'hello world\n';

// ---- preconditions
function which(...names) {
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/bin']);
  for (const n of names) for (const d of dirs) if (d && existsSync(join(d, n))) return join(d, n);
  return null;
}
const PHP_FPM = which('php-fpm8.2', 'php8.2-fpm', 'php-fpm');
const NGINX = which('nginx');
const WRK = which('wrk');
const missing = [!PHP_FPM && 'php-fpm8.2', PARTS.has('gateway') && !NGINX && 'nginx', PARTS.has('gateway') && !WRK && 'wrk']
  .filter(Boolean);
if (missing.length) { console.error(`bench:client needs ${missing.join(', ')} (bash scripts/setup.sh, or apt-get install php8.2-fpm nginx wrk)`); process.exit(1); }
if (!existsSync(join(repo, 'dist/index.js'))) { console.error('bench:client needs the build: npm run build:ts'); process.exit(1); }
if (PARTS.has('php') && !['fastcgi-client', 'node-phpfpm'].every((p) => existsSync(join(benchDir, 'node_modules', p, 'package.json')))) {
  console.log('installing fastcgi-client and node-phpfpm into bench/client/ ...');
  const r = spawnSync('npm', ['install', '--prefix', benchDir, '--no-audit', '--no-fund'], { stdio: 'inherit' });
  if (r.status !== 0) { console.error('npm install --prefix bench/client failed'); process.exit(1); }
}

// ---- facts about the run
const { codecName } = await import(join(repo, 'dist/index.js'));
const versionOf = (dir) => { try { return JSON.parse(readFileSync(join(benchDir, 'node_modules', dir, 'package.json'), 'utf8')).version; } catch { return '?'; } };
let commit = 'unknown';
try {
  commit = execFileSync('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  if (execFileSync('git', ['-C', repo, 'status', '--porcelain', 'lib', 'native'], { encoding: 'utf8' }).trim()) commit += ' + uncommitted lib/ or native/';
} catch { /* not a checkout */ }
const firstLine = (cmd, args, stream = 'stdout') => { try { return (spawnSync(cmd, args, { encoding: 'utf8' })[stream] ?? '').split('\n')[0].trim(); } catch { return '?'; } };
/** The newest modification time under dist/ (ms): a rebuild during the run means its figures mix two builds. */
function distBuiltAt(dir = join(repo, 'dist')) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, distBuiltAt(p));
    else if (e.name.endsWith('.js')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}
const builtAtStart = distBuiltAt();
const machine = {
  date: new Date().toISOString(),
  distBuilt: new Date(builtAtStart).toISOString(),
  cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, kernel: release(), node: process.version,
  codec: codecName, commit, loadStart: loadavg().map((x) => x.toFixed(2)).join(' '),
  php: firstLine(PHP_FPM, ['-v']).replace(/ \(built.*/, ''),
  nginx: NGINX ? firstLine(NGINX, ['-v'], 'stderr').replace('nginx version: ', '') : 'n/a',
  wrk: WRK ? firstLine(WRK, ['--version']).replace(/ Copyright.*/, '') : 'n/a',
  fastcgiClient: versionOf('fastcgi-client'), nodePhpfpm: versionOf('node-phpfpm'),
};

// ---- processes: everything started is listed here and stopped by pid
const work = mkdtempSync(join(tmpdir(), 'cgiwire-client-bench-'));
chmodSync(work, 0o755); // PHP-FPM's workers and nginx's worker run as nobody when the bench runs as root
const live = new Map(); // pid -> { child, group: kill the process group too (php-fpm), signal for a quick stop }
function track(child, { group = false, signal = 'SIGKILL' } = {}) {
  if (child.pid === undefined) return child;
  live.set(child.pid, { child, group, signal });
  child.once('exit', () => live.delete(child.pid));
  return child;
}
let cleanedUp = false;
function cleanup() {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const [pid, { group, signal }] of live) {
    try { process.kill(pid, signal); } catch { /* gone */ }
    if (group) { try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ } }
  }
  rmSync(work, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, () => { console.error(`\n${s}: stopping everything`); process.exit(130); });

/** Sends `signal` to a child and waits (bounded) for it to exit; SIGKILL (and its group) after `ms`. */
function stop(child, signal = 'SIGTERM', ms = 5000, group = false) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => {
      try { child.kill('SIGKILL'); } catch { /* gone */ }
      if (group) { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }
      resolve();
    }, ms);
    child.once('exit', () => { clearTimeout(t); resolve(); });
    try { child.kill(signal); } catch { /* gone */ }
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = netServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on('error', reject);
  });
}

function waitPort(port, ms = 10_000, alive = () => true) {
  const until = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(); });
      s.once('error', () => {
        s.destroy();
        if (!alive()) reject(new Error(`the process meant to listen on port ${port} exited`));
        else if (Date.now() > until) reject(new Error(`port ${port} not answering within ${ms} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/** utime + stime of a process in microseconds (0 when it is gone). */
function cpuUs(pid) {
  try { return processCpuUs(pid); } catch { return 0; }
}
const childrenOf = (pid) => { try { return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number); } catch { return []; } };

/**
 * Busy CPU of the whole machine so far, in microseconds (all cores, from /proc/stat): user, nice, system and steal.
 * Interrupt and softirq time is left out: loopback traffic is largely softirq work that /proc/PID/stat charges to
 * no process, and counting it would make every fast run look disturbed by "other" work.
 */
function machineBusyUs() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  return ((f[0] + f[1] + f[2] + f[7]) * 1e6) / CLK_TCK;
}

// ---- PHP-FPM: one pool on a free loopback port, pm static, in the temp folder
const docroot = join(work, 'docroot');
mkdirSync(docroot, { mode: 0o755 });
chmodSync(docroot, 0o755);
copyFileSync(join(benchDir, 'hello.php'), join(docroot, 'hello.php'));
chmodSync(join(docroot, 'hello.php'), 0o644);
const SCRIPT = join(docroot, 'hello.php');

async function startPhpFpm() {
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  const ids = asRoot ? `user = nobody\ngroup = ${execFileSync('id', ['-gn', 'nobody'], { encoding: 'utf8' }).trim()}\n` : '';
  const conf = join(work, 'php-fpm.conf');
  writeFileSync(conf, `; written by bench/client.mjs
[global]
pid = ${join(work, 'php-fpm.pid')}
error_log = ${join(work, 'php-fpm.log')}
log_level = notice
daemonize = no

[bench]
listen = 127.0.0.1:${port}
${ids}pm = static
pm.max_children = ${CHILDREN}
request_terminate_timeout = 30s
catch_workers_output = yes
`);
  const out = openSync(join(work, 'php-fpm.out'), 'a');
  const env = { ...process.env };
  delete env.FPM_SOCKETS;
  let child;
  try {
    child = spawn(PHP_FPM, ['-F', '-y', conf], { cwd: work, stdio: ['ignore', out, out], detached: true, env });
  } finally { closeSync(out); }
  track(child, { group: true, signal: 'SIGQUIT' });
  await waitPort(port, 15_000, () => child.exitCode === null).catch((err) => {
    throw new Error(`${err.message}\n${readFileSync(join(work, 'php-fpm.log'), 'utf8').slice(-2000)}`);
  });
  // pm static: the workers are all there once it listens; wait (bounded) until they show
  for (let i = 0; i < 50 && childrenOf(child.pid).length < CHILDREN; i++) await new Promise((r) => setTimeout(r, 20));
  return { child, port, address: `127.0.0.1:${port}` };
}
const phpWorkersUs = () => childrenOf(php.child.pid).reduce((a, pid) => a + cpuUs(pid), 0);

// ---- the params every PHP client sends: those node-phpfpm sends (it chooses its own), so all carry the same
const PARAMS = {
  QUERY_STRING: '', REQUEST_METHOD: 'GET', CONTENT_TYPE: '', CONTENT_LENGTH: '',
  SCRIPT_FILENAME: SCRIPT, SCRIPT_NAME: 'hello.php', REQUEST_URI: 'hello.php', DOCUMENT_URI: SCRIPT,
  DOCUMENT_ROOT: docroot + '/', SERVER_PROTOCOL: 'HTTP/1.1', GATEWAY_INTERFACE: 'CGI/1.1', REMOTE_ADDR: '127.0.0.1',
  REMOTE_PORT: '1234', SERVER_ADDR: '127.0.0.1', SERVER_PORT: '80', SERVER_NAME: '127.0.0.1',
  SERVER_SOFTWARE: 'bench', REDIRECT_STATUS: '200',
};

// ---- one driver run (part 1 and part 3): the CPU of `watch` pids is read at its "start" and "stop" lines
function runDriver(kind, port, options, { watch = () => 0, nodeArgs = [] } = {}) {
  const cfg = { kind, host: '127.0.0.1', port, params: PARAMS, docroot, script: 'hello.php', concurrency: CONC,
    warmup: WARMUP, duration: DURATION, options, expect: EXPECT };
  const child = track(spawn(process.execPath, [...nodeArgs, join(benchDir, 'driver.mjs'), JSON.stringify(cfg)],
    { stdio: ['ignore', 'pipe', 'pipe'], cwd: work }));
  return new Promise((resolve, reject) => {
    let out = '', err = '', w0 = 0, m0 = 0, w1 = 0, m1 = 0, started = false, stopped = false;
    const limit = setTimeout(() => { child.kill('SIGKILL'); }, (WARMUP + DURATION + 40) * 1000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      out += d;
      if (!started && out.includes('start\n')) { started = true; w0 = watch(); m0 = machineBusyUs(); }
      if (!stopped && out.includes('stop\n')) { stopped = true; w1 = watch(); m1 = machineBusyUs(); }
    });
    child.stderr.on('data', (d) => { if (err.length < 4000) err += d; });
    child.once('exit', (code, signal) => {
      clearTimeout(limit);
      const line = out.split('\n').filter((l) => l.startsWith('{')).pop();
      if (!line) return reject(new Error(`driver ${kind} ended (${code ?? signal}) without a result: ${err.slice(-1500)}`));
      const r = JSON.parse(line);
      r.watchUsPerReq = r.ok ? (w1 - w0) / r.ok : NaN;
      const seconds = DURATION; // the window
      r.otherCores = Math.max(0, (m1 - m0) - (w1 - w0) - r.clientCores * seconds * 1e6) / (seconds * 1e6);
      r.stderr = err.trim().split('\n').filter((l) => l && !/DeprecationWarning|--trace-deprecation|EBADENGINE/.test(l)).slice(0, 3).join(' | ');
      resolve(r);
    });
  });
}

// ---- server processes (part 2 gateway, part 3 FastCGI hello): bench/client/app.mjs
function startApp(args, nodeArgs = []) {
  const child = track(spawn(process.execPath, [...nodeArgs, join(benchDir, 'app.mjs'), ...args],
    { stdio: ['pipe', 'pipe', 'inherit'], cwd: work }));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`app.mjs ${args[0]} did not start within 10 s`)), 10_000);
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('ready\n')) { clearTimeout(timer); child.stdout.resume(); resolve(child); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`app.mjs ${args[0]} exited (${code}) before it was ready`)); });
  });
}

// ---- nginx: one worker, fastcgi_pass to the pool, with or without kept connections
async function startNginx(keepConn) {
  const port = await freePort();
  const dir = join(work, `nginx-${keepConn ? 'keep' : 'plain'}`);
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const user = process.getuid?.() === 0 ? `user nobody ${execFileSync('id', ['-gn', 'nobody'], { encoding: 'utf8' }).trim()};` : '';
  const tmp = ['client_body', 'proxy', 'fastcgi', 'scgi', 'uwsgi'].map((k) => `${k}_temp_path ${dir}/tmp/${k};`).join(' ');
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, `# written by bench/client.mjs
${user}
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_timeout 65s;
    keepalive_requests 1000000;
    ${tmp}
    upstream php { server ${php.address}; ${keepConn ? `keepalive ${CHILDREN}; keepalive_requests 1000000;` : ''} }
    server {
        listen 127.0.0.1:${port};
        root ${docroot};
        location ~ \\.php$ {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
            fastcgi_pass php;
            ${keepConn ? 'fastcgi_keep_conn on;' : ''}
        }
    }
}
`);
  const child = track(spawn(NGINX, ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')], { stdio: ['ignore', 'inherit', 'inherit'] }),
    { signal: 'SIGTERM' });
  await waitPort(port, 10_000, () => child.exitCode === null);
  // The master listens before it forks its worker: wait (bounded) until the worker shows.
  let worker = childrenOf(child.pid)[0];
  for (let i = 0; i < 100 && !worker && child.exitCode === null; i++) {
    await new Promise((r) => setTimeout(r, 20));
    worker = childrenOf(child.pid)[0];
  }
  if (!worker) throw new Error('no nginx worker found');
  return { child, port, worker, errorLog: join(dir, 'error.log') };
}

// ---- wrk (through bash, whose `times` gives wrk's own CPU time; asynchronous, so that SIGINT is heard at once)
async function runWrk(port, duration) {
  const child = track(spawn('bash', ['-c', '"$@"; rc=$?; times; exit $rc', 'bash', WRK, '-t1', `-c${CONC}`, `-d${duration}s`, '--latency',
    '-s', join(benchDir, 'wrk.lua'), `http://127.0.0.1:${port}/hello.php`], { stdio: ['ignore', 'pipe', 'pipe'], detached: true }),
  { group: true, signal: 'SIGTERM' });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const limit = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, (duration + 30) * 1000);
  const [status] = await new Promise((resolve) => child.once('close', (...a) => resolve(a)));
  clearTimeout(limit);
  const lines = stdout.trim().split('\n');
  const line = lines.filter((l) => l.startsWith('{')).pop();
  if (!line || status !== 0) throw new Error(`wrk failed (${status}): ${stderr || stdout}`);
  const j = JSON.parse(line);
  j.errorCount = Object.values(j.errors).reduce((a, b) => a + b, 0);
  j.rps = j.requests / (j.duration_us / 1e6);
  const t = /(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$/.exec(lines[lines.length - 1]);
  j.wrkCpuUs = t ? (Number(t[1]) * 60 + Number(t[2]) + Number(t[3]) * 60 + Number(t[4])) * 1e6 : 0;
  return j;
}

async function checkHttp(port) {
  const res = await fetch(`http://127.0.0.1:${port}/hello.php`);
  const body = await res.text();
  return res.status === 200 && body === EXPECT ? null : `status ${res.status}, body ${JSON.stringify(body.slice(0, 60))}`;
}

// ---- a shared machine: wait (bounded) for the rest of it to be idle before each run, and run again (bounded) a
// run during which other work took more than NOISY cores, keeping the quieter one
const QUIET_WAIT_S = Number(opt['quiet-wait'] ?? 6);       // per run
const QUIET_TOTAL_S = Number(opt['quiet-total'] ?? 40);    // in the whole bench
const NOISY = 0.35;
let quietWaitedMs = 0, retriesLeft = Number(opt.retries ?? 6), retried = 0;
async function waitQuiet() {
  const until = Date.now() + Math.min(QUIET_WAIT_S * 1000, Math.max(0, QUIET_TOTAL_S * 1000 - quietWaitedMs));
  for (;;) {
    const b0 = machineBusyUs(), t = Date.now();
    await new Promise((r) => setTimeout(r, 250));
    const cores = (machineBusyUs() - b0) / ((Date.now() - t) * 1000);
    if (cores < 0.25 || Date.now() >= until) return;
    quietWaitedMs += Date.now() - t;
  }
}
async function measured(run) {
  await waitQuiet();
  let best = await run();
  while (best.otherCores > NOISY && retriesLeft > 0) {
    retriesLeft--; retried++;
    await waitQuiet();
    const again = await run();
    again.retried = true;
    if (again.otherCores < best.otherCores) best = again;
  }
  return best;
}

// ---- statistics, formatting
const median = (xs) => { const s = xs.filter(Number.isFinite).sort((a, b) => a - b); const m = s.length >> 1; return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : 'n/a');
const t0 = Date.now();
const elapsed = () => `${Math.round((Date.now() - t0) / 1000)}s`;
/** Half the range over rounds, in % of the median. */
const spread = (xs) => (50 * (Math.max(...xs) - Math.min(...xs))) / median(xs);
function summarise(runs) {
  return {
    rps: median(runs.map((r) => r.rps)), spreadPct: spread(runs.map((r) => r.rps)), rounds: runs.map((r) => r.rps),
    errors: runs.reduce((a, r) => a + r.errorCount, 0), errorSamples: Object.assign({}, ...runs.map((r) => r.errors ?? {})),
    p99ms: median(runs.map((r) => r.p99ms)), maxMs: Math.max(...runs.map((r) => r.maxMs)),
    clientUs: median(runs.map((r) => r.clientCpuUsPerReq)), watchUs: median(runs.map((r) => r.watchUsPerReq)),
    phpUs: median(runs.map((r) => r.phpUsPerReq)), otherCores: Math.max(...runs.map((r) => r.otherCores)),
    connections: runs.map((r) => r.connections).filter((c) => c !== undefined),
    check: runs.map((r) => r.check).find((c) => c) ?? null,
  };
}
const alternate = (list, round) => (round % 2 === 0 ? list : [...list].reverse());

// ---- CPU profiles (.cpuprofile): self time per function, inclusive time of cgiwire's own functions, and the time
// under a few known costs (a sample counts once per group, whichever of its frames matched)
const PROFILE_GROUPS = [
  ['stream.pipeline (node:internal/streams/pipeline)', (fn, url) => url === 'node:internal/streams/pipeline'],
  ['AbortController / AbortSignal / DOMException', (fn, url) => url === 'node:internal/abort_controller' || url === 'node:internal/per_context/domexception'],
  ['mapScript (stat + realpath per request)', (fn) => fn === 'mapScript'],
  ['requestParams (HTTP headers -> params)', (fn) => fn === 'requestParams'],
  ['encodeParams (PARAMS records)', (fn) => fn === 'encodeParams'],
  ['parseResponseHead', (fn) => fn === 'parseResponseHead'],
  ['reading the response body (text/buffer, async iterator)', (fn, url) => (fn === 'buffer' || fn === 'text') && url.includes('/dist/client/response.js')],
  ['socket writes (write/writev calls)', (fn) => fn === 'writeBuffer' || fn === 'writev' || fn === 'writeUtf8String' || fn === 'writeLatin1String'],
  ['garbage collector', (fn) => fn === '(garbage collector)'],
];

function readProfile(dir) {
  const file = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort().pop();
  return file ? join(dir, file) : null;
}
function summariseProfile(path) {
  const p = JSON.parse(readFileSync(path, 'utf8'));
  const nodes = new Map(p.nodes.map((nd) => [nd.id, nd]));
  const parentOf = new Map();
  for (const nd of p.nodes) for (const c of nd.children ?? []) parentOf.set(c, nd.id);
  const name = (nd) => {
    const cf = nd.callFrame;
    const where = cf.url ? `${cf.url.replace(/^file:\/\//, '').replace(repo + '/', '')}:${cf.lineNumber + 1}` : '';
    return `${cf.functionName || '(anonymous)'}\t${where}`;
  };
  const self = new Map(), incl = new Map();
  const groups = PROFILE_GROUPS.map(() => 0);
  let total = 0, idle = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i + 1] ?? 0;
    const leaf = nodes.get(p.samples[i]);
    total += dt;
    if (leaf.callFrame.functionName === '(idle)') { idle += dt; continue; }
    const k = name(leaf);
    self.set(k, (self.get(k) ?? 0) + dt);
    const seen = new Set();
    const hit = PROFILE_GROUPS.map(() => false);
    for (let id = p.samples[i]; id !== undefined; id = parentOf.get(id)) {
      const nd = nodes.get(id);
      PROFILE_GROUPS.forEach(([, match], g) => { if (!hit[g] && match(nd.callFrame.functionName, nd.callFrame.url)) hit[g] = true; });
      const key = name(nd);
      if (seen.has(key)) continue;
      seen.add(key);
      incl.set(key, (incl.get(key) ?? 0) + dt);
    }
    hit.forEach((h, g) => { if (h) groups[g] += dt; });
  }
  const busy = total - idle;
  const rows = (m, filter, n) => [...m].filter(([k]) => filter(k)).sort((a, b) => b[1] - a[1]).slice(0, n)
    .map(([k, v]) => { const [fn, where] = k.split('\t'); return { fn, where, pct: (100 * v) / busy }; });
  return {
    file: path.replace(repo + '/', ''), busyMs: busy / 1000, idlePct: (100 * idle) / total,
    groups: PROFILE_GROUPS.map(([label], g) => ({ label, pct: (100 * groups[g]) / busy })),
    self: rows(self, () => true, 15),
    cgiwire: rows(incl, (k) => k.includes('\tdist/'), 12),
  };
}

// ---- start
console.log(`bench:client  ${machine.cpu}, ${machine.cores} cores; load ${machine.loadStart}; Node ${machine.node}; codec ${machine.codec}; ` +
  `${machine.php}; ${machine.nginx}; ${machine.wrk}; cgiwire ${machine.commit}`);
console.log(`${CONC} requests in flight (wrk -t1 -c${CONC}); ${WARMUP} s warm-up + ${DURATION} s window per run; ${ROUNDS} rounds, contenders alternated, median; ` +
  `PHP-FPM pm static, max_children ${CHILDREN}; work dir ${work}`);
const php = await startPhpFpm();
const results = { php: null, gateway: null, mux: null };
const targets = [];
const profiles = [];
const notes = [];
const resultsDir = join(benchDir, 'results');
const stamp = machine.date.replace(/[:.]/g, '-').slice(0, 19);

// ---- part 1: PHP through three clients
const PHP_CONTENDERS = [
  { id: 'cgiwire', name: `cgiwire Client (maxConnectionsPerAddress ${CHILDREN}, kept connections)`, kind: 'cgiwire',
    options: { maxConnectionsPerAddress: CHILDREN } },
  // fastcgi-client opens a connection per request (no keep-conn against a peer that does not multiplex) and fails a
  // request beyond maxConns at once instead of queueing it: its limit must be the concurrency, PHP-FPM's listen
  // backlog then holds the connections waiting for a worker.
  { id: 'fastcgi-client', name: `fastcgi-client ${machine.fastcgiClient} (connection per request, maxConns ${CONC})`, kind: 'fastcgi-client',
    options: { maxConns: CONC } },
  { id: 'node-phpfpm', name: `node-phpfpm ${machine.nodePhpfpm} (connection per request, maxConns ${CONC})`, kind: 'node-phpfpm',
    options: { maxConns: CONC } },
];
async function phpRun(c, nodeArgs = []) {
  const r = await runDriver(c.kind, php.port, c.options, { watch: phpWorkersUs, nodeArgs });
  r.phpUsPerReq = r.watchUsPerReq;
  return r;
}
if (PARTS.has('php')) {
  console.log(`\n1. ${EXPECT.trim()} from PHP through each client [${elapsed()}]`);
  const runs = Object.fromEntries(PHP_CONTENDERS.map((c) => [c.id, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of alternate(PHP_CONTENDERS, round)) {
      const r = await measured(() => phpRun(c));
      runs[c.id].push(r);
      console.log(`  r${round + 1} ${c.id.padEnd(15)} ${fmt(r.rps).padStart(7)} req/s  p99 ${fmt(r.p99ms, 2).padStart(6)} ms  client ${fmt(r.clientCpuUsPerReq, 1).padStart(6)} us/req` +
        `  php ${fmt(r.phpUsPerReq, 1).padStart(6)} us/req  other ${fmt(r.otherCores, 2)} cores` +
        `${r.errorCount ? `  ERRORS ${r.errorCount}: ${JSON.stringify(r.errors).slice(0, 200)}` : ''}${r.check ? `  CHECK FAILED: ${r.check}` : ''}  [${elapsed()}]`);
    }
  }
  const s = Object.fromEntries(PHP_CONTENDERS.map((c) => [c.id, summarise(runs[c.id])]));
  for (const c of PHP_CONTENDERS) s[c.id].ratio = s[c.id].rps / s['fastcgi-client'].rps;
  results.php = { contenders: PHP_CONTENDERS.map(({ id, name, options }) => ({ id, name, options })), runs, summary: s };
  const clean = s.cgiwire.errors === 0 && s['fastcgi-client'].errors === 0;
  targets.push({ part: 'php', what: 'cgiwire Client >= 2x fastcgi-client (PHP hello, req/s)', value: s.cgiwire.rps / s['fastcgi-client'].rps, goal: 2, ok: clean && s.cgiwire.rps >= 2 * s['fastcgi-client'].rps,
    detail: `${fmt(s.cgiwire.rps)} vs ${fmt(s['fastcgi-client'].rps)} req/s${clean ? '' : ' (errors: see the table)'}` });
}

// ---- part 2: the PHP gateway behind node:http against nginx
const FRONTS = [
  { id: 'gateway', name: `node:http + cgiwire phpFpm (maxConnectionsPerAddress ${CHILDREN})` },
  { id: 'nginx-keep', name: `nginx fastcgi_pass, fastcgi_keep_conn on + upstream keepalive ${CHILDREN}`, keepConn: true },
  { id: 'nginx-plain', name: 'nginx fastcgi_pass, a connection per request', keepConn: false },
];
/**
 * Loads a freshly started front end until its rate settles: WARMUP s, then at least SETTLE_MIN_WINDOWS windows
 * of 1 s, until two in a row agree within SETTLE (at most SETTLE_MAX_S s in all). Every front end here is
 * started for its own run, and a Node process spends its first seconds compiling: a gateway started cold
 * served 3-4.5k req/s in its first second and 9-10k from its fourth or fifth on. nginx settles at once.
 * Returns the seconds spent and the rate of each 1 s window.
 */
const SETTLE = 0.1;
// A cold gateway's rate climbed for its first 4-5 s in every run seen: no settling is taken before that.
const SETTLE_MIN_WINDOWS = 3;
const SETTLE_MAX_S = Math.max(WARMUP, Number(opt['settle-max'] ?? 12));
async function warmUp(port) {
  let seconds = 0;
  const rps = [];
  if (WARMUP > 0) { await runWrk(port, WARMUP); seconds += WARMUP; }
  while (seconds < SETTLE_MAX_S) {
    rps.push(Math.round((await runWrk(port, 1)).rps));
    seconds++;
    const n = rps.length;
    if (n >= SETTLE_MIN_WINDOWS && Math.abs(rps[n - 1] - rps[n - 2]) <= SETTLE * Math.max(rps[n - 1], rps[n - 2])) break;
  }
  return { seconds, rps };
}

/** Starts a front end, checks its answer, warms it until its rate settles, measures one wrk window, stops it (so no kept connection pins a PHP worker later). */
async function frontRun(f, nodeArgs = []) {
  let proc, pid, errorLog = null;
  if (f.id === 'gateway') {
    const port = await freePort();
    proc = { child: await startApp(['gateway', String(port), docroot, php.address, String(CHILDREN)], nodeArgs), port };
    pid = proc.child.pid;
  } else {
    proc = await startNginx(f.keepConn);
    pid = proc.worker;
    errorLog = proc.errorLog;
  }
  try {
    const check = await checkHttp(proc.port);
    const warm = await warmUp(proc.port);
    const a0 = cpuUs(pid), p0 = phpWorkersUs(), m0 = machineBusyUs();
    const w = await runWrk(proc.port, DURATION);
    const a1 = cpuUs(pid), p1 = phpWorkersUs(), m1 = machineBusyUs();
    const window = w.duration_us;
    const after = await checkHttp(proc.port);
    let nginxErrors = '';
    if (errorLog && existsSync(errorLog)) nginxErrors = readFileSync(errorLog, 'utf8').split('\n').filter((l) => /\[(error|crit|alert|emerg)\]/.test(l)).slice(0, 2).join(' | ');
    return {
      rps: w.rps, ok: w.requests, warmS: warm.seconds, warmRps: warm.rps, errorCount: w.errorCount, errors: w.errorCount ? w.errors : {}, check: check ?? after,
      // Little's law over the completed requests: how many of the wrk connections had requests going through
      served: Math.min(CONC, (w.rps * w.latency_us.mean) / 1e6),
      p50ms: w.latency_us.p50 / 1000, p99ms: w.latency_us.p99 / 1000, maxMs: w.latency_us.max / 1000,
      watchUsPerReq: w.requests ? (a1 - a0) / w.requests : NaN, phpUsPerReq: w.requests ? (p1 - p0) / w.requests : NaN,
      wrkUsPerReq: w.requests ? w.wrkCpuUs / w.requests : NaN,
      frontCores: (a1 - a0) / window, otherCores: Math.max(0, (m1 - m0) - (a1 - a0) - (p1 - p0) - w.wrkCpuUs) / window, nginxErrors,
    };
  } finally {
    if (f.id === 'gateway') await stop(proc.child, 'SIGTERM');
    else await stop(proc.child, 'SIGQUIT', 5000);
  }
}
if (PARTS.has('gateway')) {
  console.log(`\n2. PHP behind an HTTP front end, wrk -t1 -c${CONC} -d${DURATION}s [${elapsed()}]`);
  const runs = Object.fromEntries(FRONTS.map((f) => [f.id, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const f of alternate(FRONTS, round)) {
      const r = await measured(() => frontRun(f));
      runs[f.id].push(r);
      console.log(`  r${round + 1} ${f.id.padEnd(12)} ${fmt(r.rps).padStart(7)} req/s  served ${fmt(r.served, 1).padStart(4)} of ${CONC} conns  p99 ${fmt(r.p99ms, 2).padStart(7)} ms  max ${fmt(r.maxMs, 0).padStart(5)} ms` +
        `  warm ${r.warmS} s  front ${fmt(r.watchUsPerReq, 1).padStart(6)} us/req  php ${fmt(r.phpUsPerReq, 1).padStart(6)} us/req  other ${fmt(r.otherCores, 2)} cores` +
        `${r.errorCount ? `  ERRORS ${JSON.stringify(r.errors)}` : ''}${r.check ? `  CHECK FAILED: ${r.check}` : ''}${r.nginxErrors ? `  nginx: ${r.nginxErrors.slice(0, 160)}` : ''}  [${elapsed()}]`);
    }
  }
  const s = Object.fromEntries(FRONTS.map((f) => [f.id, summarise(runs[f.id])]));
  for (const f of FRONTS) s[f.id].served = Math.min(...runs[f.id].map((r) => r.served));
  // The baseline: nginx with kept connections if it served (nearly) every connection without errors, else nginx
  // with a connection per request.
  const keepWorks = s['nginx-keep'].errors === 0 && !s['nginx-keep'].check && s['nginx-keep'].served >= 0.9 * CONC;
  const base = keepWorks ? 'nginx-keep' : 'nginx-plain';
  for (const f of FRONTS) s[f.id].ratio = s[f.id].rps / s[base].rps;
  results.gateway = { fronts: FRONTS, runs, summary: s, base };
  if (!keepWorks) {
    notes.push(`nginx with fastcgi_keep_conn on served only ${fmt(s['nginx-keep'].served, 1)} of the ${CONC} wrk connections (requests/s x mean latency): ` +
      `it opens an upstream connection per concurrent request, PHP-FPM's ${CHILDREN} workers stay on the ${CHILDREN} kept ones, and the other ` +
      `connections wait in PHP-FPM's accept queue for the whole run. Its req/s are those of ${fmt(s['nginx-keep'].served, 1)} connections, so the ` +
      'gateway target is taken against nginx with a connection per request, the configuration that works with this pool.');
  }
  const clean = s.gateway.errors === 0 && !s.gateway.check;
  targets.push({ part: 'gateway', what: `phpFpm gateway behind node:http >= 0.9x nginx (${base === 'nginx-keep' ? 'keep-conn' : 'a connection per request'})`, value: s.gateway.ratio, goal: 0.9, ok: clean && s.gateway.ratio >= 0.9,
    detail: `${fmt(s.gateway.rps)} vs ${fmt(s[base].rps)} req/s; gateway process ${fmt(s.gateway.watchUs, 1)} us CPU per request (nginx worker ${fmt(s[base].watchUs, 1)} us)` });
}

// ---- part 3: multiplexed over one connection vs a pool, against a cgiwire server
const MUX = [
  { id: 'mux', name: `multiplexed: one connection (multiplex 'auto', maxConnectionsPerAddress 1)`, options: { multiplex: 'auto', maxConnectionsPerAddress: 1, maxRequestsPerConnection: Math.max(100, CONC) } },
  { id: 'pool', name: `pool: ${CONC} connections, one request each at a time (multiplex false)`, options: { multiplex: false, maxConnectionsPerAddress: CONC } },
];
let helloServer = null;
if (PARTS.has('mux')) {
  console.log(`\n3. cgiwire Client -> cgiwire FastCGI server (TCP loopback), ${CONC} in flight [${elapsed()}]`);
  const port = await freePort();
  helloServer = { child: await startApp(['fcgi-hello', String(port)]), port };
  const runs = Object.fromEntries(MUX.map((m) => [m.id, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const m of alternate(MUX, round)) {
      const r = await measured(() => runDriver('cgiwire', port, m.options, { watch: () => cpuUs(helloServer.child.pid) }));
      runs[m.id].push(r);
      console.log(`  r${round + 1} ${m.id.padEnd(5)} ${fmt(r.rps).padStart(7)} req/s  p99 ${fmt(r.p99ms, 2).padStart(6)} ms  client ${fmt(r.clientCpuUsPerReq, 1).padStart(6)} us/req` +
        `  server ${fmt(r.watchUsPerReq, 1).padStart(6)} us/req  connections ${r.connections}  other ${fmt(r.otherCores, 2)} cores` +
        `${r.errorCount ? `  ERRORS ${r.errorCount}: ${JSON.stringify(r.errors).slice(0, 200)}` : ''}${r.check ? `  CHECK FAILED: ${r.check}` : ''}  [${elapsed()}]`);
    }
  }
  const s = Object.fromEntries(MUX.map((m) => [m.id, summarise(runs[m.id])]));
  for (const m of MUX) s[m.id].ratio = s[m.id].rps / s.pool.rps;
  results.mux = { variants: MUX, runs, summary: s };
  const clean = s.mux.errors === 0 && s.pool.errors === 0;
  targets.push({ part: 'mux', what: `multiplexed over 1 connection >= 1.0x a pool of ${CONC} connections`, value: s.mux.ratio, goal: 1, ok: clean && s.mux.ratio >= 1,
    detail: `${fmt(s.mux.rps)} vs ${fmt(s.pool.rps)} req/s${s.mux.connections.some((c) => c !== 1) ? ` (mux held ${s.mux.connections.join('/')} connections!)` : ''}` });
}

// ---- profiles of the cgiwire process of each part whose target was missed
if (!opt['no-profile']) {
  mkdirSync(resultsDir, { recursive: true });
  for (const t of targets) {
    if (t.ok && !opt.profile) continue;
    const dir = join(work, `prof-${t.part}`);
    mkdirSync(dir);
    const profArgs = ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=200'];
    console.log(`CPU profile for "${t.what}" [${elapsed()}]`);
    let r, who;
    if (t.part === 'php') { who = 'the cgiwire client process (driver)'; r = await phpRun(PHP_CONTENDERS[0], profArgs); r.perReq = r.clientCpuUsPerReq; }
    else if (t.part === 'gateway') { who = 'the gateway process (node:http + phpFpm)'; r = await frontRun(FRONTS[0], profArgs); r.perReq = r.watchUsPerReq; }
    else { who = 'the cgiwire client process, multiplexed (driver)'; r = await runDriver('cgiwire', helloServer.port, MUX[0].options, { nodeArgs: profArgs }); r.perReq = r.clientCpuUsPerReq; }
    const file = readProfile(dir);
    if (!file) { notes.push(`no profile was written for ${t.part}`); continue; }
    const keep = join(resultsDir, `profile-${t.part}-${stamp}.cpuprofile`);
    copyFileSync(file, keep);
    profiles.push({ part: t.part, who, rps: r.rps, perReq: r.perReq, ...summariseProfile(keep) });
  }
}
if (helloServer) await stop(helloServer.child, 'SIGTERM');
await stop(php.child, 'SIGQUIT', 5000, true);
try { process.kill(-php.child.pid, 'SIGKILL'); } catch { /* the group is gone */ }

// ---- report
machine.loadEnd = loadavg().map((x) => x.toFixed(2)).join(' ');
machine.seconds = Math.round((Date.now() - t0) / 1000);
machine.quietWaitS = Math.round(quietWaitedMs / 1000);
if (distBuiltAt() !== builtAtStart) {
  notes.push(`**dist/ was rebuilt during this run** (built ${machine.distBuilt} at the start, ${new Date(distBuiltAt()).toISOString()} at the end): ` +
    'processes started after the rebuild ran the new code, so these figures mix two builds. Run again.');
}
machine.noisyRunsRepeated = retried;
const md = [];
md.push(`Run ${machine.date}: ${machine.cpu}, ${machine.cores} cores (Linux ${machine.kernel}); load average ${machine.loadStart} at start, ${machine.loadEnd} at end; ` +
  `Node ${machine.node}; cgiwire ${machine.commit} (dist/ built ${machine.distBuilt}), ${machine.codec} codec; ${machine.php} (pm static, max_children ${CHILDREN}); ${machine.nginx} (1 worker); ${machine.wrk}. ` +
  `${CONC} requests in flight, closed loop; ${WARMUP} s warm-up + ${DURATION} s window per run, ${ROUNDS} rounds (contenders alternated), median; ${machine.seconds} s in all. ` +
  `"other" = cores used meanwhile (user + system time, not softirq) by anything but the processes measured: other sessions on the shared machine; ` +
  `${machine.quietWaitS} s spent waiting for a quiet machine, ${machine.noisyRunsRepeated} run(s) over ${NOISY} other cores repeated.`);
const resultRow = (name, v, extra) => `| ${name} | ${fmt(v.rps)} ±${fmt(v.spreadPct, 0)}% | **${fmt(v.ratio, 2)}x** | ${v.errors ? `**${v.errors}** ${JSON.stringify(v.errorSamples).slice(0, 120)}` : (v.check ? `**check failed: ${v.check}**` : '0')} | ${fmt(v.p99ms, 2)} | ${extra} | ${fmt(v.otherCores, 2)} |`;
if (results.php) {
  const s = results.php.summary;
  md.push('', `**1. PHP hello (${Buffer.byteLength(EXPECT)} bytes) through each client** (one process per client; same ${Object.keys(PARAMS).length} params; ratio to fastcgi-client)`, '');
  md.push('| client | req/s ±half-range | ratio | errors | p99 ms | client CPU us/req, PHP workers CPU us/req | other cores (max) |');
  md.push('|---|---:|---:|---|---:|---:|---:|');
  for (const c of results.php.contenders) md.push(resultRow(c.name, s[c.id], `${fmt(s[c.id].clientUs, 1)}, ${fmt(s[c.id].phpUs, 1)}`));
}
if (results.gateway) {
  const s = results.gateway.summary;
  const baseName = results.gateway.fronts.find((f) => f.id === results.gateway.base).name;
  md.push('', `**2. PHP hello behind an HTTP front end** (wrk -t1 -c${CONC} -d${DURATION}s; ratio to ${baseName})`, '');
  md.push('| front end | req/s ±half-range | ratio | errors | p99 ms | wrk connections served (min), front CPU us/req (gateway process / nginx worker), PHP workers us/req | other cores (max) |');
  md.push('|---|---:|---:|---|---:|---:|---:|');
  for (const f of results.gateway.fronts) md.push(resultRow(f.name, s[f.id], `${fmt(s[f.id].served, 1)} of ${CONC}, ${fmt(s[f.id].watchUs, 1)}, ${fmt(s[f.id].phpUs, 1)}`));
  md.push('', 'Warm-up of each run until its rate settled (req/s of each 1 s window after the first ' + `${WARMUP} s):`);
  for (const f of results.gateway.fronts) {
    md.push(`- ${f.name}: ${results.gateway.runs[f.id].map((r) => `${r.warmS} s [${r.warmRps.map((x) => fmt(x)).join(', ')}]`).join('; ')}`);
  }
}
if (results.mux) {
  const s = results.mux.summary;
  md.push('', `**3. cgiwire Client -> cgiwire FastCGI server** (createServer in a child process, TCP loopback; ratio to the pool)`, '');
  md.push('| client | req/s ±half-range | ratio | errors | p99 ms | client CPU us/req, server CPU us/req | other cores (max) |');
  md.push('|---|---:|---:|---|---:|---:|---:|');
  for (const m of results.mux.variants) md.push(resultRow(`${m.name}; connections held: ${s[m.id].connections.join('/')}`, s[m.id], `${fmt(s[m.id].clientUs, 1)}, ${fmt(s[m.id].watchUs, 1)}`));
}
md.push('', '| target | measured | |', '|---|---|---|');
for (const t of targets) md.push(`| ${t.what} | ${fmt(t.value, 2)}x (${t.detail}) | ${t.ok ? 'PASS' : '**MISS**'} |`);
for (const p of profiles) {
  md.push('', `CPU profile of ${p.who} during a ${p.part} run (${fmt(p.rps)} req/s with the profiler on, ${fmt(p.perReq, 1)} us CPU per request; ` +
    `${fmt(p.idlePct, 0)}% of the main thread idle; ${p.file}). Where the time goes, % of busy (inclusive; groups overlap): ` +
    p.groups.map((g) => `${g.label} ${fmt(g.pct, 1)}%`).join('; ') + '. Self time, % of busy:', '');
  md.push('| self % | function | where |', '|---:|---|---|');
  for (const r of p.self) md.push(`| ${fmt(r.pct, 1)} | ${r.fn} | ${r.where} |`);
  md.push('', 'Inclusive time of cgiwire functions, % of busy:', '', '| incl. % | function | where |', '|---:|---|---|');
  for (const r of p.cgiwire) md.push(`| ${fmt(r.pct, 1)} | ${r.fn} | ${r.where} |`);
}
if (notes.length) md.push('', ...notes.map((n) => `- ${n}`));
const report = md.join('\n') + '\n';
const mdPath = typeof opt.md === 'string' ? opt.md : join(resultsDir, `client-${stamp}.md`);
const jsonPath = typeof opt.json === 'string' ? opt.json : join(resultsDir, `client-${stamp}.json`);
mkdirSync(dirname(mdPath), { recursive: true });
mkdirSync(dirname(jsonPath), { recursive: true });
writeFileSync(mdPath, report);
writeFileSync(jsonPath, JSON.stringify({ machine, options: { DURATION, WARMUP, ROUNDS, CONC, CHILDREN }, results, targets, profiles }, null, 1));
console.log('\n' + report);
console.log('Targets:');
for (const t of targets) console.log(`  ${t.ok ? 'PASS' : 'MISS'}  ${t.what}: ${fmt(t.value, 2)}x (goal ${t.goal}x; ${t.detail})`);
for (const n of notes) if (n.startsWith('**dist/')) console.log(`WARNING: ${n.replace(/\*\*/g, '')}`);
console.log(`written: ${mdPath.replace(repo + '/', '')}, ${jsonPath.replace(repo + '/', '')}`);
process.exit(0);
