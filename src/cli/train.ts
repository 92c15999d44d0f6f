/**
 * `xasmap train --data FILE.h5 [--arch slcnn7|dense] --out models/ION [--epochs 80] [--batch B] [--seed S]`
 *
 * RMSprop on the MSE, 8:1:1 split stored with the model (split.json), a checkpoint
 * after every epoch in OUT/checkpoint (run the same command again to resume), early
 * stopping on the validation loss, the best weights in OUT, progress on stderr, loss
 * curve in OUT/loss.png, everything about the run in OUT/meta.json.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve as resolvePath } from 'node:path';
import { cpus } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { XasmapError } from '../errors.js';
import { type DatasetContents, readDatasetFile } from '../io/dataset-file.js';
import { loadModel, saveModel } from '../io/model-files.js';
import { hasCheckpoint, loadCheckpoint, removeCheckpoint, saveCheckpoint } from '../io/checkpoint.js';
import { linePlot } from '../io/plot-svg.js';
import { svgToPng } from '../io/png.js';
import { isIonName, energyWindow, splitChannel, PARAM_NAMES, PARAM_RANGES } from '../physics/ions.js';
import { initBackend, type BackendKind } from '../model/backend.js';
import { buildDense, buildSlcnn7 } from '../model/architectures.js';
import { FES_DEGREE, FES_SIZE, degreeOneFeature, fesFeatures } from '../model/features.js';
import { voigtArgsFor } from '../model/voigt-output.js';
import { makeSplit, withExtraTrainRows } from '../model/split.js';
import { channelMoments } from '../model/output-affine.js';
import { DEFAULT_TRAIN, TRAIN_LOSSES, TRAIN_OPTIMIZERS, type TrainData, type TrainLoss, type TrainOptimizer, type TrainSettings, type TrainState, initialState, train } from '../model/train.js';
import { type ExtraData, MODEL_META, MODEL_SPLIT, type ModelMeta, type WarmStart, withoutHistory } from '../model/meta.js';
import { copyMatchingWeights } from '../model/warm-start.js';
import { VERSION } from '../version.js';
import type { CliIo } from './io.js';
import { Progress, formatDuration } from './progress.js';
import { intOption, numberOption } from './options.js';
import { watchStopSignals } from './stop-signals.js';

export interface TrainOptions {
  data?: string;
  arch?: string;
  out?: string;
  epochs?: string;
  batch?: string;
  seed?: string;
  lr?: string;
  patience?: string;
  backend?: string;
  force?: boolean;
  standardise?: boolean;
  schedule?: string;
  loss?: string;
  optimizer?: string;
  /** a finished model directory to start from (fine-tuning) */
  initFrom?: string;
  /** a finished model of another ion (or database) whose matching layers seed this one */
  warmStart?: string;
  /** with warmStart: grow the source's dense layers into this run's wider ones */
  grow?: boolean;
  /** random Fourier features: their count and sigma (src/model/fourier-features.ts) */
  fourier?: string;
  fourierSigma?: string;
  /** physics output layer (src/model/voigt-output.ts) */
  voigt?: boolean;
  archOptions?: string;
  /** databases whose rows are all training rows (same ion and ranges, other seeds) */
  extraData?: string[];
}

interface CheckpointState {
  train: TrainState;
  settings: TrainSettings;
  arch: string;
  dataset: ModelMeta['dataset'];
  wallSeconds: number;
  /** the --init-from model of a continued run, so a resumed run still records it */
  initFrom?: ModelMeta['training']['initFrom'];
  warmStart?: WarmStart;
}

