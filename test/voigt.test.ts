import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { faddeeva } from '../src/physics/faddeeva.js';
import { broadenSticks, voigt, type Grid } from '../src/physics/voigt.js';
import { mulberry32 as prng } from '../src/physics/random.js';

/** Reference values from scipy.special (see test/fixtures/make-faddeeva.py). */
interface Fixture {
  scipy: string;
  faddeeva: { x: number; y: number; re: number; im: number }[];
  erfcx: { y: number; erfcx: number }[];
  voigt: {
    x: number;
    gammaFwhm: number;
    sigmaFwhm: number;
    scipySigma: number;
    scipyGammaHwhm: number;
    value: number;
  }[];
}
const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/faddeeva.json', import.meta.url), 'utf8'),
) as Fixture;

const FWHM_TO_SIGMA = 1 / (2 * Math.sqrt(2 * Math.LN2));

function w(x: number, y: number): [number, number] {
  const out = new Float64Array(2);
  faddeeva(x, y, out);
  return [out[0]!, out[1]!];
}


/** The contract evaluated naively: one Faddeeva call per (stick, channel). */
function directSum(
  pos: Float64Array,
  wt: Float64Array,
  count: number,
  grid: Grid,
  split: number,
  gamma1: number,
  gamma2: number,
  sigmaG: number,
): Float64Array {
  const out = new Float64Array(grid.n);
  for (let k = 0; k < count; k++) {
    const p = pos[k]!;
    const a = wt[k]!;
    const g = p < split ? gamma1 : gamma2;
    for (let c = 0; c < grid.n; c++) out[c] = out[c]! + a * voigt(grid.wMin + c * grid.step - p, g, sigmaG);
  }
  return out;
}

/** max |a - b| / max |b| */
function relMaxDiff(a: Float64Array, b: Float64Array): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

const GRID: Grid = { wMin: 700, step: 0.06, n: 501 }; // 700 .. 730 eV

describe('faddeeva', () => {
  it(`matches scipy.special.wofz (scipy ${fixture.scipy}) to 1e-10 relative`, () => {
    expect(fixture.faddeeva.length).toBeGreaterThanOrEqual(60);
    for (const p of fixture.faddeeva) {
      const [re, im] = w(p.x, p.y);
      const mag = Math.hypot(p.re, p.im);
      // complex relative error, all points (including y < 0 via reflection)
      expect(Math.hypot(re - p.re, im - p.im) / mag, `w(${p.x} + ${p.y}i)`).toBeLessThanOrEqual(1e-10);
      if (p.y > 0) {
        // the Voigt profile needs Re w: it must be relatively accurate on its own
        expect(Math.abs(re - p.re) / Math.abs(p.re), `Re w(${p.x} + ${p.y}i)`).toBeLessThanOrEqual(1e-10);
        if (p.im !== 0) {
          expect(Math.abs(im - p.im) / Math.abs(p.im), `Im w(${p.x} + ${p.y}i)`).toBeLessThanOrEqual(1e-10);
        }
      }
    }
  });

  it('w(0) = 1', () => {
    const [re, im] = w(0, 0);
    expect(Math.abs(re - 1)).toBeLessThanOrEqual(1e-14);
    expect(Math.abs(im)).toBeLessThanOrEqual(1e-14);
  });

  it('w(iy) is real and equals erfcx(y) (scipy) to 1e-12 relative', () => {
    for (const p of fixture.erfcx) {
      const [re, im] = w(0, p.y);
      expect(im).toBe(0);
      expect(Math.abs(re - p.erfcx) / p.erfcx, `y=${p.y}`).toBeLessThanOrEqual(1e-12);
    }
  });

  it('symmetry w(-x + iy) = conj w(x + iy)', () => {
    for (const [x, y] of [
      [0.7, 0.2],
      [9, 0.01],
      [300, 40],
    ] as const) {
      const [a, b] = w(x, y);
      const [c, d] = w(-x, y);
      expect(c).toBe(a);
      expect(d).toBe(-b);
    }
  });
});

