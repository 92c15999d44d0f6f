/** `xasmap predict --ion ION --params FILE [--out FILE] [--model DIR]`: simulate's JSON contract, computed by a trained model. */
import { XasmapError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { loadModelDir, loadShippedModel } from '../io/model-registry.js';
import { rangeWarnings, readParamsFile } from '../io/params-json.js';
import { initBackend, type BackendKind } from '../model/backend.js';
import { energyWindow, windowAxes } from '../physics/ions.js';
import { extrapolated, paramsToArray, predictSpectra } from '../ops/predict.js';
import { parseIon } from './ion-option.js';
import type { CliIo } from './io.js';

export interface PredictOptions {
  ion?: string;
  params?: string;
  out?: string;
  model?: string;
  backend?: string;
  force?: boolean;
}

const round = (x: number): number => Number(x.toPrecision(10));

export async function runPredict(opts: PredictOptions, io: CliIo): Promise<number> {
  const ion = parseIon(opts.ion);
  if (!opts.params) throw new XasmapError('BAD_ARGS', '--params FILE is required');
  const list = readParamsFile(opts.params);
  for (const w of rangeWarnings(list, opts.params)) io.stderr(`warning: ${w}`);
  await initBackend((opts.backend ?? 'wasm') as BackendKind);
  const loaded = opts.model ? await loadModelDir(opts.model) : await loadShippedModel(ion);
  if (loaded.meta.ion !== ion) {
    throw new XasmapError('MODEL_ION_MISMATCH', `${loaded.dir} is a model for ${loaded.meta.ion}, not ${ion}`);
  }
  const { w, energy } = windowAxes(energyWindow(ion));
  const y = predictSpectra(loaded.model, paramsToArray(list), list.length);
  const spectra = list.map((_, i) => Array.from(y.subarray(i * 501, (i + 1) * 501)));
  const result = { ion, w: Array.from(w, round), energy: Array.from(energy, round), spectra, extrapolated: extrapolated(list) };
  const text = JSON.stringify(result) + '\n';
  if (opts.out) {
    writeFileAtomic(opts.out, text, opts.force ?? false);
    io.stderr(`wrote ${list.length} predicted spectra of ${ion} to ${opts.out}`);
  } else {
    io.stdout(text);
  }
  return 0;
}
