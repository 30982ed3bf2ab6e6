// The load of bench/client.mjs for one client contender, in a process of its own: N workers in a closed loop
// (each sends its next request when the previous one has completed), first for the warm-up, then for the
// measured window. Every response is checked (status, body); a wrong one or a failure counts as an error.
//
//   node bench/client/driver.mjs '<json config>'
//   config: { kind: 'cgiwire' | 'fastcgi-client' | 'node-phpfpm', host, port, params, docroot, script,
//             concurrency, warmup (s), duration (s), options (the contender's own options), expect }
//
// Prints "start" and "stop" lines around the measured window (the bench samples other processes' CPU there),
// then one JSON line: requests completed in the window, errors by message, latency percentiles, the CPU time
// this process spent in the window.
import { createRequire } from 'node:module';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';

const cfg = JSON.parse(process.argv[2]);
const require = createRequire(new URL('./package.json', import.meta.url));
const REQUEST_TIMEOUT_MS = 10_000;
const EXPECT = cfg.expect;

/** What each contender does for one request: resolves null when the answer is right, else what was wrong. */
async function makeContender() {
  if (cfg.kind === 'cgiwire') {
    const { Client } = await import('../../dist/index.js');
    const client = new Client({ address: `${cfg.host}:${cfg.port}`, timeout: REQUEST_TIMEOUT_MS, ...cfg.options });
    return {
      async one() {
        const res = await client.request({ params: cfg.params });
        const body = await res.text();
        if (res.status !== 200 || body !== EXPECT) return `status ${res.status}, body ${JSON.stringify(body.slice(0, 60))}`;
        return null;
      },
      close: () => client.close(),
      stats: () => client.stats,
    };
  }
  if (cfg.kind === 'fastcgi-client') {
    // The GET_VALUES check is skipped: PHP-FPM answers FCGI_MAX_CONNS = pm.max_children, which would become
    // the client's hard limit (it fails requests beyond it instead of queueing them). maxConns is set instead.
    const fc = require('fastcgi-client')({ host: cfg.host, port: cfg.port, skipCheckServer: true, mpxsConns: false, ...cfg.options });
    fc.on('error', () => {}); // reported per request
    await once(fc, 'ready');
    return {
      one: () => new Promise((resolve) => {
        fc.request(cfg.params, (err, req) => {
          if (err) return resolve(err.message);
          const parts = [];
          req.stdout.on('data', (d) => parts.push(d));
          req.stderr.resume();
          req.stdout.on('end', () => {
            const exit = req.getExitStatus();
            if (exit instanceof Error) return resolve(exit.message);
            const out = Buffer.concat(parts).toString('latin1');
            const at = out.indexOf('\r\n\r\n');
            const head = at === -1 ? '' : out.slice(0, at);
            const body = at === -1 ? out : out.slice(at + 4);
            const status = /^Status: (\d+)/mi.exec(head);
            if (at === -1 || (status && status[1] !== '200') || body !== EXPECT || exit !== 0) {
              return resolve(`exit ${exit}, head ${JSON.stringify(head.slice(0, 60))}, body ${JSON.stringify(body.slice(0, 60))}`);
            }
            resolve(null);
          });
          req.stdin.end();
        });
      }),
      close: () => {},
    };
  }
  if (cfg.kind === 'node-phpfpm') {
    const PHPFPM = require('node-phpfpm');
    // Its options go to the fastcgi-client 0.0.1 it bundles (the check is always skipped there): maxConns too.
    const php = new PHPFPM({ host: cfg.host, port: cfg.port, documentRoot: cfg.docroot + '/', ...cfg.options });
    return {
      one: () => new Promise((resolve) => {
        php.run(cfg.script, (err, output) => {
          if (err) return resolve(`error ${err}: ${String(output).slice(0, 80)}`);
          resolve(output === EXPECT ? null : `body ${JSON.stringify(String(output).slice(0, 60))}`);
        });
      }),
      close: () => {},
    };
  }
  throw new Error(`driver.mjs: unknown kind ${cfg.kind}`);
}

/** One request, bounded: a request that never completes counts as an error after REQUEST_TIMEOUT_MS. */
function bounded(contender) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(`no answer within ${REQUEST_TIMEOUT_MS} ms`), REQUEST_TIMEOUT_MS);
    contender.one().then((r) => { clearTimeout(timer); resolve(r); },
      (err) => { clearTimeout(timer); resolve(`${err.code ?? err.name}: ${err.message}`); });
  });
}

/** Runs the closed loop for `seconds`; counts what completed inside the window. */
async function run(contender, seconds, record) {
  const start = performance.now();
  const until = start + seconds * 1000;
  const stats = { ok: 0, errors: new Map(), lat: [] };
  const worker = async () => {
    while (performance.now() < until) {
      const t = performance.now();
      const err = await bounded(contender);
      const end = performance.now();
      if (end > until) break;
      if (err === null) {
        stats.ok++;
        if (record) stats.lat.push(end - t);
      } else {
        stats.errors.set(err, (stats.errors.get(err) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 1)); // a contender failing at once must not spin the loop
      }
    }
  };
  await Promise.all(Array.from({ length: cfg.concurrency }, worker));
  return stats;
}

const contender = await makeContender();
const check = await bounded(contender); // one request alone first: is the answer right at all?
if (cfg.warmup > 0) await run(contender, cfg.warmup, false);
process.stdout.write('start\n');
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const stats = await run(contender, cfg.duration, true);
const cpu = process.cpuUsage(cpu0);
const elapsed = Math.min(performance.now() - t0, cfg.duration * 1000 + REQUEST_TIMEOUT_MS);
process.stdout.write('stop\n');
const lat = stats.lat.sort((a, b) => a - b);
const pct = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] : NaN);
const errorCount = [...stats.errors.values()].reduce((a, b) => a + b, 0);
process.stdout.write(JSON.stringify({
  kind: cfg.kind, ok: stats.ok, errorCount, errors: Object.fromEntries([...stats.errors].slice(0, 5)),
  check, rps: stats.ok / cfg.duration, windowMs: elapsed,
  p50ms: pct(50), p99ms: pct(99), maxMs: lat.length ? lat[lat.length - 1] : NaN,
  clientCpuUsPerReq: stats.ok ? (cpu.user + cpu.system) / stats.ok : NaN,
  clientCores: (cpu.user + cpu.system) / (cfg.duration * 1000 * 1000),
  // cgiwire: the connections its pool holds at the end of the window (the multiplexed run should hold one)
  connections: contender.stats?.().connections,
}) + '\n');
// Close what can be closed quickly, but never wait long for it.
setTimeout(() => process.exit(0), 2000).unref();
try { await contender.close(); } catch { /* leaving anyway */ }
process.exit(0);
