// Checks one case of a PyTorch reference fixture made by scripts/make-pytorch-conv-reference.py:
// training-mode output, the cross-entropy loss, every parameter gradient (names as PyTorch's state
// dict), running statistics after that one training forward, and the evaluation-mode output.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sequential, Tensor, compareClose, lossByName, type LayerConfig } from '../src/index.ts';

type Nested = number | Nested[];

export interface ReferenceCase {
  name: string;
  inputShape: number[];
  layers: LayerConfig[];
  state: Record<string, Nested>;
  x: number[][];
  y: number[][];
  trainOutput: number[][];
  loss: number;
  grads: Record<string, Nested>;
  buffersAfter: Record<string, Nested>;
  evalOutput: number[][];
}

/** The cases of test/fixtures/<file>. */
export function referenceCases(file: string): ReferenceCase[] {
  return (JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', file), 'utf8')) as { cases: ReferenceCase[] }).cases;
}

const flat = (v: Nested): number[] => (Array.isArray(v) ? v.flatMap(flat) : [v]);
const TOL = { rtol: 1e-4, atol: 1e-5 };

function check(actual: ArrayLike<number>, expected: Nested, label: string): void {
  const c = compareClose(actual, flat(expected), { ...TOL, label });
  assert.ok(c.ok, c.message);
}

/** Load the case's weights into its architecture and compare every quantity with PyTorch's. */
export function checkReferenceCase(c: ReferenceCase): void {
  const model = Sequential.fromConfig({ inputShape: c.inputShape, layers: c.layers });
  const sd = model.stateDict();
  model.loadStateDict(new Map(Object.entries(c.state).map(([k, v]) => [k, new Tensor(sd.get(k)!.shape, Float32Array.from(flat(v)))])));
  const n = c.x.length;
  const k = c.y[0].length;
  const x = new Tensor([n, ...c.inputShape], Float32Array.from(c.x.flat()));
  const y = Float32Array.from(c.y.flat());
  model.zeroGrad();
  const out = model.forward(x, true);
  check(out.data, c.trainOutput, `${c.name} training output`);
  const dy = new Tensor([n, k]);
  const loss = lossByName('ce').compute(model.backend, dy.data, out.data, y, n, k);
  assert.ok(Math.abs(loss - c.loss) <= 1e-5 * Math.abs(c.loss), `${c.name} loss ${loss} vs ${c.loss}`);
  model.backward(dy);
  const params = new Map(model.parameters().map((p) => [p.name, p]));
  assert.deepEqual([...params.keys()].sort(), Object.keys(c.grads).sort());
  for (const [name, g] of Object.entries(c.grads)) check(params.get(name)!.grad.data, g, `${c.name} grad ${name}`);
  const after = model.stateDict();
  for (const [name, v] of Object.entries(c.buffersAfter)) check(after.get(name)!.data, v, `${c.name} ${name}`);
  check(model.forward(x, false).data, c.evalOutput, `${c.name} evaluation output`);
}
