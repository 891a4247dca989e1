/**
 * nabla train: build a network from flags (or start from a model file), train it on MNIST, report
 * per-epoch figures and the final test accuracy, and save the model atomically.
 */
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import type { Command } from 'commander';
import {
  Adam, AdamW, checkSamples, DivergenceError, EarlyStopping, MONITOR_METRICS, NablaError, SGD, Sequential, Standardize, lrSchedule, restoreCheckpoint,
  sliceDataset, splitDataset, shapeSize, buildModel, MODEL_PRESETS, MODEL_PRESET_NAMES, MLP_ACTIVATIONS, MLP_OUTPUTS,
  layerSpecGrammar, ImageAugmenter, fitSource, TASKS, type Task, type Evaluation, type Dataset, type Callback, type EpochLog, type LossName, type MonitorMetric, type Optimizer,
  type TrainingInfo, type FitState, type Checkpoint, describeBackend, type Backend, type MlpActivation, type MlpOutput,
} from 'nabla';
import { addBackendOptions, backendFromFlags, type BackendFlags } from '../backendOptions.ts';
import {
  defaultCheckpointPath, loadCheckpointFile, replacesCheckpoint, mergeResumeOptions, recordedOptions, resumeCommand, saveCheckpointFile,
} from '../checkpointFiles.ts';
import { dataSource, mnistFileCandidates, loadCsv, loadModel, openCsvChunks, saveModel } from 'nabla/node';
import { dataInputs, dataKind, loadTrainingData, sizeFlag, trainTask, type DataFlags, type LoadedData } from '../dataSources.ts';
import { warnLimitOver } from '../dataChecks.ts';
import { checkOutputPath, checkOutputs, resolvedPath, type PathRole } from '../outputs.ts';
import { intIn, numberIn, oneOf, sizeList } from '../options.ts';
import { pct } from '../output.ts';

const OPTIMIZERS = ['adam', 'adamw', 'sgd'] as const;
const SCHEDULES = ['cosine', 'constant', 'step', 'exponential'] as const;

/** The default network of `npm start`; see README for what it reaches and how fast. */
export const DEFAULTS = {
  hidden: [256, 128],
  epochs: 8,
  batchSize: 128,
  lr: { adam: 2e-3, adamw: 2e-3, sgd: 0.1 },
  seed: 1,
  val: 5000,
  out: 'models/mnist-mlp.safetensors',
};

interface TrainOptions extends BackendFlags, DataFlags {
  model: (typeof MODEL_PRESET_NAMES)[number];
  layers?: string;
  augment: boolean;
  hidden: number[];
  activation: MlpActivation;
  output?: MlpOutput;
  loss: LossName;
  optimizer: (typeof OPTIMIZERS)[number];
  lr: number;
  momentum: number;
  nesterov: boolean;
  weightDecay?: number;
  schedule: (typeof SCHEDULES)[number];
  warmup: number;
  gamma?: number;
  stepSize?: number;
  earlyStopping?: number;
  monitor: MonitorMetric;
  restoreBest: boolean;
  clipNorm?: number;
  checkpoint: string | boolean;
  resume?: string;
  test: boolean;
  epochs: number;
  batchSize: number;
  seed: number;
  val: number;
  limit?: number;
  shuffle: boolean;
  out: string;
  init?: string;
  json: boolean;
  stream: boolean;
  standardize: boolean;
  progress: boolean;
}

/** Rows per chunk and shuffle-buffer rows of --stream (see docs/own-data.md). */
export const STREAM = { chunkRows: 1024, bufferRows: 8192 };

