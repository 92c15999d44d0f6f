/**
 * Second-quantised operators of formulas.md as dense matrices on the blocks of a
 * configuration. Every Hamiltonian term is stored with unit coefficient, so that
 * H(parameters) is a linear combination of precomputed matrices.
 */
import {
  type BlockedBasis,
  N_SPIN_ORBITALS,
  fermionSign,
  makeBasis,
  orbital,
  orbitalIndex,
} from './basis.js';
import { gaunt } from './gaunt.js';

/** Hamiltonian terms with unit coefficient. F0pd, F2pd, G1pd, G3pd, zeta2p exist only with a 2p hole. */
export const TERM_NAMES = [
  'F0dd', 'F2dd', 'F4dd', 'F0pd', 'F2pd', 'G1pd', 'G3pd', 'zeta3d', 'zeta2p', 'Dq', 'Ds', 'Dt',
] as const;
export type TermName = (typeof TERM_NAMES)[number];
export const N_TERMS = TERM_NAMES.length;
export const TERM_INDEX: Readonly<Record<TermName, number>> = Object.fromEntries(
  TERM_NAMES.map((t, i) => [t, i]),
) as Record<TermName, number>;

/** Dense symmetric matrices, one per block and term: mats[block][term], row-major n x n. */
export interface OperatorSet {
  readonly basis: BlockedBasis;
  readonly terms: readonly string[];
  readonly mats: readonly (readonly Float64Array[])[];
}

/** Crystal-field one-body matrix elements in the complex basis (per unit Dq, Ds, Dt), formulas.md. */
export function crystalFieldElement(term: 'Dq' | 'Ds' | 'Dt', m1: number, m2: number): number {
  if (m1 === m2) {
    const am = Math.abs(m1);
    if (term === 'Dq') return am === 0 ? 6 : am === 1 ? -4 : 1;
    if (term === 'Ds') return am === 0 ? -2 : am === 1 ? -1 : 2;
    return am === 0 ? -6 : am === 1 ? 4 : -1;
  }
  if (term === 'Dq' && Math.abs(m1) === 2 && m1 === -m2) return 5;
  return 0;
}

/** <m1 s1 | l.s | m2 s2> for one shell of angular momentum l (twoSigma = +-1). */
export function spinOrbitElement(l: number, m1: number, t1: number, m2: number, t2: number): number {
  if (m1 === m2 && t1 === t2) return (m1 * t1) / 2;
  if (m1 === m2 + 1 && t1 === -1 && t2 === 1) return 0.5 * Math.sqrt(l * (l + 1) - m2 * (m2 + 1));
  if (m2 === m1 + 1 && t2 === -1 && t1 === 1) return 0.5 * Math.sqrt(l * (l + 1) - m1 * (m1 + 1));
  return 0;
}

/** One-body tables h[a*16+b] for the terms that are one-body. */
function oneBodyTables(): Map<number, Float64Array> {
  const tables = new Map<number, Float64Array>();
  const mk = (): Float64Array => new Float64Array(N_SPIN_ORBITALS * N_SPIN_ORBITALS);
  const so3d = mk();
  const so2p = mk();
  const cf = { Dq: mk(), Ds: mk(), Dt: mk() };
  for (let a = 0; a < N_SPIN_ORBITALS; a++) {
    for (let b = 0; b < N_SPIN_ORBITALS; b++) {
      const oa = orbital(a);
      const ob = orbital(b);
      if (oa.shell !== ob.shell) continue;
      const so = spinOrbitElement(oa.l, oa.m, oa.twoSigma, ob.m, ob.twoSigma);
      (oa.shell === 'd' ? so3d : so2p)[a * N_SPIN_ORBITALS + b] = so;
      if (oa.shell === 'd' && oa.twoSigma === ob.twoSigma) {
        for (const t of ['Dq', 'Ds', 'Dt'] as const) cf[t][a * N_SPIN_ORBITALS + b] = crystalFieldElement(t, oa.m, ob.m);
      }
    }
  }
  tables.set(TERM_INDEX.zeta3d, so3d);
  tables.set(TERM_INDEX.zeta2p, so2p);
  tables.set(TERM_INDEX.Dq, cf.Dq);
  tables.set(TERM_INDEX.Ds, cf.Ds);
  tables.set(TERM_INDEX.Dt, cf.Dt);
  return tables;
}

/** A non-zero two-electron integral <a b|1/r12|c d> for one Slater-integral term (unit R^k). */
interface TwoBodyEntry {
  readonly a: number;
  readonly b: number;
  readonly term: number;
  readonly value: number;
}

