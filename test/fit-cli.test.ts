/**
 * `xasmap fit` end to end (built CLI): recovery of known parameter maps from stacks simulated
 * with the multiplet simulator plus white noise, a two-phase Fe2+ map, fixed and bounded
 * parameters, the real files of ../shared/realdata, and bad input.
 *
 * Noise: Gaussian, standard deviation 0.002 of the box-normalised spectrum (SE of the truth
 * against the noisy data about 1.2 %), before scaling to counts a * s + b.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import h5wasm from 'h5wasm/node';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { FIT_FLAG, PARAM_FLAG } from '../src/ops/fit-types.js';
import { type IonName, PARAM_NAMES, PARAM_RANGES, type Params, energyWindow, windowAxes } from '../src/physics/ions.js';
import { mulberry32 } from '../src/physics/random.js';
import { simulate } from '../src/physics/spectrum.js';
import { runCli, runCliInterrupted, tempDir } from './cli-helpers.js';
import { HAVE_SHARED, sharedPath } from './shared.js';

// whole fits through the CLI: 2-40 s each alone, more when other test files share the cores
vi.setConfig({ testTimeout: 300_000 });

const dir = tempDir('xasmap-fit-');
const P = 9;
type H5 = typeof import('h5wasm/node').default;
let H: H5;
beforeAll(async () => {
  await h5wasm.ready;
  H = h5wasm;
});

function gaussian(rnd: () => number): number {
  return Math.sqrt(-2 * Math.log(Math.max(rnd(), 1e-300))) * Math.cos(2 * Math.PI * rnd());
}

/** A NeXus stack (energy, ny, nx) of simulated spectra with noise, on the ion's model grid. */
function writeStack(path: string, ion: IonName, ny: number, nx: number, truth: Params[], noise: number, seed: number): void {
  const { energy } = windowAxes(energyWindow(ion));
  const ne = energy.length;
  const rnd = mulberry32(seed);
  const data = new Float32Array(ne * ny * nx);
  truth.forEach((p, i) => {
    const s = simulate(ion, p).spectrum;
    const a = 200 + 5 * i;
    const b = 10 + i;
    for (let e = 0; e < ne; e++) data[e * ny * nx + i] = a * ((s[e] as number) + noise * gaussian(rnd)) + b;
  });
  const f = new H.File(path, 'w');
  f.create_attribute('NX_class', 'NXroot');
  const entry = f.create_group('entry');
  entry.create_attribute('NX_class', 'NXentry');
  const g = entry.create_group('data');
  g.create_attribute('NX_class', 'NXdata');
  g.create_attribute('signal', 'data');
  g.create_attribute('axes', ['energy', '.', '.']);
  g.create_dataset({ name: 'data', data, shape: [ne, ny, nx], dtype: '<f' });
  const en = g.create_dataset({ name: 'energy', data: energy, dtype: '<d' });
  en.create_attribute('units', 'eV');
  f.close();
}

interface FitFile {
  params: Record<string, Float32Array>;
  sigma: Record<string, Float32Array>;
  se: Float32Array;
  flags: Uint16Array;
  paramFlags: Uint8Array;
}

function readFit(path: string): FitFile {
  const f = new H.File(path, 'r');
  const get = (p: string) => (f.get(p) as import('h5wasm').Dataset).value;
  const out: FitFile = {
    params: Object.fromEntries(PARAM_NAMES.map((k) => [k, get(`entry/maps/${k}`) as Float32Array])),
    sigma: Object.fromEntries(PARAM_NAMES.map((k) => [k, get(`entry/maps/${k}_sigma`) as Float32Array])),
    se: get('entry/maps/se') as Float32Array,
    flags: get('entry/maps/flags') as Uint16Array,
    paramFlags: get('entry/maps/param_flags') as Uint8Array,
  };
  f.close();
  return out;
}

