/**
 * --data <path>, recognised from what it is: one place where train, eval, report and search turn
 * a path and the data flags into a training set, a test set and what a model needs to know
 * (input shape, classes, task), and where eval and predict read data back the way a model file
 * says it was read (TrainingInfo.data, a DataRecord).
 *
 *   (no --data)                  the bundled MNIST (as before)
 *   folder with MNIST IDX files  MNIST-format IDX files (plain or .gz), train and t10k
 *   file.csv                     a table: a label column (--label, else found by name) and numbers
 *   file.npz                     x_train/y_train + x_test/y_test (Keras' layout), or x/y
 *   x.npy --labels y.npy         inputs and labels as two .npy files (or a folder holding x.npy, y.npy)
 *   folder of class folders      root/<class>/<image>.png|jpg (--size HxW, --grey/--colour)
 *
 * Test set: the source's own (MNIST's t10k files, an .npz's *_test arrays), else --test-data
 * <path> (read like --data, with the training set's classes), else --test-split (default 0.2)
 * of the rows, taken after one shuffle of the whole file with Rng(--seed). The MNIST path is
 * untouched: no shuffle here, so a seed gives the same weights as before.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { NablaError, Rng, shuffleDataset, sliceDataset, imageShapeFor, type Dataset, type RegressionDataset, type Task, type LossName } from 'nabla';
import { dataSource, loadCsv, loadImageFolder, loadMnist, loadNpz, loadNpyDataset, loadNpzDataset, mnistFileCandidates } from 'nabla/node';

export type DataKind = 'mnist' | 'csv' | 'npz' | 'npy' | 'images';

/** The data flags of train (eval takes --data, --labels, --test-data and reads the rest from the model file). */
export interface DataFlags {
  data?: string;
  labels?: string;
  label?: string;
  testData?: string;
  testSplit?: number;
  size?: [number, number];
  grey?: boolean;
  colour?: boolean;
  task?: Task;
  seed: number;
}

/**
 * What a model file records about its data (TrainingInfo.data), so eval and predict read new data
 * the way the model expects.
 */
export interface DataRecord {
  kind: DataKind;
  path?: string;
  labels?: string;
  label?: string | number;
  testData?: string;
  testSplit?: number;
  seed?: number;
  size?: [number, number];
  channels?: 1 | 3;
  scale: string;
  task: Task;
  inputShape: number[];
  classNames?: string[];
  targetNames?: string[];
}

/**
 * A loaded source. Regression data is carried as a Dataset whose `classes` is the number of
 * targets, y the targets and labels all 0 (so slicing and splitting work unchanged); pass the
 * task to fit and evaluate.
 */
export interface LoadedData {
  kind: DataKind;
  train: Dataset;
  test?: Dataset;
  /** Where the test set came from, for messages. */
  testSource?: string;
  inputShape: number[];
  /** Outputs the model needs: classes, or targets for regression. */
  outputs: number;
  classNames?: string[];
  targetNames?: string[];
  task: Task;
  describe: string;
  record: DataRecord;
}

/** `--size 32x32` → [32, 32]. */
export function sizeFlag(value: string): [number, number] {
  const m = /^(\d+)x(\d+)$/i.exec(value.trim());
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1 || Number(m[1]) > 2048 || Number(m[2]) > 2048) {
    throw new NablaError({ where: 'flag --size', expected: 'HxW, positive integers up to 2048, e.g. 32x32', found: JSON.stringify(value) });
  }
  return [Number(m[1]), Number(m[2])];
}

/** What --data names: its kind, from the path alone. */
export function dataKind(path: string | undefined, labels?: string): DataKind {
  if (path === undefined) return 'mnist';
  if (!existsSync(path)) {
    throw new NablaError({ where: 'flag --data', expected: 'an existing file or folder', found: JSON.stringify(path), hint: 'check the path' });
  }
  if (statSync(path).isDirectory()) {
    if (mnistFileCandidates(path).some((p) => existsSync(p))) return 'mnist';
    if (existsSync(join(path, 'x.npy'))) return 'npy';
    return 'images';
  }
  const ext = extname(path).toLowerCase();
  if (ext === '.csv' || ext === '.txt' || ext === '.tsv') return 'csv';
  if (ext === '.npz') return 'npz';
  if (ext === '.npy') {
    if (labels === undefined) {
      throw new NablaError({ where: `flag --data "${path}"`, expected: 'its labels with --labels y.npy', found: 'no --labels', hint: 'or put x.npy and y.npy in one folder and pass the folder' });
    }
    return 'npy';
  }
  throw new NablaError({
    where: `flag --data "${path}"`, expected: 'a .csv, .npz or .npy file, a folder of MNIST IDX files, of x.npy/y.npy, or of class folders of images',
    found: `a "${ext || 'extension-less'}" file`,
  });
}

