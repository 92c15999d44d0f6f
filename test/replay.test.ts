/**
 * `xasmap replay` (issue 6, simulated microscope): examples/params.h5 (100 x 100 Ni2+, some
 * masked and NaN pixels) replayed through main() against an in-process `startServer` on
 * 127.0.0.1 port 0; every computed pixel answered, the done file written, the summary present.
 * Errors: refused connection and bad URL exit 2.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../src/cli/index.js';
import type { CliIo } from '../src/cli/io.js';
import { openParamsMap } from '../src/io/params-map.js';
import { PARAM_NAMES } from '../src/physics/ions.js';
import { percentile } from '../src/stream/replay-client.js';
import { startServeWithIo as startServer } from '../src/cli/serve.js';
import type { XasServer } from '../src/stream/server.js';

const PARAMS = fileURLToPath(new URL('../examples/params.h5', import.meta.url));
const MEASURED = fileURLToPath(new URL('../examples/measured.h5', import.meta.url));

const servers: XasServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

function collector(): { io: CliIo; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    io: { stdout: (t) => (out += t), stderr: (l) => (err += `${l}\n`), isTTY: false },
    out: () => out,
    err: () => err,
  };
}

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const c = collector();
  const code = await main(['node', 'xasmap', ...args], c.io);
  return { code, stdout: c.out(), stderr: c.err() };
}

/** Pixels of the map that should be sent: mask non-zero and all nine parameters finite. */
async function expectedPixels(): Promise<{ computable: number; total: number }> {
  const r = await openParamsMap(PARAMS);
  try {
    const { nx, ny } = r.info;
    const t = r.readRows(0, ny);
    let computable = 0;
    for (let i = 0; i < nx * ny; i++) {
      if (t.mask && t.mask[i] === 0) continue;
      let ok = true;
      for (let j = 0; j < PARAM_NAMES.length; j++) if (!Number.isFinite(t.params[i * PARAM_NAMES.length + j] as number)) ok = false;
      if (ok) computable++;
    }
    return { computable, total: nx * ny };
  } finally {
    r.close();
  }
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('xasmap replay', () => {
  it('percentile: nearest rank', () => {
    const s = Float64Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(s, 50)).toBe(50);
    expect(percentile(s, 99)).toBe(99);
    expect(percentile(s, 100)).toBe(100);
    expect(percentile([], 50)).toBeNull();
  });

  it('replays examples/params.h5: one result per computable pixel, done file, summary', async () => {
    const out = mkdtempSync(join(tmpdir(), 'xasmap-replay-'));
    const server = await startServer({ host: '127.0.0.1', port: 0, out });
    servers.push(server);
    const { computable, total } = await expectedPixels();
    expect(computable).toBeGreaterThan(0);
    expect(computable).toBeLessThan(total);

    const r = await run(['replay', PARAMS, '--to', server.url, '--scan', 'ex1', '--batch', '250', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as Record<string, any>;
    expect(s.pixels).toBe(total);
    expect(s.sent).toBe(computable);
    expect(s.masked + s.nanParams).toBe(total - computable);
    expect(s.results).toBe(computable);
    expect(s.errors).toBe(0);
    expect(s.frames).toBe(Math.ceil(computable / 250));
    expect(s.done.stats.computed).toBe(computable);
    expect(s.done.stats.received).toBe(computable);
    expect(s.done.files).toEqual(['ex1.render.h5', 'ex1.render.se.png', 'ex1.render.l3peak.png', 'ex1.render.rgb.png', 'ex1.render.spectra.png'].map((f) => join(out, f)));
    expect(existsSync(join(out, 'ex1.render.h5'))).toBe(true);
    expect(s.pixelsPerSecond).toBeGreaterThan(0);
    expect(s.latencyMs.count).toBe(computable);
    for (const k of ['p50', 'p90', 'p99', 'max']) expect(s.latencyMs[k]).toBeGreaterThan(0);
    expect(s.latencyMs.p50).toBeLessThanOrEqual(s.latencyMs.p90);
    expect(s.latencyMs.p90).toBeLessThanOrEqual(s.latencyMs.p99);
    expect(s.latencyMs.p99).toBeLessThanOrEqual(s.latencyMs.max);
  });

  it('with --measured and --rate: text summary, SE computed on the server', async () => {
    const out = mkdtempSync(join(tmpdir(), 'xasmap-replay-'));
    const server = await startServer({ host: '127.0.0.1', port: 0, out });
    servers.push(server);
    const { computable } = await expectedPixels();
    const r = await run(['replay', PARAMS, '--measured', MEASURED, '--to', server.url, '--scan', 'ex2', '--rate', '20000']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`results ${computable} `));
    expect(r.stdout).toMatch(/throughput \d+ pixels\/s/);
    expect(r.stdout).toMatch(/latency \(ms, request -> result\): p50 [\d.]+ +p90 [\d.]+ +p99 [\d.]+ +max [\d.]+/);
    expect(existsSync(join(out, 'ex2.render.h5'))).toBe(true);
  });

  it('connection refused: exit 2 naming the URL', async () => {
    const url = `ws://127.0.0.1:${await freePort()}`;
    const r = await run(['replay', PARAMS, '--to', url]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(url);
    expect(r.stderr).toMatch(/connection refused/);
  });

  it('bad URL, missing file, wrong token: exit 2', async () => {
    expect((await run(['replay', PARAMS, '--to', 'http://127.0.0.1:1'])).code).toBe(2);
    expect((await run(['replay', PARAMS, '--to', 'not a url'])).code).toBe(2);
    const missing = await run(['replay', join(tmpdir(), 'no-such-xasmap.h5'), '--to', 'ws://127.0.0.1:1']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/not found/);
    const out = mkdtempSync(join(tmpdir(), 'xasmap-replay-'));
    const server = await startServer({ host: '127.0.0.1', port: 0, out, token: 'secret' });
    servers.push(server);
    const bad = await run(['replay', PARAMS, '--to', server.url, '--token', 'wrong']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/UNAUTHORIZED/);
  });
});
