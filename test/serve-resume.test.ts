/**
 * `xasmap serve` beyond the v1 core (docs/protocol.md): resume of a scan whose client vanished
 * (equal to `xasmap render` of the same map), orphan timeout and shutdown, backpressure under a
 * client far faster than the model (nothing accepted is lost, the queue limit holds), the
 * `watch` frames of the live view and its HTTP page, the binary pixels frame. Servers:
 * 127.0.0.1, port 0, closed by each test.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../src/cli/index.js';
import { startServeWithIo } from '../src/cli/serve.js';
import { openParamsMap } from '../src/io/params-map.js';
import { FLAG } from '../src/ops/render-maps.js';
import { PARAM_NAMES } from '../src/physics/ions.js';
import { decodePixelsFrame, encodePixelsFrame } from '../src/stream/binary-pixels.js';
import { type ServeOptions, type XasServer, decodeBitmap } from '../src/stream/server.js';
import { type Frame, type WsClient, connectTo, paramsAt, readRender, until } from './serve-client.js';

const PARAMS = fileURLToPath(new URL('../examples/params.h5', import.meta.url));

const servers: XasServer[] = [];
const clients: WsClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  for (const s of servers.splice(0)) await s.close();
});

async function serve(extra: Partial<Omit<ServeOptions, 'io'>> = {}): Promise<{ server: XasServer; out: string }> {
  const out = mkdtempSync(join(tmpdir(), 'xasmap-serve2-'));
  const server = await startServeWithIo({ host: '127.0.0.1', port: 0, out, ...extra });
  servers.push(server);
  return { server, out };
}

async function connect(server: XasServer): Promise<WsClient> {
  const c = await connectTo(server.url);
  clients.push(c);
  return c;
}

interface Item {
  x: number;
  y: number;
  params: Record<string, number>;
}

/** The computable pixels of examples/params.h5 (mask set, all parameters finite), row-major. */
async function exampleItems(): Promise<{ nx: number; ny: number; items: Item[] }> {
  const r = await openParamsMap(PARAMS);
  try {
    const { nx, ny } = r.info;
    const t = r.readRows(0, ny);
    const items: Item[] = [];
    for (let i = 0; i < nx * ny; i++) {
      if (t.mask && t.mask[i] === 0) continue;
      const params: Record<string, number> = {};
      let ok = true;
      PARAM_NAMES.forEach((k, j) => {
        const v = t.params[i * PARAM_NAMES.length + j] as number;
        if (!Number.isFinite(v)) ok = false;
        params[k] = v;
      });
      if (ok) items.push({ x: i % nx, y: Math.floor(i / nx), params });
    }
    return { nx, ny, items };
  } finally {
    r.close();
  }
}

/** Sends items in frames of 500 and waits for one result or error per item; returns them. */
async function sendAndAnswer(c: WsClient, scan: string, items: Item[]): Promise<Frame[]> {
  for (let i = 0; i < items.length; i += 500) c.send({ type: 'pixels', scan, items: items.slice(i, i + 500) });
  const answers: Frame[] = [];
  for (let k = 0; k < items.length; k++) answers.push(await c.next((f) => f.type === 'result' || f.type === 'error'));
  return answers;
}

