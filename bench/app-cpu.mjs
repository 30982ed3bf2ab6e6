// The app's CPU per small GET, cgiwire FastCGI against node:http, measured in ONE server process.
//
// bench/e2e.mjs measures each contender in its own process behind nginx; on this 2-core shared machine the
// speed of a process swings by 2x from one minute to the next, which hides differences of a few microseconds.
// Here one process serves both, on two unix sockets, with the handler bench:e2e serves (bench/e2e/handler.mjs),
// and the two are driven in turn, a second or two each, for many pairs: both share the process's code, heap
// and phase of the machine. The drivers send what nginx sends in bench/e2e.mjs (FastCGI: BEGIN_REQUEST with
// KEEP_CONN, nginx's fastcgi_params for GET /small plus HTTP_HOST, the empty STDIN; HTTP: proxy_pass's
// "GET /small HTTP/1.1" with Host), each connection with one request in flight. The server's CPU comes from
// /proc; no web server runs, so the figure is the app's own cost and its ratio to node:http's.
//
//   node bench/app-cpu.mjs [--pairs=12] [--seconds=1.5] [--connections=16] [--json=PATH | --no-json]
//
// Needs the build (npm run build:ts).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuUs } from './proc.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..');
const opt = Object.fromEntries(process.argv.slice(2).map((a) => {
  const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
  if (!m) { console.error(`unknown argument ${a}`); process.exit(2); }
  return [m[1], m[2] ?? true];
}));
const PAIRS = Number(opt.pairs ?? 12);
const SECONDS = Number(opt.seconds ?? 1.5);
const CONNS = Number(opt.connections ?? 16);

// ---- the server: `node bench/app-cpu.mjs --serve=DIR` --------------------------------------------------
if (opt.serve) {
  const http = await import('node:http');
  const { createServer } = await import(join(repo, 'dist/index.js'));
  const { handler } = await import('./e2e/handler.mjs');
  const node = http.createServer(handler);
  node.keepAliveTimeout = 65_000;
  await new Promise((r) => createServer(handler).listen(join(opt.serve, 'cgiwire.sock'), r));
  await new Promise((r) => node.listen(join(opt.serve, 'node.sock'), r));
  process.stdout.write('ready\n');
  process.on('SIGTERM', () => process.exit(0));
  await new Promise(() => {});
}

// ---- the drivers (in this process; the server is a child) ---------------------------------------------
const { encodeBeginRequest, encodeParams, encodeStreamEnd } = await import(join(repo, 'dist/codec/encode.js'));
// What nginx 1.22's fastcgi_params gives for bench/e2e.mjs's GET /small, then HTTP_HOST.
const PARAMS = [['QUERY_STRING', ''], ['REQUEST_METHOD', 'GET'], ['CONTENT_TYPE', ''], ['CONTENT_LENGTH', ''],
  ['SCRIPT_NAME', '/small'], ['REQUEST_URI', '/small'], ['DOCUMENT_URI', '/small'], ['DOCUMENT_ROOT', '/usr/share/nginx/html'],
  ['SERVER_PROTOCOL', 'HTTP/1.1'], ['REQUEST_SCHEME', 'http'], ['GATEWAY_INTERFACE', 'CGI/1.1'], ['SERVER_SOFTWARE', 'nginx/1.22.1'],
  ['REMOTE_ADDR', '127.0.0.1'], ['REMOTE_PORT', '40312'], ['SERVER_ADDR', '127.0.0.1'], ['SERVER_PORT', '20001'],
  ['SERVER_NAME', ''], ['REDIRECT_STATUS', '200'], ['HTTP_HOST', '127.0.0.1:20001']];
const FASTCGI_GET = Buffer.concat([encodeBeginRequest(1, 1, 1), encodeParams(1, PARAMS), encodeStreamEnd(5, 1)]);
const HTTP_GET = Buffer.from('GET /small HTTP/1.1\r\nHost: up_1\r\n\r\n', 'latin1');
const BODY = 'hello world\n';

/** Answers counted on one connection: END_REQUEST records (FastCGI) or response bodies (HTTP). */
function answerCounter(kind) {
  if (kind === 'fastcgi') {
    let carry = null;
    return (chunk) => {
      if (carry !== null) { chunk = Buffer.concat([carry, chunk]); carry = null; }
      let n = 0, at = 0;
      while (at + 8 <= chunk.length) {
        const end = at + 8 + chunk.readUInt16BE(at + 4) + chunk[at + 6];
        if (end > chunk.length) break;
        if (chunk[at + 1] === 3) n++;
        at = end;
      }
      if (at < chunk.length) carry = Buffer.from(chunk.subarray(at));
      return n;
    };
  }
  let tail = '';
  return (chunk) => {
    const text = tail + chunk.latin1Slice(0, chunk.length);
    let n = 0, at = -1;
    while ((at = text.indexOf(BODY, at + 1)) >= 0) n++;
    tail = text.slice(-(BODY.length - 1));
    return n;
  };
}

