/**
 * Training checkpoints: a directory with the model (model.json + weights.bin), the
 * optimizer's slots (optimizer.json + optimizer.bin, tfjs weights encoding, in the
 * optimizer's own order) and state.json. A checkpoint is written into `<dir>.tmp`
 * and swapped in with directory renames, so a kill leaves either the old or the new
 * checkpoint, never a mix.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { XasmapError } from '../errors.js';
import { loadModel, saveModel } from './model-files.js';

type NamedTensor = Awaited<ReturnType<tf.Optimizer['getWeights']>>[number];

export interface Checkpoint<S> {
  model: tf.LayersModel;
  optimizerWeights: NamedTensor[];
  state: S;
}

export async function saveCheckpoint<S>(dir: string, model: tf.LayersModel, optimizer: tf.Optimizer, state: S): Promise<void> {
  const tmp = `${dir}.tmp`;
  const old = `${dir}.old`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await saveModel(model, tmp, { force: true });
  const weights = await optimizer.getWeights();
  const { data, specs } = await tf.io.encodeWeights(weights);
  writeFileSync(join(tmp, 'optimizer.bin'), new Uint8Array(data));
  writeFileSync(join(tmp, 'optimizer.json'), JSON.stringify(specs));
  writeFileSync(join(tmp, 'state.json'), JSON.stringify(state));
  rmSync(old, { recursive: true, force: true });
  if (existsSync(dir)) renameSync(dir, old);
  renameSync(tmp, dir);
  rmSync(old, { recursive: true, force: true });
}

export function hasCheckpoint(dir: string): boolean {
  return existsSync(join(dir, 'state.json')) || existsSync(join(`${dir}.old`, 'state.json'));
}

export async function loadCheckpoint<S>(dir: string): Promise<Checkpoint<S>> {
  // a kill between the two renames leaves only <dir>.old
  const where = existsSync(join(dir, 'state.json')) ? dir : `${dir}.old`;
  try {
    const state = JSON.parse(readFileSync(join(where, 'state.json'), 'utf8')) as S;
    const specs = JSON.parse(readFileSync(join(where, 'optimizer.json'), 'utf8')) as tf.io.WeightsManifestEntry[];
    const buf = readFileSync(join(where, 'optimizer.bin'));
    const map = tf.io.decodeWeights(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer, specs);
    const optimizerWeights = specs.map((s) => ({ name: s.name, tensor: map[s.name]! }));
    const model = await loadModel(where);
    return { model, optimizerWeights, state };
  } catch (e) {
    if (e instanceof XasmapError) throw e;
    throw new XasmapError('CHECKPOINT_CORRUPT', `${where}: cannot read the training checkpoint (${(e as Error).message}); delete it or use --force to start over`);
  }
}

export function removeCheckpoint(dir: string): void {
  for (const d of [dir, `${dir}.tmp`, `${dir}.old`]) rmSync(d, { recursive: true, force: true });
}
