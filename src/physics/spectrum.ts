/**
 * The multiplet simulator: exact diagonalisation of the initial (2p6 3d^n) and final
 * (2p5 3d^(n+1)) Hamiltonians block by block, dipole sticks, Boltzmann average and
 * Voigt broadening (physics.md). Sticks are computed once per (Dq, Ds, Dt, S1, S2) and
 * can be broadened for any T <= tMax, sigmaG, Gamma1, Gamma2.
 */
import { eigenProject, symmetricEigen } from './eigen.js';
import {
  type DipoleOperator,
  type OperatorSet,
  TERM_INDEX,
  N_TERMS,
  assembleBlock,
  buildDipole,
  buildOperators,
  combineOperators,
} from './operators.js';
import { type EnergyWindow, type IonName, KB_EV_PER_K, energyWindow, ionData } from './ions.js';
import { type ReductionPlan, identityPlan, reduceMatrix, reduceVector, reductionPlan, routeVector } from './symmetry.js';
import { broadenSticks } from './voigt.js';

/** Weights below this fraction of the ground state's are dropped (physics.md section 4). */
export const BOLTZMANN_CUTOFF = 1e-8;
const LN_CUTOFF = -Math.log(BOLTZMANN_CUTOFF);
/** Initial levels this close (eV) to the cutoff energy are kept too, so degenerate levels stay whole. */
const DEGENERACY_TOL = 1e-7;

export interface CrystalField {
  Dq: number;
  Ds: number;
  Dt: number;
  S1: number;
  S2: number;
}
export interface Broadening {
  T: number;
  sigmaG: number;
  Gamma1: number;
  Gamma2: number;
}

/** Scaled atomic values of one calculation (eV); monopoles follow from them. */
export interface AtomicValues {
  initial: { F2dd: number; F4dd: number; zeta3d: number };
  final: { F2dd: number; F4dd: number; F2pd: number; G1pd: number; G3pd: number; zeta3d: number; zeta2p: number };
}

/** Coefficients of the 12 unit terms for the initial and final Hamiltonians (monopole rule of physics.md). */
export function termCoefficients(a: AtomicValues, cf: { Dq: number; Ds: number; Dt: number }): {
  initial: Float64Array;
  final: Float64Array;
} {
  const ini = new Float64Array(N_TERMS);
  const fin = new Float64Array(N_TERMS);
  ini[TERM_INDEX.F2dd] = a.initial.F2dd;
  ini[TERM_INDEX.F4dd] = a.initial.F4dd;
  ini[TERM_INDEX.F0dd] = (2 / 63) * (a.initial.F2dd + a.initial.F4dd);
  ini[TERM_INDEX.zeta3d] = a.initial.zeta3d;
  fin[TERM_INDEX.F2dd] = a.final.F2dd;
  fin[TERM_INDEX.F4dd] = a.final.F4dd;
  fin[TERM_INDEX.F0dd] = (2 / 63) * (a.final.F2dd + a.final.F4dd);
  fin[TERM_INDEX.F2pd] = a.final.F2pd;
  fin[TERM_INDEX.G1pd] = a.final.G1pd;
  fin[TERM_INDEX.G3pd] = a.final.G3pd;
  fin[TERM_INDEX.F0pd] = a.final.G1pd / 15 + (3 / 70) * a.final.G3pd;
  fin[TERM_INDEX.zeta3d] = a.final.zeta3d;
  fin[TERM_INDEX.zeta2p] = a.final.zeta2p;
  for (const c of [ini, fin]) {
    c[TERM_INDEX.Dq] = cf.Dq;
    c[TERM_INDEX.Ds] = cf.Ds;
    c[TERM_INDEX.Dt] = cf.Dt;
  }
  return { initial: ini, final: fin };
}

/** The unscaled values of an ion with S1/S2 applied (physics.md section 2). */
export function scaledAtomicValues(ion: IonName, S1: number, S2: number): AtomicValues {
  const d = ionData(ion);
  return {
    initial: { F2dd: S1 * d.initial.F2dd, F4dd: S1 * d.initial.F4dd, zeta3d: d.initial.zeta3d },
    final: {
      F2dd: S1 * d.final.F2dd,
      F4dd: S1 * d.final.F4dd,
      F2pd: S1 * d.final.F2pd,
      G1pd: S2 * d.final.G1pd,
      G3pd: S2 * d.final.G3pd,
      zeta3d: d.final.zeta3d,
      zeta2p: d.final.zeta2p,
    },
  };
}

