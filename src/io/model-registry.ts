/**
 * Trained models: the shipped ones in <package>/models/<ion>/ and any directory given
 * with --model. A model directory holds model.json + weights.bin (tfjs layers format),
 * meta.json (how it was made and what it measured), split.json and MODEL.md.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as tf from '@tensorflow/tfjs';
import { XasmapError } from '../errors.js';
import { MODEL_META, type ModelMeta } from '../model/meta.js';
import { ION_NAMES } from '../physics/ions.js';
import { loadModel } from './model-files.js';

/** <package>/models (this file is src/io or dist/io). */
export const SHIPPED_MODELS_DIR = fileURLToPath(new URL('../../models/', import.meta.url));

export function shippedModelDir(ion: string): string {
  return join(SHIPPED_MODELS_DIR, ion);
}

export function readModelMeta(dir: string): ModelMeta {
  const p = join(dir, MODEL_META);
  if (!existsSync(p)) throw new XasmapError('MODEL_NOT_FOUND', `${dir}: no ${MODEL_META} (not a trained xasmap model directory)`);
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as ModelMeta;
  } catch (e) {
    throw new XasmapError('MODEL_CORRUPT', `${p}: unreadable (${(e as Error).message})`);
  }
}

export interface LoadedModel {
  model: tf.LayersModel;
  meta: ModelMeta;
  dir: string;
}

export async function loadModelDir(dir: string): Promise<LoadedModel> {
  const meta = readModelMeta(dir);
  return { model: await loadModel(dir), meta, dir };
}

/** The shipped model for an ion, or a clear error listing the ions that have one. */
export async function loadShippedModel(ion: string): Promise<LoadedModel> {
  const dir = shippedModelDir(ion);
  if (!existsSync(join(dir, MODEL_META))) {
    const have = listShippedModels().map((m) => m.ion);
    throw new XasmapError('NO_MODEL', `no trained model for ${ion} yet; models exist for: ${have.length ? have.join(', ') : 'none'} (or pass --model DIR)`);
  }
  return loadModelDir(dir);
}

export function listShippedModels(): { ion: string; dir: string; meta: ModelMeta }[] {
  if (!existsSync(SHIPPED_MODELS_DIR)) return [];
  const names = new Set(readdirSync(SHIPPED_MODELS_DIR));
  return ION_NAMES.filter((ion) => names.has(ion) && existsSync(join(SHIPPED_MODELS_DIR, ion, MODEL_META))).map((ion) => ({
    ion,
    dir: join(SHIPPED_MODELS_DIR, ion),
    meta: readModelMeta(join(SHIPPED_MODELS_DIR, ion)),
  }));
}
