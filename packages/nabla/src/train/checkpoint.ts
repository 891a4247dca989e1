/**
 * Checkpoints: everything needed to continue a training run bit for bit, in one safetensors file.
 *
 * Tensors (F32):
 *   "0.weight", "0.bias", ...           the model's state dict (the names of model files), with
 *                                       buffers such as batch-norm running statistics
 *   "optimizer.m.0.weight", ".v."       Adam/AdamW moments      } one per parameter
 *   "optimizer.velocity.0.weight"       SGD momentum velocity   }
 *   "early_stopping.best.0.weight"      the best epoch's weights (early stopping with restore-best)
 * Metadata (strings, JSON where structured):
 *   "nabla_checkpoint"  format version ("1")       "architecture"  ModelConfig, as model files
 *   "optimizer"         type, hyperparameters, t   "rng"           the model Rng state
 *   "state"             FitState: epoch, batch in the epoch, history, partial-epoch sums
 *   "options"           the caller's training options (the CLI's flags), to refuse a mismatched resume
 *   "early_stopping"    its counters, when used    "crc32"         of everything above, see below
 *
 * NOTE: safetensors has no checksum, and a flipped byte in a weight is still a valid float. The
 * "crc32" entry covers every tensor's bytes and every other metadata value, so a damaged file is
 * refused instead of resuming silently from wrong numbers.
 */
import { NablaError } from '../errors.ts';
import { crc32 } from '../io/crc32.ts';
import { decodeSafetensors, encodeSafetensors } from '../io/safetensors.ts';
import { checkFiniteTensors } from '../io/importWeights.ts';
import { Adam, AdamW } from '../optim/adam.ts';
import type { Optimizer } from '../optim/optimizer.ts';
import { SGD } from '../optim/sgd.ts';
import { Tensor, sameShape, shapeToString } from '../tensor.ts';
import type { EarlyStopping, EarlyStoppingState } from './earlyStopping.ts';
import type { FitState } from './fit.ts';
import type { ModelConfig, Sequential } from '../model/sequential.ts';

/**
 * Version of the checkpoint layout, in metadata "nabla_checkpoint".
 *
 * @example
 * decodeCheckpoint(bytes).state; // refuses files of another version
 */
export const CHECKPOINT_FORMAT_VERSION = '1';

/**
 * The optimiser's type, hyperparameters and step count, as a checkpoint stores them.
 *
 * @example
 * decodeCheckpoint(bytes).optimizer; // { type: 'Adam', hyper: { beta1: 0.9, ... }, t: 3440 }
 */
export interface OptimizerState {
  type: 'SGD' | 'Adam' | 'AdamW';
  /** Hyperparameters that must match to resume (lr is not among them: schedules change it). */
  hyper: Record<string, number | boolean>;
  /** Adam's step count. */
  t?: number;
}

/**
 * A decoded checkpoint, checked for integrity and structure but not yet applied to a model.
 *
 * @example
 * const { architecture, options, state } = decodeCheckpoint(bytes);
 */
export interface Checkpoint {
  architecture: ModelConfig;
  optimizer: OptimizerState;
  rng: number[];
  state: FitState;
  options: Record<string, unknown>;
  earlyStopping?: EarlyStoppingState;
  tensors: Map<string, Tensor>;
}

/**
 * What encodeCheckpoint saves.
 *
 * @example
 * encodeCheckpoint({ model, optimizer, state: model.trainingState(), earlyStopping: stopper, options: { lr: 2e-3 } });
 */
export interface CheckpointParts {
  model: Sequential;
  optimizer: Optimizer;
  /** Where fit stands: model.trainingState(). */
  state: FitState;
  /** Anything the caller needs to resume identically (the CLI stores its flags). */
  options?: Record<string, unknown>;
  earlyStopping?: EarlyStopping;
}

/**
 * Serialise a training run's state to safetensors bytes.
 *
 * @example
 * const bytes = encodeCheckpoint({ model, optimizer, state: model.trainingState(), options: { lr: 2e-3 } });
 */
export function encodeCheckpoint(parts: CheckpointParts): Uint8Array {
  const { model, optimizer, state, earlyStopping } = parts;
  const tensors: Array<[string, Tensor]> = [...model.stateDict()];
  const opt = optimizerState(optimizer);
  optimizer.params.forEach((p, i) => {
    if (optimizer instanceof Adam) {
      tensors.push([`optimizer.m.${p.name}`, new Tensor(p.value.shape, optimizer.m[i])]);
      tensors.push([`optimizer.v.${p.name}`, new Tensor(p.value.shape, optimizer.v[i])]);
    } else if (optimizer instanceof SGD && optimizer.momentum > 0) {
      tensors.push([`optimizer.velocity.${p.name}`, new Tensor(p.value.shape, optimizer.velocity[i])]);
    }
  });
  if (earlyStopping?.bestWeights) {
    [...model.stateDict()].forEach(([name, t], i) => tensors.push([`early_stopping.best.${name}`, new Tensor(t.shape, earlyStopping.bestWeights![i])]));
  }
  const metadata: Record<string, string> = {
    format: 'pt',
    nabla_checkpoint: CHECKPOINT_FORMAT_VERSION,
    architecture: JSON.stringify(model.config()),
    optimizer: JSON.stringify(opt),
    rng: JSON.stringify(model.rng.getState()),
    state: JSON.stringify(state),
    options: JSON.stringify(parts.options ?? {}),
  };
  if (earlyStopping) metadata.early_stopping = JSON.stringify(earlyStopping.getState());
  metadata.crc32 = String(checksum(tensors, metadata));
  return encodeSafetensors(tensors, metadata);
}

