/**
 * buildModel: the one way to build a model from a description, used by the CLI's train (and so
 * by every trial of nabla search), parseArchitecture and the playground's Worker. A model is
 * described by exactly one of:
 *
 *   preset   a named architecture (MODEL_PRESETS: mlp, cnn, lenet5)
 *   layers   any layer spec ("conv:8x5x5,relu,maxpool:2,flatten,dense:10", see layerSpec.ts)
 *   hidden   a dense network: hidden sizes, their activation and an optional output activation,
 *            written as a layer spec by mlpSpec (the mlp preset is one too)
 *
 * Every form becomes a layer spec, parsed by parseLayerSpec and built by layerFromConfig, like a
 * model file's architecture. parseArchitecture reads a dense network written as in notes and
 * papers, "<in>-<hidden>-...-<out> [activation] [output=<none|sigmoid|softmax>]" (e.g.
 * "784-256-128-10 relu"), into the JSON architecture model files store; layer i of it is what
 * PyTorch's nn.Sequential names i ("0.weight", "2.weight"...).
 */
import type { Backend } from '../backend/backend.ts';
import { NablaError } from '../errors.ts';
import type { LayerConfig } from '../layers/layer.ts';
import { shapeSize, type Shape } from '../tensor.ts';
import { layerFromConfig } from '../layers/registry.ts';
import { parseLayerSpec, specWantsImages } from './layerSpec.ts';
import { Sequential, type ModelConfig } from './sequential.ts';

/** Hidden activations of a dense network (--activation). @example MLP_ACTIVATIONS.includes('tanh'); // true */
export const MLP_ACTIVATIONS = ['relu', 'leaky-relu', 'sigmoid', 'tanh'] as const;
/** What may follow a dense network's last layer (--output). @example MLP_OUTPUTS; // ['none', 'sigmoid', 'softmax'] */
export const MLP_OUTPUTS = ['none', 'sigmoid', 'softmax'] as const;
/** @example const a: MlpActivation = 'leaky-relu'; const o: MlpOutput = 'sigmoid'; */
export type MlpActivation = (typeof MLP_ACTIVATIONS)[number];
/** @example const o: MlpOutput = 'sigmoid'; // the notes' MSE network */
export type MlpOutput = (typeof MLP_OUTPUTS)[number];

/**
 * A dense network: hidden sizes (none for a linear model), their activation (default relu), the
 * output layer's size and activation (default none: logits).
 *
 * @example
 * const mlp: MlpOptions = { hidden: [256, 128], activation: 'relu', classes: 10 };
 */
export interface MlpOptions {
  hidden: readonly number[];
  activation?: MlpActivation;
  output?: MlpOutput;
  classes: number;
}

/**
 * A dense network as a layer spec.
 *
 * @example
 * mlpSpec({ hidden: [256, 128], classes: 10 }); // 'dense:256,relu,dense:128,relu,dense:10'
 */
export function mlpSpec({ hidden, activation = 'relu', output = 'none', classes }: MlpOptions): string {
  const act = activation === 'leaky-relu' ? 'leakyrelu' : activation;
  return [...hidden.flatMap((h) => [`dense:${h}`, act]), `dense:${classes}`, ...(output === 'none' ? [] : [output])].join(',');
}

/**
 * The layer configs of a dense network: mlpSpec parsed, with Xavier initialisation where He's
 * would be wrong (sigmoid or tanh hidden units, and an output layer under Sigmoid or Softmax).
 *
 * @example
 * mlpLayers({ hidden: [30], activation: 'sigmoid', output: 'sigmoid', classes: 10 }); // Dense, Sigmoid, Dense, Sigmoid
 */
export function mlpLayers(options: MlpOptions): LayerConfig[] {
  const init = options.activation === 'sigmoid' || options.activation === 'tanh' ? 'xavier' : 'he';
  const configs = parseLayerSpec(mlpSpec(options), 1);
  const last = configs.map((c) => c.type).lastIndexOf('Dense');
  return configs.map((c, i) => (c.type !== 'Dense' ? c : { ...c, init: i === last && (options.output ?? 'none') !== 'none' ? 'xavier' : init }));
}