export function registerTrain(program: Command): void {
  const command = program
    .command('train')
    .description('train a network on MNIST or your own data (--data) and save it (defaults: the npm start network)')
    .option('--model <preset>', `architecture: ${MODEL_PRESET_NAMES.map((n) => `${n} (${MODEL_PRESETS[n].description})`).join('; ')}`, oneOf(MODEL_PRESET_NAMES), 'mlp')
    .option('--layers <spec>', `any layer sequence, comma-separated, e.g. "conv:8x5x5,relu,maxpool:2,flatten,dense:10"; tokens: ${layerSpecGrammar()}`)
    .option('--augment', 'shift training images by up to 2 pixels and rotate them by up to 10°, at random (seeded)', false)
    .option('--hidden <sizes>', 'hidden layer sizes, comma-separated ("none" for no hidden layer)', sizeList, DEFAULTS.hidden)
    .option('--activation <name>', `hidden activation: ${MLP_ACTIVATIONS.join('|')}`, oneOf(MLP_ACTIVATIONS), 'relu')
    .option('--output <name>', `output activation: ${MLP_OUTPUTS.join('|')} (default: none for ce, sigmoid for mse)`, oneOf(MLP_OUTPUTS))
    .option('--loss <name>', 'loss: ce (softmax cross-entropy) | mse (the notes\' quadratic cost; on a CSV: regression) | huber (regression) | bce (binary cross-entropy on logits)',
      oneOf(['ce', 'mse', 'huber', 'bce'] as const), 'ce')
    .option('--optimizer <name>', `optimiser: ${OPTIMIZERS.join('|')}`, oneOf(OPTIMIZERS), 'adam')
    .option('--lr <rate>', `learning rate (default: ${DEFAULTS.lr.adam} for adam/adamw, ${DEFAULTS.lr.sgd} for sgd)`, numberIn(0, Infinity, { minOpen: true }))
    .option('--momentum <m>', 'SGD momentum in [0, 1)', numberIn(0, 1, { maxOpen: true }), 0)
    .option('--nesterov', 'SGD with Nesterov momentum (needs --momentum > 0)', false)
    .option('--weight-decay <lambda>', 'weight decay (L2 for sgd/adam, decoupled for adamw; default 0, 0.01 for adamw)', numberIn(0, Infinity))
    .option('--schedule <name>', `learning-rate schedule: ${SCHEDULES.join('|')}`, oneOf(SCHEDULES), 'cosine')
    .option('--warmup <epochs>', 'linear learning-rate warm-up over this many epochs (fractions allowed), before the schedule', numberIn(0, 1000), 0)
    .option('--gamma <g>', 'decay factor of --schedule step (every --step-size epochs; default 0.5) or exponential (per epoch; default 0.9)', numberIn(0, 1, { minOpen: true }))
    .option('--step-size <epochs>', 'epochs between decays for --schedule step (default 1)', intIn(1))
    .option('--early-stopping <patience>', 'stop when the validation metric has not improved for this many epochs', intIn(1))
    .option('--monitor <metric>', `metric for --early-stopping: ${MONITOR_METRICS.join('|')}`, oneOf(MONITOR_METRICS), 'val_accuracy')
    .option('--no-restore-best', 'with --early-stopping: keep the last weights instead of the best epoch\'s')
    .option('--clip-norm <max>', 'clip the global gradient norm to this value before each update', numberIn(0, Infinity, { minOpen: true }))
    .option('--checkpoint <file>', 'checkpoint written atomically at every epoch end (default: from --out, e.g. models/mnist-mlp.ckpt.safetensors)')
    .option('--no-checkpoint', 'write no checkpoints')
    .option('--resume <checkpoint>', 'continue the run saved in this checkpoint (same settings; flags may only repeat them). ' +
      'Paths never come from the checkpoint: --out defaults to a name beside it (a.ckpt.safetensors → a.safetensors), --data must be given again if the run used it')
    .option('--no-test', 'do not evaluate on the test set (model selection must not look at it, see nabla search)')
    .option('--epochs <n>', 'passes over the training data (0: save the initialised model untouched)', intIn(0, 100000), DEFAULTS.epochs)
    .option('--batch-size <n>', 'samples per gradient step', intIn(1, 60000), DEFAULTS.batchSize)
    .option('--seed <n>', 'seed for initialisation and shuffling', intIn(0, 2 ** 32 - 1), DEFAULTS.seed)
    .option('--val <n>', 'training samples held out for validation, taken from the end (0 for none; the default shrinks to a tenth with --limit)', intIn(0), DEFAULTS.val)
    .option('--limit <n>', 'use only the first N training samples', intIn(1))
    .option('--no-shuffle', 'keep the training samples in file order')
    .option('--out <file>', 'where to save the model (.safetensors); never one of the files the run reads', DEFAULTS.out)
    .option('--init <model>', 'start from the weights (and architecture) of an existing model file')
    .option('--data <path>', 'train on this instead of the bundled MNIST: a folder of MNIST IDX files (plain or .gz); a .csv file; ' +
      'a .npz file (x_train/y_train + x_test/y_test, or x/y); an x.npy file with --labels y.npy, or a folder holding x.npy and y.npy; ' +
      'a folder of class sub-folders of PNG/JPEG images. Rows are shuffled once with --seed before the test and validation parts are cut')
    .option('--labels <file>', 'with --data x.npy: the labels .npy file')
    .option('--label <name|index>', 'CSV: the label (target) column, by name or 0-based index (default: a column named label/target/class/y, else the only non-numeric one, else column 0)')
    .option('--test-data <path>', 'a separate test file or folder, read like --data with its classes (default: hold out --test-split)')
    .option('--test-split <fraction>', 'without --test-data, for sources with no test set of their own: the fraction of the shuffled rows held out as the test set (0: none)', numberIn(0, 1, { maxOpen: true }))
    .option('--size <HxW>', 'image folder: resize every image to H×W (default: all images must have one size)', sizeFlag)
    .option('--grey', 'image folder: read images as 1 grey channel (default: grey if every image is, else RGB)')
    .option('--colour', 'image folder: read images as 3 RGB channels')
    .option('--no-standardize', 'tables (CSV, .npy or .npz rows of features): feed the columns as they are; by default the network starts with a ' +
      'Standardize layer that brings each column to mean 0 and spread 1 with the training rows\' statistics (saved in the model, so it takes raw rows)')
    .option('--task <task>', `${TASKS.join('|')} (default: regression for --loss huber, or --loss mse on a CSV; else classification)`, oneOf(TASKS))
    .option('--stream', `CSV: train from the file chunk by chunk with bounded memory (${STREAM.chunkRows}-row chunks read in a random order each epoch, ` +
      `through a ${STREAM.bufferRows}-row shuffle buffer; no validation split; test only with --test-data)`, false)
    .option('--json', 'print one JSON object per epoch (and a final result) on stdout', false)
    .option('--no-progress', 'no progress output on stderr');
  addBackendOptions(command)
    .action(async (opts: TrainOptions, cmd: Command) => {
      await train(opts, cmd);
    });
}