function randomParams(n: number, seed: number, fixed: Partial<Params>): Params[] {
  const rnd = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const p = {} as Params;
    for (const k of PARAM_NAMES) {
      const [lo, hi] = PARAM_RANGES[k];
      p[k] = fixed[k] ?? lo + (hi - lo) * (0.1 + 0.8 * rnd());
    }
    return p;
  });
}

describe('fit recovers known parameters (Ni2+ network + simulator refinement)', () => {
  // Close to the edge by design: the Dq-Dt valley (docs/fit.md) and the Gaussian tail (0.01 eV is
  // about 2 sigma of Dq here) each cost a pixel; the session 8 network and the shipped one of
  // session 10 recover 18 of 20, the network of the first session 10 round recovered 17 of 19
  // (one in the valley, one 0.0103 eV off) and failed here. A new network may need a look.
  it('Dq within 0.01 eV and S1, S2 within 0.03 for >= 90 % of the pixels fitted at SE < 3 %; sigmas cover the truth', () => {
    const ny = 4;
    const nx = 5;
    const truth = randomParams(ny * nx, 21, { T: 300 });
    const meas = join(dir, 'recover.h5');
    writeStack(meas, 'Ni2+', ny, nx, truth, 0.002, 22);
    const out = join(dir, 'recover.fit.h5');
    const r = runCli(['fit', meas, '--ion', 'Ni2+', '--fix', 'T=300', '--shift', '0', '--starts', '6', '--refine', 'all', '--out', out, '--json'], { timeout: 300_000 });
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.refined).toBe(ny * nx);
    const fit = readFit(out);
    let low = 0;
    let good = 0;
    let in1 = 0;
    let total = 0;
    truth.forEach((t, i) => {
      expect(fit.flags[i]! & FIT_FLAG.REFINED).toBe(FIT_FLAG.REFINED);
      expect(fit.params['T']![i]).toBe(300);
      if (fit.se[i]! < 3) {
        low++;
        const ok = Math.abs(fit.params['Dq']![i]! - t.Dq) < 0.01 && Math.abs(fit.params['S1']![i]! - t.S1) < 0.03 && Math.abs(fit.params['S2']![i]! - t.S2) < 0.03;
        if (ok) good++;
      }
      for (const k of PARAM_NAMES) {
        if (k === 'T') continue;
        total++;
        if (Math.abs(fit.params[k]![i]! - t[k]) <= fit.sigma[k]![i]!) in1++;
      }
    });
    console.log(`fit recovery: ${low}/${ny * nx} pixels at SE < 3 %, ${good} of them with Dq, S1, S2 recovered; 1-sigma coverage ${((100 * in1) / total).toFixed(0)} %`);
    expect(low).toBeGreaterThanOrEqual(0.9 * ny * nx);
    expect(good).toBeGreaterThanOrEqual(0.9 * low);
    // 160 estimates; the Gaussian rate is 68 %; local minima and the linearisation widen the band
    expect(in1 / total).toBeGreaterThan(0.45);
    expect(in1 / total).toBeLessThan(0.9);
  });
});

