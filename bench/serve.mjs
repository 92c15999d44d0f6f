#!/usr/bin/env node
/**
 * `xasmap serve` throughput and latency, measured with `xasmap replay` (issue 6):
 * node bench/serve.mjs [--params examples/params.h5] [--runs 3] [--batch 100] [--server-batch N]
 * (npm run build first). Starts `xasmap serve` as a child process on a free loopback port,
 * does one warm-up replay (the server loads the model on the first scan; not counted), replays
 * the map --runs times at unlimited rate (median pixels/s, median p99 latency), once at half
 * that median rate (p99 latency), and renders the same map with `xasmap render` in the same run
 * as the baseline (wall time -> pixels/s). Prints a Markdown table and the raw JSON.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../bin/xasmap.js', import.meta.url));
const args = process.argv.slice(2);
const opt = (k, d) => (args.includes(`--${k}`) ? args[args.indexOf(`--${k}`) + 1] : d);
const params = opt('params', fileURLToPath(new URL('../examples/params.h5', import.meta.url)));
const runs = Number(opt('runs', '3'));
const batch = opt('batch', '100');
const dir = mkdtempSync(join(tmpdir(), 'xasmap-bench-serve-'));

async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function cli(cliArgs) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [BIN, ...cliArgs], { encoding: 'utf8', timeout: 600_000 });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`xasmap ${cliArgs.join(' ')}: exit ${r.status}\n${r.stderr}`);
  return { json: JSON.parse(r.stdout), wall };
}

const port = await freePort();
const url = `ws://127.0.0.1:${port}`;
const serverBatch = args.includes('--server-batch') ? args[args.indexOf('--server-batch') + 1] : null;
const server = spawn(process.execPath, [BIN, 'serve', '--port', String(port), '--out', dir, ...(serverBatch ? ['--batch', serverBatch] : [])], { stdio: ['ignore', 'ignore', 'pipe'] });
let serverLog = '';
await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`server did not start:\n${serverLog}`)), 60_000);
  server.stderr.on('data', (d) => {
    serverLog += d;
    if (/listening on/.test(serverLog)) {
      clearTimeout(timer);
      resolve();
    }
  });
  server.on('exit', (c) => reject(new Error(`server exited ${c}:\n${serverLog}`)));
});

const replay = (scan, extra = []) => cli(['replay', params, '--to', url, '--scan', scan, '--batch', batch, '--json', ...extra]).json;
const rows = [];
try {
  const warm = replay('warmup');
  const full = [];
  for (let i = 0; i < runs; i++) full.push(replay(`run${i}`));
  const pps = median(full.map((s) => s.pixelsPerSecond));
  const p99 = median(full.map((s) => s.latencyMs.p99));
  const halfRate = Math.round(pps / 2);
  const half = replay('half', ['--rate', String(halfRate)]);
  const render = cli(['render', params, '--out', join(dir, 'render.h5'), '--json', '--force']);
  const rendered = full[0].sent;

  const f0 = (v) => Math.round(v).toLocaleString('en-US');
  const f1 = (v) => v.toFixed(1);
  console.log(`map: ${params} (${full[0].height} x ${full[0].width}, ${rendered} pixels computed), batch ${batch}, ${new Date().toISOString().slice(0, 10)}, node ${process.version}\n`);
  console.log('| run | rate | pixels/s | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) |');
  console.log('|---|---|---:|---:|---:|---:|---:|');
  const line = (name, rate, s) => console.log(`| ${name} | ${rate} | ${f0(s.pixelsPerSecond)} | ${f1(s.latencyMs.p50)} | ${f1(s.latencyMs.p90)} | ${f1(s.latencyMs.p99)} | ${f1(s.latencyMs.max)} |`);
  line('warm-up (model load, not counted)', 'unlimited', warm);
  full.forEach((s, i) => line(`replay ${i + 1}`, 'unlimited', s));
  console.log(`| **median of ${runs}** | unlimited | **${f0(pps)}** | | | **${f1(p99)}** | |`);
  line('replay at half rate', `${f0(halfRate)}/s`, half);
  console.log(`| \`xasmap render\` (baseline): wall time incl. start-up, model load, write, PNGs (${f1(render.wall)} s) | - | ${f0(rendered / render.wall)} | | | | |`);
  console.log(`| \`xasmap render\` (baseline): its own --json pixels/s | - | ${f0(render.json.pixelsPerSecond)} | | | | |`);
  console.log(`\nreplay pixels/s: first pixel sent -> last result; end -> done (writing the NeXus file) takes another ${full.map((s) => s.endSeconds.toFixed(2)).join(' / ')} s.`);
  rows.push({ warm, full, medianPixelsPerSecond: pps, medianP99: p99, halfRate, half, render: { wall: render.wall, pixelsPerSecond: rendered / render.wall, summary: render.json } });
  console.log(`\n<details><summary>raw</summary>\n\n\`\`\`json\n${JSON.stringify(rows[0], (k, v) => (k === 'done' ? undefined : v), 1)}\n\`\`\`\n</details>`);
} finally {
  server.kill('SIGTERM');
  await new Promise((r) => server.on('close', r));
  rmSync(dir, { recursive: true, force: true });
}