/**
 * A named architecture: description, MNIST input shape and its layer spec.
 *
 * @example
 * const { inputShape, spec }: ModelPreset = MODEL_PRESETS.cnn;
 * const model = new Sequential(layersFromSpec(spec), { inputShape });
 */
export interface ModelPreset {
  description: string;
  /** Per-sample input shape for MNIST. */
  inputShape: number[];
  spec: string;
}

/**
 * Named architectures for MNIST (28×28 grey images, 10 classes).
 * - mlp: the default dense network 784-256-128-10.
 * - cnn: two blocks of two 3×3 convolutions with batch norm, each block followed by 2×2 max
 *   pooling, then dense 128 with dropout: designed for ≥ 99.3% test accuracy at a modest cost
 *   (≈ 5 MFLOP per sample forward).
 * - lenet5: the layer shapes of LeCun et al. 1998 (6 5×5 filters on a padded 32×32 view,
 *   pool, 16 5×5 filters, pool, 120, 84, 10), with ReLU and max pooling instead of the original
 *   scaled tanh and trainable subsampling.
 *
 * @example
 * const model = buildModel({ preset: 'lenet5', seed: 1 });
 */
export const MODEL_PRESETS: Readonly<Record<'mlp' | 'cnn' | 'lenet5', ModelPreset>> = {
  mlp: {
    description: 'dense 784-256-128-10 with ReLU',
    inputShape: [784],
    spec: mlpSpec({ hidden: [256, 128], classes: 10 }),
  },
  cnn: {
    description: '2× (conv 3×3 + batch norm + ReLU) ×2 channel widths 16 and 32, max pool, dense 128, dropout 0.3',
    inputShape: [1, 28, 28],
    spec: 'conv:16x3/nobias,bn,relu,conv:16x3/nobias,bn,relu,maxpool:2,' +
      'conv:32x3/nobias,bn,relu,conv:32x3/nobias,bn,relu,maxpool:2,' +
      'flatten,dense:128,relu,dropout:0.3,dense:10',
  },
  lenet5: {
    description: 'LeNet-5 shapes: conv 6×5×5 pad 2, pool, conv 16×5×5, pool, dense 120, 84, 10',
    inputShape: [1, 28, 28],
    spec: 'conv:6x5/p2,relu,maxpool:2,conv:16x5,relu,maxpool:2,flatten,dense:120,relu,dense:84,relu,dense:10',
  },
};

/**
 * The preset names: "mlp", "cnn", "lenet5".
 *
 * @example
 * MODEL_PRESET_NAMES.includes('cnn'); // true
 */
export const MODEL_PRESET_NAMES = Object.keys(MODEL_PRESETS) as (keyof typeof MODEL_PRESETS)[];

/**
 * What buildModel builds: one of preset, layers or hidden, and where and how.
 *
 * @example
 * const options: BuildModelOptions = { hidden: [64], classes: 10, inputShape: [784], seed: 1 };
 */
export interface BuildModelOptions {
  preset?: keyof typeof MODEL_PRESETS;
  /** A layer spec (see parseLayerSpec). */
  layers?: string;
  /** A dense network's hidden sizes, with `activation` and `output` (see MlpOptions). */
  hidden?: readonly number[];
  activation?: MlpActivation;
  output?: MlpOutput;
  /**
   * Per-sample input shape; images as [C, H, W], flattened when the network starts with a dense
   * layer (default: the preset's).
   */
  inputShape?: Shape;
  /** The outputs the network must end with (required with `hidden`; checked when given). */
  classes?: number;
  seed?: number;
  backend?: Backend;
  /** Who is asking, for messages (default "buildModel"; the CLI passes "flag --layers"). */
  role?: string;
}

