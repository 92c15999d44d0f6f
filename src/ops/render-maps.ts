/**
 * Per-pixel bookkeeping of `xasmap render` (pure numerics, no I/O): which pixels are
 * computed (flags), and the small (ny, nx) maps kept for the previews: SE, L3 peak energy and
 * three spectral-region integrals for the RGB composite.
 */
import { PARAM_NAMES, PARAM_RANGES } from '../physics/ions.js';

/** Bit flags of /entry/maps/flags (io/render-file.ts writes them). 0 = computed, nothing to report. */
export const FLAG = Object.freeze({
  /** masked out by /mask: not computed, spectrum NaN */
  MASKED: 1,
  /** a parameter is NaN/infinite or unphysical (T <= 0, negative width): not computed */
  INVALID_PARAM: 2,
  /** a parameter is outside the model's training ranges: predicted, but extrapolated */
  EXTRAPOLATED: 4,
  /** the measured spectrum covers only part of the window: SE over the covered channels */
  MEASURED_PARTIAL: 8,
  /** the measured spectrum is unusable (non-finite values, flat, < 2 channels covered): SE NaN */
  MEASURED_BAD: 16,
  /** recomputed with the simulator: se_verify holds its SE */
  VERIFIED: 32,
  /** the simulator failed for this pixel during --verify: se_verify NaN */
  VERIFY_FAILED: 64,
});

const P = PARAM_NAMES.length;
const I_T = PARAM_NAMES.indexOf('T');
const WIDTHS = [PARAM_NAMES.indexOf('sigmaG'), PARAM_NAMES.indexOf('Gamma1'), PARAM_NAMES.indexOf('Gamma2')];

/**
 * Flags of pixel i of a params block (n x 9): MASKED when mask[i] = 0, INVALID_PARAM when a
 * parameter is not finite, T <= 0 or a width is negative, EXTRAPOLATED outside PARAM_RANGES.
 */
export function pixelFlags(params: Float32Array, i: number, mask: Uint8Array | null): number {
  if (mask !== null && mask[i] === 0) return FLAG.MASKED;
  const o = i * P;
  for (let k = 0; k < P; k++) if (!Number.isFinite(params[o + k] as number)) return FLAG.INVALID_PARAM;
  if (!((params[o + I_T] as number) > 0)) return FLAG.INVALID_PARAM;
  for (const k of WIDTHS) if ((params[o + k] as number) < 0) return FLAG.INVALID_PARAM;
  for (let k = 0; k < P; k++) {
    const v = params[o + k] as number;
    const r = PARAM_RANGES[PARAM_NAMES[k] as (typeof PARAM_NAMES)[number]];
    // float32 storage: compare with a relative tolerance so that range edges stay inside
    const tol = 1e-6 * Math.max(1, Math.abs(r[0]), Math.abs(r[1]));
    if (v < r[0] - tol || v > r[1] + tol) return FLAG.EXTRAPOLATED;
  }
  return 0;
}

/** Channels of the L3 region and of the three RGB regions on a window. */
export interface PreviewRegions {
  /** channels [0, l3End) are the L3 region (w < split) */
  l3End: number;
  /** [start, end) channel ranges: R, G = lower and upper half of the L3 region after a 3 eV pre-edge, B = L2 */
  rgb: readonly [readonly [number, number], readonly [number, number], readonly [number, number]];
}

export function previewRegions(w: ArrayLike<number>, split: number): PreviewRegions {
  const n = w.length;
  let l3End = 0;
  while (l3End < n && (w[l3End] as number) < split) l3End++;
  let s = 0;
  const w0 = w[0] as number;
  while (s < l3End && (w[s] as number) < w0 + 3) s++;
  if (s >= l3End - 1) s = 0;
  const mid = Math.floor((s + l3End) / 2);
  return { l3End, rgb: [[s, mid], [mid, l3End], [l3End, n]] };
}

/** Accumulates the per-pixel maps of a render. */
export class RenderMaps {
  readonly se: Float32Array;
  readonly seVerify: Float32Array;
  readonly flags: Uint8Array;
  /** energy (eV) of the maximum in the L3 region */
  readonly l3Peak: Float32Array;
  /** 3 x (ny*nx): mean intensity in the R, G, B regions */
  readonly rgb: Float32Array;

  constructor(
    readonly ny: number,
    readonly nx: number,
    private readonly energy: ArrayLike<number>,
    private readonly regions: PreviewRegions,
  ) {
    const n = ny * nx;
    this.se = new Float32Array(n).fill(NaN);
    this.seVerify = new Float32Array(n).fill(NaN);
    this.flags = new Uint8Array(n);
    this.l3Peak = new Float32Array(n).fill(NaN);
    this.rgb = new Float32Array(3 * n).fill(NaN);
  }

  /** A block of pixels rows [y0,y1) x cols [x0,x1); spectra (count x channels) NaN where not computed. */
  add(
    b: { y0: number; y1: number; x0: number; x1: number; flags: Uint8Array; spectra: Float32Array; se: Float32Array | null; seVerify: Float32Array | null },
    channels: number,
  ): void {
    const w = b.x1 - b.x0;
    const { l3End, rgb } = this.regions;
    const N = this.ny * this.nx;
    for (let r = 0; r < b.y1 - b.y0; r++) {
      for (let c = 0; c < w; c++) {
        const i = r * w + c;
        const p = (b.y0 + r) * this.nx + b.x0 + c;
        this.flags[p] = b.flags[i] as number;
        if (b.se) this.se[p] = b.se[i] as number;
        if (b.seVerify) this.seVerify[p] = b.seVerify[i] as number;
        const o = i * channels;
        const s0 = b.spectra[o] as number;
        if (Number.isNaN(s0)) continue;
        let best = 0;
        let bv = -Infinity;
        for (let ch = 0; ch < l3End; ch++) {
          const v = b.spectra[o + ch] as number;
          if (v > bv) {
            bv = v;
            best = ch;
          }
        }
        this.l3Peak[p] = this.energy[best] as number;
        for (let k = 0; k < 3; k++) {
          const [a, e] = rgb[k] as readonly [number, number];
          let sum = 0;
          for (let ch = a; ch < e; ch++) sum += b.spectra[o + ch] as number;
          this.rgb[k * N + p] = e > a ? sum / (e - a) : NaN;
        }
      }
    }
  }
}

/** Indices of the finite values with the smallest, median and largest value (null if none). */
export function bestMedianWorst(v: Float32Array): { best: number; median: number; worst: number } | null {
  const idx: number[] = [];
  for (let i = 0; i < v.length; i++) if (Number.isFinite(v[i] as number)) idx.push(i);
  if (idx.length === 0) return null;
  idx.sort((a, b) => (v[a] as number) - (v[b] as number) || a - b);
  return { best: idx[0] as number, median: idx[Math.floor((idx.length - 1) / 2)] as number, worst: idx[idx.length - 1] as number };
}

/** Summary statistics of the finite values. */
export function stats(v: Float32Array): { count: number; mean: number | null; median: number | null; p95: number | null; max: number | null } {
  const a: number[] = [];
  for (const x of v) if (Number.isFinite(x)) a.push(x);
  if (a.length === 0) return { count: 0, mean: null, median: null, p95: null, max: null };
  a.sort((x, y) => x - y);
  const q = (f: number): number => a[Math.min(a.length - 1, Math.floor(f * (a.length - 1) + 0.5))] as number;
  return { count: a.length, mean: a.reduce((s, x) => s + x, 0) / a.length, median: q(0.5), p95: q(0.95), max: a[a.length - 1] as number };
}
