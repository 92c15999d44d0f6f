/** fitGlobalShift recovers a known energy offset between a measured stack and the model grid. */
import { describe, expect, it } from 'vitest';
import { fitGlobalShift } from '../src/ops/shift.js';
import { simulate } from '../src/physics/spectrum.js';
import { energyWindow, windowAxes } from '../src/physics/ions.js';
import { mulberry32 } from '../src/physics/random.js';

describe('fitGlobalShift', () => {
  it('finds the offset of measured Ni2+ spectra recorded on a miscalibrated axis (+-0.01 eV)', () => {
    const { energy: grid } = windowAxes(energyWindow('Ni2+'));
    const rng = mulberry32(3);
    const m = 12;
    const offset = 1.37; // the beamline axis reads 1.37 eV too low: measured + 1.37 = true
    // measured axis: 800 points over a wider range, not aligned with the model grid
    const nE = 800;
    const energy = Float64Array.from({ length: nE }, (_, i) => grid[0]! - 4 - offset + (i * 38) / (nE - 1));
    const pred = new Float32Array(m * 501);
    const measured = new Float32Array(m * nE);
    for (let k = 0; k < m; k++) {
      const p = { Dq: 0.05 + 0.1 * rng(), Ds: rng() - 0.5, Dt: 0.2 * rng() - 0.1, S1: 0.8, S2: 0.8, T: 300, sigmaG: 0.1, Gamma1: 0.4, Gamma2: 0.6 };
      const sim = simulate('Ni2+', p);
      pred.set(Float32Array.from(sim.spectrum), k * 501);
      // the measured spectrum at true energy E_true = E_axis + offset, interpolated from the simulation (zero outside)
      for (let i = 0; i < nE; i++) {
        const x = (energy[i]! + offset - grid[0]!) / 0.06;
        const j = Math.floor(x);
        const t = x - j;
        const a = j >= 0 && j < 501 ? sim.spectrum[j]! : 0;
        const b = j + 1 >= 0 && j + 1 < 501 ? sim.spectrum[j + 1]! : 0;
        measured[k * nE + i] = 5 + 3 * ((1 - t) * a + t * b) + 0.01 * (rng() - 0.5);
      }
    }
    const fit = fitGlobalShift(pred, measured, m, energy, grid);
    expect(Math.abs(fit.shift - offset)).toBeLessThan(0.01);
    expect(fit.se).toBeLessThan(2);
    // far from the optimum the SE is clearly worse
    const far = fit.curve.find(([s]) => Math.abs(s - 0.35) < 1e-9)!; // 1 eV off (coarse grid point)
    expect(far[1]).toBeGreaterThan(3 * fit.se);
  });
});
