/**
 * Network architectures of Lüder 2021 (functional tfjs models, input the
 * FES_SIZE = 220 FES features, output the 501 box-normalised channels,
 * linear output layer), and FastDense, a dense layer whose backward pass
 * avoids transposed matmuls.
 *
 * sLCNN-7 (buildSlcnn7): Dense 260 ReLU -> Dense 160 ReLU -> two branches,
 *   L3 for channels [0, splitChannel) and L2 for [splitChannel, 501); each
 *   branch: Dense(steps*channels) ReLU -> Reshape [steps, channels] -> 7 x
 *   LocallyConnected1D ReLU -> Flatten -> Dense(share) linear; the branches
 *   are concatenated. The paper's LC sizes (165 filters, kernel 25 on every
 *   layer) do not fit 2 cores. Defaults (SLCNN7_DEFAULTS): steps 48 (L3)
 *   and 32 (L2), i.e. ~6.3 output channels per step in both branches for a
 *   split near 0.6 x 501; 8 channels, 8 filters, kernel 5, stride 1, so the
 *   steps shrink 48 -> 20 and 32 -> 4 over the 7 layers; 367,401 parameters
 *   for splitChannel 300. Measured (bench/model.mjs, wasm, one thread):
 *   ~3000 training samples/s (RMSprop, batch 256) and 0.69 s for features +
 *   prediction of 10,000 spectra. All sizes are options.
 * Dense baseline (buildDense, the paper's DNN class): Dense 260 -> Dense 160
 *   -> hidden (default 3 x 500) ReLU -> linear 501.
 *
 * FastDense vs tf.layers.dense: on tfjs-backend-wasm a matmul with a
 * transposed operand runs a scalar loop (2.1 GFLOP/s for [256,500]x[500,500]
 * with transposeB, 1.6 with transposeA, against 25-34 GFLOP/s plain, same
 * run), and the stock gradient of (fused) matMul uses both flags. FastDense's
 * tf.customGrad computes dX = dY x transpose(W) and dW = transpose(X) x dY
 * with explicit transposes (weight- or batch-sized copies, < 1 ms) and plain
 * matmuls. Measured (bench/model.mjs, wasm, one thread, batch 256, fwd+bwd of
 * one ReLU layer): 220->260 3.8 ms vs 23.5 ms stock, 500->500 14.8 vs 100.5
 * ms (6-7x); whole models per training step: dense 3x500 75 ms vs 383 ms,
 * sLCNN-7 85 ms vs 161 ms (banded LC in both). FastDense is the default;
 * 'stock' is kept as the same-run baseline.
 */
import * as tf from '@tensorflow/tfjs';
import { N_CHANNELS } from '../physics/ions.js';
import { FES_SIZE } from './features.js';
import { LocallyConnected1D, type LcImplementation } from './locally-connected.js';
import { OutputAffine } from './output-affine.js';
import { VoigtOutput, type VoigtOutputArgs } from './voigt-output.js';
import { FourierFeatures, type FourierFeaturesArgs } from './fourier-features.js';
import { customGradOptionalBias } from './custom-grad.js';

export type DenseActivation = 'relu' | 'linear';
/** 'fast': FastDense (custom gradient); 'stock': tf.layers.dense (baseline) */
export type DenseImplementation = 'fast' | 'stock';

export interface FastDenseArgs {
  units: number;
  activation?: DenseActivation;
  useBias?: boolean;
  /** seed of the kernel initialiser (He-uniform for relu, Glorot-uniform for linear) */
  seed?: number;
  name?: string;
  trainable?: boolean;
  inputShape?: (number | null)[];
  batchInputShape?: (number | null)[];
}

type DenseFn = (x: tf.Tensor, kernel: tf.Tensor, bias?: tf.Tensor) => tf.Tensor2D;

