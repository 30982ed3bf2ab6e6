/**
 * HAProxy with examples/haproxy.cfg (FastCGI multiplexed on kept connections, GET_VALUES before the first
 * request) to an in-process cgiwire FastCGI server on a unix socket, on each codec.
 */
import { describe } from 'vitest';
import { CODECS } from '../helpers/codecs.js';
import { startHaproxy } from '../helpers/servers.js';
import { inProcessFrontEnd } from './front.js';

describe.each(CODECS)('HAProxy fcgi-app (examples/haproxy.cfg) -> cgiwire FastCGI ($name codec)', { timeout: 60_000 }, ({ codec }) => {
  inProcessFrontEnd({
    protocol: 'fastcgi', codec, unix: true, reuse: 'http-reuse always',
    // HAProxy 2.6 with its default tune.bufsize (16384) refuses a larger chunked upload itself (examples/haproxy.cfg).
    chunkedUploads: { limit: 8192, refusal: /<h1>400 Bad request<\/h1>/ },
    start: ({ path }) => startHaproxy({ appSocket: path! }), url: (haproxy) => haproxy.url,
  });
});