/**
 * Read and check checkpoint bytes: structure (safetensors), integrity (CRC-32), and that every
 * entry is there and well-formed. Errors name `role`, e.g. 'checkpoint "models/m.ckpt.safetensors"'.
 *
 * @example
 * const ckpt = decodeCheckpoint(bytes, 'checkpoint "run.ckpt.safetensors"');
 * const model = Sequential.fromConfig(ckpt.architecture);
 */
export function decodeCheckpoint(bytes: Uint8Array, role = 'checkpoint'): Checkpoint {
  const { tensors, metadata } = decodeSafetensors(bytes, role);
  if (metadata.nabla_checkpoint === undefined) {
    throw new NablaError({
      where: role, expected: 'a nabla checkpoint (metadata "nabla_checkpoint")', found: `metadata keys [${Object.keys(metadata).join(', ')}]`,
      hint: metadata.architecture !== undefined ? 'this is a model file; pass it to --init instead of --resume' : 'pass a .ckpt.safetensors file written by nabla train',
    });
  }
  if (metadata.nabla_checkpoint !== CHECKPOINT_FORMAT_VERSION) {
    throw new NablaError({ where: role, expected: `checkpoint format ${CHECKPOINT_FORMAT_VERSION}`, found: metadata.nabla_checkpoint, hint: 'it was written by another nabla version' });
  }
  const { crc32: stored, ...rest } = metadata;
  const actual = checksum([...tensors], rest);
  if (String(actual) !== stored) {
    throw new NablaError({
      where: role, expected: `CRC-32 ${stored ?? '(missing)'}`, found: `${actual}: the contents are damaged`,
      hint: 'the file was corrupted after it was written; resume from another checkpoint or start again',
    });
  }
  const json = <T>(key: string, ok: (v: unknown) => boolean, what: string): T => {
    let v: unknown;
    try {
      v = metadata[key] === undefined ? undefined : JSON.parse(metadata[key]);
    } catch (e) {
      throw new NablaError({ where: role, expected: `valid JSON in metadata "${key}"`, found: (e as Error).message });
    }
    if (!ok(v)) throw new NablaError({ where: role, expected: `metadata "${key}": ${what}`, found: String(metadata[key]).slice(0, 80) });
    return v as T;
  };
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  const architecture = json<ModelConfig>('architecture', (v) => isObj(v) && Array.isArray(v.inputShape) && Array.isArray(v.layers), 'a model architecture');
  const optimizer = json<OptimizerState>('optimizer', (v) => isObj(v) && ['SGD', 'Adam', 'AdamW'].includes(v.type as string) && isObj(v.hyper), 'an optimiser state');
  const rng = json<number[]>('rng', (v) => Array.isArray(v) && v.length === 5, 'an Rng state of 5 numbers');
  const state = json<FitState>('state', (v) => isObj(v) && Number.isInteger(v.epoch) && Number.isInteger(v.batch) &&
    isObj(v.history) && Array.isArray((v.history as { epochs?: unknown }).epochs), 'a training state (epoch, batch, history)');
  const options = json<Record<string, unknown>>('options', isObj, 'an object');
  const earlyStopping = metadata.early_stopping === undefined ? undefined
    : json<EarlyStoppingState>('early_stopping', (v) => isObj(v) && Number.isInteger(v.wait), 'an early-stopping state');
  return { architecture, optimizer, rng, state, options, earlyStopping, tensors };
}

/**
 * Put a checkpoint's weights, optimiser state, Rng state and early-stopping state into a model
 * built from `ckpt.architecture` and a fresh optimiser of the same kind; returns the FitState to
 * pass to `fit({ resume })`. Everything is checked before anything is changed.
 *
 * @example
 * const resume = restoreCheckpoint(ckpt, { model, optimizer });
 * model.fit(train, { optimizer, loss: 'ce', epochs: 8, resume });
 */
