/** nabla eval <model>: test loss, accuracy, per-class accuracy and confusion matrix on MNIST's test set. */
import type { Command } from 'commander';
import { sliceDataset } from 'nabla';
import { dataSource, loadMnist, loadModel } from 'nabla/node';
import { addBackendOptions, backendFromFlags, type BackendFlags } from '../backendOptions.ts';
import { checkClassifier, warnLimitOver } from '../dataChecks.ts';
import { intIn } from '../options.ts';
import { formatEvaluation } from '../output.ts';

export function registerEval(program: Command): void {
  const command = program
    .command('eval')
    .description('evaluate a model on the MNIST test set')
    .argument('<model>', 'model file (.safetensors)')
    .option('--data <dir>', 'read MNIST-format IDX files (plain or .gz) from this folder')
    .option('--limit <n>', 'use only the first N test samples', intIn(1))
    .option('--json', 'print the result as one JSON object', false);
  addBackendOptions(command)
    .action(async (modelPath: string, opts: { data?: string; limit?: number; json: boolean } & BackendFlags) => {
      const { model, training } = loadModel(modelPath, { backend: await backendFromFlags(opts) });
      let test = loadMnist('test', opts.data);
      if (opts.limit !== undefined) test = sliceDataset(test, 0, Math.min(opts.limit, test.count));
      warnLimitOver(opts.limit, test.count, `test samples in ${dataSource(opts.data)}`);
      checkClassifier(modelPath, model, 'eval', test.classes);
      const ev = model.evaluate(test, { loss: training.loss ?? 'ce', task: 'classification', role: `test set (${dataSource(opts.data)})` });
      if (opts.json) {
        console.log(JSON.stringify({
          model: modelPath, samples: ev.count, loss: ev.loss, accuracy: ev.accuracy,
          per_class_accuracy: ev.perClass.map((a) => (Number.isNaN(a) ? null : a)), confusion: ev.confusion,
        }));
      } else {
        console.log(formatEvaluation(ev));
      }
    });
}
