/**
 * ops/fit.ts on problems with a known answer:
 * - the linear algebra (alpha/beta in closed form, Cholesky solve, SPD inverse) against
 *   hand-checkable cases;
 * - the library search against a brute-force loop;
 * - the shift helpers on a parabola and on a library that contains the measured spectrum;
 * - Levenberg-Marquardt with an analytic forward model (two Gaussian peaks, 5 free and 4 fixed
 *   parameters): exact recovery without noise, bounds and fixed values honoured, and
 *   uncertainties whose 1-sigma and 2-sigma coverage match the Gaussian rates under noise.
 */
import { describe, expect, it } from 'vitest';
import { FIT_FLAG, PARAM_FLAG } from '../src/ops/fit-types.js';
import { type Forward, choleskySolve, fitSpectra, fitSpectraBlocks, invertSpd, jsMatMul, linearFit, linearScale, nearestLibrary } from '../src/ops/fit.js';
import { edgeStep } from '../src/ops/edge-step.js';
import { ionData } from '../src/physics/ions.js';
import { profileShift, shiftFromLibrary } from '../src/ops/fit-shift.js';
import { improveFromNeighbours } from '../src/ops/fit-neighbours.js';
import { PARAM_NAMES, PARAM_RANGES } from '../src/physics/ions.js';
import { mulberry32 } from '../src/physics/random.js';

const P = 9;
const C = 501;
const LO = PARAM_NAMES.map((k) => PARAM_RANGES[k][0]);
const HI = PARAM_NAMES.map((k) => PARAM_RANGES[k][1]);

/** Normalised coordinate of parameter k. */
const zOf = (p: ArrayLike<number>, o: number, k: number) => ((p[o + k] as number) - (LO[k] as number)) / ((HI[k] as number) - (LO[k] as number));

/**
 * Analytic stand-in for the network: two Gaussian peaks on a 501-point axis x in [0, 1],
 * driven by Dq (position 1), Ds (position 2), Dt (common width), S1 (height ratio) and S2
 * (peak 2 asymmetry); T, sigmaG, Gamma1, Gamma2 have no effect (they are fixed in the tests).
 */
const analytic: Forward = async (params, rows) => {
  const out = new Float32Array(rows * C);
  for (let r = 0; r < rows; r++) {
    const o = r * P;
    const c1 = 0.25 + 0.1 * zOf(params, o, 0);
    const c2 = 0.6 + 0.1 * zOf(params, o, 1);
    const w = 0.02 + 0.02 * zOf(params, o, 2);
    const h2 = 0.3 + 0.6 * zOf(params, o, 3);
    const skew = 0.5 + zOf(params, o, 4);
    for (let c = 0; c < C; c++) {
      const x = c / (C - 1);
      const d2 = x - c2;
      const w2 = d2 > 0 ? w * skew : w;
      out[r * C + c] = Math.exp(-0.5 * ((x - c1) / w) ** 2) + h2 * Math.exp(-0.5 * (d2 / w2) ** 2);
    }
  }
  return out;
};

const FIXED = PARAM_NAMES.map((k) => (k === 'T' ? 300 : k === 'sigmaG' ? 0.1 : k === 'Gamma1' ? 0.5 : k === 'Gamma2' ? 0.6 : NaN));

function truthSet(n: number, seed: number, margin = 0.1): Float32Array {
  const rnd = mulberry32(seed);
  const t = new Float32Array(n * P);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < P; k++) {
      const fx = FIXED[k] as number;
      t[i * P + k] = Number.isNaN(fx) ? (LO[k] as number) + ((HI[k] as number) - (LO[k] as number)) * (margin + (1 - 2 * margin) * rnd()) : fx;
    }
  }
  return t;
}

function gaussian(rnd: () => number): number {
  const u = Math.max(rnd(), 1e-300);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd());
}

