/**
 * Tests that run the package as a child process (the `cgiwire` command, apps spawned by lighttpd) run dist/:
 * this builds it (tsc) when it is missing or older than lib/. CI builds before the tests, so there it only checks.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** Builds dist/ when any of `outputs` (paths under dist/) is missing or older than lib/. */
export function ensureDist(outputs: string[] = ['index.js']): void {
  const built = outputs.map((f) => join(ROOT, 'dist', f));
  const stale = built.some((f) => !existsSync(f) || statSync(f).mtimeMs < newestMtime(join(ROOT, 'lib')));
  if (!stale) return;
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.json')], { cwd: ROOT, stdio: 'pipe', timeout: 120_000 });
  } catch (err) {
    // tsc emits even with type errors; only a missing output is fatal.
    if (built.some((f) => !existsSync(f))) throw new Error(`building dist/ failed: ${(err as { stdout?: Buffer }).stdout?.toString() ?? err}`);
  }
}
