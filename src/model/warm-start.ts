/**
 * Warm start: copy the trained weights of one model into a freshly built one, layer by
 * layer, wherever a layer of the same name has weights of the same shapes. Fixed
 * layers (output_affine, fourier_features, voigt_output: not trainable) keep the new
 * model's values, so the target's own standardisation and window stay in force.
 *
 * Used by `xasmap train --warm-start DIR` to start an ion from a neighbour's model
 * (e.g. Mn3+ from Mn2+: same element, same window and L3/L2 split, so every trainable
 * layer matches; across elements the L3/L2 split moves, so the two linear output
 * layers of sLCNN-7 start fresh and the trunk and LC layers are copied).
 *
 * With `grow` (`xasmap train --warm-start DIR --grow`, the same ion's model into a wider
 * network, e.g. `--arch-options '{"trunk":[520,320]}'`), a dense layer whose kernel is at
 * least as large in both dimensions as the source's is grown instead of skipped: the
 * source's kernel and bias fill the leading block, the new units keep their fresh incoming
 * weights, and the kernel rows of new inputs are zero. New units then have no effect on
 * the output, so the grown network starts from exactly the source's function, and
 * training gives the new units outgoing weights (Net2Net-style widening).
 */
import * as tf from '@tensorflow/tfjs';

export interface WarmStartReport {
  /** layers whose weights were copied */
  copied: string[];
  /** dense layers grown into a larger target (`grow`); the source's parameters of them count in copiedParams */
  grown: string[];
  /** trainable layers left at their fresh initialisation (no layer of that name, or other shapes) */
  skipped: string[];
  /** parameters copied / trainable parameters of the target */
  copiedParams: number;
  trainableParams: number;
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

/** A dense layer's weights: kernel [in, units] and optionally bias [units]. */
function isDenseShape(shapes: readonly (readonly number[])[]): boolean {
  const k = shapes[0];
  if (!k || k.length !== 2 || shapes.length > 2) return false;
  const b = shapes[1];
  return !b || (b.length === 1 && b[0] === k[1]);
}

/**
 * The target's fresh weights with the source's in the leading block and zero kernel rows
 * for the inputs the source does not have; null unless both are dense layers and the
 * target is at least as large in every dimension. A linear layer's units are output
 * channels, not hidden units: it may grow only in its inputs (`unitsMayGrow` false).
 */
function grownWeights(mine: tf.Tensor[], theirs: tf.Tensor[], unitsMayGrow: boolean): tf.Tensor[] | null {
  const ms = mine.map((w) => w.shape);
  const ts = theirs.map((w) => w.shape);
  if (ms.length !== ts.length || !isDenseShape(ms) || !isDenseShape(ts)) return null;
  if (!ms.every((s, i) => s.every((v, d) => v >= ts[i]![d]!))) return null;
  if (!unitsMayGrow && ms[0]![1] !== ts[0]![1]) return null;
  return mine.map((w, i) => {
    const src = theirs[i]!;
    const out = Float32Array.from(w.dataSync());
    const from = src.dataSync();
    if (w.shape.length === 1) {
      out.set(from, 0);
    } else {
      // source rows over the leading columns (new columns keep their fresh values), new rows zero
      const cols = w.shape[1]!;
      const [sr, sc] = src.shape as [number, number];
      for (let r = 0; r < sr; r++) out.set(from.subarray(r * sc, (r + 1) * sc), r * cols);
      out.fill(0, sr * cols);
    }
    return tf.tensor(out, w.shape, 'float32');
  });
}

export function copyMatchingWeights(target: tf.LayersModel, source: tf.LayersModel, opts: { grow?: boolean } = {}): WarmStartReport {
  const byName = new Map(source.layers.map((l) => [l.name, l] as const));
  const report: WarmStartReport = { copied: [], grown: [], skipped: [], copiedParams: 0, trainableParams: 0 };
  for (const layer of target.layers) {
    if (!layer.trainable || layer.trainableWeights.length === 0) continue;
    const params = layer.countParams();
    report.trainableParams += params;
    const src = byName.get(layer.name);
    // getWeights() hands out the variables themselves: read shapes only, never dispose them
    const mine = layer.getWeights();
    const theirs = src && src.trainable ? src.getWeights() : [];
    const match = theirs.length === mine.length && mine.every((w, i) => sameShape(w.shape, theirs[i]!.shape));
    if (match) {
      layer.setWeights(theirs);
      report.copied.push(layer.name);
      report.copiedParams += params;
      continue;
    }
    const hidden = String(layer.getConfig().activation ?? 'linear') !== 'linear';
    const grown = opts.grow && theirs.length ? grownWeights(mine, theirs, hidden) : null;
    if (grown) {
      layer.setWeights(grown);
      grown.forEach((t) => t.dispose());
      report.grown.push(layer.name);
      report.copiedParams += theirs.reduce((n, w) => n + w.size, 0);
    } else {
      report.skipped.push(layer.name);
    }
  }
  return report;
}
