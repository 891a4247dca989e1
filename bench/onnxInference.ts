/**
 * A nabla model against its ONNX export in ONNX Runtime (CPU), on the whole MNIST test set:
 * how far apart the outputs are, whether every predicted class agrees, and inference time.
 *
 *   node --import tsx bench/onnxInference.ts models/mnist-mlp.safetensors [--runs 5]
 *
 * Times are medians over the runs of one forward pass of all 10,000 digits (batch 10,000 for
 * ONNX Runtime, nabla's predict in batches of 256), after one warm-up each.
 */
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { argmax, decodeModel, exportOnnx } from 'nabla';
import { loadMnist } from 'nabla/node';

const path = process.argv[2];
if (!path) throw new Error('usage: bench/onnxInference.ts <model.safetensors> [--runs N]');
const runsFlag = process.argv.indexOf('--runs');
const runs = runsFlag > 0 ? Number(process.argv[runsFlag + 1]) : 5;

const { model } = decodeModel(new Uint8Array(readFileSync(path)), path);
const test = loadMnist('test');
const k = test.classes;
const bytes = exportOnnx(model);
const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
const input = new ort.Tensor('float32', test.x, [test.count, ...model.inputShape]);
const outName = session.outputNames[0];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const timeIt = async (fn: () => unknown) => {
  await fn();
  const ts: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
};

const ours = model.predict(test.x, test.count);
const theirs = (await session.run({ input }))[outName].data as Float32Array;
let maxDiff = 0;
let agree = 0;
let correct = 0;
for (let i = 0; i < test.count; i++) {
  for (let j = 0; j < k; j++) maxDiff = Math.max(maxDiff, Math.abs(ours[i * k + j] - theirs[i * k + j]));
  const c = argmax(ours, i * k, k);
  if (c === argmax(theirs, i * k, k)) agree++;
  if (c === test.labels[i]) correct++;
}
const nablaMs = await timeIt(() => model.predict(test.x, test.count));
const ortMs = await timeIt(() => session.run({ input }));
console.log(JSON.stringify({
  model: path, onnxBytes: bytes.length, digits: test.count, accuracy: correct / test.count,
  classesAgree: agree, maxAbsDiff: maxDiff, nablaMs: Math.round(nablaMs), onnxRuntimeMs: Math.round(ortMs), runs,
}));
