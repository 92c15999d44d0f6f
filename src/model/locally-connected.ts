/**
 * LocallyConnected1D for tfjs (which has none): a 1-D convolution with
 * unshared weights, 'valid' padding.
 *
 *   input  [batch, steps, channelsIn]
 *   output [batch, outSteps, filters],  outSteps = floor((steps - kernelSize) / strides) + 1
 *   y[b, s, f] = act( bias[s, f] + sum_{k < kernelSize, c < channelsIn}
 *                      x[b, s*strides + k, c] * kernel[s, k*channelsIn + c, f] )
 *   kernel [outSteps, kernelSize*channelsIn, filters], bias [outSteps, filters]
 *   (the Keras layout).
 *
 * Implementation ('banded', the default): the layer is one plain 2-D matmul
 *   y = x_flat [B, steps*Cin]  x  Wd [steps*Cin, outSteps*filters]
 * with the band matrix Wd (zero outside each position's window) expanded
 * from the compact kernel by a pad/reshape/slice "skew" (weight-sized work,
 * independent of the batch; no gather), and a tf.customGrad backward pass
 * that uses only plain-layout 2-D matmuls: dX = dY x Wd^T (Wd^T is skewed
 * directly in that layout), dWd = x^T x dY (one batch-sized transpose), then
 * the inverse skew back to the compact kernel.
 *
 * Why: on tfjs-backend-wasm only unbatched, untransposed matmuls reach
 * XNNPACK (25-35 GFLOP/s here); a batched [outSteps, B, K*Cin] x
 * [outSteps, K*Cin, F] matmul runs a scalar loop at ~2.3 GFLOP/s whatever
 * the transposes, Gather moves ~17 M elements/s and has no gradient kernel
 * (UnsortedSegmentSum) on wasm, and Conv2DBackpropInput (the fold of an
 * im2col) is slow. The band wastes a factor ~steps/kernelSize in flops but
 * runs ~10x faster per flop, and is faster in every case measured. Forward +
 * backward of one ReLU layer, batch 256, wasm, one thread, ms (columns 1-2:
 * bench/model.mjs, same run; columns 3-4: prototypes of the suggested
 * gather-patches + batched-matMul design with a custom gradient, and of
 * patches by an identity-kernel conv1d + batched matMul + custom gradient,
 * measured once and not kept):
 *
 *   steps Cin  K st  F | banded  autodiff | gather+bmm  conv+bmm
 *   64     8   5  1  8 |   18      38     |    50         34
 *   48     8   5  1  8 |   10      28     |     -          -
 *   64    16   7  1 16 |   69     130     |     -        194
 *   96    16   9  1 16 |  151     255     |     -        437
 *   128    8   8  2  8 |   35      96     |   111         69
 *   64    16  25  1 16 |   47     429     |   634       1147
 *
 * Whole sLCNN-7 (defaults, batch 256, RMSprop): 85 ms per training step with
 * the banded layer against 228 ms with the autodiff one (FastDense in both).
 * The 'autodiff' implementation (stock tfjs ops and gradients: kernelSize
 * slices of the end-padded input, subsampled by a reshape and slice when
 * strides > 1, stacked into patches, batched matMul) is kept as a same-run baseline and as the
 * autodiff reference of the tests; it is selectable per layer.
 */
import * as tf from '@tensorflow/tfjs';
import { customGradOptionalBias } from './custom-grad.js';

export type LcActivation = 'relu' | 'linear';
export type LcImplementation = 'banded' | 'autodiff';

export interface LocallyConnected1DArgs {
  filters: number;
  kernelSize: number;
  strides?: number;
  activation?: LcActivation;
  useBias?: boolean;
  /** 'banded' (fast, custom gradient; default) or 'autodiff' (stock tfjs gradient; baseline) */
  implementation?: LcImplementation;
  /** seed of the kernel initialiser (He-uniform for relu, Glorot-uniform for linear; fan-in kernelSize*channelsIn) */
  seed?: number;
  name?: string;
  trainable?: boolean;
  inputShape?: (number | null)[];
  batchInputShape?: (number | null)[];
}