describe('fit linear algebra', () => {
  it('linearScale solves m = alpha y + beta exactly, ignoring NaN channels', () => {
    const y = Float64Array.from({ length: 50 }, (_, c) => Math.sin(c / 7) + c / 50);
    const m = Float64Array.from(y, (v) => 2.5 * v - 0.3);
    m[3] = NaN;
    m[40] = NaN;
    const r = linearScale(m, y);
    expect(r.alpha).toBeCloseTo(2.5, 10);
    expect(r.beta).toBeCloseTo(-0.3, 10);
    // rss is formed from expanded sums: cancellation leaves ~1e-15 relative to sum m^2 (~ 1e2 here)
    expect(r.rss).toBeLessThan(1e-11);
    // a known residual: adding +-0.1 alternately (orthogonal to 1 and nearly to y) -> rss ~ 48 * 0.01
    const m2 = Float64Array.from(m, (v, c) => v + (c % 2 === 0 ? 0.1 : -0.1));
    const r2 = linearScale(m2, y);
    const direct = Array.from(m2).reduce((a, v, c) => (Number.isNaN(v) ? a : a + (v - r2.alpha * (y[c] as number) - r2.beta) ** 2), 0);
    expect(r2.rss).toBeCloseTo(direct, 10);
  });

  it('choleskySolve and invertSpd agree with a hand-made SPD system; singular matrices are refused', () => {
    // A = L L^T with L = [[2,0,0],[1,3,0],[0.5,-1,1.5]]
    const A = new Float64Array([4, 2, 1, 2, 10, -2.5, 1, -2.5, 3.5]);
    const x = new Float64Array([1, -2, 0.5]);
    const b = new Float64Array(3);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) b[i] = (b[i] as number) + (A[i * 3 + j] as number) * (x[j] as number);
    expect(choleskySolve(Float64Array.from(A), b, 3)).toBe(true);
    for (let i = 0; i < 3; i++) expect(b[i]).toBeCloseTo(x[i] as number, 12);
    const inv = new Float64Array(9);
    expect(invertSpd(A, inv, 3)).toBe(true);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        let s = 0;
        for (let k = 0; k < 3; k++) s += (A[i * 3 + k] as number) * (inv[k * 3 + j] as number);
        expect(s).toBeCloseTo(i === j ? 1 : 0, 12);
      }
    }
    const singular = new Float64Array([1, 2, 2, 4]);
    expect(invertSpd(singular, new Float64Array(4), 2)).toBe(false);
    expect(choleskySolve(Float64Array.from([1, 2, 2, 4]), new Float64Array(2), 2)).toBe(false);
  });
});

describe('library search', () => {
  it('nearestLibrary equals a brute-force masked search, with and without uncovered channels', () => {
    const rnd = mulberry32(3);
    const L = 40;
    const Cs = 30;
    const lib = Float32Array.from({ length: L * Cs }, () => rnd());
    const n = 6;
    const meas = Float32Array.from({ length: n * Cs }, () => rnd());
    for (let c = 0; c < 10; c++) meas[2 * Cs + c] = NaN; // pixel 2 covers channels 10..29 only
    const got = nearestLibrary(meas, [0, 1, 2, 3, 4, 5], Cs, lib, L, 3, undefined, jsMatMul, 4);
    for (let i = 0; i < n; i++) {
      const d = Array.from({ length: L }, (_, l) => {
        let s = 0;
        for (let c = 0; c < Cs; c++) {
          const m = meas[i * Cs + c] as number;
          if (!Number.isNaN(m)) s += (m - (lib[l * Cs + c] as number)) ** 2;
        }
        return [s, l] as const;
      }).sort((a, b) => a[0] - b[0]);
      expect(Array.from(got.subarray(i * 3, i * 3 + 3))).toEqual(d.slice(0, 3).map((x) => x[1]));
    }
  });
});

