/**
 * train / predict / evaluate / models end to end with a tiny database and short
 * training (real models are never trained in CI).
 */
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readDatasetFile } from '../src/io/dataset-file.js';
import { spectralError } from '../src/physics/spectrum.js';
import { ION_NAMES } from '../src/physics/ions.js';
import { onlyModels, runCli, runCliInterrupted, tempDir } from './cli-helpers.js';

const dir = tempDir();
const db = join(dir, 'ni2-tiny.h5');
const good = { Dq: 0.12, Ds: 0.05, Dt: 0.01, S1: 0.8, S2: 0.8, T: 300, sigmaG: 0.1, Gamma1: 0.4, Gamma2: 0.6 };

beforeAll(() => {
  const r = runCli(['dataset', '--ion', 'Ni2+', '--count', '300', '--out', db, '--seed', '4', '--workers', '0']);
  expect(r.code).toBe(0);
});

describe('train', () => {
  it('trains, writes model, meta, split and loss curve; an interrupted run resumes to the same result (1e-6)', async () => {
    const whole = join(dir, 'm-whole');
    const part = join(dir, 'm-part');
    const args = ['--data', db, '--epochs', '4', '--batch', '32', '--seed', '3', '--patience', '10'];
    const r = runCli(['train', ...args, '--out', whole]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/trained slcnn7 for Ni2\+/);
    for (const f of ['model.json', 'weights.bin', 'meta.json', 'split.json', 'loss.png']) expect(existsSync(join(whole, f))).toBe(true);
    expect(existsSync(join(whole, 'checkpoint'))).toBe(false);
    const png = readFileSync(join(whole, 'loss.png'));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    const meta = JSON.parse(readFileSync(join(whole, 'meta.json'), 'utf8'));
    expect(meta.ion).toBe('Ni2+');
    expect(meta.split).toMatchObject({ train: 240, val: 30, test: 30 });
    expect(meta.training.history).toHaveLength(4);
    const split = JSON.parse(readFileSync(join(whole, 'split.json'), 'utf8'));
    expect(new Set([...split.val, ...split.test]).size).toBe(60);

    const i = await runCliInterrupted(['train', ...args, '--out', part], /epoch 2: loss/, 'SIGINT');
    expect(i.code).toBe(130);
    expect(i.stderr).toMatch(/run the same command again to resume/);
    expect(existsSync(join(part, 'checkpoint', 'state.json'))).toBe(true);
    const res = runCli(['train', ...args, '--out', part]);
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/resuming .* after epoch [23]/);
    const m2 = JSON.parse(readFileSync(join(part, 'meta.json'), 'utf8'));
    expect(m2.training.history).toHaveLength(4);
    meta.training.history.forEach((h: { valMse: number }, k: number) => {
      expect(Math.abs(m2.training.history[k].valMse - h.valMse)).toBeLessThan(1e-6 * h.valMse);
    });
    // a finished model is not overwritten without --force
    const again = runCli(['train', ...args, '--out', whole]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/finished model; use --force/);
  });

  it('the dense baseline trains with the same code', () => {
    const r = runCli(['train', '--data', db, '--arch', 'dense', '--epochs', '1', '--batch', '64', '--out', join(dir, 'm-dense')]);
    expect(r.code).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'm-dense', 'meta.json'), 'utf8')).arch).toBe('dense');
  });

  it('--init-from continues a trained model (first epoch starts at its validation MSE); --schedule linear decays lr as lr0 (E - e + 1) / E', async () => {
    const base = join(dir, 'm-dense');
    const baseMeta = JSON.parse(readFileSync(join(base, 'meta.json'), 'utf8'));
    const out = join(dir, 'm-dense-tuned');
    const r = runCli(['train', '--data', db, '--arch', 'dense', '--epochs', '4', '--batch', '64', '--lr', '0.0004', '--schedule', 'linear', '--init-from', base, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const meta = JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8'));
    const lrs = meta.training.history.map((h: { learningRate: number }) => h.learningRate);
    expect(lrs).toHaveLength(4);
    [4e-4, 3e-4, 2e-4, 1e-4].forEach((want, e) => expect(lrs[e]).toBeCloseTo(want, 15));
    expect(meta.training.initFrom).toMatchObject({ model: 'm-dense', epochs: 1 });
    expect(meta.training.initFrom.history).toHaveLength(1);
    // the card names both stages and the commands that made them
    expect(runCli(['evaluate', '--model', out, '--data', db, '--report', join(dir, 'rep-tuned'), '--card']).code).toBe(0);
    const card = readFileSync(join(out, 'MODEL.md'), 'utf8');
    expect(card).toMatch(/Stage 1: `m-dense`, 1 epochs.*`xasmap train --data ni2-tiny\.h5 --arch dense --out m-dense --epochs 1 /);
    expect(card).toMatch(/--schedule linear.*--init-from m-dense`/);
    // a continued model continued again keeps the whole chain on its card
    const again = join(dir, 'm-dense-again');
    expect(runCli(['train', '--data', db, '--arch', 'dense', '--epochs', '1', '--batch', '64', '--init-from', out, '--out', again]).code).toBe(0);
    const againMeta = JSON.parse(readFileSync(join(again, 'meta.json'), 'utf8'));
    expect(againMeta.training.initFrom).toMatchObject({ model: 'm-dense-tuned', epochs: 4, initFrom: { model: 'm-dense', epochs: 1 } });
    expect(againMeta.training.initFrom.initFrom.history).toBeUndefined();
    expect(runCli(['evaluate', '--model', again, '--data', db, '--report', join(dir, 'rep-again'), '--card']).code).toBe(0);
    const againCard = readFileSync(join(again, 'MODEL.md'), 'utf8');
    expect(againCard).toMatch(/Stage 1: `m-dense`, 1 epochs.*--out m-dense --epochs 1 /);
    expect(againCard).toMatch(/Stage 2: `m-dense-tuned`, 4 epochs.*--schedule linear --init-from m-dense`\. Stage 3 continues it as below/);
    // a model copied elsewhere (as into models/ION) keeps its name: a continuation names the source by it
    expect(againMeta.name).toBe('m-dense-again');
    const shipped = join(dir, 'shipped', 'Ni2+');
    cpSync(again, shipped, { recursive: true });
    const fromShipped = join(dir, 'm-dense-from-shipped');
    expect(runCli(['train', '--data', db, '--arch', 'dense', '--epochs', '1', '--batch', '64', '--init-from', shipped, '--out', fromShipped]).code).toBe(0);
    expect(JSON.parse(readFileSync(join(fromShipped, 'meta.json'), 'utf8')).training.initFrom).toMatchObject({ model: 'm-dense-again', initFrom: { model: 'm-dense-tuned' } });
    // a continued run that is interrupted and resumed still records where it started
    const cont = join(dir, 'm-dense-cont');
    const contArgs = ['train', '--data', db, '--arch', 'dense', '--epochs', '6', '--batch', '32', '--init-from', base, '--out', cont];
    const ci = await runCliInterrupted(contArgs, /epoch 2: loss/, 'SIGINT');
    expect(ci.code).toBe(130);
    expect(runCli(contArgs).code).toBe(0);
    expect(JSON.parse(readFileSync(join(cont, 'meta.json'), 'utf8')).training.initFrom).toMatchObject({ model: 'm-dense', epochs: 1 });
    // with a vanishing learning rate the continued model is the base model (a fresh one would be at its random start)
    const still = join(dir, 'm-dense-still');
    expect(runCli(['train', '--data', db, '--arch', 'dense', '--epochs', '1', '--lr', '1e-12', '--init-from', base, '--out', still]).code).toBe(0);
    const stillMse = JSON.parse(readFileSync(join(still, 'meta.json'), 'utf8')).training.history[0].valMse;
    expect(Math.abs(stillMse - baseMeta.validation.mse)).toBeLessThan(1e-4 * baseMeta.validation.mse);
    // another seed would put test rows into training: refused
    const bad = runCli(['train', '--data', db, '--arch', 'dense', '--epochs', '1', '--seed', '9', '--init-from', base, '--out', join(dir, 'm-bad-init')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/same architecture \(--arch\), database and --seed/);
    expect(runCli(['train', '--data', db, '--schedule', 'cosine', '--out', join(dir, 'm-bad-sched')]).stderr).toMatch(/--schedule must be plateau or linear/);
    // --loss mae: the training loss of a model that does not move is its mean absolute error
    // (on the training rows; the validation MAE of the same model is within 30 %, its MSE 5-20x smaller)
    const l1 = join(dir, 'm-dense-mae');
    expect(runCli(['train', '--data', db, '--arch', 'dense', '--epochs', '1', '--lr', '1e-12', '--loss', 'mae', '--init-from', base, '--out', l1]).code).toBe(0);
    const m1 = JSON.parse(readFileSync(join(l1, 'meta.json'), 'utf8'));
    expect(m1.training.settings.loss).toBe('mae');
    expect(Math.abs(m1.training.history[0].loss / m1.training.history[0].valMae - 1)).toBeLessThan(0.3);
    expect(runCli(['train', '--data', db, '--loss', 'huber', '--out', join(dir, 'm-bad-loss')]).stderr).toMatch(/--loss must be mse, mae, se, got 'huber'/);
    // --loss se: the training loss is the mean SE measure as a fraction; the card names it
    const l2 = join(dir, 'm-dense-se');
    expect(runCli(['train', '--data', db, '--arch', 'dense', '--epochs', '1', '--lr', '1e-12', '--loss', 'se', '--init-from', base, '--out', l2]).code).toBe(0);
    const m2 = JSON.parse(readFileSync(join(l2, 'meta.json'), 'utf8'));
    expect(m2.training.settings.loss).toBe('se');
    expect(m2.training.history[0].loss).toBeGreaterThan(0);
    expect(m2.training.history[0].loss).toBeLessThan(1);
    expect(runCli(['evaluate', '--model', l2, '--data', db, '--report', join(dir, 'rep-se'), '--card']).code).toBe(0);
    const card2 = readFileSync(join(l2, 'MODEL.md'), 'utf8');
    expect(card2).toMatch(/RMSprop on the SE measure/);
    expect(card2).toMatch(/--loss se --init-from m-dense`/);
    // --optimizer adam: recorded, named on the card, and it trains (validation MSE falls below the base model's)
    const ad = join(dir, 'm-dense-adam');
    expect(runCli(['train', '--data', db, '--arch', 'dense', '--epochs', '2', '--batch', '32', '--lr', '0.0005', '--optimizer', 'adam', '--init-from', base, '--out', ad]).code).toBe(0);
    const ma = JSON.parse(readFileSync(join(ad, 'meta.json'), 'utf8'));
    expect(ma.training.settings.optimizer).toBe('adam');
    expect(ma.validation.mse).toBeLessThan(baseMeta.validation.mse);
    expect(runCli(['evaluate', '--model', ad, '--data', db, '--report', join(dir, 'rep-adam'), '--card']).code).toBe(0);
    expect(readFileSync(join(ad, 'MODEL.md'), 'utf8')).toMatch(/Training: Adam on the MSE.*\n[^]*--optimizer adam --init-from m-dense`/);
    expect(runCli(['train', '--data', db, '--optimizer', 'sgd', '--out', join(dir, 'm-bad-opt')]).stderr).toMatch(/--optimizer must be rmsprop, adam, got 'sgd'/);
  });

  it('--extra-data adds the rows of databases made with other seeds to training only: same validation and test rows; the card names them; a repeated seed or another ion is refused', () => {
    const base = join(dir, 'm-dense');
    const extra = join(dir, 'ni2-tiny-s5.h5');
    expect(runCli(['dataset', '--ion', 'Ni2+', '--count', '100', '--out', extra, '--seed', '5', '--workers', '0']).code).toBe(0);
    const out = join(dir, 'm-dense-extra');
    const r = runCli(['train', '--data', db, '--extra-data', extra, '--arch', 'dense', '--epochs', '1', '--batch', '64', '--lr', '0.0004', '--init-from', base, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/340\/30\/30 train\/val\/test rows/);
    const meta = JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8'));
    expect(meta.split).toMatchObject({ train: 340, val: 30, test: 30 });
    expect(meta.dataset).toMatchObject({ file: 'ni2-tiny.h5', seed: 4, count: 300, extraData: [{ file: 'ni2-tiny-s5.h5', seed: 5, count: 100, perDiag: 1 }] });
    // held-out rows are the base model's, so evaluate --compare-from and test figures stay comparable
    const split = JSON.parse(readFileSync(join(out, 'split.json'), 'utf8'));
    const baseSplit = JSON.parse(readFileSync(join(base, 'split.json'), 'utf8'));
    expect(split.test).toEqual(baseSplit.test);
    expect(split.val).toEqual(baseSplit.val);
    expect(split.rows).toBe(300);
    expect(runCli(['evaluate', '--model', out, '--data', db, '--report', join(dir, 'rep-extra'), '--card']).code).toBe(0);
    const card = readFileSync(join(out, 'MODEL.md'), 'utf8');
    expect(card).toMatch(/Extra training data \(`--extra-data`\): `ni2-tiny-s5\.h5`, 100 spectra \(seed 5, per-diag 1\), all of them training rows\. Regenerate: `xasmap dataset --ion Ni2\+ --count 100 --seed 5 --ranges d4h --out ni2-tiny-s5\.h5`/);
    expect(card).toMatch(/Command: `xasmap train --data ni2-tiny\.h5 --extra-data ni2-tiny-s5\.h5 --arch dense/);
    // a stage after it keeps the extra data in its command line
    const next = join(dir, 'm-dense-extra2');
    expect(runCli(['train', '--data', db, '--arch', 'dense', '--epochs', '1', '--batch', '64', '--init-from', out, '--out', next]).code).toBe(0);
    expect(runCli(['evaluate', '--model', next, '--data', db, '--report', join(dir, 'rep-extra2'), '--card']).code).toBe(0);
    expect(readFileSync(join(next, 'MODEL.md'), 'utf8')).toMatch(/Stage 2: `m-dense-extra`.*`xasmap train --data ni2-tiny\.h5 --extra-data ni2-tiny-s5\.h5 --arch dense --out m-dense-extra /);
    const same = runCli(['train', '--data', db, '--extra-data', db, '--arch', 'dense', '--epochs', '1', '--out', join(dir, 'm-extra-bad')]);
    expect(same.code).toBe(2);
    expect(same.stderr).toMatch(/--extra-data .*ni2-tiny\.h5: seed 4 is also the seed of .*ni2-tiny\.h5: the same seed gives the same rows/);
    const ti = join(dir, 'ti2-tiny.h5');
    expect(runCli(['dataset', '--ion', 'Ti2+', '--count', '16', '--out', ti, '--seed', '6', '--workers', '0']).code).toBe(0);
    const other = runCli(['train', '--data', db, '--extra-data', ti, '--arch', 'dense', '--epochs', '1', '--out', join(dir, 'm-extra-bad')]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/--extra-data .*ti2-tiny\.h5: it holds Ti2\+ spectra, --data .*ni2-tiny\.h5 holds Ni2\+/);
    expect(existsSync(join(dir, 'm-extra-bad', 'meta.json'))).toBe(false);
  });

  it('--warm-start seeds a new model with the layers of a trained one (with a vanishing learning rate it predicts like it); the card says so', () => {
    const base = join(dir, 'm-dense');
    const baseMeta = JSON.parse(readFileSync(join(base, 'meta.json'), 'utf8'));
    const out = join(dir, 'm-dense-warm');
    const r = runCli(['train', '--data', db, '--arch', 'dense', '--epochs', '1', '--lr', '1e-12', '--warm-start', base, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warm start from .*m-dense \(Ni2\+, 1 epochs\): (\d+) of \1 trainable parameters copied/);
    const meta = JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8'));
    expect(meta.training.warmStart).toMatchObject({ model: 'm-dense', ion: 'Ni2+', epochs: 1, skipped: [] });
    expect(meta.training.initFrom).toBeUndefined();
    // same database and seed here, so the validation rows are the base model's: same MSE (a fresh model is far off)
    expect(Math.abs(meta.training.history[0].valMse - baseMeta.validation.mse)).toBeLessThan(1e-4 * baseMeta.validation.mse);
    expect(runCli(['evaluate', '--model', out, '--data', db, '--report', join(dir, 'rep-warm'), '--card']).code).toBe(0);
    const card = readFileSync(join(out, 'MODEL.md'), 'utf8');
    expect(card).toMatch(/Warm start: the 6 trainable layers of equal shape .* copied from `m-dense` \(Ni2\+, 1 epochs.*trained on this database with the same split/);
    expect(card).toMatch(/--warm-start m-dense`/);
    const wrongArch = runCli(['train', '--data', db, '--arch', 'slcnn7', '--epochs', '1', '--warm-start', base, '--out', join(dir, 'm-warm-bad')]);
    expect(wrongArch.code).toBe(2);
    expect(wrongArch.stderr).toMatch(/--warm-start .*m-dense: it is a dense model; this run trains --arch slcnn7/);
    const leak = runCli(['train', '--data', db, '--arch', 'dense', '--seed', '9', '--epochs', '1', '--warm-start', base, '--out', join(dir, 'm-warm-leak')]);
    expect(leak.code).toBe(2);
    expect(leak.stderr).toMatch(/would be among this run's test rows \(use --seed 1\)/);
    const both = runCli(['train', '--data', db, '--arch', 'dense', '--init-from', base, '--warm-start', base, '--out', join(dir, 'm-warm-both')]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/exclude each other/);
  });

  it('--warm-start --grow widens the source into --arch-options sizes and starts from its function; the card gives the command', () => {
    const base = join(dir, 'm-dense');
    const baseMeta = JSON.parse(readFileSync(join(base, 'meta.json'), 'utf8'));
    const out = join(dir, 'm-dense-grown');
    const wide = ['--arch-options', '{"trunk":[300,200],"hidden":[600,500,500]}'];
    const r = runCli(['train', '--data', db, '--arch', 'dense', ...wide, '--epochs', '1', '--lr', '1e-12', '--warm-start', base, '--grow', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/grown: trunk_1, trunk_2, hidden_1, hidden_2$/m);
    const meta = JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8'));
    expect(meta.training.warmStart).toMatchObject({ model: 'm-dense', copied: ['hidden_3', 'spectrum'], grown: ['trunk_1', 'trunk_2', 'hidden_1', 'hidden_2'], skipped: [], copiedParams: baseMeta.paramCount });
    // the new units start with zero outgoing weights: same validation MSE as the source
    expect(Math.abs(meta.training.history[0].valMse - baseMeta.validation.mse)).toBeLessThan(1e-4 * baseMeta.validation.mse);
    expect(runCli(['evaluate', '--model', out, '--data', db, '--report', join(dir, 'rep-grown'), '--card']).code).toBe(0);
    const card = readFileSync(join(out, 'MODEL.md'), 'utf8');
    expect(card).toMatch(/4 dense layers were grown into wider ones \(trunk_1, trunk_2, hidden_1, hidden_2:/);
    expect(card).toMatch(/--arch dense --arch-options '\{"trunk":\[300,200\],"hidden":\[600,500,500\]\}' .*--warm-start m-dense --grow`/);
    const noSource = runCli(['train', '--data', db, '--arch', 'dense', '--grow', '--out', join(dir, 'm-grow-bad')]);
    expect(noSource.code).toBe(2);
    expect(noSource.stderr).toMatch(/--grow needs --warm-start/);
  });

  it('rejects an incomplete database and bad options with exit code 2', async () => {
    const partial = join(dir, 'incomplete.h5');
    const i = await runCliInterrupted(['dataset', '--ion', 'Co3+', '--count', '2000', '--out', partial, '--workers', '1'], /writing/, 'SIGINT', 1500);
    expect(i.code).toBe(130);
    // the .partial file is not a finished database
    const r = runCli(['train', '--data', `${partial}.partial`, '--out', join(dir, 'm-bad')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/incomplete/);
    const ex = runCli(['train', '--data', db, '--extra-data', `${partial}.partial`, '--out', join(dir, 'm-bad4')]);
    expect(ex.code).toBe(2);
    expect(ex.stderr).toMatch(/--extra-data .*incomplete\.h5\.partial: the database is incomplete/);
    expect(runCli(['train', '--data', db, '--arch', 'cnn', '--out', join(dir, 'm-bad2')]).stderr).toMatch(/--arch must be slcnn7 or dense/);
    expect(runCli(['train', '--data', join(dir, 'nope.h5'), '--out', join(dir, 'm-bad3')]).code).toBe(2);
  });
});

describe('predict, evaluate, models', () => {
  const model = join(dir, 'm-whole');
  it('predict gives the simulate JSON contract plus extrapolated; bad input as in simulate', () => {
    const f = join(dir, 'p.json');
    writeFileSync(f, JSON.stringify([good, { ...good, Dq: 0.3 }]));
    const r = runCli(['predict', '--ion', 'Ni2+', '--params', f, '--model', model]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out)).toEqual(['ion', 'w', 'energy', 'spectra', 'extrapolated']);
    expect(out.spectra).toHaveLength(2);
    expect(out.spectra[0]).toHaveLength(501);
    expect(out.extrapolated).toEqual([false, true]);
    expect(r.stderr).toMatch(/case 1, field 'Dq' = 0.3 eV is outside the training range/);
    const sim = JSON.parse(runCli(['simulate', '--ion', 'Ni2+', '--params', f]).stdout);
    expect(out.w).toEqual(sim.w);
    expect(out.energy).toEqual(sim.energy);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...good, T: -1 }));
    const b = runCli(['predict', '--ion', 'Ni2+', '--params', bad, '--model', model]);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/case 0, field 'T'/);
    const wrongIon = runCli(['predict', '--ion', 'Fe2+', '--params', f, '--model', model]);
    expect(wrongIon.code).toBe(2);
    expect(wrongIon.stderr).toMatch(/model for Ni2\+, not Fe2\+/);
  });

  it('predict without a model for the ion says which ions have one; models lists them ($XASMAP_MODELS)', () => {
    const f = join(dir, 'p1.json');
    writeFileSync(f, JSON.stringify(good));
    const env = onlyModels(['Ni2+', 'Co2+']);
    const r = runCli(['predict', '--ion', 'Fe2+', '--params', f], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no trained model for Fe2\+ yet in XASMAP_MODELS=.*; models exist for: Co2\+, Ni2\+ \(or pass --model DIR\)/);
    const ok = runCli(['predict', '--ion', 'Ni2+', '--params', f], { env });
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).spectra).toHaveLength(1);
    const list = runCli(['models'], { env });
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n').filter((l) => /^(Ni2\+|Co2\+) /.test(l))).toHaveLength(2);
    expect(list.stdout).toMatch(/2 of 22 ions have a model; not yet: Ti2\+, /);
    const gone = runCli(['models'], { env: { ...env, XASMAP_MODELS: join(dir, 'no-such-dir') } });
    expect(gone.code).toBe(2);
    expect(gone.stderr).toMatch(/XASMAP_MODELS=.*no-such-dir: no such directory/);
  });

  it('evaluate: SE per spectrum equals the hand computation on the test split; intervals add up', async () => {
    const rep = join(dir, 'report');
    const r = runCli(['evaluate', '--model', model, '--data', db, '--report', rep, '--compare', join(dir, 'm-dense')]);
    expect(r.code).toBe(0);
    const report = JSON.parse(readFileSync(join(rep, 'report.json'), 'utf8'));
    expect(report.data.subset).toMatch(/test split/);
    expect(report.models).toHaveLength(2);
    const m0 = report.models[0];
    expect(m0.count).toBe(30);
    expect(m0.intervals.counts.reduce((a: number, b: number) => a + b, 0)).toBe(30);
    for (const f of ['report.md', 'se-hist.png', 'channels.png', 'mepd.png', 'worst.png']) expect(existsSync(join(rep, f))).toBe(true);
    // hand computation of the worst spectrum's SE: predict its parameters, compare with the database row
    const split = JSON.parse(readFileSync(join(model, 'split.json'), 'utf8'));
    const data = await readDatasetFile(db);
    const w = m0.worst[0];
    const row = split.test[w.index];
    const p = Array.from(data.params.subarray(row * 9, row * 9 + 9));
    const names = ['Dq', 'Ds', 'Dt', 'S1', 'S2', 'T', 'sigmaG', 'Gamma1', 'Gamma2'];
    const f = join(dir, 'worst.json');
    writeFileSync(f, JSON.stringify(Object.fromEntries(names.map((k, i) => [k, p[i]]))));
    const pred = JSON.parse(runCli(['predict', '--ion', 'Ni2+', '--params', f, '--model', model]).stdout).spectra[0];
    const se = spectralError(pred, data.spectra.subarray(row * 501, row * 501 + 501));
    expect(Math.abs(se - w.se)).toBeLessThan(1e-3 * w.se);
    expect(m0.se.max).toBeCloseTo(w.se, 6);
  });

  it('evaluate --compare-from copies the dense figures of an earlier card on the same split, marked as copied; refuses another split', () => {
    // m-dense-tuned continues m-dense, m-dense-again continues m-dense-tuned: one test split
    const tuned = join(dir, 'm-dense-tuned');
    const again = join(dir, 'm-dense-again');
    expect(runCli(['evaluate', '--model', tuned, '--data', db, '--report', join(dir, 'rep-cf1'), '--card', '--compare', join(dir, 'm-dense')]).code).toBe(0);
    const first = JSON.parse(readFileSync(join(tuned, 'meta.json'), 'utf8')).evaluation.compare;
    expect(first.count).toBe(30);
    const r = runCli(['evaluate', '--model', again, '--data', db, '--report', join(dir, 'rep-cf2'), '--card', '--compare-from', tuned]);
    expect(r.code, r.stderr).toBe(0);
    const copied = JSON.parse(readFileSync(join(again, 'meta.json'), 'utf8')).evaluation.compare;
    expect(copied).toEqual({ ...first, copiedFrom: tuned });
    const card = readFileSync(join(again, 'MODEL.md'), 'utf8');
    expect(card).toContain(`| dense | ${first.params} | ${first.mse.toExponential(2)} | ${(100 * first.fractionBelow3).toFixed(2)} % |`);
    expect(card).toContain(`row is copied from the card of \`${tuned}\` as it stood before this model was evaluated (same database and test split)`);
    // m-whole has another split seed: its test rows differ
    const other = runCli(['evaluate', '--model', model, '--data', db, '--report', join(dir, 'rep-cf3'), '--card', '--compare-from', tuned]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/--compare-from .*m-dense-tuned: its test split differs/);
    expect(runCli(['evaluate', '--model', again, '--data', db, '--report', join(dir, 'rep-cf4'), '--compare-from', tuned]).stderr).toMatch(/only fills the card: add --card/);
  });

  it('models lists the shipped models and the ions without one', () => {
    const r = runCli(['models']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/of 22 ions have a model/);
    const j = JSON.parse(runCli(['models', '--json']).stdout);
    expect(Array.isArray(j)).toBe(true);
    for (const m of j) expect(ION_NAMES).toContain(m.ion);
  });
});
