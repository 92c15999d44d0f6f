/** `xasmap simulate`: the stable CLI contract, end to end through bin/xasmap.js. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ION_NAMES } from '../src/physics/ions.js';
import { simulate } from '../src/physics/spectrum.js';
import { runCli, tempDir } from './cli-helpers.js';

const good = { Dq: 0.12, Ds: 0.05, Dt: 0.01, S1: 0.8, S2: 0.8, T: 300, sigmaG: 0.1, Gamma1: 0.4, Gamma2: 0.6 };
const dir = tempDir();
const write = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('xasmap simulate', () => {
  it('writes the JSON contract: ion, w, energy, spectra, raw, sticks; equal to the library (1e-12)', () => {
    const f = write('two.json', JSON.stringify([good, { ...good, Dq: 0.05, T: 10 }]));
    const r = runCli(['simulate', '--ion', 'Ni2+', '--params', f, '--sticks']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out).sort()).toEqual(['energy', 'ion', 'raw', 'spectra', 'sticks', 'w']);
    expect(out.ion).toBe('Ni2+');
    expect(out.w).toHaveLength(501);
    expect(out.energy).toHaveLength(501);
    expect(out.spectra).toHaveLength(2);
    // window: w0 = -zeta2p/2 - 5, energy = w + zeta2p/2 + E_L3 (Ni: zeta2p 11.507, L3 852.7)
    expect(out.w[0]).toBeCloseTo(-11.507 / 2 - 5, 9);
    expect(out.energy[0]).toBeCloseTo(852.7 - 5, 9);
    expect(out.energy[500] - out.energy[0]).toBeCloseTo(30, 9);
    const lib = simulate('Ni2+', { ...good, Dq: 0.05, T: 10 });
    out.spectra[1].forEach((v: number, i: number) => expect(Math.abs(v - lib.spectrum[i]!)).toBeLessThan(1e-12));
    out.raw[1].forEach((v: number, i: number) => expect(Math.abs(v - lib.raw[i]!)).toBeLessThan(1e-12));
    expect(Math.min(...out.spectra[0])).toBe(0);
    expect(Math.max(...out.spectra[0])).toBe(1);
    // sticks sorted by w, intensities sum to the isotropic sum rule 2(10-n)/15 = 4/15 for d8
    const sticks: [number, number][] = out.sticks[0];
    const sum = sticks.reduce((t, s) => t + s[1], 0);
    expect(sum).toBeCloseTo(4 / 15, 10);
    for (let i = 1; i < sticks.length; i++) expect(sticks[i]![0]).toBeGreaterThanOrEqual(sticks[i - 1]![0]);
  });

  it('one object gives one spectrum; --out writes atomically and refuses to overwrite without --force', () => {
    const f = write('one.json', JSON.stringify(good));
    const outFile = join(dir, 'out.json');
    expect(runCli(['simulate', '--ion', 'ni2+', '--params', f, '--out', outFile]).code).toBe(0);
    expect(JSON.parse(readFileSync(outFile, 'utf8')).spectra).toHaveLength(1);
    const again = runCli(['simulate', '--ion', 'Ni2+', '--params', f, '--out', outFile]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/exists.*--force/);
    expect(runCli(['simulate', '--ion', 'Ni2+', '--params', f, '--out', outFile, '--force']).code).toBe(0);
  });

  it('warns on stderr for parameters outside the training ranges and still computes', () => {
    const f = write('far.json', JSON.stringify({ ...good, Dq: 0.35, T: 2000 }));
    const r = runCli(['simulate', '--ion', 'Ni2+', '--params', f]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/case 0, field 'Dq' = 0.35 eV is outside the training range/);
    expect(r.stderr).toMatch(/field 'T' = 2000 K/);
    expect(JSON.parse(r.stdout).spectra).toHaveLength(1);
  });

  const bad: [string, string, RegExp][] = [
    ['unreadable JSON', '{"Dq": 0.1,', /not valid JSON/],
    ['missing field', JSON.stringify([good, { ...good, Gamma2: undefined }]), /case 1: missing field 'Gamma2'/],
    ['extra field', JSON.stringify({ ...good, Dx: 1 }), /case 0: unknown field 'Dx'/],
    ['non-numeric field', JSON.stringify({ ...good, S1: '0.8' }), /case 0, field 'S1': "0.8" is not a finite number/],
    ['NaN', JSON.stringify({ ...good }).replace('"T":300', '"T":NaN'), /case 0, field 'T': NaN is not a finite number/],
    ['Infinity', JSON.stringify({ ...good }).replace('"Dq":0.12', '"Dq":-Infinity'), /field 'Dq': -Infinity/],
    ['T <= 0', JSON.stringify({ ...good, T: 0 }), /field 'T': 0 K must be > 0/],
    ['width <= 0', JSON.stringify([good, good, { ...good, sigmaG: -0.1 }]), /case 2, field 'sigmaG'/],
    ['Gamma1 = 0', JSON.stringify({ ...good, Gamma1: 0 }), /field 'Gamma1'/],
    ['empty array', '[]', /holds no parameter sets/],
    ['not an object', '[1]', /case 0: expected an object/],
  ];
  it.each(bad)('bad input (%s): one clear line, exit code 2, nothing written', (_name, text, pattern) => {
    const f = write(`bad-${_name.replace(/\W/g, '_')}.json`, text);
    const outFile = join(dir, `bad-${_name.replace(/\W/g, '_')}.out.json`);
    const r = runCli(['simulate', '--ion', 'Ni2+', '--params', f, '--out', outFile]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toBe('');
    expect(existsSync(outFile)).toBe(false);
  });

  it('unknown ion lists the 22 ions; a missing file names it', () => {
    const f = write('ok.json', JSON.stringify(good));
    const r = runCli(['simulate', '--ion', 'Cu2+', '--params', f]);
    expect(r.code).toBe(2);
    for (const ion of ION_NAMES) expect(r.stderr).toContain(ion);
    const m = runCli(['simulate', '--ion', 'Ni2+', '--params', join(dir, 'nope.json')]);
    expect(m.code).toBe(2);
    expect(m.stderr).toMatch(/nope\.json: cannot read parameter file \(ENOENT\)/);
    expect(runCli(['simulate', '--ion', 'Ni2+']).code).toBe(2);
  });
});
