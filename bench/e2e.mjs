#!/usr/bin/env node
// End-to-end benchmark: a real nginx with ONE worker in front of Node contenders, all started in the same run,
// driven by wrk over 127.0.0.1. Contenders (one Node process each, the same handler: bench/e2e/app.mjs):
//   cgiwire FastCGI over a unix socket and over TCP (upstream keepalive + fastcgi_keep_conn on),
//   cgiwire SCGI over a unix socket (scgi_pass; SCGI has no kept connections),
//   node:http behind proxy_pass with an upstream keepalive pool (proxy_http_version 1.1, Connection ""),
//   node-fastcgi (npm) behind fastcgi_pass over a unix socket with keep-conn (installed in bench/e2e/),
//   and, for uploads only, cgiwire FastCGI over TCP with quickAck: false (what TCP_QUICKACK is worth); for the
//   small GET only, a floor: a minimal FastCGI responder with no HTTP objects (bench/e2e/floor.mjs).
// Scenarios: small GET (12 bytes), 1 MiB GET, 1 MiB POST read fully. wrk -t1 -c16 -d5s --latency, contenders
// alternated, 2 rounds, median. Measures requests/s, p99, and the CPU time (utime+stime from /proc/PID/stat) the
// app process and the nginx worker spent per request. Then the 1 MiB POST at -c1 (TCP vs unix socket: 40 ms
// delayed-ACK stalls), and, for each protocol where cgiwire missed a target, a --cpu-prof of cgiwire during a
// small-GET run, summarised as self time per function.
//
//   node bench/e2e.mjs                      # everything, about 5 minutes
//   node bench/e2e.mjs --duration=2 --rounds=1 --no-c1 --no-profile   # a quick look
//   options: --duration=S (5) --rounds=N (2) --connections=N (16) --warmup=S (1) --only=small,get1m,post1m
//            --contenders=a,b (ids below) --profile (always profile) --no-profile --no-c1 --json=PATH --md=PATH
//            --wait-quiet=S (10) --wait-quiet-total=S (30): before each run, wait for the rest of the machine to be idle
//            --retry-noisy=N (4): repeat a run disturbed by other work (> 0.3 cores), N times in all at most
//
// Needs nginx, wrk (bash scripts/setup.sh installs both), the build (npm run build:ts) and, for the node-fastcgi
// contender, `npm install --prefix bench/e2e` (done here when missing). Writes bench/e2e/results/e2e-<date>.{json,md}.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { createServer as netServer, connect } from 'node:net';
import { cpus, loadavg, tmpdir, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLK_TCK, cpuUs } from './proc.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = dirname(here);
const e2eDir = join(here, 'e2e');

// ---- options
const opt = Object.fromEntries(process.argv.slice(2).map((a) => {
  const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
  if (!m) { console.error(`unknown argument ${a}`); process.exit(2); }
  return [m[1], m[2] ?? true];
}));
const DURATION = Math.max(1, Math.round(Number(opt.duration ?? 5))); // wrk takes whole seconds
const ROUNDS = Number(opt.rounds ?? 2);
const CONNS = Number(opt.connections ?? 16);
const WARMUP = Math.max(0, Math.round(Number(opt.warmup ?? 1)));
const MIB = 1 << 20;

const SCENARIOS = [
  { id: 'small', name: 'small GET', path: '/small', expect: (b) => b === 'hello world\n' },
  { id: 'get1m', name: '1 MiB GET', path: '/1m', expect: (b) => b.length === MIB },
  { id: 'post1m', name: '1 MiB POST', path: '/upload', post: MIB, expect: (b) => b === `ok ${MIB}\n` },
].filter((s) => !opt.only || String(opt.only).split(',').includes(s.id));

