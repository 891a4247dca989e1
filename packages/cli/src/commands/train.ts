/**
 * nabla train: build a network from flags (or start from a model file), train it on MNIST, report
 * per-epoch figures and the final test accuracy, and save the model atomically.
 */
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import type { Command } from 'commander';
import {
  Adam, AdamW, checkSamples, DivergenceError, EarlyStopping, MONITOR_METRICS, NablaError, SGD, Sequential, lrSchedule, restoreCheckpoint,
  sliceDataset, splitDataset, shapeSize, buildModel, MODEL_PRESETS, MODEL_PRESET_NAMES, MLP_ACTIVATIONS, MLP_OUTPUTS,
  layerSpecGrammar, ImageAugmenter, type Callback, type EpochLog, type LossName, type MonitorMetric, type Optimizer,
  type TrainingInfo, type FitState, type Checkpoint, describeBackend, type Backend, type MlpActivation, type MlpOutput,
} from 'nabla';
import { addBackendOptions, backendFromFlags, type BackendFlags } from '../backendOptions.ts';
import {
  defaultCheckpointPath, loadCheckpointFile, replacesCheckpoint, mergeResumeOptions, recordedOptions, resumeCommand, saveCheckpointFile,
} from '../checkpointFiles.ts';
import { dataSource, loadMnist, mnistFileCandidates, loadModel, saveModel } from 'nabla/node';
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

interface TrainOptions extends BackendFlags {
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
  data?: string;
  progress: boolean;
}

