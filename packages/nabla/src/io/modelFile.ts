/**
 * Model files: one .safetensors file holding the weights, named as PyTorch's nn.Sequential state
 * dict names them ("0.weight" as [out, in], "0.bias"), and in `__metadata__`:
 *
 *   "format":       "pt"  (what PyTorch's own safetensors files say)
 *   "nabla":        format version of what follows ("1")
 *   "architecture": JSON ModelConfig: { inputShape, layers: [{ type, ... }] }
 *   "training":     JSON TrainingInfo: loss, optimiser, seed, history, preprocessing, task, class
 *                   or target names...
 *
 * A PyTorch user loads the weights unchanged (see README), and nabla rebuilds the model from the
 * architecture alone. Encoding and decoding work over bytes; the CLI writes them atomically.
 */
import { NablaError } from '../errors.ts';
import type { LossName } from '../losses/loss.ts';
import { Sequential, type ModelConfig } from '../model/sequential.ts';
import type { History } from '../train/fit.ts';
import type { Task } from '../train/metrics.ts';
import type { Backend } from '../backend/backend.ts';
import { withParameterBudget } from '../layers/layer.ts';
import { listSome } from '../listSome.ts';
import { decodeSafetensors, encodeSafetensors } from './safetensors.ts';
import { checkFiniteTensors } from './importWeights.ts';

/**
 * The version of the metadata layout, stored as "nabla" in every model file.
 *
 * @example
 * decodeSafetensors(bytes).metadata.nabla === MODEL_FORMAT_VERSION;
 */
export const MODEL_FORMAT_VERSION = '1';

/**
 * What the file records about how the weights were made; every field optional.
 *
 * @example
 * encodeModel(model, { loss: 'ce', seed: 1, preprocessing: { pixels: 'x / 255' } } satisfies TrainingInfo);
 */
export interface TrainingInfo {
  loss?: LossName;
  optimizer?: Record<string, unknown>;
  seed?: number;
  epochs?: number;
  batchSize?: number;
  history?: History;
  /** How inputs must be prepared, e.g. { pixels: 'x / 255', layout: 'N x 784, row-major' }. */
  preprocessing?: Record<string, unknown>;
  dataset?: string;
  test?: Score;
  validation?: Score;
  /** What the model does; absent in files from before issue 14 (read those as classifiers). */
  task?: Task;
  /** A classifier's class names, one per class (2 for a single-output binary model), e.g. ['cat', 'dog']. */
  classNames?: string[];
  /** A regression model's target names, one per output, e.g. ['price']. */
  targetNames?: string[];
  [key: string]: unknown;
}

/**
 * A model's figures on a data set, as TrainingInfo records them: accuracy for a classifier, MAE,
 * RMSE and R² for regression.
 *
 * @example
 * const test: Score = { loss: 0.07, accuracy: 0.978 };
 */
export interface Score {
  loss: number;
  accuracy?: number;
  mae?: number;
  rmse?: number;
  r2?: number;
}

/**
 * Serialise a model's weights and architecture (plus training information) to safetensors bytes.
 *
 * @example
 * const bytes = encodeModel(model, { loss: 'ce', seed: 1 });
 */
export function encodeModel(model: Sequential, training: TrainingInfo = {}): Uint8Array {
  // Buffers such as BatchNorm's num_batches_tracked are int64 in PyTorch: strict loading wants them so.
  const dtypes = Object.fromEntries(model.buffers().filter((b) => b.dtype).map((b) => [b.name, b.dtype!]));
  return encodeSafetensors([...model.stateDict()], {
    format: 'pt',
    nabla: MODEL_FORMAT_VERSION,
    architecture: JSON.stringify(model.config()),
    training: JSON.stringify(training),
  }, dtypes);
}

/**
 * decodeModel's result.
 *
 * @example
 * const { model, training }: LoadedModel = decodeModel(bytes);
 */
export interface LoadedModel {
  model: Sequential;
  training: TrainingInfo;
}

/**
 * Rebuild a model from safetensors bytes written by encodeModel. Every check names `role`
 * (e.g. 'model file "models/mnist.safetensors"'). `options.seed` seeds the model's Rng (used to
 * shuffle if it trains on); by default the seed recorded in the file. `options.backend` defaults
 * to `defaultBackend()`, as for every model.
 *
 * @example
 * const { model, training } = decodeModel(bytes, 'model file "mnist.safetensors"');
 */