/** y = act(x W + b) with a backward pass made of plain-layout matmuls. */
export function makeFastDense(activation: DenseActivation, useBias: boolean): DenseFn {
  const relu = activation === 'relu';
  const backward = (dy: tf.Tensor, x: tf.Tensor2D, w: tf.Tensor2D, y: tf.Tensor2D | undefined): tf.Tensor[] => {
    const g = relu && y ? tf.mul(dy, tf.step(y)) : dy;
    const out: tf.Tensor[] = [tf.matMul(g as tf.Tensor2D, tf.transpose(w)), tf.matMul(tf.transpose(x), g as tf.Tensor2D)];
    if (useBias) out.push(tf.sum(g, 0));
    return out;
  };
  const op = customGradOptionalBias('FastDense', useBias, (x, w, b, save) => {
    const y = tf.fused.matMul({ a: x as tf.Tensor2D, b: w as tf.Tensor2D, ...(b ? { bias: b } : {}), activation: relu ? 'relu' : 'linear' });
    save(relu ? [x, w, y] : [x, w]);
    return { value: y, gradFunc: (dy: tf.Tensor, s: tf.Tensor[]) => backward(dy, s[0] as tf.Tensor2D, s[1] as tf.Tensor2D, s[2] as tf.Tensor2D | undefined) };
  });
  return (x, kernel, bias) => op(x, kernel, bias) as tf.Tensor2D;
}

type Initializer = ReturnType<typeof tf.initializers.heUniform>;

function kernelInitializer(activation: DenseActivation, seed: number | undefined): Initializer {
  const s = seed !== undefined ? { seed } : {};
  return activation === 'relu' ? tf.initializers.heUniform(s) : tf.initializers.glorotUniform(s);
}

let fastDenseCount = 0;

/** Dense layer (kernel [in, units], bias [units]) with a transpose-free custom gradient; registered as 'xasmap>FastDense'. */
export class FastDense extends tf.layers.Layer {
  static className = 'xasmap>FastDense';

  readonly units: number;
  readonly activation: DenseActivation;
  readonly useBias: boolean;
  private readonly seed: number | undefined;
  private kernel: tf.LayerVariable | null = null;
  private bias: tf.LayerVariable | null = null;
  private readonly fn: DenseFn;

  constructor(args: FastDenseArgs) {
    // the default tfjs name would be derived from the class name, whose '>' is invalid in weight names
    super({ ...args, name: args.name ?? `fast_dense_${++fastDenseCount}` });
    this.units = args.units;
    this.activation = args.activation ?? 'linear';
    this.useBias = args.useBias ?? true;
    this.seed = args.seed;
    if (!Number.isInteger(this.units) || this.units < 1) throw new RangeError(`FastDense: units must be a positive integer, got ${this.units}`);
    if (this.activation !== 'relu' && this.activation !== 'linear') throw new RangeError(`FastDense: activation must be relu or linear, got ${String(this.activation)}`);
    this.fn = makeFastDense(this.activation, this.useBias);
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const inDim = shape[shape.length - 1];
    if (shape.length !== 2 || inDim == null) throw new Error(`FastDense expects input [batch, features], got [${shape.join(', ')}]`);
    this.kernel = this.addWeight('kernel', [inDim, this.units], 'float32', kernelInitializer(this.activation, this.seed));
    if (this.useBias) this.bias = this.addWeight('bias', [this.units], 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return [shape[0] ?? null, this.units];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (!x || !this.kernel) throw new Error('FastDense: called before build');
      return this.fn(x, this.kernel.read(), this.bias ? this.bias.read() : undefined);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), units: this.units, activation: this.activation, useBias: this.useBias };
  }
}
tf.serialization.registerClass(FastDense);

/** A dense layer of the chosen implementation (same initialisers for both). */
export function denseLayer(
  impl: DenseImplementation,
  args: { units: number; activation: DenseActivation; name: string; seed?: number },
): tf.layers.Layer {
  if (impl === 'fast') return new FastDense(args);
  return tf.layers.dense({
    units: args.units,
    activation: args.activation,
    name: args.name,
    kernelInitializer: kernelInitializer(args.activation, args.seed),
  });
}