const CONTENDERS = [
  { id: 'cgiwire-fcgi-unix', name: 'cgiwire FastCGI, unix socket', kind: 'cgiwire-fastcgi', via: 'fastcgi', unix: true },
  { id: 'cgiwire-fcgi-tcp', name: 'cgiwire FastCGI, TCP', kind: 'cgiwire-fastcgi', via: 'fastcgi', unix: false },
  { id: 'cgiwire-scgi', name: 'cgiwire SCGI, unix socket', kind: 'cgiwire-scgi', via: 'scgi', unix: true },
  { id: 'node-http', name: 'node:http (proxy_pass, keepalive pool)', kind: 'node-http', via: 'http', unix: false },
  // node:http on the transport of cgiwire's unix contenders, for a like-for-like reading of their ratios.
  { id: 'node-http-unix', name: 'node:http, unix socket (proxy_pass, keepalive pool)', kind: 'node-http', via: 'http', unix: true },
  { id: 'node-fastcgi', name: 'node-fastcgi 2.0.0, unix socket', kind: 'node-fastcgi', via: 'fastcgi', unix: true },
  // The same cgiwire over TCP with its TCP_QUICKACK turned off: what the delayed-ACK fix is worth (uploads only).
  { id: 'cgiwire-fcgi-tcp-noqa', name: 'cgiwire FastCGI, TCP, quickAck: false', kind: 'cgiwire-fastcgi', via: 'fastcgi', unix: false,
    args: ['quickack=off'], only: ['post1m'] },
  // The floor: a minimal FastCGI responder (bench/e2e/floor.mjs, no HTTP objects), what any Node FastCGI server
  // pays at least for the small GET.
  { id: 'floor', name: 'floor: minimal FastCGI responder, unix socket', script: 'floor.mjs', via: 'fastcgi', unix: true, only: ['small'] },
].filter((c) => !opt.contenders || String(opt.contenders).split(',').includes(c.id));
const BASE = 'node-http';

// ---- preconditions
function which(cmd) {
  for (const d of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin'])) if (existsSync(join(d, cmd))) return join(d, cmd);
  return null;
}
const NGINX = which('nginx'), WRK = which('wrk');
if (!NGINX || !WRK) { console.error('bench:e2e needs nginx and wrk: run bash scripts/setup.sh'); process.exit(1); }
if (!existsSync(join(repo, 'dist/index.js'))) { console.error('bench:e2e needs the build: npm run build:ts'); process.exit(1); }
if (CONTENDERS.some((c) => c.kind === 'node-fastcgi') && !existsSync(join(e2eDir, 'node_modules/node-fastcgi'))) {
  console.log('installing node-fastcgi into bench/e2e/ ...');
  const r = spawnSync('npm', ['install', '--prefix', e2eDir, '--no-audit', '--no-fund'], { stdio: 'inherit' });
  if (r.status !== 0) { console.error('npm install --prefix bench/e2e failed'); process.exit(1); }
}

// ---- facts about the run
const { codecName } = await import(join(repo, 'dist/index.js'));
const nginxVersion = spawnSync(NGINX, ['-v'], { encoding: 'utf8' }).stderr.trim().replace(/^nginx version: /, '');
const wrkVersion = spawnSync(WRK, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0].replace(/ Copyright.*/, '');
let commit = 'unknown';
try {
  commit = execFileSync('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  const dirty = execFileSync('git', ['-C', repo, 'status', '--porcelain', 'lib', 'native'], { encoding: 'utf8' }).trim();
  if (dirty) commit += ' (lib/ or native/ modified)';
} catch { /* not a checkout */ }
const machine = {
  date: new Date().toISOString(),
  cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, kernel: release(),
  node: process.version, nginx: nginxVersion, wrk: wrkVersion, codec: codecName, commit,
  loadStart: loadavg().map((x) => x.toFixed(2)).join(' '),
};

// ---- processes
const work = mkdtempSync(join(tmpdir(), 'cgiwire-e2e-'));
chmodSync(work, 0o755);
const children = new Set();
let nginx = null;
function cleanup() {
  // nginx gets SIGTERM (its master then stops its worker); the apps are simply killed.
  for (const c of children) { try { c.kill(c === nginx ? 'SIGTERM' : 'SIGKILL'); } catch { /* gone */ } }
  rmSync(work, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => { console.error(`\n${s}: stopping`); process.exit(130); });

function freePort() {
  return new Promise((resolve, reject) => {
    const s = netServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on('error', reject);
  });
}

/** Starts a contender's app; resolves with its ChildProcess once it printed "ready". */
function startApp(c, extraNodeArgs = []) {
  const app = c.script ? [join(e2eDir, c.script), c.address] : [join(e2eDir, 'app.mjs'), c.kind, c.address, ...(c.args ?? [])];
  const child = spawn(process.execPath, [...extraNodeArgs, ...app],
    { stdio: ['ignore', 'pipe', 'inherit'], cwd: work });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${c.id} did not start within 10 s`)), 10_000);
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('ready\n')) { clearTimeout(timer); child.stdout.removeAllListeners('data'); child.stdout.resume(); resolve(child); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${c.id} exited (${code}) before it was ready`)); });
  });
}

