/** Write-then-rename so that a crash or Ctrl-C never leaves a partial output under the final name. */
import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { XasmapError } from '../errors.js';

export function assertWritable(path: string, force: boolean): void {
  if (!force && existsSync(path)) {
    throw new XasmapError('OUTPUT_EXISTS', `${path} exists; use --force to overwrite it or choose another --out`);
  }
}

export function tempNameFor(path: string): string {
  return `${path}.${process.pid}.tmp`;
}

export function writeFileAtomic(path: string, data: string | Uint8Array, force: boolean): void {
  assertWritable(path, force);
  const tmp = tempNameFor(path);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    if (e instanceof XasmapError) throw e;
    throw new XasmapError('OUTPUT_UNWRITABLE', `${path}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}
