/**
 * VoigtOutput (physics output layer) and FourierFeatures (input layer). VoigtOutput: against the simulator's exact Voigt
 * broadening (src/physics/voigt.ts, Faddeeva), its custom gradient against
 * finite differences, and a save/load round trip.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/model/backend.js';
import { buildDense, buildSlcnn7 } from '../src/model/architectures.js';
import { FES_SIZE, fesFeatures } from '../src/model/features.js';
import { VoigtOutput, voigtArgsFor } from '../src/model/voigt-output.js';
import { FourierFeatures } from '../src/model/fourier-features.js';
import { copyMatchingWeights } from '../src/model/warm-start.js';
import { loadModel, saveModel } from '../src/io/model-files.js';
import { broadenSticks } from '../src/physics/voigt.js';
import { energyWindow, PARAM_NAMES, PARAM_RANGES } from '../src/physics/ions.js';

beforeAll(async () => {
  await initBackend('wasm');
});

const win = energyWindow('Ni2+');
const args = voigtArgsFor(win);
const grid = { wMin: win.wMin, step: win.step, n: win.n };

function boxNormalise(v: Float64Array): Float64Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of v) {
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
  }
  return v.map((x) => (x - lo) / (hi - lo));
}

/** deterministic sticks: 12 on the L3 side, 6 on the L2 side, all >= 2.5 eV from the split */
function sticks(seed: number): { pos: Float64Array; wt: Float64Array } {
  let s = seed;
  const rnd = (): number => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const l3lo = win.wMin + 3;
  const l3hi = win.split - 2.5;
  const l2lo = win.split + 2.5;
  const l2hi = win.split + 9;
  const pos: number[] = [];
  const wt: number[] = [];
  for (let i = 0; i < 12; i++) {
    pos.push(l3lo + rnd() * (l3hi - l3lo));
    wt.push(0.1 + rnd());
  }
  for (let i = 0; i < 6; i++) {
    pos.push(l2lo + rnd() * (l2hi - l2lo));
    wt.push(0.05 + 0.5 * rnd());
  }
  return { pos: Float64Array.from(pos), wt: Float64Array.from(wt) };
}

function featuresFor(p: { sigmaG: number; Gamma1: number; Gamma2: number }): Float32Array {
  const params = Float32Array.from(PARAM_NAMES, (k) => (k in p ? p[k as keyof typeof p] : (PARAM_RANGES[k][0] + PARAM_RANGES[k][1]) / 2));
  return fesFeatures(params, 1);
}