async function train(opts: TrainOptions, cmd: Command): Promise<void> {
  const say = (line: string): void => {
    if (!opts.json) console.log(line);
  };
  // A resumed run takes its settings from the checkpoint; flags may only repeat them.
  const ckpt = opts.resume === undefined ? undefined : loadCheckpointFile(opts.resume);
  if (ckpt) opts = mergeResumeOptions(opts, cmd, ckpt, opts.resume!);
  opts.lr ??= DEFAULTS.lr[opts.optimizer];
  checkScheduleFlags(opts);
  const checkpointPath = opts.checkpoint === false ? undefined
    : typeof opts.checkpoint === 'string' ? opts.checkpoint : (opts.resume ?? defaultCheckpointPath(opts.out));
  // Every output checked before any data is read or any epoch run: writable, not a folder, and
  // not one of the run's inputs (the checkpoint being resumed may be rewritten: that is its job).
  const inputs: PathRole[] = [
    ...(opts.init !== undefined && !ckpt ? [{ path: opts.init, role: 'model file of --init' }] : []),
    ...(opts.resume !== undefined ? [{ path: opts.resume, role: 'checkpoint of --resume' }] : []),
    ...dataInputs(opts.data, opts.labels).map((path) => ({ path, role: 'data file' })),
    ...(opts.testData !== undefined ? dataInputs(opts.testData).map((path) => ({ path, role: 'test data file' })) : []),
  ];
  const rewritesResumed = checkpointPath !== undefined && opts.resume !== undefined && resolvedPath(checkpointPath) === resolvedPath(opts.resume);
  if (rewritesResumed) checkOutputPath(checkpointPath, 'checkpoint');
  checkOutputs([
    { path: opts.out, role: 'model file' },
    ...(checkpointPath !== undefined && !rewritesResumed ? [{ path: checkpointPath, role: 'checkpoint' }] : []),
  ], inputs);
  if (checkpointPath) {
    if (replacesCheckpoint(checkpointPath, opts.resume) && opts.progress) {
      process.stderr.write(`nabla: note: ${checkpointPath} (an earlier run's checkpoint) will be replaced at the end of epoch 1; ` +
        `to continue that run instead: nabla train --resume ${checkpointPath}\n`);
    }
  }
  if (opts.nesterov && opts.momentum === 0) {
    throw new NablaError({ where: 'flag --nesterov', expected: '--momentum > 0 with it', found: 'momentum 0', hint: 'add --momentum 0.9' });
  }
  if (opts.optimizer !== 'sgd' && (cmd.getOptionValueSource('momentum') === 'cli' || opts.nesterov)) {
    throw new NablaError({ where: 'flag --momentum/--nesterov', expected: '--optimizer sgd', found: `--optimizer ${opts.optimizer}` });
  }

  if (opts.stream) return trainStreaming(opts, cmd);
  // Data first: a bad data folder should fail before any work.
  const data = await loadTrainingData(opts, opts.loss);
  // A regression run's default loss is mse (ce compares class probabilities).
  if (data.task === 'regression' && cmd.getOptionValueSource('loss') !== 'cli') opts.loss = 'mse';
  let all = data.train;
  if (opts.limit !== undefined) all = sliceDataset(all, 0, Math.min(opts.limit, all.count));
  warnLimitOver(opts.limit, all.count, `training samples in ${data.describe}`);
  // The default hold-out (5,000 of 60,000) shrinks with --limit to a tenth of the samples.
  if (cmd.getOptionValueSource('val') !== 'cli') opts.val = Math.min(opts.val, Math.floor(all.count / 10));
  if (opts.val >= all.count) {
    throw new NablaError({
      where: 'flag --val', expected: `fewer than the ${all.count} training samples`, found: String(opts.val),
      hint: 'use a smaller --val, or --val 0 for no validation split',
    });
  }
  const { train: trainSet, val } = splitDataset(all, opts.val);
  if (opts.test && data.test === undefined) {
    // --test-split 0: nothing held out, so nothing to test on.
    if (!opts.json && opts.progress) process.stderr.write('nabla: note: no test set (--test-split 0), so the model is not tested\n');
    opts.test = false;
  }
  const test = data.test ?? trainSet;
  // An empty test set would score 0/0 = NaN% after the whole run: refuse it before training.
  if (opts.test) checkSamples(test, test.features, test.classes, `test set (${data.testSource})`, 1);
  if (data.kind === 'mnist' && opts.test && (test.features !== trainSet.features || test.classes !== trainSet.classes)) {
    const images = mnistFileCandidates(opts.data).filter((p) => existsSync(p));
    const name = (prefix: string) => images.find((p) => basename(p).startsWith(prefix)) ?? prefix;
    throw new NablaError({
      where: `test images file "${name('t10k-images')}"`, expected: `images of ${trainSet.features} pixels and ${trainSet.classes} classes, as in "${name('train-images')}"`,
      found: `${test.features} pixels and ${test.classes} classes`, hint: 'the training and test sets must have the same image size; or train with --no-test',
    });
  }

  const backend = await backendFromFlags(opts);
  // A table: rows of features (CSV, .npy, .npz), not images (MNIST's IDX pixels are rows of 784 too).
  const table = data.kind !== 'mnist' && data.inputShape.length === 1;
  const { model, loss, info } = modelFromFlags(opts, cmd, data.inputShape, data.outputs, ckpt, backend, data.task, table);
  // Recorded in checkpoints as the loss in use (with --init it may come from the model file,
  // which a resumed run does not read again).
  opts.loss = loss;
  const lr = opts.lr;
  const optimizer = makeOptimizer(opts, model, lr, opts.weightDecay !== undefined);
  if (opts.earlyStopping !== undefined && val.count === 0) {
    throw new NablaError({ where: 'flag --early-stopping', expected: 'a validation split (--val > 0)', found: '--val 0', hint: 'early stopping watches the validation metric' });
  }
  const stopper = opts.earlyStopping === undefined ? undefined
    : new EarlyStopping(model, { monitor: opts.monitor, patience: opts.earlyStopping, restoreBest: opts.restoreBest });
  // A new run's Standardize statistics come from the training rows (not validation or test); a
  // resumed run restores them from the checkpoint, an --init run keeps the model file's.
  if (!ckpt && opts.init === undefined) fitStandardize(model, trainSet);
  const resume: FitState | undefined = ckpt ? restoreCheckpoint(ckpt, { model, optimizer, earlyStopping: stopper }, `checkpoint "${opts.resume}"`) : undefined;

  say(model.summary());
  say(`training on ${trainSet.count} samples, validating on ${val.count}; ${opts.epochs} epoch${opts.epochs === 1 ? "" : "s"}, batch ${opts.batchSize}, ` +
    `${opts.optimizer} lr ${lr} (${opts.schedule}${opts.warmup > 0 ? `, warm-up ${opts.warmup}` : ''}), loss ${loss}, seed ${opts.seed}; backend ${describeBackend(model.backend)}`);
  if (resume) say(`resuming from ${opts.resume}: epoch ${resume.epoch}${resume.batch > 0 ? `, batch ${resume.batch}` : ''} done`);

  const printEpoch: Callback = {
    onEpochEnd(log: EpochLog) {
      if (opts.json) {
        console.log(JSON.stringify({
          type: 'epoch', epoch: log.epoch, epochs: opts.epochs, loss: log.loss, accuracy: log.accuracy,
          val_loss: log.valLoss ?? null, val_accuracy: log.valAccuracy ?? null, lr: log.lr, seconds: log.seconds,
          ...(log.mae !== undefined ? { mae: log.mae, val_mae: log.valMae ?? null, val_r2: log.valR2 ?? null } : {}),
        }));
      } else {
        console.log(formatEpoch(log, opts.epochs));
      }
    },
  };
  // Loaded here, not at start-up: cli-progress is only needed once training begins.
  const { progressCallback } = await import('../progress.ts');
  const callbacks: Callback[] = [progressCallback(opts.epochs, opts.progress && !opts.json), printEpoch];
  callbacks.unshift(lrSchedule(optimizer, { type: opts.schedule, warmup: opts.warmup, gamma: opts.gamma, stepSize: opts.stepSize }));
  if (stopper) callbacks.push(stopper);
  callbacks.push({ onWarning: (w) => process.stderr.write(`nabla: warning: ${w.message}\n`) });
  // A checkpoint that cannot be written (disk full, folder gone) must not cost the run: say so
  // once, keep training, and save the model at the end as usual.
  let checkpointFailed: string | undefined;
  const writeCheckpoint = (): boolean => {
    if (!checkpointPath) return false;
    try {
      saveCheckpointFile(checkpointPath, { model, optimizer, state: model.trainingState(), options: recordedOptions({ ...opts }), earlyStopping: stopper });
      checkpointFailed = undefined;
      return true;
    } catch (e) {
      if (!(e instanceof NablaError)) throw e;
      if (checkpointFailed === undefined) process.stderr.write(`nabla: warning: could not write the checkpoint (${e.message}); training continues and the model will still be saved to ${opts.out}\n`);
      checkpointFailed = e.message;
      return false;
    }
  };
  // Last, so the checkpoint sees the early-stopping state of this epoch.
  callbacks.push({ onEpochEnd: writeCheckpoint });

  if (opts.augment && !(data.inputShape.length === 3 && data.inputShape[0] === 1)) {
    throw new NablaError({ where: 'flag --augment', expected: 'grey images (1 channel) as data', found: `input shape [${data.inputShape.join(', ')}]` });
  }
  const [imageH, imageW] = data.inputShape.slice(-2);
  const augmenter = opts.augment ? new ImageAugmenter(model.rng, { height: imageH, width: imageW, maxShift: 2, maxRotation: 10 }) : undefined;
  const t0 = performance.now();
  const training: TrainingInfo = {
    ...info, loss, seed: opts.seed, epochs: opts.epochs, batchSize: opts.batchSize,
    optimizer: {
      name: opts.optimizer, lr, momentum: opts.momentum, nesterov: opts.nesterov, weightDecay: opts.weightDecay, schedule: opts.schedule,
      warmup: opts.warmup, gamma: opts.gamma, stepSize: opts.stepSize, clipNorm: opts.clipNorm, earlyStopping: opts.earlyStopping,
    },
    dataset: data.describe, trainSamples: trainSet.count, valSamples: val.count,
    ...(augmenter ? { augment: { maxShift: 2, maxRotation: 10 } } : {}),
    preprocessing: data.kind === 'mnist'
      ? { pixels: 'byte / 255, in [0, 1]', layout: 'N x 784, row-major 28 x 28, white digit on black', labels: 'one-hot, 10 classes' }
      : preprocessingOf(data),
    task: data.task, data: data.record,
    ...(data.classNames ? { classNames: data.classNames } : {}), ...(data.targetNames ? { targetNames: data.targetNames } : {}),
  };
  if (model.layers[0] instanceof Standardize) {
    training.preprocessing = { ...training.preprocessing, standardize: standardizeNote('the training rows\'') };
  }
  // Ctrl-C: finish the current batch, checkpoint, say how to resume. A second Ctrl-C quits at once.
  let interrupted = false;
  const onSigint = (): void => {
    if (interrupted) process.exit(130);
    interrupted = true;
    model.stopAfterBatch = true;
  };
  process.on('SIGINT', onSigint);
  try {
    training.history = await model.fitAsync(trainSet, {
      optimizer, loss, epochs: opts.epochs, batchSize: opts.batchSize, shuffle: opts.shuffle,
      validationData: val.count > 0 ? val : undefined, callbacks, clipNorm: opts.clipNorm, resume, task: data.task,
      augment: augmenter ? (x, n) => augmenter.apply(x, n) : undefined,
    });
    if (interrupted) {
      const state = model.trainingState();
      const saved = writeCheckpoint();
      const at = state.batch > 0 ? `epoch ${state.epoch + 1}, batch ${state.batch}` : `the end of epoch ${state.epoch}`;
      if (checkpointPath && !saved) {
        // No checkpoint to resume from: keep the weights so far rather than nothing.
        training.history = state.history;
        saveModel(opts.out, model, training);
        process.stderr.write(`nabla: interrupted at ${at}; the checkpoint could not be written, so the weights so far were saved to ${opts.out} (not resumable)\n`);
      } else {
        process.stderr.write(checkpointPath
          ? `nabla: interrupted at ${at}; checkpoint saved to ${checkpointPath}\nresume with: ${resumeCommand(checkpointPath, opts)}\n`
          : 'nabla: interrupted; no checkpoint written (--no-checkpoint)\n');
      }
      throw new Interrupted();
    }
  } catch (e) {
    if (e instanceof DivergenceError) {
      training.history = e.history;
      training.diverged = { epoch: e.epoch, batch: e.batch };
      saveModel(opts.out, model, training);
      const done = e.history.epochs.length;
      process.stderr.write(`nabla: saved the last good weights (${done === 0 ? 'as initialised' : `end of epoch ${done}`}) to ${opts.out}\n`);
    }
    throw e;
  } finally {
    // After training, Ctrl-C interrupts as usual.
    process.off('SIGINT', onSigint);
  }
  const seconds = (performance.now() - t0) / 1000;

  // The final weights' validation figures (the best epoch's under early stopping with restore-best):
  // what nabla search selects on, so it never needs the test set.
  const vEv = val.count > 0 ? model.evaluate(val, { loss, task: data.task }) : undefined;
  if (vEv) training.validation = scoreOf(vEv);
  if (stopper) training.earlyStopping = { stopped: stopper.stopped, bestEpoch: stopper.bestEpoch, best: stopper.best };
  training.trainSeconds = seconds;
  if (!opts.test) {
    saveModel(opts.out, model, training);
    if (opts.json) {
      console.log(JSON.stringify({
        type: 'result', test_loss: null, test_accuracy: null, val_loss: vEv?.loss ?? null, val_accuracy: vEv && vEv.task === 'classification' ? vEv.accuracy : null,
        epochs_run: training.history.epochs.length, train_seconds: seconds, model: opts.out,
      }));
    } else {
      say(`trained in ${seconds.toFixed(1)}s; model saved to ${opts.out} (not evaluated on the test set: --no-test)`);
    }
    return;
  }
  const ev = model.evaluate(test, { loss, task: data.task, role: `test set (${data.testSource})` });
  training.test = scoreOf(ev);
  saveModel(opts.out, model, training);
  if (opts.json) {
    console.log(JSON.stringify({
      type: 'result', test_loss: ev.loss, test_accuracy: ev.task === 'classification' ? ev.accuracy : null,
      val_loss: vEv?.loss ?? null, val_accuracy: vEv && vEv.task === 'classification' ? vEv.accuracy : null,
      ...(ev.task === 'regression' ? { test_mae: ev.mae, test_rmse: ev.rmse, test_r2: ev.r2 } : {}),
      epochs_run: training.history.epochs.length, train_seconds: seconds, model: opts.out,
    }));
  } else if (ev.task === 'regression') {
    say(`test loss ${ev.loss.toFixed(4)}  MAE ${fmt(ev.mae)}  RMSE ${fmt(ev.rmse)}  R² ${ev.r2.toFixed(4)} (${ev.count} samples)`);
    say(`trained in ${seconds.toFixed(1)}s; model saved to ${opts.out}`);
  } else {
    say(`test loss ${ev.loss.toFixed(4)}  test accuracy ${pct(ev.accuracy)} (${Math.round(ev.accuracy * ev.count)}/${ev.count})`);
    say(`trained in ${seconds.toFixed(1)}s; model saved to ${opts.out}`);
  }
}

