/** A progress line on stderr: done/total, rate, ETA. Redraws in place on a TTY, else a line every few seconds. */
import type { CliIo } from './io.js';

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}

export class Progress {
  private readonly t0 = performance.now();
  private lastDraw = 0;
  private readonly startDone: number;

  constructor(
    private readonly io: CliIo,
    private readonly label: string,
    private readonly total: number,
    private readonly unit: string,
    startDone = 0,
  ) {
    this.startDone = startDone;
  }

  update(done: number, force = false): void {
    const now = performance.now();
    const interval = this.io.isTTY ? 200 : 5000;
    if (!force && now - this.lastDraw < interval) return;
    this.lastDraw = now;
    const elapsed = (now - this.t0) / 1000;
    // the first second says little about the rate
    const rate = elapsed > 1 ? (done - this.startDone) / elapsed : NaN;
    const eta = rate > 0 ? (this.total - done) / rate : Infinity;
    const rateText = Number.isFinite(rate) ? rate.toFixed(1) : '--';
    const frac = this.total > 0 ? done / this.total : 1;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
    const line = `${this.label} [${bar}] ${done}/${this.total} ${this.unit} ${(100 * frac).toFixed(1)}% ${rateText} ${this.unit}/s ETA ${formatDuration(eta)}`;
    this.io.stderr(this.io.isTTY ? `\r${line}` : line);
  }

  finish(done: number): void {
    this.update(done, true);
    if (this.io.isTTY) this.io.stderr('\n');
  }

  elapsedSeconds(): number {
    return (performance.now() - this.t0) / 1000;
  }
}
