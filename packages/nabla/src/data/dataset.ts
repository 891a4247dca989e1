/**
 * Datasets of any shape and any number of classes, built from plain arrays: what every loader
 * (IDX, CSV, .npy/.npz, image folders) returns.
 *
 *   x: (N, features) float32, row-major; a row reshapes to inputShape (e.g. [784], [3, 32, 32], [13])
 *   y: (N, K) float32 one-hot                      (classification)
 *      (N, T) float32 targets                      (regression, see RegressionDataset)
 *   labels: (N) class index: Uint8Array up to 256 classes, Uint16Array up to 65536, else Int32Array
 */
import { NablaError } from '../errors.ts';
import type { Rng } from '../random.ts';

/**
 * The typed array holding class indices: Uint8Array (≤ 256 classes, MNIST's), Uint16Array (≤ 65536)
 * or Int32Array.
 *
 * @example
 * const labels: LabelArray = labelArrayFor(1000, 5); // Uint16Array(5)
 */
export type LabelArray = Uint8Array | Uint16Array | Int32Array;

/**
 * A supervised classification dataset held in flat row-major buffers, one row per sample.
 *
 * `L` is the label array type: loadMnist and assembleMnist return `Dataset<Uint8Array>`; loaders
 * of other data pick the smallest type that holds their classes ({@link labelArrayFor}).
 *
 * @example
 * const ds: Dataset = datasetFromArrays({ x: [[0, 1], [1, 0]], labels: [1, 0] });
 * model.fit(ds, { optimizer, loss: 'ce', epochs: 1 }); // a Dataset is Samples
 */
export interface Dataset<L extends LabelArray = LabelArray> {
  /** (N, features) inputs; for images the pixels scaled to [0, 1] by /255. */
  x: Float32Array;
  /** (N, classes) one-hot targets. */
  y: Float32Array;
  /** (N) class index per sample. */
  labels: L;
  /** N, the number of samples. */
  count: number;
  /** Values per input row (the product of inputShape). */
  features: number;
  /** K, the number of classes (width of a y row). */
  classes: number;
  /**
   * [H, W] of one image, so rows can be reshaped for convolutions or drawn; [1, features] for
   * data that is not an image.
   */
  imageShape: [number, number];
  /**
   * The per-sample shape a model takes, e.g. [1, 28, 28] (images are NCHW: channels, height,
   * width), [3, 32, 32], [13] for a table of 13 columns. Absent in datasets built by hand before
   * it existed: read it with {@link inputShapeOf}.
   */
  inputShape?: number[];
  /** The name of each class (index → name), when the data names them (CSV strings, folder names). */
  classNames?: string[];
}

/**
 * A regression dataset: real-valued targets instead of classes.
 *
 * @example
 * const ds: RegressionDataset = parseCsv(text, { task: 'regression', label: 'price' });
 * ds.y; // (N, 1) float32 targets
 */
export interface RegressionDataset {
  /** (N, features) inputs. */
  x: Float32Array;
  /** (N, targets) real-valued targets. */
  y: Float32Array;
  count: number;
  features: number;
  /** Values per target row (1 for a single target column). */
  targets: number;
  /** The per-sample input shape, e.g. [13]. */
  inputShape: number[];
  /** The name of the target column(s), when the data names them. */
  targetNames?: string[];
  /** The name of each feature column, when the data names them. */
  featureNames?: string[];
}

/**
 * The smallest label array that holds class indices 0..classes-1: Uint8Array up to 256 classes,
 * Uint16Array up to 65536, Int32Array beyond.
 *
 * @example
 * labelArrayFor(10, 3);  // Uint8Array(3)
 * labelArrayFor(300, 3); // Uint16Array(3)
 */
export function labelArrayFor(classes: number, length: number): LabelArray {
  if (classes <= 256) return new Uint8Array(length);
  if (classes <= 65536) return new Uint16Array(length);
  return new Int32Array(length);
}

/**
 * A dataset's per-sample input shape: its `inputShape`, or [features] for one built without it.
 *
 * @example
 * inputShapeOf(loadMnist('test')); // [1, 28, 28]
 */
