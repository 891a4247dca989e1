/**
 * nabla train: build a network from flags (or start from a model file), train it on MNIST, report
 * per-epoch figures and the final test accuracy, and save the model atomically.
 */
import type { Command } from 'commander';
import {
  Adam, AdamW, Dense, DivergenceError, LeakyReLU, NablaError, ReLU, SGD, Sequential, Sigmoid, Softmax, Tanh,
  cosineDecay, sliceDataset, splitDataset, shapeSize, parseLayerSpec, specWantsImages, layerFromConfig,
  MODEL_PRESETS, MODEL_PRESET_NAMES, LAYER_SPEC_GRAMMAR, ImageAugmenter, type Callback, type EpochLog, type Layer, type LossName, type Optimizer,
  describeBackend, type Backend, type TrainingInfo,
} from '../../src/index.ts';
import { addBackendOptions, backendFromFlags, type BackendFlags } from '../backendOptions.ts';
import { dataSource, loadMnist } from '../mnistFiles.ts';
import { loadModelFile, saveModelFile } from '../modelFiles.ts';
import { intIn, numberIn, oneOf, sizeList } from '../options.ts';
import { pct } from '../output.ts';
import { progressCallback } from '../progress.ts';

const ACTIVATIONS = ['relu', 'leaky-relu', 'sigmoid', 'tanh'] as const;
const OUTPUTS = ['none', 'sigmoid', 'softmax'] as const;
const OPTIMIZERS = ['adam', 'adamw', 'sgd'] as const;
const SCHEDULES = ['cosine', 'constant'] as const;
type Activation = (typeof ACTIVATIONS)[number];
type Output = (typeof OUTPUTS)[number];

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
  activation: Activation;
  output?: Output;
  loss: LossName;
  optimizer: (typeof OPTIMIZERS)[number];
  lr?: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  schedule: (typeof SCHEDULES)[number];
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
    .option('--layers <spec>', `any layer sequence, comma-separated, e.g. "conv:8x5x5,relu,maxpool:2,flatten,dense:10"; tokens: ${LAYER_SPEC_GRAMMAR}`)
    .option('--augment', 'shift training images by up to 2 pixels and rotate them by up to 10°, at random (seeded)', false)
    .option('--hidden <sizes>', 'hidden layer sizes, comma-separated ("none" for no hidden layer)', sizeList, DEFAULTS.hidden)
    .option('--activation <name>', `hidden activation: ${ACTIVATIONS.join('|')}`, oneOf(ACTIVATIONS), 'relu')
    .option('--output <name>', `output activation: ${OUTPUTS.join('|')} (default: none for ce, sigmoid for mse)`, oneOf(OUTPUTS))
    .option('--loss <name>', 'loss: ce (softmax cross-entropy) | mse (the notes\' quadratic cost)', oneOf(['ce', 'mse'] as const), 'ce')
    .option('--optimizer <name>', `optimiser: ${OPTIMIZERS.join('|')}`, oneOf(OPTIMIZERS), 'adam')
    .option('--lr <rate>', `learning rate (default: ${DEFAULTS.lr.adam} for adam/adamw, ${DEFAULTS.lr.sgd} for sgd)`, numberIn(0, Infinity, { minOpen: true }))
    .option('--momentum <m>', 'SGD momentum in [0, 1)', numberIn(0, 1, { maxOpen: true }), 0)
    .option('--nesterov', 'SGD with Nesterov momentum (needs --momentum > 0)', false)
    .option('--weight-decay <lambda>', 'weight decay (L2 for sgd/adam, decoupled for adamw)', numberIn(0, Infinity), 0)
    .option('--schedule <name>', `learning-rate schedule: ${SCHEDULES.join('|')}`, oneOf(SCHEDULES), 'cosine')
    .option('--epochs <n>', 'passes over the training data (0: save the initialised model untouched)', intIn(0, 100000), DEFAULTS.epochs)
    .option('--batch-size <n>', 'samples per gradient step', intIn(1, 60000), DEFAULTS.batchSize)
    .option('--seed <n>', 'seed for initialisation and shuffling', intIn(0, 2 ** 32 - 1), DEFAULTS.seed)
    .option('--val <n>', 'training samples held out for validation, taken from the end (0 for none; the default shrinks to a tenth with --limit)', intIn(0), DEFAULTS.val)
    .option('--limit <n>', 'use only the first N training samples', intIn(1))
    .option('--no-shuffle', 'keep the training samples in file order')
    .option('--out <file>', 'where to save the model (.safetensors)', DEFAULTS.out)
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
  if (opts.nesterov && opts.momentum === 0) {
    throw new NablaError({ where: 'flag --nesterov', expected: '--momentum > 0 with it', found: 'momentum 0', hint: 'add --momentum 0.9' });
  }
  if (opts.optimizer !== 'sgd' && (cmd.getOptionValueSource('momentum') === 'cli' || opts.nesterov)) {
    throw new NablaError({ where: 'flag --momentum/--nesterov', expected: '--optimizer sgd', found: `--optimizer ${opts.optimizer}` });
  }

  // Data first: a bad data folder should fail before any work.
  let all = loadMnist('train', opts.data);
  if (opts.limit !== undefined) all = sliceDataset(all, 0, Math.min(opts.limit, all.count));
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

  const backend = await backendFromFlags(opts);
  const { model, loss, info } = buildModel(opts, cmd, trainSet.features, trainSet.classes, backend);
  const lr = opts.lr ?? DEFAULTS.lr[opts.optimizer];
  const optimizer = makeOptimizer(opts, model, lr, cmd.getOptionValueSource('weightDecay') === 'cli');

  say(model.summary());
  say(`training on ${trainSet.count} samples, validating on ${val.count}; ${opts.epochs} epoch${opts.epochs === 1 ? "" : "s"}, batch ${opts.batchSize}, ` +
    `${opts.optimizer} lr ${lr} (${opts.schedule}), loss ${loss}, seed ${opts.seed}; backend ${describeBackend(model.backend)}`);

  const printEpoch: Callback = {
    onEpochEnd(log: EpochLog) {
      if (opts.json) {
        console.log(JSON.stringify({
          type: 'epoch', epoch: log.epoch, epochs: opts.epochs, loss: log.loss, accuracy: log.accuracy,
          val_loss: log.valLoss ?? null, val_accuracy: log.valAccuracy ?? null, lr: log.lr, seconds: log.seconds,
        }));
      } else {
        const v = log.valLoss === undefined ? '' : `  val_loss ${log.valLoss.toFixed(4)}  val_acc ${pct(log.valAccuracy!)}`;
        console.log(`epoch ${log.epoch}/${opts.epochs}  loss ${log.loss.toFixed(4)}  acc ${pct(log.accuracy)}${v}  ${log.seconds.toFixed(1)}s`);
      }
    },
  };
  const callbacks: Callback[] = [progressCallback(opts.epochs, opts.progress && !opts.json), printEpoch];
  if (opts.schedule === 'cosine') callbacks.unshift(cosineDecay(optimizer));

  const side = Math.round(Math.sqrt(trainSet.features));
  const augmenter = opts.augment ? new ImageAugmenter(model.rng, { height: side, width: side, maxShift: 2, maxRotation: 10 }) : undefined;
  const t0 = performance.now();
  const training: TrainingInfo = {
    ...info, loss, seed: opts.seed, epochs: opts.epochs, batchSize: opts.batchSize,
    optimizer: { name: opts.optimizer, lr, momentum: opts.momentum, nesterov: opts.nesterov, weightDecay: opts.weightDecay, schedule: opts.schedule },
    dataset: dataSource(opts.data), trainSamples: trainSet.count, valSamples: val.count,
    ...(augmenter ? { augment: { maxShift: 2, maxRotation: 10 } } : {}),
    preprocessing: { pixels: 'byte / 255, in [0, 1]', layout: 'N x 784, row-major 28 x 28, white digit on black', labels: 'one-hot, 10 classes' },
  };
  try {
    training.history = model.fit(trainSet, {
      optimizer, loss, epochs: opts.epochs, batchSize: opts.batchSize, shuffle: opts.shuffle,
      validationData: val.count > 0 ? val : undefined, callbacks,
      augment: augmenter ? (x, n) => augmenter.apply(x, n) : undefined,
    });
  } catch (e) {
    if (e instanceof DivergenceError) {
      training.history = e.history;
      training.diverged = { epoch: e.epoch, batch: e.batch };
      saveModelFile(opts.out, model, training);
      const done = e.history.epochs.length;
      process.stderr.write(`nabla: saved the last good weights (${done === 0 ? 'as initialised' : `end of epoch ${done}`}) to ${opts.out}\n`);
    }
    throw e;
  }
  const seconds = (performance.now() - t0) / 1000;

  const ev = model.evaluate(test, { loss });
  training.test = { loss: ev.loss, accuracy: ev.accuracy };
  training.trainSeconds = seconds;
  saveModelFile(opts.out, model, training);
  if (opts.json) {
    console.log(JSON.stringify({ type: 'result', test_loss: ev.loss, test_accuracy: ev.accuracy, train_seconds: seconds, model: opts.out }));
  } else {
    say(`test loss ${ev.loss.toFixed(4)}  test accuracy ${pct(ev.accuracy)} (${Math.round(ev.accuracy * ev.count)}/${ev.count})`);
    say(`trained in ${seconds.toFixed(1)}s; model saved to ${opts.out}`);
  }
}

