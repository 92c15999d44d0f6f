/**
 * VoigtOutput: a fixed (not trained) output layer that applies the physics of
 * the broadening (docs/physics.md section 6) to what the network predicts.
 *
 * The simulator's spectrum is sum_k h_k V(w - w_k; Gamma(w_k), sigmaG): each
 * stick gets a Lorentzian of FWHM Gamma1 on the L3 side (w < zeta2p/4) and
 * Gamma2 on the L2 side, and the whole spectrum a Gaussian of FWHM sigmaG.
 * Lorentzian widths add and Gaussian variances add under convolution, so with
 * base widths (Gamma0, sigma0) at the lower ends of the training ranges
 *
 *   I = [N3 * L(Gamma1 - Gamma0) + N2 * L(Gamma2 - Gamma0)] * G(sqrt(sigmaG^2 - sigma0^2))
 *
 * exactly, where N3, N2 are the L3 and L2 stick spectra broadened with
 * (Gamma0, sigma0). The network predicts N3 on channels [0, split) and N2 on
 * [split, n) (the sLCNN-7 branches already sit there); this layer does the
 * rest in Fourier space, where both convolutions are products with
 * exp(-gamma |omega|) (gamma the Lorentzian HWHM) and exp(-s^2 omega^2 / 2)
 * (s the Gaussian standard deviation): the narrow spectra are zero-padded to
 * `period` channels (wrap-around of the Lorentzian tails is then far outside
 * the window), transformed with the first `frequencies` real DFT terms
 * (higher ones are damped below ~2e-3 by the base broadening alone), damped
 * per spectrum, summed, transformed back to the 501 channels and
 * box-normalised, (I - min) / (max - min), as the targets are.
 *
 * The widths come from the layer's second input, the FES features: their
 * degree-1 monomials are the box-normalised parameters, mapped back with the
 * training ranges in the config. All transforms are plain-layout matmuls with
 * constant matrices and a custom gradient (dX = dY x M^T with M^T precomputed):
 * on tfjs-backend-wasm a transposed operand is ~10x slower. The layer has no
 * weights; everything it needs is in its config, so it saves and loads with
 * the model ('xasmap>VoigtOutput').
 */
import * as tf from '@tensorflow/tfjs';
import { PARAM_NAMES, PARAM_RANGES, splitChannel } from '../physics/ions.js';
import { degreeOneFeature } from './features.js';

export interface VoigtOutputArgs {
  /** output channels (501) */
  channels: number;
  /** first channel of the L2 side (w >= zeta2p / 4) */
  splitChannel: number;
  /** channel spacing in eV (0.06) */
  step: number;
  /** columns of the FES features holding the box-normalised sigmaG, Gamma1, Gamma2 */
  featureIndex: [number, number, number];
  /** training ranges [min, max] (eV, FWHM) of sigmaG, Gamma1, Gamma2 (the features' box normalisation) */
  ranges: [[number, number], [number, number], [number, number]];
  /** base widths the network's narrow spectra stand for: [sigma0, Gamma0] FWHM in eV */
  base: [number, number];
  /** DFT length in channels (default 1024: 61 eV for 0.06 eV steps) */
  period?: number;
  /** real DFT terms kept (default 384) */
  frequencies?: number;
  name?: string;
}

const FWHM_TO_SIGMA = 1 / (2 * Math.sqrt(2 * Math.log(2)));

/** Matrices of the transform (row-major Float32Arrays). */
export interface VoigtMatrices {
  /** [split, 2K]: L3 narrow spectrum -> (cos | sin) coefficients */
  fwd3: Float32Array;
  /** [n - split, 2K] */
  fwd2: Float32Array;
  /** [2K, n]: (cos | sin) coefficients -> channels */
  inv: Float32Array;
  /** [K] angular frequencies in rad/eV */
  omega: Float32Array;
  k: number;
}

