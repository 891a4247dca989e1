/**
 * An independent check of the bench's TF.js rows: written apart from bench/gemm.ts and
 * bench/mlp.ts (none of their helpers, its own shuffle and timing loop), it times TF.js wasm's
 * 512³ matMul and one MNIST epoch of the 784-128-10 MLP (SGD lr 0.1, batch 64, a custom loop of
 * optimizer.minimize) the plain way a TF.js user would write them. Run it next to
 * `bench/mlp.ts --lib tfjs-wasm` and `bench/gemm.ts --lib tfjs-wasm`, alternating: the figures
 * should agree within the machine's noise.
 *
 *   node --conditions=nabla-source --import tsx bench/tfjsCheck.ts [--epochs 2]
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { loadMnist } from 'nabla/node';

const { values } = parseArgs({ options: { epochs: { type: 'string', default: '2' } } });
await tf.setBackend('wasm');
await tf.ready();

// 512³ GEMM: ten products after two untimed ones, median.
const a = tf.randomUniform([512, 512]);
const b = tf.randomUniform([512, 512]);
const gemmMs: number[] = [];
for (let i = 0; i < 12; i++) {
  const t0 = performance.now();
  const c = tf.matMul(a, b);
  c.dataSync();
  c.dispose();
  if (i >= 2) gemmMs.push(performance.now() - t0);
}
gemmMs.sort((x, y) => x - y);
const gemmGflops = (2 * 512 ** 3) / ((gemmMs[4] + gemmMs[5]) / 2) / 1e6;

// The MLP: the whole training set as one tensor, batches cut with tf.gather of a shuffled index.
const train = loadMnist('train');
const n = train.count;
const xs = tf.tensor2d(train.x, [n, 784]);
const labels = new Int32Array(n);
for (let i = 0; i < n; i++) for (let k = 0; k < 10; k++) if (train.y[i * 10 + k] === 1) labels[i] = k;
const ys = tf.oneHot(tf.tensor1d(labels, 'int32'), 10);
const w1 = tf.variable(tf.randomNormal([784, 128], 0, Math.sqrt(2 / 784)));
const b1 = tf.variable(tf.zeros([128]));
const w2 = tf.variable(tf.randomNormal([128, 10], 0, Math.sqrt(2 / 128)));
const b2 = tf.variable(tf.zeros([10]));
const opt = tf.train.sgd(0.1);
let seed = 12345;
const order = Array.from({ length: n }, (_, i) => i);
const epochSeconds: number[] = [];
for (let e = 0; e < Number(values.epochs); e++) {
  for (let i = n - 1; i > 0; i--) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const j = seed % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const t0 = performance.now();
  for (let s = 0; s < n; s += 64) {
    const idx = tf.tensor1d(order.slice(s, s + 64), 'int32');
    const x = tf.gather(xs, idx);
    const y = tf.gather(ys, idx);
    opt.minimize(() => tf.losses.softmaxCrossEntropy(y, tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(x, w1), b1)), w2), b2)) as tf.Scalar);
    tf.dispose([idx, x, y]);
  }
  w1.dataSync();
  epochSeconds.push((performance.now() - t0) / 1000);
}
console.log(JSON.stringify({ check: 'tfjs-wasm', gemm512Gflops: gemmGflops, mlpEpochSeconds: epochSeconds, maxRssMB: process.resourceUsage().maxRSS / 1024 }));