/** Everything that depends only on the electron count: operators and the dipole map (cached). */
export interface ConfigurationPair {
  readonly n: number;
  readonly initial: OperatorSet;
  readonly final: OperatorSet;
  readonly dipole: DipoleOperator;
  /** time-reversal reduction of the final-state blocks */
  readonly finalPlan: ReductionPlan;
}

const pairCache = new Map<number, ConfigurationPair>();

export function configurationPair(n: number): ConfigurationPair {
  let c = pairCache.get(n);
  if (!c) {
    const initial = buildOperators(n, 6);
    const final = buildOperators(n + 1, 5);
    c = { n, initial, final, dipole: buildDipole(initial.basis, final.basis), finalPlan: reductionPlan(final.basis) };
    pairCache.set(n, c);
  }
  return c;
}

/**
 * A Hamiltonian source: either the 12 unit terms with explicit coefficients (any atomic
 * values, for tests and studies), or an ion's fused 6-term form (fast path).
 */
export interface HamiltonianSpec {
  readonly pair: { initial: OperatorSet; final: OperatorSet; dipole: DipoleOperator; n: number; finalPlan?: ReductionPlan };
  readonly initialCoefs: Float64Array;
  readonly finalCoefs: Float64Array;
}

/** An ion's operators fused to H = A0 + S1 A1 + S2 A2 + Dq C1 + Ds C2 + Dt C3 (cached). */
export interface IonModel {
  readonly ion: IonName;
  readonly n: number;
  readonly window: EnergyWindow;
  readonly initial: OperatorSet;
  readonly final: OperatorSet;
  readonly dipole: DipoleOperator;
  readonly finalPlan: ReductionPlan;
}

const ionCache = new Map<IonName, IonModel>();
const FUSED_TERMS = ['const', 'S1', 'S2', 'Dq', 'Ds', 'Dt'] as const;

export function ionModel(ion: IonName): IonModel {
  let m = ionCache.get(ion);
  if (m) return m;
  const d = ionData(ion);
  const pair = configurationPair(d.n);
  // Coefficient vectors of the 12 unit terms for each fused term: evaluate termCoefficients at unit vectors.
  const at = (S1: number, S2: number, Dq: number, Ds: number, Dt: number) =>
    termCoefficients(scaledAtomicValues(ion, S1, S2), { Dq, Ds, Dt });
  const base = at(0, 0, 0, 0, 0);
  const unit = [at(1, 0, 0, 0, 0), at(0, 1, 0, 0, 0), at(0, 0, 1, 0, 0), at(0, 0, 0, 1, 0), at(0, 0, 0, 0, 1)];
  const diff = (x: Float64Array, y: Float64Array) => x.map((v, i) => v - y[i]!);
  const iniCoefs = [base.initial, ...unit.map((u) => diff(u.initial, base.initial))];
  const finCoefs = [base.final, ...unit.map((u) => diff(u.final, base.final))];
  m = {
    ion,
    n: d.n,
    window: energyWindow(ion),
    initial: combineOperators(pair.initial, FUSED_TERMS, iniCoefs),
    final: combineOperators(pair.final, FUSED_TERMS, finCoefs),
    dipole: pair.dipole,
    finalPlan: pair.finalPlan,
  };
  ionCache.set(ion, m);
  return m;
}

export function ionSpec(model: IonModel, cf: CrystalField): HamiltonianSpec {
  const c = Float64Array.of(1, cf.S1, cf.S2, cf.Dq, cf.Ds, cf.Dt);
  return { pair: model, initialCoefs: c, finalCoefs: c };
}

/** Sticks from one initial eigenstate: positions w = E_f - E_i and |<f|T_q|i>|^2 for q = -1, 0, +1. */
export interface StateSticks {
  /** E_i - E_0 (eV) */
  readonly energy: number;
  readonly pos: Float64Array;
  readonly wt: Float64Array;
  /** q + 1 of each stick (0, 1, 2) */
  readonly q: Int8Array;
}

export interface StickSet {
  /** absolute ground-state energy of the initial Hamiltonian (eV) */
  readonly groundEnergy: number;
  /** all initial eigenvalues relative to the ground state, ascending */
  readonly initialLevels: Float64Array;
  /** kept initial states (within the Boltzmann cutoff at tMax), ascending energy */
  readonly states: readonly StateSticks[];
  readonly tMax: number;
  /** largest (reduced) block dimension diagonalised, for reports */
  readonly maxBlock: number;
}