export async function runTrain(opts: TrainOptions, io: CliIo): Promise<number> {
  if (!opts.data) throw new XasmapError('BAD_ARGS', '--data FILE.h5 is required');
  if (!opts.out) throw new XasmapError('BAD_ARGS', '--out DIR is required (e.g. models/Ni2+)');
  const arch = opts.arch ?? 'slcnn7';
  if (arch !== 'slcnn7' && arch !== 'dense') throw new XasmapError('BAD_ARGS', `--arch must be slcnn7 or dense, got '${arch}'`);
  const settings: TrainSettings = {
    ...DEFAULT_TRAIN,
    epochs: intOption('epochs', opts.epochs, 1, DEFAULT_TRAIN.epochs),
    batch: intOption('batch', opts.batch, 1, DEFAULT_TRAIN.batch),
    seed: intOption('seed', opts.seed, 0, DEFAULT_TRAIN.seed),
    learningRate: numberOption('lr', opts.lr, DEFAULT_TRAIN.learningRate, { gt: 0 }),
    stopPatience: intOption('patience', opts.patience, 1, DEFAULT_TRAIN.stopPatience),
  };
  const schedule = opts.schedule ?? 'plateau';
  if (schedule !== 'plateau' && schedule !== 'linear') throw new XasmapError('BAD_ARGS', `--schedule must be plateau or linear, got '${schedule}'`);
  if (schedule === 'linear') settings.schedule = 'linear';
  const lossKind = opts.loss ?? 'mse';
  if (!(TRAIN_LOSSES as readonly string[]).includes(lossKind)) throw new XasmapError('BAD_ARGS', `--loss must be ${TRAIN_LOSSES.join(', ')}, got '${lossKind}'`);
  if (lossKind !== 'mse') settings.loss = lossKind as TrainLoss;
  const optimizerKind = opts.optimizer ?? 'rmsprop';
  if (!(TRAIN_OPTIMIZERS as readonly string[]).includes(optimizerKind)) throw new XasmapError('BAD_ARGS', `--optimizer must be ${TRAIN_OPTIMIZERS.join(', ')}, got '${optimizerKind}'`);
  if (optimizerKind !== 'rmsprop') settings.optimizer = optimizerKind as TrainOptimizer;
  if (opts.grow && !opts.warmStart) throw new XasmapError('BAD_ARGS', '--grow needs --warm-start DIR (the model whose layers are grown into this run\'s wider ones)');
  if (opts.initFrom && opts.warmStart) throw new XasmapError('BAD_ARGS', '--init-from (continue a model on its own database) and --warm-start (seed a new model from another one) exclude each other');
  const out = opts.out;
  const ckptDir = join(out, 'checkpoint');
  if (opts.force) removeCheckpoint(ckptDir);
  const resuming = hasCheckpoint(ckptDir);
  if (!resuming && existsSync(join(out, MODEL_META)) && !opts.force) {
    throw new XasmapError('OUTPUT_EXISTS', `${out} holds a finished model; use --force to train it again or choose another --out`);
  }

  const backend = await initBackend((opts.backend ?? 'wasm') as BackendKind);
  const db = await readCompleteDatabase(opts.data, opts.data);
  const ion = db.meta.ion;
  if (!isIonName(ion)) throw new XasmapError('BAD_DATASET', `${opts.data}: unknown ion '${ion}' in the file`);
  const rows = db.meta.rowsDone;
  const perDiag = db.perDiag;
  const extra = await readExtraData(opts.extraData ?? [], opts.data, db.meta);
  const datasetInfo: ModelMeta['dataset'] = {
    file: basename(opts.data), ion, seed: db.meta.seed, count: rows, ranges: db.meta.ranges, perDiag, version: db.meta.version,
    ...(extra.info.length ? { extraData: extra.info } : {}),
  };
  const split = withExtraTrainRows(makeSplit(rows, { seed: settings.seed, groupSize: perDiag }), extra.rows);
  const allParams = extra.rows ? concatRows([db.params, ...extra.params]) : db.params;
  const allSpectra = extra.rows ? concatRows([db.spectra, ...extra.spectra]) : db.spectra;
  const x = fesFeatures(allParams, rows + extra.rows);
  let data: TrainData = { x, y: allSpectra, inputSize: FES_SIZE, outputSize: 501 };
  const win = energyWindow(ion);
  const archOptions: Record<string, unknown> = arch === 'slcnn7' ? { splitChannel: splitChannel(win), seed: settings.seed } : { seed: settings.seed };
  if (opts.archOptions) {
    let extra: unknown;
    try {
      extra = JSON.parse(opts.archOptions);
    } catch (e) {
      throw new XasmapError('BAD_ARGS', `--arch-options must be a JSON object, e.g. '{"filters":16}' (${(e as Error).message})`);
    }
    if (typeof extra !== 'object' || extra === null || Array.isArray(extra)) throw new XasmapError('BAD_ARGS', '--arch-options must be a JSON object');
    Object.assign(archOptions, extra);
  }
  if (opts.standardise) archOptions.standardise = true;
  if (opts.fourier !== undefined) {
    const count = intOption('fourier', opts.fourier, 1, 128);
    const sigma = numberOption('fourier-sigma', opts.fourierSigma, 3, { gt: 0 });
    const columns = PARAM_NAMES.map((_, p) => degreeOneFeature(p));
    archOptions.fourier = { columns, count, sigma, seed: settings.seed };
  }
  if (opts.voigt) archOptions.voigt = voigtArgsFor(win);
  // floor 0.05: channels that hardly vary (pre-edge) get at most ~36x the weight of the peaks
  const moments = opts.standardise ? channelMoments(allSpectra, 501, split.train, 0.05) : undefined;
  // the Voigt output is box-normalised itself: standardising then only weights the loss
  const buildOptions = moments && !opts.voigt ? { ...archOptions, outputAffine: moments } : archOptions;

  let model: tf.LayersModel;
  let state: TrainState;
  let wallBefore = 0;
  let initFrom: ModelMeta['training']['initFrom'];
  let warmStart: WarmStart | undefined;
  // learningRate is protected in the typings but a plain field at run time (the schedule changes it)
  const optimizer = (settings.optimizer === 'adam' ? tf.train.adam(settings.learningRate) : tf.train.rmsprop(settings.learningRate)) as unknown as tf.Optimizer & { learningRate: number };
  if (resuming) {
    const ck = await loadCheckpoint<CheckpointState>(ckptDir);
    if ((ck.state.settings.optimizer ?? 'rmsprop') !== optimizerKind) {
      throw new XasmapError('CHECKPOINT_MISMATCH', `${ckptDir} was trained with --optimizer ${ck.state.settings.optimizer ?? 'rmsprop'}, not ${optimizerKind}: resume with the same optimiser, or --force to start over`);
    }
    if (ck.state.arch !== arch || JSON.stringify(ck.state.dataset) !== JSON.stringify(datasetInfo) || ck.state.settings.seed !== settings.seed) {
      throw new XasmapError('CHECKPOINT_MISMATCH', `${ckptDir} belongs to another run (arch ${ck.state.arch}, dataset ${ck.state.dataset.file} seed ${ck.state.dataset.seed}, training seed ${ck.state.settings.seed}); use --force to start over`);
    }
    model = ck.model;
    state = ck.state.train;
    wallBefore = ck.state.wallSeconds;
    initFrom = ck.state.initFrom;
    warmStart = ck.state.warmStart;
    await optimizer.setWeights(ck.optimizerWeights);
    io.stderr(`resuming ${out} after epoch ${state.epoch} (best validation MSE ${state.bestValMse.toExponential(3)} at epoch ${state.bestEpoch})`);
  } else if (opts.initFrom) {
    const init = readInitModel(opts.initFrom, arch, datasetInfo, settings.seed);
    model = await loadModel(opts.initFrom);
    Object.assign(archOptions, init.options);
    initFrom = {
      model: init.name ?? basename(resolvePath(opts.initFrom)),
      ...(init.dataset.extraData ? { extraData: init.dataset.extraData } : {}),
      epochs: init.training.epochs,
      wallSeconds: init.training.wallSeconds,
      validationMse: init.validation.mse,
      settings: init.training.settings,
      history: init.training.history,
      ...(init.training.warmStart ? { warmStart: init.training.warmStart } : {}),
      ...(init.training.initFrom ? { initFrom: withoutHistory(init.training.initFrom) } : {}),
    };
    state = initialState(settings);
    mkdirSync(out, { recursive: true });
    io.stderr(`starting from ${opts.initFrom} (${init.training.epochs} epochs, validation MSE ${init.validation.mse.toExponential(3)})`);
  } else {
    model = arch === 'slcnn7' ? buildSlcnn7(buildOptions as unknown as Parameters<typeof buildSlcnn7>[0]) : buildDense(buildOptions as Parameters<typeof buildDense>[0]);
    if (opts.warmStart) {
      warmStart = await warmStartFrom(opts.warmStart, model, arch, datasetInfo, settings.seed, opts.grow === true);
      io.stderr(
        `warm start from ${opts.warmStart} (${warmStart.ion}, ${warmStart.epochs} epochs): ${warmStart.copiedParams} of ${warmStart.trainableParams} trainable parameters copied` +
          (warmStart.grown?.length ? `; grown: ${warmStart.grown.join(', ')}` : '') +
          (warmStart.skipped.length ? `; fresh: ${warmStart.skipped.join(', ')}` : ''),
      );
    }
    state = initialState(settings);
    mkdirSync(out, { recursive: true });
  }
  if (moments) {
    // loss on standardised spectra: weights 1/sigma_c^2 (the model ends in mean + sigma x output,
    // or in the Voigt output)
    data = { ...data, channelWeights: Float32Array.from(moments.scale, (s) => 1 / (s * s)) };
  }
  const paramCount = model.countParams();
  io.stderr(`train ${arch} for ${ion}: ${paramCount} parameters, ${split.train.length}/${split.val.length}/${split.test.length} train/val/test rows, batch ${settings.batch}, backend ${backend.detail}`);

  const stop = watchStopSignals();
  const t0 = performance.now();
  let progress: Progress | undefined;
  let progressEpoch = 0;
  try {
    await train(model, optimizer, data, split, settings, state, {
      shouldStop: () => stop.signal !== null,
      onBatch: (epoch, done, total, loss) => {
        if (epoch !== progressEpoch) {
          progress = new Progress(io, `epoch ${epoch}/${settings.epochs}`, total, 'samples');
          progressEpoch = epoch;
        }
        progress?.update(done);
        void loss;
      },
      onEpoch: async (st, improved) => {
        const rec = st.history[st.history.length - 1]!;
        if (improved) await saveModel(model, out, { force: true });
        const wall = wallBefore + (performance.now() - t0) / 1000;
        await saveCheckpoint<CheckpointState>(ckptDir, model, optimizer, { train: st, settings, arch, dataset: datasetInfo, wallSeconds: wall, ...(initFrom ? { initFrom } : {}), ...(warmStart ? { warmStart } : {}) });
        const left = (settings.epochs - st.epoch) * rec.seconds;
        if (io.isTTY) io.stderr('\n');
        io.stderr(
          `epoch ${st.epoch}: loss ${rec.loss.toExponential(3)}, val MSE ${rec.valMse.toExponential(3)} MAE ${rec.valMae.toExponential(3)}, lr ${rec.learningRate.toExponential(1)}, ${rec.seconds.toFixed(0)} s${improved ? ' (best)' : ''}; ETA ${formatDuration(left)} at most`,
        );
        await writeLossCurve(join(out, 'loss.png'), st, ion, arch, settings, initFrom);
      },
    });
  } finally {
    stop.dispose();
  }
  if (stop.signal) {
    io.stderr(`\ninterrupted (${stop.signal}) after epoch ${state.epoch}; run the same command again to resume`);
    return 130;
  }
  const wallSeconds = wallBefore + (performance.now() - t0) / 1000;
  const best = state.history.find((h) => h.epoch === state.bestEpoch);
  const meta: ModelMeta = {
    format: 'xasmap-model-1',
    name: basename(resolvePath(out)),
    ion,
    arch,
    options: archOptions,
    paramCount,
    features: { kind: 'fes', degree: FES_DEGREE, size: FES_SIZE, ranges: PARAM_RANGES },
    window: { wMin: win.wMin, step: win.step, n: win.n, split: win.split, offset: win.offset },
    dataset: datasetInfo,
    split: { seed: split.seed, groupSize: split.groupSize, train: split.train.length, val: split.val.length, test: split.test.length },
    training: {
      settings,
      epochs: state.epoch,
      bestEpoch: state.bestEpoch,
      stopped: state.stopped,
      wallSeconds,
      machine: `${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, node ${process.version}`,
      backend: backend.detail,
      xasmapVersion: VERSION,
      finished: new Date().toISOString(),
      history: state.history,
      ...(initFrom ? { initFrom } : {}),
      ...(warmStart ? { warmStart } : {}),
    },
    validation: { mse: best?.valMse ?? NaN, mae: best?.valMae ?? NaN },
  };
  writeFileSync(join(out, MODEL_SPLIT), JSON.stringify({ seed: split.seed, groupSize: split.groupSize, rows, val: Array.from(split.val), test: Array.from(split.test) }));
  writeFileSync(join(out, MODEL_META), JSON.stringify(meta, null, 1));
  removeCheckpoint(ckptDir);
  io.stderr(`trained ${arch} for ${ion} in ${formatDuration(wallSeconds)}: best validation MSE ${meta.validation.mse.toExponential(3)} MAE ${meta.validation.mae.toExponential(3)} at epoch ${state.bestEpoch} (${state.stopped}); model in ${out}`);
  return 0;
}