/**
 * Build a model from a preset, a layer spec or hidden sizes.
 *
 * @example
 * buildModel({ preset: 'cnn', seed: 1, backend });
 * buildModel({ layers: 'conv:8x5,relu,maxpool:2,flatten,dense:10', inputShape: [1, 28, 28], classes: 10 });
 * buildModel({ hidden: [256, 128], activation: 'relu', classes: 10, inputShape: [784], seed: 1 });
 */
export function buildModel(options: BuildModelOptions): Sequential {
  const role = options.role ?? 'buildModel';
  const given = (['preset', 'layers', 'hidden'] as const).filter((k) => options[k] !== undefined);
  if (given.length !== 1) {
    throw new NablaError({
      where: role, expected: 'exactly one of preset, layers and hidden', found: given.length === 0 ? 'none' : given.join(' and '),
    });
  }
  const inputShape = options.inputShape ?? (options.preset ? MODEL_PRESETS[options.preset].inputShape : undefined);
  if (!inputShape) throw new NablaError({ where: role, expected: 'an inputShape (e.g. [784] or [1, 28, 28])', found: 'none' });
  let configs: LayerConfig[];
  if (options.hidden) {
    if (options.classes === undefined) throw new NablaError({ where: role, expected: 'classes with hidden', found: 'none' });
    configs = mlpLayers({ hidden: options.hidden, activation: options.activation, output: options.output, classes: options.classes });
  } else {
    configs = parseLayerSpec(options.layers ?? MODEL_PRESETS[options.preset!].spec);
  }
  const model = new Sequential(configs.map((c, i) => layerFromConfig(c, i)), {
    inputShape: specWantsImages(configs) ? inputShape : [shapeSize(inputShape)], seed: options.seed, backend: options.backend,
  });
  if (options.classes !== undefined && shapeSize(model.outputShape) !== options.classes) {
    throw new NablaError({
      where: role, expected: `a network ending in ${options.classes} outputs (one per class)`,
      found: `output shape [N, ${model.outputShape.join(', ')}]`, hint: `end the spec with flatten,dense:${options.classes}`,
    });
  }
  return model;
}

/**
 * Parse a one-line MLP description into a ModelConfig (for `Sequential.fromConfig`).
 *
 * @example
 * const config = parseArchitecture('784-256-128-10 relu');
 * // { inputShape: [784], layers: [Dense 256, ReLU, Dense 128, ReLU, Dense 10] }
 * const model = Sequential.fromConfig(config, { seed: 1 });
 */
export function parseArchitecture(spec: string): ModelConfig {
  const where = `architecture "${spec}"`;
  const words = spec.trim().split(/\s+/);
  const sizes = (words[0] ?? '').split('-');
  if (sizes.length < 2 || !sizes.every((s) => /^\d+$/.test(s) && Number(s) >= 1)) {
    throw new NablaError({
      where, expected: 'layer sizes joined by "-", at least input and output (e.g. "784-256-128-10 relu")',
      found: JSON.stringify(words[0] ?? ''),
    });
  }
  let activation: MlpActivation = 'relu';
  let output: MlpOutput = 'none';
  for (const w of words.slice(1)) {
    if (w.startsWith('output=')) {
      output = w.slice('output='.length) as MlpOutput;
      if (!MLP_OUTPUTS.includes(output)) {
        throw new NablaError({ where, expected: `output= one of ${MLP_OUTPUTS.join(', ')}`, found: JSON.stringify(output) });
      }
    } else if ((MLP_ACTIVATIONS as readonly string[]).includes(w)) {
      activation = w as MlpActivation;
    } else {
      throw new NablaError({
        where, expected: `an activation (${MLP_ACTIVATIONS.join(', ')}) or output=<${MLP_OUTPUTS.join('|')}>`,
        found: JSON.stringify(w),
      });
    }
  }
  const dims = sizes.map(Number);
  const layers = mlpLayers({ hidden: dims.slice(1, -1), activation, output, classes: dims[dims.length - 1] });
  // The line describes weights to import, not how to initialise them: its configs name no init.
  return { inputShape: [dims[0]], layers: layers.map(({ init: _, ...c }) => c) };
}
