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
 */
import type * as tf from '@tensorflow/tfjs';

export interface WarmStartReport {
  /** layers whose weights were copied */
  copied: string[];
  /** trainable layers left at their fresh initialisation (no layer of that name, or other shapes) */
  skipped: string[];
  /** parameters copied / trainable parameters of the target */
  copiedParams: number;
  trainableParams: number;
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

export function copyMatchingWeights(target: tf.LayersModel, source: tf.LayersModel): WarmStartReport {
  const byName = new Map(source.layers.map((l) => [l.name, l] as const));
  const report: WarmStartReport = { copied: [], skipped: [], copiedParams: 0, trainableParams: 0 };
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
    } else {
      report.skipped.push(layer.name);
    }
  }
  return report;
}
