/**
 * One library trains the 784-128-10 MLP (ReLU, softmax cross-entropy, SGD lr 0.1, batch 64) on
 * MNIST's 60,000 training images for a few epochs, as JSON on stdout: each epoch's seconds, the
 * test accuracy after the first epoch, and the process's peak memory. Run by bench/run.ts, one
 * process per library so that peak memory is the library's own.
 *
 *   node --import tsx bench/mlp.ts --lib nabla-wasm --epochs 3
 */
import { setFlagsFromString } from 'node:v8';
import { parseArgs } from 'node:util';
import { loadMnist } from 'nabla/node';
import {
  BatchIterator, Dense, JsBackend, ReLU, Rng, SGD, Sequential, WasmBackend, type Backend, type Dataset,
} from 'nabla';
import { useTf, type TfBackend } from './tfjs.ts';

setFlagsFromString('--experimental-wasm-relaxed-simd');

const BATCH = 64;
const LR = 0.1;

interface Result {
  lib: string;
  threads: number;
  epochSeconds: number[];
  testAccuracy: number;
  maxRssMB: number;
}

async function nabla(lib: string, threads: number, epochs: number, train: Dataset, test: Dataset): Promise<Result> {
  const backend: Backend = lib === 'nabla-js' ? new JsBackend() : await WasmBackend.create({ threads });
  const model = new Sequential([new Dense(128), new ReLU(), new Dense(10)], { inputShape: [784], seed: 1, backend });
  const optimizer = new SGD(model.parameters(), { lr: LR, backend });
  const epochSeconds: number[] = [];
  let testAccuracy = NaN;
  for (let e = 0; e < epochs; e++) {
    const h = model.fit(train, { optimizer, loss: 'ce', epochs: 1, batchSize: BATCH });
    epochSeconds.push(h.epochs[0].seconds);
    if (e === 0) testAccuracy = model.evaluate(test, { loss: 'ce' }).accuracy;
  }
  return { lib, threads, epochSeconds, testAccuracy, maxRssMB: 0 };
}

async function tfjs(lib: string, epochs: number, train: Dataset, test: Dataset): Promise<Result> {
  const tf = await useTf(lib.replace('tfjs-', '') as TfBackend);
  // He-normal weights and zero biases, as nabla's Dense.
  const w1 = tf.variable(tf.randomNormal([784, 128], 0, Math.sqrt(2 / 784), 'float32', 1));
  const b1 = tf.variable(tf.zeros([128]));
  const w2 = tf.variable(tf.randomNormal([128, 10], 0, Math.sqrt(2 / 128), 'float32', 2));
  const b2 = tf.variable(tf.zeros([10]));
  const logits = (x: ReturnType<typeof tf.tensor2d>) => tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(x, w1), b1)), w2), b2);
  const optimizer = tf.train.sgd(LR);
  // The same shuffled batches as nabla's fit: gathered into Float32Arrays, handed over per batch.
  const it = new BatchIterator(train, { batchSize: BATCH, shuffle: true, rng: new Rng(1) });
  const epochSeconds: number[] = [];
  let testAccuracy = NaN;
  for (let e = 0; e < epochs; e++) {
    const t0 = performance.now();
    for (const batch of it.epoch()) {
      const x = tf.tensor2d(batch.x, [batch.size, 784]);
      const y = tf.tensor2d(batch.y, [batch.size, 10]);
      optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, logits(x)) as ReturnType<typeof tf.scalar>);
      x.dispose();
      y.dispose();
    }
    // Make sure every queued kernel has finished before stopping the clock.
    w1.dataSync();
    epochSeconds.push((performance.now() - t0) / 1000);
    if (e === 0) {
      const pred = tf.tidy(() => tf.argMax(logits(tf.tensor2d(test.x, [test.count, 784])), 1).dataSync());
      let correct = 0;
      for (let i = 0; i < test.count; i++) if (test.y[i * 10 + pred[i]] === 1) correct++;
      testAccuracy = correct / test.count;
    }
  }
  return { lib, threads: 1, epochSeconds, testAccuracy, maxRssMB: 0 };
}

const { values } = parseArgs({ options: { lib: { type: 'string' }, threads: { type: 'string' }, epochs: { type: 'string' } } });
const lib = values.lib ?? 'nabla-wasm';
const epochs = Number(values.epochs ?? 3);
const train = loadMnist('train');
const test = loadMnist('test');
const result = lib.startsWith('nabla')
  ? await nabla(lib, Number(values.threads ?? 1), epochs, train, test)
  : await tfjs(lib, epochs, train, test);
result.maxRssMB = process.resourceUsage().maxRSS / 1024;
console.log(JSON.stringify(result));
