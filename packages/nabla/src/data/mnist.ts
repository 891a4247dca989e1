/**
 * MNIST assembly: turn a parsed images file and labels file into the arrays training uses.
 *
 *   images: IDX uint8 (N, H, W)         → x: (N, H·W) float32, pixels / 255, in [0, 1]
 *   labels: IDX uint8 (N)               → y: (N, K) float32 one-hot ("m × 10" in the notes)
 *                                          labels: (N) uint8, kept for accuracy and confusion
 *
 * N samples, H×W image, K classes. Files are parsed elsewhere (parseIdx); here we only check that
 * the two files belong together and that every label is a valid class.
 */
import { NablaError } from '../errors.ts';
import type { IdxArray } from './idx.ts';
import type { Dataset, LabelArray } from './dataset.ts';

/**
 * The Dataset type lives in dataset.ts (any number of classes, any input shape); re-exported here
 * for the callers that imported it from mnist.ts.
 */
export type { Dataset } from './dataset.ts';

function describeIdx(arr: IdxArray): string {
  return `${arr.dtype} with ${arr.shape.length} dims [${arr.shape.join(', ')}]`;
}

/**
 * Check that an images file and a labels file belong together and build a {@link Dataset}.
 *
 * `roles` names both files in error messages, e.g.
 * `{ images: 'images file "train-images-idx3-ubyte"', labels: 'labels file "train-labels-idx1-ubyte"' }`.
 *
 * `allocate` makes the pixel and target arrays (default: plain Float32Arrays). Pass a backend's
 * (`backend.allocate`) to keep the data where that backend's kernels read it: the wasm backend
 * then gathers each batch in wasm, on every thread, instead of copying it in from JS memory.
 *
 * @example
 * const ds = assembleMnist(parseIdx(imageBytes, roles.images), parseIdx(labelBytes, roles.labels), roles);
 * ds.count;    // 60000
 * ds.features; // 784
 * ds.y.subarray(0, 10); // one-hot row of the first sample
 */
export function assembleMnist(
  images: IdxArray,
  labels: IdxArray,
  roles: { images: string; labels: string },
  numClasses = 10,
  allocate: (length: number) => Float32Array = (length) => new Float32Array(length),
): Dataset<Uint8Array> {
  if (!Number.isInteger(numClasses) || numClasses < 1 || numClasses > 256) {
    throw new NablaError({
      where: 'assembleMnist',
      expected: 'numClasses an integer in 1..256 (labels are bytes)',
      found: `${numClasses}`,
    });
  }

  // A common mix-up is passing the two files in the wrong order; say so when the shapes suggest it.
  const swapped = images.shape.length === 1 && labels.shape.length === 3;
  if (images.dtype !== 'uint8' || images.shape.length !== 3) {
    throw new NablaError({
      where: roles.images,
      expected: 'uint8 images with 3 dims (N, H, W), like train-images-idx3-ubyte',
      found: describeIdx(images),
      hint: swapped ? 'the images and labels files look swapped' : 'is this an MNIST images file?',
    });
  }
  if (labels.dtype !== 'uint8' || labels.shape.length !== 1) {
    throw new NablaError({
      where: roles.labels,
      expected: 'uint8 labels with 1 dim (N), like train-labels-idx1-ubyte',
      found: describeIdx(labels),
      hint: 'is this an MNIST labels file?',
    });
  }

  const [count, height, width] = images.shape;
  const labelCount = labels.shape[0];
  if (labelCount !== count) {
    throw new NablaError({
      where: `${roles.images} and ${roles.labels}`,
      expected: 'the same number of images and labels',
      found: `${count} images in ${roles.images} but ${labelCount} labels in ${roles.labels}`,
      hint: 'pair train images with train labels and test images with test labels',
    });
  }

  const labelBytes = labels.data as Uint8Array;
  for (let i = 0; i < count; i++) {
    if (labelBytes[i] >= numClasses) {
      throw new NablaError({
        where: roles.labels,
        expected: `labels in 0..${numClasses - 1}`,
        found: `label ${labelBytes[i]} at index ${i}`,
        hint: numClasses === 10 ? 'is this really MNIST?' : `is numClasses (${numClasses}) right?`,
      });
    }
  }

  const features = height * width;
  const pixels = images.data as Uint8Array;
  const x = allocate(count * features);
  // Division (not multiplication by 1/255) so that 255 maps to exactly 1 and every value is the
  // correctly rounded quotient a NumPy or PyTorch pipeline would produce.
  for (let i = 0; i < x.length; i++) x[i] = pixels[i] / 255;

  const y = allocate(count * numClasses);
  for (let i = 0; i < count; i++) y[i * numClasses + labelBytes[i]] = 1;

  return {
    x,
    y,
    labels: labelBytes.slice(),
    count,
    features,
    classes: numClasses,
    imageShape: [height, width],
    inputShape: [1, height, width],
  };
}

/**
 * Rows [start, end) of a dataset as a new Dataset whose arrays are views into the original (no copy). Used for `--limit N` and to
 * carve a validation split. Throws if the range is not within 0..count.
 *
 * NOTE: unlike Array.prototype.slice this does not clamp: asking for more rows than exist is
 * reported, so a caller wanting "at most N" should pass Math.min(N, ds.count).
 *
 * @example
 * const small = sliceDataset(train, 0, 1000); // first 1000 samples
 */
export function sliceDataset<L extends LabelArray>(ds: Dataset<L>, start: number, end: number): Dataset<L> {
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || start > end || end > ds.count) {
    throw new NablaError({
      where: 'sliceDataset',
      expected: `integers 0 ≤ start ≤ end ≤ ${ds.count} (the dataset size)`,
      found: `start ${start}, end ${end}`,
    });
  }
  return {
    // Views, not copies: a validation split of the full training set would otherwise hold a
    // second 190 MB copy of the pixels. Training never writes to its data.
    x: ds.x.subarray(start * ds.features, end * ds.features),
    y: ds.y.subarray(start * ds.classes, end * ds.classes),
    labels: ds.labels.subarray(start, end) as L,
    count: end - start,
    features: ds.features,
    classes: ds.classes,
    imageShape: [ds.imageShape[0], ds.imageShape[1]],
    ...(ds.inputShape ? { inputShape: [...ds.inputShape] } : {}),
    ...(ds.classNames ? { classNames: [...ds.classNames] } : {}),
  };
}

/**
 * Split off the LAST `valCount` rows as a validation set; the rest is the training set. Taking
 * the tail (not a random subset) keeps the split deterministic and independent of the seed, as
 * Keras' `validation_split` does. `valCount` 0 gives an empty validation set (count 0).
 *
 * @example
 * const { train, val } = splitDataset(full, 5000); // 55000 train, 5000 validation
 */
export function splitDataset<L extends LabelArray>(ds: Dataset<L>, valCount: number): { train: Dataset<L>; val: Dataset<L> } {
  if (!Number.isInteger(valCount) || valCount < 0 || (valCount > 0 && valCount >= ds.count)) {
    throw new NablaError({
      where: 'splitDataset',
      expected: `a validation count in 0..${Math.max(ds.count - 1, 0)} (at least one row must stay for training)`,
      found: `${valCount} of ${ds.count} rows`,
      hint: 'use a smaller validation split',
    });
  }
  const cut = ds.count - valCount;
  return { train: sliceDataset(ds, 0, cut), val: sliceDataset(ds, cut, ds.count) };
}