/** The files a source reads (so no output may overwrite them). */
export function dataInputs(path: string | undefined, labels?: string): string[] {
  if (path === undefined || !existsSync(path)) return mnistFileCandidates(path);
  if (statSync(path).isDirectory()) return [...mnistFileCandidates(path), join(path, 'x.npy'), join(path, 'y.npy')];
  return [path, ...(labels ? [labels] : [])];
}

const labelValue = (label: string | number | undefined): string | number | undefined =>
  label === undefined ? undefined : typeof label === 'number' ? label : /^\d+$/.test(label) ? Number(label) : label;

/** Reading options shared by a training file and the files read later the same way. */
interface ReadOptions {
  label?: string | number;
  labels?: string;
  size?: [number, number];
  channels?: 1 | 3 | 'auto';
  task: Task;
  classNames?: string[];
}

/** Regression targets as a Dataset (see LoadedData). */
function regressionAsDataset(r: RegressionDataset): Dataset {
  return {
    x: r.x, y: r.y, labels: new Uint8Array(r.count), count: r.count, features: r.features, classes: r.targets,
    imageShape: imageShapeFor(r.inputShape), inputShape: r.inputShape, classNames: undefined,
  };
}

const NPZ_SPLIT_KEYS = ['x_train', 'X_train', 'train_images', 'train_x'];

/** Read one file or folder (whole). `split` picks an .npz's or MNIST's part. */
async function readSource(kind: DataKind, path: string | undefined, o: ReadOptions, split?: 'train' | 'test'): Promise<Dataset & { targetNames?: string[] }> {
  switch (kind) {
    case 'mnist': return loadMnist(split ?? 'train', path);
    case 'csv': {
      if (o.task === 'regression') {
        const r = loadCsv(path!, { task: 'regression', label: o.label });
        return { ...regressionAsDataset(r), targetNames: r.targetNames };
      }
      try {
        return loadCsv(path!, { label: o.label, classNames: o.classNames });
      } catch (e) {
        // A real-valued target read as classes: say how to read it as a number.
        if (e instanceof NablaError && e.expected.startsWith('a class:') && /\d\.\d/.test(e.found)) {
          throw new NablaError({ where: e.where, expected: e.expected, found: e.found, hint: `the label column is chosen with --label <name|index>; a numeric target trains with --task regression (or --loss mse or huber)` });
        }
        throw e;
      }
    }
    case 'npz': return loadNpzDataset(path!, { split, classNames: o.classNames });
    case 'npy': {
      const dir = statSync(path!).isDirectory();
      return loadNpyDataset(dir ? join(path!, 'x.npy') : path!, dir ? join(path!, 'y.npy') : o.labels!, { classNames: o.classNames });
    }
    case 'images': return loadImageFolder(path!, { size: o.size, channels: o.channels ?? 'auto' });
  }
}

/** Whether an .npz holds a train/test split (x_train, ...). */
function npzHasSplit(path: string): boolean {
  return NPZ_SPLIT_KEYS.some((k) => k in loadNpz(path));
}

/**
 * Make `test` use `train`'s classes: image folders by name, indexed labels by index (a test file
 * may lack some classes). A class the training data never had is refused, naming the file, the
 * value and the known classes.
 */
function alignClasses(test: Dataset, classes: number, classNames: string[] | undefined, where: string): Dataset {
  if (test.classNames && classNames) {
    const map = test.classNames.map((n) => classNames.indexOf(n));
    const bad = map.findIndex((i) => i < 0);
    if (bad >= 0) {
      throw new NablaError({
        where, expected: `only the classes training saw (${classNames.join(', ')})`, found: `class "${test.classNames[bad]}"`,
        hint: 'a model can only predict the classes it was trained on',
      });
    }
    return reindex(test, classes, (c) => map[c], classNames);
  }
  if (test.classes > classes) {
    let value = 0;
    for (let i = 0; i < test.count; i++) if (test.labels[i] >= classes) { value = test.labels[i]; break; }
    throw new NablaError({
      where, expected: `labels among the ${classes} classes training saw (0..${classes - 1})`, found: `label ${value}`,
      hint: 'a model can only predict the classes it was trained on',
    });
  }
  return test.classes === classes ? test : reindex(test, classes, (c) => c, classNames);
}

function reindex(ds: Dataset, classes: number, map: (c: number) => number, classNames: string[] | undefined): Dataset {
  const labels = classes <= 256 ? new Uint8Array(ds.count) : classes <= 65536 ? new Uint16Array(ds.count) : new Int32Array(ds.count);
  const y = new Float32Array(ds.count * classes);
  for (let i = 0; i < ds.count; i++) {
    labels[i] = map(ds.labels[i]);
    y[i * classes + labels[i]] = 1;
  }
  return { ...ds, labels, y, classes, classNames };
}