describe('serve: resume after reconnect', () => {
  it('disconnect mid-scan, reconnect, resume, finish: the output equals xasmap render of the same map', async () => {
    const { server, out } = await serve();
    const { nx, ny, items } = await exampleItems();
    const half = items.filter((it) => it.y < 40);
    const rest = items.filter((it) => it.y >= 40);

    const a = await connect(server);
    a.send({ type: 'start', scan: 'res', ion: 'Ni2+', width: nx, height: ny });
    expect(await a.next((f) => f.type === 'ready')).toMatchObject({ resumed: false, resumeTimeout: 600 });
    const first = await sendAndAnswer(a, 'res', half);
    expect(first.every((f) => f.type === 'result')).toBe(true);
    // a few more pixels in flight, then the client vanishes without `end`
    const inFlight = rest.slice(0, 300);
    a.send({ type: 'pixels', scan: 'res', items: inFlight });
    a.ws.terminate();
    await until(() => server.stats().orphanedScans === 1, 'the scan to be orphaned');
    expect(existsSync(join(out, 'res.render.h5'))).toBe(false);

    const b = await connect(server);
    // a resume must give the same geometry
    b.send({ type: 'start', scan: 'res', ion: 'Ni2+', width: nx, height: ny - 1 });
    expect(await b.next((f) => f.type === 'error' || f.type === 'ready')).toMatchObject({ type: 'error', code: 'SCAN_EXISTS', scan: 'res' });
    b.send({ type: 'start', scan: 'res', ion: 'Ni2+', width: nx, height: ny });
    const ready = await b.next((f) => f.type === 'ready');
    expect(ready).toMatchObject({ type: 'ready', scan: 'res', resumed: true, width: nx, height: ny });
    const accepted = decodeBitmap(ready.accepted as string, nx * ny);
    expect(accepted.filter(Boolean)).toHaveLength(ready.received as number);
    for (const it of half) expect(accepted[it.y * nx + it.x]).toBe(true);
    for (const it of rest.slice(300)) expect(accepted[it.y * nx + it.x]).toBe(false);
    expect(ready.received as number).toBeGreaterThanOrEqual(half.length);

    // duplicates are still rejected
    const h0 = half[0] as Item;
    b.send({ type: 'pixel', scan: 'res', ...h0 });
    expect(await b.next((f) => f.type === 'error')).toMatchObject({ code: 'DUPLICATE', x: h0.x, y: h0.y });

    const missing = items.filter((it) => !accepted[it.y * nx + it.x]);
    b.send({ type: 'pixels', scan: 'res', items: missing });
    const want = new Set(missing.map((it) => it.y * nx + it.x));
    while (want.size > 0) {
      const f = await b.next((g) => g.type === 'result' || g.type === 'error');
      expect(f.type, JSON.stringify(f)).toBe('result');
      want.delete((f.y as number) * nx + (f.x as number));
    }
    b.send({ type: 'end', scan: 'res' });
    const done = await b.next((f) => f.type === 'done');
    expect(done.stats).toMatchObject({ pixels: nx * ny, received: items.length, computed: items.length });
    expect((done.files as string[]).map((f) => f.slice(out.length + 1))).toEqual([
      'res.render.h5',
      'res.render.se.png',
      'res.render.l3peak.png',
      'res.render.rgb.png',
      'res.render.spectra.png',
    ]);

    const refPath = join(out, 'ref.render.h5');
    const io = { stdout: () => undefined, stderr: () => undefined, isTTY: false };
    expect(await main(['node', 'xasmap', 'render', PARAMS, '--out', refPath], io)).toBe(0);
    const ref = await readRender(refPath);
    const got = await readRender(join(out, 'res.render.h5'));
    expect(got.shape).toEqual(ref.shape);
    let maxDiff = 0;
    for (let i = 0; i < ref.cube.length; i++) {
      const r = ref.cube[i] as number;
      const g = got.cube[i] as number;
      if (Number.isNaN(r) || Number.isNaN(g)) expect(Number.isNaN(g), `channel value ${i}`).toBe(Number.isNaN(r));
      else maxDiff = Math.max(maxDiff, Math.abs(r - g));
    }
    expect(maxDiff).toBeLessThan(1e-6);
    for (let p = 0; p < nx * ny; p++) {
      const rf = ref.flags[p] as number;
      // pixels render could not compute were never sent: MASKED in the stream's file
      expect(got.flags[p]).toBe(rf & (FLAG.MASKED | FLAG.INVALID_PARAM) ? FLAG.MASKED : rf);
    }
  });

  it('an orphaned scan is written when the resume timeout passes, and on shutdown', async () => {
    const { server, out } = await serve({ resumeTimeoutMs: 200 });
    const a = await connect(server);
    a.send({ type: 'start', scan: 'late', ion: 'Ni2+', width: 2, height: 2 });
    await a.next((f) => f.type === 'ready');
    a.send({ type: 'pixel', scan: 'late', x: 1, y: 1, params: paramsAt(1, 1) });
    expect(await a.next()).toMatchObject({ type: 'result', x: 1, y: 1 });
    a.ws.terminate();
    const file = join(out, 'late.render.h5');
    await until(() => existsSync(file), 'the timed-out scan to be written');
    expect(Array.from((await readRender(file)).flags)).toEqual([FLAG.MASKED, FLAG.MASKED, FLAG.MASKED, 0]);
    // the id is free again: a new start is a new scan, not a resume
    const b = await connect(server);
    b.send({ type: 'start', scan: 'late', ion: 'Ni2+', width: 2, height: 2 });
    expect(await b.next((f) => f.type === 'ready')).toMatchObject({ resumed: false });

    // shutdown writes orphaned scans (default timeout: 10 min)
    const s2 = await serve();
    const c = await connect(s2.server);
    c.send({ type: 'start', scan: 'orph', ion: 'Ni2+', width: 3, height: 1 });
    await c.next((f) => f.type === 'ready');
    c.send({ type: 'pixel', scan: 'orph', x: 0, y: 0, params: paramsAt(0, 0) });
    await c.next((f) => f.type === 'result');
    c.ws.terminate();
    await until(() => s2.server.stats().orphanedScans === 1, 'the scan to be orphaned');
    await s2.server.close();
    expect(Array.from((await readRender(join(s2.out, 'orph.render.h5'))).flags)).toEqual([0, FLAG.MASKED, FLAG.MASKED]);
  });
});

