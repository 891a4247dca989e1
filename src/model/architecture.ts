/**
 * parseArchitecture: a multilayer perceptron described in one line, as people write it in notes
 * and papers ("784-256-128-10 relu"), turned into the JSON architecture model files store.
 *
 *   "<in>-<hidden>-...-<out> [activation] [output=<none|sigmoid|softmax>]"
 *
 * Every hidden Dense layer is followed by the activation (relu, leaky-relu, sigmoid or tanh;
 * default relu); the last Dense layer gives logits unless output= adds a Sigmoid or Softmax.
 * Layer i of the result is what PyTorch's nn.Sequential names i ("0.weight", "2.weight"...).
 */
import { NablaError } from '../errors.ts';
import type { LayerConfig } from '../layers/layer.ts';
import type { ModelConfig } from './sequential.ts';

const ACTIVATION_TYPES: Record<string, LayerConfig> = {
  relu: { type: 'ReLU' },
  'leaky-relu': { type: 'LeakyReLU', slope: 0.01 },
  sigmoid: { type: 'Sigmoid' },
  tanh: { type: 'Tanh' },
};
const OUTPUT_TYPES: Record<string, LayerConfig | undefined> = {
  none: undefined,
  sigmoid: { type: 'Sigmoid' },
  softmax: { type: 'Softmax' },
};

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
  let activation = 'relu';
  let output = 'none';
  for (const w of words.slice(1)) {
    if (w.startsWith('output=')) {
      output = w.slice('output='.length);
      if (!(output in OUTPUT_TYPES)) {
        throw new NablaError({ where, expected: `output= one of ${Object.keys(OUTPUT_TYPES).join(', ')}`, found: JSON.stringify(output) });
      }
    } else if (w in ACTIVATION_TYPES) {
      activation = w;
    } else {
      throw new NablaError({
        where, expected: `an activation (${Object.keys(ACTIVATION_TYPES).join(', ')}) or output=<${Object.keys(OUTPUT_TYPES).join('|')}>`,
        found: JSON.stringify(w),
      });
    }
  }
  const dims = sizes.map(Number);
  const layers: LayerConfig[] = [];
  for (let i = 1; i < dims.length; i++) {
    layers.push({ type: 'Dense', units: dims[i], bias: true });
    if (i < dims.length - 1) layers.push({ ...ACTIVATION_TYPES[activation] });
  }
  const out = OUTPUT_TYPES[output];
  if (out) layers.push({ ...out });
  return { inputShape: [dims[0]], layers };
}
