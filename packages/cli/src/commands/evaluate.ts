/**
 * nabla eval <model>: on a test set, a classifier's loss, accuracy, per-class accuracy and
 * confusion matrix (with its class names), or a regression model's MAE, RMSE and R².
 */
import type { Command } from 'commander';
import { sliceDataset, type Task } from 'nabla';
import { loadModel } from 'nabla/node';
import { addBackendOptions, backendFromFlags, type BackendFlags } from '../backendOptions.ts';
import { checkClassifier, warnLimitOver } from '../dataChecks.ts';
import { loadEvalData, type DataRecord } from '../dataSources.ts';
import { intIn } from '../options.ts';
import { formatEvaluation, formatRegression } from '../output.ts';

export function registerEval(program: Command): void {
  const command = program
    .command('eval')
    .description('evaluate a model on a test set: MNIST\'s, or --data read the way the model file records its training data was read')
    .argument('<model>', 'model file (.safetensors)')
    .option('--data <path>', 'test data in the format the model was trained on (a folder of MNIST IDX files, a .csv, .npz, x.npy or image folder). ' +
      'The model\'s own training file gives the same held-out test rows again (same seed and --test-split); an .npz or MNIST folder its test part; ' +
      'any other file is evaluated whole. Needed for a model not trained on MNIST')
    .option('--labels <file>', 'with --data x.npy: the labels .npy file')
    .option('--limit <n>', 'use only the first N test samples', intIn(1))
    .option('--json', 'print the result as one JSON object', false);
  addBackendOptions(command)
    .action(async (modelPath: string, opts: { data?: string; labels?: string; limit?: number; json: boolean } & BackendFlags) => {
      const { model, training } = loadModel(modelPath, { backend: await backendFromFlags(opts) });
      const record = training.data as DataRecord | undefined;
      const task: Task = training.task ?? 'classification';
      // A 1-output model with no recorded task may be a regression model: refuse it before reading data.
      if (training.task === undefined) checkClassifier(modelPath, model, 'eval');
      let { test, describe } = await loadEvalData(record, opts, modelPath, model.outputShape[0]);
      if (opts.limit !== undefined) test = sliceDataset(test, 0, Math.min(opts.limit, test.count));
      warnLimitOver(opts.limit, test.count, `test samples in ${describe}`);
      if (task === 'classification') checkClassifier(modelPath, model, 'eval', test.classes, training.task);
      const ev = model.evaluate(test, { loss: training.loss ?? 'ce', task, role: `test set (${describe})` });
      if (ev.task === 'regression') {
        if (opts.json) {
          console.log(JSON.stringify({
            model: modelPath, task: 'regression', samples: ev.count, loss: ev.loss, mae: ev.mae, rmse: ev.rmse, r2: ev.r2,
            per_target: ev.perTarget, target_names: training.targetNames ?? null,
          }));
        } else {
          console.log(formatRegression(ev, training.targetNames));
        }
        return;
      }
      if (opts.json) {
        console.log(JSON.stringify({
          model: modelPath, samples: ev.count, loss: ev.loss, accuracy: ev.accuracy,
          per_class_accuracy: ev.perClass.map((a) => (Number.isNaN(a) ? null : a)), confusion: ev.confusion,
          ...(training.classNames ? { class_names: training.classNames } : {}),
        }));
      } else {
        console.log(formatEvaluation(ev, training.classNames));
      }
    });
}
