/** nabla report <model>: a self-contained HTML training report, written atomically. */
import { basename } from 'node:path';
import type { Command } from 'commander';
import { NablaError } from 'nabla';
import { writeFileAtomic, dataSource, loadMnist, mnistFileCandidates, loadModel } from 'nabla/node';
import { checkOutputs } from '../outputs.ts';
import { addBackendOptions, backendFromFlags, type BackendFlags } from '../backendOptions.ts';

export function registerReport(program: Command): void {
  const command = program
    .command('report')
    .description('write a self-contained HTML report: training curves, test confusion matrix, W(1) images, worst mistakes')
    .argument('<model>', 'model file (.safetensors)')
    .option('--out <file>', 'where to write the report (default: the model path with .report.html)')
    .option('--data <dir>', 'read MNIST-format IDX files (plain or .gz) from this folder');
  addBackendOptions(command)
    .action(async (modelPath: string, opts: { out?: string; data?: string } & BackendFlags) => {
      const out = opts.out ?? modelPath.replace(/\.safetensors$/i, '') + '.report.html';
      checkOutputs([{ path: out, role: 'report' }], [
        { path: modelPath, role: 'model file' }, ...mnistFileCandidates(opts.data).map((path) => ({ path, role: 'data file' })),
      ]);
      const loaded = loadModel(modelPath, { backend: await backendFromFlags(opts) });
      const test = loadMnist('test', opts.data);
      if (loaded.model.inputShape.reduce((a, b) => a * b, 1) !== test.features || loaded.model.outputShape[0] !== test.classes) {
        throw new NablaError({
          where: `model file "${modelPath}"`, expected: `a model with ${test.features} inputs and ${test.classes} outputs (MNIST)`,
          found: `input shape [${loaded.model.inputShape}] and ${loaded.model.outputShape[0]} outputs`,
        });
      }
      const { buildReport } = await import('../report.ts'); // pngjs, loaded only for a report
      const html = buildReport({ name: basename(modelPath), loaded, test, dataSource: dataSource(opts.data) });
      writeFileAtomic(out, new TextEncoder().encode(html), 'report');
      console.log(`report written to ${out}`);
    });
}
