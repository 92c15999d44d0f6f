/**
 * TensorFlow.js backend selection for the neural surrogates.
 *
 * - 'wasm' (default): @tensorflow/tfjs-backend-wasm with XNNPACK (SIMD). The
 *   .wasm binaries are read from node_modules with node:fs (no network); the
 *   directory is set explicitly with setWasmPaths so that bundling or a changed
 *   working directory cannot break the lookup. Multithreading: tfjs-backend-wasm
 *   4.22 reports WASM_HAS_MULTITHREAD_SUPPORT = false under Node (tfjs issue
 *   #3830; forcing the flag fails because the pthread worker is created from a
 *   blob: URL, which node:worker_threads rejects), so it runs on one thread;
 *   if a future version supports threads, the thread count is set to the core
 *   count. `detail` says what is used.
 * - 'gpu': @tensorflow/tfjs-node-gpu (CUDA), loaded by dynamic import only if
 *   the user installed it; it is never a dependency of xasmap (its install
 *   downloads libtensorflow).
 * - 'cpu': the pure-JS tfjs cpu backend (30-110x slower than wasm; for
 *   debugging only).
 * - 'auto': gpu if it loads and computes, else wasm.
 */
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { XasmapError } from '../errors.js';

export type BackendKind = 'auto' | 'wasm' | 'gpu' | 'cpu';

export interface BackendInfo {
  /** tfjs backend name: 'wasm', 'tensorflow' (tfjs-node-gpu) or 'cpu' */
  name: string;
  /** human-readable description (binary, threads, device) */
  detail: string;
}

const GPU_MODULE = '@tensorflow/tfjs-node-gpu';
const GPU_INSTALL_HINT =
  `install it with \`npm install ${GPU_MODULE}@${tf.version.tfjs}\` (needs network access, its install downloads ` +
  'libtensorflow, and an NVIDIA GPU with the CUDA/cuDNN versions its README lists), or use the wasm backend';

let wasmPathsSet = false;

/** Point the wasm backend at the .wasm files of the installed package (idempotent, before first init). */
function setLocalWasmPaths(): void {
  if (wasmPathsSet) return;
  const require = createRequire(import.meta.url);
  const main = require.resolve('@tensorflow/tfjs-backend-wasm'); // .../dist/tf-backend-wasm.node.js
  setWasmPaths(`${dirname(main)}/`);
  wasmPathsSet = true;
}

/** A tiny computation that must give the right answer on the active backend. */
function smokeTest(): void {
  const ok = tf.tidy(() => {
    const a = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    const v = tf.matMul(a, a).dataSync();
    return v[0] === 7 && v[1] === 10 && v[2] === 15 && v[3] === 22;
  });
  if (!ok) throw new Error('smoke test gave a wrong result');
}

async function initWasm(): Promise<BackendInfo> {
  try {
    setLocalWasmPaths();
    const cores = availableParallelism();
    const threadsSupported = Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'));
    if (threadsSupported) setThreadsCount(cores); // no effect once the wasm backend is initialised
    if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") returned false (see the message above)');
    await tf.ready();
    smokeTest();
    const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
    const threads = threadsSupported ? getThreadsCount() : 1;
    const why = threadsSupported ? '' : ' (tfjs-backend-wasm has no multithreading under Node)';
    return {
      name: 'wasm',
      detail: `tfjs-backend-wasm ${tf.version.tfjs}, ${simd ? 'SIMD' : 'no SIMD'}, ${threads} thread${threads === 1 ? '' : 's'} of ${cores} cores${why}`,
    };
  } catch (e) {
    if (e instanceof XasmapError) throw e;
    throw new XasmapError('BACKEND_UNAVAILABLE', `the wasm backend failed to initialise: ${firstLine(e)}`, 2);
  }
}

async function initGpu(): Promise<BackendInfo> {
  const moduleName: string = GPU_MODULE; // a variable, so that TypeScript does not resolve the module
  try {
    await import(moduleName);
  } catch (e) {
    throw new XasmapError('BACKEND_UNAVAILABLE', `the gpu backend needs ${GPU_MODULE}, which could not be loaded (${firstLine(e)}); ${GPU_INSTALL_HINT}`, 2);
  }
  try {
    if (!(await tf.setBackend('tensorflow'))) throw new Error('tf.setBackend("tensorflow") returned false');
    await tf.ready();
    smokeTest();
  } catch (e) {
    throw new XasmapError('BACKEND_UNAVAILABLE', `${GPU_MODULE} is installed but does not work (${firstLine(e)}); ${GPU_INSTALL_HINT}`, 2);
  }
  return { name: tf.getBackend(), detail: `${GPU_MODULE} (libtensorflow with CUDA)` };
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0] ?? msg;
}

/**
 * Select and initialise the backend. Throws XasmapError('BACKEND_UNAVAILABLE',
 * exit code 2) when the requested backend cannot be used.
 */
export async function initBackend(kind: BackendKind = 'auto'): Promise<BackendInfo> {
  switch (kind) {
    case 'wasm':
      return initWasm();
    case 'gpu':
      return initGpu();
    case 'cpu':
      if (!(await tf.setBackend('cpu'))) throw new XasmapError('BACKEND_UNAVAILABLE', 'the tfjs cpu backend failed to initialise', 2);
      await tf.ready();
      return { name: 'cpu', detail: `tfjs cpu backend ${tf.version.tfjs} (pure JavaScript, 30-110x slower than wasm)` };
    case 'auto': {
      try {
        return await initGpu();
      } catch (e) {
        if (!(e instanceof XasmapError)) throw e;
        const info = await initWasm();
        return { name: info.name, detail: `${info.detail}; gpu not used: ${GPU_MODULE} not available` };
      }
    }
    default: {
      const never: never = kind;
      throw new XasmapError('BAD_OPTION', `unknown backend ${String(never)}`, 2);
    }
  }
}
