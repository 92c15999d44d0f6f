/** Computing rows of a training database: the work unit of `xasmap dataset` workers. */
import { type IonName, PARAM_NAMES, N_CHANNELS } from '../physics/ions.js';
import { boxNormalise, broaden, computeSticks, ionModel, ionSpec } from '../physics/spectrum.js';
import { type RangeSet, sampleRow } from './sampling.js';

export interface RowsRequest {
  ion: IonName;
  seed: number;
  ranges: RangeSet;
  perDiag: number;
  /** rows [start, end); start must be a multiple of perDiag */
  start: number;
  end: number;
}

export interface RowsResult {
  start: number;
  end: number;
  params: Float32Array;
  spectra: Float32Array;
  /** largest block diagonalised */
  maxBlock: number;
}

export function computeRows(req: RowsRequest): RowsResult {
  const model = ionModel(req.ion);
  const n = req.end - req.start;
  const params = new Float32Array(n * PARAM_NAMES.length);
  const spectra = new Float32Array(n * N_CHANNELS);
  let maxBlock = 0;
  for (let g = req.start; g < req.end; g += req.perDiag) {
    const gEnd = Math.min(g + req.perDiag, req.end);
    const rows = [];
    for (let r = g; r < gEnd; r++) rows.push(sampleRow(req.seed, req.ranges, req.perDiag, r));
    const tMax = Math.max(...rows.map((p) => p.T));
    const sticks = computeSticks(ionSpec(model, rows[0]!), { tMax });
    maxBlock = Math.max(maxBlock, sticks.maxBlock);
    rows.forEach((p, j) => {
      const r = g + j - req.start;
      PARAM_NAMES.forEach((k, i) => (params[r * PARAM_NAMES.length + i] = p[k]));
      const raw = broaden(sticks, model.window, p);
      boxNormalise(raw, spectra.subarray(r * N_CHANNELS, (r + 1) * N_CHANNELS));
    });
  }
  return { start: req.start, end: req.end, params, spectra, maxBlock };
}
