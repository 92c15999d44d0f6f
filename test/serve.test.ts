/**
 * `xasmap serve` (stream/server.ts), protocol v1 of docs/protocol.md, with the shipped Ni2+
 * model: round trip against predictSpectra, every bad frame, token, two concurrent scans, and
 * the NeXus file written on end. Servers listen on 127.0.0.1 port 0 and are closed by each test.
 */
import { mkdtempSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import h5wasm from 'h5wasm/node';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadShippedModel, type LoadedModel } from '../src/io/model-registry.js';
import { initBackend } from '../src/model/backend.js';
import { predictSpectra } from '../src/ops/predict.js';
import { FLAG } from '../src/ops/render-maps.js';
import { boxNormaliseFinite } from '../src/ops/resample.js';
import { PARAM_NAMES, type Params } from '../src/physics/ions.js';
import { spectralError } from '../src/physics/spectrum.js';
import { startServeWithIo } from '../src/cli/serve.js';
import type { ServeOptions, XasServer } from '../src/stream/server.js';
import { type Frame, WsClient as Client } from './serve-client.js';

const servers: XasServer[] = [];
const clients: Client[] = [];
let model: LoadedModel;

beforeAll(async () => {
  await initBackend('wasm');
  model = await loadShippedModel('Ni2+');
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  for (const s of servers.splice(0)) await s.close();
});

async function serve(extra: Partial<Omit<ServeOptions, 'io'>> = {}): Promise<{ server: XasServer; out: string }> {
  const out = mkdtempSync(join(tmpdir(), 'xasmap-serve-'));
  const server = await startServeWithIo({ host: '127.0.0.1', port: 0, out, ...extra });
  servers.push(server);
  return { server, out };
}

async function connect(server: XasServer): Promise<Client> {
  const c = new Client(server.url);
  clients.push(c);
  await c.open();
  return c;
}

/** Smooth, in-range Ni2+ parameters varying over the map. */
function paramsAt(x: number, y: number): Params {
  return { Dq: 0.05 + 0.02 * x, Ds: -0.2 + 0.1 * y, Dt: 0.05 * (x - y), S1: 0.8, S2: 0.85, T: 300, sigmaG: 0.1, Gamma1: 0.4 + 0.05 * x, Gamma2: 0.6 };
}

function toArray(list: Params[]): Float32Array {
  return Float32Array.from(list.flatMap((p) => PARAM_NAMES.map((k) => p[k])));
}

async function start(c: Client, scan: string, width = 4, height = 3, extra: Frame = {}): Promise<Frame> {
  c.send({ type: 'start', scan, ion: 'Ni2+', width, height, ...extra });
  return c.next((f) => f.scan === scan && (f.type === 'ready' || f.type === 'error'));
}

async function readCube(path: string): Promise<{ cube: Float32Array; se: Float32Array; flags: Uint8Array; shape: number[]; ion: unknown; dq: Float32Array }> {
  const M = await h5wasm.ready;
  M.activate_throwing_error_handler();
  const f = new h5wasm.File(path, 'r');
  try {
    const d = f.get('entry/spectra/data') as InstanceType<typeof h5wasm.Dataset>;
    const se = f.get('entry/maps/se') as InstanceType<typeof h5wasm.Dataset>;
    const fl = f.get('entry/maps/flags') as InstanceType<typeof h5wasm.Dataset>;
    const dq = f.get('entry/params/Dq') as InstanceType<typeof h5wasm.Dataset>;
    const entry = f.get('entry') as InstanceType<typeof h5wasm.Group>;
    return {
      cube: d.value as Float32Array,
      shape: d.shape as number[],
      se: se.value as Float32Array,
      flags: fl.value as Uint8Array,
      dq: dq.value as Float32Array,
      ion: entry.attrs.ion?.value,
    };
  } finally {
    f.close();
  }
}

