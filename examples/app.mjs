#!/usr/bin/env node
// A small node:http-style application served by cgiwire behind a web server. The handler is plain node:http
// code: only the createServer import differs.
//
//   node examples/app.mjs /run/cgiwire/app.sock          FastCGI on a unix socket (nginx, Apache, Caddy, HAProxy)
//   node examples/app.mjs 127.0.0.1:9000                 FastCGI on TCP (a port alone means 127.0.0.1:port)
//   node examples/app.mjs --scgi /run/cgiwire/scgi.sock  SCGI instead of FastCGI (nginx scgi_pass, lighttpd mod_scgi)
//   node examples/app.mjs                                spawn mode: the web server started this process with a
//                                                        listening socket as fd 0 (lighttpd bin-path, Apache
//                                                        mod_fcgid, h2o fastcgi.spawn)
//
// Routes: GET / (a page showing what the app received), GET /hello (a few bytes of text), POST /echo (reads
// the whole body, answers its size and SHA-256). SIGTERM or SIGINT: stop accepting, finish requests, exit.
import { createHash } from 'node:crypto';
import { createServer } from '../dist/index.js';

const args = process.argv.slice(2);
const protocol = args.includes('--scgi') ? 'scgi' : 'fastcgi';
const address = args.find((a) => !a.startsWith('--'));

const server = createServer({ protocol }, async (req, res) => {
  const path = req.url.split('?')[0];
  if (path === '/hello') {
    res.setHeader('Content-Type', 'text/plain');
    return res.end('hello\n');
  }
  if (path === '/echo' && req.method === 'POST') {
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of req) { bytes += chunk.length; hash.update(chunk); }
    res.setHeader('Content-Type', 'text/plain');
    return res.end(`${bytes} bytes, sha256 ${hash.digest('hex')}\n`);
  }
  if (path !== '/') {
    res.statusCode = 404;
    res.setHeader('Content-Type', 'text/plain');
    return res.end('not found\n');
  }
  const esc = (s) => String(s ?? '').replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const rows = Object.entries(req.headers).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join('');
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.end(`<!doctype html><title>cgiwire</title>
<h1>Hello from Node.js behind ${esc(req.cgi.get('SERVER_SOFTWARE') ?? 'a web server')}</h1>
<p>${esc(req.method)} ${esc(req.url)} HTTP/${esc(req.httpVersion)} from ${esc(req.socket.remoteAddress)},
over ${protocol === 'scgi' ? 'SCGI' : 'FastCGI'} (pid ${process.pid})</p>
<table>${rows}</table>
`);
});

server.on('error', (err) => {
  console.error(`app: ${err.message}`);
  process.exit(1);
});
server.on('listening', () => {
  const where = address === undefined ? 'fd 0 (spawn mode)' : address;
  console.error(`app: ${protocol} on ${where}, pid ${process.pid}`);
});

if (address === undefined) server.listen();                       // spawn mode
else if (/^\d+$/.test(address)) server.listen(Number(address), '127.0.0.1');
else if (/^[^/]*:\d+$/.test(address)) {
  const i = address.lastIndexOf(':');
  server.listen(Number(address.slice(i + 1)), address.slice(0, i).replace(/^\[|\]$/g, ''));
} else server.listen(address);                                  // a unix socket path

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    server.close({ timeout: 5000 }, () => process.exit(0));
  });
}
