/**
 * worker_threads entry: runs a model's predictions off the main thread, so that `render`
 * can write batch k (HDF5 + gzip, main thread) while batch k+1 is being predicted.
 * workerData: { dir, backend, chunk }. Messages in: { id, params, n }; out: { id, y } or
 * { id, error }; { ready: true } once the model is loaded (or { ready: false, error }).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadModelDir } from '../../io/model-registry.js';
import { type BackendKind, initBackend } from '../../model/backend.js';
import { predictSpectra } from '../../ops/predict.js';

const port = parentPort;
if (!port) throw new Error('predict-worker must run as a worker thread');
const { dir, backend, chunk } = workerData as { dir: string; backend: BackendKind; chunk: number };
try {
  await initBackend(backend);
  const { model } = await loadModelDir(dir);
  port.on('message', (m: { id: number; params: Float32Array; n: number }) => {
    try {
      const y = predictSpectra(model, m.params, m.n, chunk);
      port.postMessage({ id: m.id, y }, [y.buffer as ArrayBuffer]);
    } catch (e) {
      port.postMessage({ id: m.id, error: (e as Error).message });
    }
  });
  port.postMessage({ ready: true });
} catch (e) {
  port.postMessage({ ready: false, error: (e as Error).message });
}
