/**
 * Neural-network foundation (src/model, src/io/model-files.ts) on the wasm
 * backend: FES features, LocallyConnected1D (forward against a naive loop,
 * gradients against central differences and against the autodiff gradient of
 * a stock-op reference), FastDense against tf.layers.dense, model directory
 * save/load, and a short training run of a tiny sLCNN-7.
 */
import { mkdtempSync, rmSync, truncateSync, writeFileSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XasmapError } from '../src/errors.js';
import { loadModel, saveModel } from '../src/io/model-files.js';
import { buildDense, buildSlcnn7, FastDense } from '../src/model/architectures.js';
import { initBackend } from '../src/model/backend.js';
import { FES_MONOMIALS, FES_SIZE, fesFeatures, N_PARAMS } from '../src/model/features.js';
import { LocallyConnected1D, type LcActivation, type LcImplementation } from '../src/model/locally-connected.js';
import { spectralErrorLoss } from '../src/model/train.js';
import { spectralErrors } from '../src/ops/metrics.js';
import { PARAM_NAMES, PARAM_RANGES } from '../src/physics/ions.js';
import { mulberry32 as prng } from '../src/physics/random.js';


function uniform(n: number, r: () => number, lo = -1, hi = 1): Float32Array {
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** ||a - b|| / ||b|| */
function relNorm(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

let tmp = '';
beforeAll(async () => {
  const info = await initBackend('wasm');
  expect(info.name).toBe('wasm');
  tmp = mkdtempSync(join(tmpdir(), 'xasmap-model-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('backend', () => {
  const gpuInstalled = ((): boolean => {
    try {
      createRequire(import.meta.url).resolve('@tensorflow/tfjs-node-gpu');
      return true;
    } catch {
      return false;
    }
  })();

  it.skipIf(gpuInstalled)("'gpu' without @tensorflow/tfjs-node-gpu is BACKEND_UNAVAILABLE (exit 2) with install advice; 'auto' falls back to wasm", async () => {
    await expect(initBackend('gpu')).rejects.toSatisfy(
      (e: unknown) => e instanceof XasmapError && e.code === 'BACKEND_UNAVAILABLE' && e.exitCode === 2 && e.message.includes('npm install @tensorflow/tfjs-node-gpu'),
    );
    expect(tf.getBackend()).toBe('wasm');
    const info = await initBackend('auto');
    expect(info.name).toBe('wasm');
    expect(info.detail).toMatch(/thread/);
  });
});

describe('FES features', () => {
  it('has 220 = C(12, 3) graded-lexicographic monomials', () => {
    expect(FES_SIZE).toBe(220);
    expect(N_PARAMS).toBe(9);
    expect(FES_MONOMIALS[0]).toEqual([]);
    expect(FES_MONOMIALS[1]).toEqual([0]);
    expect(FES_MONOMIALS[9]).toEqual([8]);
    expect(FES_MONOMIALS[10]).toEqual([0, 0]);
    expect(FES_MONOMIALS[54]).toEqual([8, 8]);
    expect(FES_MONOMIALS[55]).toEqual([0, 0, 0]);
    expect(FES_MONOMIALS[110]).toEqual([1, 2, 4]);
    expect(FES_MONOMIALS[136]).toEqual([2, 2, 2]);
    expect(FES_MONOMIALS[219]).toEqual([8, 8, 8]);
  });

  it('gives the hand-computed values (abs 1e-6)', () => {
    // Dq Ds Dt S1 S2 T sigmaG Gamma1 Gamma2 -> normalised 0.5 0.75 0.25 0.5 0.75 0.5 0.5 0.5 0.5
    const p = [0.1, 0.7, -0.4, 0.8, 0.9, 500.5, 0.125, 0.65, 0.75];
    const mins = PARAM_NAMES.map((k) => PARAM_RANGES[k][0]);
    const maxs = PARAM_NAMES.map((k) => PARAM_RANGES[k][1]);
    const f = fesFeatures(Float32Array.from([...p, ...mins, ...maxs]), 3);
    expect(f.length).toBe(3 * 220);
    const expected: [number, number][] = [
      [0, 1], [1, 0.5], [2, 0.75], [3, 0.25], [4, 0.5], [5, 0.75], [6, 0.5], [9, 0.5],
      [10, 0.25], // x0^2
      [11, 0.375], // x0 x1
      [18, 0.25], // x0 x8
      [19, 0.5625], // x1^2
      [54, 0.25], // x8^2
      [55, 0.125], // x0^3
      [110, 0.140625], // x1 x2 x4 = 0.75 * 0.25 * 0.75
      [136, 0.015625], // x2^3
      [219, 0.125], // x8^3
    ];
    for (const [i, v] of expected) expect(Math.abs(f[i]! - v), `feature ${i}`).toBeLessThan(1e-6);
    // all minima: only the constant; all maxima: all ones
    for (let i = 0; i < 220; i++) {
      expect(Math.abs(f[220 + i]! - (i === 0 ? 1 : 0))).toBeLessThan(1e-6);
      expect(Math.abs(f[440 + i]! - 1)).toBeLessThan(1e-6);
    }
  });
});

interface LcCase {
  steps: number;
  cin: number;
  kernelSize: number;
  strides: number;
  filters: number;
  activation: LcActivation;
  useBias: boolean;
}

const LC_CASES: LcCase[] = [
  { steps: 12, cin: 3, kernelSize: 4, strides: 1, filters: 5, activation: 'relu', useBias: true },
  { steps: 13, cin: 2, kernelSize: 3, strides: 2, filters: 4, activation: 'linear', useBias: true },
  { steps: 17, cin: 1, kernelSize: 5, strides: 3, filters: 2, activation: 'relu', useBias: false },
  { steps: 6, cin: 2, kernelSize: 6, strides: 1, filters: 3, activation: 'linear', useBias: false },
];

function outStepsOf(c: LcCase): number {
  return Math.floor((c.steps - c.kernelSize) / c.strides) + 1;
}

/** Float64 pre-activations of the naive loop. */
function naivePre(c: LcCase, batch: number, x: Float32Array, w: Float32Array, b: Float32Array | null): Float64Array {
  const S = outStepsOf(c);
  const KC = c.kernelSize * c.cin;
  const y = new Float64Array(batch * S * c.filters);
  for (let n = 0; n < batch; n++) {
    for (let s = 0; s < S; s++) {
      for (let f = 0; f < c.filters; f++) {
        let acc = b ? b[s * c.filters + f]! : 0;
        for (let k = 0; k < c.kernelSize; k++) {
          for (let ch = 0; ch < c.cin; ch++) {
            const xv = x[(n * c.steps + s * c.strides + k) * c.cin + ch]!;
            acc += xv * w[(s * KC + k * c.cin + ch) * c.filters + f]!;
          }
        }
        y[(n * S + s) * c.filters + f] = acc;
      }
    }
  }
  return y;
}

function lcLayer(c: LcCase, impl: LcImplementation, x: tf.Tensor, w: Float32Array, b: Float32Array | null): LocallyConnected1D {
  const layer = new LocallyConnected1D({
    filters: c.filters, kernelSize: c.kernelSize, strides: c.strides, activation: c.activation, useBias: c.useBias, implementation: impl,
  });
  layer.apply(x); // builds
  const S = outStepsOf(c);
  const ws: tf.Tensor[] = [tf.tensor3d(w, [S, c.kernelSize * c.cin, c.filters])];
  if (b) ws.push(tf.tensor2d(b, [S, c.filters]));
  layer.setWeights(ws);
  ws.forEach((t) => t.dispose());
  return layer;
}

function lcData(c: LcCase, batch: number, seed: number): { x: Float32Array; w: Float32Array; b: Float32Array | null } {
  const r = prng(seed);
  const S = outStepsOf(c);
  return {
    x: uniform(batch * c.steps * c.cin, r),
    w: uniform(S * c.kernelSize * c.cin * c.filters, r),
    b: c.useBias ? uniform(S * c.filters, r) : null,
  };
}

describe('LocallyConnected1D', () => {
  it('forward matches a naive loop (abs 1e-5), both implementations', () => {
    LC_CASES.forEach((c, ci) => {
      const batch = 3;
      const { x, w, b } = lcData(c, batch, 10 + ci);
      const pre = naivePre(c, batch, x, w, b);
      const ref = pre.map((v) => (c.activation === 'relu' ? Math.max(0, v) : v));
      const xt = tf.tensor3d(x, [batch, c.steps, c.cin]);
      for (const impl of ['banded', 'autodiff'] as const) {
        const layer = lcLayer(c, impl, xt, w, b);
        const y = layer.apply(xt) as tf.Tensor;
        expect(y.shape).toEqual([batch, outStepsOf(c), c.filters]);
        expect(maxAbsDiff(y.dataSync(), ref), `case ${ci} ${impl}`).toBeLessThan(1e-5);
        y.dispose();
        layer.dispose();
      }
      xt.dispose();
    });
  });

  it('gradients (input, kernel, bias) match central differences (float32, eps <= 1e-2, relative L2 error < 1e-2)', () => {
    LC_CASES.forEach((c, ci) => {
      const batch = 2;
      const { x, w, b } = lcData(c, batch, 20 + ci);
      const S = outStepsOf(c);
      const rr = prng(30 + ci);
      const R = uniform(batch * S * c.filters, rr);
      // eps small enough that no ReLU pre-activation changes sign (checked in float64)
      const pre = naivePre(c, batch, x, w, b);
      const margin = c.activation === 'relu' ? Math.min(...Array.from(pre, Math.abs)) : Infinity;
      const eps = Math.min(1e-2, (0.4 * margin) / Math.max(maxAbs(x), maxAbs(w), 1));
      expect(eps, `case ${ci}: ReLU margin ${margin}`).toBeGreaterThan(2e-3);

      const layer = lcLayer(c, 'banded', tf.zeros([batch, c.steps, c.cin]), w, b);
      const kernelVar = layer.trainableWeights[0]!.read() as tf.Variable;
      const biasVar = c.useBias ? (layer.trainableWeights[1]!.read() as tf.Variable) : null;
      const Rt = tf.tensor3d(R, [batch, S, c.filters]);
      const loss = (xt: tf.Tensor): tf.Scalar => tf.sum(tf.mul(layer.apply(xt) as tf.Tensor, Rt));
      const xt = tf.tensor3d(x, [batch, c.steps, c.cin]);
      const gx = tf.grad(loss)(xt).dataSync();
      const vars = [kernelVar, ...(biasVar ? [biasVar] : [])];
      const { grads } = tf.variableGrads(() => loss(xt), vars);
      const gw = grads[kernelVar.name]!.dataSync();
      const gb = biasVar ? grads[biasVar.name]!.dataSync() : null;

      const lossAt = (xv: Float32Array): number => {
        const t = tf.tensor3d(xv, [batch, c.steps, c.cin]);
        const v = loss(t).dataSync()[0]!;
        t.dispose();
        return v;
      };
      const fdX = new Float64Array(x.length);
      for (let i = 0; i < x.length; i++) {
        const xp = x.slice();
        const xm = x.slice();
        xp[i]! += eps;
        xm[i]! -= eps;
        fdX[i] = (lossAt(xp) - lossAt(xm)) / (2 * eps);
      }
      const fdVar = (v: tf.Variable, base: Float32Array): Float64Array => {
        const out = new Float64Array(base.length);
        for (let i = 0; i < base.length; i++) {
          const p = base.slice();
          p[i]! += eps;
          v.assign(tf.tensor(p, v.shape));
          const lp = loss(xt).dataSync()[0]!;
          p[i]! -= 2 * eps;
          v.assign(tf.tensor(p, v.shape));
          const lm = loss(xt).dataSync()[0]!;
          out[i] = (lp - lm) / (2 * eps);
        }
        v.assign(tf.tensor(base, v.shape));
        return out;
      };
      const fdW = fdVar(kernelVar, w);
      expect(relNorm(gx, fdX), `case ${ci} dX`).toBeLessThan(1e-2);
      expect(relNorm(gw, fdW), `case ${ci} dW`).toBeLessThan(1e-2);
      if (biasVar && b && gb) expect(relNorm(gb, fdVar(biasVar, b)), `case ${ci} db`).toBeLessThan(1e-2);
      layer.dispose();
      tf.dispose([Rt, xt, ...Object.values(grads)]);
    });
  });

  it('custom gradient equals the autodiff gradient of the stock-op implementation (abs 1e-5 x max|g|)', () => {
    LC_CASES.forEach((c, ci) => {
      const batch = 4;
      const { x, w, b } = lcData(c, batch, 40 + ci);
      const S = outStepsOf(c);
      const R = tf.tensor3d(uniform(batch * S * c.filters, prng(50 + ci)), [batch, S, c.filters]);
      const xt = tf.tensor3d(x, [batch, c.steps, c.cin]);
      const results = (['banded', 'autodiff'] as const).map((impl) => {
        const layer = lcLayer(c, impl, xt, w, b);
        const vars = layer.trainableWeights.map((lw) => lw.read() as tf.Variable);
        const loss = (xx: tf.Tensor): tf.Scalar => tf.sum(tf.mul(layer.apply(xx) as tf.Tensor, R));
        const gx = Array.from(tf.grad(loss)(xt).dataSync());
        const { grads } = tf.variableGrads(() => loss(xt), vars);
        const gv = vars.map((v) => Array.from(grads[v.name]!.dataSync()));
        layer.dispose();
        return [gx, ...gv];
      });
      const [fast, ref] = results as [number[][], number[][]];
      expect(fast.length).toBe(ref.length);
      ref.forEach((g, i) => expect(maxAbsDiff(fast[i]!, g), `case ${ci} grad ${i}`).toBeLessThan(1e-5 * Math.max(1, maxAbs(g))));
      tf.dispose([R, xt]);
    });
  });
});

describe('FastDense', () => {
  it('output and gradients equal those of tf.layers.dense (abs 1e-5 x max|g|)', () => {
    for (const activation of ['relu', 'linear'] as const) {
      const r = prng(activation === 'relu' ? 1 : 2);
      const [batch, nIn, units] = [7, 13, 11];
      const x = tf.tensor2d(uniform(batch * nIn, r), [batch, nIn]);
      const w = tf.tensor2d(uniform(nIn * units, r), [nIn, units]);
      const bias = tf.tensor1d(uniform(units, r, -0.3, 0.3));
      const R = tf.tensor2d(uniform(batch * units, r), [batch, units]);
      const layers = [new FastDense({ units, activation }), tf.layers.dense({ units, activation })];
      const res = layers.map((layer) => {
        layer.apply(x);
        layer.setWeights([w, bias]);
        const vars = layer.trainableWeights.map((lw) => lw.read() as tf.Variable);
        const loss = (xx: tf.Tensor): tf.Scalar => tf.sum(tf.mul(layer.apply(xx) as tf.Tensor, R));
        const y = Array.from((layer.apply(x) as tf.Tensor).dataSync());
        const gx = Array.from(tf.grad(loss)(x).dataSync());
        const { grads } = tf.variableGrads(() => loss(x), vars);
        return [y, gx, ...vars.map((v) => Array.from(grads[v.name]!.dataSync()))];
      });
      const [fast, stock] = res as [number[][], number[][]];
      expect(fast.length).toBe(4);
      stock.forEach((g, i) => expect(maxAbsDiff(fast[i]!, g), `${activation} #${i}`).toBeLessThan(1e-5 * Math.max(1, maxAbs(g))));
      layers.forEach((l) => l.dispose());
      tf.dispose([x, w, bias, R]);
    }
  });
});

const TINY = {
  splitChannel: 300, trunk: [48, 32], steps: [20, 16] as [number, number], channels: 4, filters: 4, kernelSize: 3, strides: 1,
} as const;

describe('model files', () => {
  it('save/load round trip gives identical predictions (abs 1e-6) for sLCNN-7 and dense', async () => {
    const r = prng(3);
    const feats = tf.tensor2d(fesFeatures(randomParams(16, r), 16), [16, FES_SIZE]);
    const models = [buildSlcnn7({ ...TINY, seed: 5 }), buildDense({ trunk: [20, 10], hidden: [30], seed: 6 })];
    for (const [i, model] of models.entries()) {
      const dir = join(tmp, `roundtrip-${i}`);
      model.setUserDefinedMetadata({ xasmap: { ion: 'Ni2+', splitChannel: 300 } });
      await saveModel(model, dir);
      const loaded = await loadModel(dir);
      expect(loaded.getUserDefinedMetadata()).toEqual({ xasmap: { ion: 'Ni2+', splitChannel: 300 } });
      expect(loaded.countParams()).toBe(model.countParams());
      const a = (model.predict(feats) as tf.Tensor).dataSync();
      const b = (loaded.predict(feats) as tf.Tensor).dataSync();
      expect(a.length).toBe(16 * 501);
      expect(maxAbsDiff(a, b)).toBeLessThan(1e-6);
      const layerClasses = (JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as { modelTopology: { config: { layers: { class_name: string }[] } } })
        .modelTopology.config.layers.map((l) => l.class_name);
      expect(layerClasses).toContain('xasmap>FastDense');
      if (i === 0) expect(layerClasses).toContain('xasmap>LocallyConnected1D');
      await expect(saveModel(model, dir)).rejects.toMatchObject({ code: 'OUTPUT_EXISTS' });
      await saveModel(model, dir, { force: true });
      model.dispose();
      loaded.dispose();
    }
    feats.dispose();
  });

  it('reports MODEL_NOT_FOUND and MODEL_CORRUPT naming the path', async () => {
    const missing = join(tmp, 'nope');
    await expect(loadModel(missing)).rejects.toSatisfy((e: unknown) => e instanceof XasmapError && e.code === 'MODEL_NOT_FOUND' && e.message.includes(missing));
    const dir = join(tmp, 'corrupt');
    const model = buildDense({ trunk: [8], hidden: [], outputSize: 5, seed: 1 });
    await saveModel(model, dir);
    model.dispose();
    truncateSync(join(dir, 'weights.bin'), 10);
    await expect(loadModel(dir)).rejects.toSatisfy((e: unknown) => e instanceof XasmapError && e.code === 'MODEL_CORRUPT' && e.message.includes(dir));
    writeFileSync(join(dir, 'model.json'), '{"modelTopology": ');
    await expect(loadModel(dir)).rejects.toSatisfy((e: unknown) => e instanceof XasmapError && e.code === 'MODEL_CORRUPT' && e.message.includes(dir));
  });
});

function randomParams(n: number, r: () => number): Float32Array {
  const p = new Float32Array(n * N_PARAMS);
  for (let i = 0; i < n; i++) {
    PARAM_NAMES.forEach((k, j) => {
      const [lo, hi] = PARAM_RANGES[k];
      p[i * N_PARAMS + j] = lo + (hi - lo) * r();
    });
  }
  return p;
}

describe('SE training loss (--loss se)', () => {
  it('equals the mean of the SE measure of src/ops/metrics.ts / 100 (rel 1e-5)', () => {
    const r = prng(5);
    const n = 7;
    const c = 501;
    const y = uniform(n * c, r, 0, 1);
    const p = Float32Array.from(y, (v) => v + 0.1 * (r() - 0.5)); // includes small negatives
    const want = spectralErrors(p, y, n, c).reduce((a, b) => a + b, 0) / n / 100;
    const got = tf.tidy(() => spectralErrorLoss(tf.tensor2d(y, [n, c]), tf.tensor2d(p, [n, c])).dataSync()[0]!);
    expect(Math.abs(got - want) / want).toBeLessThan(1e-5);
  });

  it('gradient with respect to the prediction matches central differences (relative L2 error < 1e-2)', () => {
    const r = prng(6);
    const n = 3;
    const c = 12;
    const y = uniform(n * c, r, 0.1, 1);
    const p = Float32Array.from(y, (v) => v + (r() < 0.5 ? -1 : 1) * (0.05 + 0.1 * r())); // |p - y| >= 0.05: no kink within eps
    const yt = tf.tensor2d(y, [n, c]);
    const f = (q: Float32Array): number => tf.tidy(() => spectralErrorLoss(yt, tf.tensor2d(q, [n, c])).dataSync()[0]!);
    const g = tf.tidy(() => tf.grad((pt: tf.Tensor) => spectralErrorLoss(yt, pt))(tf.tensor2d(p, [n, c])).dataSync() as Float32Array);
    const eps = 1e-2;
    const fd = Float32Array.from(p, (_, i) => {
      const a = p.slice();
      const b = p.slice();
      a[i]! += eps;
      b[i]! -= eps;
      return (f(a) - f(b)) / (2 * eps);
    });
    expect(relNorm(g, fd)).toBeLessThan(1e-2);
    yt.dispose();
  });
});

describe('tiny sLCNN-7 training', () => {
  it('learns a smooth synthetic dataset: MSE down >= 8x and below 40 % of the mean-spectrum MSE after 40 epochs', async () => {
    // 256 samples; targets: two Gaussian peaks (L3 / L2 like) whose heights, positions and widths
    // are smooth functions of the normalised parameters, then box-normalised like spectra
    const n = 256;
    const r = prng(11);
    const params = randomParams(n, r);
    const feats = fesFeatures(params, n);
    const y = new Float32Array(n * 501);
    for (let i = 0; i < n; i++) {
      const u = (j: number): number => feats[i * FES_SIZE + 1 + j]!; // normalised parameter j
      const mu1 = 120 + 60 * u(0) + 20 * u(1) * u(2);
      const mu2 = 380 + 40 * u(3);
      const w1 = 10 + 15 * u(7) + 5 * u(6);
      const w2 = 15 + 15 * u(8);
      const h2 = 0.3 + 0.4 * u(4) * u(5);
      let lo = Infinity;
      let hi = -Infinity;
      for (let c = 0; c < 501; c++) {
        const v = Math.exp(-0.5 * ((c - mu1) / w1) ** 2) + h2 * Math.exp(-0.5 * ((c - mu2) / w2) ** 2);
        y[i * 501 + c] = v;
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      for (let c = 0; c < 501; c++) y[i * 501 + c] = (y[i * 501 + c]! - lo) / (hi - lo);
    }
    const xs = tf.tensor2d(feats, [n, FES_SIZE]);
    const ys = tf.tensor2d(y, [n, 501]);
    const model = buildSlcnn7({ ...TINY, seed: 9 });
    const mse = (pred: tf.Tensor): number => tf.tidy(() => tf.losses.meanSquaredError(ys, pred).dataSync()[0]!);
    const meanSpectrumMse = mse(tf.tidy(() => tf.mul(tf.ones([n, 1]), tf.mean(ys, 0, true)))); // 0.023 for this data
    const evalLoss = (): number => mse(model.predict(xs) as tf.Tensor);
    const before = evalLoss();
    // 30 epochs at lr 2e-3, then 10 at 5e-4 (deterministic: fixed seed, no shuffling); ~3 s on 2 cores
    for (const [lr, epochs] of [[2e-3, 30], [5e-4, 10]] as const) {
      model.compile({ optimizer: tf.train.rmsprop(lr), loss: 'meanSquaredError' });
      await model.fit(xs, ys, { batchSize: 32, epochs, shuffle: false, verbose: 0 });
    }
    const after = evalLoss();
    expect(after, `MSE ${before} -> ${after}`).toBeLessThan(before / 8);
    expect(after, `MSE ${after}, mean-spectrum MSE ${meanSpectrumMse}`).toBeLessThan(0.4 * meanSpectrumMse);
    model.dispose();
    tf.dispose([xs, ys]);
  });
});
