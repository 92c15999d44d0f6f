/**
 * A tf.LayersModel on disk in the standard tfjs layers format: a directory
 * with model.json (topology, weights manifest, optional training config and
 * user metadata) and weights.bin (all weights, little-endian, manifest order).
 * tfjs without tfjs-node has no file:// handler, hence this IOHandler on
 * node:fs.
 *
 * Saving writes both files under temporary names in the target directory and
 * renames them into place, weights.bin first and model.json last, so an
 * interrupted save never leaves a partial file under a final name (a reader
 * that finds model.json finds the weights it describes, except in the
 * window between the two renames when overwriting an older model).
 * Loading errors are XasmapError 'MODEL_NOT_FOUND' (no model.json) or
 * 'MODEL_CORRUPT' (unreadable JSON, missing or short weights, a topology
 * tfjs cannot build), each naming the path.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve, isAbsolute } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { XasmapError } from '../errors.js';
// Registers the custom layer classes (xasmap>LocallyConnected1D, xasmap>FastDense) for deserialisation.
import '../model/locally-connected.js';
import '../model/architectures.js';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2 };

function errnoCode(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));
}

function toArrayBuffer(buf: Buffer): ArrayBuffer {
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
}

function specBytes(spec: tf.io.WeightsManifestEntry): number {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  const size = DTYPE_BYTES[dtype];
  if (size === undefined) throw new Error(`unsupported weight dtype ${dtype} (${spec.name})`);
  return n * size;
}

/** tfjs IOHandler reading/writing `dir`/model.json + `dir`/weights.bin. */
export function modelDirHandler(dir: string, opts: { force?: boolean } = {}): tf.io.IOHandler {
  const jsonPath = join(dir, MODEL_JSON);
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer || artifacts.modelTopology === undefined) {
        throw new XasmapError('OUTPUT_UNWRITABLE', `${dir}: only layers models with a JSON topology can be saved`);
      }
      if (!opts.force && existsSync(jsonPath)) {
        throw new XasmapError('OUTPUT_EXISTS', `${jsonPath} exists; use --force to overwrite it or choose another directory`);
      }
      const weights = new Uint8Array(artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData));
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }],
        ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
        ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
      };
      const tmpWeights = join(dir, `${WEIGHTS_BIN}.${process.pid}.tmp`);
      const tmpJson = join(dir, `${MODEL_JSON}.${process.pid}.tmp`);
      try {
        mkdirSync(dir, { recursive: true });
        writeFileSync(tmpWeights, weights);
        writeFileSync(tmpJson, `${JSON.stringify(modelJson)}\n`);
        renameSync(tmpWeights, join(dir, WEIGHTS_BIN));
        renameSync(tmpJson, jsonPath);
      } catch (e) {
        rmSync(tmpWeights, { force: true });
        rmSync(tmpJson, { force: true });
        throw new XasmapError('OUTPUT_UNWRITABLE', `${dir}: cannot write the model (${errnoCode(e)})`);
      }
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON({ ...artifacts, weightData: weights.buffer as ArrayBuffer }) };
    },

    async load(): Promise<tf.io.ModelArtifacts> {
      if (!existsSync(jsonPath)) {
        const what = existsSync(dir) ? `${jsonPath} not found` : `${dir} does not exist`;
        throw new XasmapError('MODEL_NOT_FOUND', `no model at ${dir}: ${what}`);
      }
      let json: tf.io.ModelJSON;
      try {
        json = JSON.parse(readFileSync(jsonPath, 'utf8')) as tf.io.ModelJSON;
      } catch (e) {
        throw new XasmapError('MODEL_CORRUPT', `${jsonPath}: not a readable JSON model (${errnoCode(e)})`);
      }
      if (typeof json !== 'object' || json === null || typeof json.modelTopology !== 'object' || json.modelTopology === null || !Array.isArray(json.weightsManifest)) {
        throw new XasmapError('MODEL_CORRUPT', `${jsonPath}: no modelTopology or weightsManifest`);
      }
      const weightSpecs: tf.io.WeightsManifestEntry[] = [];
      const parts: Buffer[] = [];
      const root = resolve(dir);
      try {
        for (const group of json.weightsManifest) {
          weightSpecs.push(...group.weights);
          for (const p of group.paths) {
            const full = resolve(root, p);
            const rel = relative(root, full);
            if (rel.startsWith('..') || isAbsolute(rel)) throw new Error(`weights path ${p} leaves the model directory`);
            if (!existsSync(full) || !statSync(full).isFile()) throw new Error(`weights file ${full} not found`);
            parts.push(readFileSync(full));
          }
        }
      } catch (e) {
        throw new XasmapError('MODEL_CORRUPT', `${jsonPath}: ${e instanceof Error ? e.message : String(e)}`);
      }
      const data = Buffer.concat(parts);
      let expected: number;
      try {
        expected = weightSpecs.reduce((s, w) => s + specBytes(w), 0);
      } catch (e) {
        throw new XasmapError('MODEL_CORRUPT', `${jsonPath}: ${(e as Error).message}`);
      }
      if (data.byteLength !== expected) {
        throw new XasmapError('MODEL_CORRUPT', `${dir}: the weights have ${data.byteLength} bytes, the manifest describes ${expected}`);
      }
      return {
        modelTopology: json.modelTopology,
        weightSpecs,
        weightData: toArrayBuffer(data),
        ...(json.format !== undefined ? { format: json.format } : {}),
        ...(json.generatedBy !== undefined ? { generatedBy: json.generatedBy } : {}),
        ...(json.convertedBy !== undefined ? { convertedBy: json.convertedBy } : {}),
        ...(json.trainingConfig !== undefined ? { trainingConfig: json.trainingConfig } : {}),
        ...(json.userDefinedMetadata !== undefined ? { userDefinedMetadata: json.userDefinedMetadata } : {}),
      };
    },
  };
}

/** Save `model` to directory `dir` (created if needed); refuses to overwrite an existing model.json unless force. */
export async function saveModel(model: tf.LayersModel, dir: string, opts: { force?: boolean } = {}): Promise<void> {
  await model.save(modelDirHandler(dir, opts));
}

/** Load a model saved by saveModel (or any tfjs layers model directory with local weight files). */
export async function loadModel(dir: string): Promise<tf.LayersModel> {
  try {
    return await tf.loadLayersModel(modelDirHandler(dir));
  } catch (e) {
    if (e instanceof XasmapError) throw e;
    throw new XasmapError('MODEL_CORRUPT', `${dir}: cannot build the model (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
  }
}