function stopChild(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => { clearTimeout(t); resolve(); });
    child.kill('SIGTERM');
  });
}

function waitPort(port, ms = 10_000) {
  const until = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(); });
      s.once('error', () => { s.destroy(); if (Date.now() > until) reject(new Error(`port ${port} not answering`)); else setTimeout(attempt, 50); });
    };
    attempt();
  });
}


// ---- nginx config
function nginxConfig(contenders) {
  const user = process.getuid?.() === 0 ? `user nobody ${execFileSync('id', ['-gn', 'nobody'], { encoding: 'utf8' }).trim()};` : '';
  const buffers = (m) => `${m}_buffer_size 64k; ${m}_buffers 32 64k; ${m}_busy_buffers_size 256k; ${m}_max_temp_file_size 0;`;
  const blocks = contenders.map((c) => {
    const server = c.unix ? `unix:${c.address}` : `127.0.0.1:${c.address}`;
    const pool = c.via === 'scgi' ? '' : 'keepalive 32; keepalive_requests 1000000; keepalive_timeout 60s;';
    let loc;
    if (c.via === 'fastcgi') loc = `fastcgi_pass up_${c.n}; fastcgi_keep_conn on; include /etc/nginx/fastcgi_params;`;
    else if (c.via === 'scgi') loc = `scgi_pass up_${c.n}; include /etc/nginx/scgi_params;`;
    else loc = `proxy_pass http://up_${c.n}; proxy_http_version 1.1; proxy_set_header Connection "";`;
    return `    # ${c.name}
    upstream up_${c.n} { server ${server}; ${pool} }
    server { listen 127.0.0.1:${c.front}; location / { ${loc} } }`;
  }).join('\n');
  return `# Written by bench/e2e.mjs
${user}
worker_processes 1;
daemon off;
pid ${work}/nginx.pid;
error_log ${work}/error.log warn;
worker_rlimit_nofile 8192;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_timeout 65s;
    keepalive_requests 1000000;
    client_max_body_size 4m;
    client_body_buffer_size 2m;      # a 1 MiB upload stays in memory (the same for every contender)
    client_body_temp_path ${work}/tmp/body;
    proxy_temp_path ${work}/tmp/proxy;
    fastcgi_temp_path ${work}/tmp/fastcgi;
    scgi_temp_path ${work}/tmp/scgi;
    uwsgi_temp_path ${work}/tmp/uwsgi;
    # Responses in memory, never in temp files (the same for every contender)
    ${buffers('fastcgi')}
    ${buffers('scgi')}
    ${buffers('proxy')}
${blocks}
}
`;
}

// ---- wrk
/** Busy CPU of the whole machine so far, in microseconds (all cores; from /proc/stat). */
function machineBusyUs() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  return ((f.reduce((a, b) => a + b, 0) - f[3] - f[4]) * 1e6) / CLK_TCK;
}

/**
 * Other sessions' work on a shared machine skews a run: before each run wait (at most --wait-quiet seconds,
 * default 10; at most --wait-quiet-total seconds in all, default 30) until the rest of the machine uses under 0.25
 * of a core, measured over 0.25 s.
 */
const WAIT_QUIET = Number(opt['wait-quiet'] ?? 10);
const WAIT_QUIET_TOTAL = Number(opt['wait-quiet-total'] ?? 30);
let waitedMs = 0;
async function waitQuiet() {
  const until = Date.now() + Math.min(WAIT_QUIET * 1000, Math.max(0, WAIT_QUIET_TOTAL * 1000 - waitedMs));
  for (;;) {
    const b0 = machineBusyUs(), t = Date.now();
    await new Promise((r) => setTimeout(r, 250));
    const cores = (machineBusyUs() - b0) / ((Date.now() - t) * 1000);
    if (cores < 0.25 || Date.now() >= until) return cores;
    waitedMs += Date.now() - t;
  }
}