/** Drives one server socket for `seconds`; returns requests per second and server CPU us per request. */
async function drive(kind, path, serverPid, seconds) {
  const request = kind === 'fastcgi' ? FASTCGI_GET : HTTP_GET;
  let answered = 0, stop = false;
  const sockets = [];
  await Promise.all(Array.from({ length: CONNS }, () => new Promise((resolve, reject) => {
    const s = connect(path);
    const count = answerCounter(kind);
    s.on('data', (chunk) => {
      const n = count(chunk);
      answered += n;
      for (let i = 0; i < n; i++) if (!stop) s.write(request);
    });
    s.once('error', reject);
    s.once('connect', () => { s.write(request); resolve(); });
    sockets.push(s);
  })));
  await new Promise((r) => setTimeout(r, 200)); // warm-up
  const a0 = answered, c0 = cpuUs(serverPid), t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const a1 = answered, c1 = cpuUs(serverPid), t1 = process.hrtime.bigint();
  stop = true;
  for (const s of sockets) s.destroy();
  const n = a1 - a0;
  if (n === 0) throw new Error(`${kind}: no answers in ${seconds} s`);
  return { rps: n / (Number(t1 - t0) / 1e9), cpuUs: (c1 - c0) / n };
}

if (!existsSync(join(repo, 'dist/index.js'))) { console.error('bench/app-cpu.mjs needs the build: npm run build:ts'); process.exit(1); }
const dir = mkdtempSync(join(tmpdir(), 'cgiwire-app-cpu-'));
const server = spawn(process.execPath, [fileURLToPath(import.meta.url), `--serve=${dir}`], { stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise((resolve, reject) => {
  server.stdout.once('data', resolve);
  server.once('exit', (code) => reject(new Error(`server exited (${code})`)));
});
const contenders = [
  { id: 'cgiwire', name: 'cgiwire FastCGI', kind: 'fastcgi', path: join(dir, 'cgiwire.sock') },
  { id: 'node-http', name: 'node:http', kind: 'http', path: join(dir, 'node.sock') },
];
const started = new Date();
const load0 = loadavg();
const rounds = [];
try {
  for (const c of contenders) await drive(c.kind, c.path, server.pid, 1); // warm both up
  for (let i = 0; i < PAIRS; i++) {
    const order = i % 2 === 0 ? contenders : [...contenders].reverse();
    const row = {};
    for (const c of order) row[c.id] = await drive(c.kind, c.path, server.pid, SECONDS);
    rounds.push(row);
    console.log(`pair ${String(i + 1).padStart(2)}: cgiwire ${row.cgiwire.cpuUs.toFixed(1)} us/req, node:http ${row['node-http'].cpuUs.toFixed(1)} us/req, ratio ${(row.cgiwire.cpuUs / row['node-http'].cpuUs).toFixed(2)}`);
  }
} finally {
  server.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const ratios = rounds.map((r) => r.cgiwire.cpuUs / r['node-http'].cpuUs);
const summary = {
  cgiwireUs: median(rounds.map((r) => r.cgiwire.cpuUs)),
  nodeHttpUs: median(rounds.map((r) => r['node-http'].cpuUs)),
  ratio: median(ratios),
  cgiwireCheaperIn: ratios.filter((x) => x < 1).length,
};
const machine = `${cpus()[0].model}, ${cpus().length} cores; Node ${process.version}; load average ${load0.map((x) => x.toFixed(2)).join(' ')} at start, ${loadavg().map((x) => x.toFixed(2)).join(' ')} at end`;
console.log(`\n${started.toISOString()}; ${machine}; ${PAIRS} pairs of ${SECONDS} s, ${CONNS} connections, one request in flight each`);
console.log(`app CPU per small GET (medians): cgiwire FastCGI ${summary.cgiwireUs.toFixed(1)} us, node:http ${summary.nodeHttpUs.toFixed(1)} us; ` +
  `cgiwire / node:http ${summary.ratio.toFixed(2)} (median of the pairs' ratios; cgiwire cheaper in ${summary.cgiwireCheaperIn} of ${PAIRS})`);
if (opt.json !== undefined || !opt['no-json']) {
  const out = typeof opt.json === 'string' ? opt.json : join(here, 'results', `app-cpu-${started.toISOString().replace(/[:.]/g, '-').slice(0, 19)}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ date: started.toISOString(), machine, options: { PAIRS, SECONDS, CONNS }, rounds, summary }, null, 2));
  console.log(`written: ${out}`);
}
