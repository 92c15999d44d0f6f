/**
 * Dependency-free plotting layer: line plots and heatmaps as SVG strings.
 *
 * Everything here is pure (no I/O, no globals, deterministic output), so it is unit-testable
 * and usable in a browser. Rasterising to PNG lives in ./png.ts (sharp).
 *
 * Heatmap pixels. A map can be emitted in three ways (`HeatmapOptions.image`):
 *  - 'rects' (default): the image as <rect>s, one per run of equal colour in a row, scaled by a
 *    transform with shape-rendering="crispEdges". Exact and self-contained, but the SVG grows with
 *    the number of runs, so it is refused above RECTS_MAX_PIXELS pixels.
 *  - { href }: an already-encoded image (PNG data URI) supplied by the caller, drawn unsmoothed.
 *  - 'none': only the frame (axes, colour bar, labels, NaN legend). heatmapParts() returns this
 *    frame, the on-top overlay (scale bar) and the pixel box separately: png.ts' composeHeatmapPng
 *    renders the frame, composites the colormapRGBA() bytes (nearest-neighbour upscaled) into the
 *    box and the overlay on top. That path is the one for large (e.g. 1000x1000) maps.
 *
 * Non-finite data never reach the SVG: line plots break the line at NaN/±Infinity (and at y <= 0
 * on a log axis); heatmaps draw every non-finite pixel in `nanColor`, listed in a legend entry.
 */
import { XasmapError } from '../errors.js';

/** Fonts that librsvg finds on a bare Debian (fonts-dejavu-core) first, then common fallbacks. */
export const FONT_FAMILY = 'DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif';

/** Above this many pixels heatmap() refuses image: 'rects' (use composeHeatmapPng or an href). */
export const RECTS_MAX_PIXELS = 512 * 512;

/** matplotlib's default colour cycle ('tab10'). */
export const DEFAULT_COLORS: readonly string[] = [
  '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd',
  '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf',
];

const GRID_COLOR = '#e0e0e0';
const AXIS_COLOR = '#000000';
const TICK_LEN = 5;
const FS_TICK = 12;
const FS_LABEL = 14;
const FS_TITLE = 16;
const FS_LEGEND = 12;

// ---------------------------------------------------------------------------------------------
// errors, escaping, number output

function bad(message: string): never {
  throw new XasmapError('BAD_PLOT_OPTIONS', message);
}

/** XML-escape text and attribute values; drops characters that XML 1.0 forbids. */
export function escapeXml(s: string): string {
  return String(s)
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** Coordinate output: 2 decimals, clamped far outside the canvas; never 'NaN'. */
function n(v: number): string {
  if (!Number.isFinite(v)) throw new XasmapError('INTERNAL', `plot-svg: non-finite coordinate ${v}`);
  const c = Math.max(-1e6, Math.min(1e6, v));
  const r = Math.round(c * 100) / 100;
  return Object.is(r, -0) ? '0' : String(r);
}

function checkSize(name: string, v: number | undefined, def: number): number {
  if (v === undefined) return def;
  if (!Number.isFinite(v) || v < 50 || v > 20000) bad(`${name} must be a number of pixels between 50 and 20000 (got ${v})`);
  return Math.round(v);
}

/** Rough advance width of `s` in DejaVu Sans at `fontSize` px (for layout only). */
export function textWidth(s: string, fontSize: number): number {
  let em = 0;
  for (const ch of s) {
    if (/[0-9]/.test(ch)) em += 0.636;
    else if (/[.,:;'|!il]/.test(ch)) em += 0.3;
    else if (ch === ' ') em += 0.318;
    else if (/[A-Z×−µ]/.test(ch) || ch === 'm' || ch === 'w') em += 0.78;
    else if (/[\u2070-\u209f\u00b9\u00b2\u00b3]/.test(ch)) em += 0.4;
    else em += 0.6;
  }
  return em * fontSize;
}

// ---------------------------------------------------------------------------------------------
// ticks

/** Smallest step of the form {1, 2, 5} x 10^k that is >= `raw`. */
export function niceStep(raw: number): number {
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const f = norm <= 1 + 1e-9 ? 1 : norm <= 2 + 1e-9 ? 2 : norm <= 5 + 1e-9 ? 5 : 10;
  return f * mag;
}

function clean(v: number): number {
  const r = Number(v.toPrecision(12));
  return Object.is(r, -0) ? 0 : r;
}

/**
 * 1-2-5 ticks inside [lo, hi] (inclusive, with a tiny tolerance): the step is the smallest nice
 * step giving at most `target` intervals over the range.
 */
export function niceTicks(lo: number, hi: number, target = 6): { ticks: number[]; step: number } {
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || !(hi > lo)) return { ticks: Number.isFinite(lo) ? [clean(lo)] : [], step: 1 };
  const step = niceStep((hi - lo) / Math.max(1, target));
  const eps = step * 1e-9;
  const k0 = Math.ceil((lo - eps) / step);
  const k1 = Math.floor((hi + eps) / step);
  const ticks: number[] = [];
  for (let k = k0; k <= k1 && ticks.length < 1000; k++) ticks.push(clean(k * step));
  return { ticks, step };
}

const SUP: Record<string, string> = {
  '0': '⁰', '1': '¹', '2': '²', '3': '³', '4': '⁴', '5': '⁵', '6': '⁶', '7': '⁷', '8': '⁸', '9': '⁹', '-': '⁻',
};

function superscript(k: number): string {
  return String(k).split('').map((c) => SUP[c] ?? c).join('');
}

/** Typographic minus for negative numbers. */
function minus(s: string): string {
  return s.startsWith('-') ? `−${s.slice(1)}` : s;
}

/** `m×10ⁿ` with the mantissa rounded to `digits` decimals (trailing zeros removed). */
function sci(v: number, digits: number): string {
  if (v === 0) return '0';
  let e = Math.floor(Math.log10(Math.abs(v)) + 1e-12);
  const dg = Math.max(0, Math.min(10, digits));
  let m = Number((v / 10 ** e).toFixed(dg));
  if (Math.abs(m) >= 10) {
    e += 1;
    m = Number((v / 10 ** e).toFixed(dg));
  }
  return `${minus(String(m))}×10${superscript(e)}`;
}

/**
 * Labels for ticks spaced by `step`: fixed decimals just sufficient for the step (0.2 -> 1 decimal),
 * switching to m×10ⁿ for very large or very small magnitudes. Negative numbers use U+2212.
 */
export function formatTicks(ticks: readonly number[], step: number): string[] {
  const maxAbs = ticks.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  if (maxAbs >= 1e6 || decimals > 4) {
    // one exponent for the whole axis (that of the largest tick): 0.5×10⁻⁴, 1.0×10⁻⁴, 1.5×10⁻⁴
    const e = Math.floor(Math.log10(maxAbs) + 1e-12);
    const d = Math.max(0, -Math.floor(Math.log10(step / 10 ** e) + 1e-9));
    return ticks.map((v) => (v === 0 ? '0' : `${minus((v / 10 ** e).toFixed(d))}×10${superscript(e)}`));
  }
  return ticks.map((v) => minus((Object.is(v, -0) ? 0 : v).toFixed(decimals)).replace(/^−(0\.?0*)$/, '$1'));
}

/** One number in a human format (scale bar lengths, legend values). */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-4) return sci(v, 3);
  return minus(String(Number(v.toPrecision(6))));
}

