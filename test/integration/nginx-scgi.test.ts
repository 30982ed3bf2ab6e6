/**
 * nginx scgi_pass (with /etc/nginx/scgi_params) to an in-process cgiwire SCGI server, on each codec.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CODECS } from '../helpers/codecs.js';
import { startNginx, type NginxServer } from '../helpers/servers.js';
import { startApp, type AppServer } from './inprocess.js';
import { frontEndSuite } from './suite.js';

describe.each(CODECS)('nginx scgi_pass -> cgiwire SCGI ($name codec)', { timeout: 60_000 }, ({ codec }) => {
  let app: AppServer;
  let nginx: NginxServer;

  beforeAll(async () => {
    app = await startApp({ protocol: 'scgi' }, codec);
    nginx = await startNginx({ scgiPort: app.port });
  }, 30_000);

  afterAll(async () => {
    await nginx?.stop();
    await app?.close();
  }, 30_000);

  frontEndSuite({
    base: () => nginx.urls.scgi!,
    logs: () => nginx.logs(),
    activeRequests: () => app.server.activeRequests,
  });

  test('no protocol errors on the app side', () => {
    expect(app.protocolErrors.map((e) => e.message)).toEqual([]);
  });
});