export function decodeModel(
  bytes: Uint8Array, role = 'model file', options: { backend?: Backend; seed?: number } = {},
): LoadedModel {
  const { tensors, metadata } = decodeSafetensors(bytes, role);
  if (metadata.architecture === undefined) {
    throw new NablaError({
      where: role,
      expected: 'an "architecture" entry in the safetensors metadata',
      found: `metadata keys [${listSome(Object.keys(metadata))}]`,
      hint: 'this safetensors file was not written by nabla; load its weights into a model you build (model.loadStateDict)',
    });
  }
  const config = parseJson<ModelConfig>(metadata.architecture, role, 'architecture');
  if (
    !config || !Array.isArray(config.inputShape) || !Array.isArray(config.layers) ||
    !config.inputShape.every((d) => Number.isInteger(d) && d > 0) ||
    !config.layers.every((l) => l !== null && typeof l === 'object' && !Array.isArray(l))
  ) {
    throw new NablaError({
      where: role, expected: 'architecture JSON with "inputShape" (positive integers) and "layers" (objects) arrays',
      found: metadata.architecture.slice(0, 80),
    });
  }
  const training = metadata.training === undefined ? {} : checkTrainingInfo(parseJson<unknown>(metadata.training, role, 'training'), role);
  // Every parameter must be stored in the file, so the file's tensors bound what the architecture
  // may allocate: a tiny file declaring a huge layer is refused at that layer, before allocating it.
  // The slack (2^20 values, 8 MiB with gradients) leaves a near miss, a missing bias, to
  // loadStateDict, whose message names the missing tensor.
  let stored = 0;
  for (const t of tensors.values()) stored += t.size;
  let model: Sequential;
  try {
    // The seed drives shuffling if the model trains on: the caller's, else the one it was made with.
    model = withParameterBudget(stored + PARAMETER_SLACK, `the ${stored} values the file's ${tensors.size} tensors hold`, () =>
      Sequential.fromConfig(config, { seed: options.seed ?? training.seed, backend: options.backend }));
  } catch (e) {
    // Layer errors say "layer 1 (Dense): ..."; say which file that architecture came from too.
    if (e instanceof NablaError) {
      throw new NablaError({ where: `${role}, ${e.where}`, expected: e.expected, found: e.found, hint: e.hint });
    }
    throw e;
  }
  checkNames(training, model, role);
  checkFiniteTensors(tensors, role);
  model.loadStateDict(tensors, role);
  return { model, training };
}

/** How far a model file's architecture may exceed its tensors while building (see decodeModel). */
const PARAMETER_SLACK = 2 ** 20;

// The training record is read like a flag: every field nabla writes (and summary, report and the
// commands read) must have its type, or the file is refused naming the field. Other keys pass
// untouched, so a newer nabla's extra fields do not stop an older one.
type FieldCheck = [test: (v: unknown) => boolean, expected: string];
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const NUMBER: FieldCheck = [(v) => typeof v === 'number' && Number.isFinite(v), 'a number'];
const INTEGER: FieldCheck = [(v) => Number.isSafeInteger(v), 'an integer'];
const COUNT: FieldCheck = [(v) => Number.isSafeInteger(v) && (v as number) >= 0, 'an integer ≥ 0'];
const STRING: FieldCheck = [(v) => typeof v === 'string', 'a string'];
const OBJECT: FieldCheck = [isObject, 'a JSON object'];
// NOTE: a Record over LossName, so the compiler insists on every loss name (io depends on losses
// for types only, see docs/architecture.md).
const LOSSES: Record<LossName, true> = { mse: true, ce: true, huber: true, bce: true };
const TASK_NAMES: Record<Task, true> = { classification: true, regression: true };
const NAMES: FieldCheck = [
  (v) => Array.isArray(v) && v.length > 0 && v.every((n) => typeof n === 'string' && n.length > 0) && new Set(v).size === v.length,
  'a non-empty list of distinct non-empty strings',
];
const FIELDS: Record<string, FieldCheck> = {
  loss: [(v) => typeof v === 'string' && Object.hasOwn(LOSSES, v), `one of ${Object.keys(LOSSES).map((n) => `"${n}"`).join(', ')}`],
  optimizer: OBJECT, seed: INTEGER, epochs: COUNT, batchSize: COUNT, history: OBJECT, preprocessing: OBJECT,
  dataset: STRING, test: OBJECT, validation: OBJECT, trainSeconds: NUMBER, trainSamples: COUNT, valSamples: COUNT,
  diverged: OBJECT, earlyStopping: OBJECT, architecture: STRING, initFrom: STRING, augment: OBJECT,
  task: [(v) => typeof v === 'string' && Object.hasOwn(TASK_NAMES, v), `one of ${Object.keys(TASK_NAMES).map((n) => `"${n}"`).join(', ')}`],
  classNames: NAMES, targetNames: NAMES,
};
const EPOCH_FIELDS: Record<string, FieldCheck> = { epoch: COUNT, loss: NUMBER, seconds: NUMBER, lr: NUMBER };
// NOTE: a classifier's epochs have accuracy, a regression model's mae and rmse (issue 14).
const OPTIONAL_EPOCH_FIELDS: Record<string, FieldCheck> = {
  accuracy: NUMBER, mae: NUMBER, rmse: NUMBER, valLoss: NUMBER, valAccuracy: NUMBER, valMae: NUMBER, valRmse: NUMBER, valR2: NUMBER,
};
const SCORE_FIELDS: Record<string, FieldCheck> = { loss: NUMBER };
const OPTIONAL_SCORE_FIELDS: Record<string, FieldCheck> = { accuracy: NUMBER, mae: NUMBER, rmse: NUMBER, r2: NUMBER };

