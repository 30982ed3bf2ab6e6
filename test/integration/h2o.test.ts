/**
 * h2o with examples/h2o.conf (fastcgi.connect: a connection per request, as the example keeps it on h2o
 * 2.2.5) to an in-process cgiwire FastCGI server on a unix socket, on each codec.
 */
import { describe } from 'vitest';
import { CODECS } from '../helpers/codecs.js';
import { startH2o } from '../helpers/servers.js';
import { inProcessFrontEnd } from './front.js';

describe.each(CODECS)('h2o fastcgi.connect (examples/h2o.conf) -> cgiwire FastCGI ($name codec)', { timeout: 60_000 }, ({ codec }) => {
  inProcessFrontEnd({
    protocol: 'fastcgi', codec, unix: true,
    closesKeptAlive: 'h2o 2.2.5 closes after HEAD and after a response without Content-Length written all at once',
    start: ({ path }) => startH2o({ appSocket: path! }), url: (h2o) => h2o.url,
  });
});
