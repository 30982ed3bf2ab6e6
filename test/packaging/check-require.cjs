// Run from a folder where cgiwire is installed (run.sh copies this file there).
//   node check-require.cjs <native|js>: CommonJS require() of the ESM package (Node >= 20.19) must work.
'use strict';
const want = process.argv[2];
let m;
try {
  m = require('cgiwire');
} catch (err) {
  console.error(`check-require: require('cgiwire') threw ${err && err.code}: ${err && err.message}`);
  process.exit(1);
}
const problems = [];
if (m.codecName !== want) problems.push(`codecName is ${m.codecName}, expected ${want}`);
if (typeof m.createCodec !== 'function') problems.push('createCodec is not exported');
if (typeof m.CgiwireError !== 'function') problems.push('CgiwireError is not exported');
if (problems.length) {
  console.error(`check-require: ${problems.join('; ')}`);
  process.exit(1);
}
console.log(`require('cgiwire') ok: codecName=${m.codecName}, ${Object.keys(m).length} exports`);
