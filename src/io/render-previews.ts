/** The PNG previews of `xasmap render` (thin layer over plot-svg.ts and png.ts). */
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
