/**
 * nginx scgi_pass (with /etc/nginx/scgi_params) to an in-process cgiwire SCGI server over TCP, on each codec.
 * examples.test.ts runs the same suite through examples/nginx-scgi.conf, on a unix socket.
 */
import { describe } from 'vitest';
import { CODECS } from '../helpers/codecs.js';
import { startNginx } from '../helpers/servers.js';
import { inProcessFrontEnd } from './front.js';

describe.each(CODECS)('nginx scgi_pass -> cgiwire SCGI ($name codec)', { timeout: 60_000 }, ({ codec }) => {
  inProcessFrontEnd({
    protocol: 'scgi', codec,
    start: ({ port }) => startNginx({ scgiPort: port }), url: (nginx) => nginx.urls.scgi!,
  });
});
