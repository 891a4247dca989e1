/**
 * nabla import <weights.safetensors> --arch "784-256-128-10 relu" --out model.safetensors:
 * a PyTorch state_dict saved as safetensors, loaded into an architecture given in nabla terms
 * (a one-line MLP, or --layers: the layer-spec grammar of `train --layers`, or the JSON
 * architecture), saved as a nabla model file.
 */
import type { Command } from 'commander';
import {
  NablaError, encodeModel, importStateDict, layerSpecGrammar, parseArchitecture, parseLayerSpec, specWantsImages, type ModelConfig,
} from 'nabla';
import { readFileChecked, writeFileAtomic } from 'nabla/node';
import { checkOutputs } from '../outputs.ts';

export function registerImport(program: Command): void {
  program
    .command('import')
    .description('turn a PyTorch state_dict saved as safetensors into a nabla model, for an architecture you describe')
    .argument('<weights>', 'state dict (.safetensors), e.g. from safetensors.torch.save_file(model.state_dict(), path)')
    .option('--arch <spec>', 'a multilayer perceptron: "784-256-128-10 relu" (activations relu|leaky-relu|sigmoid|tanh, optional output=sigmoid|softmax)')
    .option('--layers <spec>', `or any layer sequence as train --layers takes it (e.g. "conv:8x5,relu,maxpool:2,flatten,dense:10"; tokens: ${layerSpecGrammar()}), or the architecture as JSON: {"inputShape": [...], "layers": [...]}`)
    .option('--input <shape>', 'with a --layers spec: the per-sample input shape, e.g. 784 or 1x28x28 (default: MNIST\'s, 1x28x28 when the spec starts with image layers, else 784)')
    .option('--prefix <p>', 'strip this prefix from every key (e.g. "net." for a Sequential stored as self.net)', '')
    .requiredOption('--out <file>', 'the nabla model file to write')
    .action((weightsPath: string, opts: { arch?: string; layers?: string; input?: string; prefix: string; out: string }) => {
      checkOutputs([{ path: opts.out, role: 'model file' }], [{ path: weightsPath, role: 'weights file' }]);
      const architecture = readArchitecture(opts);
      const model = importStateDict(readFileChecked(weightsPath, 'weights file'), architecture, {
        role: `weights file "${weightsPath}"`, prefix: opts.prefix,
      });
      writeFileAtomic(opts.out, encodeModel(model, { source: `PyTorch state_dict "${weightsPath}"` }), 'model file');
      console.log(`wrote ${opts.out}: ${model.layers.length} layers, ${model.paramCount.toLocaleString('en-US')} parameters from ${weightsPath}`);
    });
}

function readArchitecture(opts: { arch?: string; layers?: string; input?: string }): ModelConfig {
  if ((opts.arch === undefined) === (opts.layers === undefined)) {
    throw new NablaError({
      where: 'flags --arch/--layers', expected: 'exactly one of them', found: opts.arch === undefined ? 'neither' : 'both',
      hint: 'e.g. --arch "784-256-128-10 relu"',
    });
  }
  if (opts.arch !== undefined) return parseArchitecture(opts.arch);
  const text = opts.layers!.trim();
  if (text.startsWith('{')) {
    try {
      return JSON.parse(text) as ModelConfig;
    } catch (e) {
      throw new NablaError({ where: 'flag --layers', expected: 'JSON (it starts with "{")', found: (e as Error).message });
    }
  }
  const inputShape = opts.input === undefined ? undefined : opts.input.split('x').map(Number);
  if (inputShape && !inputShape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new NablaError({ where: 'flag --input', expected: 'positive integers joined by "x", e.g. 784 or 1x28x28', found: JSON.stringify(opts.input) });
  }
  const layers = parseLayerSpec(text, inputShape?.length ?? 3);
  return { inputShape: inputShape ?? (specWantsImages(layers) ? [1, 28, 28] : [784]), layers };
}
