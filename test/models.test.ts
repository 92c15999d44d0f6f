/** The shipped models: golden input/output pairs (1e-5), sizes and self-description. */
import { readFileSync, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/model/backend.js';
import { listShippedModels, loadModelDir } from '../src/io/model-registry.js';
import { paramsToArray, predictSpectra } from '../src/ops/predict.js';
import { energyWindow, type IonName } from '../src/physics/ions.js';

const shipped = listShippedModels();
if (shipped.length === 0) console.warn('note: no model ships yet; golden-pair tests have nothing to check');

beforeAll(async () => {
  await initBackend('wasm');
});

describe('shipped models', () => {
  it('the registry reads every models/<ion> directory that has a meta.json', () => {
    const dirs = (() => {
      try {
        return readdirSync(new URL('../models/', import.meta.url)).filter((d) => !d.startsWith('.') && !d.endsWith('.md'));
      } catch {
        return [];
      }
    })();
    expect(shipped.map((m) => m.ion).sort()).toEqual(dirs.filter((d) => shipped.some((m) => m.ion === d)).sort());
  });

  it.each(shipped.map((m) => [m.ion, m.dir] as const))('%s: golden pair to 1e-5, files < 20 MB, meta consistent', async (ion, dir) => {
    const { model, meta } = await loadModelDir(dir);
    expect(meta.ion).toBe(ion);
    const win = energyWindow(ion as IonName);
    expect(meta.window.wMin).toBeCloseTo(win.wMin, 9);
    for (const f of readdirSync(dir)) expect(statSync(join(dir, f)).size).toBeLessThan(20 * 1024 * 1024);
    const golden = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')) as { inputs: never[]; outputs: number[][] };
    const y = predictSpectra(model, paramsToArray(golden.inputs), golden.inputs.length);
    golden.outputs.forEach((row, i) => row.forEach((v, c) => expect(Math.abs(y[i * 501 + c]! - v)).toBeLessThan(1e-5)));
  });
});
