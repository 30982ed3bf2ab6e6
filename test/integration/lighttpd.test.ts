/**
 * lighttpd mod_fastcgi with bin-path: lighttpd spawns the app (spawned-app.mjs, on dist/) with the listening
 * unix socket on fd 0, and the app serves it with listen() and no address (spawn mode).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startLighttpd, type WebServer } from '../helpers/servers.js';
import { request } from './client.js';
import { frontEndSuite } from './suite.js';
import { ensureDist, ROOT } from '../helpers/build.js';

const SPAWNED_APP = join(ROOT, 'test', 'integration', 'spawned-app.mjs');

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