/**
 * Ticks for a log axis over [lo, hi] (lo > 0): decades (thinned to at most `target`), plus 2 and 5
 * when fewer than two decades fall inside, falling back to linear nice ticks for very narrow ranges.
 * `minor` holds the unlabelled 2..9 x 10^k positions when the axis spans few decades.
 */
export function logTicks(lo: number, hi: number, target = 6): { ticks: number[]; labels: string[]; minor: number[] } {
  if (!(lo > 0) || !(hi > lo) || !Number.isFinite(hi)) return { ticks: [], labels: [], minor: [] };
  const d0 = Math.floor(Math.log10(lo));
  const d1 = Math.ceil(Math.log10(hi));
  const inside = (v: number): boolean => v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9);
  const decades: number[] = [];
  for (let k = d0; k <= d1; k++) decades.push(k);
  const minor: number[] = [];
  if (d1 - d0 <= 8) {
    for (const k of decades) for (let m = 2; m <= 9; m++) {
      const v = clean(m * 10 ** k);
      if (inside(v)) minor.push(v);
    }
  }
  let major = decades.filter((k) => inside(10 ** k));
  if (major.length >= 2) {
    const every = Math.max(1, Math.ceil(major.length / Math.max(2, target)));
    major = major.filter((k) => k % every === 0);
    const ticks = major.map((k) => clean(10 ** k));
    return { ticks, labels: major.map((k) => `10${superscript(k)}`), minor };
  }
  const ticks: number[] = [];
  for (const k of decades) for (const m of [1, 2, 5]) {
    const v = clean(m * 10 ** k);
    if (inside(v)) ticks.push(v);
  }
  if (ticks.length >= 2) {
    return { ticks, labels: ticks.map((v) => formatNumber(v)), minor: minor.filter((v) => !ticks.includes(v)) };
  }
  const lin = niceTicks(lo, hi, target);
  return { ticks: lin.ticks, labels: formatTicks(lin.ticks, lin.step), minor: [] };
}

// ---------------------------------------------------------------------------------------------
// colours and colormaps

export type ColormapName = 'viridis' | 'magma' | 'gray';
/** '#rgb', '#rrggbb', '#rrggbbaa', a few names, or [r, g, b, a?] in 0..255. */
export type ColorSpec = string | readonly [number, number, number] | readonly [number, number, number, number];

// 256-entry tables (8-bit RGB, index 0 = low end) of matplotlib's viridis and magma
// (Smith & van der Walt, CC0).
const VIRIDIS_HEX =
  '44015444025645045745055946075a46085c460a5d460b5e470d60470e61471063471164471365481467481668481769' +
  '48186a481a6c481b6d481c6e481d6f481f70482071482173482374482475482576482677482878482979472a7a472c7a' +
  '472d7b472e7c472f7d46307e46327e46337f463480453581453781453882443983443a83443b84433d84433e85423f85' +
  '4240864241864142874144874045884046883f47883f48893e49893e4a893e4c8a3d4d8a3d4e8a3c4f8a3c508b3b518b' +
  '3b528b3a538b3a548c39558c39568c38588c38598c375a8c375b8d365c8d365d8d355e8d355f8d34608d34618d33628d' +
  '33638d32648e32658e31668e31678e31688e30698e306a8e2f6b8e2f6c8e2e6d8e2e6e8e2e6f8e2d708e2d718e2c718e' +
  '2c728e2c738e2b748e2b758e2a768e2a778e2a788e29798e297a8e297b8e287c8e287d8e277e8e277f8e27808e26818e' +
  '26828e26828e25838e25848e25858e24868e24878e23888e23898e238a8d228b8d228c8d228d8d218e8d218f8d21908d' +
  '21918c20928c20928c20938c1f948c1f958b1f968b1f978b1f988b1f998a1f9a8a1e9b8a1e9c891e9d891f9e891f9f88' +
  '1fa0881fa1881fa1871fa28720a38620a48621a58521a68522a78522a88423a98324aa8325ab8225ac8226ad8127ad81' +
  '28ae8029af7f2ab07f2cb17e2db27d2eb37c2fb47c31b57b32b67a34b67935b77937b87838b9773aba763bbb753dbc74' +
  '3fbc7340bd7242be7144bf7046c06f48c16e4ac16d4cc26c4ec36b50c46a52c56954c56856c66758c7655ac8645cc863' +
  '5ec96260ca6063cb5f65cb5e67cc5c69cd5b6ccd5a6ece5870cf5773d05675d05477d1537ad1517cd2507fd34e81d34d' +
  '84d44b86d54989d5488bd6468ed64590d74393d74195d84098d83e9bd93c9dd93ba0da39a2da37a5db36a8db34aadc32' +
  'addc30b0dd2fb2dd2db5de2bb8de29bade28bddf26c0df25c2df23c5e021c8e020cae11fcde11dd0e11cd2e21bd5e21a' +
  'd8e219dae319dde318dfe318e2e418e5e419e7e419eae51aece51befe51cf1e51df4e61ef6e620f8e621fbe723fde725';
const MAGMA_HEX =
  '00000401000501010601010802010902020b02020d03030f03031204041405041606051806051a07061c08071e090720' +
  '0a08220b09240c09260d0a290e0b2b100b2d110c2f120d31130d34140e36150e38160f3b180f3d19103f1a10421c1044' +
  '1d11471e114920114b21114e22115024125325125527125829115a2a115c2c115f2d11612f1163311165331067341069' +
  '36106b38106c390f6e3b0f703d0f713f0f72400f74420f75440f764510774710784910784a10794c117a4e117b4f127b' +
  '51127c52137c54137d56147d57157e59157e5a167e5c167f5d177f5f187f601880621980641a80651a80671b80681c81' +
  '6a1c816b1d816d1d816e1e81701f81721f817320817521817621817822817922827b23827c23827e2482802582812581' +
  '8326818426818627818827818928818b29818c29818e2a81902a81912b81932b80942c80962c80982d80992d809b2e7f' +
  '9c2e7f9e2f7fa02f7fa1307ea3307ea5317ea6317da8327daa337dab337cad347cae347bb0357bb2357bb3367ab5367a' +
  'b73779b83779ba3878bc3978bd3977bf3a77c03a76c23b75c43c75c53c74c73d73c83e73ca3e72cc3f71cd4071cf4070' +
  'd0416fd2426fd3436ed5446dd6456cd8456cd9466bdb476adc4869de4968df4a68e04c67e24d66e34e65e44f64e55064' +
  'e75263e85362e95462ea5661eb5760ec5860ed5a5fee5b5eef5d5ef05f5ef1605df2625df2645cf3655cf4675cf4695c' +
  'f56b5cf66c5cf66e5cf7705cf7725cf8745cf8765cf9785df9795df97b5dfa7d5efa7f5efa815ffb835ffb8560fb8761' +
  'fc8961fc8a62fc8c63fc8e64fc9065fd9266fd9467fd9668fd9869fd9a6afd9b6bfe9d6cfe9f6dfea16efea36ffea571' +
  'fea772fea973feaa74feac76feae77feb078feb27afeb47bfeb67cfeb77efeb97ffebb81febd82febf84fec185fec287' +
  'fec488fec68afec88cfeca8dfecc8ffecd90fecf92fed194fed395fed597fed799fed89afdda9cfddc9efddea0fde0a1' +
  'fde2a3fde3a5fde5a7fde7a9fde9aafdebacfcecaefceeb0fcf0b2fcf2b4fcf4b6fcf6b8fcf7b9fcf9bbfcfbbdfcfdbf';

