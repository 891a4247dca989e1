/**
 * Messages between the page (main.ts) and the Worker (worker.ts). Only plain data crosses; big
 * arrays are transferred, not copied.
 */
import type { SampleTrace } from 'nabla';

export interface Hyper {
  lr: number;
  batchSize: number;
  /** Train on the first this many training digits (0: all of them). */
  trainCount: number;
}

/** What network to build: a dense 784-hidden-10, a preset of buildModel, or a layer spec (the CLI's --layers). */
export type Architecture =
  | { kind: 'hidden'; hidden: number }
  | { kind: 'preset'; preset: 'mlp' | 'cnn' | 'lenet5' }
  | { kind: 'layers'; spec: string };

/** The backend the page asks for: 'auto' is wasm threads, else one wasm thread, else JS. */
export type BackendChoice = 'auto' | 'wasm-threads' | 'wasm' | 'js';

/** The backend the Worker runs. */
export interface BackendInfo {
  name: 'wasm-threads' | 'wasm' | 'js';
  threads: number;
  /** "wasm SIMD (relaxed), 2 threads" or "JS". */
  label: string;
  /** Why it is not the one asked for ('' when it is). */
  note: string;
}

export type ToWorker =
  | { type: 'init'; backend: BackendChoice }
  | { type: 'backend'; backend: BackendChoice }
  | { type: 'reset'; hyper: Hyper; arch: Architecture; seed: number }
  | { type: 'train'; hyper: Hyper; arch: Architecture }
  | { type: 'load'; bytes: Uint8Array; name: string }
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
  /** Whether the network has convolutions (its input is a 1×28×28 image). */
  convolutional: boolean;
}

export interface Progress {
  step: number;
  epoch: number;
  loss: number;
  /** Accuracy on a fixed slice of the test set, measured every few hundred milliseconds. */
  testAccuracy?: number;
  samplesPerSecond: number;
  /** Samples trained and seconds spent training (evaluation excluded) since the last message. */
  samples: number;
  seconds: number;
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
  /** A layer spec the library's parser refused (shown beside the spec box). */
  | { type: 'specError'; text: string }
  | { type: 'backend'; info: BackendInfo }
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
