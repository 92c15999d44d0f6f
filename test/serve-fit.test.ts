/**
 * `xasmap serve` fit frames (docs/protocol.md, "Fitting") with the shipped Ni2+ model: measured
 * spectra are predicted by the same network for known parameters (scaled and offset, on a
 * measured axis in descending order), fitted through the server's micro-batches; every fit pixel
 * gets exactly one fitResult, the fit recovers the truth, T fixed at 300 is honoured, bad
 * frames get errors, the live view gets the fit SE, and `end` writes <scan>.fit.h5 whose maps
 * equal the streamed results, plus the fit PNGs. The live page in headless chromium (skipped
 * without /usr/bin/chromium, as test/serve-browser.test.ts) draws the fit SE map.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import h5wasm from 'h5wasm/node';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startServeWithIo } from '../src/cli/serve.js';
import { type LoadedModel, loadShippedModel } from '../src/io/model-registry.js';
import { initBackend } from '../src/model/backend.js';
import { edgeStep } from '../src/ops/edge-step.js';
import { FIT_FLAG, PARAM_FLAG } from '../src/ops/fit-types.js';
import { predictSpectra } from '../src/ops/predict.js';
import { PARAM_NAMES, type Params, energyWindow, windowAxes } from '../src/physics/ions.js';
import type { XasServer } from '../src/stream/server.js';
import { type Frame, type WsClient, connectTo, until } from './serve-client.js';

const servers: XasServer[] = [];
const clients: WsClient[] = [];
let model: LoadedModel;
const grid = windowAxes(energyWindow('Ni2+')).energy;
/** the measured axis: every model-grid energy, descending (the server sorts and resamples) */
const energy = Array.from(grid).reverse();

beforeAll(async () => {
  await initBackend('wasm');
  model = await loadShippedModel('Ni2+');
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  for (const s of servers.splice(0)) await s.close();
});

async function serve(): Promise<{ server: XasServer; out: string }> {
  const out = mkdtempSync(join(tmpdir(), 'xasmap-serve-fit-'));
  const server = await startServeWithIo({ host: '127.0.0.1', port: 0, out, batchMs: 30 });
  servers.push(server);
  return { server, out };
}

async function connect(server: XasServer): Promise<WsClient> {
  const c = await connectTo(server.url);
  clients.push(c);
  return c;
}

/** In-range Ni2+ parameters varying over the map (T = 300, the fixed value). */
function truthAt(x: number, y: number): Params {
  return { Dq: 0.06 + 0.025 * x, Ds: -0.2 + 0.1 * y, Dt: 0.04 * (x - y), S1: 0.8, S2: 0.85, T: 300, sigmaG: 0.1, Gamma1: 0.4 + 0.05 * x, Gamma2: 0.6 };
}

/** The network's spectrum for the truth, on `energy` (descending), scaled by 3 and offset by 0.5. */
function measuredAt(x: number, y: number): number[] {
  const p = truthAt(x, y);
  const spec = predictSpectra(model.model, Float32Array.from(PARAM_NAMES, (k) => p[k]), 1, 1);
  return Array.from(spec).reverse().map((v) => 3 * v + 0.5);
}

async function readFit(path: string): Promise<{ params: Record<string, Float32Array>; sigma: Record<string, Float32Array>; se: Float32Array; flags: Uint16Array }> {
  const M = await h5wasm.ready;
  M.activate_throwing_error_handler();
  const f = new h5wasm.File(path, 'r');
  try {
    const get = (name: string): unknown => (f.get(`entry/maps/${name}`) as InstanceType<typeof h5wasm.Dataset>).value;
    const params: Record<string, Float32Array> = {};
    const sigma: Record<string, Float32Array> = {};
    for (const k of PARAM_NAMES) {
      params[k] = get(k) as Float32Array;
      sigma[k] = get(`${k}_sigma`) as Float32Array;
    }
    return { params, sigma, se: get('se') as Float32Array, flags: get('flags') as Uint16Array };
  } finally {
    f.close();
  }
}

