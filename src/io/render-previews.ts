/** The PNG previews of `xasmap render` and `xasmap serve` (thin layer over plot-svg.ts and png.ts). */
import { bestMedianWorst } from '../ops/render-maps.js';
import { composeHeatmapPng, rgbaToPng, svgToPng } from './png.js';
import { type Series, linePlot, percentileRange } from './plot-svg.js';

export interface MapGeometry {
  ny: number;
  nx: number;
  pixelSize?: number;
  pixelUnit?: string;
}

function scaleOpts(g: MapGeometry): { pixelSize?: number; pixelUnit?: string; scaleBar: boolean; axes: boolean } {
  return g.pixelSize !== undefined
    ? { pixelSize: g.pixelSize, pixelUnit: g.pixelUnit ?? 'µm', scaleBar: true, axes: true }
    : { scaleBar: false, axes: true };
}

export async function writeMapPng(
  path: string,
  data: Float32Array,
  g: MapGeometry,
  o: { title: string; cbarLabel: string; colormap?: 'viridis' | 'magma'; nanLabel?: string },
): Promise<void> {
  await composeHeatmapPng({
    path,
    data,
    ny: g.ny,
    nx: g.nx,
    title: o.title,
    cbarLabel: o.cbarLabel,
    colormap: o.colormap ?? 'viridis',
    nanLabel: o.nanLabel ?? 'not computed',
    ...scaleOpts(g),
  });
}

/** RGB composite: three (ny*nx) planes, each stretched between its 2nd and 98th percentile; NaN black. */
export async function writeRgbPng(path: string, rgb: Float32Array, g: MapGeometry): Promise<void> {
  const N = g.ny * g.nx;
  const out = new Uint8ClampedArray(N * 4);
  for (let k = 0; k < 3; k++) {
    const plane = rgb.subarray(k * N, (k + 1) * N);
    const r = percentileRange(plane, 2, 98) ?? [0, 1];
    const span = r[1] - r[0] > 0 ? r[1] - r[0] : 1;
    for (let i = 0; i < N; i++) {
      const v = plane[i] as number;
      out[4 * i + k] = Number.isFinite(v) ? Math.round((255 * (v - r[0])) / span) : 0;
    }
  }
  for (let i = 0; i < N; i++) out[4 * i + 3] = 255;
  const scale = Math.max(1, Math.min(16, Math.floor(512 / Math.max(g.ny, g.nx))));
  await rgbaToPng(out, g.nx, g.ny, path, { scale });
}

export async function writeSpectraPng(path: string, title: string, series: Series[]): Promise<void> {
  const svg = linePlot({
    series,
    title,
    xlabel: 'Photon energy (eV)',
    ylabel: 'Intensity (box-normalised)',
    legend: true,
    width: 900,
    height: 520,
  });
  await svgToPng(svg, path);
}

export type PreviewName = 'se' | 'l3peak' | 'rgb' | 'spectra';

/** The pixels shown in the spectra preview: best/median/worst by SE, else the first computed ones. */
export interface PreviewPick {
  pick: { best: number; median: number; worst: number } | null;
  /** flat pixel indices (y * nx + x) whose predicted spectra the plot needs */
  shown: number[];
}

/** Chooses the spectra-preview pixels from the SE map (or, without SE, the first with an L3 peak). */
export function previewPixels(seMap: Float32Array, l3Peak: Float32Array): PreviewPick {
  const pick = bestMedianWorst(seMap);
  const shown: number[] = [];
  if (pick) shown.push(pick.best, pick.median, pick.worst);
  else for (let p = 0; p < l3Peak.length && shown.length < 3; p++) if (!Number.isNaN(l3Peak[p] as number)) shown.push(p);
  return { pick, shown };
}

export interface RenderPreviewInput {
  ion: string;
  geom: MapGeometry;
  energy: ArrayLike<number>;
  seMap: Float32Array;
  seTitle: string;
  l3Peak: Float32Array;
  /** 3 x (ny*nx) */
  rgb: Float32Array;
  pick: PreviewPick;
  /** predicted spectrum of each pixel of pick.shown */
  predicted: ReadonlyMap<number, ArrayLike<number>>;
  /** the reference (measured or simulated) spectrum of a best/median/worst pixel, or null */
  reference: (pixel: number) => { y: ArrayLike<number>; label: string } | null;
}

/**
 * The four PNG previews of `xasmap render` (also written by `xasmap serve` on `end`): SE map,
 * L3 peak map, RGB composite and the best/median/worst spectra. Returns the names written
 * (the spectra plot is skipped when no pixel was computed).
 */
export async function writeRenderPreviews(paths: Record<PreviewName, string>, d: RenderPreviewInput): Promise<PreviewName[]> {
  const { ion, geom, energy, seMap } = d;
  const nx = geom.nx;
  const written: PreviewName[] = ['se', 'l3peak', 'rgb'];
  await writeMapPng(paths.se, seMap, geom, { title: d.seTitle, cbarLabel: 'SE (%)', colormap: 'magma', nanLabel: 'no SE' });
  await writeMapPng(paths.l3peak, d.l3Peak, geom, { title: `L3 peak energy, ${ion}`, cbarLabel: 'L3 peak (eV)' });
  await writeRgbPng(paths.rgb, d.rgb, geom);
  const series: Series[] = [];
  const colors = ['#2ca02c', '#1f77b4', '#d62728'];
  const { pick, shown } = d.pick;
  if (pick) {
    (['best', 'median', 'worst'] as const).forEach((which, k) => {
      const pixel = pick[which];
      const y = Math.floor(pixel / nx);
      const x = pixel % nx;
      const color = colors[k] as string;
      const se = seMap[pixel] as number;
      const pred = d.predicted.get(pixel);
      if (pred) series.push({ x: energy, y: pred, label: `${which} (y=${y}, x=${x}) model, SE ${se.toFixed(2)} %`, color });
      const ref = d.reference(pixel);
      if (ref) series.push({ x: energy, y: ref.y, label: `${which} ${ref.label}`, color, dash: '5 3' });
    });
  } else {
    // no reference: show the first computed pixels' predictions
    shown.forEach((p, k) => {
      const pred = d.predicted.get(p);
      if (pred) series.push({ x: energy, y: pred, label: `pixel y=${Math.floor(p / nx)}, x=${p % nx} (model)`, color: colors[k] as string });
    });
  }
  if (series.length > 0) {
    await writeSpectraPng(paths.spectra, pick ? `Best, median and worst pixel by SE, ${ion}` : `Predicted spectra, ${ion} (no reference)`, series);
    written.push('spectra');
  }
  return written;
}
