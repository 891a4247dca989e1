/**
 * PyTorch export: a model as the text of a small Python package that rebuilds it with torch.nn
 * layers, loads its weights and continues its training (`nabla export <model> --pytorch <dir>`).
 *
 * What the folder holds (the caller writes these texts, plus the model file's own bytes as
 * `model.safetensors`, since nabla's files are already PyTorch state dicts):
 *
 *   model.py       build_model(): an nn.Sequential whose state-dict names are exactly the file's
 *                  ("0.weight", "3.body.0.running_mean"), a reader and a writer of safetensors in
 *                  plain torch + numpy (no `safetensors` package needed), load_model(path)
 *   train.py       continues training with the run's recorded settings (loss, optimiser and its
 *                  hyperparameters, learning-rate schedule, batch size, clip norm, data scaling and
 *                  split), single process or under torchrun (DistributedDataParallel, gloo, CPU);
 *                  saves a .safetensors file nabla loads back (pytorchTrainScript.ts)
 *   settings.json  those settings, read by train.py (edit them there, or override with flags)
 *   README.md      how to run it
 *
 * Each layer type writes its own module expression (its kind's `pytorch`, in the layer's file);
 * a layer whose kind has none is refused with a NablaError naming it, before any text is returned.
 * Browser-safe: this file builds strings only.
 */
import { NablaError } from '../errors.ts';
import type { BuiltLayer, PytorchEmitContext } from '../layers/kind.ts';
import { builtLayer, findLayerKind, layerKinds } from '../layers/registry.ts';
import type { Sequential } from '../model/sequential.ts';
import type { Shape } from '../tensor.ts';
import type { TrainingInfo } from './modelFile.ts';
import { PYTORCH_TRAIN_SCRIPT, PYTORCH_SAFETENSORS_CODE } from './pytorchTrainScript.ts';

/**
 * Layer types `exportPytorch` can write: every registered kind with a `pytorch` form.
 *
 * @example
 * pytorchLayerTypes().includes('BatchNorm2D'); // true
 */
export function pytorchLayerTypes(): string[] {
  return layerKinds().filter((k) => k.pytorch).map((k) => k.type);
}

/**
 * Options of exportPytorch.
 *
 * @example
 * exportPytorch(model, training, { source: 'models/mnist.safetensors', dataDefault: '/data/mnist' });
 */
export interface PytorchExportOptions {
  /** The model file it came from, for the comments and the training record of the result. */
  source?: string;
  /** The data path train.py uses when the record names none (e.g. the bundled MNIST folder). */
  dataDefault?: string;
}

/**
 * The exported folder's text files, by file name (the caller adds the weights as `model.safetensors`).
 *
 * @example
 * const { files } = exportPytorch(model, training); // files['model.py'], files['train.py'], ...
 */
export interface PytorchExport {
  files: Record<string, string>;
  /** The name train.py and model.py expect the weights under. */
  weightsFile: string;
}

/**
 * The weights' file name inside an exported folder.
 *
 * @example
 * PYTORCH_WEIGHTS_FILE; // 'model.safetensors'
 */
export const PYTORCH_WEIGHTS_FILE = 'model.safetensors';

/**
 * A model (and its training record) as a Python package's text: model.py, train.py, settings.json
 * and README.md. Throws a NablaError naming the first layer with no PyTorch form.
 *
 * @example
 * const { files } = exportPytorch(model, { loss: 'ce', batchSize: 128, optimizer: { name: 'adam', lr: 0.002 } });
 */
export function exportPytorch(model: Sequential, training: TrainingInfo = {}, options: PytorchExportOptions = {}): PytorchExport {
  const layers = model.layers.map(builtLayer);
  const architecture = JSON.stringify(model.config());
  const files: Record<string, string> = {
    'model.py': pytorchModuleSource({ inputShape: model.inputShape, layers }, options.source),
    'train.py': PYTORCH_TRAIN_SCRIPT,
    'settings.json': `${JSON.stringify(trainSettings(model, training, architecture, options), null, 2)}\n`,
    'README.md': readme(options.source),
  };
  return { files, weightsFile: PYTORCH_WEIGHTS_FILE };
}