function describeSource(kind: DataKind, path: string | undefined): string {
  switch (kind) {
    case 'mnist': return dataSource(path);
    case 'csv': return `CSV file "${path}"`;
    case 'npz': return `.npz file "${path}"`;
    case 'npy': return `.npy data "${path}"`;
    case 'images': return `image folder "${path}"`;
  }
}

function scaleOf(kind: DataKind): string {
  return kind === 'csv' ? 'CSV rule: pixel0.. columns / 255, other tables as they are'
    : kind === 'npz' || kind === 'npy' ? 'uint8 / 255, other dtypes as they are' : 'byte / 255, in [0, 1]';
}

/**
 * The task of a training run: --task, else regression for --loss huber or for --loss mse on a
 * CSV (its target stays a number), else classification.
 */
export function trainTask(kind: DataKind, task: Task | undefined, loss: LossName): Task {
  if (task) return task;
  if (loss === 'huber') return 'regression';
  if (loss === 'mse' && kind === 'csv') return 'regression';
  return 'classification';
}

/** Shuffle rows with a seed; regression "datasets" too (their labels are all 0). */
function shuffled(ds: Dataset, seed: number): Dataset {
  return shuffleDataset(ds, new Rng(seed));
}

/** Split off the last `fraction` of the rows as a test set (the rows having been shuffled). */
function holdOut(ds: Dataset, fraction: number, where: string): { train: Dataset; test: Dataset } {
  const n = Math.round(ds.count * fraction);
  if (n >= ds.count) {
    throw new NablaError({ where, expected: `a test part smaller than the ${ds.count} rows`, found: `${n} rows (--test-split ${fraction})`, hint: 'use a smaller --test-split' });
  }
  return { train: sliceDataset(ds, 0, ds.count - n), test: sliceDataset(ds, ds.count - n, ds.count) };
}

/** The training data of `nabla train` (and each trial of nabla search). */
export async function loadTrainingData(flags: DataFlags, loss: LossName): Promise<LoadedData> {
  const kind = dataKind(flags.data, flags.labels);
  const path = flags.data;
  if (flags.grey && flags.colour) throw new NablaError({ where: 'flags --grey and --colour', expected: 'one of them', found: 'both' });
  if (kind !== 'images') {
    for (const [flag, v] of [['--size', flags.size], ['--grey', flags.grey], ['--colour', flags.colour]] as const) {
      if (v) throw new NablaError({ where: `flag ${flag}`, expected: 'an image folder as --data', found: describeSource(kind, path) });
    }
  }
  if (kind !== 'csv' && flags.label !== undefined) {
    throw new NablaError({ where: 'flag --label', expected: 'a CSV file as --data', found: describeSource(kind, path), hint: 'other formats keep labels apart (y arrays, folder names)' });
  }
  const task = trainTask(kind, flags.task, loss);
  if (task === 'regression' && kind !== 'csv') {
    throw new NablaError({ where: 'task regression', expected: 'a CSV file as --data (a numeric target column)', found: describeSource(kind, path), hint: 'drop --task regression / --loss mse|huber, or use a CSV' });
  }
  const o: ReadOptions = {
    label: labelValue(flags.label), labels: flags.labels, size: flags.size,
    channels: flags.grey ? 1 : flags.colour ? 3 : 'auto', task,
  };
  const describe = describeSource(kind, path);
  const ownSplit = kind === 'mnist' || (kind === 'npz' && npzHasSplit(path!));
  if (ownSplit && (flags.testData !== undefined || flags.testSplit !== undefined)) {
    throw new NablaError({
      where: flags.testData !== undefined ? 'flag --test-data' : 'flag --test-split', expected: 'a source without its own test set',
      found: `${describe}, which has one`, hint: 'drop the flag: its test set is used',
    });
  }
  let train = await readSource(kind, path, o, ownSplit ? 'train' : undefined);
  const targetNames = (train as { targetNames?: string[] }).targetNames;
  const classNames = task === 'classification' ? train.classNames : undefined;
  const imageInfo = kind === 'images' ? { size: [train.inputShape![1], train.inputShape![2]] as [number, number], channels: train.inputShape![0] as 1 | 3 } : {};
  // Loaders keep file order (an image folder class by class): one seeded shuffle before any split.
  if (kind !== 'mnist' && kind !== 'npz') train = shuffled(train, flags.seed);
  if (kind === 'npz' && !ownSplit) train = shuffled(train, flags.seed);
  let test: Dataset | undefined;
  let testSource: string | undefined;
  let testSplit: number | undefined;
  if (ownSplit) {
    test = await readSource(kind, path, o, 'test');
    testSource = kind === 'mnist' ? dataSource(path) : `${describe} (test arrays)`;
  } else if (flags.testData !== undefined) {
    const testKind = dataKind(flags.testData, undefined);
    if (testKind !== kind) {
      throw new NablaError({ where: `flag --test-data "${flags.testData}"`, expected: `the same format as --data (${kind})`, found: testKind });
    }
    testSource = describeSource(kind, flags.testData);
    try {
      test = await readSource(kind, flags.testData, { ...o, ...imageInfo, classNames: kind === 'csv' ? classNames : undefined });
    } catch (e) {
      // The library's hint speaks of its classNames option; here the classes are the training file's.
      if (e instanceof NablaError && e.expected.startsWith('one of the classes')) {
        throw new NablaError({ where: e.where, expected: e.expected, found: e.found, hint: `training (${describe}) saw only those classes, and a model predicts only the classes it was trained on` });
      }
      throw e;
    }
  } else {
    testSplit = flags.testSplit ?? 0.2;
    if (testSplit > 0) {
      ({ train, test } = holdOut(train, testSplit, 'flag --test-split'));
      testSource = `${describe} (the held-out ${Math.round(testSplit * 100)}%)`;
    }
  }
  // MNIST's mismatches are train's to report (naming the IDX files), and only when it tests.
  if (test && kind !== 'mnist' && task === 'classification') test = alignClasses(test, train.classes, classNames, testSource!);
  if (test && kind !== 'mnist' && test.features !== train.features) {
    throw new NablaError({ where: testSource!, expected: `rows of ${train.features} features, as the training data`, found: `${test.features}` });
  }
  const inputShape = train.inputShape ?? [train.features];
  return {
    kind, train, test, testSource, inputShape, outputs: train.classes, classNames, targetNames, task, describe,
    record: {
      kind, path, labels: flags.labels, label: o.label, testData: flags.testData, testSplit, seed: kind === 'mnist' ? undefined : flags.seed,
      ...imageInfo, scale: scaleOf(kind), task, inputShape, classNames, targetNames,
    },
  };
}

