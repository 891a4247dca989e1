// The PyTorch reference for single layer types (GELU, LayerNorm, ...): test/fixtures/
// pytorch-gelu-layernorm-reference.json, made by scripts/make-pytorch-layer-reference.py. A
// layer's own test file runs the cases that hold it: output, loss, input gradient, every parameter
// gradient and the state-dict names, against PyTorch in float64.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sequential, Tensor, compareClose, lossByName, NO_GRAD, type LayerConfig } from '../src/index.ts';

type Nested = number | Nested[];

/** One case of the fixture (see the script's header). */
export interface PytorchLayerCase {
  name: string;
  inputShape: number[];
  layers: LayerConfig[];
  stateDictNames: string[];
  state: Record<string, Nested>;
  x: number[][];
  y: number[][];
  output: number[][];
  loss: number;
  inputGrad: number[][];
  grads: Record<string, Nested>;
}

const fixture = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'pytorch-gelu-layernorm-reference.json'), 'utf8')) as { cases: PytorchLayerCase[] };
const flat = (v: Nested): number[] => (Array.isArray(v) ? v.flatMap(flat) : [v]);

/** float32 (nabla) against float64 (PyTorch) on float32-representable weights and inputs; docs/numerics.md. */
export const PYTORCH_LAYER_TOL = { rtol: 1e-4, atol: 1e-5 };

/** The cases whose model holds a layer of `type`. */
export function pytorchLayerCases(type: string): PytorchLayerCase[] {
  const cases = fixture.cases.filter((c) => c.layers.some((l) => l.type === type));
  assert.ok(cases.length > 0, `no PyTorch reference case holds ${type}`);
  return cases;
}

/** Build the case's model in nabla with PyTorch's weights; compare output, loss and every gradient. */
export function checkPytorchLayerCase(c: PytorchLayerCase): void {
  const check = (actual: ArrayLike<number>, expected: Nested, label: string): void => {
    const r = compareClose(actual, flat(expected), { ...PYTORCH_LAYER_TOL, label: `${c.name} ${label}` });
    assert.ok(r.ok, r.message);
  };
  const model = Sequential.fromConfig({ inputShape: c.inputShape, layers: c.layers });
  const sd = model.stateDict();
  assert.deepEqual([...sd.keys()], c.stateDictNames, `${c.name}: state-dict names as PyTorch's`);
  model.loadStateDict(new Map(Object.entries(c.state).map(([k, v]) => [k, new Tensor(sd.get(k)!.shape, Float32Array.from(flat(v)))])));
  const n = c.x.length;
  const k = c.y[0].length;
  const x = new Tensor([n, ...c.inputShape], Float32Array.from(c.x.flat()));
  // The first layer computes dx only when asked (nobody needs it in training); here we compare it.
  model.layers[0].needsInputGrad = true;
  model.zeroGrad();
  const out = model.forward(x, true);
  check(out.data, c.output, 'output');
  const dy = new Tensor([n, k]);
  const loss = lossByName('ce').compute(model.backend, dy.data, out.data, Float32Array.from(c.y.flat()), n, k);
  assert.ok(Math.abs(loss - c.loss) <= 1e-5 * Math.abs(c.loss), `${c.name} loss ${loss} vs ${c.loss}`);
  let d = dy;
  for (let i = model.layers.length - 1; i >= 0; i--) d = model.layers[i].backward(d);
  assert.notEqual(d, NO_GRAD);
  check(d.data, c.inputGrad, 'input gradient');
  const params = new Map(model.parameters().map((p) => [p.name, p]));
  assert.deepEqual([...params.keys()].sort(), Object.keys(c.grads).sort());
  for (const [name, g] of Object.entries(c.grads)) check(params.get(name)!.grad.data, g, `grad ${name}`);
  check(model.forward(x, false).data, c.output, 'evaluation output');
}
