/**
 * lighttpd mod_fastcgi with bin-path: lighttpd spawns the app (spawned-app.mjs, on dist/) with the listening
 * unix socket on fd 0, and the app serves it with listen() and no address (spawn mode).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startLighttpd, type WebServer } from '../helpers/servers.js';
import { request } from './client.js';
import { frontEndSuite } from './suite.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SPAWNED_APP = join(ROOT, 'test', 'integration', 'spawned-app.mjs');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** The spawned app runs on dist/: build it (tsc, ~10 s) when it is missing or older than lib/. */
function ensureDist(): void {
  const built = join(ROOT, 'dist', 'index.js');
  const stale = !existsSync(built) || statSync(built).mtimeMs < newestMtime(join(ROOT, 'lib'));
  if (!stale) return;
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.json')], { cwd: ROOT, stdio: 'pipe', timeout: 120_000 });
  } catch (err) {
    // tsc emits even with type errors; only a missing output is fatal.
    if (!existsSync(built)) throw new Error(`building dist/ failed: ${(err as { stdout?: Buffer }).stdout?.toString() ?? err}`);
  }
}

describe.each(['native', 'js'])('lighttpd mod_fastcgi bin-path (spawn mode) -> cgiwire FastCGI (%s codec)', { timeout: 60_000 }, (codecName) => {
  let lighttpd: WebServer;

  beforeAll(async () => {
    ensureDist();
    lighttpd = await startLighttpd({
      binPath: `${process.execPath} ${SPAWNED_APP}`,
      binEnvironment: { CGIWIRE_CODEC: codecName },
    });
  }, 150_000);

  afterAll(async () => {
    await lighttpd?.stop();
  }, 30_000);

  test('the app was spawned by lighttpd and serves the listening socket on fd 0', async () => {
    const r = await request(lighttpd.url, '/info/spawned');
    expect(r.status, lighttpd.logs()).toBe(200);
    expect(lighttpd.logs()).toMatch(new RegExp(`spawned-app: pid \\d+ serving fd 0, codec ${codecName}`));
  });

  frontEndSuite({
    base: () => lighttpd.url,
    logs: () => lighttpd.logs(),
  });
});