/** The constant matrices of VoigtOutput (exported for tests). */
export function voigtMatrices(channels: number, split: number, step: number, period: number, frequencies: number): VoigtMatrices {
  const K = frequencies;
  const twoK = 2 * K;
  const fwd3 = new Float32Array(split * twoK);
  const fwd2 = new Float32Array((channels - split) * twoK);
  const inv = new Float32Array(twoK * channels);
  const omega = new Float32Array(K);
  for (let k = 0; k < K; k++) omega[k] = (2 * Math.PI * k) / (period * step);
  for (let j = 0; j < channels; j++) {
    const row = j < split ? fwd3 : fwd2;
    const r = j < split ? j : j - split;
    for (let k = 0; k < K; k++) {
      const a = (2 * Math.PI * ((j * k) % period)) / period;
      const c = Math.cos(a);
      const s = Math.sin(a);
      row[r * twoK + k] = c;
      row[r * twoK + K + k] = -s;
      // inverse of a real, even-kernel product: y_j = (1/N) sum_k c_k (Re_k cos a - Im_k sin a), c_0 = 1, else 2
      const w = (k === 0 ? 1 : 2) / period;
      inv[k * channels + j] = w * c;
      inv[(K + k) * channels + j] = -w * s;
    }
  }
  return { fwd3, fwd2, inv, omega, k: K };
}

function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c]!;
  return t;
}

interface ConstMat {
  m: tf.Tensor2D;
  mt: tf.Tensor2D;
  op: (x: tf.Tensor) => tf.Tensor2D;
}

/** x -> x M with a gradient dY M^T from a precomputed transpose. */
function constMatMul(data: Float32Array, rows: number, cols: number): ConstMat {
  const m = tf.keep(tf.tensor2d(data, [rows, cols]));
  const mt = tf.keep(tf.tensor2d(transpose(data, rows, cols), [cols, rows]));
  const f = tf.customGrad(((x: tf.Tensor2D) => ({
    value: tf.matMul(x, m),
    gradFunc: (dy: tf.Tensor) => [tf.matMul(dy as tf.Tensor2D, mt)],
  })) as unknown as Parameters<typeof tf.customGrad>[0]);
  return { m, mt, op: (x) => f(x) as tf.Tensor2D };
}

export class VoigtOutput extends tf.layers.Layer {
  static className = 'xasmap>VoigtOutput';
  readonly args: Required<Omit<VoigtOutputArgs, 'name'>>;
  private consts: { f3: ConstMat; f2: ConstMat; inv: ConstMat; omega: tf.Tensor2D; omega2: tf.Tensor2D; select: tf.Tensor2D; lo: tf.Tensor2D; span: tf.Tensor2D } | undefined;

  constructor(args: VoigtOutputArgs) {
    super({ name: args.name ?? 'voigt_output', trainable: false });
    const period = args.period ?? 1024;
    const frequencies = args.frequencies ?? 384;
    const { channels, splitChannel, step } = args;
    if (!Number.isInteger(channels) || channels < 2) throw new RangeError(`VoigtOutput: channels must be an integer >= 2, got ${channels}`);
    if (!Number.isInteger(splitChannel) || splitChannel < 1 || splitChannel >= channels) throw new RangeError(`VoigtOutput: splitChannel must be in [1, ${channels - 1}], got ${splitChannel}`);
    if (!(step > 0)) throw new RangeError(`VoigtOutput: step must be > 0, got ${step}`);
    if (!Number.isInteger(period) || period < channels) throw new RangeError(`VoigtOutput: period must be an integer >= ${channels}, got ${period}`);
    if (!Number.isInteger(frequencies) || frequencies < 1 || frequencies > period / 2) throw new RangeError(`VoigtOutput: frequencies must be in [1, ${period / 2}], got ${frequencies}`);
    this.args = { channels, splitChannel, step, featureIndex: [...args.featureIndex], ranges: args.ranges.map((r) => [...r]) as VoigtOutputArgs['ranges'], base: [...args.base], period, frequencies };
  }

