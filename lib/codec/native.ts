/**
 * The C++ core (native/), loaded with node-gyp-build: a prebuilt binary from prebuilds/ when one fits this
 * platform, else the one built from source at install. Throws when neither loads.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import {
  type CodecCore, NETSTRING_STATE_WORDS, RECORD_STATE_WORDS, SCRATCH_BEGIN, SCRATCH_END, SCRATCH_PAIRS,
  SCRATCH_STATE, newScratch, pairCapacity,
} from './core.js';
import { KNOWN_NAMES } from './known-names.js';
import { scanRecordsInto, writeStreamHeaders } from './js.js';

/** native/binding.cc. Offsets and scanner state travel in scratch words (core.ts), not as arguments. */
interface Binding {
  init(scratch: Uint32Array, names: readonly string[]): void;
  scanRecords(chunk: Uint8Array): number;
  scanNetstring(chunk: Uint8Array): number;
  decodePairs(buf: Uint8Array): number;
  decodePairsText(buf: Uint8Array): string | number;
  decodeScgiHeaders(buf: Uint8Array): number;
  registerShape(ids: Uint16Array): number;
  forgetShapes(): void;
  writeStreamHeaders: CodecCore['writeStreamHeaders'];
  socketKind(fd: number): 'listening' | 'connected' | 'not-socket';
  quickAck(fd: number): boolean;
}

/** The package root, where binding.gyp, build/ and prebuilds/ are (this file is in lib/codec or dist/codec). */
const PACKAGE_ROOT = fileURLToPath(new URL('../..', import.meta.url));

function loadBinding(): Binding {
  const require = createRequire(import.meta.url);
  const load = require('node-gyp-build') as (dir: string) => Binding;
  return load(PACKAGE_ROOT);
}

/** How many records of a chunk the TypeScript scanner takes before the native one (see scanRecords). */
const FEW_RECORDS = 8;

class NativeCore implements CodecCore {
  readonly name = 'native' as const;
  scratch = newScratch();
  /**
   * Record headers are written by the TypeScript twin: a native call costs about 120 ns, writing 8 bytes per
   * record in JS about 9, so native never wins (bench/RESULTS.md, "Crossovers"). The C++ encoder stays for
   * the core's own tests and fuzzing.
   */
  readonly writeStreamHeaders: CodecCore['writeStreamHeaders'] = writeStreamHeaders;

  constructor(private readonly binding: Binding) {
    binding.init(this.scratch, KNOWN_NAMES);
  }

  /**
   * A chunk's first FEW_RECORDS records are scanned by the TypeScript scanner, the rest (a later call for
   * the same chunk, start > 0) natively: a native call costs about as much as scanning 4-8 records in JS,
   * and most chunks hold fewer (bench/RESULTS.md, "Crossovers"). A chunk of many small records pays the JS
   * scan of 8 at most.
   */
  scanRecords(chunk: Uint8Array, start: number, state: Int32Array): number {
    if (start === 0) return scanRecordsInto(this.scratch, chunk, start, state, FEW_RECORDS);
    return this.scanRecordsNative(chunk, start, state);
  }

  /** @internal The C++ scanner alone, whatever the chunk (for the differential tests and benchmarks). */
  scanRecordsNative(chunk: Uint8Array, start: number, state: Int32Array): number {
    const s = this.scratch;
    s[SCRATCH_BEGIN] = start;
    for (let i = 0; i < RECORD_STATE_WORDS; i++) s[SCRATCH_STATE + i] = state[i];
    const n = this.binding.scanRecords(chunk);
    for (let i = 0; i < RECORD_STATE_WORDS; i++) state[i] = s[SCRATCH_STATE + i];
    return n;
  }

  scanNetstring(chunk: Uint8Array, start: number, state: Int32Array, maxHeader: number): number {
    const s = this.scratch;
    s[SCRATCH_BEGIN] = start;
    s[SCRATCH_END] = maxHeader;
    for (let i = 0; i < NETSTRING_STATE_WORDS; i++) s[SCRATCH_STATE + i] = state[i];
    const n = this.binding.scanNetstring(chunk);
    for (let i = 0; i < NETSTRING_STATE_WORDS; i++) state[i] = s[SCRATCH_STATE + i];
    return n;
  }

  decodePairs(buf: Uint8Array, begin: number, end: number): number {
    const s = this.scratch;
    s[SCRATCH_BEGIN] = begin;
    s[SCRATCH_END] = end;
    return this.binding.decodePairs(buf);
  }

  decodePairsText(buf: Uint8Array, begin: number, end: number): string | number {
    const s = this.scratch;
    s[SCRATCH_BEGIN] = begin;
    s[SCRATCH_END] = end;
    return this.binding.decodePairsText(buf);
  }

  decodeScgiHeaders(buf: Uint8Array, begin: number, end: number): number {
    const s = this.scratch;
    s[SCRATCH_BEGIN] = begin;
    s[SCRATCH_END] = end;
    return this.binding.decodeScgiHeaders(buf);
  }

  registerShape(ids: Uint16Array): number {
    return this.binding.registerShape(ids);
  }

  shapeGeneration = 0;

  forgetShapes(): void {
    this.binding.forgetShapes();
    this.shapeGeneration++;
  }

  reserve(pairs: number): void {
    if (pairs <= pairCapacity(this.scratch)) return;
    const next = newScratch(pairs);
    next.set(this.scratch.subarray(0, SCRATCH_PAIRS));
    this.scratch = next;
    this.binding.init(next, KNOWN_NAMES);
  }
}

// The addon keeps one scratch array per environment, so there is one NativeCore per thread. It is kept on
// the addon's exports object (under a registered symbol) so that a second copy of this module in the same
// thread (bundlers, test runners that reload modules) shares it instead of re-pointing the addon.
const CORE = Symbol.for('cgiwire.nativeCore');

/** The native core of this thread; throws when the addon cannot be loaded. */
export function createNativeCore(): CodecCore {
  const binding = loadBinding() as Binding & { [CORE]?: CodecCore };
  return (binding[CORE] ??= new NativeCore(binding));
}

/**
 * What the kernel says fd is: a listening socket, a connected one, or no socket; undefined when the addon
 * is not available.
 */
export function socketKind(fd: number): 'listening' | 'connected' | 'not-socket' | undefined {
  try {
    return loadBinding().socketKind(fd);
  } catch {
    return undefined;
  }
}

/** TCP_QUICKACK on fd (see native/binding.cc); false when unsupported or the addon is not available. */
export function quickAck(fd: number): boolean {
  try {
    return loadBinding().quickAck(fd);
  } catch {
    return false;
  }
}