describe('fit separates a two-phase Fe2+ map (simulator as the forward model)', () => {
  // Dq, Ds, Dt, S1 and S2 free (T and the broadening fixed). The left domain needs the mirrored
  // start (Ds, Dt -> -Ds, -Dt): without it all of its pixels end at Dq = 0.007, Ds = -0.076 with
  // SE 2.6 % (seen on 2026-11-26 with libraries of 256 and 1024 and 5 starts).
  it('Dq 0.05 eV on the left, 0.15 eV on the right: every pixel lands in its domain', () => {
    const ny = 3;
    const nx = 4;
    const common = { Ds: 0.1, Dt: 0.05, S1: 0.8, S2: 0.85, T: 300, sigmaG: 0.1, Gamma1: 0.4, Gamma2: 0.6 };
    const truth: Params[] = Array.from({ length: ny * nx }, (_, i) => ({ ...common, Dq: i % nx < nx / 2 ? 0.05 : 0.15 }));
    const meas = join(dir, 'twophase.h5');
    writeStack(meas, 'Fe2+', ny, nx, truth, 0.002, 23);
    const out = join(dir, 'twophase.fit.h5');
    const r = runCli(
      ['fit', meas, '--ion', 'Fe2+', '--model', 'simulator', '--fix', 'T=300,sigmaG=0.1,Gamma1=0.4,Gamma2=0.6', '--shift', '0', '--library', '1024', '--iterations', '12', '--out', out, '--json'],
      { timeout: 300_000 },
    );
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const fit = readFit(out);
    truth.forEach((t, i) => {
      expect(Math.abs(fit.params['Dq']![i]! - t.Dq)).toBeLessThan(0.01);
      expect(Math.abs(fit.params['Ds']![i]! - t.Ds)).toBeLessThan(0.02);
      expect(Math.abs(fit.params['Dt']![i]! - t.Dt)).toBeLessThan(0.02);
      expect(fit.se[i]).toBeLessThan(1.5); // the noise alone gives about 0.7 %
    });
  });
});

const HAVE_FE2_MODEL = existsSync(new URL('../models/Fe2+/meta.json', import.meta.url));

describe.skipIf(!HAVE_FE2_MODEL)('fit separates a two-phase Fe2+ map (the shipped Fe2+ network, all parameters but T free)', () => {
  // Separation, not accuracy: with today's Fe2+ network (median SE ~5.7 % against the
  // simulator) both domains come out 0.03-0.05 eV low (seen 2026-11-26: medians 0.020 and
  // 0.101 eV); the simulator version above checks the values.
  it('the two domains do not overlap: every left pixel has a lower Dq than every right pixel', () => {
    const ny = 4;
    const nx = 6;
    const common = { Ds: 0.1, Dt: 0.05, S1: 0.8, S2: 0.85, T: 300, sigmaG: 0.1, Gamma1: 0.4, Gamma2: 0.6 };
    const truth: Params[] = Array.from({ length: ny * nx }, (_, i) => ({ ...common, Dq: i % nx < nx / 2 ? 0.05 : 0.15 }));
    const meas = join(dir, 'twophase-net.h5');
    writeStack(meas, 'Fe2+', ny, nx, truth, 0.002, 24);
    const out = join(dir, 'twophase-net.fit.h5');
    const r = runCli(['fit', meas, '--ion', 'Fe2+', '--fix', 'T=300', '--shift', '0', '--workers', '0', '--out', out, '--json'], { timeout: 300_000 });
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const fit = readFit(out);
    const left: number[] = [];
    const right: number[] = [];
    truth.forEach((t, i) => (t.Dq < 0.1 ? left : right).push(fit.params['Dq']![i]!));
    const med = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;
    console.log(
      `two-phase Fe2+ (network): left Dq ${Math.min(...left).toFixed(3)}..${Math.max(...left).toFixed(3)} (median ${med(left).toFixed(3)}, truth 0.05), ` +
        `right ${Math.min(...right).toFixed(3)}..${Math.max(...right).toFixed(3)} (median ${med(right).toFixed(3)}, truth 0.15); SE median ${JSON.parse(r.stdout).se.median} %`,
    );
    expect(Math.max(...left)).toBeLessThan(Math.min(...right));
  });
});

