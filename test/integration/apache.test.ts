/**
 * Apache mod_proxy_fcgi (ProxyPass fcgi://, enablereuse=on) to an in-process cgiwire FastCGI server,
 * on each codec.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CODECS } from '../helpers/codecs.js';
import { startApache, type WebServer } from '../helpers/servers.js';
import { request } from './client.js';
import { startApp, type AppServer } from './inprocess.js';
import { frontEndSuite } from './suite.js';

describe.each(CODECS)('Apache mod_proxy_fcgi -> cgiwire FastCGI ($name codec)', { timeout: 60_000 }, ({ codec }) => {
  let app: AppServer;
  let apache: WebServer;

  beforeAll(async () => {
    app = await startApp({ protocol: 'fastcgi' }, codec);
    apache = await startApache({ fastcgiPort: app.port });
  }, 30_000);

  afterAll(async () => {
    await apache?.stop();
    await app?.close();
  }, 30_000);

  frontEndSuite({
    base: () => apache.url,
    logs: () => apache.logs(),
    activeRequests: () => app.server.activeRequests,
  });

  test('sequential requests reuse the upstream connection (enablereuse=on)', async () => {
    let connections = 0;
    const count = (): void => { connections++; };
    app.server.on('connection', count);
    try {
      for (let i = 0; i < 20; i++) {
        const r = await request(apache.url, `/info/reuse-${i}`);
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
