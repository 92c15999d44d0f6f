/**
 * FourierFeatures: a fixed (not trained) input layer that appends random Fourier
 * features of the 9 box-normalised parameters to the FES features:
 *
 *   out = [fes, sin(2 pi x B), cos(2 pi x B)],   x = the degree-1 FES columns (9),
 *
 * with B a 9 x m matrix of N(0, sigma^2) entries drawn once from a seeded generator
 * and stored in the layer config (Tancik et al. 2020, "Fourier features let networks
 * learn high frequency functions in low dimensional domains").
 *
 * Why: a channel of the spectrum oscillates as peaks move through it with Dq, Ds,
 * Dt (several peak widths over the training ranges), which degree-3 monomials cannot
 * express and ReLU layers fit slowly. The layer has no weights and no gradient path
 * (it acts on the input only); it saves and loads with the model
 * ('xasmap>FourierFeatures').
 */
import * as tf from '@tensorflow/tfjs';

export interface FourierFeaturesArgs {
  /** columns of the input that hold the box-normalised parameters */
  columns: number[];
  /** number of random frequencies m (2m features are appended) */
  count: number;
  /** standard deviation of the frequencies, in cycles per unit of normalised parameter */
  sigma: number;
  /** seed of the frequency matrix */
  seed: number;
  /** the matrix itself (columns.length x count, row-major); drawn from the seed when absent */
  matrix?: number[];
  name?: string;
}

/** Deterministic N(0, 1) numbers (mulberry32 + Box-Muller). */
function gaussians(n: number, seed: number): number[] {
  let a = seed >>> 0;
  const uni = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out: number[] = [];
  while (out.length < n) {
    const u = Math.max(uni(), 1e-12);
    const v = uni();
    const r = Math.sqrt(-2 * Math.log(u));
    out.push(r * Math.cos(2 * Math.PI * v), r * Math.sin(2 * Math.PI * v));
  }
  return out.slice(0, n);
}

export class FourierFeatures extends tf.layers.Layer {
  static className = 'xasmap>FourierFeatures';
  readonly columns: number[];
  readonly count: number;
  readonly sigma: number;
  readonly seed: number;
  readonly matrix: number[];
  private consts: { select: tf.Tensor2D; b: tf.Tensor2D } | undefined;

  constructor(args: FourierFeaturesArgs) {
    super({ name: args.name ?? 'fourier_features', trainable: false });
    const { columns, count, sigma, seed } = args;
    if (!Array.isArray(columns) || columns.length < 1 || !columns.every((c) => Number.isInteger(c) && c >= 0)) throw new RangeError('FourierFeatures: columns must be non-negative integers');
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`FourierFeatures: count must be a positive integer, got ${count}`);
    if (!(sigma > 0)) throw new RangeError(`FourierFeatures: sigma must be > 0, got ${sigma}`);
    this.columns = [...columns];
    this.count = count;
    this.sigma = sigma;
    this.seed = seed;
    this.matrix = args.matrix ? [...args.matrix] : gaussians(columns.length * count, seed).map((g) => g * sigma);
    if (this.matrix.length !== columns.length * count) throw new RangeError(`FourierFeatures: matrix has ${this.matrix.length} entries, expected ${columns.length * count}`);
  }

  private constants(inputSize: number): NonNullable<FourierFeatures['consts']> {
    if (this.consts) return this.consts;
    const k = this.columns.length;
    const select = new Float32Array(inputSize * k);
    this.columns.forEach((c, i) => {
      if (c >= inputSize) throw new RangeError(`FourierFeatures: column ${c} outside the ${inputSize} inputs`);
      select[c * k + i] = 1;
    });
    this.consts = {
      select: tf.keep(tf.tensor2d(select, [inputSize, k])),
      b: tf.keep(tf.tensor2d(this.matrix.map((v) => 2 * Math.PI * v), [k, this.count])),
    };
    return this.consts;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const n = s[1];
    return [s[0] ?? null, n == null ? null : n + 2 * this.count];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0]! : inputs) as tf.Tensor2D;
      const c = this.constants(x.shape[1]);
      const phase = tf.matMul(tf.matMul(x, c.select), c.b);
      return tf.concat([x, tf.sin(phase), tf.cos(phase)], 1);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), columns: this.columns, count: this.count, sigma: this.sigma, seed: this.seed, matrix: this.matrix };
  }

  override dispose(): ReturnType<tf.layers.Layer['dispose']> {
    if (this.consts) {
      this.consts.select.dispose();
      this.consts.b.dispose();
      this.consts = undefined;
    }
    return super.dispose();
  }
}
tf.serialization.registerClass(FourierFeatures);
