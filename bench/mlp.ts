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
  idiom?: string;
  idiomMsPerBatch?: Record<string, number[]>;
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

type Idiom = 'minimize' | 'tidy(minimize)' | 'model.fit';
const IDIOMS: Idiom[] = ['minimize', 'tidy(minimize)', 'model.fit'];

/**
 * TF.js trained three documented ways, each on its own copy of the model: a custom loop of
 * `optimizer.minimize` (tensors disposed by hand), the same loop with each step inside `tf.tidy`,
 * and a `tf.sequential` model's `model.fit` (async, so tf.tidy cannot wrap it: tidy refuses a
 * function that returns a promise). Each idiom first trains `probe` batches, twice, alternating
 * (A B C A B C); the fastest per batch then trains the timed epochs, after a warm-up of `probe`
 * more batches. Every idiom's ms per batch is returned, so the output names the winner and the others.
 */
async function tfjs(lib: string, epochs: number, probe: number, train: Dataset, test: Dataset): Promise<Result> {
  const tf = await useTf(lib.replace('tfjs-', '') as TfBackend);
  type T2 = ReturnType<typeof tf.tensor2d>;
  // He-normal weights and zero biases, as nabla's Dense.
  const loopModel = () => {
    const w1 = tf.variable(tf.randomNormal([784, 128], 0, Math.sqrt(2 / 784), 'float32', 1));
    const b1 = tf.variable(tf.zeros([128]));
    const w2 = tf.variable(tf.randomNormal([128, 10], 0, Math.sqrt(2 / 128), 'float32', 2));
    const b2 = tf.variable(tf.zeros([10]));
    const logits = (x: T2) => tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(x, w1), b1)), w2), b2) as T2;
    return { w1, logits, optimizer: tf.train.sgd(LR) };
  };
  const layersModel = () => {
    const m = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [784], units: 128, activation: 'relu', kernelInitializer: 'heNormal' }),
        tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: 'heNormal' }),
      ],
    });
    m.compile({ optimizer: tf.train.sgd(LR), loss: 'categoricalCrossentropy' });
    return m;
  };
  // The custom loops take nabla's shuffled batches (the same BatchIterator as nabla's fit),
  // gathered into Float32Arrays and handed over per batch; model.fit shuffles on its own.
  const it = new BatchIterator(train, { batchSize: BATCH, shuffle: true, rng: new Rng(1) });
  const xAll = tf.tensor2d(train.x, [train.count, 784]);
  const yAll = tf.tensor2d(Float32Array.from(train.y), [train.count, 10]);
  const loop = (m: ReturnType<typeof loopModel>, tidy: boolean, limit: number) => {
    let done = 0;
    for (const batch of it.epoch()) {
      if (done++ === limit) break;
      const step = () => {
        const x = tf.tensor2d(batch.x, [batch.size, 784]);
        const y = tf.tensor2d(batch.y, [batch.size, 10]);
        m.optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, m.logits(x)) as ReturnType<typeof tf.scalar>);
        if (!tidy) {
          x.dispose();
          y.dispose();
        }
      };
      if (tidy) tf.tidy(step);
      else step();
    }
    // Make sure every queued kernel has finished before stopping the clock.
    m.w1.dataSync();
  };
  const fitModel = layersModel();
  const fitLoop = loopModel();
  const tidyLoop = loopModel();
  const run = async (idiom: Idiom, limit: number) => {
    if (idiom === 'model.fit') {
      const n = Math.min(train.count, limit * BATCH);
      const x = n === train.count ? xAll : xAll.slice(0, n);
      const y = n === train.count ? yAll : yAll.slice(0, n);
      await fitModel.fit(x, y, { batchSize: BATCH, epochs: 1, shuffle: true, verbose: 0 });
      if (x !== xAll) tf.dispose([x, y]);
      (fitModel.layers[0].getWeights()[0]).dataSync();
    } else loop(idiom === 'minimize' ? fitLoop : tidyLoop, idiom === 'tidy(minimize)', limit);
  };
  const msPerBatch: Record<string, number[]> = {};
  for (const idiom of IDIOMS) await run(idiom, 10); // compile and allocate once each
  for (let r = 0; r < 2; r++) {
    for (const idiom of IDIOMS) {
      const t0 = performance.now();
      await run(idiom, probe);
      (msPerBatch[idiom] ??= []).push((performance.now() - t0) / probe);
    }
  }
  const best = IDIOMS.reduce((a, b) => (Math.min(...msPerBatch[b]) < Math.min(...msPerBatch[a]) ? b : a));
  await run(best, probe);
  const epochSeconds: number[] = [];
  for (let e = 0; e < epochs; e++) {
    const t0 = performance.now();
    await run(best, Infinity);
    epochSeconds.push((performance.now() - t0) / 1000);
  }
  let pred: Int32Array | Float32Array | Uint8Array;
  const xt = tf.tensor2d(test.x, [test.count, 784]);
  if (best === 'model.fit') pred = tf.tidy(() => tf.argMax(fitModel.predict(xt) as T2, 1).dataSync());
  else pred = tf.tidy(() => tf.argMax((best === 'minimize' ? fitLoop : tidyLoop).logits(xt), 1).dataSync());
  let correct = 0;
  for (let i = 0; i < test.count; i++) if (test.y[i * 10 + pred[i]] === 1) correct++;
  return { lib, threads: 1, epochSeconds, testAccuracy: correct / test.count, maxRssMB: 0, idiom: best, idiomMsPerBatch: msPerBatch };
}

const { values } = parseArgs({ options: { lib: { type: 'string' }, threads: { type: 'string' }, epochs: { type: 'string' }, probe: { type: 'string' } } });
const lib = values.lib ?? 'nabla-wasm';
const epochs = Number(values.epochs ?? 3);
const train = loadMnist('train');
const test = loadMnist('test');
const result = lib.startsWith('nabla')
  ? await nabla(lib, Number(values.threads ?? 1), epochs, train, test)
  : await tfjs(lib, epochs, Number(values.probe ?? 100), train, test);
result.maxRssMB = process.resourceUsage().maxRSS / 1024;
console.log(JSON.stringify(result));
