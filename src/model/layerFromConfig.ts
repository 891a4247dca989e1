/**
 * layerFromConfig: rebuild a layer from its JSON description (the model file's architecture).
 * One explicit switch rather than a global string-keyed registry.
 */
import { NablaError } from '../errors.ts';
import { INIT_NAMES, type InitName } from '../init.ts';
import { LeakyReLU, ReLU, Sigmoid, Softmax, Tanh } from '../layers/activations.ts';
import { Dense } from '../layers/dense.ts';
import { Flatten } from '../layers/flatten.ts';
import type { Layer, LayerConfig } from '../layers/layer.ts';
import { Conv2D } from '../layers/conv2d.ts';
import { MaxPool2D } from '../layers/maxPool2d.ts';
import { AvgPool2D } from '../layers/avgPool2d.ts';
import { Dropout } from '../layers/dropout.ts';
import { BatchNorm1D, BatchNorm2D } from '../layers/batchNorm.ts';
import type { Pair } from '../layers/window.ts';

/**
 * The layer types a model file's architecture may name.
 *
 * @example
 * LAYER_TYPES.includes('Dense'); // true
 */
export const LAYER_TYPES = [
  'Dense', 'ReLU', 'LeakyReLU', 'Sigmoid', 'Tanh', 'Softmax', 'Flatten',
  'Conv2D', 'MaxPool2D', 'AvgPool2D', 'Dropout', 'BatchNorm1D', 'BatchNorm2D',
] as const;

/**
 * Rebuild layer `index` of an architecture from its config.
 *
 * @example
 * layerFromConfig({ type: 'LeakyReLU', slope: 0.1 }, 1); // a LeakyReLU
 */
export function layerFromConfig(config: LayerConfig, index: number): Layer {
  const where = `architecture, layer ${index}`;
  try {
    return construct(config, where);
  } catch (e) {
    // A constructor says "Conv2D: expected stride ≥ 1"; add which layer of the architecture it was.
    if (e instanceof NablaError && !e.where.startsWith(where)) {
      throw new NablaError({ where: `${where} (${e.where})`, expected: e.expected, found: e.found, hint: e.hint });
    }
    throw e;
  }
}

function construct(config: LayerConfig, where: string): Layer {
  switch (config.type) {
    case 'Dense': {
      const init = (config.init ?? 'he') as InitName;
      if (!INIT_NAMES.includes(init)) {
        throw new NablaError({ where, expected: `init one of ${INIT_NAMES.join(', ')}`, found: String(config.init) });
      }
      return new Dense(Number(config.units), { bias: config.bias !== false, init });
    }
    case 'ReLU': return new ReLU();
    case 'LeakyReLU': return new LeakyReLU(config.slope === undefined ? undefined : Number(config.slope));
    case 'Sigmoid': return new Sigmoid();
    case 'Tanh': return new Tanh();
    case 'Softmax': return new Softmax();
    case 'Flatten': return new Flatten();
    case 'Conv2D': {
      const init = (config.init ?? 'he') as InitName;
      if (!INIT_NAMES.includes(init)) {
        throw new NablaError({ where, expected: `init one of ${INIT_NAMES.join(', ')}`, found: String(config.init) });
      }
      return new Conv2D(Number(config.filters), config.kernelSize as Pair, {
        stride: config.stride as Pair | undefined, padding: config.padding as Pair | undefined, bias: config.bias !== false, init,
        inChannels: config.inChannels === undefined ? undefined : Number(config.inChannels),
      });
    }
    case 'MaxPool2D':
      return new MaxPool2D(config.poolSize as Pair, { stride: config.stride as Pair | undefined, padding: config.padding as Pair | undefined });
    case 'AvgPool2D':
      return new AvgPool2D(config.poolSize as Pair, { stride: config.stride as Pair | undefined, padding: config.padding as Pair | undefined });
    case 'Dropout': return new Dropout(Number(config.rate));
    case 'BatchNorm1D':
    case 'BatchNorm2D': {
      const options = {
        momentum: config.momentum === undefined ? undefined : Number(config.momentum),
        eps: config.eps === undefined ? undefined : Number(config.eps),
        numFeatures: config.numFeatures === undefined ? undefined : Number(config.numFeatures),
      };
      return config.type === 'BatchNorm1D' ? new BatchNorm1D(options) : new BatchNorm2D(options);
    }
    default:
      throw new NablaError({ where, expected: `a layer type among ${LAYER_TYPES.join(', ')}`, found: JSON.stringify(config.type) });
  }
}
