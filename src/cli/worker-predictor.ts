/** A model running in a worker thread, used by render to overlap prediction and writing. */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { XasmapError } from '../errors.js';
import type { BackendKind } from '../model/backend.js';

export interface AsyncPredictor {
  predict(params: Float32Array, n: number): Promise<Float32Array>;
  close(): Promise<void>;
}

/** Null when the compiled worker script is not there (e.g. under vitest on the sources). */
export async function startWorkerPredictor(dir: string, backend: BackendKind, chunk: number): Promise<AsyncPredictor | null> {
  return startWorker('predict-worker.js', { dir, backend, chunk }, `${dir}: the prediction worker could not load the model`);
}

/** The multiplet simulator of an ion in a worker thread (fit --refine); null as above. */
export async function startSimulatorWorker(ion: string): Promise<AsyncPredictor | null> {
  return startWorker('simulate-worker.js', { ion }, `the simulator worker for ${ion} could not start`);
}

/** `workers` simulator workers sharing the rows of every call (see startPool). */
export async function startSimulatorPool(ion: string, workers: number): Promise<AsyncPredictor | null> {
  return startPool(() => startSimulatorWorker(ion), workers);
}

/**
 * A worker thread running workers/<script> with `data`: messages { id, params, n } in,
 * { id, y } or { id, error } out, { ready } once it has loaded.
 */
async function startWorker(name: string, data: Record<string, unknown>, startFailure: string): Promise<AsyncPredictor | null> {
  const script = fileURLToPath(new URL(`./workers/${name}`, import.meta.url));
  if (!existsSync(script)) return null;
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
  const worker = new Worker(script, { workerData: data, execArgv });
  const pending = new Map<number, { resolve: (y: Float32Array) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  let failure: Error | null = null;
  await new Promise<void>((resolve, reject) => {
    worker.once('message', (m: { ready: boolean; error?: string }) => {
      if (m.ready) resolve();
      else reject(new XasmapError('MODEL_CORRUPT', `${startFailure} (${m.error})`));
    });
    worker.once('error', reject);
  });
  const failAll = (e: Error) => {
    failure = e;
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  };
  worker.on('message', (m: { id: number; y?: Float32Array; error?: string }) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.y) p.resolve(m.y);
    else p.reject(new Error(`prediction worker: ${m.error}`));
  });
  worker.on('error', failAll);
  worker.on('exit', (code) => {
    if (pending.size > 0) failAll(new Error(`prediction worker exited (code ${code})`));
  });
  return {
    predict(params, n) {
      if (failure) return Promise.reject(failure);
      const id = nextId++;
      const copy = Float32Array.from(params.subarray(0, n * 9));
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ id, params: copy, n }, [copy.buffer]);
      });
    },
    async close() {
      await worker.terminate();
    },
  };
}

/**
 * `workers` prediction workers sharing the rows of every call (contiguous parts), e.g. one per
 * core for `fit`, whose model calls are large. Null when the worker script is not compiled.
 */
export async function startPredictorPool(dir: string, backend: BackendKind, chunk: number, workers: number): Promise<AsyncPredictor | null> {
  return startPool(() => startWorkerPredictor(dir, backend, chunk), workers);
}

/** `workers` workers from `start`, each call's rows split into contiguous parts; null if one can't start. */
async function startPool(start: () => Promise<AsyncPredictor | null>, workers: number): Promise<AsyncPredictor | null> {
  const pool: AsyncPredictor[] = [];
  try {
    for (let w = 0; w < workers; w++) {
      const p = await start();
      if (!p) return null;
      pool.push(p);
    }
  } catch (e) {
    await Promise.all(pool.map((p) => p.close()));
    throw e;
  }
  return {
    async predict(params, n) {
      const k = Math.min(pool.length, Math.max(1, Math.floor(n / 64)));
      if (k <= 1) return (pool[0] as AsyncPredictor).predict(params, n);
      const bounds = Array.from({ length: k + 1 }, (_, j) => Math.round((j * n) / k));
      const parts = await Promise.all(
        pool.slice(0, k).map((p, j) => p.predict(params.subarray((bounds[j] as number) * 9, (bounds[j + 1] as number) * 9), (bounds[j + 1] as number) - (bounds[j] as number))),
      );
      const channels = n > 0 ? (parts[0] as Float32Array).length / ((bounds[1] as number) - (bounds[0] as number)) : 0;
      const out = new Float32Array(n * channels);
      parts.forEach((y, j) => out.set(y, (bounds[j] as number) * channels));
      return out;
    },
    async close() {
      await Promise.all(pool.map((p) => p.close()));
    },
  };
}