/** Static shape information of one layer. */
export interface LcGeometry {
  steps: number;
  channelsIn: number;
  kernelSize: number;
  strides: number;
  filters: number;
  outSteps: number;
}

export function lcGeometry(steps: number, channelsIn: number, kernelSize: number, strides: number, filters: number): LcGeometry {
  for (const [k, v] of Object.entries({ steps, channelsIn, kernelSize, strides, filters })) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`LocallyConnected1D: ${k} must be a positive integer, got ${v}`);
  }
  if (kernelSize > steps) throw new RangeError(`LocallyConnected1D: kernelSize ${kernelSize} > input steps ${steps}`);
  return { steps, channelsIn, kernelSize, strides, filters, outSteps: Math.floor((steps - kernelSize) / strides) + 1 };
}

/** Number of trainable parameters of one layer. */
export function lcParamCount(g: LcGeometry, useBias = true): number {
  return g.outSteps * g.kernelSize * g.channelsIn * g.filters + (useBias ? g.outSteps * g.filters : 0);
}

/**
 * Skew the compact kernel [S, KC, F] into Z [S, N, F] with
 * Z[s, r, f] = kernel[s, r - s*d, f] (0 outside 0 <= r - s*d < KC),
 * N = steps*Cin, d = strides*Cin. Rows of length L = KC*F are padded to
 * M = T + e (T = N*F, e = d*F); re-reading the flat buffer with row length
 * T shifts row s right by s*e; wrapped reads land in the zero padding
 * because (S-1)*d + KC <= N.
 */
export function bandExpand(kernel: tf.Tensor, g: LcGeometry): tf.Tensor3D {
  const { S, L, T, M } = skewSizes(g);
  return tf.tidy(() => {
    const v = tf.pad(tf.reshape(kernel, [S, L]), [[0, 0], [0, M - L]]);
    return tf.reshape(tf.slice(tf.reshape(v, [S * M]), 0, S * T), [S, g.steps * g.channelsIn, g.filters]);
  });
}

/** Inverse of bandExpand on gradients: kernel-shaped [S, KC, F] entries of Z [S, N, F] (the rest is dropped). */
export function bandCompact(z: tf.Tensor, g: LcGeometry): tf.Tensor3D {
  const { S, L, T, e } = skewSizes(g);
  return tf.tidy(() => {
    const flat = tf.pad(tf.reshape(z, [S * T]), [[0, S * e]]);
    return tf.reshape(tf.slice(tf.reshape(flat, [S, T + e]), [0, 0], [S, L]), [S, g.kernelSize * g.channelsIn, g.filters]);
  });
}

function skewSizes(g: LcGeometry): { S: number; L: number; T: number; e: number; M: number } {
  const S = g.outSteps;
  const L = g.kernelSize * g.channelsIn * g.filters;
  const T = g.steps * g.channelsIn * g.filters;
  const e = g.strides * g.channelsIn * g.filters;
  return { S, L, T, e, M: T + e };
}

/** Rank-1 copy of the flattened bias: the wasm _FusedMatMul checks the rank of the bias buffer, which a reshape view keeps. */
function flatBias(bias: tf.Tensor, size: number): tf.Tensor1D {
  return tf.add(tf.reshape(bias, [size]), tf.scalar(0)) as tf.Tensor1D;
}

type LcFn = (x: tf.Tensor, kernel: tf.Tensor, bias?: tf.Tensor) => tf.Tensor3D;