export interface StickOptions {
  /** highest temperature the sticks will be broadened for (K) */
  tMax: number;
  /** sticks with |amplitude|^2 below this fraction of the state's total are dropped (default 1e-16) */
  dropBelow?: number;
  /** use the time-reversal reduction of the final blocks (default true; false is for tests) */
  symmetry?: boolean;
}

/** Diagonalise and compute the sticks (the expensive part). */
export function computeSticks(spec: HamiltonianSpec, opts: StickOptions): StickSet {
  const { pair } = spec;
  const ini = pair.initial;
  const fin = pair.final;
  let maxBlock = 0;
  // 1. initial eigenstates, all blocks
  const levels: { e: number; block: number; vec: Float64Array }[] = [];
  ini.basis.states.forEach((list, b) => {
    const n = list.length;
    if (n === 0) return;
    maxBlock = Math.max(maxBlock, n);
    const h = assembleBlock(ini, b, spec.initialCoefs, new Float64Array(n * n));
    const { values, vectors } = symmetricEigen(h, n);
    for (let f = 0; f < n; f++) {
      const v = new Float64Array(n);
      for (let i = 0; i < n; i++) v[i] = vectors[i * n + f]!;
      levels.push({ e: values[f]!, block: b, vec: v });
    }
  });
  levels.sort((x, y) => x.e - y.e);
  const e0 = levels[0]?.e ?? 0;
  const kT = KB_EV_PER_K * opts.tMax;
  const eCut = kT * LN_CUTOFF + DEGENERACY_TOL;
  const kept = levels.filter((l) => l.e - e0 <= eCut);

  // 2. dipole vectors T_q|i>, routed to the reduced units of the final blocks
  const plan = opts.symmetry === false || !pair.finalPlan ? identityPlan(fin.basis) : pair.finalPlan;
  const jobs = new Map<number, { state: number; q: number; vec: Float64Array }[]>();
  kept.forEach((l, s) => {
    for (let q = 0; q < 3; q++) {
      const db = pair.dipole.blocks[q]![l.block]!;
      if (db.finalBlock < 0) continue;
      const nf = fin.basis.states[db.finalBlock]!.length;
      const v = new Float64Array(nf);
      const x = l.vec;
      for (let i = 0; i < x.length; i++) {
        const xi = x[i]!;
        if (xi === 0) continue;
        for (let p = db.start[i]!; p < db.start[i + 1]!; p++) v[db.index[p]!]! += db.value[p]! * xi;
      }
      const route = plan.routes[db.finalBlock]!;
      const u = routeVector(route, v);
      for (const id of route.units) {
        let list = jobs.get(id);
        if (!list) jobs.set(id, (list = []));
        list.push({ state: s, q, vec: reduceVector(plan.units[id]!, u) });
      }
    }
  });

  // 3. reduced final units: eigenvalues and projections of the dipole vectors
  const acc = kept.map(() => ({ pos: [] as number[], wt: [] as number[], q: [] as number[] }));
  const drop = opts.dropBelow ?? 1e-16;
  for (const [id, list] of jobs) {
    const unit = plan.units[id]!;
    const nb = fin.basis.states[unit.block]!.length;
    const n = unit.dim;
    maxBlock = Math.max(maxBlock, n);
    const k = list.length;
    const vs = new Float64Array(n * k);
    list.forEach((job, j) => {
      for (let i = 0; i < n; i++) vs[i * k + j] = job.vec[i]!;
    });
    const h = reduceMatrix(unit, assembleBlock(fin, unit.block, spec.finalCoefs, new Float64Array(nb * nb)), nb);
    const { values, proj } = eigenProject(h, n, vs, k);
    list.forEach((job, j) => {
      let norm = 0;
      for (let i = 0; i < n; i++) norm += job.vec[i]! * job.vec[i]!;
      const ei = kept[job.state]!.e;
      const a = acc[job.state]!;
      for (let f = 0; f < n; f++) {
        const c = proj[f * k + j]!;
        const w2 = c * c;
        if (w2 <= drop * norm) continue;
        a.pos.push(values[f]! - ei);
        a.wt.push(w2);
        a.q.push(job.q);
      }
    });
  }
  return {
    groundEnergy: e0,
    initialLevels: Float64Array.from(levels, (l) => l.e - e0),
    states: kept.map((l, s) => ({
      energy: l.e - e0,
      pos: Float64Array.from(acc[s]!.pos),
      wt: Float64Array.from(acc[s]!.wt),
      q: Int8Array.from(acc[s]!.q),
    })),
    tMax: opts.tMax,
    maxBlock,
  };
}

