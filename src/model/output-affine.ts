/**
 * OutputAffine: a fixed (not trained) per-channel affine map y = shift + scale * z at
 * the end of a network. With shift = mean and scale = standard deviation of the
 * training spectra per channel, the layers before it learn standardised targets:
 * every channel contributes on the same scale to the loss gradient, instead of the
 * strong L3 channels dominating and the flat pre-edge ones learning nothing. The
 * constants are part of the layer config, so they save and load with the model.
 */
import * as tf from '@tensorflow/tfjs';

export interface OutputAffineArgs {
  shift: number[];
  scale: number[];
  name?: string;
}

export class OutputAffine extends tf.layers.Layer {
  static className = 'xasmap>OutputAffine';
  readonly shift: number[];
  readonly scale: number[];
  private shiftT: tf.Tensor1D | undefined;
  private scaleT: tf.Tensor1D | undefined;

  constructor(args: OutputAffineArgs) {
    super({ name: args.name ?? 'output_affine', trainable: false });
    if (args.shift.length !== args.scale.length) throw new RangeError('OutputAffine: shift and scale differ in length');
    this.shift = [...args.shift];
    this.scale = [...args.scale];
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      this.shiftT ??= tf.keep(tf.tensor1d(this.shift));
      this.scaleT ??= tf.keep(tf.tensor1d(this.scale));
      return tf.add(tf.mul(x, this.scaleT), this.shiftT);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), shift: this.shift, scale: this.scale };
  }

  override dispose(): ReturnType<tf.layers.Layer['dispose']> {
    this.shiftT?.dispose();
    this.scaleT?.dispose();
    this.shiftT = undefined;
    this.scaleT = undefined;
    return super.dispose();
  }
}
tf.serialization.registerClass(OutputAffine);

/** Per-channel mean and standard deviation (floored at `floor`) of rows `idx` of y (rows x width). */
export function channelMoments(y: Float32Array, width: number, idx: ArrayLike<number>, floor = 1e-3): { shift: number[]; scale: number[] } {
  const sum = new Float64Array(width);
  const sq = new Float64Array(width);
  for (let r = 0; r < idx.length; r++) {
    const off = idx[r]! * width;
    for (let c = 0; c < width; c++) {
      const v = y[off + c]!;
      sum[c]! += v;
      sq[c]! += v * v;
    }
  }
  const n = Math.max(idx.length, 1);
  const shift = Array.from(sum, (s) => s / n);
  const scale = Array.from(sq, (s, c) => Math.max(Math.sqrt(Math.max(s / n - shift[c]! ** 2, 0)), floor));
  return { shift, scale };
}
