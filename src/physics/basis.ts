/**
 * Spin-orbitals and many-electron Fock states.
 *
 * 16 spin-orbitals: index 0..9 are 3d (m = -2..2, two spins each), 10..15 are 2p
 * (m = -1..1). Within a shell, index = offset + 2 (m + l) + s with s = 0 for
 * sigma = +1/2 and s = 1 for sigma = -1/2. A Fock state is a 16-bit mask of the
 * occupied spin-orbitals; c_a and c_a^dagger carry the sign
 * (-1)^(number of occupied spin-orbitals with index lower than a).
 *
 * Block label: J = 2 Jz mod 8 with Jz = sum over occupied (m + sigma); the whole
 * Hamiltonian (D4h crystal field couples m to m +- 4 only) conserves it.
 */

export const N_SPIN_ORBITALS = 16;
export const D_OFFSET = 0;
export const P_OFFSET = 10;

export interface SpinOrbital {
  readonly l: number;
  readonly m: number;
  /** 2 sigma = +1 or -1 */
  readonly twoSigma: number;
  readonly shell: 'd' | 'p';
}

function makeOrbitals(): SpinOrbital[] {
  const out: SpinOrbital[] = [];
  for (const [shell, l] of [['d', 2], ['p', 1]] as const) {
    for (let m = -l; m <= l; m++) {
      out.push({ l, m, twoSigma: 1, shell });
      out.push({ l, m, twoSigma: -1, shell });
    }
  }
  return out;
}

export const ORBITALS: readonly SpinOrbital[] = makeOrbitals();

export function orbitalIndex(shell: 'd' | 'p', m: number, twoSigma: number): number {
  const l = shell === 'd' ? 2 : 1;
  const off = shell === 'd' ? D_OFFSET : P_OFFSET;
  return off + 2 * (m + l) + (twoSigma > 0 ? 0 : 1);
}

export function orbital(i: number): SpinOrbital {
  const o = ORBITALS[i];
  if (o === undefined) throw new RangeError(`no spin-orbital ${i}`);
  return o;
}

export function popcount(x: number): number {
  let c = 0;
  while (x) {
    x &= x - 1;
    c++;
  }
  return c;
}

/** (-1)^(number of occupied orbitals below index a) */
export function fermionSign(state: number, a: number): number {
  return popcount(state & ((1 << a) - 1)) % 2 === 0 ? 1 : -1;
}

const D_MASK = (1 << 10) - 1;
const P_MASK = ((1 << 6) - 1) << P_OFFSET;

/** 2 Jz of a Fock state. */
export function twoJz(state: number): number {
  let s = 0;
  for (let i = 0; i < N_SPIN_ORBITALS; i++) {
    if (state & (1 << i)) {
      const o = ORBITALS[i]!;
      s += 2 * o.m + o.twoSigma;
    }
  }
  return s;
}

export function blockLabel(state: number): number {
  return ((twoJz(state) % 8) + 8) % 8;
}

/** A configuration 2p^np 3d^nd split into blocks of equal 2Jz mod 8. */
export interface BlockedBasis {
  readonly nd: number;
  readonly np: number;
  /** block labels (2Jz mod 8), ascending */
  readonly labels: readonly number[];
  /** states of each block (bit masks), ascending within a block */
  readonly states: readonly Int32Array[];
  /** state mask -> (block << 16) | index, for every state of the configuration */
  readonly lookup: ReadonlyMap<number, number>;
  /** the same as a table over all 2^16 masks, -1 for states outside the configuration */
  readonly code: Int32Array;
  readonly dim: number;
}

export function makeBasis(nd: number, np: number): BlockedBasis {
  const byLabel = new Map<number, number[]>();
  for (let s = 0; s < 1 << N_SPIN_ORBITALS; s++) {
    if (popcount(s & D_MASK) !== nd || popcount(s & P_MASK) !== np) continue;
    const lab = blockLabel(s);
    let list = byLabel.get(lab);
    if (!list) byLabel.set(lab, (list = []));
    list.push(s);
  }
  const labels = [...byLabel.keys()].sort((a, b) => a - b);
  const states = labels.map((l) => Int32Array.from(byLabel.get(l)!));
  const lookup = new Map<number, number>();
  const code = new Int32Array(1 << N_SPIN_ORBITALS).fill(-1);
  let dim = 0;
  states.forEach((list, b) => {
    list.forEach((s, i) => {
      lookup.set(s, (b << 16) | i);
      code[s] = (b << 16) | i;
    });
    dim += list.length;
  });
  return { nd, np, labels, states, lookup, code, dim };
}