export function inputShapeOf(ds: { features: number; inputShape?: number[] }): number[] {
  return ds.inputShape ? [...ds.inputShape] : [ds.features];
}

/**
 * The imageShape a dataset records for a per-sample shape: [H, W] for [C, H, W] or [H, W], else
 * [1, features].
 *
 * @example
 * imageShapeFor([3, 32, 32]); // [32, 32]
 * imageShapeFor([13]);        // [1, 13]
 */
export function imageShapeFor(inputShape: number[]): [number, number] {
  const n = inputShape.length;
  if (n >= 2) return [inputShape[n - 2], inputShape[n - 1]];
  return [1, inputShape.reduce((a, b) => a * b, 1)];
}

/**
 * What datasetFromArrays takes.
 *
 * @example
 * const arrays: DatasetArrays = { x: new Float32Array(4 * 13), labels: [0, 1, 1, 0], inputShape: [13] };
 */
export interface DatasetArrays {
  /** Inputs: one number[] per sample, or a flat row-major Float32Array of N × features. */
  x: Float32Array | ArrayLike<number>[];
  /** One class index (integer ≥ 0) per sample. */
  labels: ArrayLike<number>;
  /** The per-sample shape (default [features]); its product must equal the row width. */
  inputShape?: number[];
  /** Class names, index → name; their number fixes the class count (default: largest label + 1). */
  classNames?: string[];
  /** The class count, when some classes have no sample here (default: classNames' length or largest label + 1). */
  classes?: number;
  /** Names the data in error messages (default 'datasetFromArrays'). */
  source?: string;
  /** Allocates x and y (a backend's allocate, to train where it reads; default plain Float32Arrays). */
  allocate?: (length: number) => Float32Array;
}

/**
 * Build a {@link Dataset} from inputs and integer class labels: y is the one-hot encoding of the
 * labels. Refuses (NablaError, naming the row and column) rows of different lengths, a label
 * count that differs from the sample count, labels that are not integers ≥ 0 or exceed the
 * class names, and NaN or ±Infinity in x.
 *
 * @example
 * const ds = datasetFromArrays({ x: [[5.1, 3.5], [6.2, 2.9]], labels: [0, 1], classNames: ['setosa', 'virginica'] });
 * ds.y; // Float32Array [1, 0, 0, 1]
 */
export function datasetFromArrays(arrays: DatasetArrays): Dataset {
  const where = arrays.source ?? 'datasetFromArrays';
  const labels = arrays.labels;
  const count = labels.length;
  const allocate = arrays.allocate ?? ((n: number) => new Float32Array(n));
  let features: number;
  let x: Float32Array;
  if (arrays.x instanceof Float32Array) {
    const flat = arrays.x;
    features = arrays.inputShape ? shapeProduct(arrays.inputShape) : count > 0 ? flat.length / count : 0;
    if (!Number.isInteger(features) || features * count !== flat.length) {
      throw new NablaError({
        where,
        expected: arrays.inputShape
          ? `x of ${count} labels × ${features} values (inputShape [${arrays.inputShape.join(', ')}]) = ${count * features} values`
          : `x whose length is a multiple of the ${count} labels`,
        found: `${flat.length} values`,
        hint: 'one label per sample: check that x and labels describe the same samples',
      });
    }
    x = allocate(flat.length);
    x.set(flat);
  } else {
    const rows = arrays.x;
    if (rows.length !== count) {
      throw new NablaError({
        where, expected: 'as many labels as rows of x', found: `${rows.length} rows but ${count} labels`,
        hint: 'one label per sample',
      });
    }
    features = arrays.inputShape ? shapeProduct(arrays.inputShape) : count > 0 ? rows[0].length : 0;
    x = allocate(count * features);
    for (let i = 0; i < count; i++) {
      const row = rows[i];
      if (row.length !== features) {
        throw new NablaError({
          where: `${where}, row ${i}`, expected: `${features} values (as ${arrays.inputShape ? 'inputShape says' : 'row 0 has'})`,
          found: `${row.length}`, hint: 'every sample needs the same number of features',
        });
      }
      for (let j = 0; j < features; j++) x[i * features + j] = row[j];
    }
  }
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) {
      const row = Math.floor(i / features);
      throw new NablaError({
        where: `${where}, row ${row} column ${i - row * features}`, expected: 'a finite number', found: String(x[i]),
        hint: 'fill or drop missing values before training',
      });
    }
  }
  let classes = arrays.classes ?? arrays.classNames?.length;
  let maxLabel = -1;
  for (let i = 0; i < count; i++) {
    const l = labels[i];
    if (!Number.isInteger(l) || l < 0) {
      throw new NablaError({
        where: `${where}, label ${i}`, expected: 'a class index: an integer ≥ 0', found: String(l),
        hint: Number.isFinite(l) && !Number.isInteger(l) ? 'real-valued targets are regression, not classes' : 'map class names to 0, 1, 2, ...',
      });
    }
    if (l > maxLabel) maxLabel = l;
  }
  if (classes === undefined) classes = maxLabel + 1;
  if (maxLabel >= classes) {
    const at = Array.prototype.findIndex.call(labels, (l: number) => l >= classes!);
    throw new NablaError({
      where: `${where}, label ${at}`, expected: `class indices in 0..${classes - 1} (${classes} classes)`, found: String(labels[at]),
      hint: arrays.classNames ? 'a label has no class name' : 'is the class count right?',
    });
  }
  const inputShape = arrays.inputShape ? [...arrays.inputShape] : [features];
  return assembleClassification(x, Array.from(labels), classes, inputShape, arrays.classNames, allocate);
}

