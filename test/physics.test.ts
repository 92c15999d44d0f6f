/**
 * Checks of section 10 of physics.md that do not need a reference code: analytic
 * multiplet energies, sum rules, symmetry and block structure. Tolerances are stated per test.
 */
import { describe, expect, it } from 'vitest';
import { gaunt, threeJ } from '../src/physics/gaunt.js';
import { makeBasis } from '../src/physics/basis.js';
import { timeReverse } from '../src/physics/symmetry.js';
import { assembleBlock, buildOperators, TERM_INDEX, N_TERMS } from '../src/physics/operators.js';
import { symmetricEigen } from '../src/physics/eigen.js';
import { ION_NAMES, PARAM_RANGES, ionData, energyWindow } from '../src/physics/ions.js';
import {
  type AtomicValues,
  type HamiltonianSpec,
  broaden,
  computeSticks,
  configurationPair,
  ionModel,
  ionSpec,
  termCoefficients,
  weightedSticks,
} from '../src/physics/spectrum.js';
import { mulberry32 } from '../src/physics/random.js';

const ZERO_ATOMIC: AtomicValues = {
  initial: { F2dd: 0, F4dd: 0, zeta3d: 0 },
  final: { F2dd: 0, F4dd: 0, F2pd: 0, G1pd: 0, G3pd: 0, zeta3d: 0, zeta2p: 0 },
};

function spec(n: number, atomic: AtomicValues, cf = { Dq: 0, Ds: 0, Dt: 0 }): HamiltonianSpec {
  const c = termCoefficients(atomic, cf);
  return { pair: configurationPair(n), initialCoefs: c.initial, finalCoefs: c.final };
}

/** Group sorted levels into (energy, degeneracy) within tol. */
function multiplets(levels: ArrayLike<number>, tol = 1e-8): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < levels.length; i++) {
    const e = levels[i]!;
    const last = out[out.length - 1];
    if (last && Math.abs(e - last[0]) < tol) last[1]++;
    else out.push([e, 1]);
  }
  return out;
}

function randomCf(rng: () => number) {
  const u = (k: keyof typeof PARAM_RANGES) => PARAM_RANGES[k][0] + rng() * (PARAM_RANGES[k][1] - PARAM_RANGES[k][0]);
  return { Dq: u('Dq'), Ds: u('Ds'), Dt: u('Dt'), S1: u('S1'), S2: u('S2') };
}

describe('angular algebra', () => {
  it('3j symbols match tabulated values (1e-14)', () => {
    // (1 1 0; 0 0 0) = -1/sqrt(3); (2 2 2; 0 0 0) = -sqrt(2/35); (1 1 2; 1 -1 0) = 1/sqrt(30)
    expect(threeJ(1, 1, 0, 0, 0, 0)).toBeCloseTo(-1 / Math.sqrt(3), 14);
    expect(threeJ(2, 2, 2, 0, 0, 0)).toBeCloseTo(-Math.sqrt(2 / 35), 14);
    expect(threeJ(1, 1, 2, 1, -1, 0)).toBeCloseTo(1 / Math.sqrt(30), 14);
  });
  it('Gaunt coefficients match the Condon-Shortley tables (1e-14)', () => {
    // d-d k=2: c2(0,0) = 2/7, c2(2,2) = -2/7, c2(1,1) = 1/7; k=4: c4(0,0) = 6/21, c4(2,2) = 1/21
    expect(gaunt(2, 2, 0, 2, 0)).toBeCloseTo(2 / 7, 14);
    expect(gaunt(2, 2, 2, 2, 2)).toBeCloseTo(-2 / 7, 14);
    expect(gaunt(2, 2, 1, 2, 1)).toBeCloseTo(1 / 7, 14);
    expect(gaunt(4, 2, 0, 2, 0)).toBeCloseTo(6 / 21, 14);
    expect(gaunt(4, 2, 2, 2, 2)).toBeCloseTo(1 / 21, 14);
    expect(gaunt(0, 2, 1, 2, 1)).toBeCloseTo(1, 14);
    // d-p k=1: |c1(2 0; 1 0)|^2 = 4/15, |c1(2 2; 1 1)|^2 = 6/15
    expect(gaunt(1, 2, 0, 1, 0) ** 2).toBeCloseTo(4 / 15, 14);
    expect(gaunt(1, 2, 2, 1, 1) ** 2).toBeCloseTo(6 / 15, 14);
    // parity and triangle selection
    expect(gaunt(1, 2, 0, 2, 0)).toBe(0);
    expect(gaunt(6, 2, 0, 2, 0)).toBe(0);
  });
});

