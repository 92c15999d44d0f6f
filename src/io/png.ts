/**
 * PNG output: a thin wrapper over sharp (libvips + librsvg). No sharp type appears in this API.
 * Every writer renders to memory first, then writes `<path>.<pid>.<random>.tmp` and renames it over
 * `path`, so a failure never leaves a partial file under the final name. Existing files are
 * overwritten: refusing them (assertWritable in ./atomic-write.ts) is the caller's decision.
 */
import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import sharp, { type OverlayOptions, type Sharp } from 'sharp';
import { XasmapError } from '../errors.js';
import { type HeatmapLayout, type HeatmapOptions, colormapRGBA, heatmapParts } from './plot-svg.js';

async function writeAtomic(path: string, data: Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    const err = e as NodeJS.ErrnoException;
    throw new XasmapError('OUTPUT_UNWRITABLE', `${path}: cannot write (${err.code ?? err.message})`);
  }
}

function renderFailed(path: string, e: unknown): XasmapError {
  if (e instanceof XasmapError) return e;
  return new XasmapError('PLOT_RENDER_FAILED', `${path}: cannot render the image (${(e as Error).message})`);
}

function checkScale(scale: number | undefined, integer: boolean): number {
  const s = scale ?? 1;
  if (!Number.isFinite(s) || s <= 0 || s > 16 || (integer && !Number.isInteger(s))) {
    throw new XasmapError('BAD_PLOT_OPTIONS', `scale must be ${integer ? 'an integer' : 'a number'} in (0, 16] (got ${scale})`);
  }
  return s;
}

function svgInput(svg: string, scale: number): Sharp {
  // our own SVGs can be large (many <rect>s): lift librsvg's size guard
  return sharp(Buffer.from(svg, 'utf8'), { density: 72 * scale, unlimited: true });
}

export interface SvgToPngOptions {
  /** Pixels per SVG unit (default 1: the PNG has the SVG's width x height); 2 gives a hi-DPI PNG. */
  scale?: number;
}

/** Rasterise an SVG string to a PNG file (atomically). */
export async function svgToPng(svg: string, path: string, opts: SvgToPngOptions = {}): Promise<void> {
  const scale = checkScale(opts.scale, false);
  let png: Buffer;
  try {
    png = await svgInput(svg, scale).png().toBuffer();
  } catch (e) {
    throw renderFailed(path, e);
  }
  await writeAtomic(path, png);
}

function rawImage(rgba: Uint8Array | Uint8ClampedArray, width: number, height: number): Sharp {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new XasmapError('BAD_PLOT_OPTIONS', `image size must be positive integers (got ${width} x ${height})`);
  }
  if (rgba.length !== width * height * 4) {
    throw new XasmapError('BAD_PLOT_OPTIONS', `RGBA data has ${rgba.length} bytes, expected ${width}*${height}*4 = ${width * height * 4}`);
  }
  const buf = Buffer.from(rgba.buffer, rgba.byteOffset, rgba.byteLength);
  return sharp(buf, { raw: { width, height, channels: 4 } });
}

export interface RgbaToPngOptions {
  /** Integer upscaling by nearest neighbour (default 1). */
  scale?: number;
}

/** Write RGBA bytes (row-major, 4 per pixel, row 0 at the top) as a PNG file (atomically). */
export async function rgbaToPng(
  rgba: Uint8Array | Uint8ClampedArray,
  width: number,
  height: number,
  path: string,
  opts: RgbaToPngOptions = {},
): Promise<void> {
  const scale = checkScale(opts.scale, true);
  let png: Buffer;
  try {
    let img = rawImage(rgba, width, height);
    if (scale !== 1) img = img.resize(width * scale, height * scale, { kernel: 'nearest' });
    png = await img.png().toBuffer();
  } catch (e) {
    throw renderFailed(path, e);
  }
  await writeAtomic(path, png);
}

export interface ComposeHeatmapOptions extends Omit<HeatmapOptions, 'image'> {
  path: string;
  /** Integer pixels per SVG unit for a hi-DPI PNG (default 1). */
  scale?: number;
}

/**
 * Heatmap PNG for maps of any size: the frame (axes, colour bar, labels, NaN legend) is rendered
 * from SVG, the colour-mapped pixels are upscaled by nearest neighbour and composited into the
 * image box, and the overlay (scale bar) is composited on top. Returns the layout (pixel box in
 * SVG units, colour range used); PNG coordinates are these times `scale`.
 */
export async function composeHeatmapPng(opts: ComposeHeatmapOptions): Promise<HeatmapLayout> {
  const { path, scale: scaleOpt, ...heat } = opts;
  const scale = checkScale(scaleOpt, true);
  const parts = heatmapParts({ ...heat, image: 'none' });
  const { layout } = parts;
  const { box } = layout;
  let png: Buffer;
  try {
    const rgba = colormapRGBA(heat.data, heat.ny, heat.nx, {
      colormap: heat.colormap,
      vmin: layout.vmin,
      vmax: layout.vmax,
      nanColor: heat.nanColor,
    });
    const pixels = await rawImage(rgba, heat.nx, heat.ny)
      .resize(box.width * scale, box.height * scale, { kernel: 'nearest', fit: 'fill' })
      .png({ compressionLevel: 0 })
      .toBuffer();
    const layers: OverlayOptions[] = [{ input: pixels, left: box.left * scale, top: box.top * scale }];
    if (parts.overlaySvg !== null) {
      layers.push({ input: Buffer.from(parts.overlaySvg, 'utf8'), left: 0, top: 0, density: 72 * scale });
    }
    png = await svgInput(parts.frameSvg, scale).composite(layers).png().toBuffer();
  } catch (e) {
    throw renderFailed(path, e);
  }
  await writeAtomic(path, png);
  return layout;
}
