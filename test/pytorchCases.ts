// The PyTorch reference fixtures of single layers and small networks (test/fixtures/pytorch-*-
// reference.json, made by scripts/make-pytorch-{conv,layer}-reference.py with scripts/pytorch_models.py):
// a case's model is built in nabla with PyTorch's weights, and every quantity the fixture holds is
// compared: the training-mode output, the cross-entropy loss, the input gradient and every parameter
// gradient (names as PyTorch's state dict), running statistics after that forward, and the
// evaluation-mode output. A layer's own test file runs the cases that hold it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NO_GRAD, Sequential, Tensor, compareClose, lossByName, type LayerConfig } from 'nabla';

type Nested = number | Nested[];

/** One case (see the scripts' headers); the fields after `grads` are there when the fixture has them. */
export interface ReferenceCase {
  name: string;
  inputShape: number[];
  layers: LayerConfig[];
  state: Record<string, Nested>;
  x: number[][];
  y: number[][];
  loss: number;
  grads: Record<string, Nested>;
  /** Training-mode output (`output` where training and evaluation agree). */
  trainOutput?: number[][];
  output?: number[][];
  evalOutput?: number[][];
  inputGrad?: number[][];
  stateDictNames?: string[];
  buffersAfter?: Record<string, Nested>;
}

/** float32 (nabla) against float64 (PyTorch) on float32-representable weights and inputs; docs/numerics.md. */
export const PYTORCH_TOL = { rtol: 1e-4, atol: 1e-5 };

const flat = (v: Nested): number[] => (Array.isArray(v) ? v.flatMap(flat) : [v]);
const holds = (layers: LayerConfig[], type: string): boolean =>
  layers.some((l) => l.type === type || (Array.isArray(l.layers) && holds(l.layers as LayerConfig[], type)));

/** The cases of test/fixtures/<file>; with `type`, only those whose model holds that layer type (at least one). */
export function referenceCases(file: string, type?: string): ReferenceCase[] {
  const all = (JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', file), 'utf8')) as { cases: ReferenceCase[] }).cases;
  const cases = type === undefined ? all : all.filter((c) => holds(c.layers, type));
  assert.ok(cases.length > 0, `no PyTorch reference case in ${file}${type ? ` holds ${type}` : ''}`);
  return cases;
}

/** Load the case's weights into its architecture and compare every quantity the fixture holds. */
export function checkReferenceCase(c: ReferenceCase): void {
  const check = (actual: ArrayLike<number>, expected: Nested, label: string): void => {
    const r = compareClose(actual, flat(expected), { ...PYTORCH_TOL, label: `${c.name} ${label}` });
    assert.ok(r.ok, r.message);
  };
  const model = Sequential.fromConfig({ inputShape: c.inputShape, layers: c.layers });
  const sd = model.stateDict();
  if (c.stateDictNames) assert.deepEqual([...sd.keys()], c.stateDictNames, `${c.name}: state-dict names as PyTorch's`);
  model.loadStateDict(new Map(Object.entries(c.state).map(([k, v]) => [k, new Tensor(sd.get(k)!.shape, Float32Array.from(flat(v)))])));
  const n = c.x.length;
  const k = c.y[0].length;
  const x = new Tensor([n, ...c.inputShape], Float32Array.from(c.x.flat()));
  // The first layer computes dx only when asked (nobody needs it in training); compare it when the fixture has it.
  if (c.inputGrad) model.layers[0].needsInputGrad = true;
  model.zeroGrad();
  const out = model.forward(x, true);
  check(out.data, (c.trainOutput ?? c.output)!, 'training output');
  const dy = new Tensor([n, k]);
  const loss = lossByName('ce').compute(model.backend, dy.data, out.data, Float32Array.from(c.y.flat()), n, k);
  assert.ok(Math.abs(loss - c.loss) <= 1e-5 * Math.abs(c.loss), `${c.name} loss ${loss} vs ${c.loss}`);
  const d = model.backward(dy);
  if (c.inputGrad) {
    assert.notEqual(d, NO_GRAD);
    check(d.data, c.inputGrad, 'input gradient');
  }
  const params = new Map(model.parameters().map((p) => [p.name, p]));
  assert.deepEqual([...params.keys()].sort(), Object.keys(c.grads).sort());
  for (const [name, g] of Object.entries(c.grads)) check(params.get(name)!.grad.data, g, `grad ${name}`);
  const after = model.stateDict();
  for (const [name, v] of Object.entries(c.buffersAfter ?? {})) check(after.get(name)!.data, v, name);
  check(model.forward(x, false).data, (c.evalOutput ?? c.output)!, 'evaluation output');
}