function runWrk(port, scenario, { conns = CONNS, duration = DURATION } = {}) {
  const env = { ...process.env };
  if (scenario.post) env.WRK_POST_BYTES = String(scenario.post); else delete env.WRK_POST_BYTES;
  // Through bash, whose `times` gives wrk's own CPU time (its children's line).
  const r = spawnSync('bash', ['-c', '"$@"; rc=$?; times; exit $rc', 'bash', WRK, '-t1', `-c${conns}`, `-d${duration}s`, '--latency',
    '-s', join(e2eDir, 'wrk.lua'), `http://127.0.0.1:${port}${scenario.path}`], { encoding: 'utf8', env, timeout: (duration + 30) * 1000 });
  const lines = (r.stdout ?? '').trim().split('\n');
  const line = lines.filter((l) => l.startsWith('{')).pop();
  if (!line || r.status !== 0) throw new Error(`wrk failed: ${r.stderr || r.stdout || r.error}`);
  const j = JSON.parse(line);
  const e = j.errors;
  j.errorCount = e.connect + e.read + e.write + e.status + e.timeout;
  j.rps = j.requests / (j.duration_us / 1e6);
  const times = /(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$/.exec(lines[lines.length - 1]);
  j.wrkCpuUs = times ? (Number(times[1]) * 60 + Number(times[2]) + Number(times[3]) * 60 + Number(times[4])) * 1e6 : 0;
  return j;
}

/**
 * A measured run during which the rest of the machine used more than NOISY cores is run again after waiting for
 * quiet, at most --retry-noisy times in the whole bench (default 4); the quietest attempt is kept.
 */
const NOISY = 0.3;
let retriesLeft = Number(opt['retry-noisy'] ?? 4);
let retried = 0;
async function measure(c, scenario, opts) {
  let best = await measureOnce(c, scenario, opts);
  while (best.otherCores > NOISY && retriesLeft > 0) {
    retriesLeft--; retried++;
    const again = await measureOnce(c, scenario, opts);
    if (again.otherCores < best.otherCores) best = again;
  }
  return best;
}

/** One measured run: wrk plus the CPU the app, the nginx worker and everything else on the machine spent. */
async function measureOnce(c, scenario, opts) {
  const quietBefore = await waitQuiet();
  const a0 = cpuUs(c.child.pid), n0 = cpuUs(nginxWorker), m0 = machineBusyUs();
  const w = runWrk(c.front, scenario, opts);
  const a1 = cpuUs(c.child.pid), n1 = cpuUs(nginxWorker), m1 = machineBusyUs();
  const other = Math.max(0, (m1 - m0) - (a1 - a0) - (n1 - n0) - w.wrkCpuUs);
  return {
    rps: w.rps, requests: w.requests, errors: w.errorCount, errorDetail: w.errors, lat: w.latency_us,
    appUsPerReq: w.requests ? (a1 - a0) / w.requests : NaN,
    nginxUsPerReq: w.requests ? (n1 - n0) / w.requests : NaN,
    wrkUsPerReq: w.requests ? w.wrkCpuUs / w.requests : NaN,
    // Cores used by anything else during the run (other sessions, the kernel's softirq time on no one's account).
    otherCores: other / w.duration_us, quietBefore,
  };
}

async function check(c, scenario) {
  const init = scenario.post ? { method: 'POST', body: Buffer.alloc(scenario.post, 'x') } : {};
  const res = await fetch(`http://127.0.0.1:${c.front}${scenario.path}`, init);
  const body = await res.text();
  if (res.status !== 200 || !scenario.expect(body)) {
    throw new Error(`${c.id} ${scenario.name}: status ${res.status}, body ${JSON.stringify(body.slice(0, 80))} (${body.length} bytes)`);
  }
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : 'n/a');
const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(0)}s`;

// ---- start everything
mkdirSync(join(work, 'tmp'));
let n = 0;
for (const c of CONTENDERS) {
  c.n = n++;
  c.address = c.unix ? join(work, `${c.id}.sock`) : String(await freePort());
  c.front = await freePort();
}
console.log(`bench:e2e  ${machine.cpu}, ${machine.cores} cores; Node ${machine.node}; ${machine.nginx}; ${machine.wrk}; codec ${machine.codec}; load ${machine.loadStart}`);
console.log(`wrk -t1 -c${CONNS} -d${DURATION}s, ${ROUNDS} rounds, contenders alternated; work dir ${work}`);
for (const c of CONTENDERS) c.child = await startApp(c);
writeFileSync(join(work, 'nginx.conf'), nginxConfig(CONTENDERS));
nginx = spawn(NGINX, ['-p', work, '-c', join(work, 'nginx.conf'), '-e', join(work, 'error.log')], { stdio: 'inherit' });
children.add(nginx);
for (const c of CONTENDERS) await waitPort(c.front);
const nginxWorker = Number(readFileSync(`/proc/${nginx.pid}/task/${nginx.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
if (!nginxWorker) throw new Error('no nginx worker found');
const checkFailures = [];
for (const c of CONTENDERS) {
  for (const s of SCENARIOS.filter((sc) => !c.only || c.only.includes(sc.id))) {
    try {
      await check(c, s);
    } catch (err) {
      // A wrong answer from cgiwire or node:http stops the bench; node-fastcgi's are reported (it is known to fail).
      if (c.id !== 'node-fastcgi') throw err;
      checkFailures.push(err.message);
      console.log(`  warning: ${err.message}`);
    }
  }
}
console.log(`all ${CONTENDERS.length} contenders answer all ${SCENARIOS.length} scenarios correctly through nginx [${elapsed()}]`);

// ---- main matrix
const results = {}; // scenario id -> contender id -> [runs]
const runsIn = (s) => CONTENDERS.filter((c) => !c.only || c.only.includes(s.id));
for (const s of SCENARIOS) {
  results[s.id] = {};
  for (const c of runsIn(s)) {
    results[s.id][c.id] = [];
    if (WARMUP > 0) runWrk(c.front, s, { duration: WARMUP });
  }
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? runsIn(s) : [...runsIn(s)].reverse();
    for (const c of order) {
      const m = await measure(c, s);
      results[s.id][c.id].push(m);
      console.log(`  ${s.name.padEnd(10)} r${r + 1} ${c.id.padEnd(18)} ${fmt(m.rps).padStart(7)} req/s  p99 ${fmt(m.lat.p99 / 1000, 2).padStart(6)} ms` +
        `  app ${fmt(m.appUsPerReq, 1).padStart(6)} us/req  nginx ${fmt(m.nginxUsPerReq, 1).padStart(6)} us/req  other ${fmt(m.otherCores, 2)} cores${m.errors ? `  ERRORS ${JSON.stringify(m.errorDetail)}` : ''}  [${elapsed()}]`);
    }
  }
}
const summary = {};
for (const s of SCENARIOS) {
  summary[s.id] = {};
  for (const c of runsIn(s)) {
    const runs = results[s.id][c.id];
    summary[s.id][c.id] = {
      rps: median(runs.map((m) => m.rps)),
      // half the range over rounds, in % of the median: how far apart the rounds were
      spreadPct: (50 * (Math.max(...runs.map((m) => m.rps)) - Math.min(...runs.map((m) => m.rps)))) / median(runs.map((m) => m.rps)),
      p99ms: median(runs.map((m) => m.lat.p99)) / 1000,
      appUs: median(runs.map((m) => m.appUsPerReq)), nginxUs: median(runs.map((m) => m.nginxUsPerReq)),
      errors: runs.reduce((a, m) => a + m.errors, 0),
      otherCoresMax: Math.max(...runs.map((m) => m.otherCores)),
    };
  }
  const base = summary[s.id][BASE]?.rps;
  for (const c of runsIn(s)) summary[s.id][c.id].ratio = base ? summary[s.id][c.id].rps / base : NaN;
}