const W = 4;
const H = 3;
/** SE tolerance (%): the measured spectra are the network's own, so the fit reaches ~0. */
const SE_TOL = 1;
/** Dq tolerance (eV) for "most pixels" (at least 9 of the 10 fitted). */
const DQ_TOL = 0.02;
/**
 * The per-scan fit settings: T (the check of "fixed is honoured") and S1, S2, sigmaG, Gamma2 at
 * their true values, Ds bounded. With all 8 parameters free the network has near-degenerate
 * minima (SE < 1 % at a Dq 0.03 eV off); with Dq, Ds, Dt, Gamma1 free the truth is found.
 * Starts: 8 were enough for the Ni2+ network of session 8; with that of session 10 two of the
 * ten pixels stayed in a wrong basin (SE 2.1 % at Dq 0.024 for 0.135 eV, 0.64 % at 0.080 for
 * 0.11), all eight nearest library spectra lying in it (40 iterations did not help, 16 starts did).
 */
const FIT = { fix: { T: 300, S1: 0.8, S2: 0.85, sigmaG: 0.1, Gamma2: 0.6 }, bounds: { Dq: [0, 0.2], Ds: [-0.6, 0.6] }, starts: 16, iterations: 20, library: 8192 };

describe('xasmap serve: fit frames', () => {
  it('fits streamed pixels, answers each once, and writes the fit file on end', async () => {
    const { server, out } = await serve();
    const watcher = await connect(server);
    watcher.send({ type: 'watch' });
    await watcher.next((f) => f.type === 'watching');
    const c = await connect(server);
    c.send({ type: 'start', scan: 'f1', ion: 'Ni2+', width: W, height: H, energy, fit: FIT });
    const ready = await c.next((f) => f.type === 'ready' || f.type === 'error');
    expect(ready.type).toBe('ready');

    // bad frames first: not accepted, so the pixels can be sent again
    c.send({ type: 'fit', scan: 'f1', x: 0, y: 0, measured: [1, 2, 3] });
    const short = await c.next((f) => f.type === 'error');
    expect(short).toMatchObject({ code: 'BAD_MEASURED', x: 0, y: 0 });
    const nonFinite = measuredAt(0, 0) as (number | null)[];
    nonFinite[7] = null;
    c.send({ type: 'fit', scan: 'f1', x: 0, y: 0, measured: nonFinite });
    expect(await c.next((f) => f.type === 'error')).toMatchObject({ code: 'BAD_MEASURED', x: 0, y: 0 });
    c.send({ type: 'fit', scan: 'f1', x: W, y: 0, measured: measuredAt(0, 0) });
    expect(await c.next((f) => f.type === 'error')).toMatchObject({ code: 'OUT_OF_MAP', x: W, y: 0 });

    // 10 pixels fitted: 4 as single frames, 6 in one `fits`; (3, 2) is rendered, (2, 2) never sent
    const fitted: [number, number][] = [];
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (!(y === 2 && x >= 2)) fitted.push([x, y]);
    for (const [x, y] of fitted.slice(0, 4)) c.send({ type: 'fit', scan: 'f1', x, y, measured: measuredAt(x, y) });
    c.send({ type: 'fits', scan: 'f1', items: fitted.slice(4).map(([x, y]) => ({ x, y, measured: measuredAt(x, y) })) });
    c.send({ type: 'pixel', scan: 'f1', x: 3, y: 2, params: truthAt(3, 2) });
    // a duplicate of a fitted pixel, and a fit of the rendered one
    c.send({ type: 'fit', scan: 'f1', x: 1, y: 0, measured: measuredAt(1, 0) });
    c.send({ type: 'fit', scan: 'f1', x: 3, y: 2, measured: measuredAt(3, 2) });

    const results = new Map<string, Frame>();
    for (let i = 0; i < fitted.length; i++) {
      const r = await c.next((f) => f.type === 'fitResult', 120_000);
      const key = `${String(r.x)},${String(r.y)}`;
      expect(results.has(key)).toBe(false);
      results.set(key, r);
    }
    const dups = [await c.next((f) => f.type === 'error'), await c.next((f) => f.type === 'error')];
    expect(dups.map((d) => [d.code, d.x, d.y]).sort()).toEqual([
      ['DUPLICATE', 1, 0],
      ['DUPLICATE', 3, 2],
    ]);
    const rendered = await c.next((f) => f.type === 'result');
    expect(rendered).toMatchObject({ x: 3, y: 2 });
    expect([...results.keys()].sort()).toEqual(fitted.map(([x, y]) => `${x},${y}`).sort());

    let dqOk = 0;
    for (const [x, y] of fitted) {
      const r = results.get(`${x},${y}`) as Frame;
      const params = r.params as Record<string, number>;
      const sigma = r.sigma as Record<string, number>;
      expect(r.se).toBeLessThan(SE_TOL);
      expect(params.T).toBe(300);
      expect(sigma.T).toBe(0);
      for (const [k, v] of Object.entries(FIT.fix)) {
        expect(params[k]).toBe(Math.fround(v));
        expect((r.paramFlags as Record<string, number>)[k]).toBe(PARAM_FLAG.FIXED);
      }
      expect((r.flags as number) & FIT_FLAG.NOT_FITTED).toBe(0);
      if (Math.abs((params.Dq as number) - truthAt(x, y).Dq) <= DQ_TOL) dqOk++;
    }
    expect(dqOk).toBeGreaterThanOrEqual(fitted.length - 1);

    // the live view: the scan is marked as fitted and the updates carry the fit SE
    const info = await watcher.next((f) => f.type === 'scan' && f.fit === true);
    expect(info.scan).toBe('f1');
    const seen = new Set<string>();
    while (seen.size < fitted.length) {
      const u = await watcher.next((f) => f.type === 'update' && f.scan === 'f1');
      const px = u.px as number[];
      const se = (u.se ?? []) as (number | null)[];
      for (let i = 0; i < se.length; i++) {
        const key = `${px[2 * i]},${px[2 * i + 1]}`;
        const r = results.get(key);
        if (!r) continue;
        expect(se[i]).toBeCloseTo(r.se as number, 4);
        seen.add(key);
      }
    }

    c.send({ type: 'end', scan: 'f1' });
    const done = await c.next((f) => f.type === 'done' || f.type === 'error', 60_000);
    expect(done.type).toBe('done');
    const files = done.files as string[];
    const fitH5 = join(out, 'f1.fit.h5');
    expect(files).toContain(join(out, 'f1.render.h5'));
    expect(files).toContain(fitH5);
    // one PNG per free parameter, the SE map and the spectra; none for the fixed ones
    for (const png of ['Dq', 'Ds', 'Dt', 'Gamma1', 'se', 'spectra']) {
      const p = join(out, `f1.fit.${png}.png`);
      expect(files).toContain(p);
      expect(existsSync(p)).toBe(true);
    }
    for (const k of Object.keys(FIT.fix)) expect(existsSync(join(out, `f1.fit.${k}.png`))).toBe(false);
    expect((done.stats as Frame).fitted).toBe(fitted.length);

    const file = await readFit(fitH5);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const p = y * W + x;
        const r = results.get(`${x},${y}`);
        if (!r) {
          expect(file.flags[p]).toBe(FIT_FLAG.NOT_FITTED);
          expect(file.se[p]).toBeNaN();
          expect(file.params.Dq?.[p]).toBeNaN();
          continue;
        }
        expect(file.flags[p]).toBe(r.flags);
        expect(file.se[p]).toBe(Math.fround(r.se as number));
        for (const k of PARAM_NAMES) {
          expect(file.params[k]?.[p]).toBe((r.params as Record<string, number>)[k]);
          const s = (r.sigma as Record<string, number | null>)[k];
          if (s === null) expect(file.sigma[k]?.[p]).toBeNaN();
          else expect(file.sigma[k]?.[p]).toBe(s);
        }
      }
    }
  });

  it('rejects fits without an energy axis and bad fit settings', async () => {
    const { server, out } = await serve();
    const c = await connect(server);
    c.send({ type: 'start', scan: 'noe', ion: 'Ni2+', width: 2, height: 2 });
    expect((await c.next((f) => f.type === 'ready' || f.type === 'error')).type).toBe('ready');
    c.send({ type: 'fit', scan: 'noe', x: 0, y: 0, measured: Array.from(grid, () => 1) });
    expect(await c.next((f) => f.type === 'error')).toMatchObject({ code: 'NO_ENERGY', scan: 'noe', x: 0, y: 0 });
    c.send({ type: 'fits', scan: 'noe', items: 3 });
    expect(await c.next((f) => f.type === 'error')).toMatchObject({ code: 'BAD_FRAME', scan: 'noe' });
    c.send({ type: 'end', scan: 'noe' });
    const done = await c.next((f) => f.type === 'done');
    expect(done.files).not.toContain(join(out, 'noe.fit.h5'));
    expect(existsSync(join(out, 'noe.fit.h5'))).toBe(false);

    const bad: [unknown, string][] = [
      [{ fix: { T: 'x' } }, 'fit.fix.T'],
      [{ fix: { Q: 1 } }, 'fit.fix'],
      [{ bounds: { Dq: [0.2, 0.1] } }, 'fit.bounds.Dq'],
      [{ bounds: { Dq: [0, 5] } }, 'fit.bounds.Dq'],
      [{ starts: 0 }, 'fit.starts'],
      [{ iterations: 1.5 }, 'fit.iterations'],
      [{ shift: 'auto' }, 'fit.shift'],
      [{ fix: { T: 300 }, bounds: { T: [1, 500] } }, 'T'],
      [{ colour: 1 }, 'fit.colour'],
      [{ preedge: 'yes' }, 'fit.preedge'],
      [{ edgeStep: 1 }, 'fit.edgeStep'],
      [[1], "'fit'"],
    ];
    for (const [fit, field] of bad) {
      c.send({ type: 'start', scan: 'bad', ion: 'Ni2+', width: 2, height: 2, energy, fit });
      const e = await c.next((f) => f.type === 'ready' || f.type === 'error');
      expect(e).toMatchObject({ type: 'error', code: 'BAD_FIT', scan: 'bad' });
      expect(e.message).toContain(field);
    }
    // preedge on an axis with no point below the edge (it starts 3 eV above the model grid's start)
    const high = energy.filter((e) => e >= (grid[0] as number) + 3);
    c.send({ type: 'start', scan: 'bad', ion: 'Ni2+', width: 2, height: 2, energy: high, fit: { preedge: true } });
    const e = await c.next((f) => f.type === 'ready' || f.type === 'error');
    expect(e).toMatchObject({ type: 'error', code: 'BAD_FIT', scan: 'bad' });
    expect(e.message).toContain('fit.preedge');
    c.send({ type: 'start', scan: 'bad', ion: 'Ni2+', width: 2, height: 2, energy: high, fit: { preedge: false } });
    expect((await c.next((f) => f.type === 'ready' || f.type === 'error')).type).toBe('ready');
  });

  /**
   * fit.preedge and fit.edgeStep on a wide scan (12 eV of pre-edge points below the model grid)
   * of pixel (1, 1): the network's spectrum (x3 + 0.5, flat below the grid) plus a sloped line
   * (PRE_SLOPE per eV: it rises by about half the peak height over the 30 eV window) or an
   * arctangent L3/L2 step of height STEP_HEIGHT (1/5 of the peak height) from ops/edge-step.ts.
   * With the matching setting the SE is within WITH_TOL percentage points of the clean
   * spectrum's SE; without it at least WITHOUT_MARGIN points above. Measured when written:
   * clean 0.00 %, line 18.2 % / with preedge 0.38 %, step 10.5 % / with edgeStep 0.00 %.
   */
  it('preedge and edgeStep remove a pre-edge line and an edge step (SE within 1 point of the clean fit; without: >= 3 points worse)', async () => {
    const PRE_SLOPE = 0.05;
    const STEP_HEIGHT = 0.6;
    const WITH_TOL = 1;
    const WITHOUT_MARGIN = 3;
    const start0 = grid[0] as number;
    const wide = [...energy, ...Array.from({ length: 120 }, (_, k) => start0 - 0.1 * (k + 1))];
    const step = edgeStep('Ni2+', wide);
    const base = measuredAt(1, 1);
    const floor = base[base.length - 1] as number;
    const spectrum = (extra: (e: number, i: number) => number): number[] => wide.map((e, i) => (i < base.length ? (base[i] as number) : floor) + extra(e, i));
    const clean = spectrum(() => 0);
    const line = spectrum((e) => 1 + PRE_SLOPE * (e - start0));
    const stepped = spectrum((_, i) => STEP_HEIGHT * (step[i] as number));

    const { server } = await serve();
    const c = await connect(server);
    const scans: [string, Record<string, unknown>, number[][]][] = [
      ['off', FIT, [clean, line, stepped]],
      ['pre', { ...FIT, preedge: true }, [line]],
      ['step', { ...FIT, edgeStep: true }, [stepped]],
    ];
    for (const [scan, fit, items] of scans) {
      c.send({ type: 'start', scan, ion: 'Ni2+', width: items.length, height: 1, energy: wide, fit });
      expect(await c.next((f) => f.type === 'ready' || f.type === 'error')).toMatchObject({ type: 'ready', scan });
      c.send({ type: 'fits', scan, items: items.map((measured, x) => ({ x, y: 0, measured })) });
    }
    const se = new Map<string, number>();
    for (let k = 0; k < 5; k++) {
      const r = await c.next((f) => f.type === 'fitResult' || f.type === 'error', 180_000);
      expect(r.type).toBe('fitResult');
      se.set(`${String(r.scan)}:${String(r.x)}`, r.se as number);
    }
    const cleanSe = se.get('off:0') as number;
    expect(cleanSe).toBeLessThan(SE_TOL);
    expect(se.get('pre:0')).toBeLessThan(cleanSe + WITH_TOL);
    expect(se.get('step:0')).toBeLessThan(cleanSe + WITH_TOL);
    expect(se.get('off:1')).toBeGreaterThan(cleanSe + WITHOUT_MARGIN);
    expect(se.get('off:2')).toBeGreaterThan(cleanSe + WITHOUT_MARGIN);
  });

  it.skipIf(!existsSync('/usr/bin/chromium'))('the live page (headless chromium) shows the fit SE map', async () => {
    const { chromium } = await import('playwright-core');
    const { server } = await serve();
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
    try {
      const page = await browser.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(e.message));
      await page.goto(server.httpUrl);
      const waitPage = async (expr: string, what: string): Promise<void> => {
        const end = Date.now() + 60_000;
        while (!(await page.evaluate(expr))) {
          if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      await waitPage('window.xasmapState !== undefined && window.xasmapState.connected === true', 'the page to connect');
      await until(() => server.stats().watchers >= 1, 'the page to watch');
      const c = await connect(server);
      c.send({ type: 'start', scan: 'fl', ion: 'Ni2+', width: 2, height: 2, energy, fit: FIT });
      await c.next((f) => f.type === 'ready');
      c.send({ type: 'fits', scan: 'fl', items: [0, 1, 2, 3].map((p) => ({ x: p % 2, y: Math.floor(p / 2), measured: measuredAt(p % 2, Math.floor(p / 2)) })) });
      const se = new Map<number, number>();
      for (let k = 0; k < 4; k++) {
        const r = await c.next((f) => f.type === 'fitResult', 60_000);
        se.set((r.y as number) * 2 + (r.x as number), r.se as number);
      }
      await waitPage("(() => { const s = window.xasmapState.scans.fl; return s !== undefined && s.pixels === 4; })()", 'the 4 fitted pixels on the page');
      await waitPage("window.xasmapState.scans.fl.kind === 'se'", 'the SE map');
      const st = (await page.evaluate('window.xasmapState.scans.fl')) as { fit: boolean; values: number[] };
      expect(st.fit).toBe(true);
      st.values.forEach((v, p) => expect(v).toBeCloseTo(se.get(p) as number, 4));
      const cap = (await page.evaluate(`document.querySelector('section[data-scan="fl"] .cap').textContent`)) as string;
      expect(cap).toContain('fit SE (%)');
      expect(pageErrors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
