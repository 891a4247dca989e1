/** nabla export <model> --onnx out.onnx: the model as an ONNX file (the library's exportOnnx). */
import type { Command } from 'commander';
import { ONNX_OPSET, exportOnnx, onnxOutputName, shapeToString } from 'nabla';
import { writeFileAtomic, loadModel } from 'nabla/node';
import { checkOutputs } from '../outputs.ts';

export function registerExport(program: Command): void {
  program
    .command('export')
    .description(`write a model as ONNX (opset ${ONNX_OPSET}), to run in ONNX Runtime and other ONNX tools`)
    .argument('<model>', 'model file (.safetensors)')
    .requiredOption('--onnx <file>', 'the ONNX file to write')
    .action((modelPath: string, opts: { onnx: string }) => {
      checkOutputs([{ path: opts.onnx, role: 'ONNX file' }], [{ path: modelPath, role: 'model file' }]);
      const { model, training } = loadModel(modelPath);
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
    });
}
