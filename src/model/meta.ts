/** What a trained model directory says about itself (models/<ion>/meta.json). */
import type { EpochRecord, TrainSettings } from './train.js';

export const MODEL_META = 'meta.json';
export const MODEL_SPLIT = 'split.json';

/** A database whose rows were all used for training (train --extra-data). */
export interface ExtraData {
  file: string;
  seed: number;
  count: number;
  perDiag: number;
}

/**
 * The model a run continued (train --init-from): its directory name, epochs, wall time,
 * validation MSE, settings, and where it came from itself (its own initFrom, without the
 * epoch history, so a chain of stages stays on the card).
 */
export interface InitFrom {
  model: string;
  /** the --extra-data of that stage */
  extraData?: ExtraData[];
  epochs: number;
  wallSeconds: number;
  validationMse: number;
  settings?: TrainSettings;
  history?: EpochRecord[];
  warmStart?: WarmStart;
  initFrom?: InitFrom;
}

/** The stages a model continued, oldest first (empty for a model trained in one run). */
export function initChain(first: InitFrom | undefined): InitFrom[] {
  const chain: InitFrom[] = [];
  for (let f = first; f; f = f.initFrom) chain.unshift(f);
  return chain;
}

/** An InitFrom record without its epoch history (nested records keep only their summary). */
export function withoutHistory(f: InitFrom): InitFrom {
  const { history: _history, ...rest } = f;
  return rest;
}

/** train --warm-start: the source model and the layers taken from it */
export interface WarmStart {
  /** directory name of the source model */
  model: string;
  ion: string;
  /** the database it was trained on, and whether it is this run's (then with the same split seed) */
  dataset: string;
  sameDatabase: boolean;
  epochs: number;
  validationMse: number;
  copied: string[];
  /** layers grown into wider ones (train --grow); absent in models made before it */
  grown?: string[];
  skipped: string[];
  copiedParams: number;
  trainableParams: number;
}

export interface ModelMeta {
  format: 'xasmap-model-1';
  /**
   * The model's name when it was trained (its --out directory's name), kept when the files are
   * copied elsewhere (models/ION): a model continued from a shipped one names its source by this.
   * Absent in models trained before session 10.
   */
  name?: string;
  ion: string;
  arch: 'slcnn7' | 'dense';
  /** architecture options passed to the builder */
  options: Record<string, unknown>;
  paramCount: number;
  features: { kind: 'fes'; degree: number; size: number; ranges: Record<string, readonly [number, number]> };
  window: { wMin: number; step: number; n: number; split: number; offset: number };
  dataset: {
    file: string;
    ion: string;
    seed: number;
    count: number;
    ranges: string;
    perDiag: number;
    version: string;
    /** train --extra-data: further databases of the ion (other seeds) whose rows were all training rows */
    extraData?: ExtraData[];
  };
  split: { seed: number; groupSize: number; train: number; val: number; test: number };
  training: {
    settings: TrainSettings;
    epochs: number;
    bestEpoch: number;
    stopped: string;
    wallSeconds: number;
    machine: string;
    backend: string;
    xasmapVersion: string;
    finished: string;
    history: EpochRecord[];
    /** fine-tuned from this model (train --init-from): its directory name, epochs, wall time, validation MSE */
    initFrom?: InitFrom;
    /** started from the weights of another ion's model (train --warm-start): what was copied */
    warmStart?: WarmStart;
  };
  validation: { mse: number; mae: number };
  /** filled by `xasmap evaluate --card` */
  evaluation?: Record<string, unknown>;
}
