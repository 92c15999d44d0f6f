/**
 * The edge-jump background of measured L-edge spectra: transitions into the continuum add a
 * step at each edge that the multiplet model does not contain. The usual shape is a pair of
 * arctangent steps with heights 2:1 (the L3:L2 statistical ratio), at the L3 and L2 edges:
 *   step(E) = 2/3 (1/2 + atan((E - E3) / w) / pi) + 1/3 (1/2 + atan((E - E2) / w) / pi)
 * with E3 the ion's L3 edge (atomic data) and E2 = E3 + 1.5 zeta2p (the model's 2p spin-orbit
 * splitting, so that the steps sit under the model's L3 and L2 groups) and w = 0.5 eV. `fit
 * --edge-step` adds it to the model with a free height (ops/fit.ts, option edgeStep).
 */
import { type IonName, ionData } from '../physics/ions.js';

export const EDGE_STEP_WIDTH = 0.5;

export function edgeStep(ion: IonName, grid: ArrayLike<number>, width = EDGE_STEP_WIDTH): Float32Array {
  const d = ionData(ion);
  const e3 = d.edge.L3;
  const e2 = e3 + 1.5 * d.final.zeta2p;
  const out = new Float32Array(grid.length);
  for (let c = 0; c < grid.length; c++) {
    const e = grid[c] as number;
    out[c] = (2 / 3) * (0.5 + Math.atan((e - e3) / width) / Math.PI) + (1 / 3) * (0.5 + Math.atan((e - e2) / width) / Math.PI);
  }
  return out;
}