/** The banded forward pass with its custom backward pass (module doc). */
export function makeBandedLc(g: LcGeometry, activation: LcActivation, useBias: boolean): LcFn {
  const N = g.steps * g.channelsIn;
  const SF = g.outSteps * g.filters;
  const relu = activation === 'relu';

  const backward = (dy: tf.Tensor, xf: tf.Tensor2D, z: tf.Tensor3D, y: tf.Tensor2D | undefined): tf.Tensor[] => {
    const batch = xf.shape[0];
    const dy2 = tf.reshape(dy, [batch, SF]);
    const gr = relu && y ? tf.mul(dy2, tf.step(y)) : dy2;
    const wdT = tf.reshape(tf.transpose(z, [0, 2, 1]), [SF, N]);
    const dx = tf.reshape(tf.matMul(gr, wdT), [batch, g.steps, g.channelsIn]);
    const dwd = tf.matMul(tf.transpose(xf), gr); // [N, S*F]
    const dk = bandCompact(tf.transpose(tf.reshape(dwd, [N, g.outSteps, g.filters]), [1, 0, 2]), g);
    const out: tf.Tensor[] = [dx, dk];
    if (useBias) out.push(tf.reshape(tf.sum(gr, 0), [g.outSteps, g.filters]));
    return out;
  };

  const forward = (x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | undefined) => {
    const batch = x.shape[0]!;
    const xf = tf.reshape(x, [batch, N]) as tf.Tensor2D;
    const z = bandExpand(kernel, g);
    const wd = tf.reshape(tf.transpose(z, [1, 0, 2]), [N, SF]) as tf.Tensor2D;
    const y = tf.fused.matMul({
      a: xf,
      b: wd,
      ...(bias ? { bias: flatBias(bias, SF) } : {}),
      activation: relu ? 'relu' : 'linear',
    });
    return { xf, z, y };
  };

  const op = customGradOptionalBias('LocallyConnected1D', useBias, (x, kernel, bias, save) => {
    const { xf, z, y } = forward(x, kernel, bias);
    save(relu ? [xf, z, y] : [xf, z]);
    return {
      value: tf.reshape(y, [x.shape[0]!, g.outSteps, g.filters]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => backward(dy, saved[0] as tf.Tensor2D, saved[1] as tf.Tensor3D, saved[2] as tf.Tensor2D | undefined),
    };
  });
  return (x, kernel, bias) => op(x, kernel, bias) as tf.Tensor3D;
}

/**
 * The same layer from stock tfjs ops (autodiff gradient): kernelSize slices
 * of the (end-padded) input, subsampled by `strides` with a reshape, stacked
 * into patches [B, S, K*Cin], then a batched matMul over positions.
 */
export function makeAutodiffLc(g: LcGeometry, activation: LcActivation, useBias: boolean): LcFn {
  const S = g.outSteps;
  const KC = g.kernelSize * g.channelsIn;
  return (x, kernel, bias) =>
    tf.tidy(() => {
      if (useBias !== (bias !== undefined)) throw new Error('LocallyConnected1D: bias given for a layer without bias or missing');
      const batch = x.shape[0]!;
      const need = g.kernelSize - 1 + g.strides * S;
      const xp = need > g.steps ? tf.pad(x, [[0, 0], [0, need - g.steps], [0, 0]]) : x;
      const parts: tf.Tensor[] = [];
      for (let k = 0; k < g.kernelSize; k++) {
        let p = tf.slice(xp, [0, k, 0], [batch, g.strides * S, g.channelsIn]);
        if (g.strides > 1) {
          p = tf.slice(tf.reshape(p, [batch, S, g.strides, g.channelsIn]), [0, 0, 0, 0], [batch, S, 1, g.channelsIn]);
          p = tf.reshape(p, [batch, S, g.channelsIn]);
        }
        parts.push(p);
      }
      const patches = tf.reshape(tf.stack(parts, 2), [batch, S, KC]);
      const yt = tf.matMul(tf.transpose(patches, [1, 0, 2]), kernel); // [S, B, F]
      let y = tf.transpose(yt, [1, 0, 2]);
      if (bias) y = tf.add(y, bias);
      return (activation === 'relu' ? tf.relu(y) : y) as tf.Tensor3D;
    });
}

let lcLayerCount = 0;

/** Serialisable Keras-style layer; registered as 'xasmap>LocallyConnected1D'. */
export class LocallyConnected1D extends tf.layers.Layer {
  static className = 'xasmap>LocallyConnected1D';

  readonly filters: number;
  readonly kernelSize: number;
  readonly strides: number;
  readonly activation: LcActivation;
  readonly useBias: boolean;
  readonly implementation: LcImplementation;
  private readonly seed: number | undefined;
  private kernel: tf.LayerVariable | null = null;
  private bias: tf.LayerVariable | null = null;
  private fn: LcFn | null = null;
  private geometry: LcGeometry | null = null;

  constructor(args: LocallyConnected1DArgs) {
    // the default tfjs name would be derived from the class name, whose '>' is invalid in weight names
    super({ ...args, name: args.name ?? `locally_connected1d_${++lcLayerCount}` });
    this.filters = args.filters;
    this.kernelSize = args.kernelSize;
    this.strides = args.strides ?? 1;
    this.activation = args.activation ?? 'relu';
    this.useBias = args.useBias ?? true;
    this.implementation = args.implementation ?? 'banded';
    this.seed = args.seed;
    if (this.activation !== 'relu' && this.activation !== 'linear') throw new RangeError(`LocallyConnected1D: activation must be relu or linear, got ${String(this.activation)}`);
    if (this.implementation !== 'banded' && this.implementation !== 'autodiff') throw new RangeError(`LocallyConnected1D: unknown implementation ${String(this.implementation)}`);
    for (const [k, v] of Object.entries({ filters: this.filters, kernelSize: this.kernelSize, strides: this.strides })) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`LocallyConnected1D: ${k} must be a positive integer, got ${v}`);
    }
  }

  private geometryFor(inputShape: tf.Shape | tf.Shape[]): LcGeometry {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const steps = shape[1];
    const cin = shape[2];
    if (shape.length !== 3 || steps == null || cin == null) {
      throw new Error(`LocallyConnected1D expects input [batch, steps, channels] with known steps and channels, got [${shape.join(', ')}]`);
    }
    return lcGeometry(steps, cin, this.kernelSize, this.strides, this.filters);
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const g = this.geometryFor(inputShape);
    const kc = g.kernelSize * g.channelsIn;
    const limit = this.activation === 'relu' ? Math.sqrt(6 / kc) : Math.sqrt(6 / (kc + g.filters));
    const init = tf.initializers.randomUniform({ minval: -limit, maxval: limit, ...(this.seed !== undefined ? { seed: this.seed } : {}) });
    this.kernel = this.addWeight('kernel', [g.outSteps, kc, g.filters], 'float32', init);
    if (this.useBias) this.bias = this.addWeight('bias', [g.outSteps, g.filters], 'float32', tf.initializers.zeros());
    this.geometry = g;
    this.fn = this.implementation === 'banded' ? makeBandedLc(g, this.activation, this.useBias) : makeAutodiffLc(g, this.activation, this.useBias);
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const g = this.geometryFor(inputShape);
    return [shape[0] ?? null, g.outSteps, g.filters];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (!x || !this.fn || !this.kernel || !this.geometry) throw new Error('LocallyConnected1D: called before build');
      const g = this.geometry;
      if (x.rank !== 3 || x.shape[1] !== g.steps || x.shape[2] !== g.channelsIn) {
        throw new Error(`LocallyConnected1D: expected input [batch, ${g.steps}, ${g.channelsIn}], got [${x.shape.join(', ')}]`);
      }
      return this.fn(x, this.kernel.read(), this.bias ? this.bias.read() : undefined);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      filters: this.filters,
      kernelSize: this.kernelSize,
      strides: this.strides,
      activation: this.activation,
      useBias: this.useBias,
      implementation: this.implementation,
    };
  }
}
tf.serialization.registerClass(LocallyConnected1D);

/** Functional-API factory, like tf.layers.*. */
export function locallyConnected1d(args: LocallyConnected1DArgs): LocallyConnected1D {
  return new LocallyConnected1D(args);
}
