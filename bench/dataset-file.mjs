#!/usr/bin/env node
// Benchmark and crash check for src/io/dataset-file.ts.
//
//   npx tsc -p tsconfig.json && node bench/dataset-file.mjs [--rows 100000] [--reps 3] [--crash-trials 20] [--no-crash]
//
// 1. Write speed: N x 501 float32 spectra (+ N x 9 params) in blocks of 256
//    rows, each writeRows followed by the writer's flush; median of `reps`
//    runs, for gzip 4 (default), gzip 1 and no compression, against a
//    baseline writing the same bytes with fs.writeSync in the same process.
//    Spectra are synthetic but shaped like real ones (smooth, box-normalised
//    multiplet-like line sums), so the compression ratio is indicative.
// 2. Crash check: child processes SIGKILL themselves right after a
//    writeRows returned, or are SIGKILLed by the parent at random moments;
//    the file must then open, rows [0, rows_done) must hold the right data,
//    and resuming must complete the file.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { createDatasetFile, readDatasetFile, resumeDatasetFile } from '../dist/io/dataset-file.js';
import { mulberry32 } from '../dist/physics/random.js';

const NW = 501;
const BLOCK = 256;
const SELF = fileURLToPath(import.meta.url);

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

function meta(count) {
  const w = new Float64Array(NW).map((_, i) => -10 + i * 0.1);
  return {
    ion: 'Ni2+', seed: 7, ranges: 'd4h', count, version: 'bench',
    w, energy: w.map((x) => 853.2 + x), extra: { sampling: 'bench' },
  };
}

/* ---------- synthetic data ---------- */

/** A block of `k` realistic-looking rows: 20 Lorentzians + an edge step, box-normalised. */
function realisticBlock(seed, k) {
  const rnd = mulberry32(seed);
  const params = new Float32Array(k * 9).map(() => rnd() * 3);
  const spectra = new Float32Array(k * NW);
  const row = new Float64Array(NW);
  for (let r = 0; r < k; r++) {
    row.fill(0);
    for (let l = 0; l < 20; l++) {
      const x0 = rnd() * NW, g = 2 + rnd() * 8, a = rnd();
      for (let c = 0; c < NW; c++) row[c] += (a * g * g) / ((c - x0) ** 2 + g * g);
    }
    for (let c = 0; c < NW; c++) row[c] += 0.2 * (0.5 + Math.atan((c - 250) / 10) / Math.PI);
    let mn = Infinity, mx = -Infinity;
    for (const v of row) { mn = Math.min(mn, v); mx = Math.max(mx, v); }
    for (let c = 0; c < NW; c++) spectra[r * NW + c] = (row[c] - mn) / (mx - mn);
  }
  return { params, spectra };
}

/** Cheap deterministic rows for the crash check (value depends on row index). */
function checkBlock(start, k) {
  const params = new Float32Array(k * 9);
  const spectra = new Float32Array(k * NW);
  for (let r = 0; r < k; r++) {
    const row = start + r;
    for (let j = 0; j < 9; j++) params[r * 9 + j] = row + j / 16;
    for (let c = 0; c < NW; c++) spectra[r * NW + c] = ((row * 31 + c * 17) % 1009) / 1008;
  }
  return { params, spectra };
}

/* ---------- child mode (crash check) ---------- */

if (process.argv[2] === '--child') {
  const [, , , file, mode, countStr, killAfterStr, gzipStr] = process.argv;
  const count = Number(countStr);
  const killAfter = Number(killAfterStr);
  const wr = await createDatasetFile(file, meta(count), { gzipLevel: Number(gzipStr ?? 4) });
  for (let s = 0, blocks = 0; s < count; s += BLOCK) {
    const { params, spectra } = checkBlock(s, Math.min(BLOCK, count - s));
    wr.writeRows(s, params, spectra);
    blocks++;
    if (mode === 'after-return' && blocks === killAfter) process.kill(process.pid, 'SIGKILL');
    if (mode === 'random' && blocks === 2) process.stdout.write('go\n');
  }
  wr.finish();
  process.exit(0);
}

/* ---------- benchmark ---------- */

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mb = (b) => (b / 2 ** 20).toFixed(1);

