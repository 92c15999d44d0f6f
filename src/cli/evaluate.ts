/**
 * `xasmap evaluate --model DIR --data FILE.h5 --report DIR [--compare DIR | --compare-from DIR] [--card]`
 *
 * The paper's analysis of a trained model against simulated spectra: on the model's
 * own test split when FILE.h5 is its training database, else on every row (e.g. the
 * Oh and C4v sets of `xasmap dataset --ranges oh|c4v`). Writes report.json,
 * report.md and PNG plots to --report; with --card, stores the figures in the model's
 * meta.json and (re)writes its MODEL.md. --compare-from DIR (with --card, on the test split)
 * copies the dense-baseline figures from the card of an earlier model of the same ion,
 * database and test split (a round that retrained only the sLCNN-7), marked as copied.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { XasmapError } from '../errors.js';
import { readDatasetFile } from '../io/dataset-file.js';
import { loadModelDir, type LoadedModel } from '../io/model-registry.js';
import { linePlot } from '../io/plot-svg.js';
import { svgToPng } from '../io/png.js';
import { initBackend, type BackendKind } from '../model/backend.js';
import { MODEL_META, MODEL_SPLIT, type ModelMeta } from '../model/meta.js';
import { evaluateSpectra, ACCURACY_BAR, type EvaluationReport } from '../ops/evaluate.js';
import { predictSpectra } from '../ops/predict.js';
import type { CliIo } from './io.js';
import { writeModelCard } from './model-card.js';

export interface EvaluateOptions {
  model?: string;
  data?: string;
  report?: string;
  compare?: string;
  compareFrom?: string;
  card?: boolean;
  backend?: string;
}

interface SetResult {
  label: string;
  model: LoadedModel;
  report: EvaluationReport;
  pred: Float32Array;
  arrays: ReturnType<typeof evaluateSpectra>['arrays'];
  seconds: number;
}

function gatherRows(src: Float32Array, width: number, idx: ArrayLike<number>): Float32Array {
  const out = new Float32Array(idx.length * width);
  for (let r = 0; r < idx.length; r++) out.set(src.subarray(idx[r]! * width, (idx[r]! + 1) * width), r * width);
  return out;
}

export async function runEvaluate(opts: EvaluateOptions, io: CliIo): Promise<number> {
  if (!opts.model) throw new XasmapError('BAD_ARGS', '--model DIR is required');
  if (!opts.data) throw new XasmapError('BAD_ARGS', '--data FILE.h5 is required');
  if (!opts.report) throw new XasmapError('BAD_ARGS', '--report DIR is required');
  await initBackend((opts.backend ?? 'wasm') as BackendKind);
  const main = await loadModelDir(opts.model);
  if (opts.compareFrom && opts.compare) throw new XasmapError('BAD_ARGS', 'give --compare DIR or --compare-from DIR, not both');
  if (opts.compareFrom && !opts.card) throw new XasmapError('BAD_ARGS', '--compare-from DIR only fills the card: add --card');
  const other = opts.compare ? await loadModelDir(opts.compare) : undefined;
  const db = await readDatasetFile(opts.data);
  if (db.meta.ion !== main.meta.ion) {
    throw new XasmapError('MODEL_ION_MISMATCH', `${opts.data} holds ${db.meta.ion} spectra but ${opts.model} is a model for ${main.meta.ion}`);
  }
  if (other && other.meta.ion !== main.meta.ion) throw new XasmapError('MODEL_ION_MISMATCH', `--compare ${opts.compare} is a model for ${other.meta.ion}`);
  const n = db.meta.rowsDone;
  // the model's test split when this is its training database
  const d = main.meta.dataset;
  const own = basename(opts.data) === d.file && db.meta.seed === d.seed && n === d.count && db.meta.ranges === d.ranges;
  const testRows = own ? readTestRows(opts.model) : undefined;
  const carried = opts.compareFrom ? carriedCompare(opts.compareFrom, main.meta, opts.model, testRows) : undefined;
  let rows: number[];
  let subset: string;
  if (testRows) {
    rows = testRows;
    subset = `test split of the training database (${rows.length} of ${n} rows, never used in training)`;
  } else {
    rows = Array.from({ length: n }, (_, i) => i);
    subset = `all ${n} rows`;
  }
  const params = gatherRows(db.params, 9, rows);
  const ref = gatherRows(db.spectra, 501, rows);
  const energy = Float64Array.from(db.meta.energy);
  const dq = Float64Array.from(rows, (_, r) => params[r * 9]!);
  const withRf = db.meta.ranges === 'oh' || db.meta.ranges === 'c4v';
  const results: SetResult[] = [];
  for (const [label, m] of [[main.meta.arch, main], ...(other ? [[other.meta.arch + ' (compare)', other]] : [])] as [string, LoadedModel][]) {
    const t0 = performance.now();
    const pred = predictSpectra(m.model, params, rows.length);
    const seconds = (performance.now() - t0) / 1000;
    const { report, arrays } = evaluateSpectra(pred, ref, rows.length, energy, { dq, withRf });
    results.push({ label, model: m, report, pred, arrays, seconds });
  }
  const dir = opts.report;
  mkdirSync(dir, { recursive: true });
  const ion = main.meta.ion;
  const r0 = results[0]!;
  await writePlots(dir, ion, r0, ref, energy, results, withRf ? dq : undefined);
  const json = {
    ion,
    data: { file: opts.data, ranges: db.meta.ranges, seed: db.meta.seed, subset },
    models: results.map((r) => ({ label: r.label, dir: r.model.dir, arch: r.model.meta.arch, params: r.model.meta.paramCount, predictSeconds: r.seconds, ...r.report })),
  };
  writeFileSync(join(dir, 'report.json'), JSON.stringify(json, (_k, v) => (v === Infinity ? 'Infinity' : v), 1));
  writeFileSync(join(dir, 'report.md'), reportMarkdown(ion, opts.data, db.meta.ranges, subset, results, withRf));
  for (const r of results) {
    io.stderr(
      `${r.label}: ${r.report.count} spectra, SE < 3 %: ${(100 * r.report.fractionBelow3).toFixed(2)} %, < 7 %: ${(100 * r.report.fractionBelow7).toFixed(2)} %, MSE ${r.report.mse.toExponential(3)}, MAE ${r.report.mae.toExponential(3)}; bar ${r.report.meetsBar ? 'met' : 'NOT met'}`,
    );
  }
  io.stderr(`report in ${dir} (report.md, report.json, PNGs)`);
  if (opts.card) {
    const meta = main.meta;
    const key = db.meta.ranges === 'd4h' ? 'd4h' : db.meta.ranges;
    const ev = (meta.evaluation ?? {}) as Record<string, unknown>;
    ev[key] = { data: basename(opts.data), subset, ...r0.report, intervals: r0.report.intervals.counts };
    if (key === 'd4h') {
      Object.assign(ev, { testCount: r0.report.count, fractionBelow3: r0.report.fractionBelow3, fractionBelow7: r0.report.fractionBelow7, meetsBar: r0.report.meetsBar });
      if (carried) ev.compare = carried;
      else if (results[1]) ev.compare = { arch: results[1].model.meta.arch, params: results[1].model.meta.paramCount, ...results[1].report, intervals: results[1].report.intervals.counts, training: results[1].model.meta.training.wallSeconds, validation: results[1].model.meta.validation };
    }
    meta.evaluation = ev;
    writeFileSync(join(opts.model, MODEL_META), JSON.stringify(meta, (_k, v) => (v === Infinity ? 'Infinity' : v), 1));
    writeModelCard(opts.model, meta);
    io.stderr(`updated ${join(opts.model, MODEL_META)} and MODEL.md`);
  }
  return 0;
}

/**
 * The dense-baseline figures of the card of `from` (an earlier model of the same ion), for
 * a model evaluated on the same test split: same database (file, seed, count, ranges) and
 * the same test rows, else a COMPARE_MISMATCH error naming what differs.
 */