describe('fit honours --fix and --bounds', () => {
  it('fixed values are exact with sigma 0; bounded values stay inside and are flagged on the bound', () => {
    const ny = 2;
    const nx = 3;
    const truth = randomParams(ny * nx, 31, { T: 300, Dq: 0.15 });
    const meas = join(dir, 'bounds.h5');
    writeStack(meas, 'Ni2+', ny, nx, truth, 0.002, 32);
    const out = join(dir, 'bounds.fit.h5');
    const r = runCli(['fit', meas, '--ion', 'Ni2+', '--fix', 'T=250,sigmaG=0.1', '--bounds', 'Dq=0.02:0.1,S1=0.7:0.9', '--shift', '0', '--workers', '0', '--out', out, '--json']);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const fit = readFit(out);
    for (let i = 0; i < ny * nx; i++) {
      expect(fit.params['T']![i]).toBe(250);
      expect(fit.params['sigmaG']![i]).toBe(Math.fround(0.1));
      expect(fit.sigma['T']![i]).toBe(0);
      expect(fit.paramFlags[i * P + PARAM_NAMES.indexOf('T')]).toBe(PARAM_FLAG.FIXED);
      expect(fit.params['Dq']![i]).toBeGreaterThanOrEqual(Math.fround(0.02));
      expect(fit.params['Dq']![i]).toBeLessThanOrEqual(Math.fround(0.1));
      expect(fit.params['S1']![i]).toBeGreaterThanOrEqual(Math.fround(0.7));
      expect(fit.params['S1']![i]).toBeLessThanOrEqual(Math.fround(0.9));
    }
    // the bound flags say exactly which values sit within 1e-3 of the bound span of a bound
    for (let i = 0; i < ny * nx; i++) {
      const dq = fit.params['Dq']![i]!;
      const atUpper = (fit.paramFlags[i * P]! & PARAM_FLAG.AT_UPPER) !== 0;
      expect(atUpper).toBe(dq > 0.1 - 0.08 * 1e-3 + 1e-7);
    }
    // the truth (Dq = 0.15) is above the bound: some pixels end on it
    const atUpper = Array.from({ length: ny * nx }, (_, i) => fit.paramFlags[i * P]! & PARAM_FLAG.AT_UPPER).filter((v) => v !== 0).length;
    expect(atUpper).toBeGreaterThan(0);
    // PNGs of the free parameters only, plus SE and spectra
    const pngs = readdirSync(dir).filter((f) => f.startsWith('bounds.fit.') && f.endsWith('.png')).sort();
    expect(pngs).toEqual(['Ds', 'Dt', 'Dq', 'Gamma1', 'Gamma2', 'S1', 'S2', 'se', 'spectra'].map((k) => `bounds.fit.${k}.png`).sort());
  });
});