/**
 * The test set of `nabla eval` / `report`: --data read as the model file's record says. The
 * training file again gives the same held-out rows (same seed, same split); a source with its own
 * test set gives that; another file is evaluated whole.
 */
export async function loadEvalData(
  record: DataRecord | undefined, flags: { data?: string; labels?: string }, modelPath: string, outputs: number,
): Promise<{ test: Dataset; describe: string; task: Task }> {
  const kind = dataKind(flags.data, flags.labels ?? record?.labels);
  if (flags.data === undefined && record && record.kind !== 'mnist') {
    throw new NablaError({
      where: `model file "${modelPath}"`, expected: '--data with data like its training data', found: `a model trained on ${describeSource(record.kind, record.path)}`,
      hint: `pass --data ${record.testData ?? record.path ?? '<path>'}`,
    });
  }
  const task = record?.task ?? 'classification';
  if (record && record.kind !== kind) {
    throw new NablaError({ where: `flag --data "${flags.data ?? ''}"`, expected: `${record.kind} data, as the model was trained on`, found: kind });
  }
  const o: ReadOptions = {
    label: record?.label, labels: flags.labels ?? record?.labels, size: record?.size, channels: record?.channels, task,
    classNames: kind === 'csv' ? record?.classNames : undefined,
  };
  const describe = describeSource(kind, flags.data);
  const ownSplit = kind === 'mnist' || (kind === 'npz' && npzHasSplit(flags.data!));
  let test: Dataset;
  if (ownSplit) {
    test = await readSource(kind, flags.data, o, 'test');
  } else {
    // The file training held rows out of: the same rows again.
    const sameFile = record?.path !== undefined && flags.data !== undefined && resolve(record.path) === resolve(flags.data);
    if (sameFile && record!.testSplit) {
      const all = shuffled(await readSource(kind, flags.data, { ...o, classNames: undefined }), record!.seed ?? 1);
      test = holdOut(all, record!.testSplit, 'the model\'s recorded --test-split').test;
      if (task === 'classification' && record!.classNames) test = { ...test, classNames: record!.classNames };
    } else {
      test = await readSource(kind, flags.data, o);
    }
  }
  // A test file may lack some classes: its one-hot rows widen to the model's outputs.
  const classes = record?.classNames?.length ?? (outputs > 1 && outputs >= test.classes ? outputs : test.classes);
  if (record && task === 'classification') test = alignClasses(test, classes, record.classNames, describe);
  return { test, describe, task };
}

/** The first line of a text file (for a CSV's column count), read without reading the file. */
export function firstLine(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(1 << 16);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return buf.subarray(0, n).toString('utf8').split(/\r?\n/)[0];
  } finally {
    closeSync(fd);
  }
}