describe('basis and block structure', () => {
  it('Fe2+ blocks are 56+50+54+50 (initial) and 4 x 180 (final), as formulas.md states', () => {
    const ini = makeBasis(6, 6);
    const fin = makeBasis(7, 5);
    expect(ini.states.map((s) => s.length)).toEqual([56, 50, 54, 50]);
    expect(fin.states.map((s) => s.length)).toEqual([180, 180, 180, 180]);
  });
  it('every configuration: operators stay in their block and are symmetric (1e-13)', () => {
    // buildOperators throws if any matrix element leaves its 2Jz mod 8 block
    for (let n = 2; n <= 8; n++) {
      const pair = configurationPair(n);
      for (const ops of [pair.initial, pair.final]) {
        for (const blockMats of ops.mats) {
          const dim = Math.round(Math.sqrt(blockMats[0]!.length));
          for (const m of blockMats) {
            let asym = 0;
            for (let i = 0; i < dim; i++)
              for (let j = 0; j < i; j++) asym = Math.max(asym, Math.abs(m[i * dim + j]! - m[j * dim + i]!));
            expect(asym).toBeLessThan(1e-13);
          }
        }
      }
      // blocks partition the configuration: 6 C(10, n+1) final and C(10, n) initial states
      const binom = (a: number, b: number): number => (b === 0 ? 1 : (binom(a, b - 1) * (a - b + 1)) / b);
      expect(pair.final.basis.states.reduce((t, s) => t + s.length, 0)).toBe(6 * binom(10, n + 1));
      expect(pair.initial.basis.states.reduce((t, s) => t + s.length, 0)).toBe(binom(10, n));
      expect(Math.max(...pair.final.basis.states.map((s) => s.length))).toBeLessThanOrEqual(380);
    }
  });
  it('the monopole rule makes H traceless: configuration averages do not move (1e-9 relative)', () => {
    const rng = mulberry32(7);
    for (const ion of ['Ti2+', 'Mn3+', 'Co2+'] as const) {
      const m = ionModel(ion);
      const cf = randomCf(rng);
      const s = ionSpec(m, cf);
      for (const [ops, coefs] of [[m.initial, s.initialCoefs], [m.final, s.finalCoefs]] as const) {
        let tr = 0;
        let scale = 0;
        ops.mats.forEach((bm) => {
          const dim = Math.round(Math.sqrt(bm[0]!.length));
          for (let i = 0; i < dim; i++) {
            let d = 0;
            bm.forEach((mat, t) => (d += coefs[t]! * mat[i * dim + i]!));
            tr += d;
            scale += Math.abs(d);
          }
        });
        expect(Math.abs(tr)).toBeLessThan(1e-9 * scale);
      }
    }
  });
});