/**
 * For each ordered pair (c, d) the non-zero <a b|1/r12|c d> per term. pp integrals are
 * zero by contract (F0pp = F2pp = 0); terms that move electrons between shells do not
 * occur (they leave the configuration).
 */
function twoBodyTables(): TwoBodyEntry[][] {
  const n = N_SPIN_ORBITALS;
  const out: TwoBodyEntry[][] = Array.from({ length: n * n }, () => []);
  for (let c = 0; c < n; c++) {
    for (let d = 0; d < n; d++) {
      if (c === d) continue;
      const oc = orbital(c);
      const od = orbital(d);
      for (let a = 0; a < n; a++) {
        const oa = orbital(a);
        if (oa.twoSigma !== oc.twoSigma) continue;
        for (let b = 0; b < n; b++) {
          if (a === b) continue;
          const ob = orbital(b);
          if (ob.twoSigma !== od.twoSigma) continue;
          if (oa.m + ob.m !== oc.m + od.m) continue;
          const list = out[c * n + d]!;
          const add = (term: TermName, k: number): void => {
            const v = gaunt(k, oa.l, oa.m, oc.l, oc.m) * gaunt(k, od.l, od.m, ob.l, ob.m);
            if (v !== 0) list.push({ a, b, term: TERM_INDEX[term], value: v });
          };
          const shells = oa.shell + ob.shell + oc.shell + od.shell;
          if (shells === 'dddd') {
            add('F0dd', 0);
            add('F2dd', 2);
            add('F4dd', 4);
          } else if (shells === 'dpdp' || shells === 'pdpd') {
            // direct: a, c in one shell, b, d in the other
            add('F0pd', 0);
            add('F2pd', 2);
          } else if (shells === 'dppd' || shells === 'pddp') {
            // exchange: a, d in one shell, b, c in the other
            add('G1pd', 1);
            add('G3pd', 3);
          }
        }
      }
    }
  }
  return out;
}

let oneBodyCache: Map<number, Float64Array> | undefined;
let twoBodyCache: TwoBodyEntry[][] | undefined;

/**
 * Build the terms of the configuration 2p^np 3d^nd as dense block matrices. With a
 * full 2p shell (np = 6) the 2p-3d Coulomb and zeta2p terms are not part of the
 * contract's initial Hamiltonian and are left as zero matrices unless `allTerms`.
 */
export function buildOperators(nd: number, np: number, allTerms = false): OperatorSet {
  const skip = new Uint8Array(N_TERMS);
  if (np === 6 && !allTerms) for (const t of ['F0pd', 'F2pd', 'G1pd', 'G3pd', 'zeta2p'] as const) skip[TERM_INDEX[t]] = 1;
  const basis = makeBasis(nd, np);
  oneBodyCache ??= oneBodyTables();
  twoBodyCache ??= twoBodyTables();
  const one = oneBodyCache;
  const two = twoBodyCache;
  const n = N_SPIN_ORBITALS;
  const mats = basis.states.map((list) =>
    TERM_NAMES.map(() => new Float64Array(list.length * list.length)),
  );
  basis.states.forEach((list, blk) => {
    const dim = list.length;
    const bm = mats[blk]!;
    for (let col = 0; col < dim; col++) {
      const s = list[col]!;
      // one-body: sum_ab h_ab c_a^dagger c_b
      for (const [term, h] of one) {
        if (skip[term]) continue;
        const m = bm[term]!;
        for (let b = 0; b < n; b++) {
          if (!(s & (1 << b))) continue;
          const sb = fermionSign(s, b);
          const s1 = s ^ (1 << b);
          for (let a = 0; a < n; a++) {
            const v = h[a * n + b]!;
            if (v === 0 || s1 & (1 << a)) continue;
            const s2 = s1 | (1 << a);
            const row = rowOf(basis, s2, blk);
            m[row * dim + col]! += v * sb * fermionSign(s1, a);
          }
        }
      }
      // two-body: 1/2 sum_abcd <ab|cd> c_a^dagger c_b^dagger c_d c_c
      for (let c = 0; c < n; c++) {
        if (!(s & (1 << c))) continue;
        const sc = fermionSign(s, c);
        const s1 = s ^ (1 << c);
        for (let d = 0; d < n; d++) {
          if (!(s1 & (1 << d))) continue;
          const sd = fermionSign(s1, d);
          const s2 = s1 ^ (1 << d);
          for (const e of two[c * n + d]!) {
            if (s2 & (1 << e.b) || s2 & (1 << e.a) || skip[e.term]) continue;
            const sbSign = fermionSign(s2, e.b);
            const s3 = s2 | (1 << e.b);
            const saSign = fermionSign(s3, e.a);
            const s4 = s3 | (1 << e.a);
            const row = rowOf(basis, s4, blk);
            bm[e.term]![row * dim + col]! += 0.5 * e.value * sc * sd * sbSign * saSign;
          }
        }
      }
    }
  });
  return { basis, terms: [...TERM_NAMES], mats };
}

