/**
 * The small CNN of bench/cnnEpoch.ts (conv 5×5×8, ReLU, maxpool 2, conv 5×5×16, ReLU, maxpool 2,
 * dense 10; batch 64; SGD lr 0.05 momentum 0.9) in TF.js, for bench/run.ts. TF.js cpu takes
 * over an hour an epoch here, so `--batches N` times N batches with each of two idioms (see below)
 * and extrapolates the faster to the epoch's 938 (the JSON says so). TF.js wasm has no kernels for the convolution gradients;
 * the script then reports the error it raises instead of a time.
 *
 *   node --import tsx bench/cnnTfjs.ts --lib tfjs-cpu --batches 20
 */
import { parseArgs } from 'node:util';
import { loadMnist } from 'nabla/node';
import { BatchIterator, Rng } from 'nabla';
import { useTf, type TfBackend } from './tfjs.ts';

const { values } = parseArgs({ options: { lib: { type: 'string' }, batches: { type: 'string' } } });
const lib = values.lib ?? 'tfjs-cpu';
const tf = await useTf(lib.replace('tfjs-', '') as TfBackend);
const train = loadMnist('train');
const BATCH = 64;
const total = Math.ceil(train.count / BATCH);
const limit = Math.min(total, Number(values.batches ?? total));

// He-normal weights, zero biases; NHWC (for one channel, MNIST's rows are already NHWC).
const he = (shape: number[], fanIn: number, seed: number) => tf.variable(tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), 'float32', seed));
const w1 = he([5, 5, 1, 8], 25, 1);
const b1 = tf.variable(tf.zeros([8]));
const w2 = he([5, 5, 8, 16], 200, 2);
const b2 = tf.variable(tf.zeros([16]));
const w3 = he([256, 10], 256, 3);
const b3 = tf.variable(tf.zeros([10]));
type T4 = ReturnType<typeof tf.tensor4d>;
const logits = (x: T4) => {
  const a1 = tf.maxPool(tf.relu(tf.add(tf.conv2d(x, w1 as unknown as T4, 1, 'valid'), b1)) as T4, 2, 2, 'valid');
  const a2 = tf.maxPool(tf.relu(tf.add(tf.conv2d(a1, w2 as unknown as T4, 1, 'valid'), b2)) as T4, 2, 2, 'valid');
  return tf.add(tf.matMul(tf.reshape(a2, [-1, 256]), w3), b3);
};
const it = new BatchIterator(train, { batchSize: BATCH, shuffle: true, rng: new Rng(1) });
const batches = it.epoch();
// Two documented custom-loop idioms, alternating on the epoch's batches (one untimed batch each
// first): optimizer.minimize with the batch tensors disposed by hand, and the same step inside
// tf.tidy. The faster one's mean batch time is scaled to the epoch. (model.fit is left out here:
// on TF.js cpu an epoch takes hours, and in the MLP bench it is the slowest of the three.)
type Idiom = 'minimize' | 'tidy(minimize)';
const optimizers = { minimize: tf.train.momentum(0.05, 0.9), 'tidy(minimize)': tf.train.momentum(0.05, 0.9) };
const step = (idiom: Idiom) => {
  const next = batches.next();
  if (next.done) throw new Error('ran out of batches');
  const batch = next.value;
  const body = () => {
    const x = tf.tensor4d(batch.x, [batch.size, 28, 28, 1]);
    const y = tf.tensor2d(batch.y, [batch.size, 10]);
    optimizers[idiom].minimize(() => tf.losses.softmaxCrossEntropy(y, logits(x)) as ReturnType<typeof tf.scalar>);
    if (idiom === 'minimize') tf.dispose([x, y]);
  };
  const t0 = performance.now();
  if (idiom === 'tidy(minimize)') tf.tidy(body);
  else body();
  w1.dataSync();
  return (performance.now() - t0) / 1000;
};
let result: Record<string, unknown>;
try {
  const idioms: Idiom[] = ['minimize', 'tidy(minimize)'];
  for (const idiom of idioms) step(idiom);
  const secs: Record<Idiom, number[]> = { minimize: [], 'tidy(minimize)': [] };
  for (let b = 0; b < limit; b++) for (const idiom of idioms) secs[idiom].push(step(idiom));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const best = idioms.reduce((a, b) => (mean(secs[b]) < mean(secs[a]) ? b : a));
  result = {
    lib, batchesTimed: limit, batchesPerEpoch: total, epochSeconds: mean(secs[best]) * total, extrapolated: true,
    idiom: best, idiomSecondsPerBatch: secs,
  };
} catch (err) {
  result = { lib, error: String((err as Error).message).split('\n')[0] };
}
result.maxRssMB = process.resourceUsage().maxRSS / 1024;
console.log(JSON.stringify(result));
