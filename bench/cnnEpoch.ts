/**
 * bench/cnnEpoch.ts: seconds per MNIST epoch of the small CNN of issue #4 with nabla, and its
 * test accuracy after each epoch. A standalone script, not a test.
 *
 *   conv 5×5×8, ReLU, maxpool 2, conv 5×5×16, ReLU, maxpool 2, flatten, dense 10
 *   batch 64, SGD lr 0.05 momentum 0.9 (or --optimizer adam), 60,000 training samples
 *
 * Usage: npx tsx bench/cnnEpoch.ts [--epochs 3] [--backend auto|wasm|js] [--threads N] [--optimizer sgd|adam] [--limit N] [--seed 1]
 * Prints one line per epoch and a final JSON line with the median epoch time. The machine is
 * shared and noisy: quote the median, not the best run.
 */
import { setFlagsFromString } from 'node:v8';
import { parseArgs } from 'node:util';
import {
  Adam, Conv2D, Dense, Flatten, MaxPool2D, ReLU, SGD, Sequential, createBackend, describeBackend, sliceDataset, type BackendName,
} from 'nabla';
import { loadMnist } from 'nabla/node';

const { values } = parseArgs({
  options: {
    epochs: { type: 'string', default: '3' },
    backend: { type: 'string', default: 'auto' },
    threads: { type: 'string' },
    optimizer: { type: 'string', default: 'sgd' },
    limit: { type: 'string' },
    seed: { type: 'string', default: '1' },
  },
});

// As the CLI does: relaxed SIMD's fused multiply-add for the wasm GEMM on Node 20.
setFlagsFromString('--experimental-wasm-relaxed-simd');
const epochs = Number(values.epochs);
const backend = await createBackend({
  name: values.backend as BackendName, threads: values.threads === undefined ? undefined : Number(values.threads),
});
let train = loadMnist('train');
if (values.limit !== undefined) train = sliceDataset(train, 0, Number(values.limit));
const test = loadMnist('test');

const model = new Sequential([
  new Conv2D(8, 5), new ReLU(), new MaxPool2D(2),
  new Conv2D(16, 5), new ReLU(), new MaxPool2D(2),
  new Flatten(), new Dense(10),
], { inputShape: [1, 28, 28], seed: Number(values.seed), backend });
const optimizer = values.optimizer === 'adam'
  ? new Adam(model.parameters(), { lr: 1e-3, backend })
  : new SGD(model.parameters(), { lr: 0.05, momentum: 0.9, backend });

console.log(model.summary());
console.log(`backend ${describeBackend(backend)}, ${train.count} samples, batch 64, ${values.optimizer}, node ${process.version}`);
const times: number[] = [];
let accuracy = 0;
for (let e = 1; e <= epochs; e++) {
  const t0 = performance.now();
  const h = model.fit(train, { optimizer, loss: 'ce', epochs: 1, batchSize: 64 });
  const seconds = (performance.now() - t0) / 1000;
  times.push(seconds);
  accuracy = model.evaluate(test, { loss: 'ce' }).accuracy;
  console.log(`epoch ${e}: ${seconds.toFixed(2)} s  train loss ${h.epochs[0].loss.toFixed(4)}  test accuracy ${(100 * accuracy).toFixed(2)}%`);
}
const sorted = [...times].sort((a, b) => a - b);
const median = sorted[Math.floor((sorted.length - 1) / 2)];
console.log(JSON.stringify({
  bench: 'cnn-epoch', backend: describeBackend(backend), samples: train.count, epochs, median_epoch_seconds: median,
  epoch_seconds: times, test_accuracy: accuracy, max_rss_mb: process.resourceUsage().maxRSS / 1024,
}));