/**
 * The text of model.py alone, from a description of the model (layer configs with their shapes).
 *
 * @example
 * pytorchModuleSource({ inputShape: [4], layers: [{ config: { type: 'Dense', units: 2 }, inputShape: [4], outputShape: [2] }] });
 */
export function pytorchModuleSource(spec: { inputShape: Shape; layers: BuiltLayer[] }, source?: string): string {
  const defines = new Map<string, string>();
  const lines = moduleLines(spec.layers, '', defines, '        ');
  const from = source === undefined ? '' : ` from ${source}`;
  return [
    `"""The nabla model${from} as PyTorch layers (written by nabla export --pytorch).`,
    '',
    'build_model() returns an nn.Sequential whose state-dict names are exactly those of the .safetensors',
    'file, so load_model(path) loads it with strict checking. The safetensors format is read and',
    'written here with torch and numpy alone (8-byte little-endian header length, JSON header, raw',
    'little-endian data): the `safetensors` package is not needed.',
    '"""',
    'import json',
    'import os',
    'import struct',
    '',
    'import numpy as np',
    'import torch',
    'from torch import nn',
    '',
    `# The per-sample input shape the model takes (a batch is (N, ${spec.inputShape.join(', ')})).`,
    `INPUT_SHAPE = ${tuple(spec.inputShape)}`,
    ...[...defines.values()].flatMap((d) => ['', '', d]),
    '',
    '',
    'def build_model():',
    '    """The architecture, with freshly initialised weights (load_model loads the trained ones)."""',
    '    return nn.Sequential(',
    ...lines,
    '    )',
    '',
    PYTORCH_SAFETENSORS_CODE,
  ].join('\n');
}

function moduleLines(layers: BuiltLayer[], prefix: string, defines: Map<string, string>, indent: string): string[] {
  return layers.map((layer, i) => `${indent}${moduleExpression(layer, `${prefix}${i}`, defines)},  # ${prefix}${i}: ${layer.config.type}`);
}

function moduleExpression(layer: BuiltLayer, prefix: string, defines: Map<string, string>): string {
  const where = `PyTorch export, layer ${prefix} (${layer.config.type})`;
  const kind = findLayerKind(layer.config.type);
  if (!kind?.pytorch) {
    throw new NablaError({
      where, expected: `a layer with a PyTorch form (${pytorchLayerTypes().join(', ')})`,
      found: kind ? `layer type ${JSON.stringify(layer.config.type)}, which has no PyTorch form` : `layer type ${JSON.stringify(layer.config.type)}, not registered`,
      hint: kind
        ? "nothing was written; give its LayerKind a pytorch() returning the torch.nn module as Python, e.g. pytorch: () => 'nn.Identity()', or remove or replace that layer"
        : 'nothing was written; register the layer first (registerLayer, or nabla --plugin <module>)',
    });
  }
  const ctx: PytorchEmitContext = {
    layer, prefix, where,
    py: python,
    pair(v, name, min = 1) {
      if (!Array.isArray(v) || v.length !== 2 || !v.every((d) => Number.isInteger(d) && d >= min)) {
        throw new NablaError({ where, expected: `${name} as [h, w] integers ≥ ${min}`, found: JSON.stringify(v) });
      }
      return tuple(v as number[]);
    },
    layers: (children, attr) => children.map((c, j) => moduleExpression(c, `${prefix}.${attr}.${j}`, defines)).join(', '),
    define(name, source) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new NablaError({ where, expected: 'a Python class name', found: JSON.stringify(name) });
      const known = defines.get(name);
      if (known !== undefined && known !== source) {
        throw new NablaError({ where, expected: `one definition of ${name}`, found: 'two different ones', hint: 'two layer kinds define the same Python name; rename one' });
      }
      defines.set(name, source);
    },
  };
  return kind.pytorch(ctx);
}