function carriedCompare(from: string, meta: ModelMeta, modelDir: string, testRows: number[] | undefined): Record<string, unknown> {
  const metaFile = join(from, MODEL_META);
  if (!existsSync(metaFile)) throw new XasmapError('BAD_ARGS', `--compare-from ${from}: no ${MODEL_META} there`);
  const prev = JSON.parse(readFileSync(metaFile, 'utf8')) as ModelMeta;
  const fail = (what: string) => {
    throw new XasmapError('COMPARE_MISMATCH', `--compare-from ${from}: ${what}, so its dense figures are not comparable`);
  };
  if (prev.ion !== meta.ion) fail(`it is a model for ${prev.ion}, not ${meta.ion}`);
  if (!testRows) fail(`--data is not the training database of ${modelDir}`);
  for (const k of ['file', 'seed', 'count', 'ranges'] as const) {
    if (prev.dataset[k] !== meta.dataset[k]) fail(`its database ${k} is ${String(prev.dataset[k])}, this model's is ${String(meta.dataset[k])}`);
  }
  const prevRows = readTestRows(from);
  if (!prevRows || JSON.stringify(prevRows) !== JSON.stringify(testRows)) fail('its test split differs');
  const c = (prev.evaluation as Record<string, unknown> | undefined)?.compare as Record<string, unknown> | undefined;
  if (!c) fail('its card has no dense-baseline figures');
  return { ...c, copiedFrom: c!.copiedFrom ?? from };
}