describe('xasmap serve (protocol v1)', () => {
  it('round trip on a 3 x 4 Ni2+ map: results equal predictSpectra, SE against measured, done writes the cube', async () => {
    const { server, out } = await serve();
    const c = await connect(server);
    const ready = await start(c, 'map1');
    expect(ready).toMatchObject({ type: 'ready', protocol: 1, scan: 'map1', ion: 'Ni2+', width: 4, height: 3, channels: 501 });

    const all: Params[] = [];
    for (let y = 0; y < 3; y++) for (let x = 0; x < 4; x++) all.push(paramsAt(x, y));
    const expected = predictSpectra(model.model, toArray(all), all.length, 2048);
    // a "measured" spectrum for pixel (1, 1): a scaled, offset copy of pixel (2, 0)'s prediction
    const ref = Array.from(expected.subarray(2 * 501, 3 * 501), (v) => 3 * v + 7);
    const refNorm = Float32Array.from(ref);
    boxNormaliseFinite(refNorm);
    const seExpected = spectralError(expected.subarray(5 * 501, 6 * 501), refNorm);

    // row 0 one pixel at a time (with spectra), rows 1-2 in one 'pixels' frame
    for (let x = 0; x < 4; x++) c.send({ type: 'pixel', scan: 'map1', x, y: 0, params: paramsAt(x, 0), spectrum: true });
    const items = [];
    for (let y = 1; y < 3; y++) for (let x = 0; x < 4; x++) items.push({ x, y, params: paramsAt(x, y), spectrum: true, ...(x === 1 && y === 1 ? { measured: ref } : {}) });
    c.send({ type: 'pixels', scan: 'map1', items });

    for (let k = 0; k < 12; k++) {
      const r = await c.next((f) => f.type === 'result' || f.type === 'error');
      expect(r.type).toBe('result');
      const x = r.x as number;
      const y = r.y as number;
      const p = y * 4 + x;
      expect(r.extrapolated).toBe(false);
      const sp = r.spectrum as number[];
      expect(sp).toHaveLength(501);
      const want = expected.subarray(p * 501, (p + 1) * 501);
      let maxDiff = 0;
      for (let i = 0; i < 501; i++) maxDiff = Math.max(maxDiff, Math.abs((sp[i] as number) - (want[i] as number)));
      expect(maxDiff).toBeLessThan(1e-6);
      if (x === 1 && y === 1) expect(r.se as number).toBeCloseTo(seExpected, 4);
      else expect(r.se).toBeUndefined();
    }

    c.send({ type: 'end', scan: 'map1' });
    const done = await c.next((f) => f.type === 'done');
    const file = join(out, 'map1.render.h5');
    const pngs = ['se', 'l3peak', 'rgb', 'spectra'].map((k) => join(out, `map1.render.${k}.png`));
    expect(done.files).toEqual([file, ...pngs]);
    expect(done.stats).toMatchObject({ pixels: 12, received: 12, computed: 12, errors: 0 });
    expect(readdirSync(out).sort()).toEqual(['map1.render.h5', 'map1.render.l3peak.png', 'map1.render.rgb.png', 'map1.render.se.png', 'map1.render.spectra.png']);

    const r = await readCube(file);
    expect(r.shape).toEqual([3, 4, 501]);
    expect(r.ion).toBe('Ni2+');
    for (let i = 0; i < expected.length; i++) expect(Math.abs((r.cube[i] as number) - (expected[i] as number))).toBeLessThan(1e-6);
    expect(Array.from(r.flags)).toEqual(new Array(12).fill(0));
    expect(r.se[5] as number).toBeCloseTo(seExpected, 4);
    expect(Number.isNaN(r.se[0] as number)).toBe(true);
    expect(r.dq[4 + 2] as number).toBeCloseTo(paramsAt(2, 1).Dq, 6);
  });

  it('every bad frame gets an error frame and the connection stays usable', async () => {
    const { server, out } = await serve();
    const c = await connect(server);
    const err = async (frame: unknown, code: string): Promise<Frame> => {
      c.send(frame);
      const e = await c.next((f) => f.type === 'error');
      expect(e.code, JSON.stringify(e)).toBe(code);
      expect(typeof e.message).toBe('string');
      return e;
    };
    await err('{not json', 'BAD_JSON');
    await err('[1,2]', 'BAD_FRAME');
    await err({ type: 'hello' }, 'UNKNOWN_TYPE');
    await err({ type: 'pixel', scan: 'nope', x: 0, y: 0, params: paramsAt(0, 0) }, 'UNKNOWN_SCAN');
    await err({ type: 'start', scan: 'a', ion: 'Xx9+', width: 2, height: 2 }, 'BAD_ION');
    await err({ type: 'start', scan: 'a', ion: 'Ni2+', width: 0, height: 2 }, 'BAD_FRAME');
    await err({ type: 'start', scan: '../evil', ion: 'Ni2+', width: 2, height: 2 }, 'BAD_FRAME');
    expect((await start(c, 'a', 2, 2)).type).toBe('ready');
    await err({ type: 'start', scan: 'a', ion: 'Ni2+', width: 2, height: 2 }, 'SCAN_EXISTS');
    const outside = await err({ type: 'pixel', scan: 'a', x: 2, y: 0, params: paramsAt(0, 0) }, 'OUT_OF_MAP');
    expect(outside).toMatchObject({ scan: 'a', x: 2, y: 0 });
    await err({ type: 'pixel', scan: 'a', x: 0, y: -1, params: paramsAt(0, 0) }, 'OUT_OF_MAP');
    await err({ type: 'pixel', scan: 'a', x: 0.5, y: 0, params: paramsAt(0, 0) }, 'BAD_FRAME');
    const { T: _T, ...noT } = paramsAt(0, 0);
    const bad = await err({ type: 'pixel', scan: 'a', x: 0, y: 0, params: noT }, 'BAD_PARAMS');
    expect(bad.message).toMatch(/'T'/);
    await err({ type: 'pixel', scan: 'a', x: 0, y: 0, params: { ...paramsAt(0, 0), Gamma1: -1 } }, 'BAD_PARAMS');
    await err({ type: 'pixel', scan: 'a', x: 0, y: 0, params: paramsAt(0, 0), measured: [1, 2, 3] }, 'BAD_MEASURED');
    await err({ type: 'pixels', scan: 'a', items: 'x' }, 'BAD_FRAME');
    await err({ type: 'pixel', scan: 'wrong', x: 0, y: 0, params: paramsAt(0, 0) }, 'UNKNOWN_SCAN');
    // the rejected pixel (0, 0) was not accepted: it can still be sent
    c.send({ type: 'pixel', scan: 'a', x: 0, y: 0, params: paramsAt(0, 0) });
    expect(await c.next((f) => f.type === 'result' || f.type === 'error')).toMatchObject({ type: 'result', x: 0, y: 0 });
    const dup = await err({ type: 'pixel', scan: 'a', x: 0, y: 0, params: paramsAt(0, 0) }, 'DUPLICATE');
    expect(dup).toMatchObject({ x: 0, y: 0 });
    // a pixels frame: good items answered with results, bad items with errors, one each
    c.send({
      type: 'pixels',
      scan: 'a',
      items: [
        { x: 1, y: 0, params: paramsAt(1, 0) },
        { x: 1, y: 0, params: paramsAt(1, 0) },
        { x: 9, y: 9, params: paramsAt(1, 0) },
        { x: 0, y: 1, params: { ...paramsAt(0, 1), T: 2000 } },
      ],
    });
    const answers = [];
    for (let k = 0; k < 4; k++) answers.push(await c.next((f) => f.type === 'result' || f.type === 'error'));
    const byKind = answers.map((a) => `${a.type}:${a.code ?? ''}:${a.x},${a.y}`).sort();
    expect(byKind).toEqual(['error:DUPLICATE:1,0', 'error:OUT_OF_MAP:9,9', 'result::0,1', 'result::1,0']);
    expect(answers.find((a) => a.x === 0 && a.y === 1)).toMatchObject({ extrapolated: true });
    // still usable: end works, unreceived pixel (1, 1) is MASKED with a NaN spectrum
    c.send({ type: 'end', scan: 'a' });
    const done = await c.next((f) => f.type === 'done');
    expect(done.stats).toMatchObject({ pixels: 4, received: 3, computed: 3, extrapolated: 1 });
    await err({ type: 'pixel', scan: 'a', x: 1, y: 1, params: paramsAt(0, 0) }, 'UNKNOWN_SCAN');
    const r = await readCube(join(out, 'a.render.h5'));
    expect(Array.from(r.flags)).toEqual([0, 0, FLAG.EXTRAPOLATED, FLAG.MASKED]);
    expect(Number.isNaN(r.cube[3 * 501] as number)).toBe(true);
    expect(Number.isNaN(r.cube[0] as number)).toBe(false);
    expect(c.closed).toBeNull();
  });

  it('an oversized frame closes the connection with 1009', async () => {
    const { server } = await serve({ maxPayload: 4096 });
    const c = await connect(server);
    expect((await start(c, 'big', 2, 2)).type).toBe('ready');
    c.send({ type: 'pixel', scan: 'big', x: 0, y: 0, params: paramsAt(0, 0), measured: new Array(501).fill(0.123456789) });
    expect((await c.waitClosed()).code).toBe(1009);
  });

  it('token: checked on start (wrong or missing: error + close 1008), right token works', async () => {
    const { server } = await serve({ token: 's3cret' });
    const bad = await connect(server);
    bad.send({ type: 'start', scan: 't', ion: 'Ni2+', width: 2, height: 2, token: 'nope' });
    expect(await bad.next((f) => f.type === 'error')).toMatchObject({ code: 'UNAUTHORIZED' });
    expect((await bad.waitClosed()).code).toBe(1008);
    const none = await connect(server);
    none.send({ type: 'start', scan: 't', ion: 'Ni2+', width: 2, height: 2 });
    expect(await none.next((f) => f.type === 'error')).toMatchObject({ code: 'UNAUTHORIZED' });
    expect((await none.waitClosed()).code).toBe(1008);
    const good = await connect(server);
    expect(await start(good, 't', 2, 2, { token: 's3cret' })).toMatchObject({ type: 'ready' });
    good.send({ type: 'pixel', scan: 't', x: 1, y: 1, params: paramsAt(1, 1) });
    expect(await good.next()).toMatchObject({ type: 'result', x: 1, y: 1 });
  });

  it('two concurrent scans on two connections stay separate', async () => {
    const { server, out } = await serve();
    const a = await connect(server);
    const b = await connect(server);
    expect((await start(a, 'sa', 3, 2)).type).toBe('ready');
    expect((await start(b, 'sb', 2, 3)).type).toBe('ready');
    // b cannot send into a's scan
    b.send({ type: 'pixel', scan: 'sa', x: 0, y: 0, params: paramsAt(0, 0) });
    expect(await b.next()).toMatchObject({ type: 'error', code: 'UNKNOWN_SCAN' });
    for (let y = 0; y < 2; y++) for (let x = 0; x < 3; x++) a.send({ type: 'pixel', scan: 'sa', x, y, params: paramsAt(x, y) });
    b.send({ type: 'pixels', scan: 'sb', items: [0, 1, 2].flatMap((y) => [0, 1].map((x) => ({ x, y, params: paramsAt(2 - x, y) }))) });
    for (let k = 0; k < 6; k++) expect(await a.next()).toMatchObject({ type: 'result', scan: 'sa' });
    for (let k = 0; k < 6; k++) expect(await b.next()).toMatchObject({ type: 'result', scan: 'sb' });
    a.send({ type: 'end', scan: 'sa' });
    b.send({ type: 'end', scan: 'sb' });
    const [da, db] = await Promise.all([a.next((f) => f.type === 'done'), b.next((f) => f.type === 'done')]);
    expect(da.stats).toMatchObject({ pixels: 6, computed: 6 });
    expect(db.stats).toMatchObject({ pixels: 6, computed: 6 });
    const ra = await readCube(join(out, 'sa.render.h5'));
    const rb = await readCube(join(out, 'sb.render.h5'));
    expect(ra.shape).toEqual([2, 3, 501]);
    expect(rb.shape).toEqual([3, 2, 501]);
    const pa: Params[] = [];
    for (let y = 0; y < 2; y++) for (let x = 0; x < 3; x++) pa.push(paramsAt(x, y));
    const pb: Params[] = [];
    for (let y = 0; y < 3; y++) for (let x = 0; x < 2; x++) pb.push(paramsAt(2 - x, y));
    const ea = predictSpectra(model.model, toArray(pa), 6, 2048);
    const eb = predictSpectra(model.model, toArray(pb), 6, 2048);
    for (let i = 0; i < ea.length; i++) expect(Math.abs((ra.cube[i] as number) - (ea[i] as number))).toBeLessThan(1e-6);
    for (let i = 0; i < eb.length; i++) expect(Math.abs((rb.cube[i] as number) - (eb[i] as number))).toBeLessThan(1e-6);
  });

  it('backpressure: beyond --max-queued pixels get QUEUE_FULL and can be resent', async () => {
    const { server } = await serve({ maxQueued: 2 });
    const c = await connect(server);
    expect((await start(c, 'q', 5, 1)).type).toBe('ready');
    c.send({ type: 'pixels', scan: 'q', items: [0, 1, 2, 3, 4].map((x) => ({ x, y: 0, params: paramsAt(x, 0) })) });
    const answers = [];
    for (let k = 0; k < 5; k++) answers.push(await c.next());
    expect(answers.filter((a) => a.type === 'result')).toHaveLength(2);
    const full = answers.filter((a) => a.code === 'QUEUE_FULL');
    expect(full).toHaveLength(3);
    c.send({ type: 'pixels', scan: 'q', items: full.map((a) => ({ x: a.x, y: 0, params: paramsAt(a.x as number, 0) })).slice(0, 2) });
    for (let k = 0; k < 2; k++) expect(await c.next()).toMatchObject({ type: 'result' });
  });

  it('a client that vanishes mid-scan with --resume-timeout 0: its partial map is written at once', async () => {
    const { server, out } = await serve({ resumeTimeoutMs: 0 });
    const c = await connect(server);
    expect((await start(c, 'gone', 2, 2)).type).toBe('ready');
    c.send({ type: 'pixel', scan: 'gone', x: 0, y: 0, params: paramsAt(0, 0) });
    expect(await c.next()).toMatchObject({ type: 'result' });
    c.ws.terminate();
    const file = join(out, 'gone.render.h5');
    const end = Date.now() + 5000;
    while (!existsSync(file) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    const r = await readCube(file);
    expect(Array.from(r.flags)).toEqual([0, FLAG.MASKED, FLAG.MASKED, FLAG.MASKED]);
  });
});

describe('xasmap serve command', () => {
  it('runServe listens, answers, and on stop writes the open scan and returns 0', async () => {
    const { runServe } = await import('../src/cli/serve.js');
    const out = mkdtempSync(join(tmpdir(), 'xasmap-serve-cli-'));
    const lines: string[] = [];
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    const io = { stdout: () => undefined, stderr: (l: string) => void lines.push(l), isTTY: false };
    const code = runServe({ port: '0', out, token: 'k' }, io, stopped);
    const end = Date.now() + 10_000;
    while (!lines.some((l) => l.includes('listening on')) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    const url = /listening on (ws:\/\/\S+)/.exec(lines.join('\n'))?.[1] as string;
    expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    const c = new Client(url);
    clients.push(c);
    await c.open();
    expect(await start(c, 'cli', 2, 1, { token: 'k' })).toMatchObject({ type: 'ready' });
    c.send({ type: 'pixel', scan: 'cli', x: 1, y: 0, params: paramsAt(1, 0) });
    expect(await c.next()).toMatchObject({ type: 'result' });
    stop();
    expect(await code).toBe(0);
    const r = await readCube(join(out, 'cli.render.h5'));
    expect(Array.from(r.flags)).toEqual([FLAG.MASKED, 0]);
  });
});