function modelFromFlags(
  opts: TrainOptions, cmd: Command, inputShape: number[], classes: number, ckpt: Checkpoint | undefined, backend: Backend, task: Task,
  table = false,
) {
  const features = shapeSize(inputShape);
  const resuming = ckpt !== undefined;
  if (opts.init && ckpt) {
    // A resumed --init run: the checkpoint holds the architecture and every weight, so the --init
    // path it recorded is never opened (a checkpoint does not choose the files a run reads).
    const model = Sequential.fromConfig(ckpt.architecture, { seed: opts.seed, backend });
    if (shapeSize(model.inputShape) !== features) {
      throw new NablaError({ where: `checkpoint "${opts.resume}"`, expected: `a network with an input of ${features} features`, found: `input shape [${model.inputShape.join(', ')}]` });
    }
    return { model, loss: opts.loss, info: { initFrom: opts.init } as TrainingInfo };
  }
  if (opts.init) {
    const clash = resuming ? [] : ['hidden', 'activation', 'output', 'model', 'layers'].filter((f) => cmd.getOptionValueSource(f) === 'cli');
    if (clash.length > 0) {
      throw new NablaError({
        where: `flag --${clash[0]}`, expected: 'no architecture flags with --init', found: `--${clash.join(', --')}`,
        hint: 'the architecture comes from the --init model file; drop these flags',
      });
    }
    const { model, training } = loadModel(opts.init, { seed: opts.seed, backend });
    if (shapeSize(model.inputShape) !== features) {
      throw new NablaError({ where: `model file "${opts.init}"`, expected: `an input of ${features} features`, found: `input shape [${model.inputShape.join(', ')}]` });
    }
    // A model's loss is part of what it was trained for; keep it unless the user says otherwise.
    const loss = cmd.getOptionValueSource('loss') === 'cli' ? opts.loss : (training.loss ?? opts.loss);
    return { model, loss, info: { initFrom: opts.init } as TrainingInfo };
  }
  // The data's shape (MNIST: [1, 28, 28]); a network starting with a dense layer flattens it.
  const common = { inputShape, classes, seed: opts.seed, backend };
  if (opts.layers !== undefined || opts.model !== 'mlp') {
    // --layers or a --model preset other than mlp describes the whole network.
    const flag = opts.layers !== undefined ? '--layers' : '--model';
    const clash = ['hidden', 'activation', 'output', ...(opts.layers !== undefined ? ['model'] : [])]
      .filter((f) => cmd.getOptionValueSource(f) === 'cli');
    if (clash.length > 0) {
      throw new NablaError({
        where: `flag --${clash[0]}`, expected: `no --hidden, --activation, --output${flag === '--layers' ? ' or --model' : ''} with ${flag}`,
        found: `--${clash.join(', --')}`, hint: `${flag} describes the whole network; drop the other flags`,
      });
    }
    if (opts.layers === undefined && inputShape.length !== 3) {
      throw new NablaError({
        where: `flag --model ${opts.model}`, expected: 'images as data (input [channels, height, width])', found: `input shape [${inputShape.join(', ')}]`,
        hint: 'for a table use --hidden (a dense network), or --layers',
      });
    }
    // A preset ends in one output per MNIST class; other data gets one per class (or target).
    const layers = opts.layers ?? (classes === 10 ? undefined : MODEL_PRESETS[opts.model].spec.replace(/dense:10$/, `dense:${classes}`));
    const model = buildModel({ ...common, role: `flag ${flag}`, ...(layers !== undefined ? { layers } : { preset: opts.model }) });
    return { model: table ? standardized(model, opts) : model, loss: opts.loss, info: { architecture: opts.layers ?? opts.model } as TrainingInfo };
  }
  const output = opts.output ?? (opts.loss === 'mse' && task === 'classification' ? 'sigmoid' : 'none');
  if ((opts.loss === 'ce' || opts.loss === 'bce') && output !== 'none') {
    throw new NablaError({
      where: 'flag --output', expected: `none with --loss ${opts.loss} (the loss applies ${opts.loss === 'ce' ? 'softmax' : 'the sigmoid'} itself)`, found: output,
      hint: 'drop --output, or use --loss mse',
    });
  }
  const model = buildModel({ ...common, role: 'flag --hidden', hidden: opts.hidden, activation: opts.activation, output });
  return { model: table ? standardized(model, opts) : model, loss: opts.loss, info: {} as TrainingInfo };
}

