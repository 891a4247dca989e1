/** nabla report <model>: a self-contained HTML training report, written atomically. */
import { basename } from 'node:path';
import type { Command } from 'commander';
import { NablaError } from 'nabla';
import { writeFileAtomic, loadModel } from 'nabla/node';
import { dataInputs, loadEvalData, type DataRecord } from '../dataSources.ts';
import { checkOutputs } from '../outputs.ts';
import { addBackendOptions, backendFromFlags, type BackendFlags } from '../backendOptions.ts';

export function registerReport(program: Command): void {
  const command = program
    .command('report')
    .description('write a self-contained HTML report: training curves; for a classifier the test confusion matrix, W(1) images and worst mistakes; for a regression model MAE, RMSE, R², predicted against true and the largest errors')
    .argument('<model>', 'model file (.safetensors)')
    .option('--out <file>', 'where to write the report (default: the model path with .report.html)')
    .option('--data <path>', 'test data as for nabla eval: MNIST IDX folder, .csv, .npz, x.npy (with --labels) or image folder; needed for a model not trained on MNIST')
    .option('--labels <file>', 'with --data x.npy: the labels .npy file');
  addBackendOptions(command)
    .action(async (modelPath: string, opts: { out?: string; data?: string; labels?: string } & BackendFlags) => {
      const out = opts.out ?? modelPath.replace(/\.safetensors$/i, '') + '.report.html';
      checkOutputs([{ path: out, role: 'report' }], [
        { path: modelPath, role: 'model file' }, ...dataInputs(opts.data, opts.labels).map((path) => ({ path, role: 'data file' })),
      ]);
      const loaded = loadModel(modelPath, { backend: await backendFromFlags(opts) });
      const regression = loaded.training.task === 'regression';
      const { test, describe } = await loadEvalData(loaded.training.data as DataRecord | undefined, opts, modelPath, loaded.model.outputShape[0]);
      const outputs = loaded.model.outputShape[0];
      const fits = regression ? outputs === test.classes : Math.max(2, outputs) === Math.max(2, test.classes);
      if (loaded.model.inputShape.reduce((a, b) => a * b, 1) !== test.features || !fits) {
        throw new NablaError({
          where: `model file "${modelPath}"`,
          expected: `a model with ${test.features} inputs and ${test.classes} ${regression ? 'targets' : 'outputs'} (${describe})`,
          found: `input shape [${loaded.model.inputShape}] and ${outputs} outputs`,
        });
      }
      const { buildReport } = await import('../report.ts'); // pngjs, loaded only for a report
      const html = buildReport({ name: basename(modelPath), loaded, test, dataSource: describe });
      writeFileAtomic(out, new TextEncoder().encode(html), 'report');
      console.log(`report written to ${out}`);
    });
}