const LUTS = new Map<ColormapName, Uint8Array>();

function decodeTable(hex: string): Uint8Array {
  const out = new Uint8Array(768);
  for (let i = 0; i < 768; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function lut(name: ColormapName): Uint8Array {
  let t = LUTS.get(name);
  if (t === undefined) {
    if (name === 'viridis') t = decodeTable(VIRIDIS_HEX);
    else if (name === 'magma') t = decodeTable(MAGMA_HEX);
    else if (name === 'gray') {
      t = new Uint8Array(768);
      for (let i = 0; i < 256; i++) t[3 * i] = t[3 * i + 1] = t[3 * i + 2] = i;
    } else bad(`unknown colormap '${String(name)}' (viridis, magma, gray)`);
    LUTS.set(name, t);
  }
  return t;
}

/** A copy of the 256-entry RGB table (768 bytes: r0 g0 b0 r1 ...). */
export function colormapLUT(name: ColormapName): Uint8Array {
  return lut(name).slice();
}

function hex2(v: number): string {
  return Math.round(Math.max(0, Math.min(255, v))).toString(16).padStart(2, '0');
}

/** '#rrggbb' of the colormap at t in [0, 1] (clamped; nearest of the 256 entries). */
export function colormapHex(name: ColormapName, t: number): string {
  const table = lut(name);
  const i = Math.round(Math.max(0, Math.min(1, Number.isFinite(t) ? t : 0)) * 255) * 3;
  return `#${hex2(table[i] ?? 0)}${hex2(table[i + 1] ?? 0)}${hex2(table[i + 2] ?? 0)}`;
}

const NAMED: Record<string, readonly [number, number, number, number]> = {
  white: [255, 255, 255, 255],
  black: [0, 0, 0, 255],
  lightgray: [211, 211, 211, 255],
  lightgrey: [211, 211, 211, 255],
  gray: [128, 128, 128, 255],
  grey: [128, 128, 128, 255],
  transparent: [0, 0, 0, 0],
};

/** Parse a ColorSpec to RGBA bytes. */
export function parseColor(c: ColorSpec): [number, number, number, number] {
  if (typeof c !== 'string') {
    const [r, g, b, a = 255] = c;
    const out: [number, number, number, number] = [r, g, b, a];
    if (!out.every((v) => Number.isFinite(v) && v >= 0 && v <= 255)) bad(`colour [${c.join(', ')}] needs values in 0..255`);
    return out.map(Math.round) as [number, number, number, number];
  }
  const s = c.trim().toLowerCase();
  const named = NAMED[s];
  if (named) return [...named];
  let m = /^#([0-9a-f])([0-9a-f])([0-9a-f])$/.exec(s);
  if (m) return [m[1], m[2], m[3]].map((h) => parseInt(`${h}${h}`, 16)).concat(255) as [number, number, number, number];
  m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})?$/.exec(s);
  if (m) return [m[1], m[2], m[3], m[4] ?? 'ff'].map((h) => parseInt(h ?? 'ff', 16)) as [number, number, number, number];
  return bad(`colour '${c}' not understood (use #rrggbb, #rgb, #rrggbbaa or [r, g, b, a])`);
}

function colorAttr(c: [number, number, number, number]): string {
  return `fill="#${hex2(c[0])}${hex2(c[1])}${hex2(c[2])}"${c[3] < 255 ? ` fill-opacity="${n(c[3] / 255)}"` : ''}`;
}

/** NaN colour used when none is given: light grey; light red for 'gray', where grey is data. */
export function defaultNanColor(colormap: ColormapName): string {
  return colormap === 'gray' ? '#f4a6a6' : '#d3d3d3';
}

/**
 * Percentiles (linear interpolation between order statistics, as numpy's default) of the finite
 * values; null when there are none.
 */
export function percentileRange(data: ArrayLike<number>, pLo = 2, pHi = 98): [number, number] | null {
  if (!(pLo >= 0 && pHi <= 100 && pLo <= pHi)) bad(`percentiles must satisfy 0 <= lo <= hi <= 100 (got ${pLo}, ${pHi})`);
  let count = 0;
  for (let i = 0; i < data.length; i++) if (Number.isFinite(data[i])) count++;
  if (count === 0) return null;
  const v = new Float64Array(count);
  let j = 0;
  for (let i = 0; i < data.length; i++) {
    const x = data[i] as number;
    if (Number.isFinite(x)) v[j++] = x;
  }
  v.sort();
  const at = (p: number): number => {
    const pos = (p / 100) * (count - 1);
    const i0 = Math.floor(pos);
    const i1 = Math.min(count - 1, i0 + 1);
    const f = pos - i0;
    return (v[i0] as number) * (1 - f) + (v[i1] as number) * f;
  };
  return [at(pLo), at(pHi)];
}

function minMax(data: ArrayLike<number>): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const x = data[i] as number;
    if (Number.isFinite(x)) {
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
  }
  return lo <= hi ? [lo, hi] : null;
}

/** Widen a degenerate range so that it can be mapped and ticked. */
function widen(lo: number, hi: number): [number, number] {
  if (hi > lo) return [lo, hi];
  const d = lo === 0 ? 0.5 : Math.abs(lo) * 0.05;
  return [lo - d, hi + d];
}

export interface ColorRangeOptions {
  vmin?: number;
  vmax?: number;
  /** How missing vmin/vmax are found: 'percentile' (default, 2nd-98th ignoring NaN) or 'minmax'. */
  autoRange?: 'percentile' | 'minmax';
  percentiles?: readonly [number, number];
}

