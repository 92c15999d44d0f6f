/**
 * `xasmap replay PARAMS.h5 [--measured FILE.h5] --to ws://127.0.0.1:8765 [--rate PIXELS_PER_S]
 * [--scan ID] [--token T] [--batch N] [--ion ION] [--json]`: a simulated microscope (issue 6).
 * Streams a parameter map row by row to `xasmap serve` (stream/replay-client.ts) and prints the
 * throughput and the request-to-result latency percentiles. Masked pixels and pixels with a
 * NaN parameter are not sent (counted). Bad URL, refused connection, bad files: exit code 2.
 */
import { basename, extname } from 'node:path';
import { XasmapError } from '../errors.js';
import { type MeasuredReader, openMeasured } from '../io/measured.js';
import { type ParamsMapReader, openParamsMap } from '../io/params-map.js';
import { checkUrl, replay, type ReplaySummary } from '../stream/replay-client.js';
import type { CliIo } from './io.js';
import { intOption, numberOption } from './options.js';

export interface ReplayCliOptions {
  to?: string;
  measured?: string;
  rate?: string;
  scan?: string;
  token?: string;
  batch?: string;
  ion?: string;
  json?: boolean;
}

export const DEFAULT_REPLAY_BATCH = 100;
const SCAN_ID = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/** A scan id from the file name: unsupported characters -> '_'. */
export function defaultScanId(path: string): string {
  const s = basename(path, extname(path)).replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[.-]+/, '').slice(0, 128);
  return s === '' ? 'replay' : s;
}

function fmt(v: number | null, digits = 1): string {
  return v === null ? '-' : v.toFixed(digits);
}

export async function runReplay(paramsPath: string, opts: ReplayCliOptions, io: CliIo): Promise<number> {
  if (opts.to === undefined) throw new XasmapError('BAD_ARGS', '--to ws://HOST:PORT/ is required');
  checkUrl(opts.to);
  const batch = intOption('batch', opts.batch, 1, DEFAULT_REPLAY_BATCH);
  const rate = numberOption('rate', opts.rate, Infinity, { gt: 0 });
  const scan = opts.scan ?? defaultScanId(paramsPath);
  if (!SCAN_ID.test(scan)) throw new XasmapError('BAD_ARGS', `--scan: 1-128 characters of A-Z a-z 0-9 . _ -, not starting with . or -; got '${scan}'`);

  let params: ParamsMapReader | null = null;
  let measured: MeasuredReader | null = null;
  try {
    params = await openParamsMap(paramsPath);
    const ion = opts.ion ?? params.info.ion;
    if (ion === undefined) throw new XasmapError('NO_ION', `${params.info.path}: no 'ion' attribute; give --ion`);
    if (opts.measured !== undefined) measured = await openMeasured(opts.measured);
    const { nx, ny } = params.info;
    io.stderr(`xasmap replay: ${ny} x ${nx} ${ion} map -> ${opts.to} as scan '${scan}' (batch ${batch}, rate ${rate === Infinity ? 'unlimited' : `${rate} pixels/s`}${measured ? `, measured: ${measured.info.energy.length} energies` : ''})`);
    const s = await replay({
      url: opts.to,
      ion,
      scan,
      batch,
      rate,
      params,
      measured,
      ...(opts.token !== undefined ? { token: opts.token } : {}),
    });
    if (opts.json) io.stdout(`${JSON.stringify(s, null, 2)}\n`);
    else io.stdout(formatSummary(s));
    return 0;
  } finally {
    params?.close();
    measured?.close();
  }
}

export function formatSummary(s: ReplaySummary): string {
  const L = s.latencyMs;
  const codes = Object.entries(s.errorCodes).map(([k, v]) => `${k} ${v}`).join(', ');
  return [
    `scan '${s.scan}' (${s.ion}, ${s.height} x ${s.width} = ${s.pixels} pixels) on ${s.url}`,
    `sent ${s.sent}, not sent: masked ${s.masked}, NaN parameters ${s.nanParams}${s.measuredOmitted ? `; without measured spectrum (non-finite): ${s.measuredOmitted}` : ''}`,
    `results ${s.results} (extrapolated ${s.extrapolated}), errors ${s.errors}${codes ? ` (${codes})` : ''}${s.resent ? `, resent after QUEUE_FULL ${s.resent}` : ''}`,
    `throughput ${s.pixelsPerSecond.toFixed(0)} pixels/s (${s.frames} frames, ${s.seconds.toFixed(2)} s to the last answer; end -> done ${s.endSeconds.toFixed(2)} s)`,
    `latency (ms, request -> result): p50 ${fmt(L.p50)}  p90 ${fmt(L.p90)}  p99 ${fmt(L.p99)}  max ${fmt(L.max)}`,
    `files: ${Array.isArray(s.done.files) ? s.done.files.join(', ') : String(s.done.files)}`,
    '',
  ].join('\n');
}