/** A JSON-like value as a Python literal. */
function python(v: unknown): string {
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return v > 0 ? "float('inf')" : v < 0 ? "float('-inf')" : "float('nan')";
    return String(v);
  }
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(python).join(', ')}]`;
  if (typeof v === 'object') return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${JSON.stringify(k)}: ${python(x)}`).join(', ')}}`;
  throw new NablaError({ where: 'PyTorch export', expected: 'a JSON value', found: typeof v });
}

function tuple(v: readonly number[]): string {
  return v.length === 1 ? `(${v[0]},)` : `(${v.join(', ')})`;
}

/** settings.json: what train.py needs, from the training record (defaults where it is silent). */
function trainSettings(model: Sequential, t: TrainingInfo, architecture: string, options: PytorchExportOptions): Record<string, unknown> {
  const opt = (t.optimizer ?? {}) as Record<string, unknown>;
  const name = typeof opt.name === 'string' ? opt.name : 'adam';
  const data = (t.data ?? { kind: 'mnist' }) as Record<string, unknown>;
  const outputs = model.outputShape.reduce((p, d) => p * d, 1);
  return {
    exportedBy: 'nabla export --pytorch',
    source: options.source ?? null,
    inputShape: model.inputShape,
    outputs,
    task: t.task ?? 'classification',
    loss: t.loss ?? 'ce',
    optimizer: {
      name,
      lr: typeof opt.lr === 'number' ? opt.lr : name === 'sgd' ? 0.1 : 2e-3,
      momentum: typeof opt.momentum === 'number' ? opt.momentum : 0,
      nesterov: opt.nesterov === true,
      // Unset: 0 for sgd and adam, AdamW's own 0.01 (as nabla's and PyTorch's AdamW).
      weightDecay: typeof opt.weightDecay === 'number' ? opt.weightDecay : name === 'adamw' ? 0.01 : 0,
      beta1: 0.9, beta2: 0.999, eps: 1e-8,
    },
    schedule: {
      type: typeof opt.schedule === 'string' ? opt.schedule : 'constant',
      warmup: typeof opt.warmup === 'number' ? opt.warmup : 0,
      gamma: typeof opt.gamma === 'number' ? opt.gamma : null,
      stepSize: typeof opt.stepSize === 'number' ? opt.stepSize : null,
    },
    clipNorm: typeof opt.clipNorm === 'number' ? opt.clipNorm : null,
    epochs: t.epochs ?? 1,
    batchSize: t.batchSize ?? 128,
    seed: t.seed ?? 1,
    trainSamples: t.trainSamples ?? null,
    valSamples: t.valSamples ?? 0,
    data: { ...data, path: data.path ?? options.dataDefault ?? null },
    classNames: t.classNames ?? null,
    targetNames: t.targetNames ?? null,
    preprocessing: t.preprocessing ?? null,
    // Written back, updated, into the metadata of the file train.py saves, so nabla reads it as its own.
    architecture,
    training: t,
  };
}

function readme(source: string | undefined): string {
  return [
    `# ${source ?? 'A nabla model'}, as PyTorch`,
    '',
    'Written by `nabla export --pytorch`. Needs Python 3 with torch and numpy (no other package).',
    '',
    '- `model.py`: `build_model()` (torch.nn layers, the same state-dict names as the file) and',
    '  `load_model("model.safetensors")`; `read_safetensors` / `write_safetensors`.',
    '- `train.py`: continues training with the settings of `settings.json` (the run\'s own: loss,',
    '  optimiser, learning-rate schedule, batch size, data scaling and split).',
    '- `model.safetensors`: the weights, as nabla saved them.',
    '',
    '```sh',
    'python3 train.py --epochs 2 --out trained.safetensors              # one process',
    'torchrun --nproc_per_node 2 train.py --epochs 2 --out trained.safetensors   # DistributedDataParallel, gloo',
    'nabla eval trained.safetensors                                      # back in nabla',
    '```',
    '',
    '`python3 train.py --help` lists the flags (`--data`, `--epochs`, `--batch-size`, `--lr`, `--limit`, ...).',
    'Under torchrun the batch size is the global one: each of the W processes takes batch-size / W samples.',
    '',
  ].join('\n');
}
