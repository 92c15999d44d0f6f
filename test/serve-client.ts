/**
 * Helpers of the `xasmap serve` tests (serve, serve-resume, serve-browser, serve-fit): a websocket client that
 * queues frames, Ni2+ parameters, and reading a render file.
 */
import h5wasm from 'h5wasm/node';
import { WebSocket } from 'ws';
import type { Params } from '../src/physics/ions.js';

export type Frame = Record<string, unknown>;

export class WsClient {
  readonly ws: WebSocket;
  readonly frames: Frame[] = [];
  closed: { code: number; reason: string } | null = null;
  #waiters: (() => void)[] = [];

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on('message', (d) => {
      this.frames.push(JSON.parse(d.toString()) as Frame);
      this.#wake();
    });
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.#wake();
    });
    this.ws.on('error', () => undefined);
  }

  #wake(): void {
    for (const f of this.#waiters.splice(0)) f();
  }

  open(): Promise<void> {
    return new Promise((res, rej) => {
      this.ws.once('open', () => res());
      this.ws.once('error', rej);
    });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Waits for the next frame or close (at most ms). */
  changed(ms = 30_000): Promise<void> {
    return new Promise<void>((r) => {
      const t = setTimeout(r, ms);
      this.#waiters.push(() => {
        clearTimeout(t);
        r();
      });
    });
  }

  /** Removes and returns the first frame matching `pred`, waiting up to `ms`. */
  async next(pred: (f: Frame) => boolean = () => true, ms = 30_000): Promise<Frame> {
    const end = Date.now() + ms;
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i >= 0) return this.frames.splice(i, 1)[0] as Frame;
      if (this.closed) throw new Error(`closed (${this.closed.code}) while waiting; frames: ${JSON.stringify(this.frames).slice(0, 2000)}`);
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timeout; frames: ${JSON.stringify(this.frames).slice(0, 2000)}`);
      await this.changed(left);
    }
  }

  async waitClosed(ms = 5000): Promise<{ code: number; reason: string }> {
    const end = Date.now() + ms;
    while (!this.closed && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    if (!this.closed) throw new Error('not closed');
    return this.closed;
  }

  close(): void {
    this.ws.close();
  }
}

export async function connectTo(url: string): Promise<WsClient> {
  const c = new WsClient(url);
  await c.open();
  return c;
}

/** Polls `cond` every 10 ms until it holds (fails after ms: a hang guard, not a timing check). */
export async function until(cond: () => boolean, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Smooth, in-range Ni2+ parameters varying over the map. */
export function paramsAt(x: number, y: number): Params {
  return { Dq: 0.05 + 0.01 * x, Ds: -0.2 + 0.03 * y, Dt: 0.02 * (x - y), S1: 0.8, S2: 0.85, T: 300, sigmaG: 0.1, Gamma1: 0.4 + 0.02 * x, Gamma2: 0.6 };
}

export async function readRender(path: string): Promise<{ cube: Float32Array; se: Float32Array; flags: Uint8Array; shape: number[] }> {
  const M = await h5wasm.ready;
  M.activate_throwing_error_handler();
  const f = new h5wasm.File(path, 'r');
  try {
    const d = f.get('entry/spectra/data') as InstanceType<typeof h5wasm.Dataset>;
    const se = f.get('entry/maps/se') as InstanceType<typeof h5wasm.Dataset>;
    const fl = f.get('entry/maps/flags') as InstanceType<typeof h5wasm.Dataset>;
    return { cube: d.value as Float32Array, shape: d.shape as number[], se: se.value as Float32Array, flags: fl.value as Uint8Array };
  } finally {
    f.close();
  }
}
