/** Run the built CLI (npm test compiles dist/ first) as a child process. */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { XasmapError } from '../src/errors.js';
import { MODELS_ENV, shippedModelDir } from '../src/io/model-registry.js';

/**
 * The environment for a CLI run that sees only the shipped models of `ions`: a temporary
 * models directory of links to them, named by $XASMAP_MODELS (for the "no model for ION"
 * cases, which the package itself no longer has once all 22 ions ship).
 */
export function onlyModels(ions: string[]): NodeJS.ProcessEnv {
  const dir = join(tempDir(), 'models');
  mkdirSync(dir);
  for (const ion of ions) symlinkSync(shippedModelDir(ion), join(dir, ion), 'dir');
  return { ...process.env, [MODELS_ENV]: dir };
}

export const BIN = fileURLToPath(new URL('../bin/xasmap.js', import.meta.url));

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], opts: { cwd?: string; timeout?: number; env?: NodeJS.ProcessEnv } = {}): RunResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: opts.cwd, timeout: opts.timeout ?? 120_000, env: opts.env ?? process.env });
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