describe.skipIf(!HAVE_SHARED)('fit on the real files of ../shared/realdata (no SE threshold: not one-ion crystal-field spectra)', () => {
  it('EELS .msa spectra load and fit (Ni2+ network, auto shift) with a finite SE', () => {
    for (const name of ['eels_NMC_Co_L23_edge.msa', 'eels_NMC_Ni_L23_edge.msa']) {
      const out = join(dir, `${name}.fit.h5`);
      const r = runCli(['fit', sharedPath(`realdata/${name}`), '--ion', 'Ni2+', '--fix', 'T=300', '--workers', '0', '--out', out, '--json']);
      expect(r.stderr).not.toMatch(/error/i);
      expect(r.code).toBe(0);
      const s = JSON.parse(r.stdout);
      console.log(`${name}: SE ${s.se.median} %, shift ${s.shift} eV`);
      expect(s.fitted).toBe(1);
      expect(Number.isFinite(s.se.median)).toBe(true);
    }
  });

  it.skipIf(!HAVE_FE2_MODEL)('Photon Factory Fe L-edge text scans (I0-normalised, sloping background) fit with the Fe2+ network', () => {
    for (const name of ['xas_Fe_L23_PF-BL16A_Fe-1_20161207215237.txt', 'xas_Fe_L23_PF-BL16A_Fe-2_20161207220356.txt']) {
      const out = join(dir, `${name}.fit.h5`);
      const r = runCli(['fit', sharedPath(`realdata/${name}`), '--ion', 'Fe2+', '--fix', 'T=300', '--workers', '0', '--out', out, '--json']);
      expect(r.stderr).not.toMatch(/error/i);
      expect(r.code).toBe(0);
      const s = JSON.parse(r.stdout);
      console.log(`${name}: SE ${s.se.median} %, shift ${s.shift} eV, pre-edge ${JSON.stringify(s.shiftInfo?.mode)}`);
      expect(Number.isFinite(s.se.median)).toBe(true);
    }
  });

  it('the NXstxm carbon K-edge stack is refused with a message naming the energies and the window', () => {
    const r = runCli(['fit', sharedPath('realdata/nxstxm_SLS_Sample_Stack_2021-03-16_128.hdf5'), '--ion', 'Ni2+', '--out', join(dir, 'stxm.fit.h5')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/280\.\.320 eV.*do not cover.*Ni2\+ model window.*--shift/);
    expect(existsSync(join(dir, 'stxm.fit.h5'))).toBe(false);
  });
});

describe('fit: bad input', () => {
  const meas = join(dir, 'small.h5');
  beforeAll(() => writeStack(meas, 'Ni2+', 1, 2, randomParams(2, 41, { T: 300 }), 0.002, 42));
  const fail = (args: string[], re: RegExp) => {
    const r = runCli(['fit', ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(re);
  };
  it('options, files and outputs', () => {
    fail([meas], /--ion/);
    fail([meas, '--ion', 'Xx9+'], /unknown ion 'Xx9\+'/);
    fail([join(dir, 'nope.h5'), '--ion', 'Ni2+'], /nope\.h5/);
    fail([meas, '--ion', 'Ni2+', '--fix', 'Temp=300'], /unknown parameter 'Temp'.*Dq, Ds/);
    fail([meas, '--ion', 'Ni2+', '--fix', 'T=abc'], /--fix T=abc: not a number/);
    fail([meas, '--ion', 'Ni2+', '--fix', 'Dq=0.5'], /--fix Dq=0\.5 is outside \[0, 0\.2\].*--model simulator/);
    fail([meas, '--ion', 'Ni2+', '--bounds', 'Dq=0.1'], /--bounds Dq=0\.1: expected LOW:HIGH/);
    fail([meas, '--ion', 'Ni2+', '--bounds', 'Dq=0.2:0.1'], /LOW < HIGH/);
    fail([meas, '--ion', 'Ni2+', '--fix', 'Dq=0.1', '--bounds', 'Dq=0:0.2'], /both fixed .* and bounded/);
    fail([meas, '--ion', 'Ni2+', '--fix', PARAM_NAMES.map((k) => `${k}=${PARAM_RANGES[k][0]}`).join(',')], /nothing to fit/);
    fail([meas, '--ion', 'Ni2+', '--starts', '0'], /--starts/);
    fail([meas, '--ion', 'Ni2+', '--preedge', 'maybe'], /--preedge maybe: expected auto, on or off/);
    fail([meas, '--ion', 'Ni2+', '--edge-step', 'yes'], /--edge-step yes: expected auto, on or off/);
    const out = join(dir, 'exists.fit.h5');
    expect(runCli(['fit', meas, '--ion', 'Ni2+', '--shift', '0', '--workers', '0', '--out', out]).code).toBe(0);
    fail([meas, '--ion', 'Ni2+', '--shift', '0', '--out', out], /exists; use --force/);
  });

  it('Ctrl-C during the fit leaves no output and no temporary file', async () => {
    const sub = tempDir('xasmap-fit-int-');
    const big = join(sub, 'big.h5');
    writeStack(big, 'Ni2+', 8, 8, randomParams(64, 43, { T: 300 }), 0.002, 44);
    const r = await runCliInterrupted(['fit', big, '--ion', 'Ni2+', '--refine', 'all', '--workers', '0'], /refine Ni2\+/, 'SIGINT', 200);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/stopped by SIGINT; nothing was written/);
    expect(readdirSync(sub)).toEqual(['big.h5']);
  });
});