/** A finished database (all rows written) and its rows per diagonalisation; `label` names it in errors. */
async function readCompleteDatabase(file: string, label: string): Promise<DatasetContents & { perDiag: number }> {
  const db = await readDatasetFile(file);
  if (!db.meta.complete) {
    throw new XasmapError('DATASET_INCOMPLETE', `${label}: the database is incomplete (${db.meta.rowsDone} of ${db.meta.count} rows); finish it with the same xasmap dataset command first`);
  }
  return { ...db, perDiag: Number(db.meta.extra?.per_diag ?? 1) };
}

/**
 * The --extra-data databases: complete, same ion, ranges, simulator version and channels as
 * --data, each with its own seed (a repeated seed would repeat rows, some of them test rows).
 */
async function readExtraData(
  files: string[],
  main: string,
  meta: { ion: string; seed: number; ranges: string; version: string; w: ArrayLike<number> },
): Promise<{ info: ExtraData[]; params: Float32Array[]; spectra: Float32Array[]; rows: number }> {
  const out = { info: [] as ExtraData[], params: [] as Float32Array[], spectra: [] as Float32Array[], rows: 0 };
  const seeds = new Map<number, string>([[meta.seed, main]]);
  for (const file of files) {
    const e = await readCompleteDatabase(file, `--extra-data ${file}`);
    const m = e.meta;
    const bad = (what: string) => new XasmapError('BAD_DATASET', `--extra-data ${file}: ${what}`);
    if (m.ion !== meta.ion) throw bad(`it holds ${m.ion} spectra, --data ${main} holds ${meta.ion}`);
    if (m.ranges !== meta.ranges) throw bad(`parameter ranges ${m.ranges}, --data ${main} has ${meta.ranges}`);
    if (m.version !== meta.version) throw bad(`simulated by xasmap ${m.version}, --data ${main} by ${meta.version}: mix databases of one simulator version`);
    if (m.w.length !== meta.w.length || m.w[0] !== meta.w[0]) throw bad('its energy grid differs from that of --data');
    const prev = seeds.get(m.seed);
    if (prev !== undefined) throw bad(`seed ${m.seed} is also the seed of ${prev}: the same seed gives the same rows (the test rows among them); make it with another --seed`);
    seeds.set(m.seed, file);
    out.info.push({ file: basename(file), seed: m.seed, count: m.rowsDone, perDiag: e.perDiag });
    out.params.push(e.params);
    out.spectra.push(e.spectra);
    out.rows += m.rowsDone;
  }
  return out;
}