describe('serve: backpressure', () => {
  it('a client sending far faster than the model: the queue limit holds and every accepted pixel gets exactly one result', async () => {
    const maxQueued = 40;
    const { server } = await serve({ maxQueued, batchSize: 1024, batchMs: 5 });
    const c = await connect(server);
    const W = 30;
    const H = 20;
    c.send({ type: 'start', scan: 'bp', ion: 'Ni2+', width: W, height: H });
    await c.next((f) => f.type === 'ready');
    const results = new Map<number, number>();
    let answers = 0;
    let sent = 0;
    let queueFull = 0;
    let rounds = 0;
    let todo = Array.from({ length: W * H }, (_, p) => p);
    while (todo.length > 0) {
      rounds++;
      // everything outstanding at once, in frames of 100, without waiting for answers
      for (let i = 0; i < todo.length; i += 100) {
        c.send({ type: 'pixels', scan: 'bp', items: todo.slice(i, i + 100).map((p) => ({ x: p % W, y: Math.floor(p / W), params: paramsAt(p % W, Math.floor(p / W)) })) });
      }
      sent += todo.length;
      const retry: number[] = [];
      for (let k = 0; k < todo.length; k++) {
        const f = await c.next((g) => g.type === 'result' || g.type === 'error');
        answers++;
        expect(server.stats().queued).toBeLessThanOrEqual(maxQueued);
        const p = (f.y as number) * W + (f.x as number);
        if (f.type === 'result') results.set(p, (results.get(p) ?? 0) + 1);
        else {
          expect(f.code, JSON.stringify(f)).toBe('QUEUE_FULL');
          queueFull++;
          retry.push(p);
        }
      }
      todo = retry;
    }
    // one answer per pixel sent; exactly one result per pixel; nothing accepted was lost
    expect(answers).toBe(sent);
    expect(results.size).toBe(W * H);
    expect([...results.values()].every((n) => n === 1)).toBe(true);
    expect(queueFull).toBeGreaterThan(0);
    expect(sent).toBe(W * H + queueFull);
    expect(rounds).toBeGreaterThan(1);
    const st = server.stats();
    expect(st.peakQueued).toBeGreaterThan(0);
    expect(st.peakQueued).toBeLessThanOrEqual(maxQueued);
    expect(st.queued).toBe(0);
    c.send({ type: 'end', scan: 'bp' });
    const done = await c.next((f) => f.type === 'done');
    expect(done.stats).toMatchObject({ pixels: W * H, received: W * H, computed: W * H, errors: queueFull });
    // no answer arrived twice
    expect(c.frames.filter((f) => f.type === 'result' || f.type === 'error')).toHaveLength(0);
  });
});

function httpGet(url: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    })
      .on('error', reject)
      .end();
  });
}