/** The test rows of a model directory's split.json, or undefined without one. */
function readTestRows(dir: string): number[] | undefined {
  const f = join(dir, MODEL_SPLIT);
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as { test: number[] }).test : undefined;
}

const pct = (x: number) => `${(100 * x).toFixed(2)} %`;

function reportMarkdown(ion: string, data: string, ranges: string, subset: string, results: SetResult[], withRf: boolean): string {
  const L: string[] = [];
  L.push(`# Evaluation of the ${ion} surrogate`, '');
  L.push(`Data: \`${basename(data)}\` (ranges ${ranges}), ${subset}. Error measures of Lüder (2021), physics.md section 9.`, '');
  L.push('| model | params | spectra | MSE | MAE | SE mean (%) | SE median | SE p99 | SE max | < 3 % | < 7 % | bar | predict time (s) |');
  L.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|');
  for (const r of results) {
    const e = r.report;
    L.push(`| ${r.label} | ${r.model.meta.paramCount} | ${e.count} | ${e.mse.toExponential(2)} | ${e.mae.toExponential(2)} | ${e.se.mean.toFixed(2)} | ${e.se.median.toFixed(2)} | ${e.se.p99.toFixed(2)} | ${e.se.max.toFixed(2)} | ${pct(e.fractionBelow3)} | ${pct(e.fractionBelow7)} | ${e.meetsBar ? 'met' : 'not met'} | ${r.seconds.toFixed(2)} |`);
  }
  L.push('', `The bar: >= ${100 * ACCURACY_BAR.below3} % of spectra with SE < 3 % and >= ${100 * ACCURACY_BAR.below7} % with SE < 7 %.`, '');
  L.push('SE intervals (counts): I1 [0,3) I2 [3,4) I3 [4,5) I4 [5,6) I5 [6,7) I6 [7,10) I7 [10,inf) %', '');
  L.push('| model | I1 | I2 | I3 | I4 | I5 | I6 | I7 |', '|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) L.push(`| ${r.label} | ${r.report.intervals.counts.join(' | ')} |`);
  L.push('', 'MEPD (largest |Delta| per spectrum), 2-cluster k-means on its energies:', '');
  for (const r of results) {
    const m = r.report.mepd;
    L.push(`- ${r.label}: cluster centres ${m.centres.map((c) => c.toFixed(2)).join(' and ')} eV, counts ${m.counts.join(' / ')}, r_MEPD = ${Number.isFinite(m.rMepd) ? m.rMepd.toFixed(2) : 'inf'}`);
  }
  if (withRf) {
    for (const r of results) {
      const rf = r.report.rf;
      if (!rf) continue;
      L.push('', `r_f (${r.label}): fraction with SE < 10 % per 0.05 eV Dq bin, ok at >= 95 %`, '', '| Dq bin (eV) | spectra | SE < 10 % | ok |', '|---|---:|---:|---|');
      for (const b of rf.bins) L.push(`| ${b.lo.toFixed(2)} .. ${b.hi.toFixed(2)} | ${b.count} | ${Number.isFinite(b.fraction) ? pct(b.fraction) : '-'} | ${b.ok ? 'yes' : 'no'} |`);
      L.push('', `Reliable Dq range (ok bins containing Dq = 0): ${rf.okRange ? `${rf.okRange.lo.toFixed(2)} .. ${rf.okRange.hi.toFixed(2)} eV` : 'none'}`);
    }
  }
  L.push('', 'Plots: se-hist.png (SE distribution), channels.png (mu, sigma, SE_c), mepd.png (KST energy and size), worst.png (worst spectra against the simulator)' + (withRf ? ', se-vs-dq.png' : '') + '.');
  return L.join('\n') + '\n';
}

async function writePlots(dir: string, ion: string, r: SetResult, ref: Float32Array, energy: Float64Array, all: SetResult[], dq?: Float64Array): Promise<void> {
  // SE distribution: cumulative fraction below SE, log-spaced
  const grid = Array.from({ length: 121 }, (_, i) => 10 ** (-2 + (i * 4) / 120));
  await svgToPng(
    linePlot({
      series: all.map((s) => {
        const sorted = Float64Array.from(s.arrays.se).sort();
        return { x: grid.map(Math.log10), y: grid.map((g) => { let lo = 0; let hi = sorted.length; while (lo < hi) { const m = (lo + hi) >> 1; if (sorted[m]! < g) lo = m + 1; else hi = m; } return (100 * lo) / Math.max(sorted.length, 1); }), label: s.label };
      }),
      title: `${ion}: cumulative SE distribution (${r.report.count} spectra)`,
      xlabel: 'log10 SE (%)',
      ylabel: 'spectra with smaller SE (%)',
      markers: [{ x: Math.log10(3), label: '3 %' }, { x: Math.log10(7), label: '7 %' }],
    }),
    join(dir, 'se-hist.png'),
  );
  await svgToPng(
    linePlot({
      series: [
        { x: energy, y: r.arrays.mu, label: 'mean of the reference spectra mu_i' },
        { x: energy, y: r.arrays.sigma, label: 'standard deviation sigma_i', dash: '6,4' },
        { x: energy, y: r.arrays.seC.map((v) => v / 100), label: 'channel SE_c / 100' },
      ],
      title: `${ion} (${r.label}): channel statistics`,
      xlabel: 'Energy (eV)',
      ylabel: 'box-normalised intensity',
    }),
    join(dir, 'channels.png'),
  );
  // MEPD scatter: isolated points (NaN between them)
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < r.arrays.kstEnergy.length; i++) xs.push(r.arrays.kstEnergy[i]!, NaN), ys.push(r.arrays.kstValue[i]!, NaN);
  await svgToPng(
    linePlot({
      series: [{ x: xs, y: ys, label: 'KST' }, { x: energy, y: r.arrays.mu, label: 'mu_i', dash: '6,4' }],
      title: `${ion} (${r.label}): MEPD, largest |Delta| of each spectrum; r_MEPD = ${Number.isFinite(r.report.mepd.rMepd) ? r.report.mepd.rMepd.toFixed(2) : 'inf'}`,
      xlabel: 'Energy (eV)',
      ylabel: '|Delta| (box-normalised)',
      markers: r.report.mepd.centres.map((c, i) => ({ x: c, label: i === 0 ? 'L3 cluster' : 'L2 cluster' })),
    }),
    join(dir, 'mepd.png'),
  );
  const worst = r.report.worst.slice(0, 3);
  await svgToPng(
    linePlot({
      series: worst.flatMap((w, j) => [
        { x: energy, y: ref.subarray(w.index * 501, (w.index + 1) * 501).map((v) => v + j * 1.2), label: `#${w.index} simulator`, color: ['#1f77b4', '#2ca02c', '#9467bd'][j] },
        { x: energy, y: r.pred.subarray(w.index * 501, (w.index + 1) * 501).map((v) => v + j * 1.2), label: `#${w.index} ${r.label}, SE ${w.se.toFixed(1)} %`, dash: '6,4', color: ['#ff7f0e', '#d62728', '#8c564b'][j] },
      ]),
      title: `${ion}: the ${worst.length} worst spectra (offset for clarity)`,
      xlabel: 'Energy (eV)',
      ylabel: 'box-normalised intensity + offset',
    }),
    join(dir, 'worst.png'),
  );
  if (dq) {
    const px: number[] = [];
    const py: number[] = [];
    for (let i = 0; i < dq.length; i++) px.push(dq[i]!, NaN), py.push(r.arrays.se[i]!, NaN);
    await svgToPng(
      linePlot({ series: [{ x: px, y: py, label: 'SE' }], title: `${ion} (${r.label}): SE against Dq`, xlabel: 'Dq (eV)', ylabel: 'SE (%)', logY: true }),
      join(dir, 'se-vs-dq.png'),
    );
  }
}

export type { ModelMeta };