function concatRows(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** meta.json of the model directory named by a --init-from / --warm-start option. */
function readSourceMeta(flag: string, dir: string): ModelMeta {
  const file = join(dir, MODEL_META);
  if (!existsSync(file)) throw new XasmapError('FILE_NOT_FOUND', `${flag} ${dir}: no ${MODEL_META} (a finished model directory is needed)`);
  return JSON.parse(readFileSync(file, 'utf8')) as ModelMeta;
}

/** Same database file (name, ion, seed, row count): then a split seed gives the same test rows. */
function isSameDatabase(a: ModelMeta['dataset'], b: ModelMeta['dataset']): boolean {
  return a.file === b.file && a.ion === b.ion && a.seed === b.seed && a.count === b.count;
}

/** Seeds a freshly built model with the matching layers of a finished model (same architecture). */
async function warmStartFrom(dir: string, model: tf.LayersModel, arch: string, dataset: ModelMeta['dataset'], seed: number, grow: boolean): Promise<WarmStart> {
  const meta = readSourceMeta('--warm-start', dir);
  if (meta.arch !== arch) throw new XasmapError('BAD_ARGS', `--warm-start ${dir}: it is a ${meta.arch} model; this run trains --arch ${arch}`);
  const sameDatabase = isSameDatabase(meta.dataset, dataset);
  if (sameDatabase && meta.training.settings.seed !== seed) {
    throw new XasmapError('BAD_ARGS', `--warm-start ${dir}: it was trained on this database with split seed ${meta.training.settings.seed}; with --seed ${seed} its training rows would be among this run's test rows (use --seed ${meta.training.settings.seed})`);
  }
  const source = await loadModel(dir);
  const r = copyMatchingWeights(model, source, { grow });
  source.dispose();
  if (r.copiedParams === 0) throw new XasmapError('BAD_ARGS', `--warm-start ${dir}: no layer matches this ${arch} model (other architecture options?)`);
  return { model: meta.name ?? basename(resolvePath(dir)), ion: meta.ion, dataset: meta.dataset.file, sameDatabase, epochs: meta.training.epochs + (meta.training.initFrom?.epochs ?? 0), validationMse: meta.validation.mse, ...r };
}

/** The meta of the --init-from model, checked against this run (same ion, arch, database, split seed). */
function readInitModel(dir: string, arch: string, dataset: ModelMeta['dataset'], seed: number): ModelMeta {
  const meta = readSourceMeta('--init-from', dir);
  const same = meta.arch === arch && isSameDatabase(meta.dataset, dataset) && meta.training.settings.seed === seed;
  if (!same) {
    throw new XasmapError(
      'BAD_ARGS',
      `--init-from ${dir}: it was trained as ${meta.arch} on ${meta.dataset.file} (seed ${meta.dataset.seed}, ${meta.dataset.count} rows) with training seed ${meta.training.settings.seed}; fine-tuning needs the same architecture (--arch), database and --seed, or the test split would not be held out`,
    );
  }
  return meta;
}

async function writeLossCurve(
  path: string,
  st: TrainState,
  ion: string,
  arch: string,
  settings: TrainSettings,
  initFrom: ModelMeta['training']['initFrom'],
): Promise<void> {
  // a continued model (--init-from) shows its first stage too, on one epoch axis
  const before = initFrom?.history ?? [];
  const offset = before.length ? before[before.length - 1]!.epoch : 0;
  const lossName = (s: TrainSettings | undefined): string => (s?.loss ?? 'mse').toUpperCase();
  const ep = st.history.map((h) => h.epoch + offset);
  const series = [
    ...(before.length ? [{ x: before.map((h) => h.epoch), y: before.map((h) => h.loss), label: `training loss, ${initFrom?.model} (${lossName(initFrom?.settings)})` }] : []),
    { x: ep, y: st.history.map((h) => h.loss), label: `training loss (${lossName(settings)})` },
    { x: [...before.map((h) => h.epoch), ...ep], y: [...before.map((h) => h.valMse), ...st.history.map((h) => h.valMse)], label: 'validation MSE', dash: '6,4' },
  ];
  const svg = linePlot({
    series,
    logY: true,
    title: `${arch} ${ion}: loss per epoch`,
    xlabel: 'epoch',
    ylabel: 'loss (box-normalised intensity, squared for MSE)',
    markers: [
      ...(offset ? [{ x: offset, label: `continued after ${offset}` }] : []),
      ...(st.bestEpoch ? [{ x: st.bestEpoch + offset, label: `best ${st.bestEpoch + offset}` }] : []),
    ],
  });
  await svgToPng(svg, path);
}