describe('analytic multiplets', () => {
  it('d2 free ion: 3F, 3P, 1D, 1G, 1S at the Racah energies (1e-10 eV)', () => {
    const F2 = 8.3;
    const F4 = 5.2;
    const s = spec(2, { ...ZERO_ATOMIC, initial: { F2dd: F2, F4dd: F4, zeta3d: 0 } });
    const st = computeSticks(s, { tMax: 1 });
    const e0 = st.groundEnergy;
    const B = F2 / 49 - (5 * F4) / 441;
    const C = (35 * F4) / 441;
    const A = (2 / 63) * (F2 + F4) - F4 / 9; // Racah A = F0 - 49 F4/441 with the monopole rule
    const expected: [number, number][] = [
      [A - 8 * B, 21],
      [A + 7 * B, 9],
      [A - 3 * B + 2 * C, 5],
      [A + 4 * B + 2 * C, 9],
      [A + 14 * B + 7 * C, 1],
    ];
    expected.sort((x, y) => x[0] - y[0]);
    const got = multiplets(Array.from(st.initialLevels, (e) => e + e0));
    expect(got.length).toBe(5);
    got.forEach(([e, deg], i) => {
      expect(deg).toBe(expected[i]![1]);
      expect(Math.abs(e - expected[i]![0])).toBeLessThan(1e-10);
    });
  });

  it('d1 in D4h: the four orbital energies, each spin-degenerate (1e-12 eV)', () => {
    const Dq = 0.13;
    const Ds = 0.21;
    const Dt = -0.07;
    const ops = buildOperators(1, 6);
    const coefs = new Float64Array(N_TERMS);
    coefs[TERM_INDEX.Dq] = Dq;
    coefs[TERM_INDEX.Ds] = Ds;
    coefs[TERM_INDEX.Dt] = Dt;
    const levels: number[] = [];
    ops.basis.states.forEach((list, b) => {
      const dim = list.length;
      const h = assembleBlock(ops, b, coefs, new Float64Array(dim * dim));
      levels.push(...symmetricEigen(h, dim).values);
    });
    levels.sort((x, y) => x - y);
    const orb = [6 * Dq - 2 * Ds - 6 * Dt, 6 * Dq + 2 * Ds - Dt, -4 * Dq + 2 * Ds - Dt, -4 * Dq - Ds + 4 * Dt, -4 * Dq - Ds + 4 * Dt];
    const expected = orb.flatMap((e) => [e, e]).sort((x, y) => x - y);
    expect(levels.length).toBe(10);
    levels.forEach((e, i) => expect(Math.abs(e - expected[i]!)).toBeLessThan(1e-12));
  });

  it('d8 in Oh, zeta = 0: E(3T2g) - E(3A2g) = 10Dq (1e-9 eV), degeneracies 3 and 9', () => {
    const d = ionData('Ni2+');
    // 10Dq kept below the 1Eg level (~8B + 2C = 2 eV here) so that 3T2g is the first excited level
    for (const Dq of [0.03, 0.08, 0.14]) {
      const s = spec(8, { ...ZERO_ATOMIC, initial: { F2dd: 0.8 * d.initial.F2dd, F4dd: 0.8 * d.initial.F4dd, zeta3d: 0 } }, { Dq, Ds: 0, Dt: 0 });
      const got = multiplets(computeSticks(s, { tMax: 1 }).initialLevels);
      expect(got[0]![1]).toBe(3);
      expect(got[1]![1]).toBe(9);
      expect(Math.abs(got[1]![0] - got[0]![0] - 10 * Dq)).toBeLessThan(1e-9);
    }
  });

  it('bare 2p hole: L3 at -zeta2p/2 and L2 at +zeta2p, 2:1 intensity, for n = 2..8 (1e-10)', () => {
    const zeta2p = 6.5;
    for (let n = 2; n <= 8; n++) {
      const s = spec(n, { ...ZERO_ATOMIC, final: { ...ZERO_ATOMIC.final, zeta2p } });
      const st = computeSticks(s, { tMax: 1 });
      // all initial states are degenerate: the Boltzmann average is the average over the configuration
      const { pos, wt } = weightedSticks(st, 1);
      const levels = new Map<number, number>();
      pos.forEach((w, j) => {
        const key = Math.round(w * 1e6) / 1e6;
        levels.set(key, (levels.get(key) ?? 0) + wt[j]!);
      });
      const keys = [...levels.keys()].sort((a, b) => a - b);
      expect(keys.length).toBe(2);
      expect(Math.abs(keys[0]! + zeta2p / 2)).toBeLessThan(1e-6);
      expect(Math.abs(keys[1]! - keys[0]! - 1.5 * zeta2p)).toBeLessThan(1e-6);
      expect(levels.get(keys[0]!)! / levels.get(keys[1]!)!).toBeCloseTo(2, 10);
    }
  });
});

