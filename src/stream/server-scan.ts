/**
 * The in-memory state of one scan of `xasmap serve` and the small frame helpers shared by
 * stream/server.ts (pixels, resume, writing), stream/server-fits.ts (fit batches) and
 * stream/server-watchers.ts (the live view). Nothing here runs on its own: server.ts creates
 * the scans and hands them to the other two through their contexts.
 */
import { WebSocket } from 'ws';
import type { LibrarySet } from '../ops/fit.js';
import type { FitMaps } from '../ops/fit-types.js';
import type { RenderMaps } from '../ops/render-maps.js';
import type { MeasuredAxis } from '../ops/resample.js';
import type { IonName } from '../physics/ions.js';
import type { ServeFitSettings, ServePreEdge } from './fit-settings.js';

export const SERVE_CHANNELS = 501;

/** A model as the server sees it (io/model-registry.ts + ops/predict.ts, wired by cli/serve.ts). */
export interface ServeModel {
  /** shown in `ready.model` */
  readonly dir: string;
  /** the model attribute of the output file */
  readonly description: string;
  /** n x 9 parameters (PARAM_NAMES order) -> n x 501 box-normalised spectra */
  predict(x: Float32Array, n: number): Float32Array;
  /** the same off the main thread (a worker): fits use it when present, so that their many model calls do not block the event loop */
  predictAsync?(x: Float32Array, n: number): Promise<Float32Array>;
}

/** One scan: open, orphaned, being written, or finished (then only its small maps are kept, for the live view). */
export interface Scan {
  id: string;
  ion: IonName;
  ny: number;
  nx: number;
  /** null while orphaned (the client vanished; waiting for a resume) */
  owner: WebSocket | null;
  orphanTimer: NodeJS.Timeout | null;
  model: ServeModel;
  grid: Float64Array;
  axis: MeasuredAxis | null;
  /** the start frame's energy list as text (a resume must give the same) */
  energyKey: string;
  nMeasured: number;
  spectra: Float32Array;
  params: Float32Array;
  maps: RenderMaps;
  measuredOnGrid: Float32Array | null;
  /** 0 = not received, 1 = queued, 2 = done */
  state: Uint8Array;
  received: number;
  computed: number;
  errors: number;
  pending: number;
  drained: (() => void)[];
  ended: boolean;
  /** 'open' | 'orphaned' | 'writing' | 'done' (live view) */
  phase: 'open' | 'orphaned' | 'writing' | 'done';
  files: string[];
  /** the newest computed pixel (its spectrum is formatted only when a watcher update is sent) */
  lastSpectrum: { x: number; y: number } | null;
  t0: number;
  /** the fit settings of `start.fit` (defaults without) */
  fit: ServeFitSettings;
  /** `start.fit` as text (a resume must give the same) */
  fitKey: string;
  /** the energy axis with fit.shift applied (null without `energy`) */
  fitAxis: MeasuredAxis | null;
  /** the pre-edge line removal of `fit.preedge` (null when off or without `energy`) */
  preEdge: ServePreEdge | null;
  /** the fits so far (allocated with the first accepted fit pixel); null without fits */
  fitMaps: FitMaps | null;
  /** the scan had fit pixels (kept after the maps are dropped) */
  hasFit: boolean;
  fitted: number;
  /** the start library of the fits, predicted once per scan */
  library: Promise<LibrarySet> | null;
}

export type Frame = Record<string, unknown>;

export function send(ws: WebSocket | null, frame: Frame): void {
  if (ws !== null && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
}

export const finiteArray = (v: unknown, n: number): v is number[] => Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'number' && Number.isFinite(x));

/** Jobs grouped by a key (in first-seen order), e.g. one model call per model or one fit per scan. */
export function groupBy<K, T>(items: readonly T[], key: (t: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const t of items) {
    const k = key(t);
    const g = groups.get(k);
    if (g) g.push(t);
    else groups.set(k, [t]);
  }
  return groups;
}