describe('energy shift helpers', () => {
  it('profileShift finds the vertex of a parabola to 1e-9 (grid, finer grid, parabolic vertex)', async () => {
    const r = await profileShift(async (s) => (s - 0.3721) ** 2 + 1, 0.5);
    expect(r.shift).toBeCloseTo(0.3721, 9);
    expect(r.value).toBeGreaterThanOrEqual(1);
  });

  it('shiftFromLibrary recovers a 1.234 eV miscalibration within 0.01 eV when the library holds the spectrum', async () => {
    const grid = Float64Array.from({ length: C }, (_, c) => 850 + 0.06 * c);
    const lib = await analytic(truthSet(20, 5), 20);
    const k = 7;
    // measured on a wider, coarser axis, 1.234 eV too low: measured + 1.234 = model energy
    const energy = Float64Array.from({ length: 200 }, (_, i) => 845 + 0.2 * i);
    const mean = Float64Array.from(energy, (e) => {
      const x = e + 1.234;
      const t = (x - 850) / 0.06;
      const c = Math.floor(t);
      if (c < 0 || c >= C - 1) return 0;
      return (lib[k * C + c] as number) * (1 - (t - c)) + (lib[k * C + c + 1] as number) * (t - c);
    });
    const libN = Float32Array.from(lib);
    for (let l = 0; l < 20; l++) {
      let hi = -Infinity;
      for (let c = 0; c < C; c++) hi = Math.max(hi, libN[l * C + c] as number);
      for (let c = 0; c < C; c++) libN[l * C + c] = (libN[l * C + c] as number) / hi;
    }
    const r = shiftFromLibrary(mean, energy, grid, libN, 20);
    expect(Math.abs(r.shift - 1.234)).toBeLessThan(0.01);
  });
});

describe('Levenberg-Marquardt fit (analytic forward model)', () => {
  const setup = { lower: LO, upper: HI, fixed: FIXED };

  it('recovers the parameters exactly from noise-free spectra; fixed parameters stay fixed with sigma 0', async () => {
    const n = 40;
    const truth = truthSet(n, 11);
    const meas = await analytic(truth, n);
    const { maps, report } = await fitSpectra(meas, n, C, setup, analytic, { starts: 3, iterations: 25, library: 512 });
    expect(report.free).toEqual(['Dq', 'Ds', 'Dt', 'S1', 'S2']);
    let good = 0;
    for (let i = 0; i < n; i++) {
      let ok = maps.se[i]! < 0.05;
      for (let k = 0; k < 5; k++) ok &&= Math.abs(zOf(maps.params, i * P, k) - zOf(truth, i * P, k)) < 1e-3;
      if (ok) good++;
      for (const k of [5, 6, 7, 8]) {
        expect(maps.params[i * P + k]).toBe(Math.fround(FIXED[k] as number));
        expect(maps.sigma[i * P + k]).toBe(0);
        expect(maps.paramFlags[i * P + k]).toBe(PARAM_FLAG.FIXED);
      }
    }
    // every pixel to 1e-3 of the bound span, SE < 0.05 % (local minima of two Gaussians are rare with 3 starts)
    expect(good).toBe(n);
  });

  it('bounds are honoured: a truth outside them ends on the bound, flagged', async () => {
    const n = 8;
    const truth = truthSet(n, 12);
    for (let i = 0; i < n; i++) truth[i * P] = 0.18; // Dq = 0.18 eV
    const meas = await analytic(truth, n);
    const upper = [...HI];
    upper[0] = 0.12;
    const { maps } = await fitSpectra(meas, n, C, { lower: LO, upper, fixed: FIXED }, analytic, { starts: 3, iterations: 20, library: 512 });
    for (let i = 0; i < n; i++) {
      expect(maps.params[i * P]).toBeLessThanOrEqual(Math.fround(0.12));
      expect(maps.params[i * P]).toBeCloseTo(0.12, 6);
      expect(maps.paramFlags[i * P]! & PARAM_FLAG.AT_UPPER).toBe(PARAM_FLAG.AT_UPPER);
      expect(maps.flags[i]! & FIT_FLAG.AT_BOUND).toBe(FIT_FLAG.AT_BOUND);
    }
  });

  it('sigmas cover the truth at the Gaussian rates under white noise (68 % at 1 sigma, 95 % at 2 sigma)', async () => {
    const n = 150;
    const truth = truthSet(n, 13);
    const meas = await analytic(truth, n);
    const rnd = mulberry32(14);
    const noise = 0.01;
    for (let j = 0; j < meas.length; j++) meas[j] = (meas[j] as number) + noise * gaussian(rnd);
    const { maps } = await fitSpectra(meas, n, C, setup, analytic, { starts: 3, iterations: 25, library: 512 });
    let in1 = 0;
    let in2 = 0;
    let total = 0;
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < 5; k++) {
        const err = Math.abs((maps.params[i * P + k] as number) - (truth[i * P + k] as number));
        const s = maps.sigma[i * P + k] as number;
        total++;
        if (err <= s) in1++;
        if (err <= 2 * s) in2++;
      }
    }
    // 750 estimates: binomial standard deviations 1.7 % and 0.8 %; allow about 3 of them
    expect(in1 / total).toBeGreaterThan(0.63);
    expect(in1 / total).toBeLessThan(0.74);
    expect(in2 / total).toBeGreaterThan(0.92);
    expect(in2 / total).toBeLessThan(0.98);
  });

  it('pixels without a usable spectrum are flagged NOT_FITTED with NaN results; partial coverage is flagged', async () => {
    const n = 3;
    const truth = truthSet(n, 15);
    const meas = await analytic(truth, n);
    meas.fill(NaN, 0, C); // pixel 0: nothing
    meas.fill(NaN, 2 * C, 2 * C + 100); // pixel 2: channels 100.. only
    const { maps } = await fitSpectra(meas, n, C, setup, analytic, { starts: 2, iterations: 15, library: 256 });
    expect(maps.flags[0]).toBe(FIT_FLAG.NOT_FITTED);
    expect(Number.isNaN(maps.params[0] as number)).toBe(true);
    expect(Number.isNaN(maps.se[0] as number)).toBe(true);
    expect(maps.flags[2]! & FIT_FLAG.PARTIAL).toBe(FIT_FLAG.PARTIAL);
    expect(maps.se[2]).toBeLessThan(0.5);
  });
});

