/**
 * `xasmap serve [--host 127.0.0.1] [--port 8765] [--token T] [--out DIR] [--max-payload BYTES]
 * [--max-connections N] [--max-queued N] [--batch N] [--batch-ms MS]`: the websocket server of
 * stream/server.ts (protocol: docs/protocol.md). Runs until SIGINT/SIGTERM, then finishes the
 * in-flight batches, writes the open scans and exits 0.
 */
import type { BackendKind } from '../model/backend.js';
import { SERVE_DEFAULTS, startServer } from '../stream/server.js';
import type { CliIo } from './io.js';
import { intOption } from './options.js';

export interface ServeCliOptions {
  host?: string;
  port?: string;
  token?: string;
  out?: string;
  maxPayload?: string;
  maxConnections?: string;
  maxQueued?: string;
  batch?: string;
  batchMs?: string;
  model?: string;
  backend?: string;
}

export async function runServe(opts: ServeCliOptions, io: CliIo, stop?: Promise<unknown>): Promise<number> {
  const server = await startServer({
    host: opts.host ?? SERVE_DEFAULTS.host,
    port: intOption('port', opts.port, 0, SERVE_DEFAULTS.port),
    ...(opts.token !== undefined ? { token: opts.token } : {}),
    out: opts.out ?? '.',
    maxPayload: intOption('max-payload', opts.maxPayload, 1024, SERVE_DEFAULTS.maxPayload),
    maxConnections: intOption('max-connections', opts.maxConnections, 1, SERVE_DEFAULTS.maxConnections),
    maxQueued: intOption('max-queued', opts.maxQueued, 1, SERVE_DEFAULTS.maxQueued),
    batchSize: intOption('batch', opts.batch, 1, SERVE_DEFAULTS.batchSize),
    batchMs: intOption('batch-ms', opts.batchMs, 0, SERVE_DEFAULTS.batchMs),
    backend: (opts.backend ?? 'wasm') as BackendKind,
    ...(opts.model !== undefined ? { model: opts.model } : {}),
    log: (l) => io.stderr(l),
  });
  io.stderr(`xasmap serve: listening on ${server.url} (protocol v1, docs/protocol.md)${opts.token !== undefined ? '; token required' : ''}`);
  let onInt = (): void => undefined;
  let onTerm = (): void => undefined;
  const signalled = new Promise<string>((res) => {
    onInt = () => res('SIGINT');
    onTerm = () => res('SIGTERM');
  });
  process.once('SIGINT', onInt);
  process.once('SIGTERM', onTerm);
  const why = await Promise.race([signalled, stop ?? new Promise<never>(() => undefined)]);
  process.off('SIGINT', onInt);
  process.off('SIGTERM', onTerm);
  io.stderr(`xasmap serve: ${typeof why === 'string' ? why : 'stop'}: finishing in-flight batches and writing open scans`);
  await server.close();
  return 0;
}
