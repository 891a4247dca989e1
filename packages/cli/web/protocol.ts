/**
 * Messages between the page (main.ts) and the Worker (worker.ts). Only plain data crosses; big
 * arrays are transferred, not copied.
 */
import type { SampleTrace } from 'nabla';

export interface Hyper {
  lr: number;
  hidden: number;
  batchSize: number;
}

export type ToWorker =
  | { type: 'init' }
  | { type: 'reset'; hyper: Hyper; seed: number }
  | { type: 'train'; hyper: Hyper }
  | { type: 'pause' }
  | { type: 'setHyper'; hyper: Hyper }
  | { type: 'predict'; rgba: Uint8ClampedArray; width: number; height: number }
  | { type: 'inspect' }
  | { type: 'trace'; source: 'drawing' | 'test'; index: number }
  | { type: 'download' };

export interface ModelInfo {
  /** "server: mnist-mlp.safetensors" or "page: 784-64-10, trained here". */
  source: string;
  summary: string;
  params: number;
  /** Units of the first Dense layer (rows of W(1)). */
  firstUnits: number;
}

export interface Progress {
  step: number;
  epoch: number;
  loss: number;
  /** Accuracy on a fixed slice of the test set, measured every few hundred milliseconds. */
  testAccuracy?: number;
  samplesPerSecond: number;
}

export interface MistakeView {
  index: number;
  label: number;
  predicted: number;
  confidence: number;
  rgba: Uint8ClampedArray;
}

export type FromWorker =
  | { type: 'status'; text: string }
  | { type: 'error'; text: string }
  | { type: 'model'; info: ModelInfo }
  | { type: 'dataReady'; train: number; test: number }
  | { type: 'progress'; progress: Progress }
  | { type: 'training'; running: boolean }
  | { type: 'prediction'; probabilities: Float32Array; input: Uint8ClampedArray; predicted: number }
  | {
    type: 'inspection';
    weights: Uint8ClampedArray[];
    confusion: number[][];
    perClass: number[];
    accuracy: number;
    count: number;
    mistakes: MistakeView[];
  }
  | { type: 'trace'; trace: SampleTrace; label: number | null; title: string }
  | { type: 'download'; bytes: Uint8Array; name: string };