interface CommonOptions {
  /** input features (default FES_SIZE = 220) */
  inputSize?: number;
  /** output channels (default 501) */
  outputSize?: number;
  /** the two pre-processing dense layers (default [260, 160], the paper's) */
  trunk?: readonly number[];
  /** dense implementation (default 'fast') */
  dense?: DenseImplementation;
  /** base seed of the initialisers (layer i uses seed + i); random if absent */
  seed?: number;
  name?: string;
  /** a fixed per-channel affine output y = shift + scale * z (standardised targets; see output-affine.ts) */
  outputAffine?: { shift: number[]; scale: number[] };
  /**
   * physics output (voigt-output.ts): the network predicts the L3 / L2 spectra at base
   * broadening and a fixed layer applies each spectrum's sigmaG, Gamma1, Gamma2 and the box
   * normalisation; excludes outputAffine
   */
  voigt?: Omit<VoigtOutputArgs, 'name'>;
  /** random Fourier features of the normalised parameters appended to the input (fourier-features.ts) */
  fourier?: Omit<FourierFeaturesArgs, 'name'>;
}

function inputHead(input: tf.SymbolicTensor, opts: CommonOptions): tf.SymbolicTensor {
  if (!opts.fourier) return input;
  return new FourierFeatures({ ...opts.fourier, name: 'fourier_features' }).apply(input) as tf.SymbolicTensor;
}

function outputHead(out: tf.SymbolicTensor, input: tf.SymbolicTensor, opts: CommonOptions): tf.SymbolicTensor {
  if (opts.voigt) {
    if (opts.outputAffine) throw new RangeError('voigt and outputAffine exclude each other (the Voigt output is box-normalised)');
    return new VoigtOutput({ ...opts.voigt, name: 'voigt_output' }).apply([out, input]) as tf.SymbolicTensor;
  }
  if (!opts.outputAffine) return out;
  return new OutputAffine({ ...opts.outputAffine, name: 'output_affine' }).apply(out) as tf.SymbolicTensor;
}

export interface DenseOptions extends CommonOptions {
  /** hidden dense layers after the trunk (default [500, 500, 500]) */
  hidden?: readonly number[];
}

export interface Slcnn7Options extends CommonOptions {
  /** first L2 channel: L3 branch predicts [0, splitChannel), L2 branch [splitChannel, outputSize) (required; channel of w = zeta2p/4) */
  splitChannel: number;
  /** LC layers per branch (default 7) */
  lcLayers?: number;
  /** steps of each branch's reshaped projection, [L3, L2] or one value for both (default [48, 32]) */
  steps?: number | readonly [number, number];
  /** channels of the reshaped projection (default 8) */
  channels?: number;
  /** filters of every LC layer (default 8) */
  filters?: number;
  /** kernel size of every LC layer (default 5) */
  kernelSize?: number;
  /** stride of every LC layer (default 1) */
  strides?: number;
  /** LC implementation (default 'banded') */
  lc?: LcImplementation;
}

export const SLCNN7_DEFAULTS = {
  trunk: [260, 160],
  lcLayers: 7,
  steps: [48, 32] as const,
  channels: 8,
  filters: 8,
  kernelSize: 5,
  strides: 1,
} as const;

export const DENSE_DEFAULTS = { trunk: [260, 160], hidden: [500, 500, 500] } as const;

function seedAt(seed: number | undefined, i: number): { seed?: number } {
  return seed === undefined ? {} : { seed: seed + i };
}

function checkSize(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
}

/** The paper's DNN class: trunk -> hidden ReLU layers -> linear output. */
export function buildDense(opts: DenseOptions = {}): tf.LayersModel {
  const inputSize = opts.inputSize ?? FES_SIZE;
  const outputSize = opts.outputSize ?? N_CHANNELS;
  const impl = opts.dense ?? 'fast';
  const trunk = opts.trunk ?? DENSE_DEFAULTS.trunk;
  const hidden = opts.hidden ?? DENSE_DEFAULTS.hidden;
  [inputSize, outputSize, ...trunk, ...hidden].forEach((v) => checkSize('buildDense: layer size', v));
  const input = tf.input({ shape: [inputSize], name: 'features' });
  let h = inputHead(input, opts);
  let li = 0;
  const layers = [...trunk.map((u, i) => [u, `trunk_${i + 1}`] as const), ...hidden.map((u, i) => [u, `hidden_${i + 1}`] as const)];
  for (const [units, name] of layers) {
    h = denseLayer(impl, { units, activation: 'relu', name, ...seedAt(opts.seed, li++) }).apply(h) as tf.SymbolicTensor;
  }
  const out = denseLayer(impl, { units: outputSize, activation: 'linear', name: 'spectrum', ...seedAt(opts.seed, li++) }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: outputHead(out, input, opts), name: opts.name ?? 'dense' });
}