/**
 * The network for a table (rows of features), unless --no-standardize: `model` with a Standardize
 * layer in front (fitStandardize sets its statistics from the training rows), unless it already
 * starts with one (--layers standardize,...). Standardize draws no random numbers, so the other
 * layers start from the same weights as without it. (Images are not tables: already ÷ 255.)
 */
function standardized(model: Sequential, opts: TrainOptions): Sequential {
  if (!opts.standardize || model.layers[0] instanceof Standardize) return model;
  const config = model.config();
  return Sequential.fromConfig({ ...config, layers: [{ type: 'Standardize' }, ...config.layers] }, { seed: opts.seed, backend: model.backend });
}

/** The model file's preprocessing line for a leading Standardize layer; `whose`: whose statistics. */
function standardizeNote(whose: string): string {
  return `layer 0: each column (x − mean) / std, with ${whose} mean and std (in the model: give it raw rows)`;
}

/** Fit a leading Standardize layer (standardized, or written in --layers) to the training rows. */
function fitStandardize(model: Sequential, train: Dataset): void {
  const first = model.layers[0];
  if (first instanceof Standardize) first.fit(train.x, train.count);
}

function makeOptimizer(opts: TrainOptions, model: Sequential, lr: number, decaySet: boolean): Optimizer {
  const params = model.parameters();
  const backend = model.backend;
  switch (opts.optimizer) {
    case 'sgd': return new SGD(params, { lr, momentum: opts.momentum, nesterov: opts.nesterov, weightDecay: opts.weightDecay ?? 0, backend });
    case 'adam': return new Adam(params, { lr, weightDecay: opts.weightDecay ?? 0, backend });
    // AdamW keeps its own default decay (0.01, as PyTorch) unless --weight-decay is given.
    case 'adamw': return new AdamW(params, { lr, weightDecay: decaySet ? opts.weightDecay : undefined, backend });
  }
}