export type Polarisation = 'iso' | 'x' | 'y' | 'z';

/** Weight of |<f|T_q|i>|^2 in a linear-polarisation spectrum; index q + 1 (formulas.md). */
const POL_FACTORS: Readonly<Record<Polarisation, readonly [number, number, number]>> = {
  iso: [1 / 3, 1 / 3, 1 / 3],
  z: [0, 1, 0],
  // x = (T_-1 - T_+1)/sqrt2 and y = i(T_-1 + T_+1)/sqrt2; T_-1 and T_+1 reach different blocks
  x: [0.5, 0, 0.5],
  y: [0.5, 0, 0.5],
};

/** Boltzmann weights of the kept states at temperature T (normalised over the states above the cutoff). */
export function boltzmannWeights(sticks: StickSet, T: number): Float64Array {
  if (T > sticks.tMax * (1 + 1e-12)) {
    throw new RangeError(`sticks were computed for T <= ${sticks.tMax} K, asked for ${T} K`);
  }
  const kT = KB_EV_PER_K * T;
  const w = new Float64Array(sticks.states.length);
  let z = 0;
  sticks.states.forEach((s, i) => {
    const b = Math.exp(-s.energy / kT);
    if (b < BOLTZMANN_CUTOFF) return;
    w[i] = b;
    z += b;
  });
  for (let i = 0; i < w.length; i++) w[i]! /= z;
  return w;
}

/** Flatten the thermally weighted sticks of one polarisation into (pos, wt). */
export function weightedSticks(sticks: StickSet, T: number, pol: Polarisation = 'iso'): { pos: Float64Array; wt: Float64Array } {
  const bw = boltzmannWeights(sticks, T);
  const f = POL_FACTORS[pol];
  let count = 0;
  sticks.states.forEach((s, i) => {
    if (bw[i]! > 0) count += s.pos.length;
  });
  const pos = new Float64Array(count);
  const wt = new Float64Array(count);
  let o = 0;
  sticks.states.forEach((s, i) => {
    const b = bw[i]!;
    if (b === 0) return;
    for (let j = 0; j < s.pos.length; j++) {
      const v = b * f[s.q[j]!]! * s.wt[j]!;
      if (v === 0) continue;
      pos[o] = s.pos[j]!;
      wt[o] = v;
      o++;
    }
  });
  return { pos: pos.subarray(0, o), wt: wt.subarray(0, o) };
}

/** The raw (unnormalised) spectrum on the window: intensity per eV, formulas.md units. */
export function broaden(sticks: StickSet, window: EnergyWindow, b: Broadening, pol: Polarisation = 'iso'): Float64Array {
  const { pos, wt } = weightedSticks(sticks, b.T, pol);
  const out = new Float64Array(window.n);
  broadenSticks(pos, wt, pos.length, window, window.split, b.Gamma1, b.Gamma2, b.sigmaG, out);
  return out;
}

/** Box normalisation (I - min) / (max - min); a flat spectrum becomes all zeros. */
export function boxNormalise(raw: ArrayLike<number>, out: Float64Array | Float32Array = new Float64Array(raw.length)): Float64Array | Float32Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < raw.length; i++) {
    const v = raw[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const span = hi - lo;
  for (let i = 0; i < raw.length; i++) out[i] = span > 0 ? (raw[i]! - lo) / span : 0;
  return out;
}

export interface SimulatedSpectrum {
  raw: Float64Array;
  spectrum: Float64Array;
  sticks: StickSet;
}

/** One spectrum from scratch for an ion and the nine parameters. */
export function simulate(ion: IonName, p: CrystalField & Broadening, pol: Polarisation = 'iso'): SimulatedSpectrum {
  const model = ionModel(ion);
  const sticks = computeSticks(ionSpec(model, p), { tMax: p.T });
  const raw = broaden(sticks, model.window, p, pol);
  return { raw, spectrum: boxNormalise(raw) as Float64Array, sticks };
}

/** The paper's spectral error in percent: sum |p - a| / sum |p + a| * 100. */
export function spectralError(p: ArrayLike<number>, a: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < p.length; i++) {
    num += Math.abs(p[i]! - a[i]!);
    den += Math.abs(p[i]! + a[i]!);
  }
  return den > 0 ? (100 * num) / den : 0;
}
