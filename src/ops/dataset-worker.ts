/** worker_threads entry for `xasmap dataset`: computes RowsRequests posted by the parent. */
import { parentPort } from 'node:worker_threads';
import { computeRows, type RowsRequest } from './dataset-rows.js';

if (!parentPort) throw new Error('dataset-worker must run as a worker thread');
const port = parentPort;
port.on('message', (req: RowsRequest) => {
  try {
    const res = computeRows(req);
    port.postMessage({ ok: true, res }, [res.params.buffer as ArrayBuffer, res.spectra.buffer as ArrayBuffer]);
  } catch (e) {
    port.postMessage({ ok: false, start: req.start, message: (e as Error).message, code: (e as { code?: string }).code });
  }
});
