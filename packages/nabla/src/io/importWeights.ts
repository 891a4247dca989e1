/**
 * Import the other way: a PyTorch state_dict saved as safetensors (`safetensors.torch.save_file(
 * model.state_dict(), path)`), for an architecture described in nabla terms. The layouts already
 * agree (docs/architecture.md: nn.Sequential names, Linear weights [out, in], conv weights [OC, IC, KH, KW]),
 * so importing is: build the model, check every tensor, copy.
 *
 * PyTorch modules often wrap the Sequential (`self.net = nn.Sequential(...)`), which prefixes every
 * key ("net.0.weight"); `prefix` strips it, and a missing key whose name appears under some prefix
 * says which prefix to pass.
 */
import type { Backend } from '../backend/backend.ts';
import { NablaError } from '../errors.ts';
import { listSome } from '../listSome.ts';
import { withParameterBudget } from '../layers/layer.ts';
import { Sequential, type ModelConfig } from '../model/sequential.ts';
import { firstNonFinite, type Tensor } from '../tensor.ts';
import { decodeSafetensors } from './safetensors.ts';

/**
 * importStateDict's options.
 *
 * @example
 * importStateDict(bytes, parseArchitecture('784-10'), { prefix: 'net.', role: 'weights file "w.safetensors"' });
 */
export interface ImportOptions {
  /** Names the file in messages, e.g. 'weights file "mlp.safetensors"'. */
  role?: string;
  /** A key prefix to strip, e.g. "net." for a Sequential stored as `self.net`. */
  prefix?: string;
  seed?: number;
  backend?: Backend;
}

/**
 * Build `architecture` and load the state dict in `bytes` (F32, F64, F16 or BF16 tensors) into it.
 * Missing, extra or mis-shaped tensors throw a NablaError naming the tensor; nothing half-loads.
 *
 * @example
 * // in Python: save_file(model.state_dict(), "mlp.safetensors") for nn.Sequential(Linear(784, 128), ReLU(), Linear(128, 10))
 * const model = importStateDict(bytes, parseArchitecture('784-128-10 relu'));
 */
export function importStateDict(bytes: Uint8Array, architecture: ModelConfig, options: ImportOptions = {}): Sequential {
  const role = options.role ?? 'state dict';
  checkArchitecture(architecture);
  const { tensors: raw } = decodeSafetensors(bytes, role);
  const tensors = stripPrefix(raw, options.prefix ?? '', role);
  checkFiniteTensors(tensors, role);
  // The file's tensors bound what the architecture may allocate (as for model files; docs/limits.md).
  let stored = 0;
  for (const t of tensors.values()) stored += t.size;
  const model = withParameterBudget(stored + 2 ** 20, `the ${stored} values the file's ${tensors.size} tensors hold`, () =>
    Sequential.fromConfig(architecture, { seed: options.seed, backend: options.backend }));
  // Everything the model saves: parameters and, for layers that have them, buffers (running statistics).
  const wanted = [...model.stateDict().keys()];
  const missing = wanted.filter((n) => !tensors.has(n));
  if (missing.length > 0) {
    const prefixed = [...tensors.keys()].find((k) => k.endsWith(`.${missing[0]}`));
    throw new NablaError({
      where: role,
      expected: `the tensors ${wanted.join(', ')} for ${architectureLabel(architecture)}`,
      found: `no ${missing.map((n) => `"${n}"`).join(', ')} (the file has ${describeKeys(tensors)})`,
      hint: prefixed
        ? `the keys carry a prefix: pass prefix "${prefixed.slice(0, -missing[0].length)}"`
        : 'the architecture does not match the one the weights were saved from',
    });
  }
  model.loadStateDict(tensors, role);
  return model;
}

/**
 * Refuse a state dict holding NaN or ±Infinity, naming the tensor and the first bad index: such a
 * model loads, then predicts class 0 with null probabilities for every input. Model files, imported
 * weights and checkpoints all pass through here before anything is copied into a model.
 *
 * @example
 * checkFiniteTensors(decodeSafetensors(bytes).tensors, 'model file "m.safetensors"'); // throws on NaN
 */
export function checkFiniteTensors(tensors: ReadonlyMap<string, Tensor>, role: string): void {
  for (const [name, t] of tensors) {
    const i = firstNonFinite(t.data);
    if (i >= 0) {
      throw new NablaError({
        where: role, expected: 'finite weights', found: `${t.data[i]} in tensor "${name}" [${t.shape.join(', ')}] at index ${i}`,
        hint: 'the file comes from a run that diverged, or is damaged; retrain the model or re-export its weights',
      });
    }
  }
}

/** The architecture may come from a user's JSON: check its outline before building anything. */
function checkArchitecture(config: ModelConfig): void {
  const c = config as Partial<ModelConfig> | null;
  const ok = c !== null && typeof c === 'object' && Array.isArray(c.inputShape) && Array.isArray(c.layers) &&
    c.inputShape.length > 0 && c.inputShape.every((d) => Number.isInteger(d) && d > 0) &&
    c.layers.length > 0 && c.layers.every((l) => l !== null && typeof l === 'object' && typeof l.type === 'string');
  if (!ok) {
    throw new NablaError({
      where: 'architecture', expected: '{ "inputShape": [positive integers], "layers": [{ "type": ... }, ...] }',
      found: JSON.stringify(config)?.slice(0, 80) ?? String(config),
    });
  }
}

function stripPrefix(tensors: Map<string, Tensor>, prefix: string, role: string): Map<string, Tensor> {
  if (prefix === '') return tensors;
  const out = new Map<string, Tensor>();
  for (const [k, v] of tensors) {
    if (!k.startsWith(prefix)) {
      throw new NablaError({ where: role, expected: `every key to start with "${prefix}"`, found: `"${k}"` });
    }
    out.set(k.slice(prefix.length), v);
  }
  return out;
}

function describeKeys(tensors: Map<string, Tensor>): string {
  if (tensors.size === 0) return 'no tensors';
  return listSome([...tensors.keys()].map((k) => `"${k}"`), 6);
}

function architectureLabel(config: ModelConfig): string {
  return `input [${config.inputShape.join(', ')}], layers ${config.layers.map((l) => l.type).join(', ')}`;
}
