/**
 * nginx fastcgi_pass (upstream keepalive, fastcgi_keep_conn on) to an in-process cgiwire FastCGI server,
 * on each codec.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CODECS } from '../helpers/codecs.js';
import { startNginx, type NginxServer } from '../helpers/servers.js';
import { request } from './client.js';
import { startApp, type AppServer } from './inprocess.js';
import { frontEndSuite } from './suite.js';

describe.each(CODECS)('nginx fastcgi_pass -> cgiwire FastCGI ($name codec)', { timeout: 60_000 }, ({ codec }) => {
  let app: AppServer;
  let nginx: NginxServer;

  beforeAll(async () => {
    app = await startApp({ protocol: 'fastcgi' }, codec);
    nginx = await startNginx({ fastcgiPort: app.port });
  }, 30_000);

  afterAll(async () => {
    await nginx?.stop();
    await app?.close();
  }, 30_000);

  frontEndSuite({
    base: () => nginx.urls.fastcgi!,
    logs: () => nginx.logs(),
    activeRequests: () => app.server.activeRequests,
  });

  test('sequential requests reuse the upstream connection (keepalive, KEEP_CONN)', async () => {
    let connections = 0;
    const count = (): void => { connections++; };
    app.server.on('connection', count);
    try {
      for (let i = 0; i < 20; i++) {
        const r = await request(nginx.urls.fastcgi!, `/info/reuse-${i}`);
        expect(r.status).toBe(200);
      }
    } finally {
      app.server.off('connection', count);
    }
    expect(connections).toBeLessThanOrEqual(2);
  });

  test('no protocol errors on the app side', () => {
    expect(app.protocolErrors.map((e) => e.message)).toEqual([]);
  });
});
