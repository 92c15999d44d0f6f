/**
 * The training loop of the surrogates: RMSprop on the mean squared error between the
 * predicted and the simulated box-normalised spectra, minibatches drawn from a
 * per-epoch permutation that depends only on (seed, epoch) so an interrupted run
 * resumes exactly, validation MSE/MAE after every epoch, learning-rate halving on a
 * plateau and early stopping. I/O (checkpoints, plots) is the caller's: it gets
 * callbacks.
 */
import * as tf from '@tensorflow/tfjs';
import { mulberry32 } from '../physics/random.js';

export interface TrainData {
  /** FES features, rows x inputSize */
  readonly x: Float32Array;
  /** spectra, rows x outputSize */
  readonly y: Float32Array;
  readonly inputSize: number;
  readonly outputSize: number;
  /**
   * Optional per-channel loss weights: the training loss is mean(w_c (p - y)^2). With
   * w_c = 1 / sigma_c^2 this is the MSE of standardised spectra (see OutputAffine).
   * Validation figures are always the plain MSE/MAE.
   */
  readonly channelWeights?: Float32Array;
}

export interface TrainSettings {
  epochs: number;
  batch: number;
  seed: number;
  learningRate: number;
  /** halve the learning rate after this many epochs without a new best validation loss */
  lrPatience: number;
  /** stop after this many epochs without a new best validation loss */
  stopPatience: number;
  /** a new best must improve by this relative amount */
  minDelta: number;
  /**
   * learning-rate schedule: 'plateau' (default) halves it after lrPatience epochs without a
   * new best; 'linear' decays it from learningRate at epoch 1 to learningRate / epochs at
   * the last epoch (annealing, e.g. when fine-tuning a trained model)
   */
  schedule?: 'plateau' | 'linear';
  /** optimiser: 'rmsprop' (default, the paper's) or 'adam' (tfjs defaults beta1 0.9, beta2 0.999) */
  optimizer?: TrainOptimizer;
  /**
   * training loss: 'mse' (default, the paper's); 'mae', mean |p - y| (weighted by the
   * square roots of channelWeights), closer to the SE measure, a sum of absolute errors;
   * or 'se', the SE measure itself per spectrum, sum_c |p - y| / sum_c |p + y|, averaged
   * over the batch (unweighted: channelWeights are ignored, so the peaks, where SE's
   * numerator sits, weigh as in SE)
   */
  loss?: TrainLoss;
}

export const DEFAULT_TRAIN: TrainSettings = {
  epochs: 80,
  batch: 256,
  seed: 1,
  learningRate: 1e-3,
  lrPatience: 4,
  stopPatience: 10,
  minDelta: 1e-3,
};

export interface EpochRecord {
  epoch: number;
  loss: number;
  valMse: number;
  valMae: number;
  learningRate: number;
  seconds: number;
}

/** Everything needed to resume: what has been done and the schedule state. */
export interface TrainState {
  /** epochs completed */
  epoch: number;
  history: EpochRecord[];
  bestValMse: number;
  bestEpoch: number;
  learningRate: number;
  /** epochs since the last best (for the schedule) */
  sinceBest: number;
  /** epochs since the last learning-rate change */
  sinceLrChange: number;
  stopped: 'running' | 'early-stop' | 'epochs';
}

export function initialState(s: TrainSettings): TrainState {
  return { epoch: 0, history: [], bestValMse: Infinity, bestEpoch: 0, learningRate: s.learningRate, sinceBest: 0, sinceLrChange: 0, stopped: 'running' };
}

export interface TrainHooks {
  /** called every few batches with samples done in this epoch */
  onBatch?(epoch: number, samplesDone: number, samplesTotal: number, loss: number): void;
  /** called after every epoch with the updated state; `improved` when a new best was reached */
  onEpoch?(state: TrainState, improved: boolean): Promise<void> | void;
  /** polled between batches; true stops after the current batch without finishing the epoch */
  shouldStop?(): boolean;
}

function gatherRows(src: Float32Array, width: number, idx: Int32Array, from: number, to: number, out: Float32Array): void {
  for (let r = from; r < to; r++) {
    const i = idx[r]!;
    out.set(src.subarray(i * width, (i + 1) * width), (r - from) * width);
  }
}

/** Optimisers of `xasmap train` (TrainSettings.optimizer). */
export type TrainOptimizer = 'rmsprop' | 'adam';
export const TRAIN_OPTIMIZERS: readonly TrainOptimizer[] = ['rmsprop', 'adam'];

/** Training losses of `train` (TrainSettings.loss). */
export type TrainLoss = 'mse' | 'mae' | 'se';
export const TRAIN_LOSSES: readonly TrainLoss[] = ['mse', 'mae', 'se'];

/**
 * The paper's SE measure (src/ops/metrics.ts, physics.md section 9) as a differentiable
 * loss: mean over the rows of sum_c |p - y| / sum_c |p + y|, a fraction (SE / 100).
 * A row of zeros in both would divide by zero; a tiny floor keeps it finite.
 */
export function spectralErrorLoss(yt: tf.Tensor, pt: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const num = tf.sum(tf.abs(tf.sub(pt, yt)), 1);
    const den = tf.maximum(tf.sum(tf.abs(tf.add(pt, yt)), 1), 1e-12);
    return tf.mean(tf.div(num, den)) as tf.Scalar;
  });
}

