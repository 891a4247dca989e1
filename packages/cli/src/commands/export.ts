/**
 * nabla export <model> --onnx out.onnx: the model as an ONNX file (the library's exportOnnx).
 * nabla export <model> --pytorch <dir>: the model as a Python package of torch.nn layers with a
 * training script (the library's exportPytorch), plus the model file's bytes as its weights.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { NablaError, ONNX_OPSET, exportOnnx, onnxOutputName, shapeToString } from 'nabla';
import { PYTORCH_WEIGHTS_FILE, bundledMnistDir, exportPytorch, writeFileAtomic, loadModel } from 'nabla/node';
import { checkOutputPath, checkOutputs, resolvedPath } from '../outputs.ts';

export function registerExport(program: Command): void {
  program
    .command('export')
    .description(`write a model as ONNX (opset ${ONNX_OPSET}), to run in ONNX Runtime and other ONNX tools, ` +
      'or as a PyTorch package (torch.nn layers, its weights, and a train.py that continues the run single-process or under torchrun)')
    .argument('<model>', 'model file (.safetensors)')
    .option('--onnx <file>', 'the ONNX file to write')
    .option('--pytorch <dir>', `the folder to write the PyTorch package into: model.py, train.py, settings.json, README.md, ${PYTORCH_WEIGHTS_FILE} ` +
      '(created if missing; other files in it are left alone; files of an earlier export are replaced)')
    .addHelpText('after', '\nExamples:\n  nabla export models/mnist-mlp.safetensors --onnx mnist.onnx\n' +
      '  nabla export models/mnist-mlp.safetensors --pytorch mnist-pt\n' +
      '  cd mnist-pt && python3 train.py --epochs 2          # or: torchrun --nproc_per_node 2 train.py --epochs 2\n' +
      '  nabla eval mnist-pt/trained.safetensors')
    .action((modelPath: string, opts: { onnx?: string; pytorch?: string }) => {
      if (opts.onnx === undefined && opts.pytorch === undefined) {
        throw new NablaError({ where: 'nabla export', expected: '--onnx <file> or --pytorch <dir>', found: 'neither', hint: 'e.g. nabla export model.safetensors --pytorch model-pt' });
      }
      if (opts.onnx !== undefined) checkOutputs([{ path: opts.onnx, role: 'ONNX file' }], [{ path: modelPath, role: 'model file' }]);
      const pytorchFiles = opts.pytorch === undefined ? undefined : checkPytorchFolder(opts.pytorch, modelPath);
      const { model, training } = loadModel(modelPath);
      if (opts.onnx !== undefined) {
        const metadata: Record<string, string> = {};
        if (training.preprocessing) metadata['nabla.preprocessing'] = JSON.stringify(training.preprocessing);
        // Everything is encoded in memory first: an unsupported layer fails before any file exists.
        const bytes = exportOnnx(model, { docString: `exported by nabla from ${modelPath}`, metadata });
        writeFileAtomic(opts.onnx, bytes, 'ONNX file');
        const output = onnxOutputName(model.layers[model.layers.length - 1].type);
        console.log(
          `wrote ${opts.onnx} (${bytes.length.toLocaleString('en-US')} bytes, ONNX opset ${ONNX_OPSET}): ` +
          `input "input" ${shapeToString(['batch', ...model.inputShape])} → "${output}" ${shapeToString(['batch', ...model.outputShape])}`,
        );
      }
      if (opts.pytorch !== undefined) {
        const dir = opts.pytorch;
        const data = training.data as { kind?: string; path?: string } | undefined;
        // A run on the bundled MNIST records no path: train.py defaults to the bundled folder here.
        const dataDefault = (data?.kind ?? 'mnist') === 'mnist' && data?.path === undefined ? bundledMnistDir() : undefined;
        // All text is generated first: a layer with no PyTorch form fails before any file exists.
        const { files } = exportPytorch(model, training, { source: modelPath, dataDefault });
        const encoder = new TextEncoder();
        for (const [name, text] of Object.entries(files)) writeFileAtomic(join(dir, name), encoder.encode(text), `PyTorch export file "${name}"`);
        writeFileAtomic(join(dir, PYTORCH_WEIGHTS_FILE), readFileSync(modelPath), 'PyTorch export weights');
        console.log(`wrote ${dir}/ (${[...pytorchFiles!].join(', ')}): ${model.layers.length} layers as torch.nn, ` +
          `input ${shapeToString(['batch', ...model.inputShape])} → ${shapeToString(['batch', ...model.outputShape])}; ` +
          `continue training with: python3 ${join(dir, 'train.py')} (or torchrun --nproc_per_node 2 ${join(dir, 'train.py')})`);
      }
    });
}

/** The names an export writes into its folder. */
const EXPORT_FILES = ['model.py', 'train.py', 'settings.json', 'README.md', PYTORCH_WEIGHTS_FILE];

/**
 * The folder may be new, or hold anything: an export writes only its own five names, and replaces
 * one of them only when an earlier export wrote it (so a user's own model.py is never clobbered),
 * and never the model file being exported.
 */
function checkPytorchFolder(dir: string, modelPath: string): string[] {
  if (existsSync(dir) && !statSync(dir).isDirectory()) {
    throw new NablaError({ where: `flag --pytorch "${dir}"`, expected: 'a folder (new or existing)', found: 'a file', hint: 'give a folder name, e.g. model-pt' });
  }
  for (const name of EXPORT_FILES) {
    const path = join(dir, name);
    const role = `PyTorch export file "${path}"`;
    checkOutputPath(path, role);
    if (resolvedPath(path) === resolvedPath(modelPath)) {
      throw new NablaError({ where: `flag --pytorch "${dir}"`, expected: `a folder whose ${name} is not the model being exported`, found: `${path} is ${modelPath}`, hint: 'export into another folder' });
    }
    if (existsSync(path) && !writtenByExport(path, name)) {
      throw new NablaError({
        where: role, expected: 'a file an earlier nabla export wrote (or none)', found: 'another file of that name',
        hint: 'nothing was written; export into a new or empty folder, or move that file away',
      });
    }
  }
  return EXPORT_FILES;
}

/** Whether an existing file of the export's names is one an earlier export wrote. */
function writtenByExport(path: string, name: string): boolean {
  if (!statSync(path).isFile()) return false;
  const head = readFileSync(path).subarray(0, 4096).toString('latin1');
  switch (name) {
    case 'model.py': return head.startsWith('"""The nabla model');
    case 'train.py': return head.startsWith('"""Continue training a nabla model in PyTorch');
    case 'README.md': return head.includes('Written by `nabla export --pytorch`');
    case 'settings.json': return head.includes('"exportedBy": "nabla export --pytorch"');
    // The weights: any nabla model file (its metadata carries "nabla" and "architecture").
    default: return head.includes('"nabla"') && head.includes('"architecture"');
  }
}