// ---- 1 MiB POST at -c1: the delayed-ACK question (TCP vs unix socket)
const c1 = [];
const post = { id: 'post1m', name: '1 MiB POST', path: '/upload', post: MIB };
if (!opt['no-c1']) {
  const who = CONTENDERS.filter((c) => ['cgiwire-fcgi-tcp', 'cgiwire-fcgi-tcp-noqa', 'cgiwire-fcgi-unix', 'node-http'].includes(c.id));
  console.log(`1 MiB POST at -c1 [${elapsed()}]`);
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of r % 2 === 0 ? who : [...who].reverse()) {
      const m = await measure(c, post, { conns: 1 });
      c1.push({ id: c.id, round: r + 1, ...m });
      console.log(`  -c1 r${r + 1} ${c.id.padEnd(18)} ${fmt(m.rps).padStart(6)} req/s  p50 ${fmt(m.lat.p50 / 1000, 2)} ms  p90 ${fmt(m.lat.p90 / 1000, 2)} ms  p99 ${fmt(m.lat.p99 / 1000, 2)} ms  max ${fmt(m.lat.max / 1000, 1)} ms  other ${fmt(m.otherCores, 2)} cores`);
    }
  }
}

// ---- targets (one cgiwire process)
const get = (s, c, k) => summary[s]?.[c]?.[k];
const targets = [];
const target = (what, value, ok, unit = 'x') => { if (value !== undefined && Number.isFinite(value)) targets.push({ what, value, ok, unit }); };
for (const [cid, label] of [['cgiwire-fcgi-unix', 'FastCGI keep-conn, unix'], ['cgiwire-fcgi-tcp', 'FastCGI keep-conn, TCP']]) {
  target(`${label}: small GET >= 1.25x node:http`, get('small', cid, 'ratio'), get('small', cid, 'ratio') >= 1.25);
  target(`${label}: 1 MiB GET >= 1.0x node:http`, get('get1m', cid, 'ratio'), get('get1m', cid, 'ratio') >= 1.0);
  target(`${label}: 1 MiB POST >= 1.3x node:http`, get('post1m', cid, 'ratio'), get('post1m', cid, 'ratio') >= 1.3);
  target(`${label}: app CPU per small request <= 30 us`, get('small', cid, 'appUs'), get('small', cid, 'appUs') <= 30, 'us');
}
for (const s of SCENARIOS) target(`SCGI: ${s.name} >= 1.0x node:http`, get(s.id, 'cgiwire-scgi', 'ratio'), get(s.id, 'cgiwire-scgi', 'ratio') >= 1.0);
const missed = targets.filter((t) => !t.ok);

