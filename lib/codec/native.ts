/**
 * The C++ core (native/), loaded with node-gyp-build: a prebuilt binary from prebuilds/ when one fits this
 * platform, else the one built from source at install. Throws when neither loads.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { type CodecCore, DEFAULT_SCRATCH_ENTRIES, SCRATCH_ENTRIES } from './core.js';
import { KNOWN_NAMES } from './known-names.js';

interface Binding {
  init(scratch: Uint32Array, names: readonly string[]): void;
  scanRecords: CodecCore['scanRecords'];
  scanNetstring: CodecCore['scanNetstring'];
  decodePairs: CodecCore['decodePairs'];
  decodeScgiHeaders: CodecCore['decodeScgiHeaders'];
  writeStreamHeaders: CodecCore['writeStreamHeaders'];
}

/** The package root, where binding.gyp, build/ and prebuilds/ are (this file is in lib/codec or dist/codec). */
const PACKAGE_ROOT = fileURLToPath(new URL('../..', import.meta.url));

function loadBinding(): Binding {
  const require = createRequire(import.meta.url);
  const load = require('node-gyp-build') as (dir: string) => Binding;
  return load(PACKAGE_ROOT);
}

class NativeCore implements CodecCore {
  readonly name = 'native' as const;
  scratch = new Uint32Array(SCRATCH_ENTRIES + 4 * DEFAULT_SCRATCH_ENTRIES);
  readonly scanRecords: CodecCore['scanRecords'];
  readonly scanNetstring: CodecCore['scanNetstring'];
  readonly decodePairs: CodecCore['decodePairs'];
  readonly decodeScgiHeaders: CodecCore['decodeScgiHeaders'];
  readonly writeStreamHeaders: CodecCore['writeStreamHeaders'];

  constructor(private readonly binding: Binding) {
    binding.init(this.scratch, KNOWN_NAMES);
    // The binding's functions ignore `this`: calling them as own properties costs nothing extra.
    this.scanRecords = binding.scanRecords;
    this.scanNetstring = binding.scanNetstring;
    this.decodePairs = binding.decodePairs;
    this.decodeScgiHeaders = binding.decodeScgiHeaders;
    this.writeStreamHeaders = binding.writeStreamHeaders;
  }

  reserve(entries: number): void {
    const words = SCRATCH_ENTRIES + 4 * entries;
    if (words <= this.scratch.length) return;
    const next = new Uint32Array(words);
    next.set(this.scratch.subarray(0, SCRATCH_ENTRIES));
    this.scratch = next;
    this.binding.init(next, KNOWN_NAMES);
  }
}

let shared: CodecCore | undefined;

/**
 * The native core of this thread; throws when the addon cannot be loaded. There is one per thread because
 * the addon keeps one scratch array per environment.
 */
export function createNativeCore(): CodecCore {
  shared ??= new NativeCore(loadBinding());
  return shared;
}