describe('neighbour starts', () => {
  it("a pixel left at a wrong solution takes its neighbour's better one; a good pixel is left alone", async () => {
    const setup = { lower: LO, upper: HI, fixed: FIXED };
    const truth = truthSet(1, 16);
    const t2 = new Float32Array(3 * P);
    for (let i = 0; i < 3; i++) t2.set(truth, i * P);
    const meas = await analytic(t2, 3);
    // pixel 0 starts at the truth, pixels 1 and 2 far away; no iterations: the maps are the starts
    const init = Float32Array.from(t2);
    for (const i of [1, 2]) {
      init[i * P] = LO[0]! + 0.02 * (HI[0]! - LO[0]!);
      init[i * P + 1] = HI[1]! - 0.02 * (HI[1]! - LO[1]!);
    }
    const { maps } = await fitSpectra(meas, 3, C, setup, analytic, { initial: init, iterations: 0 });
    expect(maps.se[1]).toBeGreaterThan(10);
    const before0 = Float32Array.from(maps.params.subarray(0, P));
    // a 1 x 3 map: the good solution reaches pixel 1 in the first pass, pixel 2 in the second
    const rep = await improveFromNeighbours(maps, 1, 3, setup, analytic, { passes: 3, iterations: 10 });
    expect(rep.improved).toBe(2);
    expect(Array.from(maps.params.subarray(0, P))).toEqual(Array.from(before0));
    for (const i of [1, 2]) {
      expect(maps.se[i]).toBeLessThan(0.01);
      expect(maps.bestStart[i]).toBe(-2);
      for (let k = 0; k < 5; k++) expect(Math.abs(zOf(maps.params, i * P, k) - zOf(truth, 0, k))).toBeLessThan(1e-3);
    }
  });
});

