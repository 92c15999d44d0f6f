/**
 * worker_threads entry: the multiplet simulator of one ion as a forward model (fit --refine
 * runs two of these, one per core). workerData: { ion }. Messages in: { id, params, n }; out:
 * { id, y } (n x 501 box-normalised spectra) or { id, error }; { ready: true } first.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { simulatorForward } from '../../ops/simulator-forward.js';
import { isIonName } from '../../physics/ions.js';

const port = parentPort;
if (!port) throw new Error('simulate-worker must run as a worker thread');
const { ion } = workerData as { ion: string };
if (!isIonName(ion)) {
  port.postMessage({ ready: false, error: `unknown ion ${ion}` });
} else {
  const sim = simulatorForward(ion);
  // one request at a time, in order (the forward model is asynchronous only to yield)
  let queue: Promise<void> = Promise.resolve();
  port.on('message', (m: { id: number; params: Float32Array; n: number }) => {
    queue = queue.then(async () => {
      try {
        const y = await sim.forward(m.params, m.n);
        port.postMessage({ id: m.id, y }, [y.buffer as ArrayBuffer]);
      } catch (e) {
        port.postMessage({ id: m.id, error: (e as Error).message });
      }
    });
  });
  port.postMessage({ ready: true });
}
