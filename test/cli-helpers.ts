/** Run the built CLI (npm test compiles dist/ first) as a child process. */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { XasmapError } from '../src/errors.js';
import { listShippedModels } from '../src/io/model-registry.js';
import { ION_NAMES } from '../src/physics/ions.js';

const shipped = new Set(listShippedModels().map((m) => m.ion));
/** An ion without a shipped model (for the "no model" errors), or undefined once all 22 have one. */
export const UNSHIPPED_ION: string | undefined = ION_NAMES.find((ion) => !shipped.has(ion));
/** The ion as a regular expression. */
export const reIon = (ion: string): string => ion.replace('+', '\\+');

export const BIN = fileURLToPath(new URL('../bin/xasmap.js', import.meta.url));

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], opts: { cwd?: string; timeout?: number } = {}): RunResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: opts.cwd, timeout: opts.timeout ?? 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Start the CLI, send `signal` once stderr matches `when`, and resolve with the result. */
export function runCliInterrupted(args: string[], when: RegExp, signal: NodeJS.Signals, delayMs = 0): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let sent = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      if (!sent && when.test(stderr)) {
        sent = true;
        setTimeout(() => child.kill(signal), delayMs);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function tempDir(prefix = 'xasmap-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** The XasmapError that f throws (fails the test if f throws something else or nothing). */
export function thrownXasmapError(f: () => unknown): XasmapError {
  try {
    f();
  } catch (e) {
    if (e instanceof XasmapError) return e;
    throw e;
  }
  throw new Error('expected an XasmapError');
}
