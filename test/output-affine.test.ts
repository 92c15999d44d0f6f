/** OutputAffine (fixed per-channel output map) and channelMoments, against hand values. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/model/backend.js';
import { buildDense } from '../src/model/architectures.js';
import { OutputAffine, channelMoments } from '../src/model/output-affine.js';
import { loadModel, saveModel } from '../src/io/model-files.js';

beforeAll(async () => {
  await initBackend('wasm');
});

describe('OutputAffine', () => {
  it('computes shift + scale * z per channel (exact in float32)', () => {
    const layer = new OutputAffine({ shift: [1, -2, 0.5], scale: [2, 0.5, 10] });
    const y = layer.apply(tf.tensor2d([[1, 2, 3], [0, -4, 0.25]])) as tf.Tensor;
    expect(Array.from(y.dataSync())).toEqual([3, -1, 30.5, 1, -4, 3]);
  });

  it('channelMoments: mean and population std per channel, floored', () => {
    // rows 0 and 2 of [[1,5],[100,100],[3,5]]: means (2, 5), std (1, 0 -> floor 0.01)
    const { shift, scale } = channelMoments(Float32Array.of(1, 5, 100, 100, 3, 5), 2, [0, 2], 0.01);
    expect(shift).toEqual([2, 5]);
    expect(scale[0]).toBeCloseTo(1, 12);
    expect(scale[1]).toBe(0.01);
  });

  it('saves and loads with the model (predictions equal to 1e-6)', async () => {
    const shift = Array.from({ length: 501 }, (_, i) => i / 501);
    const scale = Array.from({ length: 501 }, (_, i) => 0.1 + (i % 7) / 10);
    const m = buildDense({ seed: 5, hidden: [16], trunk: [8, 8], outputAffine: { shift, scale } });
    const x = tf.randomUniform([3, 220], 0, 1, 'float32', 9);
    const before = (m.predict(x) as tf.Tensor).dataSync();
    const dir = join(mkdtempSync(join(tmpdir(), 'xasmap-affine-')), 'm');
    await saveModel(m, dir);
    const back = await loadModel(dir);
    const after = (back.predict(x) as tf.Tensor).dataSync();
    after.forEach((v, i) => expect(Math.abs(v - before[i]!)).toBeLessThan(1e-6));
    expect(back.layers.some((l) => l instanceof OutputAffine)).toBe(true);
  });
});
