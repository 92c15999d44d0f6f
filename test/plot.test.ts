import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { XasmapError } from '../src/errors.js';
import {
  colorRange,
  colormapHex,
  colormapRGBA,
  escapeXml,
  formatTicks,
  heatmap,
  heatmapParts,
  linePlot,
  logTicks,
  niceTicks,
  percentileRange,
  scaleBarLength,
} from '../src/io/plot-svg.js';
import { composeHeatmapPng, rgbaToPng, svgToPng } from '../src/io/png.js';

const dir = mkdtempSync(join(tmpdir(), 'xasmap-plot-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Minimal well-formedness check: balanced, properly nested tags; no raw '<' or bare '&' in text. */
function checkWellFormed(svg: string): void {
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  let m: RegExpExecArray | null;
  const textOk = (s: string): void => {
    expect(s).not.toMatch(/</);
    expect(s).not.toMatch(/&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/);
  };
  while ((m = tag.exec(svg)) !== null) {
    textOk(svg.slice(last, m.index));
    last = tag.lastIndex;
    const [, close, name, attrs, selfClose] = m;
    textOk((attrs ?? '').replace(/="[^"]*"/g, '=""'));
    for (const v of (attrs ?? '').matchAll(/="([^"]*)"/g)) textOk(v[1] ?? '');
    if (close) expect(stack.pop(), `closing </${name}>`).toBe(name);
    else if (!selfClose) stack.push(name ?? '');
  }
  textOk(svg.slice(last));
  expect(stack).toEqual([]);
  expect(svg.trimStart().startsWith('<svg')).toBe(true);
  expect(svg).not.toMatch(/NaN|undefined|Infinity/);
}

function hexRGB(h: string): [number, number, number] {
  return [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)) as [number, number, number];
}

const E = Array.from({ length: 301 }, (_, i) => 700 + i * 0.1);
const lor = (e: number, e0: number, g: number): number => (g / 2) ** 2 / ((e - e0) ** 2 + (g / 2) ** 2);

describe('the SVG checker itself', () => {
  it('rejects unbalanced tags, raw markup in text and NaN', () => {
    expect(() => checkWellFormed('<svg><g></svg>')).toThrow();
    expect(() => checkWellFormed('<svg><text>a<b</text></svg>')).toThrow();
    expect(() => checkWellFormed('<svg><text>a & b</text></svg>')).toThrow();
    expect(() => checkWellFormed('<svg><rect x="NaN"/></svg>')).toThrow();
    expect(() => checkWellFormed('<svg><text x="1">a &amp; b</text></svg>')).not.toThrow();
  });
});

describe('ticks', () => {
  it('1-2-5 steps for hand-checked ranges', () => {
    expect(niceTicks(0, 1, 5)).toEqual({ ticks: [0, 0.2, 0.4, 0.6, 0.8, 1], step: 0.2 });
    expect(niceTicks(700, 730, 6)).toEqual({ ticks: [700, 705, 710, 715, 720, 725, 730], step: 5 });
    expect(niceTicks(-3.7, 12.2, 5)).toEqual({ ticks: [0, 5, 10], step: 5 });
    expect(Object.is(niceTicks(-3.7, 12.2, 5).ticks[0], -0)).toBe(false);
    expect(niceTicks(0.0012, 0.0047, 4)).toEqual({ ticks: [0.002, 0.003, 0.004], step: 0.001 });
    expect(niceTicks(1, 1000, 5)).toEqual({ ticks: [200, 400, 600, 800, 1000], step: 200 });
    expect(niceTicks(-0.35, 0.35, 7).ticks).toEqual([-0.3, -0.2, -0.1, 0, 0.1, 0.2, 0.3]);
  });

  it('labels with just enough precision', () => {
    expect(formatTicks([0, 0.2, 0.4, 1], 0.2)).toEqual(['0.0', '0.2', '0.4', '1.0']);
    expect(formatTicks([700, 705], 5)).toEqual(['700', '705']);
    expect(formatTicks([-10, 0, 10], 10)).toEqual(['−10', '0', '10']);
    expect(formatTicks([0.002, 0.003], 0.001)).toEqual(['0.002', '0.003']);
    expect(formatTicks([0, 5e-5, 1e-4, 1.5e-4], 5e-5)).toEqual(['0', '0.5×10⁻⁴', '1.0×10⁻⁴', '1.5×10⁻⁴']);
    expect(formatTicks([2e6, 4e6], 2e6)).toEqual(['2×10⁶', '4×10⁶']);
  });

  it('log ticks: decades, or 1-2-5 inside a narrow range', () => {
    expect(logTicks(1, 1000)).toMatchObject({ ticks: [1, 10, 100, 1000], labels: ['10⁰', '10¹', '10²', '10³'] });
    expect(logTicks(2, 30)).toMatchObject({ ticks: [2, 5, 10, 20], labels: ['2', '5', '10', '20'] });
  });

  it('scale-bar lengths are round', () => {
    expect(scaleBarLength(12.5)).toBe(10);
    expect(scaleBarLength(7)).toBe(5);
    expect(scaleBarLength(0.3)).toBe(0.2);
    expect(scaleBarLength(1)).toBe(1);
  });
});

describe('line plots', () => {
  it('well-formed SVG with labels, legend and markers; NaN breaks the line', () => {
    const y2 = E.map((e) => 0.8 * lor(e, 709.6, 1.5));
    y2[100] = NaN;
    y2[200] = Infinity;
    const svg = linePlot({
      series: [
        { x: E, y: E.map((e) => lor(e, 708.2, 1.2)), label: 'Fe2+' },
        { x: E, y: y2, label: 'Fe3+', dash: '6 3', color: '#d62728' },
      ],
      xlabel: 'Energy (eV)',
      ylabel: 'Intensity (arb. u.)',
      title: 'Fe L-edge',
      markers: [{ x: 708.2, label: 'L3' }, { x: 1e9, label: 'outside' }],
    });
    checkWellFormed(svg);
    expect(svg).toMatch(/width="800" height="500"/);
    for (const s of ['Energy (eV)', 'Intensity (arb. u.)', 'Fe L-edge', 'Fe2+', 'Fe3+', 'L3', '>705<', '>0.8<']) expect(svg).toContain(s);
    expect(svg).not.toContain('outside');
    const paths = [...svg.matchAll(/<path d="([^"]*)"/g)].map((p) => p[1] ?? '');
    expect(paths).toHaveLength(2);
    expect(paths[0]?.match(/M/g)).toHaveLength(1);
    expect(paths[1]?.match(/M/g)).toHaveLength(3);
    expect(svg).toContain('class="legend"');
  });

  it('escapes <&> in titles, labels and legend', () => {
    const evil = 'a<b & c>d "q"';
    const svg = linePlot({ series: [{ x: [0, 1], y: [0, 1], label: evil }], title: evil, xlabel: evil, ylabel: evil, legend: true });
    checkWellFormed(svg);
    expect(svg).not.toContain('a<b');
    expect(svg.split('a&lt;b &amp; c&gt;d &quot;q&quot;').length - 1).toBe(4);
    expect(escapeXml(`<&>'"`)).toBe('&lt;&amp;&gt;&apos;&quot;');
  });

  it('never prints NaN for empty, all-NaN, constant or log data; single series has no legend', () => {
    const cases = [
      linePlot({ series: [] }),
      linePlot({ series: [{ x: [1, 2, 3], y: [NaN, NaN, NaN], label: 'none' }] }),
      linePlot({ series: [{ x: [5, 5], y: [2, 2], label: 'const' }] }),
      linePlot({ series: [{ x: [1, 2, 3, 4], y: [0, -1, 10, 1000], label: 'log' }], logY: true }),
      linePlot({ series: [{ x: [1, 2, 3, 4], y: [1, NaN, 3, 4], label: 'lone' }] }),
    ];
    for (const svg of cases) checkWellFormed(svg);
    expect(cases[1]).not.toContain('class="legend"');
    expect(cases[3]).toContain('10³');
    expect(cases[4]).toContain('<circle');
  });

  it('rejects inconsistent input with BAD_PLOT_OPTIONS', () => {
    expect(() => linePlot({ series: [{ x: [1, 2], y: [1], label: 's' }] })).toThrow(XasmapError);
    expect(() => linePlot({ series: [], xlim: [1, 1] })).toThrow(/xlim/);
    expect(() => linePlot({ series: [], ylim: [0, 1], logY: true })).toThrow(/positive/);
  });
});

describe('colormaps and heatmaps', () => {
  it('viridis endpoints match the published #440154 and #fde725', () => {
    const rgba = colormapRGBA([0, 1], 1, 2, { vmin: 0, vmax: 1 });
    const lo = hexRGB('#440154');
    const hi = hexRGB('#fde725');
    for (let c = 0; c < 3; c++) {
      expect(Math.abs((rgba[c] ?? -99) - (lo[c] ?? 0))).toBeLessThanOrEqual(1);
      expect(Math.abs((rgba[4 + c] ?? -99) - (hi[c] ?? 0))).toBeLessThanOrEqual(1);
    }
    expect(rgba[3]).toBe(255);
    expect(colormapHex('magma', 0)).toBe('#000004');
    expect(colormapHex('magma', 1)).toBe('#fcfdbf');
    expect(colormapHex('gray', 1)).toBe('#ffffff');
  });

  it('non-finite pixels get nanColor; values are clamped to [vmin, vmax]', () => {
    const data = new Float32Array([NaN, 0.5, -5, 5, Infinity, NaN]);
    const rgba = colormapRGBA(data, 2, 3, { vmin: 0, vmax: 1, nanColor: '#ff00ff' });
    for (const i of [0, 4, 5]) expect([...rgba.slice(4 * i, 4 * i + 4)]).toEqual([255, 0, 255, 255]);
    expect([...rgba.slice(8, 11)]).toEqual([0x44, 0x01, 0x54]);
    expect([...rgba.slice(12, 15)]).toEqual([0xfd, 0xe7, 0x25]);
    const grey = colormapRGBA([NaN], 1, 1, { vmin: 0, vmax: 1 });
    expect([...grey]).toEqual([211, 211, 211, 255]);
  });

  it('auto range is the 2nd-98th percentile ignoring NaN (or min/max on request)', () => {
    const v: number[] = [];
    for (let i = 0; i <= 100; i++) v.push(i);
    const data = Float64Array.from([...v, NaN, NaN, Infinity, -Infinity].reverse());
    expect(percentileRange(data)).toEqual([2, 98]);
    expect(percentileRange([1, 2, 3, 4], 50, 50)).toEqual([2.5, 2.5]);
    expect(percentileRange([NaN, NaN])).toBeNull();
    expect(colorRange(data)).toEqual([2, 98]);
    expect(colorRange(data, { autoRange: 'minmax' })).toEqual([0, 100]);
    expect(colorRange(data, { vmin: 10 })).toEqual([10, 98]);
    expect(colorRange([3, 3, 3])[1]).toBeGreaterThan(3);
    expect(() => colorRange(data, { vmin: 5, vmax: 1 })).toThrow(/vmax/);
  });

  it('heatmap SVG: colour bar, NaN legend, scale bar, merged pixel runs', () => {
    const ny = 20;
    const nx = 100;
    const data = new Float64Array(ny * nx);
    for (let r = 0; r < ny; r++) for (let c = 0; c < nx; c++) data[r * nx + c] = c < 50 ? 1 : 2;
    data[5] = NaN;
    const svg = heatmap({ data, ny, nx, cbarLabel: 'SE (%)', title: 'map <1>', pixelSize: 0.5, pixelUnit: 'µm', autoRange: 'minmax' });
    checkWellFormed(svg);
    for (const s of ['SE (%)', 'not computed', '10 µm', 'map &lt;1&gt;', 'fill="#d3d3d3"', 'linearGradient']) expect(svg).toContain(s);
    // runs: 19 rows of 2 runs, and the row with the NaN has 4
    expect(svg.match(/<rect x="\d+" y="\d+" width="\d+" height="1"/g)).toHaveLength(19 * 2 + 4);
    const clean = heatmap({ data: data.map((v) => (Number.isNaN(v) ? 1 : v)), ny, nx });
    expect(clean).not.toContain('not computed');
    expect(clean).toContain('x (pixel)');
    expect(() => heatmap({ data: new Float32Array(1000 * 1000), ny: 1000, nx: 1000 })).toThrow(/composeHeatmapPng/);
    const withHref = heatmap({ data: new Float32Array(4), ny: 2, nx: 2, image: { href: 'data:image/png;base64,AAAA' } });
    checkWellFormed(withHref);
    expect(withHref).toContain('<image');
  });
});

describe('PNG output', () => {
  it('svgToPng writes a PNG of the requested size with visible text', async () => {
    const path = join(dir, 'line.png');
    const svg = linePlot({
      series: [{ x: E, y: E.map((e) => lor(e, 708, 1)), label: 'a' }, { x: E, y: E.map((e) => lor(e, 712, 2)), label: 'b' }],
      width: 640,
      height: 400,
      xlabel: 'Energy (eV)',
      ylabel: 'Intensity (arb. u.)',
    });
    await svgToPng(svg, path);
    const buf = readFileSync(path);
    expect([...buf.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const meta = await sharp(path).metadata();
    expect([meta.width, meta.height]).toEqual([640, 400]);
    // text only: dark pixels appear only if a font was found
    const textPath = join(dir, 'text.png');
    await svgToPng(`<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40"><rect width="200" height="40" fill="#fff"/>` +
      `<text x="10" y="28" font-size="20" font-family="DejaVu Sans, sans-serif">Energy (eV)</text></svg>`, textPath);
    const { data } = await sharp(textPath).greyscale().raw().toBuffer({ resolveWithObject: true });
    const dark = data.reduce((k, v) => k + (v < 100 ? 1 : 0), 0);
    expect(dark).toBeGreaterThan(100);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('unwritable output is OUTPUT_UNWRITABLE naming the path', async () => {
    const path = join(dir, 'no-such-dir', 'x.png');
    const err = await svgToPng('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(XasmapError);
    expect((err as XasmapError).code).toBe('OUTPUT_UNWRITABLE');
    expect((err as XasmapError).message).toContain(path);
  });

  it('rgbaToPng upscales by nearest neighbour', async () => {
    const path = join(dir, 'rgba.png');
    const rgba = new Uint8ClampedArray([255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 255, 255, 255, 255]);
    await rgbaToPng(rgba, 2, 2, path, { scale: 3 });
    const { data, info } = await sharp(path).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([6, 6]);
    const px = (x: number, y: number): number[] => [...data.subarray((y * 6 + x) * 4, (y * 6 + x) * 4 + 3)];
    expect(px(2, 2)).toEqual([255, 0, 0]);
    expect(px(3, 0)).toEqual([0, 255, 0]);
    expect(px(0, 5)).toEqual([0, 0, 255]);
    await expect(rgbaToPng(rgba, 3, 2, path)).rejects.toThrow(/expected/);
  });

  it('composeHeatmapPng: a 200x100 gradient has the viridis end colours at its ends', async () => {
    const ny = 100;
    const nx = 200;
    const data = new Float32Array(ny * nx);
    for (let r = 0; r < ny; r++) for (let c = 0; c < nx; c++) data[r * nx + c] = c;
    data[50 * nx + 100] = NaN;
    const path = join(dir, 'heat.png');
    const layout = await composeHeatmapPng({ data, ny, nx, vmin: 0, vmax: nx - 1, cbarLabel: 'SE (%)', pixelSize: 0.5, path });
    const { box } = layout;
    expect(layout.nanCount).toBe(1);
    expect(heatmapParts({ data, ny, nx, vmin: 0, vmax: nx - 1, cbarLabel: 'SE (%)', pixelSize: 0.5 }).layout).toEqual(layout);
    const { data: px, info } = await sharp(path).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([layout.width, layout.height]);
    const zoom = box.width / nx;
    const at = (c: number, r: number): number[] => {
      const x = Math.floor(box.left + (c + 0.5) * zoom);
      const y = Math.floor(box.top + (r + 0.5) * zoom);
      return [...px.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3)];
    };
    const near = (got: number[], hex: string): void => {
      hexRGB(hex).forEach((v, i) => expect(Math.abs((got[i] ?? -99) - v), `${got} vs ${hex}`).toBeLessThanOrEqual(3));
    };
    near(at(0, 10), '#440154');
    near(at(nx - 1, 10), '#fde725');
    near(at(100, 50), '#d3d3d3');
  });
});