describe('voigt', () => {
  it('matches scipy.special.voigt_profile (FWHMs converted to sigma and HWHM) to 1e-10 relative', () => {
    expect(fixture.voigt.length).toBeGreaterThanOrEqual(30);
    for (const p of fixture.voigt) {
      // the fixture stores SciPy's arguments: check the conversion we rely on
      expect(p.scipySigma).toBeCloseTo(p.sigmaFwhm * FWHM_TO_SIGMA, 15);
      expect(p.scipyGammaHwhm).toBe(p.gammaFwhm / 2);
      const v = voigt(p.x, p.gammaFwhm, p.sigmaFwhm);
      expect(Math.abs(v - p.value) / p.value, `x=${p.x} G=${p.gammaFwhm} s=${p.sigmaFwhm}`).toBeLessThanOrEqual(
        1e-10,
      );
    }
  });

  it.each([
    [0.3, 0.1],
    [0.05, 0.01],
    [1.2, 0.2],
    [0.01, 0.001],
    [0.01, 5],
  ])('has unit area (Gamma=%s, sigmaG=%s) to 1e-9', (gamma, sigma) => {
    // x = b tan(theta) maps R onto (-pi/2, pi/2) and turns the Lorentzian
    // tails into a smooth bounded integrand; midpoint rule on 200,000 panels.
    const b = Math.max(gamma / 2, sigma * FWHM_TO_SIGMA);
    const n = 200_000;
    const dth = Math.PI / n;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const th = -Math.PI / 2 + (i + 0.5) * dth;
      const c = Math.cos(th);
      sum += (voigt(b * Math.tan(th), gamma, sigma) * b) / (c * c);
    }
    expect(Math.abs(sum * dth - 1)).toBeLessThanOrEqual(1e-9);
  });

  it('tends to the Lorentzian peak 2/(pi Gamma) as sigmaG -> 0', () => {
    const gamma = 0.4;
    const lorentzPeak = 2 / (Math.PI * gamma);
    for (const ratio of [1e-2, 1e-3, 1e-4, 1e-6]) {
      const sigma = gamma * ratio;
      const s = sigma * FWHM_TO_SIGMA;
      const rel = Math.abs(voigt(0, gamma, sigma) - lorentzPeak) / lorentzPeak;
      // V(0) = erfcx(y)/(s sqrt(2 pi)) = (1 - (s/g)^2 + ...)/(pi g), g = Gamma/2
      expect(rel).toBeLessThanOrEqual(1.01 * (s / (gamma / 2)) ** 2 + 1e-12);
    }
    expect(Math.abs(voigt(0, gamma, gamma * 1e-9) - lorentzPeak) / lorentzPeak).toBeLessThanOrEqual(1e-12);
  });

  it('tends to the Gaussian as Gamma -> 0', () => {
    const sigma = 0.2;
    const s = sigma * FWHM_TO_SIGMA;
    for (const u of [0, 0.5, 1, 2]) {
      const x = u * s;
      const gauss = Math.exp(-0.5 * u * u) / (s * Math.sqrt(2 * Math.PI));
      for (const ratio of [1e-3, 1e-6, 1e-9]) {
        const gamma = sigma * ratio;
        const rel = Math.abs(voigt(x, gamma, sigma) - gauss) / gauss;
        // first order in Gamma/(2 s): relative change <= ~2 (Gamma/2)/s
        expect(rel, `u=${u} ratio=${ratio}`).toBeLessThanOrEqual((2 * gamma) / 2 / s + 1e-12);
      }
    }
  });
});

