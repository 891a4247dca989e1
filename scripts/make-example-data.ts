/**
 * Small example data sets in every "your own data" format, generated (nothing downloaded, nothing
 * committed):
 *
 *   node --conditions=nabla-source --import tsx scripts/make-example-data.ts <folder> [--seed 1] [--per-class 200]
 *
 *   <folder>/shapes/{circle,square,triangle}/NNN.png   32×32 RGB: one filled shape in a random colour,
 *                                                      size and position on a random dark background
 *   <folder>/flowers.csv     iris-like: 4 measurements, a "species" string label, 3 classes × 50 rows
 *   <folder>/spirals.csv     two interleaved spirals: x, y, label 0/1 (400 rows), a classic hard table
 *   <folder>/houses.csv      regression: area, rooms, age, distance → price (500 rows)
 *   <folder>/people.csv      income in dollars and age in years → buys yes/no (500 rows): columns of very
 *                            different scales, what the CLI's Standardize layer is for
 *
 * `--train` then trains a small model on each with the library and prints the accuracies (or the
 * regression's mean absolute error).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import {
  Adam, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Rng, Sequential, Tanh, shuffleDataset, splitDataset, type Dataset,
} from 'nabla';
import { loadCsv, loadImageFolder } from 'nabla/node';

type Colour = [number, number, number];

/** One 32×32 image of `shape`: background and shape colours far apart, random size and position. */
function drawShape(shape: 'circle' | 'square' | 'triangle', rng: Rng, size = 32): Buffer {
  const png = new PNG({ width: size, height: size });
  const bg: Colour = [rng.int(80), rng.int(80), rng.int(80)];
  const fg: Colour = [120 + rng.int(136), 120 + rng.int(136), 120 + rng.int(136)];
  fg[rng.int(3)] = 255; // always bright in one channel, so the shape stands out from the background
  const r = 6 + rng.uniform() * 7; // half-size 6..13 px
  const cx = r + rng.uniform() * (size - 2 * r);
  const cy = r + rng.uniform() * (size - 2 * r);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const px = x + 0.5 - cx;
      const py = y + 0.5 - cy;
      let inside: boolean;
      if (shape === 'circle') inside = px * px + py * py <= r * r;
      else if (shape === 'square') inside = Math.abs(px) <= r * 0.85 && Math.abs(py) <= r * 0.85;
      else inside = py <= r * 0.8 && py >= -r && Math.abs(px) <= ((py + r) / (1.8 * r)) * r; // apex up
      const c = inside ? fg : bg;
      const i = 4 * (y * size + x);
      png.data[i] = c[0];
      png.data[i + 1] = c[1];
      png.data[i + 2] = c[2];
      png.data[i + 3] = 255;
    }
  }
  return PNG.sync.write(png);
}

/** Writes the four data sets into `folder`. */
export function makeExampleData(folder: string, seed = 1, perClass = 200): void {
  const rng = new Rng(seed);
  for (const shape of ['circle', 'square', 'triangle'] as const) {
    const dir = join(folder, 'shapes', shape);
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < perClass; i++) writeFileSync(join(dir, `${String(i).padStart(3, '0')}.png`), drawShape(shape, rng));
  }
  // Iris-like: per species a mean and spread of 4 measurements (cm), the same scale as Fisher's.
  const species: Array<[string, number[], number[]]> = [
    ['setosa', [5.0, 3.4, 1.5, 0.25], [0.35, 0.38, 0.17, 0.1]],
    ['versicolor', [5.9, 2.8, 4.3, 1.3], [0.5, 0.3, 0.47, 0.2]],
    ['virginica', [6.6, 3.0, 5.55, 2.0], [0.63, 0.32, 0.55, 0.27]],
  ];
  const flowers = ['sepal_length,sepal_width,petal_length,petal_width,species'];
  for (let i = 0; i < 150; i++) {
    const [name, mean, sd] = species[i % 3];
    flowers.push([...mean.map((m, j) => (m + sd[j] * rng.normal()).toFixed(1)), name].join(','));
  }
  writeFileSync(join(folder, 'flowers.csv'), flowers.join('\n') + '\n');
  const spirals = ['x,y,label'];
  for (let i = 0; i < 400; i++) {
    const label = i % 2;
    const t = (Math.floor(i / 2) / 200) * 3 * Math.PI + 0.3;
    const s = label ? -1 : 1;
    spirals.push([(s * t * Math.cos(t) / 10 + 0.03 * rng.normal()).toFixed(4), (s * t * Math.sin(t) / 10 + 0.03 * rng.normal()).toFixed(4), label].join(','));
  }
  writeFileSync(join(folder, 'spirals.csv'), spirals.join('\n') + '\n');
  const houses = ['area_100m2,rooms,age_decades,distance_10km,price'];
  for (let i = 0; i < 500; i++) {
    const area = 0.4 + rng.uniform() * 2;
    const rooms = 1 + rng.int(6);
    const age = rng.uniform() * 8;
    const dist = rng.uniform() * 4;
    const price = 1.5 * area + 0.2 * rooms - 0.15 * age - 0.6 * dist + 0.3 * area * (4 - dist) / 4 + 0.1 * rng.normal();
    houses.push([area.toFixed(3), rooms, age.toFixed(2), dist.toFixed(3), price.toFixed(3)].join(','));
  }
  writeFileSync(join(folder, 'houses.csv'), houses.join('\n') + '\n');
  // Columns in dollars and in years (a 2,000× difference in scale), as real tables have: whether
  // someone buys, from income/1000 + age > 95, with 3% of the answers flipped.
  const people = ['income_usd,age_years,buys'];
  for (let i = 0; i < 500; i++) {
    const income = 20000 + 80000 * rng.uniform();
    const age = 18 + 60 * rng.uniform();
    const buys = (income / 1000 + age > 95) !== (rng.uniform() < 0.03);
    people.push([income.toFixed(0), age.toFixed(0), buys ? 'yes' : 'no'].join(','));
  }
  writeFileSync(join(folder, 'people.csv'), people.join('\n') + '\n');
}

