/**
 * `xasmap dataset --ion ION --count N --out FILE.h5 [--seed S] [--workers W] [--ranges oh|c4v|d4h] [--per-diag K]`
 *
 * Rows are computed in chunks by worker threads and written in order to FILE.h5.partial,
 * which is a valid HDF5 file after every chunk (rows_done says how far it is). Ctrl-C or
 * SIGTERM closes it cleanly; running the same command again resumes; at the end it is
 * renamed to FILE.h5. Row values depend only on (seed, row), never on the worker count.
 */
import { existsSync, renameSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { XasmapError } from '../errors.js';
import { createDatasetFile, resumeDatasetFile, type DatasetMeta, type DatasetWriter } from '../io/dataset-file.js';
import { windowAxes } from '../physics/ions.js';
import { ionModel } from '../physics/spectrum.js';
import { computeRows, type RowsRequest, type RowsResult } from '../ops/dataset-rows.js';
import { RANGE_SETS, type RangeSet } from '../ops/sampling.js';
import { VERSION } from '../version.js';
import { parseIon } from './ion-option.js';
import type { CliIo } from './io.js';
import { Progress, formatDuration } from './progress.js';
import { intOption } from './options.js';
import { watchStopSignals } from './stop-signals.js';

export interface DatasetOptions {
  ion?: string;
  count?: string;
  out?: string;
  seed?: string;
  workers?: string;
  ranges?: string;
  perDiag?: string;
  force?: boolean;
}

/** Rows per work unit (rounded up to a multiple of per-diag). */
const CHUNK_ROWS = 32;

export async function runDataset(opts: DatasetOptions, io: CliIo): Promise<number> {
  const ion = parseIon(opts.ion);
  const count = intOption('count', opts.count, 1);
  const seed = intOption('seed', opts.seed, 0, 1);
  if (seed > 0xffffffff) throw new XasmapError('BAD_ARGS', `--seed must be < 2^32, got ${seed}`);
  const workers = intOption('workers', opts.workers, 0, availableParallelism());
  const perDiag = intOption('per-diag', opts.perDiag, 1, 1);
  const ranges = (opts.ranges ?? 'd4h') as RangeSet;
  if (!RANGE_SETS.includes(ranges)) throw new XasmapError('BAD_ARGS', `--ranges must be one of ${RANGE_SETS.join(', ')}, got '${opts.ranges}'`);
  if (!opts.out) throw new XasmapError('BAD_ARGS', '--out FILE.h5 is required');
  const out = opts.out;
  const partial = `${out}.partial`;
  if (existsSync(out)) {
    if (!opts.force) throw new XasmapError('OUTPUT_EXISTS', `${out} exists (a finished database); use --force to regenerate it`);
    rmSync(out);
  }
  if (opts.force) rmSync(partial, { force: true });

  const model = ionModel(ion);
  const { w, energy } = windowAxes(model.window);
  const meta: DatasetMeta = {
    ion,
    seed,
    ranges,
    count,
    version: VERSION,
    w,
    energy,
    extra: {
      per_diag: perDiag,
      sampling:
        'uniform in the ranges (physics.md section 8); value of parameter i in row r = hashUniform(seed, i, r), ' +
        'crystal-field parameters (Dq, Ds, Dt, S1, S2) indexed by group floor(r / per_diag) instead of r',
      window: `w from ${w[0]} eV, step ${model.window.step} eV, ${model.window.n} channels; energy = w + ${model.window.offset} eV`,
    },
  };

  let writer: DatasetWriter;
  if (existsSync(partial)) {
    writer = await resumeDatasetFile(partial, meta);
    io.stderr(`resuming ${partial}: ${writer.rowsDone} of ${count} rows already done`);
  } else {
    writer = await createDatasetFile(partial, meta);
  }

  const chunk = Math.ceil(CHUNK_ROWS / perDiag) * perDiag;
  const requests: RowsRequest[] = [];
  for (let s = writer.rowsDone; s < count; s += chunk) {
    requests.push({ ion, seed, ranges, perDiag, start: s, end: Math.min(s + chunk, count) });
  }

  io.stderr(`dataset ${ion}: ${count} spectra (${ranges}, seed ${seed}, per-diag ${perDiag}) -> ${out}; writing ${partial} (Ctrl-C pauses, the same command resumes)`);
  const progress = new Progress(io, `dataset ${ion}`, count, 'spectra', writer.rowsDone);
  const stop = watchStopSignals();
  let maxBlock = 0;
  try {
    const write = (r: RowsResult) => {
      writer.writeRows(r.start, r.params, r.spectra);
      maxBlock = Math.max(maxBlock, r.maxBlock);
      progress.update(writer.rowsDone);
    };
    if (workers === 0) {
      for (const req of requests) {
        if (stop.signal) break;
        write(computeRows(req));
        await new Promise((r) => setImmediate(r)); // let signals arrive
      }
    } else {
      await runPool(requests, Math.min(workers, requests.length), write, () => stop.signal !== null);
    }
  } finally {
    stop.dispose();
  }
  if (stop.signal || writer.rowsDone < count) {
    writer.close();
    io.stderr(`\n${stop.signal ? `interrupted (${stop.signal})` : 'stopped'}: ${writer.rowsDone} of ${count} rows are in ${partial}; run the same command again to continue`);
    return 130;
  }
  writer.finish();
  renameSync(partial, out);
  progress.finish(count);
  const secs = progress.elapsedSeconds();
  io.stderr(`wrote ${count} spectra of ${ion} to ${out} in ${formatDuration(secs)} (largest block ${maxBlock})`);
  return 0;
}

/** Run requests on worker threads, delivering results in request order. */
async function runPool(
  requests: readonly RowsRequest[],
  nWorkers: number,
  deliver: (r: RowsResult) => void,
  shouldStop: () => boolean,
): Promise<void> {
  const script = fileURLToPath(new URL('../ops/dataset-worker.js', import.meta.url));
  if (!existsSync(script)) {
    throw new XasmapError('INTERNAL', `worker script ${script} is missing: run 'npm run build' (or use --workers 0)`, 1);
  }
  // workers inherit execArgv; --input-type (valid only with --eval) would make them fail to start
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
  const pool = Array.from({ length: nWorkers }, () => new Worker(script, { execArgv }));
  const ready = new Map<number, RowsResult>();
  let next = 0;
  let deliverIdx = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      let active = 0;
      const feed = (wk: Worker) => {
        if (shouldStop() || next >= requests.length) {
          if (active === 0) resolve();
          return;
        }
        const req = requests[next++]!;
        active++;
        wk.postMessage(req);
      };
      for (const wk of pool) {
        wk.on('message', (msg: { ok: true; res: RowsResult } | { ok: false; start: number; message: string }) => {
          active--;
          if (!msg.ok) {
            reject(new XasmapError('SIMULATION_FAILED', `rows from ${msg.start}: ${msg.message}`, 1));
            return;
          }
          ready.set(msg.res.start, msg.res);
          for (;;) {
            const want = requests[deliverIdx];
            const r = want && ready.get(want.start);
            if (!r) break;
            ready.delete(want.start);
            deliverIdx++;
            try {
              deliver(r);
            } catch (e) {
              reject(e);
              return;
            }
          }
          feed(wk);
        });
        wk.on('error', (e) => reject(e));
        feed(wk);
      }
    });
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
}
