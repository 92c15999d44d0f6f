/** `xasmap simulate --ion ION --params FILE [--out FILE] [--sticks]` */
import { writeFileAtomic } from '../io/atomic-write.js';
import { rangeWarnings, readParamsFile } from '../io/params-json.js';
import { windowAxes } from '../physics/ions.js';
import { boxNormalise, broaden, computeSticks, ionModel, ionSpec, weightedSticks } from '../physics/spectrum.js';
import { parseIon } from './ion-option.js';
import type { CliIo } from './io.js';

export interface SimulateOptions {
  ion?: string;
  params?: string;
  out?: string;
  sticks?: boolean;
  force?: boolean;
}

const round = (x: number): number => Number(x.toPrecision(10));

export async function runSimulate(opts: SimulateOptions, io: CliIo): Promise<number> {
  const ion = parseIon(opts.ion);
  if (!opts.params) throw new (await import('../errors.js')).XasmapError('BAD_ARGS', '--params FILE is required');
  const list = readParamsFile(opts.params);
  for (const w of rangeWarnings(list, opts.params)) io.stderr(`warning: ${w}`);
  const model = ionModel(ion);
  const { w, energy } = windowAxes(model.window);
  const spectra: number[][] = [];
  const raws: number[][] = [];
  const sticksOut: number[][][] = [];
  for (const p of list) {
    const st = computeSticks(ionSpec(model, p), { tMax: p.T });
    const raw = broaden(st, model.window, p);
    raws.push(Array.from(raw));
    spectra.push(Array.from(boxNormalise(raw)));
    if (opts.sticks) {
      const { pos, wt } = weightedSticks(st, p.T);
      const order = Array.from(pos.keys()).sort((a, b) => pos[a]! - pos[b]!);
      sticksOut.push(order.map((i) => [pos[i]!, wt[i]!]));
    }
  }
  const result: Record<string, unknown> = {
    ion,
    w: Array.from(w, round),
    energy: Array.from(energy, round),
    spectra,
    raw: raws,
  };
  if (opts.sticks) result.sticks = sticksOut;
  const text = JSON.stringify(result) + '\n';
  if (opts.out) {
    writeFileAtomic(opts.out, text, opts.force ?? false);
    io.stderr(`wrote ${list.length} spectra of ${ion} to ${opts.out}`);
  } else {
    io.stdout(text);
  }
  return 0;
}