/** Steps after each LC layer of a branch (first entry: the reshaped projection). */
export function lcStepsPerLayer(steps: number, layers: number, kernelSize: number, strides: number): number[] {
  const out = [steps];
  let s = steps;
  for (let i = 0; i < layers; i++) {
    if (s < kernelSize) throw new RangeError(`sLCNN-7: ${steps} steps shrink below the kernel size ${kernelSize} after ${i} LC layers; use more steps, a smaller kernel or fewer layers`);
    s = Math.floor((s - kernelSize) / strides) + 1;
    out.push(s);
  }
  return out;
}

/** sLCNN-7 (module doc). */
export function buildSlcnn7(opts: Slcnn7Options): tf.LayersModel {
  const inputSize = opts.inputSize ?? FES_SIZE;
  const outputSize = opts.outputSize ?? N_CHANNELS;
  const impl = opts.dense ?? 'fast';
  const lcImpl = opts.lc ?? 'banded';
  const trunk = opts.trunk ?? SLCNN7_DEFAULTS.trunk;
  const layers = opts.lcLayers ?? SLCNN7_DEFAULTS.lcLayers;
  const stepsOpt = opts.steps ?? SLCNN7_DEFAULTS.steps;
  const steps: readonly [number, number] = typeof stepsOpt === 'number' ? [stepsOpt, stepsOpt] : stepsOpt;
  const channels = opts.channels ?? SLCNN7_DEFAULTS.channels;
  const filters = opts.filters ?? SLCNN7_DEFAULTS.filters;
  const kernelSize = opts.kernelSize ?? SLCNN7_DEFAULTS.kernelSize;
  const strides = opts.strides ?? SLCNN7_DEFAULTS.strides;
  [inputSize, outputSize, ...trunk, layers, ...steps, channels, filters, kernelSize, strides].forEach((v) => checkSize('buildSlcnn7: size', v));
  const split = opts.splitChannel;
  if (!Number.isInteger(split) || split < 1 || split >= outputSize) {
    throw new RangeError(`buildSlcnn7: splitChannel must be an integer in [1, ${outputSize - 1}], got ${split}`);
  }
  steps.forEach((s) => lcStepsPerLayer(s, layers, kernelSize, strides)); // validates the geometry

  let li = 0;
  const input = tf.input({ shape: [inputSize], name: 'features' });
  let h = inputHead(input, opts);
  trunk.forEach((units, i) => {
    h = denseLayer(impl, { units, activation: 'relu', name: `trunk_${i + 1}`, ...seedAt(opts.seed, li++) }).apply(h) as tf.SymbolicTensor;
  });
  const branch = (tag: 'l3' | 'l2', nSteps: number, share: number): tf.SymbolicTensor => {
    let b = denseLayer(impl, { units: nSteps * channels, activation: 'relu', name: `${tag}_proj`, ...seedAt(opts.seed, li++) }).apply(h) as tf.SymbolicTensor;
    b = tf.layers.reshape({ targetShape: [nSteps, channels], name: `${tag}_reshape` }).apply(b) as tf.SymbolicTensor;
    for (let i = 0; i < layers; i++) {
      b = new LocallyConnected1D({
        filters, kernelSize, strides, activation: 'relu', implementation: lcImpl, name: `${tag}_lc${i + 1}`, ...seedAt(opts.seed, li++),
      }).apply(b) as tf.SymbolicTensor;
    }
    b = tf.layers.flatten({ name: `${tag}_flatten` }).apply(b) as tf.SymbolicTensor;
    return denseLayer(impl, { units: share, activation: 'linear', name: `${tag}_out`, ...seedAt(opts.seed, li++) }).apply(b) as tf.SymbolicTensor;
  };
  const l3 = branch('l3', steps[0], split);
  const l2 = branch('l2', steps[1], outputSize - split);
  const out = tf.layers.concatenate({ axis: -1, name: 'spectrum' }).apply([l3, l2]) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: outputHead(out, input, opts), name: opts.name ?? 'slcnn7' });
}