function rowOf(basis: BlockedBasis, state: number, blk: number): number {
  const code = basis.code[state]!;
  if (code < 0 || code >>> 16 !== blk) {
    throw new Error(`internal: operator leaves block ${blk} (state ${state.toString(2)})`);
  }
  return code & 0xffff;
}

/**
 * Linear combinations of an operator set's terms: result term j = sum_t coefs[j][t] * term t.
 * Used to fuse an ion's atomic values into the six matrices H = A0 + S1 A1 + S2 A2 + Dq C1 + Ds C2 + Dt C3.
 */
export function combineOperators(ops: OperatorSet, names: readonly string[], coefs: readonly Float64Array[]): OperatorSet {
  const mats = ops.mats.map((blockMats) => {
    const size = blockMats[0]?.length ?? 0;
    return coefs.map((c) => {
      const out = new Float64Array(size);
      c.forEach((w, t) => {
        if (w === 0) return;
        const m = blockMats[t]!;
        for (let i = 0; i < size; i++) out[i]! += w * m[i]!;
      });
      return out;
    });
  });
  return { basis: ops.basis, terms: [...names], mats };
}

/** out = sum_t coefs[t] * mats[block][t] */
export function assembleBlock(ops: OperatorSet, block: number, coefs: ArrayLike<number>, out: Float64Array): Float64Array {
  const bm = ops.mats[block]!;
  out.fill(0);
  for (let t = 0; t < bm.length; t++) {
    const w = coefs[t]!;
    if (w === 0) continue;
    const m = bm[t]!;
    for (let i = 0; i < out.length; i++) out[i]! += w * m[i]!;
  }
  return out;
}

/**
 * Dipole operator T_q = sum c^1(2 (m_p+q); 1 m_p) d^dagger_{m_p+q,s} p_{m_p,s} from the
 * configuration (nd, 6) to (nd+1, 5), as sparse columns: for initial block bi, the
 * target final block and, per initial state, the (final index, amplitude) pairs.
 */
export interface DipoleBlock {
  readonly finalBlock: number;
  /** CSR over initial states of the block */
  readonly start: Int32Array;
  readonly index: Int32Array;
  readonly value: Float64Array;
}

export interface DipoleOperator {
  /** per q = -1, 0, +1 (index q + 1), per initial block */
  readonly blocks: readonly (readonly DipoleBlock[])[];
}

export function buildDipole(initial: BlockedBasis, final: BlockedBasis): DipoleOperator {
  const blocks: DipoleBlock[][] = [];
  for (let q = -1; q <= 1; q++) {
    const perBlock: DipoleBlock[] = [];
    initial.states.forEach((list) => {
      const start = new Int32Array(list.length + 1);
      const idx: number[] = [];
      const val: number[] = [];
      let finalBlock = -1;
      list.forEach((s, i) => {
        start[i] = idx.length;
        for (let mp = -1; mp <= 1; mp++) {
          const md = mp + q;
          if (Math.abs(md) > 2) continue;
          const amp = gaunt(1, 2, md, 1, mp);
          if (amp === 0) continue;
          for (const t of [1, -1]) {
            const b = orbitalIndex('p', mp, t);
            const a = orbitalIndex('d', md, t);
            if (!(s & (1 << b))) continue;
            const s1 = s ^ (1 << b);
            if (s1 & (1 << a)) continue;
            const sign = fermionSign(s, b) * fermionSign(s1, a);
            const code = final.lookup.get(s1 | (1 << a));
            if (code === undefined) throw new Error('internal: dipole target not in final basis');
            const fb = code >>> 16;
            if (finalBlock === -1) finalBlock = fb;
            else if (finalBlock !== fb) throw new Error('internal: dipole mixes final blocks');
            idx.push(code & 0xffff);
            val.push(sign * amp);
          }
        }
      });
      start[list.length] = idx.length;
      perBlock.push({ finalBlock, start, index: Int32Array.from(idx), value: Float64Array.from(val) });
    });
    blocks.push(perBlock);
  }
  return { blocks };
}