  private constants(featureCount: number): NonNullable<VoigtOutput['consts']> {
    if (this.consts) return this.consts;
    const { channels, splitChannel, step, period, frequencies, featureIndex, ranges } = this.args;
    const mats = voigtMatrices(channels, splitChannel, step, period, frequencies);
    const K = mats.k;
    const select = new Float32Array(featureCount * 3);
    featureIndex.forEach((f, i) => {
      if (!Number.isInteger(f) || f < 0 || f >= featureCount) throw new RangeError(`VoigtOutput: feature index ${f} outside the ${featureCount} features`);
      select[f * 3 + i] = 1;
    });
    this.consts = {
      f3: constMatMul(mats.fwd3, splitChannel, 2 * K),
      f2: constMatMul(mats.fwd2, channels - splitChannel, 2 * K),
      inv: constMatMul(mats.inv, 2 * K, channels),
      omega: tf.keep(tf.tensor2d(mats.omega, [1, K])),
      omega2: tf.keep(tf.tensor2d(mats.omega.map((w) => w * w), [1, K])),
      select: tf.keep(tf.tensor2d(select, [featureCount, 3])),
      lo: tf.keep(tf.tensor2d(ranges.map((r) => r[0]), [1, 3])),
      span: tf.keep(tf.tensor2d(ranges.map((r) => r[1] - r[0]), [1, 3])),
    };
    return this.consts;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const first = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return [first[0] ?? null, this.args.channels];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      if (!Array.isArray(inputs) || inputs.length !== 2) throw new Error('VoigtOutput expects [narrow spectra, features]');
      const [narrow, features] = inputs as [tf.Tensor2D, tf.Tensor2D];
      const c = this.constants(features.shape[1]);
      const { splitChannel, channels, base } = this.args;
      // widths in eV (FWHM) per spectrum: [B, 3] = sigmaG, Gamma1, Gamma2
      const widths = tf.add(tf.mul(tf.matMul(features, c.select), c.span), c.lo);
      const [sg, g1, g2] = tf.split(widths, 3, 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
      const extraVar = tf.relu(tf.mul(tf.sub(tf.square(sg), base[0] * base[0]), FWHM_TO_SIGMA * FWHM_TO_SIGMA * 0.5)); // s^2 / 2
      const gauss = tf.mul(extraVar, c.omega2); // [B, K]
      const damp = (g: tf.Tensor2D): tf.Tensor2D => {
        const lor = tf.mul(tf.relu(tf.mul(tf.sub(g, base[1]), 0.5)), c.omega); // HWHM x omega
        const d = tf.exp(tf.neg(tf.add(lor, gauss))) as tf.Tensor2D;
        return tf.concat([d, d], 1);
      };
      const [n3, n2] = tf.split(narrow, [splitChannel, channels - splitChannel], 1) as [tf.Tensor2D, tf.Tensor2D];
      const coef = tf.add(tf.mul(c.f3.op(n3), damp(g1)), tf.mul(c.f2.op(n2), damp(g2))) as tf.Tensor2D;
      const spec = c.inv.op(coef);
      const lo = tf.min(spec, 1, true);
      const hi = tf.max(spec, 1, true);
      return tf.div(tf.sub(spec, lo), tf.add(tf.sub(hi, lo), 1e-12));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.args } as unknown as tf.serialization.ConfigDict;
  }

  override dispose(): ReturnType<tf.layers.Layer['dispose']> {
    if (this.consts) {
      const c = this.consts;
      [c.f3.m, c.f3.mt, c.f2.m, c.f2.mt, c.inv.m, c.inv.mt, c.omega, c.omega2, c.select, c.lo, c.span].forEach((t) => t.dispose());
      this.consts = undefined;
    }
    return super.dispose();
  }
}
tf.serialization.registerClass(VoigtOutput);

/**
 * VoigtOutput settings for a window (wMin, step, split = zeta2p/4 in eV): the degree-1
 * FES features of sigmaG, Gamma1, Gamma2, their training ranges, and base widths at
 * the ranges' lower ends.
 */
export function voigtArgsFor(win: { wMin: number; step: number; split: number; n: number }): Omit<VoigtOutputArgs, 'name'> {
  const names = ['sigmaG', 'Gamma1', 'Gamma2'] as const;
  const idx = names.map((nm) => degreeOneFeature(PARAM_NAMES.indexOf(nm))) as [number, number, number];
  const r = names.map((nm) => [PARAM_RANGES[nm][0], PARAM_RANGES[nm][1]] as [number, number]) as VoigtOutputArgs['ranges'];
  return {
    channels: win.n,
    splitChannel: splitChannel(win),
    step: win.step,
    featureIndex: idx,
    ranges: r,
    base: [r[0][0], Math.min(r[1][0], r[2][0])],
    period: 1024,
    frequencies: 384,
  };
}
