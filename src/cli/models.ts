/** `xasmap models [--json]`: the shipped models and what they measured. */
import { listShippedModels } from '../io/model-registry.js';
import { ION_NAMES } from '../physics/ions.js';
import type { CliIo } from './io.js';

export async function runModels(opts: { json?: boolean }, io: CliIo): Promise<number> {
  const models = listShippedModels();
  if (opts.json) {
    io.stdout(JSON.stringify(models.map((m) => ({ ion: m.ion, arch: m.meta.arch, params: m.meta.paramCount, validation: m.meta.validation, evaluation: m.meta.evaluation ?? null })), null, 1) + '\n');
    return 0;
  }
  const rows = models.map((m) => {
    const ev = (m.meta.evaluation ?? {}) as { testCount?: number; fractionBelow3?: number; fractionBelow7?: number; meetsBar?: boolean };
    const pct = (x: number | undefined) => (x === undefined ? '   -  ' : `${(100 * x).toFixed(2).padStart(6)}`);
    return `${m.ion.padEnd(6)} ${m.meta.arch.padEnd(7)} ${String(m.meta.paramCount).padStart(8)}  ${m.meta.validation.mse.toExponential(2)}  ${m.meta.validation.mae.toExponential(2)}  ${pct(ev.fractionBelow3)}  ${pct(ev.fractionBelow7)}  ${ev.testCount ?? '-'}  ${ev.meetsBar === undefined ? 'not evaluated' : ev.meetsBar ? 'yes' : 'NO'}`;
  });
  io.stdout(`ion    arch      params  val MSE   val MAE   %SE<3   %SE<7   test  bar (>=95% <3%, >=99.9% <7%)\n`);
  io.stdout(rows.join('\n') + (rows.length ? '\n' : ''));
  const missing = ION_NAMES.filter((i) => !models.some((m) => m.ion === i));
  io.stdout(`${models.length} of 22 ions have a model${missing.length ? `; not yet: ${missing.join(', ')}` : ''}\n`);
  return 0;
}