// ---- CPU profiles of cgiwire during a small-GET run: FastCGI (unix) when a FastCGI target was missed, SCGI when
// an SCGI target was (or both with --profile). The app is restarted under --cpu-prof on the same socket.
const profiles = [];
const small = SCENARIOS.find((s) => s.id === 'small') ?? { id: 'small', name: 'small GET', path: '/small' };
const profWanted = [
  ['cgiwire-fcgi-unix', missed.some((t) => t.what.startsWith('FastCGI'))],
  ['cgiwire-scgi', missed.some((t) => t.what.startsWith('SCGI'))],
];
for (const [cid, wanted] of profWanted) {
  const pc = CONTENDERS.find((c) => c.id === cid);
  if (!pc || opt['no-profile'] || !(opt.profile || wanted)) continue;
  console.log(`CPU profile of ${pc.id} during a small-GET run [${elapsed()}]`);
  await stopChild(pc.child);
  const profDir = join(work, `prof-${cid}`);
  mkdirSync(profDir);
  pc.child = await startApp(pc, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--cpu-prof-interval=100']);
  runWrk(pc.front, small, { duration: WARMUP || 1 });
  const m = await measure(pc, small);
  await stopChild(pc.child);
  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) continue;
  const keep = join(e2eDir, 'results', `profile-${cid}-${machine.date.replace(/[:.]/g, '-').slice(0, 19)}.cpuprofile`);
  mkdirSync(dirname(keep), { recursive: true });
  writeFileSync(keep, readFileSync(join(profDir, file)));
  profiles.push({ id: cid, name: pc.name, file: keep.slice(repo.length + 1), rps: m.rps, appUs: m.appUsPerReq,
    ...summariseProfile(JSON.parse(readFileSync(keep, 'utf8'))) });
}