/** Thrown after Ctrl-C once the checkpoint is written: the CLI exits with 130 (128 + SIGINT). */
export class Interrupted extends Error {
  readonly exitCode: number = 130;
}

function checkScheduleFlags(opts: TrainOptions): void {
  const decays = opts.schedule === 'step' || opts.schedule === 'exponential';
  for (const [key, flag] of [['gamma', '--gamma'], ['stepSize', '--step-size']] as const) {
    if (opts[key] !== undefined && !(decays && (key === 'gamma' || opts.schedule === 'step'))) {
      throw new NablaError({
        where: `flag ${flag}`, expected: key === 'gamma' ? '--schedule step or exponential with it' : '--schedule step with it',
        found: `--schedule ${opts.schedule}`,
      });
    }
  }
}

function fmt(v: number): string {
  return Math.abs(v) >= 1000 || (Math.abs(v) < 0.001 && v !== 0) ? v.toExponential(3) : v.toFixed(4);
}

/** One epoch's line: accuracy for a classifier, MAE (and R² on validation) for regression. */
function formatEpoch(log: EpochLog, epochs: number): string {
  if (log.mae !== undefined) {
    const v = log.valLoss === undefined ? '' : `  val_loss ${log.valLoss.toFixed(4)}  val_mae ${fmt(log.valMae!)}  val_r2 ${log.valR2!.toFixed(4)}`;
    return `epoch ${log.epoch}/${epochs}  loss ${log.loss.toFixed(4)}  mae ${fmt(log.mae)}${v}  ${log.seconds.toFixed(1)}s`;
  }
  const v = log.valLoss === undefined ? '' : `  val_loss ${log.valLoss.toFixed(4)}  val_acc ${pct(log.valAccuracy!)}`;
  return `epoch ${log.epoch}/${epochs}  loss ${log.loss.toFixed(4)}  acc ${pct(log.accuracy!)}${v}  ${log.seconds.toFixed(1)}s`;
}

