/** nabla predict <model> <image.png ...>: the class and probabilities for each image. */
import type { Command } from 'commander';
import { argmax, noInk } from 'nabla';
import { addBackendOptions, backendFromFlags, type BackendFlags } from '../backendOptions.ts';
import { loadModel } from 'nabla/node';
import { checkClassifier } from '../dataChecks.ts';
import { pct } from '../output.ts';

export function registerPredict(program: Command): void {
  const command = program
    .command('predict')
    .description('classify PNG images of digits (any size or colour; brought to MNIST\'s 28×28 white-on-black)')
    .argument('<model>', 'model file (.safetensors)')
    .argument('<images...>', 'PNG files')
    .option('--json', 'print one JSON object per image', false);
  addBackendOptions(command)
    .action(async (modelPath: string, images: string[], opts: { json: boolean } & BackendFlags) => {
      const { model } = loadModel(modelPath, { backend: await backendFromFlags(opts) });
      checkClassifier(modelPath, model, 'predict');
      const k = model.outputShape[0];
      // Loaded when needed: it pulls in pngjs, which every other command (and --version) can do without.
      const { readDigitPng } = await import('../image.ts');
      for (const path of images) {
        const x = await readDigitPng(path);
        const probs = model.predictProbabilities(x, 1);
        const cls = argmax(probs, 0, k);
        const warning = noInk(x);
        if (warning) process.stderr.write(`nabla: warning: ${path}: ${warning}\n`);
        if (opts.json) {
          console.log(JSON.stringify({ file: path, class: cls, probabilities: Array.from(probs, (p) => Number(p.toFixed(6))), ...(warning ? { warning } : {}) }));
        } else {
          const top = Array.from(probs, (p, c) => [c, p] as const).sort((a, b) => b[1] - a[1]).slice(0, 3);
          console.log(`${path}: ${cls}  (${top.map(([c, p]) => `${c}: ${pct(p)}`).join(', ')})`);
        }
      }
    });
}
