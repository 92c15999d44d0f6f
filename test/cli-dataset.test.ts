/** `xasmap dataset`: determinism, resumability, ranges and bad arguments, end to end. */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readDatasetFile } from '../src/io/dataset-file.js';
import { computeRows } from '../src/ops/dataset-rows.js';
import { runCli, runCliInterrupted, tempDir } from './cli-helpers.js';

const dir = tempDir();

describe('xasmap dataset', () => {
  it('is identical for 1 and 2 workers and equal to the in-process computation (exact)', async () => {
    const a = join(dir, 'w1.h5');
    const b = join(dir, 'w2.h5');
    expect(runCli(['dataset', '--ion', 'Ni2+', '--count', '70', '--out', a, '--seed', '3', '--workers', '1']).code).toBe(0);
    expect(runCli(['dataset', '--ion', 'Ni2+', '--count', '70', '--out', b, '--seed', '3', '--workers', '2']).code).toBe(0);
    const A = await readDatasetFile(a);
    const B = await readDatasetFile(b);
    expect(A.meta.complete).toBe(true);
    expect(A.meta.rowsDone).toBe(70);
    expect(Buffer.from(A.spectra.buffer).equals(Buffer.from(B.spectra.buffer))).toBe(true);
    expect(Buffer.from(A.params.buffer).equals(Buffer.from(B.params.buffer))).toBe(true);
    const direct = computeRows({ ion: 'Ni2+', seed: 3, ranges: 'd4h', perDiag: 1, start: 32, end: 40 });
    expect(Array.from(A.spectra.subarray(32 * 501, 40 * 501))).toEqual(Array.from(direct.spectra));
    // uniform sampling within the D4h ranges; spectra box-normalised
    for (let r = 0; r < 70; r++) {
      const p = A.params.subarray(r * 9, r * 9 + 9);
      expect(p[0]).toBeGreaterThanOrEqual(0);
      expect(p[0]).toBeLessThanOrEqual(0.2);
      expect(Math.abs(p[1]!)).toBeLessThanOrEqual(1.4);
      const s = A.spectra.subarray(r * 501, r * 501 + 501);
      expect(Math.min(...s)).toBe(0);
      expect(Math.max(...s)).toBe(1);
    }
  });

  it('Ctrl-C leaves a valid partial file; the same command resumes to the same data as an uninterrupted run', async () => {
    const whole = join(dir, 'whole.h5');
    const part = join(dir, 'part.h5');
    const args = ['--ion', 'V3+', '--count', '256', '--seed', '11', '--workers', '2'];
    expect(runCli(['dataset', ...args, '--out', whole]).code).toBe(0);
    const r = await runCliInterrupted(['dataset', ...args, '--out', part], /writing .*partial/, 'SIGINT', 1500);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/interrupted \(SIGINT\): \d+ of 256 rows are in .*part\.h5\.partial; run the same command again/);
    expect(existsSync(part)).toBe(false);
    const partial = await readDatasetFile(`${part}.partial`);
    expect(partial.meta.complete).toBe(false);
    expect(partial.meta.rowsDone).toBeLessThan(256);
    expect(partial.meta.rowsDone % 32).toBe(0);
    // resuming with another seed is refused, naming the attribute
    const wrong = runCli(['dataset', '--ion', 'V3+', '--count', '256', '--seed', '12', '--out', part]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/seed/);
    const resumed = runCli(['dataset', ...args, '--out', part]);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toMatch(/resuming/);
    const A = await readDatasetFile(whole);
    const B = await readDatasetFile(part);
    expect(Buffer.from(A.spectra.buffer).equals(Buffer.from(B.spectra.buffer))).toBe(true);
    expect(Buffer.from(A.params.buffer).equals(Buffer.from(B.params.buffer))).toBe(true);
    // a finished database is not overwritten without --force
    const again = runCli(['dataset', ...args, '--out', part]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/exists.*--force/);
  });

  it('after SIGKILL the partial file still resumes to the same data (exact)', async () => {
    const whole = join(dir, 'k-whole.h5');
    const part = join(dir, 'k-part.h5');
    const args = ['--ion', 'V3+', '--count', '400', '--seed', '21', '--workers', '1'];
    expect(runCli(['dataset', ...args, '--out', whole]).code).toBe(0);
    const r = await runCliInterrupted(['dataset', ...args, '--out', part], /writing .*partial/, 'SIGKILL', 1200);
    expect(r.code).toBe(null); // killed
    expect(existsSync(`${part}.partial`)).toBe(true);
    expect((await readDatasetFile(`${part}.partial`)).meta.rowsDone).toBeLessThan(400);
    const resumed = runCli(['dataset', ...args, '--out', part]);
    expect(resumed.stderr).not.toMatch(/error/);
    expect(resumed.code).toBe(0);
    const A = await readDatasetFile(whole);
    const B = await readDatasetFile(part);
    expect(Buffer.from(A.spectra.buffer).equals(Buffer.from(B.spectra.buffer))).toBe(true);
    expect(Buffer.from(A.params.buffer).equals(Buffer.from(B.params.buffer))).toBe(true);
  });

  it('oh and c4v ranges; per-diag groups share the crystal field', async () => {
    const oh = join(dir, 'oh.h5');
    const c4v = join(dir, 'c4v.h5');
    expect(runCli(['dataset', '--ion', 'Ni2+', '--count', '20', '--out', oh, '--ranges', 'oh', '--workers', '0']).code).toBe(0);
    expect(runCli(['dataset', '--ion', 'Ni2+', '--count', '20', '--out', c4v, '--ranges', 'c4v', '--per-diag', '4', '--workers', '0']).code).toBe(0);
    const O = await readDatasetFile(oh);
    const C = await readDatasetFile(c4v);
    expect(O.meta.ranges).toBe('oh');
    for (let r = 0; r < 20; r++) {
      expect(O.params[r * 9 + 1]).toBe(0);
      expect(O.params[r * 9 + 2]).toBe(0);
      expect(O.params[r * 9]).toBeGreaterThanOrEqual(0);
      expect(C.params[r * 9]).toBeLessThanOrEqual(0);
      expect(C.params[r * 9]).toBeGreaterThanOrEqual(-0.2);
      const g = Math.floor(r / 4) * 4;
      for (let k = 0; k < 5; k++) expect(C.params[r * 9 + k]).toBe(C.params[g * 9 + k]);
    }
    expect(C.params[5]).not.toBe(C.params[9 + 5]); // T is drawn per row
    expect(C.meta.extra?.per_diag).toBe(4);
  });

  const bad: [string, string[], RegExp][] = [
    ['count 0', ['--ion', 'Ni2+', '--count', '0'], /--count must be an integer >= 1/],
    ['bad ranges', ['--ion', 'Ni2+', '--count', '5', '--ranges', 'td'], /--ranges must be one of d4h, oh, c4v/],
    ['bad seed', ['--ion', 'Ni2+', '--count', '5', '--seed', '-1'], /--seed/],
    ['bad ion', ['--ion', 'Zn2+', '--count', '5'], /unknown ion 'Zn2\+'/],
  ];
  it.each(bad)('bad arguments (%s): exit code 2, nothing written', (_n, args, pattern) => {
    const out = join(dir, `bad-${_n.replace(/\W/g, '_')}.h5`);
    const r = runCli(['dataset', ...args, '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(pattern);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(`${out}.partial`)).toBe(false);
  });

  it('a partial file that is not HDF5 is reported, not overwritten', () => {
    const out = join(dir, 'junk.h5');
    writeFileSync(`${out}.partial`, 'not hdf5');
    const r = runCli(['dataset', '--ion', 'Ni2+', '--count', '5', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/junk\.h5\.partial/);
  });
});
