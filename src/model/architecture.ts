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
import { MLP_ACTIVATIONS, MLP_OUTPUTS, mlpLayers, type MlpActivation, type MlpOutput } from './buildModel.ts';
import type { ModelConfig } from './sequential.ts';

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