/**
 * Finish a classification dataset from float inputs and checked class indices (internal to the
 * loaders, which have validated them).
 */
export function assembleClassification(
  x: Float32Array, labelValues: ArrayLike<number>, classes: number, inputShape: number[], classNames?: string[],
  allocate: (length: number) => Float32Array = (n) => new Float32Array(n),
): Dataset {
  const count = labelValues.length;
  const labels = labelArrayFor(classes, count);
  const y = allocate(count * classes);
  for (let i = 0; i < count; i++) {
    labels[i] = labelValues[i];
    y[i * classes + labelValues[i]] = 1;
  }
  return {
    x, y, labels, count, features: shapeProduct(inputShape), classes,
    imageShape: imageShapeFor(inputShape), inputShape: [...inputShape],
    ...(classNames ? { classNames: [...classNames] } : {}),
  };
}

/**
 * A copy of a dataset with its rows in a seeded random order. Loaders return rows in file order
 * (an image folder: class by class), and fit's validationSplit takes the LAST rows, which would
 * then be one class only: shuffle once before splitting.
 *
 * @example
 * const ds = shuffleDataset(await loadImageFolder('shapes'), new Rng(1));
 * model.fit(ds, { optimizer, loss: 'ce', epochs: 5, validationSplit: 0.1 });
 */
export function shuffleDataset<L extends LabelArray>(ds: Dataset<L>, rng: Rng): Dataset<L> {
  const order = rng.shuffle(Uint32Array.from({ length: ds.count }, (_, i) => i));
  const F = ds.features;
  const K = ds.classes;
  const x = new Float32Array(ds.x.length);
  const y = new Float32Array(ds.y.length);
  const labels = new (ds.labels.constructor as new (n: number) => L)(ds.count);
  for (let i = 0; i < ds.count; i++) {
    const j = order[i];
    x.set(ds.x.subarray(j * F, (j + 1) * F), i * F);
    y.set(ds.y.subarray(j * K, (j + 1) * K), i * K);
    labels[i] = ds.labels[j];
  }
  return { ...ds, x, y, labels };
}

function shapeProduct(shape: number[]): number {
  if (!Array.isArray(shape) || shape.length === 0 || shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new NablaError({
      where: 'inputShape', expected: 'a list of positive integers, e.g. [784] or [3, 32, 32]', found: JSON.stringify(shape),
    });
  }
  return shape.reduce((a, b) => a * b, 1);
}