/** Predict rows `idx` in chunks and return MSE and MAE against the targets. */
export function evaluateRows(model: tf.LayersModel, data: TrainData, idx: Int32Array, chunk = 2048): { mse: number; mae: number } {
  let se = 0;
  let ae = 0;
  const xb = new Float32Array(chunk * data.inputSize);
  for (let s = 0; s < idx.length; s += chunk) {
    const e = Math.min(s + chunk, idx.length);
    const n = e - s;
    gatherRows(data.x, data.inputSize, idx, s, e, xb);
    const xt = tf.tensor2d(xb.subarray(0, n * data.inputSize), [n, data.inputSize]);
    const yt = model.predict(xt, { batchSize: n }) as tf.Tensor; // the default internal batch of 32 is ~3x slower
    const p = yt.dataSync() as Float32Array;
    xt.dispose();
    yt.dispose();
    for (let r = 0; r < n; r++) {
      const off = idx[s + r]! * data.outputSize;
      for (let c = 0; c < data.outputSize; c++) {
        const d = p[r * data.outputSize + c]! - data.y[off + c]!;
        se += d * d;
        ae += Math.abs(d);
      }
    }
  }
  const count = idx.length * data.outputSize;
  return { mse: count ? se / count : NaN, mae: count ? ae / count : NaN };
}

/** The permutation of the training rows for one epoch (depends only on seed and epoch). */
export function epochOrder(train: Int32Array, seed: number, epoch: number): Int32Array {
  const order = Int32Array.from(train);
  const rng = mulberry32((seed * 7919 + epoch * 104729) >>> 0);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}

/**
 * Train from `state` (fresh or restored) until the epochs are done, early stopping
 * triggers, or hooks.shouldStop() says so. Returns the state; the model holds the
 * last weights (the caller keeps the best ones through onEpoch).
 */
export async function train(
  model: tf.LayersModel,
  optimizer: tf.Optimizer & { learningRate: number },
  data: TrainData,
  split: { train: Int32Array; val: Int32Array },
  settings: TrainSettings,
  state: TrainState,
  hooks: TrainHooks = {},
): Promise<TrainState> {
  const bs = settings.batch;
  // an explicit variable list fixes the order of the optimizer's slots to the model's
  // weight order, which a reloaded model has too (the engine's registration order differs)
  const varList = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const kind = settings.loss ?? 'mse';
  const cw = kind === 'se' ? undefined : data.channelWeights;
  const weights = cw ? tf.tensor2d(kind === 'mae' ? cw.map(Math.sqrt) : cw, [1, data.outputSize]) : undefined;
  const loss = (yt: tf.Tensor, pt: tf.Tensor): tf.Scalar => {
    if (kind === 'se') return spectralErrorLoss(yt, pt);
    const err = kind === 'mae' ? tf.abs(tf.sub(yt, pt)) : tf.squaredDifference(yt, pt);
    return (weights ? tf.mean(tf.mul(err, weights)) : tf.mean(err)) as tf.Scalar;
  };
  const xb = new Float32Array(bs * data.inputSize);
  const yb = new Float32Array(bs * data.outputSize);
  while (state.epoch < settings.epochs && state.stopped === 'running') {
    const epoch = state.epoch + 1;
    if (settings.schedule === 'linear') state.learningRate = (settings.learningRate * (settings.epochs - epoch + 1)) / settings.epochs;
    optimizer.learningRate = state.learningRate;
    const t0 = performance.now();
    const order = epochOrder(split.train, settings.seed, epoch);
    let lossSum = 0;
    let lossCount = 0;
    for (let s = 0; s < order.length; s += bs) {
      if (hooks.shouldStop?.()) {
        weights?.dispose();
        return state;
      }
      const e = Math.min(s + bs, order.length);
      const n = e - s;
      gatherRows(data.x, data.inputSize, order, s, e, xb);
      gatherRows(data.y, data.outputSize, order, s, e, yb);
      const xt = tf.tensor2d(xb.subarray(0, n * data.inputSize), [n, data.inputSize]);
      const yt = tf.tensor2d(yb.subarray(0, n * data.outputSize), [n, data.outputSize]);
      const cost = optimizer.minimize(() => loss(yt, model.apply(xt, { training: true }) as tf.Tensor), true, varList);
      const l = cost ? cost.dataSync()[0]! : NaN;
      cost?.dispose();
      xt.dispose();
      yt.dispose();
      lossSum += l * n;
      lossCount += n;
      hooks.onBatch?.(epoch, e, order.length, lossSum / lossCount);
      if (s % (bs * 8) === 0) await new Promise((r) => setImmediate(r)); // let signals in
    }
    const val = evaluateRows(model, data, split.val);
    const rec: EpochRecord = {
      epoch,
      loss: lossSum / lossCount,
      valMse: val.mse,
      valMae: val.mae,
      learningRate: state.learningRate,
      seconds: (performance.now() - t0) / 1000,
    };
    const improved = val.mse < state.bestValMse * (1 - settings.minDelta);
    state.history.push(rec);
    state.epoch = epoch;
    if (improved) {
      state.bestValMse = val.mse;
      state.bestEpoch = epoch;
      state.sinceBest = 0;
    } else {
      state.sinceBest++;
    }
    state.sinceLrChange++;
    if (settings.schedule !== 'linear' && !improved && state.sinceBest >= settings.lrPatience && state.sinceLrChange >= settings.lrPatience) {
      state.learningRate /= 2;
      state.sinceLrChange = 0;
    }
    if (state.sinceBest >= settings.stopPatience) state.stopped = 'early-stop';
    else if (state.epoch >= settings.epochs) state.stopped = 'epochs';
    await hooks.onEpoch?.(state, improved);
  }
  weights?.dispose();
  return state;
}