/** The colour range actually used for `data` (explicit values win; degenerate ranges widened). */
export function colorRange(data: ArrayLike<number>, o: ColorRangeOptions = {}): [number, number] {
  for (const k of ['vmin', 'vmax'] as const) {
    const v = o[k];
    if (v !== undefined && !Number.isFinite(v)) bad(`${k} must be a finite number (got ${v})`);
  }
  let auto: [number, number] | null = null;
  if (o.vmin === undefined || o.vmax === undefined) {
    const mode = o.autoRange ?? 'percentile';
    if (mode === 'percentile') auto = percentileRange(data, o.percentiles?.[0] ?? 2, o.percentiles?.[1] ?? 98);
    else if (mode === 'minmax') auto = minMax(data);
    else bad(`autoRange must be 'percentile' or 'minmax' (got '${String(mode)}')`);
  }
  const lo = o.vmin ?? auto?.[0] ?? 0;
  const hi = o.vmax ?? auto?.[1] ?? 1;
  if (hi < lo) bad(`vmax (${hi}) is below vmin (${lo})`);
  return widen(lo, hi);
}

export interface ColormapRGBAOptions extends ColorRangeOptions {
  colormap?: ColormapName;
  /** Colour of non-finite pixels (default: defaultNanColor(colormap)). */
  nanColor?: ColorSpec;
}

function checkGrid(data: ArrayLike<number>, ny: number, nx: number): void {
  if (!Number.isInteger(ny) || !Number.isInteger(nx) || ny < 1 || nx < 1) bad(`image shape must be positive integers (got ${ny} x ${nx})`);
  if (data.length !== ny * nx) bad(`image data has ${data.length} values, expected ny*nx = ${ny}*${nx} = ${ny * nx}`);
}

/**
 * Colour-map a row-major (ny, nx) image to RGBA bytes (row 0 first, as in an image). Values are
 * clamped to [vmin, vmax] and mapped to the nearest of the 256 table entries; every non-finite
 * value gets `nanColor`.
 */
