/** The 22 ions, their energy windows and the parameter contract (physics.md sections 1, 5, 8). */
import { ATOMIC_DATA } from './atomic-data.js';
import type { IonData } from './ion-types.js';

export const ION_NAMES = [
  'Ti2+', 'V2+', 'V3+', 'Cr2+', 'Cr3+', 'Cr4+', 'Mn2+', 'Mn3+', 'Mn4+', 'Mn5+',
  'Fe2+', 'Fe3+', 'Fe4+', 'Fe5+', 'Fe6+', 'Co2+', 'Co3+', 'Co4+', 'Co5+', 'Ni2+', 'Ni3+', 'Ni4+',
] as const;
export type IonName = (typeof ION_NAMES)[number];

export function isIonName(s: string): s is IonName {
  return (ION_NAMES as readonly string[]).includes(s);
}

export function ionData(name: IonName): IonData {
  const d = ATOMIC_DATA[name];
  if (!d) throw new Error(`internal: no atomic data for ${name}`);
  return d;
}

/** The nine parameters, in the fixed order used in files and tensors. */
export const PARAM_NAMES = ['Dq', 'Ds', 'Dt', 'S1', 'S2', 'T', 'sigmaG', 'Gamma1', 'Gamma2'] as const;
export type ParamName = (typeof PARAM_NAMES)[number];
export type Params = Record<ParamName, number>;
export const PARAM_UNITS: Readonly<Record<ParamName, string>> = {
  Dq: 'eV', Ds: 'eV', Dt: 'eV', S1: '1', S2: '1', T: 'K', sigmaG: 'eV', Gamma1: 'eV', Gamma2: 'eV',
};

/** D4h training ranges (physics.md section 8). */
export const PARAM_RANGES: Readonly<Record<ParamName, readonly [number, number]>> = {
  Dq: [0.0, 0.2], Ds: [-1.4, 1.4], Dt: [-0.8, 0.8], S1: [0.6, 1.0], S2: [0.6, 1.0],
  T: [1, 1000], sigmaG: [0.05, 0.2], Gamma1: [0.3, 1.0], Gamma2: [0.3, 1.2],
};

export const N_CHANNELS = 501;
export const CHANNEL_STEP = 0.06;
export const KB_EV_PER_K = 8.617333262e-5;

export interface EnergyWindow {
  readonly wMin: number;
  readonly step: number;
  readonly n: number;
  /** Lorentzian switch: sticks with w < split get Gamma1, others Gamma2 (zeta2p / 4) */
  readonly split: number;
  /** absolute energy = w + offset (zeta2p/2 + E_L3) */
  readonly offset: number;
}

/** The 501-channel window of physics.md section 5, from the ion's unscaled final-state zeta2p. */
export function energyWindow(name: IonName): EnergyWindow {
  const d = ionData(name);
  const z = d.final.zeta2p;
  return { wMin: -z / 2 - 5, step: CHANNEL_STEP, n: N_CHANNELS, split: z / 4, offset: z / 2 + d.edge.L3 };
}

/** First channel on the L2 side of the Lorentzian switch (w >= zeta2p / 4): where the L3 and L2 sub-networks meet. */
export function splitChannel(win: { wMin: number; step: number; split: number }): number {
  return Math.ceil((win.split - win.wMin) / win.step - 1e-9);
}

export function windowAxes(win: EnergyWindow): { w: Float64Array; energy: Float64Array } {
  const w = new Float64Array(win.n);
  const energy = new Float64Array(win.n);
  for (let c = 0; c < win.n; c++) {
    w[c] = win.wMin + c * win.step;
    energy[c] = w[c]! + win.offset;
  }
  return { w, energy };
}

/** Names of parameters outside the D4h training ranges (physically valid, but worth a warning). */
export function outOfRange(p: Params): ParamName[] {
  return PARAM_NAMES.filter((k) => p[k] < PARAM_RANGES[k][0] || p[k] > PARAM_RANGES[k][1]);
}
