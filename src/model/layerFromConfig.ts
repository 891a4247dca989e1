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

/**
 * The layer types a model file's architecture may name.
 *
 * @example
 * LAYER_TYPES.includes('Dense'); // true
 */
export const LAYER_TYPES = ['Dense', 'ReLU', 'LeakyReLU', 'Sigmoid', 'Tanh', 'Softmax', 'Flatten'] as const;

/**
 * Rebuild layer `index` of an architecture from its config.
 *
 * @example
 * layerFromConfig({ type: 'LeakyReLU', slope: 0.1 }, 1); // a LeakyReLU
 */
export function layerFromConfig(config: LayerConfig, index: number): Layer {
  const where = `architecture, layer ${index}`;
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
    default:
      throw new NablaError({ where, expected: `a layer type among ${LAYER_TYPES.join(', ')}`, found: JSON.stringify(config.type) });
  }
}