describe('edge-jump background', () => {
  it('edgeStep: 0 below L3, 2/3 between the edges, 1 above L2, 1/3 at the L3 edge', () => {
    const d = ionData('Fe2+');
    const e3 = d.edge.L3;
    const e2 = e3 + 1.5 * d.final.zeta2p;
    const s = edgeStep('Fe2+', [e3 - 100, e3, (e3 + e2) / 2, e2 + 100]);
    expect(s[0]).toBeLessThan(0.005);
    // at E3: 2/3 * 1/2 plus the L2 step's tail 1/3 (1/2 + atan(-1.5 zeta / w) / pi)
    expect(s[1]).toBeCloseTo(1 / 3 + (1 / 3) * (0.5 + Math.atan((e3 - e2) / 0.5) / Math.PI), 6);
    expect(Math.abs(s[2]! - 2 / 3)).toBeLessThan(0.03);
    expect(s[3]).toBeGreaterThan(0.995);
  });

  it('linearFit recovers alpha, beta and the step height exactly; fitSpectra with the step recovers a stepped spectrum', async () => {
    const grid = Float64Array.from({ length: C }, (_, c) => 700 + 0.06 * c);
    const step = edgeStep('Fe2+', grid);
    const y = Float64Array.from({ length: C }, (_, c) => Math.exp(-0.5 * ((c - 150) / 10) ** 2));
    const m = Float64Array.from(y, (v, c) => 0.8 * v + 0.05 + 0.3 * step[c]!);
    m[10] = NaN;
    const r = linearFit(m, y, step);
    expect(r.alpha).toBeCloseTo(0.8, 9);
    expect(r.beta).toBeCloseTo(0.05, 9);
    expect(r.gamma).toBeCloseTo(0.3, 9);
    expect(r.rss).toBeLessThan(1e-18);
    // the analytic model plus a step of height 0.25: recovered with the step, not without it
    const truth = truthSet(4, 17);
    const meas = await analytic(truth, 4);
    for (let i = 0; i < 4; i++) for (let c = 0; c < C; c++) meas[i * C + c] = meas[i * C + c]! + 0.25 * step[c]!;
    const setup = { lower: LO, upper: HI, fixed: FIXED };
    const withStep = await fitSpectra(meas, 4, C, setup, analytic, { starts: 3, iterations: 25, library: 512, edgeStep: step });
    const without = await fitSpectra(meas, 4, C, setup, analytic, { starts: 3, iterations: 25, library: 512 });
    for (let i = 0; i < 4; i++) {
      expect(withStep.maps.se[i]).toBeLessThan(0.05);
      for (let k = 0; k < 5; k++) expect(Math.abs(zOf(withStep.maps.params, i * P, k) - zOf(truth, i * P, k))).toBeLessThan(1e-3);
      expect(without.maps.se[i]).toBeGreaterThan(withStep.maps.se[i]! + 1);
    }
  });
});

describe('fit in blocks', () => {
  it('fitSpectraBlocks (blocks of 7) gives exactly the maps of one fitSpectra call over 20 pixels', async () => {
    const n = 20;
    const meas = await analytic(truthSet(n, 18), n);
    meas.fill(NaN, 3 * C, 4 * C); // one pixel not fitted
    const setup = { lower: LO, upper: HI, fixed: FIXED };
    const opts = { starts: 3, iterations: 10, library: 256 };
    const one = await fitSpectra(meas, n, C, setup, analytic, opts);
    const seen: number[] = [];
    const blocks = await fitSpectraBlocks(meas, n, C, setup, analytic, { ...opts, block: 7, onBlock: (d) => seen.push(d) });
    expect(seen).toEqual([7, 14, 20]);
    expect(Array.from(blocks.maps.params)).toEqual(Array.from(one.maps.params));
    expect(Array.from(blocks.maps.sigma)).toEqual(Array.from(one.maps.sigma));
    expect(Array.from(blocks.maps.se)).toEqual(Array.from(one.maps.se));
    expect(Array.from(blocks.maps.flags)).toEqual(Array.from(one.maps.flags));
    expect(Array.from(blocks.startParams)).toEqual(Array.from(one.startParams));
    expect(blocks.report.fitted).toBe(19);
  });
});