async function bench() {
  const N = arg('--rows', 100_000);
  const reps = arg('--reps', 3);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xasmap-bench-'));
  const pool = Array.from({ length: 16 }, (_, i) => realisticBlock(1000 + i, BLOCK));
  const blockAt = (s) => {
    const b = pool[(s / BLOCK) % pool.length];
    const k = Math.min(BLOCK, N - s);
    return k === BLOCK ? b : { params: b.params.subarray(0, k * 9), spectra: b.spectra.subarray(0, k * NW) };
  };
  console.log(`node ${process.version}, ${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}, tmp ${dir}`);
  console.log(`writing ${N} rows x ${NW} float32 in blocks of ${BLOCK}, median of ${reps}\n`);

  const results = {};
  const record = (name, ms, size) => (results[name] ??= []).push({ ms, size });

  for (let rep = 0; rep < reps; rep++) {
    // Baseline: same bytes with fs.writeSync, no HDF5.
    {
      const file = path.join(dir, 'raw.bin');
      const t0 = performance.now();
      const fd = fs.openSync(file, 'w');
      for (let s = 0; s < N; s += BLOCK) {
        const { params, spectra } = blockAt(s);
        fs.writeSync(fd, spectra);
        fs.writeSync(fd, params);
      }
      fs.closeSync(fd);
      record('fs.writeSync baseline', performance.now() - t0, fs.statSync(file).size);
      fs.rmSync(file);
    }
    for (const gzipLevel of [4, 1, 0]) {
      const file = path.join(dir, `h5-gzip${gzipLevel}.h5`);
      const t0 = performance.now();
      const wr = await createDatasetFile(file, meta(N), { gzipLevel });
      for (let s = 0; s < N; s += BLOCK) {
        const { params, spectra } = blockAt(s);
        wr.writeRows(s, params, spectra);
      }
      wr.finish();
      const name = gzipLevel === 0 ? 'h5 uncompressed' : `h5 gzip ${gzipLevel}${gzipLevel === 4 ? ' (default)' : ''}`;
      record(name, performance.now() - t0, fs.statSync(file).size);
      if (rep === reps - 1) {
        const t1 = performance.now();
        const back = await readDatasetFile(file);
        const readMs = performance.now() - t1;
        const ok = back.spectra.length === N * NW && back.spectra[NW * 257 + 3] === blockAt(256).spectra[NW + 3];
        console.log(`  read back ${name}: ${readMs.toFixed(0)} ms (${ok ? 'values ok' : 'VALUES WRONG'})`);
      }
      fs.rmSync(file);
    }
  }
  const raw = N * (NW + 9) * 4;
  console.log(`\n  raw payload ${mb(raw)} MiB`);
  for (const [name, rs] of Object.entries(results)) {
    const ms = median(rs.map((r) => r.ms));
    const size = rs[0].size;
    console.log(
      `  ${name.padEnd(24)} ${ms.toFixed(0).padStart(7)} ms  (${(ms / Math.ceil(N / BLOCK)).toFixed(2)} ms/block, ` +
        `${mb(raw / (ms / 1000))} MiB/s)  file ${mb(size)} MiB (${((100 * size) / raw).toFixed(1)}% of raw)` +
        `  runs: ${rs.map((r) => r.ms.toFixed(0)).join(', ')}`,
    );
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/* ---------- crash check ---------- */

async function verify(file, label) {
  try {
    const got = await readDatasetFile(file);
    const done = got.meta.rowsDone;
    const want = checkBlock(0, done);
    let bad = -1;
    for (let i = 0; i < want.spectra.length; i++) if (got.spectra[i] !== want.spectra[i]) { bad = i; break; }
    for (let i = 0; bad < 0 && i < want.params.length; i++) if (got.params[i] !== want.params[i]) bad = i;
    if (bad >= 0) return { ok: false, done, why: `${label}: data differ at index ${bad}` };
    // Resume, append two more blocks, close, and check everything written.
    const wr = await resumeDatasetFile(file, meta(got.meta.count));
    const target = Math.min(got.meta.count, done + 2 * BLOCK);
    for (let s = wr.rowsDone; s < target; s += BLOCK) {
      const { params, spectra } = checkBlock(s, Math.min(BLOCK, target - s));
      wr.writeRows(s, params, spectra);
    }
    if (target === got.meta.count) wr.finish();
    else wr.close();
    const fin = await readDatasetFile(file);
    const all = checkBlock(0, target);
    const same =
      fin.meta.rowsDone === target &&
      fin.meta.complete === (target === got.meta.count) &&
      fin.spectra.every((v, i) => v === all.spectra[i]) &&
      fin.params.every((v, i) => v === all.params[i]);
    return { ok: same, done, why: same ? '' : `${label}: resumed file differs` };
  } catch (e) {
    return { ok: false, done: -1, why: `${label}: ${e.code ?? ''} ${e.message.split('\n')[0]}` };
  }
}

async function crash() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xasmap-crash-'));
  console.log('\ncrash check (SIGKILL)');
  for (const k of [1, 3, 10]) {
    const file = path.join(dir, `after-${k}.h5`);
    const r = spawnSync(process.execPath, [SELF, '--child', file, 'after-return', String(40 * BLOCK), String(k)]);
    const v = await verify(file, `after-return k=${k}`);
    console.log(
      `  killed right after writeRows #${k} returned (signal ${r.signal}): ` +
        (v.ok ? `opens, rows_done=${v.done} (expected ${k * BLOCK}), data ok, resume + 2 blocks ok` : `FAILED ${v.why}`),
    );
  }
  const trials = arg('--crash-trials', 20);
  // gzip 4: most time is spent deflating inside write_slice; gzip 0: a block
  // takes ~0.4 ms, mostly HDF5 metadata + flush, so kills land there more often.
  for (const [gzip, maxDelay] of [[4, 400], [0, 150]]) {
    let ok = 0;
    let unclean = 0;
    const failures = [];
    const dones = [];
    for (let t = 0; t < trials; t++) {
      const file = path.join(dir, `random-${t}.h5`);
      const child = spawn(process.execPath, [SELF, '--child', file, 'random', String(4000 * BLOCK), '0', String(gzip)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise((res) => child.stdout.once('data', res));
      await new Promise((res) => setTimeout(res, Math.random() * maxDelay));
      child.kill('SIGKILL');
      await new Promise((res) => child.once('exit', res));
      // EOF > EOA in the superblock (v2: EOA at byte 28) = killed mid-flush; resume repairs it.
    const sb = fs.readFileSync(file).subarray(0, 48);
    if (sb.readBigUInt64LE(28) < BigInt(fs.statSync(file).size)) unclean++;
    const v = await verify(file, `gzip ${gzip} random trial ${t}`);
      if (v.ok) ok++;
      else failures.push(v.why);
      dones.push(v.done);
      fs.rmSync(file, { force: true });
    }
    console.log(
      `  gzip ${gzip}, killed at random moments: ${ok}/${trials} files opened with rows [0, rows_done) correct and resumed (+2 blocks); ` +
        `${unclean} needed the end-of-allocation repair; ` +
        `rows_done seen: ${dones.join(' ')}`,
    );
    for (const f of failures) console.log(`    ${f}`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

await bench();
if (!process.argv.includes('--no-crash')) await crash();
