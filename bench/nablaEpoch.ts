/**
 * nabla's side of the epoch benchmarks, one workload per process (run by bench/run.ts, which
 * alternates it with the peers of bench/peers.py). The workloads are the same as there:
 *
 *   mlp         784-128-10, ReLU, softmax cross-entropy, SGD lr 0.1, batch 64
 *   small-cnn   conv 5×5×8, ReLU, maxpool 2, conv 5×5×16, ReLU, maxpool 2, dense 10; SGD lr 0.05
 *               momentum 0.9, batch 64 (bench/cnnEpoch.ts's network)
 *   cnn-preset  buildModel({ preset: 'cnn' }); Adam lr 2e-3, batch 128 (`nabla train`'s defaults)
 *
 * Timed with the library's documented way to train, `model.fit`, one epoch per call, after
 * `--warmup-batches` untimed batches (fit on the first ones of the data). `--curve` records every
 * batch's end during the warm-up and the timed epochs and prints the mean batch time of each
 * 50-batch stretch: the V8 tier-up curve (run.ts prints it once per run).
 *
 *   node --conditions=nabla-source --import tsx bench/nablaEpoch.ts --workload mlp --threads 2 --warmup-batches 938 --epochs 1
 */
import { setFlagsFromString } from 'node:v8';
import { parseArgs } from 'node:util';
import {
  Adam, Conv2D, Dense, Flatten, JsBackend, MaxPool2D, ReLU, SGD, Sequential, WasmBackend, buildModel, sliceDataset,
  type Backend, type Optimizer,
} from 'nabla';
import { loadMnist } from 'nabla/node';

setFlagsFromString('--experimental-wasm-relaxed-simd');

const { values } = parseArgs({
  options: {
    workload: { type: 'string', default: 'mlp' },
    backend: { type: 'string', default: 'wasm' },
    threads: { type: 'string', default: '1' },
    'warmup-batches': { type: 'string', default: '100' },
    epochs: { type: 'string', default: '1' },
    limit: { type: 'string' },
    curve: { type: 'boolean' },
    data: { type: 'string', default: 'backend' },
  },
});
const workload = values.workload!;
const threads = Number(values.threads);
const backend: Backend = values.backend === 'js' ? new JsBackend() : await WasmBackend.create({ threads });
const batchSize = workload === 'cnn-preset' ? 128 : 64;

let model: Sequential;
let optimizer: Optimizer;
if (workload === 'mlp') {
  model = new Sequential([new Dense(128), new ReLU(), new Dense(10)], { inputShape: [784], seed: 1, backend });
  optimizer = new SGD(model.parameters(), { lr: 0.1, backend });
} else if (workload === 'small-cnn') {
  model = new Sequential([
    new Conv2D(8, 5), new ReLU(), new MaxPool2D(2),
    new Conv2D(16, 5), new ReLU(), new MaxPool2D(2),
    new Flatten(), new Dense(10),
  ], { inputShape: [1, 28, 28], seed: 1, backend });
  optimizer = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9, backend });
} else if (workload === 'cnn-preset') {
  model = buildModel({ preset: 'cnn', seed: 1, backend });
  optimizer = new Adam(model.parameters(), { lr: 2e-3, backend });
} else {
  throw new Error(`unknown workload ${workload}`);
}

// The data in the backend's memory (loadMnist's `allocate`, docs/backends.md): the wasm kernel
// then gathers each batch, on every thread. `--data arrays` keeps it in ordinary arrays.
const allocate = values.data === 'arrays' ? undefined : (n: number) => backend.allocate(n);
let train = loadMnist('train', undefined, allocate);
if (values.limit !== undefined) train = sliceDataset(train, 0, Number(values.limit));
const test = loadMnist('test');

const ends: number[] = [];
const callbacks = values.curve ? [{ onBatchEnd: () => { ends.push(performance.now()); } }] : [];
const warmupBatches = Math.min(Number(values['warmup-batches']), Math.ceil(train.count / batchSize));
const t0 = performance.now();
if (warmupBatches > 0) {
  model.fit(sliceDataset(train, 0, Math.min(train.count, warmupBatches * batchSize)), { optimizer, loss: 'ce', epochs: 1, batchSize, callbacks });
}
const warmupSeconds = (performance.now() - t0) / 1000;
const epochSeconds: number[] = [];
for (let e = 0; e < Number(values.epochs); e++) {
  const s = performance.now();
  model.fit(train, { optimizer, loss: 'ce', epochs: 1, batchSize, callbacks });
  epochSeconds.push((performance.now() - s) / 1000);
}
const testAccuracy = model.evaluate(test, { loss: 'ce' }).accuracy;

// Mean ms per batch of each 50-batch stretch, from the first batch of the warm-up on.
const curve: number[] = [];
for (let i = 0; i + 50 <= ends.length; i += 50) curve.push((ends[i + 49] - (i === 0 ? t0 : ends[i - 1])) / 50);
if (backend instanceof WasmBackend) backend.dispose();
console.log(JSON.stringify({
  lib: values.backend === 'js' ? 'nabla-js' : 'nabla-wasm', workload, threads, samples: train.count, batch: batchSize,
  warmupBatches, warmupSeconds, epochSeconds, testAccuracy, maxRssMB: process.resourceUsage().maxRSS / 1024,
  idiom: `model.fit, one epoch per call${allocate ? ', data in the backend memory' : ''}`, ...(values.curve ? { curveMsPerBatch: curve } : {}),
}));