export function colormapRGBA(data: ArrayLike<number>, ny: number, nx: number, o: ColormapRGBAOptions = {}): Uint8ClampedArray {
  checkGrid(data, ny, nx);
  const cmap = o.colormap ?? 'viridis';
  const table = lut(cmap);
  const nanC = parseColor(o.nanColor ?? defaultNanColor(cmap));
  const [vmin, vmax] = colorRange(data, o);
  const k = 255 / (vmax - vmin);
  const out = new Uint8ClampedArray(ny * nx * 4);
  for (let i = 0, p = 0; i < ny * nx; i++, p += 4) {
    const v = data[i] as number;
    if (!Number.isFinite(v)) {
      out[p] = nanC[0];
      out[p + 1] = nanC[1];
      out[p + 2] = nanC[2];
      out[p + 3] = nanC[3];
      continue;
    }
    let idx = Math.round((v - vmin) * k);
    idx = idx < 0 ? 0 : idx > 255 ? 255 : idx;
    out[p] = table[3 * idx] as number;
    out[p + 1] = table[3 * idx + 1] as number;
    out[p + 2] = table[3 * idx + 2] as number;
    out[p + 3] = 255;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// shared SVG pieces

function svgOpen(width: number, height: number, background: string | null): string {
  const bg = background === null ? '' : `<rect x="0" y="0" width="${width}" height="${height}" ${colorAttr(parseColor(background))}/>`;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" version="1.1" ` +
    `width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    `font-family="${escapeXml(FONT_FAMILY)}" font-size="${FS_TICK}" fill="#000000">` +
    bg
  );
}

interface TextOpts {
  size?: number;
  anchor?: 'start' | 'middle' | 'end';
  /** dominant-baseline substitute: 'middle' shifts the text down by ~0.35 em. */
  valign?: 'baseline' | 'middle' | 'hanging';
  rotate?: number;
  weight?: 'bold';
  fill?: string;
  /** White outline under the glyphs, for text drawn over data. */
  halo?: boolean;
}

function text(x: number, y: number, s: string, o: TextOpts = {}): string {
  const size = o.size ?? FS_TICK;
  // librsvg's dominant-baseline support is partial: shift by a fraction of the size instead
  const dy = o.valign === 'middle' ? 0.35 * size : o.valign === 'hanging' ? 0.8 * size : 0;
  const anchor = o.anchor ?? 'start';
  const tr = o.rotate ? ` transform="rotate(${n(o.rotate)} ${n(x)} ${n(y)})"` : '';
  const attrs =
    `x="${n(x)}" y="${n(y + dy)}" font-size="${size}"` +
    (anchor !== 'start' ? ` text-anchor="${anchor}"` : '') +
    (o.weight ? ` font-weight="${o.weight}"` : '') +
    (o.fill ? ` fill="${escapeXml(o.fill)}"` : '') +
    (o.halo ? ' stroke="#ffffff" stroke-width="3" stroke-linejoin="round" paint-order="stroke"' : '') +
    tr;
  return `<text ${attrs}>${escapeXml(s)}</text>`;
}

function line(x1: number, y1: number, x2: number, y2: number, stroke: string, width = 1, extra = ''): string {
  return `<line x1="${n(x1)}" y1="${n(y1)}" x2="${n(x2)}" y2="${n(y2)}" stroke="${escapeXml(stroke)}" stroke-width="${n(width)}"${extra}/>`;
}

/** Dash pattern as a validated SVG stroke-dasharray value. */
function dashArray(d: string | readonly number[] | undefined): string | null {
  if (d === undefined) return null;
  const parts = typeof d === 'string' ? d.trim().split(/[\s,]+/).filter((p) => p !== '').map(Number) : [...d];
  if (parts.length === 0) return null;
  if (!parts.every((v) => Number.isFinite(v) && v >= 0) || parts.every((v) => v === 0)) {
    bad(`dash pattern '${String(d)}' must be non-negative numbers, not all zero`);
  }
  return parts.map(n).join(' ');
}

// ---------------------------------------------------------------------------------------------
// line plots

export interface Series {
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  label: string;
  /** Any SVG colour; default: the next colour of DEFAULT_COLORS. */
  color?: string;
  /** stroke-dasharray, e.g. '6 3' or [6, 3]. */
  dash?: string | readonly number[];
  /** Line width in px (default 1.5). */
  width?: number;
}

export interface VMarker {
  x: number;
  label?: string;
  color?: string;
}

export interface LinePlotOptions {
  series: readonly Series[];
  /** Canvas size in px (default 800 x 500). */
  width?: number;
  height?: number;
  title?: string;
  /** Axis labels with units, e.g. 'Energy (eV)', 'Intensity (arb. u.)'. */
  xlabel?: string;
  ylabel?: string;
  logY?: boolean;
  /** Axis limits; auto: x tight to the data, y padded by 5 % (x limits select the y data). */
  xlim?: readonly [number, number];
  ylim?: readonly [number, number];
  /** Default: shown when there is more than one series. */
  legend?: boolean;
  legendPosition?: 'upper right' | 'upper left' | 'lower right' | 'lower left';
  /** Vertical dashed lines, e.g. edge positions. */
  markers?: readonly VMarker[];
  /** Prefix of the SVG ids (clip path); change it when several plots are inlined in one page. */
  idPrefix?: string;
  background?: string;
}

function checkLim(name: string, lim: readonly [number, number] | undefined, log: boolean): [number, number] | null {
  if (lim === undefined) return null;
  const [a, b] = lim;
  if (!Number.isFinite(a) || !Number.isFinite(b) || !(b > a)) bad(`${name} must be two finite numbers with lo < hi (got [${a}, ${b}])`);
  if (log && !(a > 0)) bad(`${name} must be positive on a log axis (got [${a}, ${b}])`);
  return [a, b];
}

/** Render a line plot to an SVG string. */
export function linePlot(opts: LinePlotOptions): string {
  const W = checkSize('width', opts.width, 800);
  const H = checkSize('height', opts.height, 500);
  const logY = opts.logY === true;
  const series = opts.series;
  for (const s of series) {
    if (s.x.length !== s.y.length) bad(`series '${s.label}': x has ${s.x.length} values but y has ${s.y.length}`);
    if (s.width !== undefined && !(Number.isFinite(s.width) && s.width > 0)) bad(`series '${s.label}': width must be > 0`);
  }
  const ok = (x: number, y: number): boolean => Number.isFinite(x) && Number.isFinite(y) && (!logY || y > 0);

  // --- limits
  let xl = checkLim('xlim', opts.xlim, false);
  if (!xl) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of series) for (let i = 0; i < s.x.length; i++) {
      const x = s.x[i] as number;
      if (ok(x, s.y[i] as number)) {
        lo = Math.min(lo, x);
        hi = Math.max(hi, x);
      }
    }
    xl = lo <= hi ? widen(lo, hi) : [0, 1];
  }
  let yl = checkLim('ylim', opts.ylim, logY);
  if (!yl) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of series) for (let i = 0; i < s.x.length; i++) {
      const x = s.x[i] as number;
      const y = s.y[i] as number;
      if (ok(x, y) && x >= xl[0] && x <= xl[1]) {
        lo = Math.min(lo, y);
        hi = Math.max(hi, y);
      }
    }
    if (!(lo <= hi)) yl = logY ? [1, 10] : [0, 1];
    else if (logY) {
      const [a, b] = hi > lo ? [lo, hi] : [lo / 2, hi * 2];
      const pad = (Math.log10(b) - Math.log10(a)) * 0.05;
      yl = [a / 10 ** pad, b * 10 ** pad];
    } else {
      const [a, b] = widen(lo, hi);
      const pad = (b - a) * 0.05;
      yl = [a - pad, b + pad];
    }
  }
  const [x0, x1] = xl;
  const [y0, y1] = yl;

  // --- vertical layout first (y tick labels decide the left margin)
  const top = opts.title ? 44 : 16;
  const bottom = TICK_LEN + 4 + FS_TICK + 8 + (opts.xlabel ? FS_LABEL + 10 : 0) + 8;
  const plotH = H - top - bottom;
  if (plotH < 20) bad(`height ${H} leaves no room for the plot`);
  const ly0 = logY ? Math.log10(y0) : y0;
  const ly1 = logY ? Math.log10(y1) : y1;
  const py = (y: number): number => top + plotH - (((logY ? Math.log10(y) : y) - ly0) / (ly1 - ly0)) * plotH;

  let yTicks: number[];
  let yLabels: string[];
  let yMinor: number[] = [];
  if (logY) {
    const t = logTicks(y0, y1, Math.max(2, Math.floor(plotH / 50)));
    yTicks = t.ticks;
    yLabels = t.labels;
    yMinor = t.minor;
  } else {
    const t = niceTicks(y0, y1, Math.max(2, Math.floor(plotH / 60)));
    yTicks = t.ticks;
    yLabels = formatTicks(t.ticks, t.step);
  }
  const yLabelW = yLabels.reduce((m, s) => Math.max(m, textWidth(s, FS_TICK)), 0);
  const left = Math.ceil(10 + (opts.ylabel ? FS_LABEL + 10 : 0) + yLabelW + TICK_LEN + 5);

  // --- x ticks: thin until the labels fit
  let right = 24;
  let plotW = W - left - right;
  if (plotW < 20) bad(`width ${W} leaves no room for the plot`);
  let target = Math.max(2, Math.floor(plotW / 80));
  let xt = niceTicks(x0, x1, target);
  let xLabels = formatTicks(xt.ticks, xt.step);
  for (;;) {
    const widest = xLabels.reduce((m, s) => Math.max(m, textWidth(s, FS_TICK)), 0);
    const spacing = (xt.step / (x1 - x0)) * plotW;
    if (spacing >= widest + 12 || target <= 2) break;
    target -= 1;
    xt = niceTicks(x0, x1, target);
    xLabels = formatTicks(xt.ticks, xt.step);
  }
  const lastW = xLabels.length > 0 ? textWidth(xLabels[xLabels.length - 1] ?? '', FS_TICK) / 2 : 0;
  right = Math.ceil(Math.max(right, lastW + 6));
  plotW = W - left - right;
  const px = (x: number): number => left + ((x - x0) / (x1 - x0)) * plotW;

  const idp = escapeXml(opts.idPrefix ?? 'xasmap');
  const parts: string[] = [svgOpen(W, H, opts.background ?? 'white')];
  parts.push(`<defs><clipPath id="${idp}-clip"><rect x="${left}" y="${top}" width="${n(plotW)}" height="${plotH}"/></clipPath></defs>`);

  // --- grid
  const grid: string[] = [];
  for (const t of xt.ticks) grid.push(line(Math.round(px(t)) + 0.5, top, Math.round(px(t)) + 0.5, top + plotH, GRID_COLOR));
  for (const t of yTicks) grid.push(line(left, Math.round(py(t)) + 0.5, left + plotW, Math.round(py(t)) + 0.5, GRID_COLOR));
  parts.push(`<g class="grid">${grid.join('')}</g>`);

  // --- markers (under the data)
  const markerParts: string[] = [];
  for (const m of opts.markers ?? []) {
    if (!Number.isFinite(m.x) || m.x < x0 || m.x > x1) continue;
    const mx = Math.round(px(m.x)) + 0.5;
    const col = m.color ?? '#555555';
    markerParts.push(line(mx, top, mx, top + plotH, col, 1, ' stroke-dasharray="5 3"'));
    if (m.label) markerParts.push(text(mx + 4, top + 5, m.label, { size: FS_TICK, valign: 'hanging', fill: col, halo: true }));
  }
  parts.push(`<g class="markers">${markerParts.join('')}</g>`);

  // --- series
  const sp: string[] = [];
  series.forEach((s, si) => {
    const color = s.color ?? DEFAULT_COLORS[si % DEFAULT_COLORS.length] ?? '#000000';
    const dash = dashArray(s.dash);
    let d = '';
    let pen = false;
    for (let i = 0; i < s.x.length; i++) {
      const x = s.x[i] as number;
      const y = s.y[i] as number;
      if (!ok(x, y)) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${n(px(x))} ${n(py(y))}`;
      pen = true;
    }
    // a lone point (between gaps) is invisible as a path: draw those as small dots
    const dots: string[] = [];
    for (let i = 0; i < s.x.length; i++) {
      const xm = s.x[i] as number;
      const ym = s.y[i] as number;
      if (!ok(xm, ym)) continue;
      const prev = i > 0 && ok(s.x[i - 1] as number, s.y[i - 1] as number);
      const next = i + 1 < s.x.length && ok(s.x[i + 1] as number, s.y[i + 1] as number);
      if (!prev && !next) dots.push(`<circle cx="${n(px(xm))}" cy="${n(py(ym))}" r="${n((s.width ?? 1.5) * 1.2)}"/>`);
    }
    const attrs =
      `fill="none" stroke="${escapeXml(color)}" stroke-width="${n(s.width ?? 1.5)}" stroke-linejoin="round" stroke-linecap="round"` +
      (dash ? ` stroke-dasharray="${dash}"` : '');
    sp.push(`<g class="series" clip-path="url(#${idp}-clip)">`);
    if (d !== '') sp.push(`<path d="${d}" ${attrs}/>`);
    if (dots.length > 0) sp.push(`<g fill="${escapeXml(color)}" stroke="none">${dots.join('')}</g>`);
    sp.push('</g>');
  });
  parts.push(sp.join(''));

  // --- frame, ticks, labels
  const ax: string[] = [];
  ax.push(`<rect x="${left + 0.5}" y="${top + 0.5}" width="${n(plotW - 1)}" height="${plotH - 1}" fill="none" stroke="${AXIS_COLOR}" stroke-width="1"/>`);
  xt.ticks.forEach((t, i) => {
    const x = Math.round(px(t)) + 0.5;
    ax.push(line(x, top + plotH, x, top + plotH + TICK_LEN, AXIS_COLOR));
    ax.push(text(x, top + plotH + TICK_LEN + 4, xLabels[i] ?? '', { anchor: 'middle', valign: 'hanging' }));
  });
  yTicks.forEach((t, i) => {
    const y = Math.round(py(t)) + 0.5;
    ax.push(line(left - TICK_LEN, y, left, y, AXIS_COLOR));
    ax.push(text(left - TICK_LEN - 3, y, yLabels[i] ?? '', { anchor: 'end', valign: 'middle' }));
  });
  for (const t of yMinor) {
    const y = Math.round(py(t)) + 0.5;
    ax.push(line(left - 3, y, left, y, AXIS_COLOR));
  }
  if (opts.xlabel) ax.push(text(left + plotW / 2, H - 10, opts.xlabel, { size: FS_LABEL, anchor: 'middle' }));
  if (opts.ylabel) ax.push(text(10 + FS_LABEL * 0.8, top + plotH / 2, opts.ylabel, { size: FS_LABEL, anchor: 'middle', rotate: -90 }));
  if (opts.title) ax.push(text(left + plotW / 2, 28, opts.title, { size: FS_TITLE, anchor: 'middle', weight: 'bold' }));
  parts.push(`<g class="axes">${ax.join('')}</g>`);

  // --- legend
  const showLegend = opts.legend ?? series.length > 1;
  if (showLegend && series.length > 0) {
    const rowH = FS_LEGEND + 7;
    const sample = 26;
    const textW = series.reduce((m, s) => Math.max(m, textWidth(s.label, FS_LEGEND)), 0);
    const boxW = Math.ceil(8 + sample + 6 + textW + 8);
    const boxH = 6 + rowH * series.length + 2;
    const pos = opts.legendPosition ?? 'upper right';
    const bx = pos.endsWith('left') ? left + 10 : left + plotW - 10 - boxW;
    const by = pos.startsWith('upper') ? top + 10 : top + plotH - 10 - boxH;
    const lg: string[] = [
      `<rect x="${n(bx + 0.5)}" y="${n(by + 0.5)}" width="${boxW}" height="${boxH}" rx="3" fill="#ffffff" fill-opacity="0.88" stroke="#bbbbbb" stroke-width="1"/>`,
    ];
    series.forEach((s, si) => {
      const color = s.color ?? DEFAULT_COLORS[si % DEFAULT_COLORS.length] ?? '#000000';
      const cy = by + 6 + rowH * si + rowH / 2;
      const dash = dashArray(s.dash);
      lg.push(line(bx + 8, cy, bx + 8 + sample, cy, color, s.width ?? 1.5, dash ? ` stroke-dasharray="${dash}"` : ''));
      lg.push(text(bx + 8 + sample + 6, cy, s.label, { size: FS_LEGEND, valign: 'middle' }));
    });
    parts.push(`<g class="legend">${lg.join('')}</g>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}

// ---------------------------------------------------------------------------------------------
// heatmaps

export interface HeatmapOptions extends ColorRangeOptions {
  /** Row-major (ny, nx) image, row 0 at the top (as an image). */
  data: ArrayLike<number>;
  ny: number;
  nx: number;
  /** Canvas size in px; default: fitted around the image at an integer zoom (long side ~500 px). */
  width?: number;
  height?: number;
  title?: string;
  /** Axis labels (only drawn with axes); default 'x (pixel)' or 'x (<pixelUnit>)'. */
  xlabel?: string;
  ylabel?: string;
  colormap?: ColormapName;
  /** Colour-bar label with units, e.g. 'SE (%)'. */
  cbarLabel?: string;
  nanColor?: ColorSpec;
  /** Legend text of the NaN colour (shown when the map has non-finite pixels). */
  nanLabel?: string;
  /** Physical size of one pixel, e.g. 0.5 with pixelUnit 'µm'. */
  pixelSize?: number;
  pixelUnit?: string;
  /** Draw a scale bar (default: true when pixelSize is given). */
  scaleBar?: boolean;
  /** Axes with ticks (physical units with pixelSize). Default: only when no scale bar is drawn. */
  axes?: boolean;
  /** Pixel layer: see the module comment. Default 'rects'. */
  image?: 'rects' | 'none' | { href: string };
  idPrefix?: string;
  background?: string;
}

export interface HeatmapLayout {
  /** Canvas size in px. */
  width: number;
  height: number;
  /** Where the nx x ny pixels go (integer px); zoom = box.width / nx. */
  box: { left: number; top: number; width: number; height: number };
  vmin: number;
  vmax: number;
  /** Number of non-finite pixels. */
  nanCount: number;
}

export interface HeatmapParts {
  layout: HeatmapLayout;
  /** Complete SVG without the pixels (what lies below them). */
  frameSvg: string;
  /** Transparent full-canvas SVG drawn over the pixels (scale bar), or null if empty. */
  overlaySvg: string | null;
}

/** Largest 1-2-5 x 10^k length <= maxLen. */
export function scaleBarLength(maxLen: number): number {
  if (!(maxLen > 0) || !Number.isFinite(maxLen)) return 0;
  const mag = 10 ** Math.floor(Math.log10(maxLen));
  const norm = maxLen / mag;
  const f = norm >= 5 - 1e-9 ? 5 : norm >= 2 - 1e-9 ? 2 : 1;
  return clean(f * mag);
}

interface HeatmapBuild {
  layout: HeatmapLayout;
  head: string;
  decor: string;
  overlay: string;
  hexOf: (index: number) => string;
  indexOf: (v: number) => number;
}

function buildHeatmap(o: HeatmapOptions): HeatmapBuild {
  const { data, ny, nx } = o;
  checkGrid(data, ny, nx);
  const cmap = o.colormap ?? 'viridis';
  const table = lut(cmap);
  const nanSpec = o.nanColor ?? defaultNanColor(cmap);
  const nanRGBA = parseColor(nanSpec);
  const [vmin, vmax] = colorRange(data, o);
  let nanCount = 0;
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) nanCount++;

  const ps = o.pixelSize;
  if (ps !== undefined && !(Number.isFinite(ps) && ps > 0)) bad(`pixelSize must be a positive number (got ${ps})`);
  const unit = o.pixelUnit ?? 'µm';
  const scaleBar = ps !== undefined && o.scaleBar !== false;
  const axes = o.axes ?? !scaleBar;
  const xlabel = o.xlabel ?? (ps !== undefined ? `x (${unit})` : 'x (pixel)');
  const ylabel = o.ylabel ?? (ps !== undefined ? `y (${unit})` : 'y (pixel)');

  // colour-bar ticks first: their width sets the right margin
  const cbT = niceTicks(vmin, vmax, 6);
  const cbLabels = formatTicks(cbT.ticks, cbT.step);
  const cbLabelW = cbLabels.reduce((m, s) => Math.max(m, textWidth(s, FS_TICK)), 0);
  const nanLabel = o.nanLabel ?? 'not computed';
  const CB_GAP = 24;
  const CB_W = 18;
  const cbRight = CB_W + TICK_LEN + 4 + cbLabelW + (o.cbarLabel ? 12 + FS_LABEL : 0);
  const nanRight = nanCount > 0 ? 16 + 6 + textWidth(nanLabel, FS_LEGEND) : 0;
  const right = Math.ceil(CB_GAP + Math.max(cbRight, nanRight) + 14);
  const top = o.title ? 44 : 16;
  const bottom = axes ? TICK_LEN + 4 + FS_TICK + 8 + FS_LABEL + 10 + 8 : 16;
  // the y tick label width depends on the zoom only through the tick values; estimate with the extent
  const extentX = ps !== undefined ? nx * ps : nx;
  const extentY = ps !== undefined ? ny * ps : ny;
  const yEst = niceTicks(0, extentY, 8);
  const yLabW = axes ? formatTicks(yEst.ticks, yEst.step).reduce((m, s) => Math.max(m, textWidth(s, FS_TICK)), 0) : 0;
  const left = axes ? Math.ceil(10 + FS_LABEL + 10 + yLabW + TICK_LEN + 5) : 16;

  // zoom: integer when >= 1 so that pixels stay square and crisp
  let zoom: number;
  let W: number;
  let H: number;
  if (o.width === undefined && o.height === undefined) {
    const long = Math.max(nx, ny);
    zoom = long <= 500 ? Math.max(1, Math.floor(500 / long)) : long <= 1600 ? 1 : 1600 / long;
    W = 0;
    H = 0;
  } else {
    W = checkSize('width', o.width, 800);
    H = checkSize('height', o.height, 600);
    const z = Math.min((W - left - right) / nx, (H - top - bottom) / ny);
    if (!(z > 0)) bad(`canvas ${W}x${H} leaves no room for the image`);
    zoom = z >= 1 ? Math.floor(z) : z;
  }
  const bw = Math.max(1, Math.round(nx * zoom));
  const bh = Math.max(1, Math.round(ny * zoom));
  if (W === 0) {
    W = left + bw + right;
    H = top + bh + bottom;
  }
  // centre the image in the space left
  const bl = left + Math.floor((W - left - right - bw) / 2);
  const bt = top + Math.floor((H - top - bottom - bh) / 2);
  const box = { left: bl, top: bt, width: bw, height: bh };

  const idp = escapeXml(o.idPrefix ?? 'xasmap');
  const d: string[] = [];
  // frame just outside the pixels so that composited pixels never cover it
  d.push(`<rect x="${bl - 0.5}" y="${bt - 0.5}" width="${bw + 1}" height="${bh + 1}" fill="none" stroke="${AXIS_COLOR}" stroke-width="1"/>`);
  if (o.title) d.push(text(bl + bw / 2, 28, o.title, { size: FS_TITLE, anchor: 'middle', weight: 'bold' }));

  if (axes) {
    const sx = bw / extentX;
    const sy = bh / extentY;
    let target = Math.max(2, Math.floor(bw / 80));
    let xt = niceTicks(0, extentX, target);
    let xl = formatTicks(xt.ticks, xt.step);
    while (target > 2 && xt.step * sx < xl.reduce((m, s) => Math.max(m, textWidth(s, FS_TICK)), 0) + 12) {
      target--;
      xt = niceTicks(0, extentX, target);
      xl = formatTicks(xt.ticks, xt.step);
    }
    xt.ticks.forEach((t, i) => {
      const x = Math.round(bl + t * sx) + 0.5;
      d.push(line(x, bt + bh + 0.5, x, bt + bh + 0.5 + TICK_LEN, AXIS_COLOR));
      d.push(text(x, bt + bh + TICK_LEN + 4, xl[i] ?? '', { anchor: 'middle', valign: 'hanging' }));
    });
    const yt = niceTicks(0, extentY, Math.max(2, Math.floor(bh / 60)));
    const yl = formatTicks(yt.ticks, yt.step);
    yt.ticks.forEach((t, i) => {
      const y = Math.round(bt + t * sy) + 0.5;
      d.push(line(bl - 0.5 - TICK_LEN, y, bl - 0.5, y, AXIS_COLOR));
      d.push(text(bl - TICK_LEN - 4, y, yl[i] ?? '', { anchor: 'end', valign: 'middle' }));
    });
    d.push(text(bl + bw / 2, bt + bh + TICK_LEN + 4 + FS_TICK + 8 + FS_LABEL, xlabel, { size: FS_LABEL, anchor: 'middle' }));
    d.push(text(10 + FS_LABEL * 0.8, bt + bh / 2, ylabel, { size: FS_LABEL, anchor: 'middle', rotate: -90 }));
  }

  // colour bar (vmax at the top), NaN swatch below it
  const cbx = bl + bw + CB_GAP;
  const swatch = 16;
  const cbh = Math.max(20, nanCount > 0 ? bh - swatch - 12 : bh);
  const stops: string[] = [];
  const NSTOP = 64;
  for (let i = 0; i < NSTOP; i++) {
    const t = i / (NSTOP - 1);
    stops.push(`<stop offset="${n(t)}" stop-color="${colormapHex(cmap, t)}"/>`);
  }
  d.push(`<defs><linearGradient id="${idp}-cbar" x1="0" y1="1" x2="0" y2="0">${stops.join('')}</linearGradient></defs>`);
  d.push(`<rect x="${cbx}" y="${bt}" width="${CB_W}" height="${cbh}" fill="url(#${idp}-cbar)"/>`);
  d.push(`<rect x="${cbx - 0.5}" y="${bt - 0.5}" width="${CB_W + 1}" height="${cbh + 1}" fill="none" stroke="${AXIS_COLOR}" stroke-width="1"/>`);
  const cy = (v: number): number => bt + cbh - ((v - vmin) / (vmax - vmin)) * cbh;
  cbT.ticks.forEach((t, i) => {
    const y = Math.round(cy(t)) + 0.5;
    d.push(line(cbx + CB_W + 0.5, y, cbx + CB_W + 0.5 + TICK_LEN, y, AXIS_COLOR));
    d.push(text(cbx + CB_W + TICK_LEN + 4, y, cbLabels[i] ?? '', { valign: 'middle' }));
  });
  if (o.cbarLabel) {
    const lx = cbx + CB_W + TICK_LEN + 4 + cbLabelW + 10 + FS_LABEL * 0.8;
    d.push(text(lx, bt + cbh / 2, o.cbarLabel, { size: FS_LABEL, anchor: 'middle', rotate: -90 }));
  }
  if (nanCount > 0) {
    const sy = bt + bh - swatch;
    d.push(`<rect x="${cbx + 0.5}" y="${sy + 0.5}" width="${swatch - 1}" height="${swatch - 1}" ${colorAttr(nanRGBA)} stroke="#555555" stroke-width="1"/>`);
    d.push(text(cbx + swatch + 6, sy + swatch / 2, nanLabel, { size: FS_LEGEND, valign: 'middle' }));
  }

  // scale bar inside the image, bottom right, on a translucent dark plate
  const ov: string[] = [];
  if (scaleBar && ps !== undefined) {
    const zoomPx = bw / nx;
    const len = scaleBarLength(0.25 * nx * ps);
    const barPx = (len / ps) * zoomPx;
    const label = `${formatNumber(len)} ${unit}`;
    const tw = textWidth(label, FS_LEGEND);
    const plateW = Math.ceil(Math.max(barPx, tw) + 12);
    const plateH = FS_LEGEND + 4 + 4 + 6 + 8;
    const px0 = bl + bw - plateW - 6;
    const py0 = bt + bh - plateH - 6;
    if (barPx >= 2 && plateW < bw && plateH < bh) {
      ov.push(`<rect x="${px0}" y="${py0}" width="${plateW}" height="${plateH}" rx="3" fill="#000000" fill-opacity="0.55"/>`);
      const cx = px0 + plateW / 2;
      ov.push(`<rect x="${n(cx - barPx / 2)}" y="${py0 + plateH - 6 - 4}" width="${n(barPx)}" height="4" fill="#ffffff"/>`);
      ov.push(text(cx, py0 + 5, label, { size: FS_LEGEND, anchor: 'middle', valign: 'hanging', fill: '#ffffff' }));
    }
  }

  const hexCache: string[] = [];
  for (let i = 0; i < 256; i++) hexCache.push(`#${hex2(table[3 * i] ?? 0)}${hex2(table[3 * i + 1] ?? 0)}${hex2(table[3 * i + 2] ?? 0)}`);
  const nanAttr = colorAttr(nanRGBA);
  const k = 255 / (vmax - vmin);
  return {
    layout: { width: W, height: H, box, vmin, vmax, nanCount },
    head: svgOpen(W, H, o.background ?? 'white'),
    decor: `<g class="frame">${d.join('')}</g>`,
    overlay: ov.length > 0 ? `<g class="overlay">${ov.join('')}</g>` : '',
    hexOf: (i) => (i === 256 ? nanAttr : `fill="${hexCache[i] ?? '#000000'}"`),
    indexOf: (v) => (Number.isFinite(v) ? Math.max(0, Math.min(255, Math.round((v - vmin) * k))) : 256),
  };
}

/** Frame, overlay and layout of a heatmap without its pixels (for compositing, see png.ts). */
export function heatmapParts(o: HeatmapOptions): HeatmapParts {
  const b = buildHeatmap(o);
  const { width, height } = b.layout;
  return {
    layout: b.layout,
    frameSvg: `${b.head}\n${b.decor}\n</svg>`,
    overlaySvg: b.overlay === '' ? null : `${svgOpen(width, height, null)}\n${b.overlay}\n</svg>`,
  };
}

/** Render a heatmap with colour bar (and scale bar / NaN legend) to an SVG string. */
export function heatmap(o: HeatmapOptions): string {
  const b = buildHeatmap(o);
  const { box } = b.layout;
  const { data, ny, nx } = o;
  const mode = o.image ?? 'rects';
  let pixels = '';
  if (mode === 'rects') {
    if (nx * ny > RECTS_MAX_PIXELS) {
      bad(`a ${nx}x${ny} map is too large for image: 'rects' (max ${RECTS_MAX_PIXELS} pixels): use composeHeatmapPng or pass a PNG data URI as image.href`);
    }
    const rows: string[] = [];
    for (let r = 0; r < ny; r++) {
      let c = 0;
      while (c < nx) {
        const idx = b.indexOf(data[r * nx + c] as number);
        let e = c + 1;
        while (e < nx && b.indexOf(data[r * nx + e] as number) === idx) e++;
        rows.push(`<rect x="${c}" y="${r}" width="${e - c}" height="1" ${b.hexOf(idx)}/>`);
        c = e;
      }
    }
    const sx = box.width / nx;
    const sy = box.height / ny;
    pixels =
      `<g class="pixels" shape-rendering="crispEdges" transform="translate(${box.left} ${box.top}) scale(${n(sx)} ${n(sy)})">` +
      `${rows.join('')}</g>`;
  } else if (typeof mode === 'object') {
    const href = escapeXml(mode.href);
    pixels =
      `<image class="pixels" x="${box.left}" y="${box.top}" width="${box.width}" height="${box.height}" preserveAspectRatio="none" ` +
      `image-rendering="pixelated" style="image-rendering:pixelated" xlink:href="${href}" href="${href}"/>`;
  } else if (mode !== 'none') {
    bad(`image must be 'rects', 'none' or { href } (got ${JSON.stringify(mode)})`);
  }
  return `${b.head}\n${b.decor}\n${pixels}\n${b.overlay}\n</svg>`;
}