function buildModel(opts: TrainOptions, cmd: Command, features: number, classes: number, backend: Backend) {
  if (opts.init) {
    const clash = ['hidden', 'activation', 'output', 'model', 'layers'].filter((f) => cmd.getOptionValueSource(f) === 'cli');
    if (clash.length > 0) {
      throw new NablaError({
        where: `flag --${clash[0]}`, expected: 'no architecture flags with --init', found: `--${clash.join(', --')}`,
        hint: 'the architecture comes from the --init model file; drop these flags',
      });
    }
    const { model, training } = loadModelFile(opts.init, { seed: opts.seed, backend });
    if (shapeSize(model.inputShape) !== features) {
      throw new NablaError({ where: `model file "${opts.init}"`, expected: `an input of ${features} features`, found: `input shape [${model.inputShape.join(', ')}]` });
    }
    // A model's loss is part of what it was trained for; keep it unless the user says otherwise.
    const loss = cmd.getOptionValueSource('loss') === 'cli' ? opts.loss : (training.loss ?? opts.loss);
    return { model, loss, info: { initFrom: opts.init } as TrainingInfo };
  }
  if (opts.layers !== undefined || opts.model !== 'mlp') return specModel(opts, cmd, features, classes, backend);
  const output = opts.output ?? (opts.loss === 'mse' ? 'sigmoid' : 'none');
  if (opts.loss === 'ce' && output !== 'none') {
    throw new NablaError({
      where: 'flag --output', expected: 'none with --loss ce (the loss applies softmax itself)', found: output,
      hint: 'drop --output, or use --loss mse',
    });
  }
  const init = opts.activation === 'sigmoid' || opts.activation === 'tanh' ? 'xavier' : 'he';
  const layers: Layer[] = [];
  for (const h of opts.hidden) layers.push(new Dense(h, { init }), activationLayer(opts.activation));
  layers.push(new Dense(classes, { init: output === 'none' ? init : 'xavier' }));
  if (output === 'sigmoid') layers.push(new Sigmoid());
  if (output === 'softmax') layers.push(new Softmax());
  return { model: new Sequential(layers, { inputShape: [features], seed: opts.seed, backend }), loss: opts.loss, info: {} as TrainingInfo };
}

