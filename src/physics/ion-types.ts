/** Unscaled Hartree-Fock atomic values of one ion (eV). */
export interface IonData {
  readonly Z: number;
  readonly charge: number;
  /** number of 3d electrons in the initial state */
  readonly n: number;
  readonly initial: { readonly F2dd: number; readonly F4dd: number; readonly zeta3d: number };
  readonly final: {
    readonly F2dd: number;
    readonly F4dd: number;
    readonly F2pd: number;
    readonly G1pd: number;
    readonly G3pd: number;
    readonly zeta3d: number;
    readonly zeta2p: number;
  };
  /** tabulated 2p3/2 (L3) and 2p1/2 (L2) binding energies of the element, eV */
  readonly edge: { readonly L3: number; readonly L2: number };
  readonly source: string;
}