describe('broadenSticks', () => {
  const widths: [number, number, number][] = [
    [0.05, 0.05, 0.01], // narrowest of the guaranteed range
    [0.3, 0.8, 0.1], // typical L3 / L2
    [1.2, 0.3, 0.2],
    [0.05, 1.2, 0.05],
    [0.01, 0.02, 0.001], // narrower than the guaranteed range (direct fallback)
    [0.01, 0.3, 5], // very wide Gaussian
  ];
  const cases: [number, number, number, number][] = [];
  for (const count of [60, 3000]) for (const [g1, g2, s] of widths) cases.push([count, g1, g2, s]);

  it.each(cases)(
    '%i random sticks, Gamma1=%s, Gamma2=%s, sigmaG=%s: |result - direct| <= 1e-9 max',
    (count, g1, g2, sigmaG) => {
      const rnd = prng(1234 + count + Math.round(1000 * (g1 + 3 * g2 + 7 * sigmaG)));
      const pos = new Float64Array(count);
      const wt = new Float64Array(count);
      for (let k = 0; k < count; k++) {
        pos[k] = 680 + 70 * rnd(); // window is 700 .. 730: some sticks outside on both sides
        wt[k] = k % 17 === 0 ? 0 : rnd() ** 3;
      }
      pos[0] = 655; // far outside
      wt[0] = 3;
      pos[1] = 790;
      wt[1] = 2;
      const split = 715;
      let below = 0;
      for (let k = 0; k < count; k++) if (pos[k]! < split) below++;
      expect(below).toBeGreaterThan(0);
      expect(below).toBeLessThan(count);

      const out = new Float64Array(GRID.n);
      broadenSticks(pos, wt, count, GRID, split, g1, g2, sigmaG, out);
      const ref = directSum(pos, wt, count, GRID, split, g1, g2, sigmaG);
      expect(relMaxDiff(out, ref)).toBeLessThanOrEqual(1e-9);
    },
  );

  it('applies Gamma1 below split and Gamma2 at/above it (by stick energy)', () => {
    const split = 712.3;
    const g1 = 0.2;
    const g2 = 1.0;
    const sigmaG = 0.1;
    const one = new Float64Array([1]);
    const lo = new Float64Array(GRID.n);
    const hi = new Float64Array(GRID.n);
    broadenSticks(new Float64Array([split - 1e-9]), one, 1, GRID, split, g1, g2, sigmaG, lo);
    broadenSticks(new Float64Array([split]), one, 1, GRID, split, g1, g2, sigmaG, hi);
    const refLo = new Float64Array(GRID.n);
    const refHi = new Float64Array(GRID.n);
    for (let c = 0; c < GRID.n; c++) {
      const e = GRID.wMin + c * GRID.step;
      refLo[c] = voigt(e - (split - 1e-9), g1, sigmaG);
      refHi[c] = voigt(e - split, g2, sigmaG);
    }
    expect(relMaxDiff(lo, refLo)).toBeLessThanOrEqual(1e-9);
    expect(relMaxDiff(hi, refHi)).toBeLessThanOrEqual(1e-9);
    // and the two really are different widths: peak heights differ by ~3.5x
    const peak = (a: Float64Array) => a.reduce((m, v) => Math.max(m, v), 0);
    expect(peak(lo) / peak(hi)).toBeGreaterThan(3);
  });

  it('evaluates sticks far outside the window (table core + direct far sticks)', () => {
    const rnd = prng(99);
    const count = 800;
    const pos = new Float64Array(count);
    const wt = new Float64Array(count);
    for (let k = 0; k < count; k++) {
      pos[k] = 700 + 30 * rnd();
      wt[k] = rnd();
    }
    // heavy sticks 1.5 keV (inside a ~4M-entry table), 5 keV and 300 keV away
    pos[0] = 700 - 1500;
    wt[0] = 1e6;
    pos[1] = 730 + 5000;
    wt[1] = 1e7;
    pos[2] = 700 - 3e5;
    wt[2] = 1e11;
    for (const [g1, g2, s] of [
      [0.05, 0.05, 0.01],
      [0.3, 0.6, 0.1],
    ] as const) {
      const out = new Float64Array(GRID.n);
      broadenSticks(pos, wt, count, GRID, 715, g1, g2, s, out);
      const ref = directSum(pos, wt, count, GRID, 715, g1, g2, s);
      expect(relMaxDiff(out, ref)).toBeLessThanOrEqual(1e-9);
      // the far sticks matter at this tolerance: dropping them would fail
      const near = directSum(pos.subarray(3), wt.subarray(3), count - 3, GRID, 715, g1, g2, s);
      expect(relMaxDiff(near, ref)).toBeGreaterThan(1e-6);
    }
  });

  it('adds into out and uses only the first count sticks', () => {
    const pos = new Float64Array([705, 712, 720, 725]);
    const wt = new Float64Array([1, 2, 0.5, 100]);
    const out = new Float64Array(GRID.n).fill(0.25);
    broadenSticks(pos, wt, 3, GRID, 715, 0.3, 0.6, 0.1, out);
    const ref = directSum(pos, wt, 3, GRID, 715, 0.3, 0.6, 0.1);
    for (let c = 0; c < GRID.n; c++) ref[c] = ref[c]! + 0.25;
    expect(relMaxDiff(out, ref)).toBeLessThanOrEqual(1e-9);
  });

  it('is pure: results do not depend on earlier calls (caches)', () => {
    const make = (seed: number, n: number, lo: number, span: number) => {
      const r = prng(seed);
      const pos = new Float64Array(n);
      const wt = new Float64Array(n);
      for (let k = 0; k < n; k++) {
        pos[k] = lo + span * r();
        wt[k] = r();
      }
      return { pos, wt };
    };
    const a = make(1, 2000, 695, 40);
    const b = make(2, 5000, 600, 300); // same widths, wider range: extends the cached table
    const run = (s: { pos: Float64Array; wt: Float64Array }, g1: number, g2: number, sg: number) => {
      const out = new Float64Array(GRID.n);
      broadenSticks(s.pos, s.wt, s.pos.length, GRID, 715, g1, g2, sg, out);
      return Array.from(out);
    };
    const first = run(a, 0.3, 0.7, 0.12);
    run(b, 0.3, 0.7, 0.12);
    run(a, 0.5, 0.9, 0.08);
    run(make(3, 10, 700, 30), 0.3, 0.7, 0.12);
    expect(run(a, 0.3, 0.7, 0.12)).toEqual(first);
  });

  it('handles one-channel and empty grids', () => {
    const pos = new Float64Array([700.01, 700.5]);
    const wt = new Float64Array([1, 2]);
    const g1: Grid = { wMin: 700, step: 0.06, n: 1 };
    const out = new Float64Array(1);
    broadenSticks(pos, wt, 2, g1, 700.2, 0.3, 0.6, 0.1, out);
    const ref = directSum(pos, wt, 2, g1, 700.2, 0.3, 0.6, 0.1);
    expect(Math.abs(out[0]! - ref[0]!) / ref[0]!).toBeLessThanOrEqual(1e-12);
    const empty = new Float64Array(0);
    broadenSticks(pos, wt, 2, { wMin: 700, step: 0.06, n: 0 }, 700.2, 0.3, 0.6, 0.1, empty);
    expect(empty.length).toBe(0);
  });

  it('rejects invalid arguments', () => {
    const pos = new Float64Array([710]);
    const wt = new Float64Array([1]);
    const out = new Float64Array(GRID.n);
    expect(() => broadenSticks(pos, wt, 2, GRID, 715, 0.3, 0.3, 0.1, out)).toThrow(RangeError);
    expect(() => broadenSticks(pos, wt, 1, GRID, 715, -0.3, 0.3, 0.1, out)).toThrow(RangeError);
    expect(() => broadenSticks(pos, wt, 1, GRID, 715, 0.3, 0.3, Number.NaN, out)).toThrow(RangeError);
    expect(() => broadenSticks(pos, wt, 1, GRID, 715, 0.3, 0.3, 0.1, new Float64Array(10))).toThrow(RangeError);
    expect(() =>
      broadenSticks(new Float64Array([Number.NaN]), wt, 1, GRID, 715, 0.3, 0.3, 0.1, out),
    ).toThrow(RangeError);
    expect(() => voigt(0, 0, 0)).toThrow(RangeError);
  });
});