/** TrainingInfo's Score of an evaluation. */
function scoreOf(ev: Evaluation): TrainingInfo['test'] {
  return ev.task === 'classification' ? { loss: ev.loss, accuracy: ev.accuracy } : { loss: ev.loss, mae: ev.mae, rmse: ev.rmse, r2: ev.r2 };
}

/** How inputs were prepared, for people reading the file (the machine-readable part is TrainingInfo.data). */
function preprocessingOf(data: LoadedData): Record<string, unknown> {
  const r = data.record;
  return {
    source: r.kind, scale: r.scale, inputShape: r.inputShape,
    ...(r.size ? { size: r.size, resize: 'area averaging when shrinking, bilinear when growing' } : {}),
    ...(r.channels ? { channels: r.channels === 1 ? 'grey (0.299 R + 0.587 G + 0.114 B)' : 'RGB' } : {}),
    ...(r.label !== undefined ? { label: r.label } : {}),
    labels: data.task === 'classification' ? `one-hot, ${data.outputs} classes` : `${data.outputs} numeric target${data.outputs === 1 ? '' : 's'}`,
  };
}

/**
 * --stream: a CSV trained chunk by chunk through fitSource with bounded memory (STREAM's chunk and
 * buffer sizes). The whole file trains (no validation split: it would need a second pass over the
 * file to keep apart); the test set is --test-data's, read whole. No checkpoints, --resume, --init,
 * --early-stopping or --augment. A table's Standardize layer gets the whole file's statistics.
 */