describe('serve: live view', () => {
  it('GET / serves a self-contained page; other paths 404', async () => {
    const { server } = await serve();
    const page = await httpGet(server.httpUrl);
    expect(page.status).toBe(200);
    expect(page.type).toMatch(/^text\/html/);
    expect(page.body).toMatch(/<canvas|createElement\('canvas'\)|el\('canvas'/);
    expect(page.body).toContain("type: 'watch'");
    expect(page.body).not.toMatch(/https?:\/\//);
    expect(page.body).not.toMatch(/<script[^>]+src=/);
    expect((await httpGet(`${server.httpUrl}nope`)).status).toBe(404);
  });

  it('watch: a snapshot of the open scans, then scan and update frames covering every pixel; token enforced', async () => {
    const { server } = await serve({ token: 'tk' });
    const bad = await connect(server);
    bad.send({ type: 'watch' });
    expect(await bad.next((f) => f.type === 'error')).toMatchObject({ code: 'UNAUTHORIZED' });

    const c = await connect(server);
    c.send({ type: 'start', scan: 'w1', ion: 'Ni2+', width: 4, height: 3, token: 'tk' });
    await c.next((f) => f.type === 'ready');
    c.send({ type: 'pixel', scan: 'w1', x: 0, y: 0, params: paramsAt(0, 0) });
    await c.next((f) => f.type === 'result');

    const w = await connect(server);
    w.send({ type: 'watch', token: 'tk' });
    expect(await w.next((f) => f.type === 'watching')).toMatchObject({ protocol: 1, scans: ['w1'] });
    expect(await w.next((f) => f.type === 'scan')).toMatchObject({ scan: 'w1', ion: 'Ni2+', width: 4, height: 3, state: 'open' });
    const snap = await w.next((f) => f.type === 'update');
    expect(snap).toMatchObject({ scan: 'w1', full: true, px: [0, 0], computed: 1 });

    const items = [];
    for (let y = 0; y < 3; y++) for (let x = 0; x < 4; x++) if (x + y > 0) items.push({ x, y, params: paramsAt(x, y) });
    c.send({ type: 'pixels', scan: 'w1', items });
    const seen = new Set<string>(['0,0']);
    while (seen.size < 12) {
      const u = await w.next((f) => f.type === 'update');
      const px = u.px as number[];
      const l3 = u.l3 as number[];
      expect(l3).toHaveLength(px.length / 2);
      for (const v of l3) expect(v).toBeGreaterThan(800);
      for (let i = 0; i < px.length; i += 2) seen.add(`${px[i]},${px[i + 1]}`);
      expect((u.spectrum as { data: number[] }).data).toHaveLength(501);
    }
    c.send({ type: 'end', scan: 'w1' });
    await c.next((f) => f.type === 'done');
    const fin = await w.next((f) => f.type === 'scan' && f.state === 'done');
    expect((fin.files as string[])[0]).toMatch(/w1\.render\.h5$/);
  });
});

describe('serve: binary pixels frame', () => {
  it('answers binary records exactly as JSON items; malformed frames and bad records get errors', async () => {
    const { server } = await serve();
    const c = await connect(server);
    const W = 4;
    const H = 3;
    for (const scan of ['json', 'bin']) {
      c.send({ type: 'start', scan, ion: 'Ni2+', width: W, height: H });
      await c.next((f) => f.type === 'ready' && f.scan === scan);
    }
    const px = [];
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) px.push({ x, y, params: PARAM_NAMES.map((k) => paramsAt(x, y)[k]) });
    const collect = async (scan: string): Promise<Map<string, Frame>> => {
      const m = new Map<string, Frame>();
      while (m.size < W * H) {
        const f = await c.next((g) => g.scan === scan && (g.type === 'result' || g.type === 'error'));
        expect(f.type, JSON.stringify(f)).toBe('result');
        m.set(`${f.x},${f.y}`, f);
      }
      return m;
    };
    c.send({ type: 'pixels', scan: 'json', items: px.map((p) => ({ x: p.x, y: p.y, params: paramsAt(p.x, p.y), spectrum: true })) });
    const viaJson = await collect('json');
    const frame = encodePixelsFrame('bin', px, { spectrum: true });
    const back = decodePixelsFrame(frame);
    expect(typeof back === 'string' ? back : back.items.length).toBe(W * H);
    c.ws.send(frame);
    const viaBin = await collect('bin');
    for (const [k, f] of viaJson) expect((viaBin.get(k) as Frame).spectrum).toEqual(f.spectrum);

    // a measured spectrum per record (model grid: 501 values) gives an SE
    c.send({ type: 'start', scan: 'binm', ion: 'Ni2+', width: 1, height: 1 });
    await c.next((f) => f.type === 'ready' && f.scan === 'binm');
    const spec = (viaJson.get('2,1') as Frame).spectrum as number[];
    c.ws.send(encodePixelsFrame('binm', [{ x: 0, y: 0, params: px[0]?.params as number[], measured: spec }]));
    const r = await c.next((f) => f.scan === 'binm');
    expect(r).toMatchObject({ type: 'result' });
    expect(r.se as number).toBeGreaterThan(0);

    // errors: not the magic, wrong length, unknown scan, wrong measured length, NaN parameter
    c.ws.send(Buffer.from('hello binary world'));
    expect(await c.next((f) => f.type === 'error')).toMatchObject({ code: 'BAD_FRAME' });
    c.ws.send(frame.subarray(0, frame.length - 4));
    expect(await c.next((f) => f.type === 'error')).toMatchObject({ code: 'BAD_FRAME' });
    c.ws.send(encodePixelsFrame('nope', px.slice(0, 1)));
    expect(await c.next((f) => f.type === 'error')).toMatchObject({ code: 'UNKNOWN_SCAN', scan: 'nope' });
    c.send({ type: 'start', scan: 'bine', ion: 'Ni2+', width: 2, height: 1 });
    await c.next((f) => f.type === 'ready' && f.scan === 'bine');
    c.ws.send(encodePixelsFrame('bine', [{ x: 0, y: 0, params: px[0]?.params as number[], measured: [1, 2, 3] }]));
    expect(await c.next((f) => f.type === 'error')).toMatchObject({ code: 'BAD_MEASURED', x: 0, y: 0 });
    const nan = [...(px[0]?.params as number[])];
    nan[5] = NaN;
    c.ws.send(encodePixelsFrame('bine', [{ x: 1, y: 0, params: nan }]));
    const e = await c.next((f) => f.type === 'error');
    expect(e).toMatchObject({ code: 'BAD_PARAMS', x: 1, y: 0 });
    expect(e.message).toMatch(/'T'/);
  });
});