/** Self time per function (and per category) from a .cpuprofile. */
function summariseProfile(p) {
  const byId = new Map(p.nodes.map((nd) => [nd.id, nd]));
  const self = new Map();
  for (let i = 0; i < p.samples.length; i++) {
    const nd = byId.get(p.samples[i]);
    const dt = p.timeDeltas[i + 1] ?? 0; // the time until the next sample belongs to this one
    const cf = nd.callFrame;
    const where = cf.url ? `${cf.url.replace(/^file:\/\//, '').replace(repo + '/', '')}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName || '(anonymous)'}\t${where}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const idle = [...self.entries()].filter(([k]) => k.startsWith('(idle)')).reduce((a, [, v]) => a + v, 0);
  const busy = total - idle;
  const cat = { 'cgiwire (dist/)': 0, 'node internals': 0, 'native, GC, (program)': 0, 'bench app': 0 };
  for (const [k, v] of self) {
    if (k.startsWith('(idle)')) continue;
    const where = k.split('\t')[1];
    if (where.startsWith('dist/')) cat['cgiwire (dist/)'] += v;
    else if (where.startsWith('node:')) cat['node internals'] += v;
    else if (where.startsWith('bench/')) cat['bench app'] += v;
    else cat['native, GC, (program)'] += v;
  }
  const top = [...self.entries()].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, 20)
    .map(([k, v]) => { const [fn, where] = k.split('\t'); return { fn, where, ms: v / 1000, pct: (100 * v) / busy }; });
  return { busyMs: busy / 1000, idlePct: (100 * idle) / total, categories: Object.fromEntries(Object.entries(cat).map(([k, v]) => [k, (100 * v) / busy])), top };
}

// ---- stop, report
for (const c of CONTENDERS) await stopChild(c.child);
await new Promise((resolve) => {
  const t = setTimeout(() => { nginx.kill('SIGTERM'); resolve(); }, 5000);
  nginx.once('exit', () => { clearTimeout(t); resolve(); });
  nginx.kill('SIGQUIT');
});
// nginx's error log, grouped by message (node-fastcgi's errors show up here as upstream faults)
const nginxErrors = [];
try {
  const counts = new Map();
  for (const line of readFileSync(join(work, 'error.log'), 'utf8').split('\n')) {
    const m = /\[(warn|error|crit|alert|emerg)\] \d+#\d+: (?:\*\d+ )?([^,]*)/.exec(line);
    if (!m) continue;
    const up = /upstream: "([^"]*)"/.exec(line);
    const port = up ? CONTENDERS.find((c) => up[1].includes(c.unix ? c.address : `127.0.0.1:${c.address}`))?.id ?? up[1] : '';
    const key = `[${m[1]}] ${m[2]}${port ? ` (${port})` : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  nginxErrors.push(...[...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8));
} catch { /* no log */ }
machine.loadEnd = loadavg().map((x) => x.toFixed(2)).join(' ');
machine.seconds = Math.round((Date.now() - t0) / 1000);
machine.waitedForQuietS = Math.round(waitedMs / 1000);
machine.noisyRunsRepeated = retried;
const allRuns = [...Object.values(results).flatMap((byC) => Object.values(byC).flat()), ...c1];
machine.otherCoresMedian = median(allRuns.map((m) => m.otherCores));
machine.otherCoresMax = Math.max(...allRuns.map((m) => m.otherCores));

const md = [];
md.push(`Run: ${machine.date}; ${machine.cpu}, ${machine.cores} cores, Linux ${machine.kernel}; Node ${machine.node}; ${machine.nginx} (1 worker); ${machine.wrk}; cgiwire ${machine.commit}, ${machine.codec} codec. ` +
  `wrk -t1 -c${CONNS} -d${DURATION}s --latency, ${ROUNDS} rounds (contenders alternated; median), ${WARMUP} s warm-up per contender and scenario. Load average ${machine.loadStart} at start, ${machine.loadEnd} at end; ${machine.seconds} s in all. ` +
  `Other work on the machine during the runs (CPU not spent by the app, the nginx worker or wrk): median ${fmt(machine.otherCoresMedian, 2)}, ` +
  `max ${fmt(machine.otherCoresMax, 2)} cores; ${machine.waitedForQuietS} s spent waiting for a quiet machine, ${machine.noisyRunsRepeated} noisy run(s) repeated.`);
md.push('');
md.push(`| contender | ${SCENARIOS.map((s) => `${s.name} req/s ±half-range (x node:http)`).join(' | ')} |`);
md.push(`|---|${SCENARIOS.map(() => '---:').join('|')}|`);
for (const c of CONTENDERS) md.push(`| ${c.name} | ${SCENARIOS.map((s) => { const v = summary[s.id][c.id]; return v === undefined ? '' : `${fmt(v.rps)} ±${fmt(v.spreadPct, 0)}% (**${fmt(v.ratio, 2)}**)${v.errors ? ` ${v.errors} errors` : ''}`; }).join(' | ')} |`);
md.push('');
md.push(`| contender | ${SCENARIOS.map((s) => `${s.name}: p99 ms / app us / nginx us per req`).join(' | ')} |`);
md.push(`|---|${SCENARIOS.map(() => '---:').join('|')}|`);
for (const c of CONTENDERS) md.push(`| ${c.name} | ${SCENARIOS.map((s) => { const v = summary[s.id][c.id]; return v === undefined ? '' : `${fmt(v.p99ms, 2)} / ${fmt(v.appUs, 1)} / ${fmt(v.nginxUs, 1)}`; }).join(' | ')} |`);
md.push('');
md.push('Targets (one cgiwire process):');
md.push('');
md.push('| target | measured | |');
md.push('|---|---:|---|');
for (const t of targets) md.push(`| ${t.what} | ${fmt(t.value, t.unit === 'us' ? 1 : 2)}${t.unit === 'us' ? ' us' : 'x'} | ${t.ok ? 'hit' : '**miss**'} |`);
if (c1.length) {
  md.push('');
  md.push('1 MiB POST at -c1 (one connection; delayed-ACK stalls show as p90/p99 near 40 ms):');
  md.push('');
  md.push('| contender | round | req/s | p50 ms | p90 ms | p99 ms | max ms | app us/req |');
  md.push('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of c1) md.push(`| ${r.id} | ${r.round} | ${fmt(r.rps)} | ${fmt(r.lat.p50 / 1000, 2)} | ${fmt(r.lat.p90 / 1000, 2)} | ${fmt(r.lat.p99 / 1000, 2)} | ${fmt(r.lat.max / 1000, 1)} | ${fmt(r.appUsPerReq, 0)} |`);
}
for (const profile of profiles) {
  md.push('');
  md.push(`CPU profile of ${profile.name} during a small-GET run (${fmt(profile.rps)} req/s with the profiler on, ${fmt(profile.appUs, 1)} us app CPU per request; ` +
    `${fmt(profile.busyMs)} ms busy, ${fmt(profile.idlePct, 0)}% idle; ${profile.file}). Self time by kind: ` +
    Object.entries(profile.categories).map(([k, v]) => `${k} ${fmt(v, 0)}%`).join(', ') + '.');
  md.push('');
  md.push('| self % of busy | function | where |');
  md.push('|---:|---|---|');
  for (const t of profile.top) md.push(`| ${fmt(t.pct, 1)} | ${t.fn} | ${t.where} |`);
}
if (checkFailures.length) {
  md.push('');
  md.push(`Answers checked before timing that were wrong: ${checkFailures.join('; ')}.`);
}
if (nginxErrors.length) {
  md.push('');
  md.push('nginx error log (warn and above), by message:');
  md.push('');
  for (const [msg, count] of nginxErrors) md.push(`- ${count} x ${msg}`);
}
const report = md.join('\n') + '\n';
const stamp = machine.date.replace(/[:.]/g, '-').slice(0, 19);
const jsonPath = typeof opt.json === 'string' ? opt.json : join(e2eDir, 'results', `e2e-${stamp}.json`);
const mdPath = typeof opt.md === 'string' ? opt.md : join(e2eDir, 'results', `e2e-${stamp}.md`);
mkdirSync(dirname(jsonPath), { recursive: true });
mkdirSync(dirname(mdPath), { recursive: true });
writeFileSync(jsonPath, JSON.stringify({ machine, options: { DURATION, ROUNDS, CONNS, WARMUP }, results, summary, c1, targets, profiles, nginxErrors, checkFailures }, null, 1));
writeFileSync(mdPath, report);
console.log('\n' + report);
console.log(`written: ${jsonPath.replace(repo + '/', '')}, ${mdPath.replace(repo + '/', '')}`);
process.exit(0);
