// Run from a folder where cgiwire is installed (run.sh copies this file there).
//   node check-load.mjs <fixture.bin> <native|js>      imports cgiwire, checks codecName, decodes the fixture
//   node check-load.mjs --expect-error <CODE>          importing cgiwire must fail with that error code
// Prints one line; exits 1 on any mismatch.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';

const fail = (msg) => { console.error(`check-load: ${msg}`); process.exit(1); };

if (process.argv[2] === '--expect-error') {
  const want = process.argv[3];
  try {
    const m = await import('cgiwire');
    fail(`import succeeded with codecName=${m.codecName}; expected error ${want}`);
  } catch (err) {
    if (err?.code !== want) fail(`import failed with code=${err?.code}: ${err?.message}; expected ${want}`);
    console.log(`import failed as expected: ${err.code}: ${String(err.message).split('\n')[0].slice(0, 120)}`);
  }
  process.exit(0);
}

const [fixture, wantCodec] = process.argv.slice(2);
const { codec, codecName } = await import('cgiwire');
if (codecName !== wantCodec) fail(`codecName is ${codecName}, expected ${wantCodec}`);
if (codec.name !== codecName) fail(`codec.name ${codec.name} differs from codecName ${codecName}`);

// FastCGI: type 1 is BEGIN_REQUEST, 4 is PARAMS; a PARAMS stream ends with an empty PARAMS record.
const chunks = new Map();
let done;
// The callback gets (type, requestId, content) or, in the newer API, (type, requestId, buf, offset, length).
const reader = codec.createRecordReader((type, requestId, buf, offset, length) => {
  if (done || type !== 4) return;
  const content = typeof offset === 'number' ? buf.subarray(offset, offset + length) : buf;
  if (content.length === 0) {
    if (chunks.has(requestId)) done = { requestId, body: Buffer.concat(chunks.get(requestId)) };
    return;
  }
  if (!chunks.has(requestId)) chunks.set(requestId, []);
  chunks.get(requestId).push(Buffer.from(content));
});
const err = reader.push(readFileSync(fixture));
if (err) fail(`record reader error: ${err.code}: ${err.message}`);
if (!done) fail('no complete PARAMS stream in the fixture');

const decoded = codec.decodeParams(done.body);
const entries = decoded.params.entries();
const method = decoded.params.get('REQUEST_METHOD');
if (method !== 'GET') fail(`REQUEST_METHOD is ${JSON.stringify(method)}, expected "GET"`);
if (decoded.head?.method !== 'GET') fail(`head.method is ${JSON.stringify(decoded.head?.method)}`);
const digest = createHash('sha256')
  .update(JSON.stringify([entries, decoded.head.method, decoded.head.url, decoded.head.headers]))
  .digest('hex').slice(0, 16);
console.log(`codec=${codecName} method=${decoded.head.method} url=${decoded.head.url} ` +
  `params=${entries.length} digest=${digest}`);
