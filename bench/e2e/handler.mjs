// The handler every contender of bench/e2e.mjs serves (bench/e2e/app.mjs), and bench/app-cpu.mjs too.
// Routes: GET /small (12 bytes of text), GET /1m (1 MiB), POST /upload (reads the whole body, answers its size).
// Every response carries Content-Length, so no contender pays for chunking that another does not.
const SMALL = Buffer.from('hello world\n');
const BIG = Buffer.alloc(1 << 20, 'abcdefghijklmnopqrstuvwxyz0123456789\n');
const TEXT = { 'Content-Type': 'text/plain' };

export function handler(req, res) {
  const url = req.url;
  if (url === '/small') {
    res.writeHead(200, { ...TEXT, 'Content-Length': SMALL.length });
    res.end(SMALL);
  } else if (url === '/1m') {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': BIG.length });
    res.end(BIG);
  } else if (url === '/upload') {
    let n = 0;
    req.on('data', (chunk) => { n += chunk.length; });
    req.on('end', () => {
      const body = `ok ${n}\n`;
      res.writeHead(200, { ...TEXT, 'Content-Length': body.length });
      res.end(body);
    });
  } else {
    res.writeHead(404, { ...TEXT, 'Content-Length': 10 });
    res.end('not found\n');
  }
}

