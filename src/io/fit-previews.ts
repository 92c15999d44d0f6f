/**
 * The PNG previews of `xasmap fit` (thin layer over render-previews.ts):
 *   <stem>.<param>.png   one map per free parameter (fixed ones are constant: no map)
 *   <stem>.se.png        the SE map
 *   <stem>.spectra.png   best / median / worst pixel by SE, measured vs fitted
 */
import { XasmapError } from '../errors.js';
import type { FitMaps } from '../ops/fit-types.js';
import { bestMedianWorst } from '../ops/render-maps.js';
import { PARAM_NAMES, PARAM_UNITS, energyWindow, isIonName, windowAxes } from '../physics/ions.js';
import { type Series, linePlot } from './plot-svg.js';
import { svgToPng } from './png.js';
import { type MapGeometry, writeMapPng } from './render-previews.js';

export { fitOutputs } from './fit-file.js';

const P = PARAM_NAMES.length;

/**
 * The PNG names writeFitPngs may write for these free parameters, in its order (the spectra PNG
 * is skipped when no pixel has an SE). For checking them before a long fit (assertWritable).
 */
export function fitPngPaths(stem: string, free: readonly boolean[]): string[] {
  const out = PARAM_NAMES.filter((_, k) => free[k] === true).map((name) => `${stem}.${name}.png`);
  out.push(`${stem}.se.png`, `${stem}.spectra.png`);
  return out;
}

function cbarLabel(k: number): string {
  const name = PARAM_NAMES[k] as (typeof PARAM_NAMES)[number];
  const u = PARAM_UNITS[name];
  return u === '1' ? `${name} (dimensionless)` : `${name} (${u})`;
}

/**
 * Writes the previews of a fit (see the module comment) and returns the files written.
 * `energy` is the model grid (channels absolute eV); default: the ion's window.
 */
export async function writeFitPngs(
  stem: string,
  maps: FitMaps,
  g: MapGeometry,
  opts: { ion: string; free: readonly boolean[]; energy?: ArrayLike<number> },
): Promise<string[]> {
  const n = g.ny * g.nx;
  if (maps.n !== n) throw new XasmapError('INTERNAL', `writeFitPngs: maps have ${maps.n} pixels, geometry ${g.ny} x ${g.nx}`, 1);
  if (opts.free.length !== P) throw new XasmapError('INTERNAL', `writeFitPngs: free needs ${P} values`, 1);
  const written: string[] = [];

  for (let k = 0; k < P; k++) {
    if (opts.free[k] !== true) continue;
    const name = PARAM_NAMES[k] as string;
    const plane = new Float32Array(n);
    for (let i = 0; i < n; i++) plane[i] = maps.params[i * P + k] as number;
    const path = `${stem}.${name}.png`;
    await writeMapPng(path, plane, g, { title: `Fitted ${name}, ${opts.ion}`, cbarLabel: cbarLabel(k), nanLabel: 'not fitted' });
    written.push(path);
  }

  const sePath = `${stem}.se.png`;
  await writeMapPng(sePath, maps.se, g, { title: `SE of the fit, ${opts.ion}`, cbarLabel: 'SE (%)', colormap: 'magma', nanLabel: 'not fitted' });
  written.push(sePath);

  const pick = bestMedianWorst(maps.se);
  if (pick) {
    const c = maps.channels;
    let energy = opts.energy;
    if (energy === undefined) {
      if (!isIonName(opts.ion)) throw new XasmapError('INTERNAL', `writeFitPngs: unknown ion ${opts.ion} and no energy axis`, 1);
      energy = windowAxes(energyWindow(opts.ion)).energy;
    }
    if (energy.length !== c) throw new XasmapError('INTERNAL', `writeFitPngs: energy has ${energy.length} values, maps ${c} channels`, 1);
    const colors = ['#2ca02c', '#1f77b4', '#d62728'];
    const series: Series[] = [];
    const shown = new Map<number, string[]>();
    for (const which of ['best', 'median', 'worst'] as const) {
      const p = pick[which];
      const names = shown.get(p);
      if (names) names.push(which);
      else shown.set(p, [which]);
    }
    [...shown.entries()].forEach(([p, names], k) => {
      const color = colors[k] as string;
      const label = `${names.join('/')} (y=${Math.floor(p / g.nx)}, x=${p % g.nx})`;
      const se = maps.se[p] as number;
      series.push({ x: energy, y: maps.measured.subarray(p * c, (p + 1) * c), label: `${label} measured`, color, dash: '5 3' });
      series.push({ x: energy, y: maps.fitted.subarray(p * c, (p + 1) * c), label: `${label} fitted, SE ${se.toFixed(2)} %`, color });
    });
    const spPath = `${stem}.spectra.png`;
    const svg = linePlot({
      series,
      title: `Best, median and worst pixel by SE, ${opts.ion}`,
      xlabel: 'Photon energy (eV)',
      ylabel: 'Normalised intensity',
      legend: true,
      width: 900,
      height: 520,
    });
    await svgToPng(svg, spPath);
    written.push(spPath);
  }
  return written;
}