async function trainStreaming(opts: TrainOptions, cmd: Command): Promise<void> {
  const say = (line: string): void => {
    if (!opts.json) console.log(line);
  };
  const kind = dataKind(opts.data, opts.labels);
  if (kind !== 'csv') {
    throw new NablaError({ where: 'flag --stream', expected: 'a CSV file as --data', found: opts.data === undefined ? 'no --data (the bundled MNIST)' : `${kind} data` });
  }
  const clash = (['resume', 'init', 'earlyStopping', 'augment', 'limit'] as const).filter((k) => opts[k] !== undefined && opts[k] !== false);
  if (clash.length > 0) {
    throw new NablaError({ where: 'flag --stream', expected: 'no ' + clash.map((k) => `--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`).join(', ') + ' with it', found: 'both' });
  }
  if (opts.testSplit !== undefined) {
    throw new NablaError({ where: 'flag --test-split', expected: 'no --test-split with --stream (a streamed file is not held out from)', found: String(opts.testSplit), hint: 'pass a separate --test-data file' });
  }
  const task = trainTask('csv', opts.task, opts.loss);
  if (task === 'regression' && cmd.getOptionValueSource('loss') !== 'cli') opts.loss = 'mse';
  const label = opts.label === undefined ? undefined : /^\d+$/.test(opts.label) ? Number(opts.label) : opts.label;
  const source = openCsvChunks(opts.data!, { label, task, ...STREAM, shuffle: opts.shuffle });
  try {
    const outputs = source.targets;
    let test: Dataset | undefined;
    if (opts.testData !== undefined && opts.test) {
      test = task === 'regression'
        ? { ...loadCsv(opts.testData, { task: 'regression', label }), labels: new Uint8Array(0), classes: outputs, imageShape: [1, source.features] } as unknown as Dataset
        : loadCsv(opts.testData, { label, classNames: source.classNames });
      if (task === 'regression') (test as { labels: Uint8Array }).labels = new Uint8Array(test.count);
    } else if (opts.test && opts.progress && !opts.json) {
      process.stderr.write('nabla: note: no test set (--stream holds nothing out; pass --test-data)\n');
    }
    const backend = await backendFromFlags(opts);
    const { model, loss, info } = modelFromFlags(opts, cmd, source.inputShape, outputs, undefined, backend, task, source.inputShape.length === 1);
    // The Standardize statistics of every row of the file, from the first pass (no extra read).
    const first = model.layers[0];
    if (first instanceof Standardize) first.setStatistics(source.columnStatistics.mean, source.columnStatistics.std);
    const lr = opts.lr;
    const optimizer = makeOptimizer(opts, model, lr, opts.weightDecay !== undefined);
    say(model.summary());
    say(`streaming ${source.count} rows from ${opts.data} (${STREAM.chunkRows}-row chunks in a random order, ${STREAM.bufferRows}-row shuffle buffer); ` +
      `${opts.epochs} epoch${opts.epochs === 1 ? '' : 's'}, batch ${opts.batchSize}, ${opts.optimizer} lr ${lr}, loss ${loss}, seed ${opts.seed}`);
    const { progressCallback } = await import('../progress.ts');
    const callbacks: Callback[] = [
      lrSchedule(optimizer, { type: opts.schedule, warmup: opts.warmup, gamma: opts.gamma, stepSize: opts.stepSize }),
      progressCallback(opts.epochs, opts.progress && !opts.json),
      { onEpochEnd: (log: EpochLog) => { if (opts.json) console.log(JSON.stringify({ type: 'epoch', ...log })); else console.log(formatEpoch(log, opts.epochs)); } },
    ];
    const t0 = performance.now();
    const history = await fitSource(model, source, { optimizer, loss, epochs: opts.epochs, batchSize: opts.batchSize, callbacks, clipNorm: opts.clipNorm, task });
    const seconds = (performance.now() - t0) / 1000;
    const record = {
      kind: 'csv' as const, path: opts.data, label, testData: opts.testData, scale: 'CSV rule: pixel0.. columns / 255, other tables as they are',
      task, inputShape: source.inputShape, classNames: task === 'classification' ? source.classNames : undefined, stream: true,
    };
    const training: TrainingInfo = {
      ...info, loss, seed: opts.seed, epochs: opts.epochs, batchSize: opts.batchSize, history, trainSeconds: seconds,
      optimizer: { name: opts.optimizer, lr, schedule: opts.schedule, warmup: opts.warmup, clipNorm: opts.clipNorm },
      dataset: `CSV file "${opts.data}" (streamed)`, trainSamples: source.count, valSamples: 0, task, data: record,
      preprocessing: {
        source: 'csv', scale: record.scale, inputShape: source.inputShape, stream: STREAM,
        ...(first instanceof Standardize ? { standardize: standardizeNote('the whole file\'s') } : {}),
      },
      ...(record.classNames ? { classNames: record.classNames } : {}),
    };
    const ev = test ? model.evaluate(test, { loss, task, role: `test set (CSV file "${opts.testData}")` }) : undefined;
    if (ev) training.test = scoreOf(ev);
    saveModel(opts.out, model, training);
    if (opts.json) {
      console.log(JSON.stringify({ type: 'result', test: ev ?? null, train_seconds: seconds, model: opts.out }));
    } else {
      if (ev) say(ev.task === 'classification' ? `test loss ${ev.loss.toFixed(4)}  test accuracy ${pct(ev.accuracy)} (${Math.round(ev.accuracy * ev.count)}/${ev.count})`
        : `test loss ${ev.loss.toFixed(4)}  MAE ${fmt(ev.mae)}  RMSE ${fmt(ev.rmse)}  R² ${ev.r2.toFixed(4)} (${ev.count} samples)`);
      say(`trained in ${seconds.toFixed(1)}s; model saved to ${opts.out}`);
    }
  } finally {
    source.close();
  }
}
