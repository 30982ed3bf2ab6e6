// A server process of bench/client.mjs. Prints "ready" on stdout once listening; exits on SIGTERM, or when its
// stdin closes (the bench that started it is gone), so that nothing outlives the bench.
//
//   node bench/client/app.mjs gateway PORT ROOT PHP_ADDRESS MAX_CONNECTIONS
//       node:http on 127.0.0.1:PORT with cgiwire's phpFpm handler in front of PHP-FPM (PHP files under ROOT)
//   node bench/client/app.mjs fcgi-hello PORT
//       a cgiwire FastCGI application server on 127.0.0.1:PORT answering every request with "hello world\n"
import { createServer as httpServer } from 'node:http';

const cgiwire = await import('../../dist/index.js');
const [kind, port, ...rest] = process.argv.slice(2);

let server;
if (kind === 'gateway') {
  const [root, address, max] = rest;
  server = httpServer(cgiwire.phpFpm({ root, address, maxConnectionsPerAddress: Number(max) }));
} else if (kind === 'fcgi-hello') {
  const HELLO = Buffer.from('hello world\n');
  server = cgiwire.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': HELLO.length });
    res.end(HELLO);
  });
} else {
  console.error(`app.mjs: unknown kind ${kind}`);
  process.exit(2);
}
server.on('error', (err) => { console.error(`app.mjs ${kind}: ${err.message}`); process.exit(1); });
server.listen(Number(port), '127.0.0.1', () => process.stdout.write('ready\n'));

process.on('SIGTERM', () => process.exit(0)); // with --cpu-prof the profile is written on exit
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