describe('VoigtOutput', () => {
  it('turns base-broadened L3/L2 spectra into the exact Voigt spectrum of other widths (max error < 4e-3 of the peak: the base tails cut at the window ends and at the split)', () => {
    const layer = new VoigtOutput(args);
    const [sigma0, gamma0] = args.base;
    const cases = [
      { sigmaG: 0.05, Gamma1: 0.3, Gamma2: 0.3 },
      { sigmaG: 0.2, Gamma1: 1.0, Gamma2: 1.2 },
      { sigmaG: 0.11, Gamma1: 0.45, Gamma2: 0.9 },
      { sigmaG: 0.07, Gamma1: 0.8, Gamma2: 0.35 },
    ];
    for (const [ci, c] of cases.entries()) {
      const { pos, wt } = sticks(ci + 1);
      // the network's part: each side's sticks at the base widths, on its own channels
      const narrow = new Float64Array(win.n);
      broadenSticks(pos, wt, pos.length, grid, win.split, gamma0, gamma0, sigma0, narrow);
      const exact = new Float64Array(win.n);
      broadenSticks(pos, wt, pos.length, grid, win.split, c.Gamma1, c.Gamma2, c.sigmaG, exact);
      const out = layer.apply([tf.tensor2d(Float32Array.from(narrow), [1, win.n]), tf.tensor2d(featuresFor(c), [1, FES_SIZE])]) as tf.Tensor;
      const got = out.dataSync();
      const want = boxNormalise(exact);
      let err = 0;
      for (let j = 0; j < win.n; j++) err = Math.max(err, Math.abs(got[j]! - want[j]!));
      expect(err, `case ${JSON.stringify(c)}`).toBeLessThan(4e-3);
      expect(Math.max(...got)).toBeCloseTo(1, 5);
      expect(Math.min(...got)).toBeCloseTo(0, 5);
    }
  });

  it('gradient with respect to the narrow spectra matches central differences (rel. 2e-2)', () => {
    const layer = new VoigtOutput(args);
    const feats = tf.tensor2d(featuresFor({ sigmaG: 0.12, Gamma1: 0.6, Gamma2: 0.8 }), [1, FES_SIZE]);
    const { pos, wt } = sticks(7);
    const narrow = new Float64Array(win.n);
    broadenSticks(pos, wt, pos.length, grid, win.split, args.base[1], args.base[1], args.base[0], narrow);
    const w = tf.tensor2d(Float32Array.from({ length: win.n }, (_, j) => Math.sin(j / 7)), [win.n, 1]);
    const f = (x: tf.Tensor): tf.Scalar => tf.sum(tf.matMul(layer.apply([x, feats]) as tf.Tensor2D, w)) as tf.Scalar;
    const x0 = tf.tensor2d(Float32Array.from(narrow), [1, win.n]);
    const g = tf.grad(f)(x0).dataSync();
    const h = 1e-2;
    const base = Float32Array.from(narrow);
    for (const j of [20, 90, 150, 240, 330, 420]) {
      const up = base.slice();
      const dn = base.slice();
      up[j]! += h;
      dn[j]! -= h;
      const fd = (f(tf.tensor2d(up, [1, win.n])).dataSync()[0]! - f(tf.tensor2d(dn, [1, win.n])).dataSync()[0]!) / (2 * h);
      expect(Math.abs(g[j]! - fd), `channel ${j}: grad ${g[j]} fd ${fd}`).toBeLessThan(2e-2 * Math.max(Math.abs(fd), 1e-2));
    }
  });

  it('saves and loads with dense and sLCNN-7 models (predictions equal to 1e-6)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'xasmap-voigt-'));
    try {
      const models = [
        buildDense({ seed: 3, trunk: [16, 8], hidden: [16], voigt: args }),
        buildSlcnn7({ seed: 3, trunk: [16, 8], steps: [12, 10], channels: 2, filters: 2, kernelSize: 3, lcLayers: 2, splitChannel: args.splitChannel, voigt: args }),
      ];
      const x = tf.randomUniform([4, FES_SIZE], 0, 1, 'float32', 11);
      for (const [i, m] of models.entries()) {
        const before = (m.predict(x) as tf.Tensor).dataSync();
        await saveModel(m, join(dir, `m${i}`));
        const back = await loadModel(join(dir, `m${i}`));
        const after = (back.predict(x) as tf.Tensor).dataSync();
        for (let j = 0; j < before.length; j++) expect(Math.abs(after[j]! - before[j]!)).toBeLessThan(1e-6);
        expect(back.layers.some((l) => l instanceof VoigtOutput)).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses bad settings with a message', () => {
    expect(() => new VoigtOutput({ ...args, splitChannel: 0 })).toThrow(/splitChannel/);
    expect(() => new VoigtOutput({ ...args, frequencies: 600 })).toThrow(/frequencies/);
    expect(() => buildDense({ voigt: args, outputAffine: { shift: [0], scale: [1] } })).toThrow(/exclude/);
  });
});

describe('FourierFeatures', () => {
  it('appends sin and cos of 2 pi x B to the input (hand-computed), saves and loads with the model', async () => {
    const layer = new FourierFeatures({ columns: [1, 3], count: 2, sigma: 1, seed: 1, matrix: [0.5, 1, -2, 0.25] });
    const x = tf.tensor2d([[9, 0.2, 9, 0.4]]);
    const out = (layer.apply(x) as tf.Tensor).dataSync();
    // phases: 2 pi (0.2 * 0.5 + 0.4 * -2), 2 pi (0.2 * 1 + 0.4 * 0.25)
    const p = [2 * Math.PI * (0.1 - 0.8), 2 * Math.PI * (0.2 + 0.1)];
    const want = [9, 0.2, 9, 0.4, Math.sin(p[0]!), Math.sin(p[1]!), Math.cos(p[0]!), Math.cos(p[1]!)];
    want.forEach((w, i) => expect(out[i]!).toBeCloseTo(w, 5));
    // drawn from the seed: same seed, same matrix; spread ~ sigma
    const a = new FourierFeatures({ columns: [0, 1, 2], count: 400, sigma: 3, seed: 7 });
    const b = new FourierFeatures({ columns: [0, 1, 2], count: 400, sigma: 3, seed: 7 });
    expect(a.matrix).toEqual(b.matrix);
    const sd = Math.sqrt(a.matrix.reduce((s, v) => s + v * v, 0) / a.matrix.length);
    expect(sd).toBeGreaterThan(2.7);
    expect(sd).toBeLessThan(3.3);
    const dir = mkdtempSync(join(tmpdir(), 'xasmap-ff-'));
    try {
      const m = buildDense({ seed: 2, trunk: [8, 8], hidden: [8], fourier: { columns: [1, 2, 3], count: 5, sigma: 2, seed: 3 } });
      const xin = tf.randomUniform([3, FES_SIZE], 0, 1, 'float32', 4);
      const before = (m.predict(xin) as tf.Tensor).dataSync();
      await saveModel(m, join(dir, 'm'));
      const after = ((await loadModel(join(dir, 'm'))).predict(xin) as tf.Tensor).dataSync();
      for (let j = 0; j < before.length; j++) expect(Math.abs(after[j]! - before[j]!)).toBeLessThan(1e-6);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('warm start (copyMatchingWeights)', () => {
  const TINY = { trunk: [16, 8] as [number, number], steps: [12, 10] as [number, number], channels: 2, filters: 2, kernelSize: 3, lcLayers: 2 };
  const flat = (l: tf.layers.Layer): number[] => l.getWeights().flatMap((w) => Array.from(w.dataSync()));

  it('copies every trainable layer of equal shape, keeps the fixed output layer of the target', () => {
    const source = buildDense({ seed: 1, trunk: [16, 8], hidden: [12], outputAffine: { shift: new Array(501).fill(0.5), scale: new Array(501).fill(2) } });
    const target = buildDense({ seed: 7, trunk: [16, 8], hidden: [12], outputAffine: { shift: new Array(501).fill(0.1), scale: new Array(501).fill(3) } });
    const r = copyMatchingWeights(target, source);
    expect(r.skipped).toEqual([]);
    expect(r.copiedParams).toBe(r.trainableParams);
    expect(r.trainableParams).toBe(FES_SIZE * 16 + 16 + 16 * 8 + 8 + 8 * 12 + 12 + 12 * 501 + 501);
    for (const l of target.layers) if (l.trainable && l.trainableWeights.length) expect(flat(l)).toEqual(flat(source.getLayer(l.name)));
    // the fixed standardisation stays the target's: on the same input, target = 0.1 + 3 (source - 0.5) / 2
    const x = tf.randomUniform([3, FES_SIZE], 0, 1, 'float32', 4);
    const ys = (source.predict(x) as tf.Tensor).dataSync();
    const yt = (target.predict(x) as tf.Tensor).dataSync();
    for (let i = 0; i < ys.length; i += 97) expect(yt[i]!).toBeCloseTo(0.1 + (3 * (ys[i]! - 0.5)) / 2, 4);
  });

  it('across elements (another L3/L2 split) sLCNN-7 keeps trunk and LC layers, the two output layers start fresh', () => {
    const source = buildSlcnn7({ ...TINY, seed: 1, splitChannel: 186 });
    const target = buildSlcnn7({ ...TINY, seed: 2, splitChannel: 169 });
    const before = flat(target.getLayer('l3_lc1'));
    const r = copyMatchingWeights(target, source);
    expect([...r.copied].sort()).toEqual(['l2_lc1', 'l2_lc2', 'l2_proj', 'l3_lc1', 'l3_lc2', 'l3_proj', 'trunk_1', 'trunk_2']);
    expect(r.skipped).toEqual(['l3_out', 'l2_out']);
    expect(flat(target.getLayer('trunk_1'))).toEqual(flat(source.getLayer('trunk_1')));
    expect(flat(target.getLayer('l3_lc1'))).toEqual(flat(source.getLayer('l3_lc1')));
    expect(before).not.toEqual(flat(target.getLayer('l3_lc1')));
    // the output layers keep their fresh initialisation (other shapes: 169 vs 186 L3 channels)
    expect(target.getLayer('l3_out').getWeights()[0]!.shape).toEqual([source.getLayer('l3_out').getWeights()[0]!.shape[0], 169]);
  });

  it('grow: a wider sLCNN-7 trunk starts from exactly the source function (new units have zero outgoing weights)', () => {
    const source = buildSlcnn7({ ...TINY, seed: 1, splitChannel: 186 });
    const target = buildSlcnn7({ ...TINY, trunk: [24, 13], seed: 2, splitChannel: 186 });
    const plain = copyMatchingWeights(buildSlcnn7({ ...TINY, trunk: [24, 13], seed: 2, splitChannel: 186 }), source);
    expect([...plain.skipped].sort()).toEqual(['l2_proj', 'l3_proj', 'trunk_1', 'trunk_2']);
    const r = copyMatchingWeights(target, source, { grow: true });
    expect([...r.grown].sort()).toEqual(['l2_proj', 'l3_proj', 'trunk_1', 'trunk_2']);
    expect(r.skipped).toEqual([]);
    expect(r.copiedParams).toBe(source.countParams());
    expect(r.trainableParams).toBe(target.countParams());
    // trunk_2 kernel [24, 13]: rows >= 16 (new trunk_1 units) zero, leading [16, 8] block the source's, new columns fresh
    const k = target.getLayer('trunk_2').getWeights()[0]!;
    const ks = source.getLayer('trunk_2').getWeights()[0]!.arraySync() as number[][];
    const kt = k.arraySync() as number[][];
    expect(kt.slice(16).flat().every((v) => v === 0)).toBe(true);
    expect(kt.slice(0, 16).map((r) => r.slice(0, 8))).toEqual(ks);
    expect(kt.slice(0, 16).flatMap((r) => r.slice(8)).some((v) => v !== 0)).toBe(true);
    const x = tf.randomUniform([5, FES_SIZE], 0, 1, 'float32', 4);
    const ys = (source.predict(x) as tf.Tensor).dataSync();
    const yt = (target.predict(x) as tf.Tensor).dataSync();
    let worst = 0;
    for (let i = 0; i < ys.length; i++) worst = Math.max(worst, Math.abs(yt[i]! - ys[i]!));
    expect(worst).toBeLessThan(1e-5);
    expect(ys.some((v) => v !== 0)).toBe(true);
  });

  it('grow: a narrower target or another output split is not grown', () => {
    const source = buildSlcnn7({ ...TINY, seed: 1, splitChannel: 186 });
    const narrower = copyMatchingWeights(buildSlcnn7({ ...TINY, trunk: [12, 8], seed: 2, splitChannel: 186 }), source, { grow: true });
    expect([...narrower.skipped].sort()).toEqual(['trunk_1', 'trunk_2']);
    expect(narrower.grown).toEqual([]);
    const split = copyMatchingWeights(buildSlcnn7({ ...TINY, seed: 2, splitChannel: 169 }), source, { grow: true });
    // L3 output 186 -> 169 channels is narrower; L2 315 -> 332 is wider, but output channels are not hidden units
    expect(split.skipped).toEqual(['l3_out', 'l2_out']);
    expect(split.grown).toEqual([]);
  });
});
