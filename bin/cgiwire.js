#!/usr/bin/env node
// The cgiwire command. Its logic is in lib/cli.ts, built into dist/cli.js (npm run build:ts).
import { main } from '../dist/cli.js';

process.exitCode = await main(process.argv.slice(2));