export function restoreCheckpoint(
  ckpt: Checkpoint,
  target: { model: Sequential; optimizer: Optimizer; earlyStopping?: EarlyStopping },
  role = 'checkpoint',
): FitState {
  const { model, optimizer, earlyStopping } = target;
  const have = JSON.stringify(model.config());
  const saved = JSON.stringify(ckpt.architecture);
  if (have !== saved) {
    throw new NablaError({
      where: role, expected: `the architecture ${describeArchitecture(model.config())}`, found: describeArchitecture(ckpt.architecture),
      hint: 'this checkpoint belongs to another network; resume with the flags it was made with, or start a new run',
    });
  }
  const opt = optimizerState(optimizer);
  if (opt.type !== ckpt.optimizer.type || JSON.stringify(opt.hyper) !== JSON.stringify(ckpt.optimizer.hyper)) {
    throw new NablaError({
      where: role, expected: `optimiser ${describeOptimizer(opt)}`, found: describeOptimizer(ckpt.optimizer),
      hint: 'resume with the optimiser settings the checkpoint was made with',
    });
  }
  const want = new Map<string, Tensor>();
  const take = (name: string, shape: readonly number[]): Tensor => {
    const t = ckpt.tensors.get(name);
    if (!t || !sameShape(t.shape, shape)) {
      throw new NablaError({
        where: role, expected: `a tensor "${name}" ${shapeToString(shape)}`, found: t ? shapeToString(t.shape) : 'none',
        hint: 'the checkpoint is incomplete or from another network',
      });
    }
    want.set(name, t);
    return t;
  };
  // The state dict: parameters and buffers (batch-norm running statistics).
  const state = [...model.stateDict()];
  const weights = new Map(state.map(([name, t]) => [name, take(name, t.shape)]));
  const moments = optimizer.params.map((p) => {
    if (optimizer instanceof Adam) return [take(`optimizer.m.${p.name}`, p.value.shape), take(`optimizer.v.${p.name}`, p.value.shape)];
    if (optimizer instanceof SGD && optimizer.momentum > 0) return [take(`optimizer.velocity.${p.name}`, p.value.shape)];
    return [];
  });
  const hasBest = ckpt.tensors.has(`early_stopping.best.${state[0]?.[0]}`);
  const best = hasBest && earlyStopping ? state.map(([name, t]) => take(`early_stopping.best.${name}`, t.shape).data) : undefined;
  const extra = [...ckpt.tensors.keys()].filter((k) => !want.has(k) && !k.startsWith('early_stopping.best.'));
  if (extra.length > 0) {
    throw new NablaError({ where: role, expected: 'only the tensors of this network and optimiser', found: `also ${extra.slice(0, 3).join(', ')}` });
  }
  if ((earlyStopping !== undefined) !== (ckpt.earlyStopping !== undefined)) {
    throw new NablaError({
      where: role, expected: earlyStopping ? 'early-stopping state (the run is resumed with early stopping)' : 'a run without early stopping',
      found: ckpt.earlyStopping ? 'early-stopping state' : 'none', hint: 'resume with the settings the checkpoint was made with',
    });
  }

  checkFiniteTensors(want, role);
  model.loadStateDict(weights, role);
  optimizer.params.forEach((_, i) => {
    if (optimizer instanceof Adam) {
      optimizer.m[i].set(moments[i][0].data);
      optimizer.v[i].set(moments[i][1].data);
    } else if (optimizer instanceof SGD && optimizer.momentum > 0) {
      optimizer.velocity[i].set(moments[i][0].data);
    }
  });
  if (optimizer instanceof Adam) optimizer.t = ckpt.optimizer.t ?? 0;
  model.rng.setState(ckpt.rng);
  if (earlyStopping && ckpt.earlyStopping) earlyStopping.setState(ckpt.earlyStopping, best);
  return structuredClone(ckpt.state);
}

function optimizerState(optimizer: Optimizer): OptimizerState {
  if (optimizer instanceof Adam) {
    return {
      type: optimizer instanceof AdamW ? 'AdamW' : 'Adam', t: optimizer.t,
      hyper: { beta1: optimizer.beta1, beta2: optimizer.beta2, eps: optimizer.eps, weightDecay: optimizer.weightDecay },
    };
  }
  if (optimizer instanceof SGD) {
    return { type: 'SGD', hyper: { momentum: optimizer.momentum, nesterov: optimizer.nesterov, weightDecay: optimizer.weightDecay } };
  }
  throw new NablaError({ where: 'checkpoint', expected: 'an SGD, Adam or AdamW optimiser', found: optimizer.constructor.name });
}

/**
 * "784 → Dense 256 → ReLU → Dense 10", for messages.
 *
 * @example
 * describeArchitecture(model.config()); // 'input [784] → Dense 256 → ReLU → Dense 10'
 */
export function describeArchitecture(config: ModelConfig): string {
  const layers = (config.layers ?? []).map((l) => (l.type === 'Dense' ? `Dense ${String(l.units)}` : String(l.type)));
  return [`input [${(config.inputShape ?? []).join(', ')}]`, ...layers].join(' → ');
}

function describeOptimizer(o: OptimizerState): string {
  return `${o.type} (${Object.entries(o.hyper).map(([k, v]) => `${k} ${v}`).join(', ')})`;
}

function checksum(tensors: Array<[string, Tensor]>, metadata: Record<string, string>): number {
  let crc = 0;
  const enc = new TextEncoder();
  for (const key of Object.keys(metadata).sort()) crc = crc32(enc.encode(`${key}=${metadata[key]};`), crc);
  for (const [name, t] of tensors) {
    crc = crc32(enc.encode(name), crc);
    // NOTE: the tensors' own bytes (little-endian on every mainstream host, as the file stores them).
    crc = crc32(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), crc);
  }
  return crc;
}