/** Train briefly on each data set; returns the figures printed. */
export async function trainExamples(folder: string, seed = 1): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const classify = (name: string, data: Dataset, model: Sequential, epochs: number, lr: number, batchSize = 16): void => {
    const { train, val } = splitDataset(shuffleDataset(data, new Rng(seed)), Math.round(data.count * 0.2));
    const h = model.fit(train, { optimizer: new Adam(model.parameters(), { lr }), loss: 'ce', epochs, batchSize, validationData: val, monitor: false });
    const last = h.epochs[h.epochs.length - 1];
    out[`${name} train accuracy`] = last.accuracy!;
    out[`${name} validation accuracy`] = last.valAccuracy!;
  };
  const flowers = loadCsv(join(folder, 'flowers.csv'));
  classify('flowers', flowers, new Sequential([new Dense(16), new ReLU(), new Dense(3)], { inputShape: flowers.inputShape!, seed }), 60, 0.01);
  const spirals = loadCsv(join(folder, 'spirals.csv'));
  classify('spirals', spirals, new Sequential([new Dense(32), new Tanh(), new Dense(32), new Tanh(), new Dense(2)], { inputShape: spirals.inputShape!, seed }), 300, 0.01, 32);
  const shapes = await loadImageFolder(join(folder, 'shapes'));
  classify('shapes', shapes, new Sequential([
    new Conv2D(8, 3, { padding: 1 }), new ReLU(), new MaxPool2D(2), new Conv2D(16, 3, { padding: 1 }), new ReLU(), new MaxPool2D(2),
    new Flatten(), new Dense(32), new ReLU(), new Dense(3),
  ], { inputShape: shapes.inputShape, seed }), 8, 0.003, 32);
  const houses = loadCsv(join(folder, 'houses.csv'), { task: 'regression', label: 'price' });
  const cut = Math.round(houses.count * 0.8);
  const F = houses.features;
  const model = new Sequential([new Dense(32), new ReLU(), new Dense(1)], { inputShape: houses.inputShape, seed });
  model.fit({ x: houses.x.subarray(0, cut * F), y: houses.y.subarray(0, cut), count: cut },
    { optimizer: new Adam(model.parameters(), { lr: 0.01 }), loss: 'mse', epochs: 200, batchSize: 32, monitor: false });
  const pred = model.predict(houses.x.subarray(cut * F), houses.count - cut);
  let mae = 0;
  let spread = 0;
  const mean = houses.y.subarray(cut).reduce((a, b) => a + b, 0) / (houses.count - cut);
  for (let i = cut; i < houses.count; i++) {
    mae += Math.abs(pred[i - cut] - houses.y[i]);
    spread += Math.abs(mean - houses.y[i]);
  }
  out['houses validation MAE'] = mae / (houses.count - cut);
  out['houses validation MAE of predicting the mean'] = spread / (houses.count - cut);
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const folder = args.find((a, i) => !a.startsWith('--') && !['--seed', '--per-class'].includes(args[i - 1]));
  if (!folder) {
    console.error('usage: make-example-data.ts <folder> [--seed N] [--per-class N] [--train]');
    process.exit(2);
  }
  const opt = (name: string, d: number): number => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : d);
  const seed = opt('--seed', 1);
  makeExampleData(folder, seed, opt('--per-class', 200));
  console.log(`wrote ${folder}/shapes (3 classes of 32×32 PNG), flowers.csv, spirals.csv, houses.csv, people.csv`);
  if (args.includes('--train')) {
    for (const [k, v] of Object.entries(await trainExamples(folder, seed))) console.log(`${k}: ${v.toFixed(3)}`);
  }
}
