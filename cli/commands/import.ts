/**
 * nabla import <weights.safetensors> --arch "784-256-128-10 relu" --out model.safetensors:
 * a PyTorch state_dict saved as safetensors, loaded into an architecture given in nabla terms
 * (a one-line MLP, or --layers with the JSON architecture), saved as a nabla model file.
 */
import type { Command } from 'commander';
import { NablaError, encodeModel, importStateDict, parseArchitecture, type ModelConfig } from '../../src/index.ts';
import { readFileChecked, writeFileAtomic } from '../files.ts';

export function registerImport(program: Command): void {
  program
    .command('import')
    .description('turn a PyTorch state_dict saved as safetensors into a nabla model, for an architecture you describe')
    .argument('<weights>', 'state dict (.safetensors), e.g. from safetensors.torch.save_file(model.state_dict(), path)')
    .option('--arch <spec>', 'a multilayer perceptron: "784-256-128-10 relu" (activations relu|leaky-relu|sigmoid|tanh, optional output=sigmoid|softmax)')
    .option('--layers <json>', 'or the full architecture as JSON: {"inputShape": [...], "layers": [{"type": "Dense", "units": 10}, ...]}')
    .option('--prefix <p>', 'strip this prefix from every key (e.g. "net." for a Sequential stored as self.net)', '')
    .requiredOption('--out <file>', 'the nabla model file to write')
    .action((weightsPath: string, opts: { arch?: string; layers?: string; prefix: string; out: string }) => {
      const architecture = readArchitecture(opts);
      const model = importStateDict(readFileChecked(weightsPath, 'weights file'), architecture, {
        role: `weights file "${weightsPath}"`, prefix: opts.prefix,
      });
      writeFileAtomic(opts.out, encodeModel(model, { source: `PyTorch state_dict "${weightsPath}"` }), 'model file');
      console.log(`wrote ${opts.out}: ${model.layers.length} layers, ${model.paramCount.toLocaleString('en-US')} parameters from ${weightsPath}`);
    });
}

function readArchitecture(opts: { arch?: string; layers?: string }): ModelConfig {
  if ((opts.arch === undefined) === (opts.layers === undefined)) {
    throw new NablaError({
      where: 'flags --arch/--layers', expected: 'exactly one of them', found: opts.arch === undefined ? 'neither' : 'both',
      hint: 'e.g. --arch "784-256-128-10 relu"',
    });
  }
  if (opts.arch !== undefined) return parseArchitecture(opts.arch);
  try {
    return JSON.parse(opts.layers!) as ModelConfig;
  } catch (e) {
    throw new NablaError({ where: 'flag --layers', expected: 'JSON', found: (e as Error).message });
  }
}
