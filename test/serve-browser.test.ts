/**
 * The live view of `xasmap serve` in a real browser: Debian's chromium, headless, driven by
 * playwright-core (no downloaded browser). A server on 127.0.0.1 port 0 with a token, the page
 * opened with ?token=, a 12 x 10 scan streamed over a websocket: the page's state
 * (window.xasmapState) holds all 120 pixels, its map canvas and a screenshot of it are filled
 * where the pixels arrived, and the newest spectrum is plotted.
 *
 * Skipped (with a message) when /usr/bin/chromium is absent: `apt-get install -y chromium`.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { startServeWithIo } from '../src/cli/serve.js';
import type { XasServer } from '../src/stream/server.js';
import { type WsClient, connectTo, paramsAt, until } from './serve-client.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`serve-browser.test.ts: skipped: ${CHROMIUM} is absent (install it with: apt-get install -y chromium)`);

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const BG = [224, 224, 224];

interface PageScan {
  width: number;
  height: number;
  state: string;
  pixels: number;
  kind: string;
  values: (number | null)[];
  spectrum: { x: number; y: number; data: number[] } | null;
}

const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
});

describe('serve: live view in headless chromium', () => {
  it.skipIf(!HAVE_CHROMIUM)('shows every pixel of a 12 x 10 scan as it streams in, and the newest spectrum', async () => {
    const { chromium } = await import('playwright-core');
    const out = mkdtempSync(join(tmpdir(), 'xasmap-live-'));
    const server: XasServer = await startServeWithIo({ host: '127.0.0.1', port: 0, out, token: 'tk', batchMs: 5 });
    cleanup.push(() => server.close());
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
    cleanup.push(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${server.httpUrl}?token=tk`);
    // page-side code is given as text (this project's TypeScript has no DOM types)
    // (page.waitForFunction evaluates strings with eval, which the page's CSP forbids: poll instead)
    const waitPage = async (expr: string, what: string): Promise<void> => {
      const end = Date.now() + 60_000;
      while (!(await page.evaluate(expr))) {
        if (Date.now() > end) throw new Error(`gave up waiting for ${what}: ${JSON.stringify(await page.evaluate('window.xasmapState'))?.slice(0, 2000)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await waitPage('window.xasmapState !== undefined && window.xasmapState.connected === true', 'the page to connect');

    const W = 12;
    const H = 10;
    const c: WsClient = await connectTo(server.url);
    cleanup.push(async () => void c.ws.terminate());
    // the page's watch frame is on the wire once it is connected; wait until the server has it
    await until(() => server.stats().watchers >= 1, 'the page to watch');
    c.send({ type: 'start', scan: 'live', ion: 'Ni2+', width: W, height: H, token: 'tk' });
    await c.next((f) => f.type === 'ready');
    // two halves, so the map fills in over several updates
    for (const rows of [[0, 5], [5, 10]] as const) {
      const items = [];
      for (let y = rows[0]; y < rows[1]; y++) for (let x = 0; x < W; x++) items.push({ x, y, params: paramsAt(x, y) });
      c.send({ type: 'pixels', scan: 'live', items });
      for (let k = 0; k < items.length; k++) expect(await c.next((f) => f.type === 'result' || f.type === 'error')).toMatchObject({ type: 'result' });
      // live: the page shows exactly the pixels sent so far
      await waitPage(`(() => { const s = window.xasmapState.scans.live; return s !== undefined && s.pixels === ${rows[1] * W}; })()`, `${rows[1] * W} pixels on the page`);
      const partial = (await page.evaluate('window.xasmapState.scans.live.pixels')) as number;
      expect(partial).toBe(rows[1] * W);
    }

    // the state holds all 120 pixels and the drawn map has a value for each
    await waitPage(
      `(() => { const s = window.xasmapState.scans.live; return s !== undefined && s.pixels === ${W * H} && s.values.filter((v) => v !== null).length === ${W * H}; })()`,
      'all pixels on the page',
    );
    const st = (await page.evaluate('window.xasmapState.scans.live')) as PageScan;
    expect(st).toMatchObject({ width: W, height: H, pixels: W * H, kind: 'l3peak', state: 'open' });
    for (const v of st.values) expect(v as number).toBeGreaterThan(800);
    expect(st.spectrum?.data).toHaveLength(501);

    // the canvas: one canvas pixel per map pixel, none left in the background colour
    const rgba = (await page.evaluate(`(() => {
      const cv = document.querySelector('canvas.map[data-scan="live"]');
      const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height);
      return { w: cv.width, h: cv.height, data: Array.from(d.data) };
    })()`)) as { w: number; h: number; data: number[] };
    expect([rgba.w, rgba.h]).toEqual([W, H]);
    for (let p = 0; p < W * H; p++) {
      const px = rgba.data.slice(4 * p, 4 * p + 4);
      expect(px[3], `alpha of pixel ${p}`).toBe(255);
      expect(px.slice(0, 3), `pixel ${p} still background`).not.toEqual(BG);
    }
    // and a screenshot of it: no cell is background grey (the map is drawn at an integer scale)
    const shot = await page.locator('canvas.map[data-scan="live"]').screenshot();
    const img = await sharp(shot).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const { width: sw, height: sh } = img.info;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const cx = Math.floor(((x + 0.5) * sw) / W);
        const cy = Math.floor(((y + 0.5) * sh) / H);
        const o = (cy * sw + cx) * 3;
        const px = [img.data[o], img.data[o + 1], img.data[o + 2]];
        expect(px, `screenshot cell x=${x}, y=${y}`).not.toEqual(BG);
      }
    }
    // the spectrum plot is drawn: the line's blue (#1f77b4) is on the canvas
    const inked = (await page.evaluate(`(() => {
      const cv = document.querySelector('section[data-scan="live"] canvas.spec');
      const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 128 && d[i + 2] > d[i] + 80) n++;
      return n;
    })()`)) as number;
    expect(inked).toBeGreaterThan(100);
    // XASMAP_SCREENSHOT=FILE.png keeps a picture of the page (for looking at it, not checked)
    if (process.env.XASMAP_SCREENSHOT) await page.screenshot({ path: process.env.XASMAP_SCREENSHOT, fullPage: true });

    c.send({ type: 'end', scan: 'live' });
    await c.next((f) => f.type === 'done');
    await waitPage("window.xasmapState.scans.live.state === 'done'", 'the scan to be done on the page');
    expect(pageErrors).toEqual([]);
  });
});