/** --layers or a --model preset other than mlp: the library parses the spec, we only check the ends. */
function specModel(opts: TrainOptions, cmd: Command, features: number, classes: number, backend: Backend) {
  const flag = opts.layers !== undefined ? '--layers' : '--model';
  const clash = ['hidden', 'activation', 'output', ...(opts.layers !== undefined ? ['model'] : [])]
    .filter((f) => cmd.getOptionValueSource(f) === 'cli');
  if (clash.length > 0) {
    throw new NablaError({
      where: `flag --${clash[0]}`, expected: `no --hidden, --activation, --output${flag === '--layers' ? ' or --model' : ''} with ${flag}`,
      found: `--${clash.join(', --')}`, hint: `${flag} describes the whole network; drop the other flags`,
    });
  }
  // MNIST images: 28×28 grey, a flat row of 784 values per sample either way.
  const side = Math.round(Math.sqrt(features));
  const imageShape = [1, side, side];
  const configs = opts.layers !== undefined ? parseLayerSpec(opts.layers) : parseLayerSpec(MODEL_PRESETS[opts.model].spec);
  const inputShape = specWantsImages(configs) ? imageShape : [features];
  const layers: Layer[] = configs.map((c, i) => layerFromConfig(c, i));
  const model = new Sequential(layers, { inputShape, seed: opts.seed, backend });
  if (shapeSize(model.outputShape) !== classes) {
    throw new NablaError({
      where: `flag ${flag}`, expected: `a network ending in ${classes} outputs (one per class)`,
      found: `output shape [N, ${model.outputShape.join(', ')}]`, hint: `end the spec with flatten,dense:${classes}`,
    });
  }
  return { model, loss: opts.loss, info: { architecture: opts.layers ?? opts.model } as TrainingInfo };
}

function activationLayer(name: Activation): Layer {
  switch (name) {
    case 'relu': return new ReLU();
    case 'leaky-relu': return new LeakyReLU(0.01);
    case 'sigmoid': return new Sigmoid();
    case 'tanh': return new Tanh();
  }
}

function makeOptimizer(opts: TrainOptions, model: Sequential, lr: number, decaySet: boolean): Optimizer {
  const params = model.parameters();
  const backend = model.backend;
  switch (opts.optimizer) {
    case 'sgd': return new SGD(params, { lr, momentum: opts.momentum, nesterov: opts.nesterov, weightDecay: opts.weightDecay, backend });
    case 'adam': return new Adam(params, { lr, weightDecay: opts.weightDecay, backend });
    // AdamW keeps its own default decay (0.01, as PyTorch) unless --weight-decay is given.
    case 'adamw': return new AdamW(params, { lr, weightDecay: decaySet ? opts.weightDecay : undefined, backend });
  }
}