describe('every ion', () => {
  const rng = mulberry32(2024);
  const cases = ION_NAMES.map((ion) => ({ ion, cf: randomCf(rng) }));

  it.each(cases)('$ion: isotropic sum rule 2(10-n)/15 per initial state, random parameters (1e-10)', ({ ion, cf }) => {
    const n = ionData(ion).n;
    const st = computeSticks(ionSpec(ionModel(ion), cf), { tMax: 300 });
    for (const s of st.states) {
      let sum = 0;
      for (let j = 0; j < s.wt.length; j++) sum += s.wt[j]! / 3;
      expect(Math.abs(sum - (2 * (10 - n)) / 15)).toBeLessThan(1e-10);
    }
    if (n % 2 === 1) {
      // Kramers: odd electron counts give degenerate pairs
      const lv = st.initialLevels;
      for (let i = 0; i + 1 < lv.length; i += 2) expect(Math.abs(lv[i + 1]! - lv[i]!)).toBeLessThan(1e-9);
    }
  });

  it.each(cases.filter((_, i) => i % 3 === 0))('$ion: x = y = z when Dq = Ds = Dt = 0 (1e-9 of max)', ({ ion, cf }) => {
    const m = ionModel(ion);
    const b = { T: 500, sigmaG: 0.1, Gamma1: 0.4, Gamma2: 0.6 };
    const st = computeSticks(ionSpec(m, { ...cf, Dq: 0, Ds: 0, Dt: 0 }), { tMax: b.T });
    const x = broaden(st, m.window, b, 'x');
    const y = broaden(st, m.window, b, 'y');
    const z = broaden(st, m.window, b, 'z');
    const max = Math.max(...z);
    for (let c = 0; c < z.length; c++) {
      expect(Math.abs(x[c]! - z[c]!)).toBeLessThan(1e-9 * max);
      expect(Math.abs(y[c]! - z[c]!)).toBeLessThan(1e-9 * max);
    }
    // and with a crystal field x != z somewhere (the test can tell them apart)
    const st2 = computeSticks(ionSpec(m, { ...cf, Dq: 0.1, Ds: 0.3, Dt: 0.1 }), { tMax: b.T });
    const x2 = broaden(st2, m.window, b, 'x');
    const z2 = broaden(st2, m.window, b, 'z');
    expect(Math.max(...x2.map((v, c) => Math.abs(v - z2[c]!)))).toBeGreaterThan(1e-3 * Math.max(...z2));
  });
  it('window: 501 channels from -zeta2p/2 - 5 eV, step 0.06 eV', () => {
    const w = energyWindow('Ti2+');
    expect(w.wMin).toBeCloseTo(-6.88815, 12);
    expect(w.n).toBe(501);
    expect(w.split).toBeCloseTo(3.7763 / 4, 12);
  });
});

describe('time-reversal reduction', () => {
  it('U H U^T = H for every term of every configuration (1e-13)', () => {
    for (let n = 2; n <= 8; n++) {
      const pair = configurationPair(n);
      for (const ops of [pair.initial, pair.final]) {
        const { basis } = ops;
        basis.states.forEach((list, b) => {
          const dim = list.length;
          const img = Array.from(list, (s) => timeReverse(s));
          const pb = basis.lookup.get(img[0]!.image)! >>> 16;
          expect(basis.labels[pb]).toBe((8 - basis.labels[b]!) % 8);
          const pdim = basis.states[pb]!.length;
          ops.mats[b]!.forEach((m, t) => {
            const mp = ops.mats[pb]![t]!;
            let err = 0;
            for (let i = 0; i < dim; i++) {
              const ii = basis.lookup.get(img[i]!.image)! & 0xffff;
              for (let j = 0; j < dim; j++) {
                const jj = basis.lookup.get(img[j]!.image)! & 0xffff;
                err = Math.max(err, Math.abs(img[i]!.sign * img[j]!.sign * m[i * dim + j]! - mp[ii * pdim + jj]!));
              }
            }
            expect(err).toBeLessThan(1e-13);
          });
        });
      }
    }
  });

  it.each(['Ti2+', 'V2+', 'Mn3+', 'Fe3+', 'Co2+', 'Ni3+'] as const)(
    '%s: reduced and unreduced diagonalisation give the same spectrum (1e-10 of max) and levels',
    (ion) => {
      const m = ionModel(ion);
      const cf = { Dq: 0.11, Ds: 0.23, Dt: -0.05, S1: 0.8, S2: 0.7 };
      const b = { T: 800, sigmaG: 0.1, Gamma1: 0.4, Gamma2: 0.6 };
      const red = computeSticks(ionSpec(m, cf), { tMax: b.T });
      const full = computeSticks(ionSpec(m, cf), { tMax: b.T, symmetry: false });
      expect(red.maxBlock).toBeLessThan(full.maxBlock + 1);
      for (const pol of ['iso', 'z', 'x'] as const) {
        const x = broaden(red, m.window, b, pol);
        const y = broaden(full, m.window, b, pol);
        const max = Math.max(...y);
        x.forEach((v, c) => expect(Math.abs(v - y[c]!)).toBeLessThan(1e-10 * max));
      }
      expect(red.states.length).toBe(full.states.length);
    },
  );
});