/** Check the parsed "training" metadata field by field; returns it typed. */
function checkTrainingInfo(info: unknown, role: string): TrainingInfo {
  const fail = (field: string, expected: string, value: unknown): never => {
    const shown = JSON.stringify(value) ?? String(value);
    throw new NablaError({
      where: `${role}, metadata "training"`, expected: `${field} to be ${expected}`,
      found: `${shown.length > 60 ? `${shown.slice(0, 60)}…` : shown} (${value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`})`,
      hint: 'the training record was edited or damaged; the weights themselves can still be taken over with nabla import <file> --layers ...',
    });
  };
  const check = (obj: Record<string, unknown>, fields: Record<string, FieldCheck>, at: string, required: boolean): void => {
    for (const [key, [test, expected]] of Object.entries(fields)) {
      const v = obj[key];
      if ((v !== undefined || required) && !test(v)) fail(`"${at}${key}"`, expected, v);
    }
  };
  if (!isObject(info)) fail('the record', 'a JSON object', info);
  const t = info as Record<string, unknown>;
  check(t, FIELDS, '', false);
  if (t.history !== undefined) {
    const epochs = (t.history as Record<string, unknown>).epochs;
    if (!Array.isArray(epochs)) fail('"history.epochs"', 'an array', epochs);
    (epochs as unknown[]).forEach((e, i) => {
      if (!isObject(e)) fail(`"history.epochs[${i}]"`, 'a JSON object', e);
      check(e as Record<string, unknown>, EPOCH_FIELDS, `history.epochs[${i}].`, true);
      check(e as Record<string, unknown>, OPTIONAL_EPOCH_FIELDS, `history.epochs[${i}].`, false);
    });
  }
  for (const key of ['test', 'validation']) {
    if (t[key] === undefined) continue;
    check(t[key] as Record<string, unknown>, SCORE_FIELDS, `${key}.`, true);
    check(t[key] as Record<string, unknown>, OPTIONAL_SCORE_FIELDS, `${key}.`, false);
  }
  return t as TrainingInfo;
}

/**
 * Class names must name every class the model tells apart (its outputs, or 2 for a single
 * output) and belong to a classifier; target names one per output, and to a regression model.
 */
function checkNames(t: TrainingInfo, model: Sequential, role: string): void {
  const fail = (expected: string, found: string, hint: string): never => {
    throw new NablaError({ where: `${role}, metadata "training"`, expected, found, hint });
  };
  if (t.classNames !== undefined && t.targetNames !== undefined) {
    fail('"classNames" (a classifier) or "targetNames" (a regression model)', 'both', 'a model is one or the other: drop the names that do not fit its task');
  }
  if (t.classNames !== undefined && t.task === 'regression') {
    fail('"targetNames" for a regression model', '"classNames" beside task "regression"', 'class names belong to classifiers');
  }
  if (t.targetNames !== undefined && t.task !== undefined && t.task !== 'regression') {
    fail('"classNames" for a classifier', `"targetNames" beside task "${t.task}"`, 'target names belong to regression models');
  }
  const k = model.outputShape.reduce((p, d) => p * d, 1);
  if (t.classNames !== undefined) {
    const classes = k === 1 ? 2 : k;
    if (t.classNames.length !== classes) {
      fail(`"classNames" to name the model's ${classes} classes${k === 1 ? ' (a single output: 2 classes, "no" then "yes")' : ''}`,
        `${t.classNames.length} names`, 'the names were written for another model or another data set');
    }
  }
  if (t.targetNames !== undefined && t.targetNames.length !== k) {
    fail(`"targetNames" to name the model's ${k} output${k === 1 ? '' : 's'}`, `${t.targetNames.length} names`,
      'the names were written for another model or another data set');
  }
}

function parseJson<T>(text: string, role: string, key: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new NablaError({
      where: role, expected: `valid JSON in metadata "${key}"`, found: (e as Error).message,
      hint: 'the file is damaged; re-save the model',
    });
  }
}