export function registerTrain(program: Command): void {
  const command = program
    .command('train')
    .description('train a network on MNIST and save it (defaults: the npm start network)')
    .option('--model <preset>', `architecture: ${MODEL_PRESET_NAMES.map((n) => `${n} (${MODEL_PRESETS[n].description})`).join('; ')}`, oneOf(MODEL_PRESET_NAMES), 'mlp')
    .option('--layers <spec>', `any layer sequence, comma-separated, e.g. "conv:8x5x5,relu,maxpool:2,flatten,dense:10"; tokens: ${layerSpecGrammar()}`)
    .option('--augment', 'shift training images by up to 2 pixels and rotate them by up to 10°, at random (seeded)', false)
    .option('--hidden <sizes>', 'hidden layer sizes, comma-separated ("none" for no hidden layer)', sizeList, DEFAULTS.hidden)
    .option('--activation <name>', `hidden activation: ${MLP_ACTIVATIONS.join('|')}`, oneOf(MLP_ACTIVATIONS), 'relu')
    .option('--output <name>', `output activation: ${MLP_OUTPUTS.join('|')} (default: none for ce, sigmoid for mse)`, oneOf(MLP_OUTPUTS))
    .option('--loss <name>', 'loss: ce (softmax cross-entropy) | mse (the notes\' quadratic cost)', oneOf(['ce', 'mse'] as const), 'ce')
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
    .option('--data <dir>', 'read MNIST-format IDX files (plain or .gz) from this folder instead of the bundled set')
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
    ...mnistFileCandidates(opts.data).map((path) => ({ path, role: 'data file' })),
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

  // Data first: a bad data folder should fail before any work.
  let all = loadMnist('train', opts.data);
  if (opts.limit !== undefined) all = sliceDataset(all, 0, Math.min(opts.limit, all.count));
  warnLimitOver(opts.limit, all.count, `training samples in ${dataSource(opts.data)}`);
  // The default hold-out (5,000 of 60,000) shrinks with --limit to a tenth of the samples.
  if (cmd.getOptionValueSource('val') !== 'cli') opts.val = Math.min(opts.val, Math.floor(all.count / 10));
  if (opts.val >= all.count) {
    throw new NablaError({
      where: 'flag --val', expected: `fewer than the ${all.count} training samples`, found: String(opts.val),
      hint: 'use a smaller --val, or --val 0 for no validation split',
    });
  }
  const { train: trainSet, val } = splitDataset(all, opts.val);
  const test = loadMnist('test', opts.data);
  // An empty test set would score 0/0 = NaN% after the whole run: refuse it before training.
  if (opts.test) checkSamples(test, test.features, test.classes, `test set (${dataSource(opts.data)})`, 1);
  if (opts.test && (test.features !== trainSet.features || test.classes !== trainSet.classes)) {
    const images = mnistFileCandidates(opts.data).filter((p) => existsSync(p));
    const name = (prefix: string) => images.find((p) => basename(p).startsWith(prefix)) ?? prefix;
    throw new NablaError({
      where: `test images file "${name('t10k-images')}"`, expected: `images of ${trainSet.features} pixels and ${trainSet.classes} classes, as in "${name('train-images')}"`,
      found: `${test.features} pixels and ${test.classes} classes`, hint: 'the training and test sets must have the same image size; or train with --no-test',
    });
  }

  const backend = await backendFromFlags(opts);
  const { model, loss, info } = modelFromFlags(opts, cmd, trainSet.features, trainSet.classes, ckpt, backend);
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
        }));
      } else {
        const v = log.valLoss === undefined ? '' : `  val_loss ${log.valLoss.toFixed(4)}  val_acc ${pct(log.valAccuracy!)}`;
        console.log(`epoch ${log.epoch}/${opts.epochs}  loss ${log.loss.toFixed(4)}  acc ${pct(log.accuracy!)}${v}  ${log.seconds.toFixed(1)}s`);
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

  const side = Math.round(Math.sqrt(trainSet.features));
  const augmenter = opts.augment ? new ImageAugmenter(model.rng, { height: side, width: side, maxShift: 2, maxRotation: 10 }) : undefined;
  const t0 = performance.now();
  const training: TrainingInfo = {
    ...info, loss, seed: opts.seed, epochs: opts.epochs, batchSize: opts.batchSize,
    optimizer: {
      name: opts.optimizer, lr, momentum: opts.momentum, nesterov: opts.nesterov, weightDecay: opts.weightDecay, schedule: opts.schedule,
      warmup: opts.warmup, gamma: opts.gamma, stepSize: opts.stepSize, clipNorm: opts.clipNorm, earlyStopping: opts.earlyStopping,
    },
    dataset: dataSource(opts.data), trainSamples: trainSet.count, valSamples: val.count,
    ...(augmenter ? { augment: { maxShift: 2, maxRotation: 10 } } : {}),
    preprocessing: { pixels: 'byte / 255, in [0, 1]', layout: 'N x 784, row-major 28 x 28, white digit on black', labels: 'one-hot, 10 classes' },
  };
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
      validationData: val.count > 0 ? val : undefined, callbacks, clipNorm: opts.clipNorm, resume,
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
  const vEv = val.count > 0 ? model.evaluate(val, { loss, task: 'classification' }) : undefined;
  if (vEv) training.validation = { loss: vEv.loss, accuracy: vEv.accuracy };
  if (stopper) training.earlyStopping = { stopped: stopper.stopped, bestEpoch: stopper.bestEpoch, best: stopper.best };
  training.trainSeconds = seconds;
  if (!opts.test) {
    saveModel(opts.out, model, training);
    if (opts.json) {
      console.log(JSON.stringify({
        type: 'result', test_loss: null, test_accuracy: null, val_loss: vEv?.loss ?? null, val_accuracy: vEv?.accuracy ?? null,
        epochs_run: training.history.epochs.length, train_seconds: seconds, model: opts.out,
      }));
    } else {
      say(`trained in ${seconds.toFixed(1)}s; model saved to ${opts.out} (not evaluated on the test set: --no-test)`);
    }
    return;
  }
  const ev = model.evaluate(test, { loss, task: 'classification' });
  training.test = { loss: ev.loss, accuracy: ev.accuracy };
  saveModel(opts.out, model, training);
  if (opts.json) {
    console.log(JSON.stringify({
      type: 'result', test_loss: ev.loss, test_accuracy: ev.accuracy, val_loss: vEv?.loss ?? null, val_accuracy: vEv?.accuracy ?? null,
      epochs_run: training.history.epochs.length, train_seconds: seconds, model: opts.out,
    }));
  } else {
    say(`test loss ${ev.loss.toFixed(4)}  test accuracy ${pct(ev.accuracy)} (${Math.round(ev.accuracy * ev.count)}/${ev.count})`);
    say(`trained in ${seconds.toFixed(1)}s; model saved to ${opts.out}`);
  }
}

function modelFromFlags(opts: TrainOptions, cmd: Command, features: number, classes: number, ckpt: Checkpoint | undefined, backend: Backend) {
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
  // MNIST images: 28×28 grey, a flat row of 784 values per sample either way.
  const side = Math.round(Math.sqrt(features));
  const common = { inputShape: [1, side, side], classes, seed: opts.seed, backend };
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
    const model = buildModel({ ...common, role: `flag ${flag}`, ...(opts.layers !== undefined ? { layers: opts.layers } : { preset: opts.model }) });
    return { model, loss: opts.loss, info: { architecture: opts.layers ?? opts.model } as TrainingInfo };
  }
  const output = opts.output ?? (opts.loss === 'mse' ? 'sigmoid' : 'none');
  if (opts.loss === 'ce' && output !== 'none') {
    throw new NablaError({
      where: 'flag --output', expected: 'none with --loss ce (the loss applies softmax itself)', found: output,
      hint: 'drop --output, or use --loss mse',
    });
  }
  const model = buildModel({ ...common, role: 'flag --hidden', hidden: opts.hidden, activation: opts.activation, output });
  return { model, loss: opts.loss, info: {} as TrainingInfo };
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
  readonly exitCode = 130;
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
