/**
 * Ends that come late: a GET whose empty STDIN arrives after its response still ends ('end', as node:http),
 * params left unread behind the server's own pause do not time out, and an SCGI connection whose response
 * ended before its body was read reads on to the web server's close.
 */
import { afterEach, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { begin, cgiParams, params, parseCgi, sleep, stdin, until } from '../helpers/fcgi-client.js';
import { netstring, scgiHeaderBytes } from '../helpers/scgi.js';
import { start, stopAll } from './setup.js';

afterEach(stopAll);

it('GET whose empty STDIN comes in a later chunk: the request still ends (node:http gives a GET \'end\')', async () => {
  const events: string[] = [];
  const r = await start({}, (req, res) => {
    req.on('aborted', () => events.push('aborted'));
    req.on('end', () => events.push('end'));
    req.on('error', (e) => events.push('error:' + e.message));
    req.on('close', () => events.push('close'));
    req.resume();
    res.end('ok');
  });
  const c = await r.client();
  c.send(begin(1), params(1, cgiParams('/', {}, 'GET')));
  await sleep(30);
  c.send(stdin(1, '', true));
  const res = await c.response(1);
  expect(parseCgi(res.stdout).status).toBe(200);
  await sleep(30);
  expect(events).not.toContain('aborted');
  expect(events).toContain('end');
});

it('paramsTimeout: params left unread behind the server\'s own pause do not time out', async () => {
  let release!: () => void;
  const r = await start({ paramsTimeout: 200, bodyBufferBytes: 1024 }, async (req, res) => {
    if (req.url === '/slow') {
      await new Promise<void>((ok) => { release = ok; });
      for await (const _ of req) { /* read */ }
    }
    res.end('ok ' + req.url);
  });
  const c = await r.client();
  const big = Buffer.alloc(256 * 1024, 1);
  // request 1: a body its handler does not read for a while (the connection stops reading)
  c.send(begin(1), params(1, cgiParams('/slow', { CONTENT_LENGTH: String(big.length) }, 'POST')));
  await sleep(20);
  // request 2 begins, with its params, while request 1's body is still coming: they wait in the socket
  c.send(begin(2), params(2, cgiParams('/two'), false)); // params begun, not ended
  await sleep(20);
  // request 1's body (more than the server buffers: it stops reading), then the rest of request 2's params
  c.send(stdin(1, big, true), params(2, [], true), stdin(2, '', true)); // the empty PARAMS record right behind
  await sleep(600); // 3 x paramsTimeout, all bytes sent long ago
  release();
  const two = await c.response(2, 3000);
  const one = await c.response(1, 3000);
  expect(parseCgi(two.stdout).status).toBe(200);
  expect(parseCgi(one.stdout).status).toBe(200);
});

async function scgiServerPausedAfterEarlyResponse(opts: { closeTimeout?: number }) {
  let serverSide: Socket | undefined;
  let serverSideClosedAt = 0;
  const r = await start({ protocol: 'scgi', bodyBufferBytes: 16384 }, (_req, res) => {
    res.statusCode = 401;
    res.end('no'); // answered before the (large) body is read: node:http discards the body
  });
  r.server.on('connection', (s: Socket) => { serverSide = s; s.on('close', () => { serverSideClosedAt = Date.now(); }); });
  const body = Buffer.alloc(1 << 20, 0x61);
  const head = scgiHeaderBytes([['CONTENT_LENGTH', String(body.length)], ['SCGI', '1'], ['REQUEST_METHOD', 'POST'], ['REQUEST_URI', '/up']]);
  const sock = connect(r.port, '127.0.0.1');
  let got = '';
  let gotEnd = 0;
  sock.on('data', (d) => { got += d.toString('latin1'); });
  sock.on('end', () => { gotEnd = Date.now(); sock.end(); }); // as a web server does: the response is over
  sock.on('error', () => {});
  sock.write(netstring(head));
  sock.write(body);
  await until(() => gotEnd > 0, 3000, 'response end');
  await sleep(1000);
  const result = { got: got.split('\r\n')[0], serverClosed: serverSideClosedAt > 0, destroyed: serverSide?.destroyed, activeRequests: r.server.activeRequests, readableFlowing: serverSide?.readableFlowing };
  sock.destroy();
  return result;
}

it('SCGI: a response that ends before the body is read does not leave the connection paused: the peer\'s close is seen', async () => {
  const res = await scgiServerPausedAfterEarlyResponse({});
  expect(res.serverClosed).toBe(true);
});
