// The fit figures of README.md ("Accuracy today") and docs/fit.md: fits examples/measured.h5
// (simulator spectra with noise) with a Ni2+ network exactly as the README's command does
// (`--shift auto` by default) and compares the fitted Dq with examples/params.h5, the map the
// spectra were simulated from. Prints the median SE (%), the median |Dq error| (eV) and the
// shift found (the truth is 0). About 4 minutes on 2 cores. Never run in CI.
//
//   node scripts/fit-figures.mjs [MODEL_DIR]     default: the shipped models/Ni2+
import h5wasm from 'h5wasm/node';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const modelArg = process.argv[2] ? ['--model', resolve(process.argv[2])] : [];
process.chdir(fileURLToPath(new URL('..', import.meta.url)));
await h5wasm.ready;
const dir = mkdtempSync(join(tmpdir(), 'fit-figures-'));
try {
  const out = join(dir, 'fit.h5');
  // SE and shift as the fit itself reports them (its --json summary); only the Dq error needs the maps
  const summary = JSON.parse(execFileSync('node', ['bin/xasmap.js', 'fit', 'examples/measured.h5', '--ion', 'Ni2+', ...modelArg, '--out', out, '--json'], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' }));
  const fit = new h5wasm.File(out, 'r');
  const truth = new h5wasm.File('examples/params.h5', 'r');
  const median = (a) => { const s = Array.from(a).filter(Number.isFinite).sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
  const dq = fit.get('entry/maps/Dq').value;
  const dqTrue = truth.get('params/Dq').value;
  const dqErr = median(Array.from(dq, (v, i) => Math.abs(v - dqTrue[i])));
  console.log(`median SE ${summary.se.median.toFixed(2)} %, median |Dq error| ${dqErr.toFixed(3)} eV, --shift auto ${summary.shift.toFixed(2)} eV (truth 0)`);
  fit.close(); truth.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
