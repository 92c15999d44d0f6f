/**
 * Trained models: the shipped ones in <package>/models/<ion>/ and any directory given
 * with --model. A model directory holds model.json + weights.bin (tfjs layers format),
 * meta.json (how it was made and what it measured), split.json and MODEL.md.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as tf from '@tensorflow/tfjs';
import { XasmapError } from '../errors.js';
import { MODEL_META, type ModelMeta } from '../model/meta.js';
import { ION_NAMES } from '../physics/ions.js';
import { loadModel } from './model-files.js';

/** <package>/models (this file is src/io or dist/io). */
export const SHIPPED_MODELS_DIR = fileURLToPath(new URL('../../models/', import.meta.url));

/** Environment variable naming a directory of <ion>/ model directories used instead of the shipped ones. */
export const MODELS_ENV = 'XASMAP_MODELS';

/**
 * Where the per-ion models are looked up: $XASMAP_MODELS when set (a site's own trained
 * models, laid out like <package>/models), else the shipped ones.
 */
export function modelsDir(): string {
  const env = process.env[MODELS_ENV];
  if (env === undefined || env === '') return SHIPPED_MODELS_DIR;
  if (!existsSync(env) || !statSync(env).isDirectory()) {
    throw new XasmapError('MODEL_NOT_FOUND', `${MODELS_ENV}=${env}: no such directory (it should hold one <ion>/ model directory per ion, like the package's models/; unset it to use the shipped models)`);
  }
  return env;
}

export function shippedModelDir(ion: string): string {
  return join(modelsDir(), ion);
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
    const where = process.env[MODELS_ENV] ? ` in ${MODELS_ENV}=${process.env[MODELS_ENV]}` : '';
    throw new XasmapError('NO_MODEL', `no trained model for ${ion} yet${where}; models exist for: ${have.length ? have.join(', ') : 'none'} (or pass --model DIR)`);
  }
  return loadModelDir(dir);
}

export function listShippedModels(): { ion: string; dir: string; meta: ModelMeta }[] {
  const root = modelsDir();
  if (!existsSync(root)) return [];
  const names = new Set(readdirSync(root));
  return ION_NAMES.filter((ion) => names.has(ion) && existsSync(join(root, ion, MODEL_META))).map((ion) => ({
    ion,
    dir: join(root, ion),
    meta: readModelMeta(join(root, ion)),
  }));
}
