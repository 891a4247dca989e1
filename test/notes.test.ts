// The worked examples of the seed notes (docs/seed-notes.md), reproduced with the
// library, with the notes' mistakes corrected (see docs/math.md):
// - the matrix product [[1,2,3],[4,5,6]]·[[1,2],[3,4],[5,6]] is the 2×2 [[22,28],[49,64]],
//   not the 2×3 [[14,32,50],[32,44,44]] written in the notes;
// - ∂C0/∂w(L) = a(L−1)·σ'(z(L))·2(a(L) − y), not 2(a(L) − y).
// The notes write samples as columns (z = W a + b); the library stores samples as rows
// (Z = X·Wᵀ + b). The float64 references below follow the notes' column form.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Dense, JsBackend, MSELoss, Rng, SGD, Sequential, Sigmoid, Tensor, assertClose, naiveGemm,
} from 'nabla';

type Matrix = number[][];

const sigma = (z: number) => 1 / (1 + Math.exp(-z));
const sigmaPrime = (z: number) => sigma(z) * (1 - sigma(z));

function matmul(a: Matrix, b: Matrix): Matrix {
  assert.equal(a[0].length, b.length, 'inner dimensions must agree');
  return a.map((row) => b[0].map((_, j) => row.reduce((s, v, k) => s + v * b[k][j], 0)));
}
const transpose = (a: Matrix): Matrix => a[0].map((_, j) => a.map((row) => row[j]));
const map2 = (a: Matrix, b: Matrix, f: (x: number, y: number) => number): Matrix => a.map((row, i) => row.map((v, j) => f(v, b[i][j])));
/** Column vector b added to every column of a (the notes' "+ b" over a batch of columns). */
const addColumn = (a: Matrix, b: number[]): Matrix => a.map((row, i) => row.map((v) => v + b[i]));

/** A (rows × cols) matrix from the first values of a float32 buffer, row-major. */
function fromBuffer(data: Float32Array, rows: number, cols: number): Matrix {
  return Array.from({ length: rows }, (_, r) => Array.from(data.subarray(r * cols, (r + 1) * cols)));
}

test("notes' matrix product: [[1,2,3],[4,5,6]]·[[1,2],[3,4],[5,6]] = [[22,28],[49,64]], a 2×2 (not the notes' 2×3)", () => {
  const A = [[1, 2, 3], [4, 5, 6]];
  const B = [[1, 2], [3, 4], [5, 6]];
  assert.deepEqual(matmul(A, B), [[22, 28], [49, 64]]);
  // The library's GEMM (both the fast kernel and the naive oracle).
  for (const backend of [new JsBackend(), new JsBackend({ naive: true })]) {
    const c = new Float32Array(4);
    backend.gemm(c, Float32Array.from(A.flat()), Float32Array.from(B.flat()), 2, 2, 3, false, false, 1, 0);
    assert.deepEqual(fromBuffer(c, 2, 2), [[22, 28], [49, 64]]);
  }
  // A Dense layer computes Y = X·Wᵀ: with X = A and W = Bᵀ (2 units, 3 inputs) it is A·B.
  const dense = new Dense(2, { bias: false });
  dense.build([3], { backend: new JsBackend(), rng: new Rng(0), index: 0 });
  dense.weight.value.data.set(transpose(B).flat());
  const y = dense.forward(Tensor.from(A), false);
  assert.deepEqual(y.shape, [2, 2]);
  assert.deepEqual(y.toArray(), [[22, 28], [49, 64]]);
  // What the notes wrote cannot be this product: a (2×3)·(3×2) product has 2×2 entries, not 2×3.
  assert.notDeepEqual(y.toArray(), [[14, 32, 50], [32, 44, 44]]);
});

test("notes' dot product: [1,9,9,1,2,1]·[1,2,3,4,5,6] = 66 (right in the notes)", () => {
  const u = [1, 9, 9, 1, 2, 1];
  const v = [1, 2, 3, 4, 5, 6];
  assert.equal(u.reduce((s, x, i) => s + x * v[i], 0), 66);
  // As a one-unit Dense layer without bias: z = w·a.
  const dense = new Dense(1, { bias: false });
  dense.build([6], { backend: new JsBackend(), rng: new Rng(0), index: 0 });
  dense.weight.value.data.set(u);
  assert.equal(dense.forward(new Tensor([1, 6], Float32Array.from(v)), false).data[0], 66);
  const c = new Float32Array(1);
  naiveGemm(c, Float32Array.from(u), Float32Array.from(v), 1, 1, 6, false, false, 1, 0);
  assert.equal(c[0], 66);
});

/** The notes' two-layer network on MNIST-like sizes, scaled down: 6 inputs, 4 hidden, 3 outputs. */
function notesNetwork(seed: number): Sequential {
  return new Sequential(
    [new Dense(4, { init: 'xavier' }), new Sigmoid(), new Dense(3, { init: 'xavier' }), new Sigmoid()],
    { inputShape: [6], seed },
  );
}

/** The weights of layer `i` as the notes' W (OUT × IN) and b (OUT), in float64. */
function wb(model: Sequential, i: number): { W: Matrix; b: number[] } {
  const d = model.layers[i] as Dense;
  return { W: fromBuffer(d.weight.value.data, d.units, d.inputShape[0]), b: Array.from(d.bias!.value.data) };
}

/** A batch: X as the notes' columns (6 × m) and the library's rows (m × 6), with one-hot Y. */
function batch(m: number, seed: number) {
  const rng = new Rng(seed);
  const rows: Matrix = Array.from({ length: m }, () => Array.from({ length: 6 }, () => Math.fround(rng.normal())));
  const yRows: Matrix = Array.from({ length: m }, (_, r) => [0, 1, 2].map((c) => (c === r % 3 ? 1 : 0)));
  return {
    X: transpose(rows), Y: transpose(yRows),
    x: new Tensor([m, 6], Float32Array.from(rows.flat())), y: new Tensor([m, 3], Float32Array.from(yRows.flat())),
  };
}

/** The notes' forward pass by hand, in float64, samples as columns: z = W a + b, a = σ(z). */
function handForward(l1: { W: Matrix; b: number[] }, l2: { W: Matrix; b: number[] }, X: Matrix) {
  const Z1 = addColumn(matmul(l1.W, X), l1.b);
  const A1 = Z1.map((r) => r.map(sigma));
  const Z2 = addColumn(matmul(l2.W, A1), l2.b);
  const A2 = Z2.map((r) => r.map(sigma));
  return { Z1, A1, Z2, A2 };
}

test('two-layer sigmoid network: z(l) = W(l) a(l−1) + b(l), a(l) = σ(z(l)) by hand equals Dense + Sigmoid', () => {
  const model = notesNetwork(1);
  // Non-zero biases, so that "+ b" is really tested.
  for (const i of [0, 2]) (model.layers[i] as Dense).bias!.value.data.forEach((_, j, b) => (b[j] = 0.1 * (j + 1) - 0.2));
  const { X, x } = batch(5, 2);
  const l1 = wb(model, 0);
  const l2 = wb(model, 2);
  const { Z1, A2 } = handForward(l1, l2, X);
  const out = model.forward(x);
  // The library's rows are the notes' columns: compare out with A2ᵀ.
  assertClose(out.data, transpose(A2).flat(), { rtol: 1e-6, atol: 1e-7, label: 'a(2)' });
  assertClose(model.layers[0].forward(x, false).data, transpose(Z1).flat(), { rtol: 1e-5, atol: 1e-6, label: 'z(1)' });
});

test('corrected chain rule, single-unit last layer, quadratic cost: ∂C0/∂w(L) = a(L−1)·σ\'(z(L))·2(a(L) − y)', () => {
  // One sample, one unit: z(L) = w(L) a(L−1) + b(L), a(L) = σ(z(L)), C0 = (a(L) − y)².
  const backend = new JsBackend();
  const dense = new Dense(1);
  const act = new Sigmoid();
  act.build(dense.build([1], { backend, rng: new Rng(0), index: 1 }), { backend, rng: new Rng(0), index: 2 });
  const w = 0.8;
  const b = -0.3;
  const aPrev = 0.6;
  const y = 1;
  dense.weight.value.data[0] = w;
  dense.bias!.value.data[0] = b;

  const aL = act.forward(dense.forward(new Tensor([1, 1], Float32Array.of(aPrev)), true), true);
  const dy = new Float32Array(1);
  const c0 = new MSELoss().compute(backend, dy, aL.data, Float32Array.of(y), 1, 1);
  const daPrev = dense.backward(act.backward(new Tensor([1, 1], dy))).data[0];

  const z = Math.fround(w) * Math.fround(aPrev) + Math.fround(b);
  const a = sigma(z);
  assertClose([c0], [(a - y) ** 2], { rtol: 1e-6 });
  const dCda = 2 * (a - y); //                    ∂C0/∂a(L)
  const dadz = sigmaPrime(z); //                  ∂a(L)/∂z(L): what the notes labelled ∂C0/∂z(L)
  const dzdw = Math.fround(aPrev); //             ∂z(L)/∂w(L)
  const dCdw = dzdw * dadz * dCda; //             the corrected ∂C0/∂w(L)
  const dCdb = dadz * dCda; //                    ∂C0/∂b(L) (∂z/∂b = 1)
  const dCdaPrev = Math.fround(w) * dadz * dCda; // ∂C0/∂a(L−1): the notes' σ'(z(L)) w(L), times 2(a(L) − y)
  assertClose([dense.weight.grad.data[0]], [dCdw], { rtol: 1e-5, label: '∂C0/∂w(L)' });
  assertClose([dense.bias!.grad.data[0]], [dCdb], { rtol: 1e-5, label: '∂C0/∂b(L)' });
  assertClose([daPrev], [dCdaPrev], { rtol: 1e-5, label: '∂C0/∂a(L−1)' });
  // The notes' versions are not the gradient: 2(a(L) − y) alone misses a(L−1)·σ'(z(L)).
  assert.ok(Math.abs(dense.weight.grad.data[0] - dCda) > 0.1, 'the notes\' ∂C0/∂w(L) = 2(a(L) − y) is wrong');
  assert.ok(Math.abs(daPrev - dadz * w) > 0.1, 'the notes\' ∂C0/∂a(L−1) = σ\'(z(L)) w(L) is wrong');
});

test('vectorised gradients over a batch of m: dZ, dW = dZ·A(l−1)ᵀ/m, db = Σ dZ/m, error W(l)ᵀ dZ ⊙ σ\'', () => {
  const model = notesNetwork(3);
  const m = 5;
  const { X, Y, x, y } = batch(m, 4);
  const l1 = wb(model, 0);
  const l2 = wb(model, 2);
  // Forward, columns as samples.
  const { Z1, A1, Z2, A2 } = handForward(l1, l2, X);
  // C = (1/m) Σ_samples Σ_outputs (a − y)²; per-sample dZ(2) = 2(A(2) − Y) ⊙ σ'(Z(2)).
  const dZ2 = map2(map2(A2, Y, (a, t) => 2 * (a - t)), Z2, (g, z) => g * sigmaPrime(z));
  const dW2 = matmul(dZ2, transpose(A1)).map((r) => r.map((v) => v / m));
  const db2 = dZ2.map((r) => r.reduce((s, v) => s + v, 0) / m);
  // How much each activation in a(1) contributed to the error: W(2)ᵀ dZ(2) ⊙ σ'(Z(1)).
  const dZ1 = map2(matmul(transpose(l2.W), dZ2), Z1, (g, z) => g * sigmaPrime(z));
  const dW1 = matmul(dZ1, transpose(X)).map((r) => r.map((v) => v / m));
  const db1 = dZ1.map((r) => r.reduce((s, v) => s + v, 0) / m);

  // The library: the 1/m lives in the loss gradient dy; layers add dYᵀ·X and Σ dY.
  model.zeroGrad();
  const out = model.forward(x, true);
  const dy = new Tensor([m, 3]);
  const loss = new MSELoss().compute(model.backend, dy.data, out.data, y.data, m, 3);
  model.backward(dy);
  const ref = map2(A2, Y, (a, t) => (a - t) ** 2).flat().reduce((s, v) => s + v, 0) / m;
  assertClose([loss], [ref], { rtol: 1e-6, label: 'C' });
  const grads = new Map(model.parameters().map((p) => [p.name, p.grad.data]));
  const tol = { rtol: 1e-5, atol: 1e-7 };
  assertClose(grads.get('2.weight')!, dW2.flat(), { ...tol, label: 'dW(2)' });
  assertClose(grads.get('2.bias')!, db2, { ...tol, label: 'db(2)' });
  assertClose(grads.get('0.weight')!, dW1.flat(), { ...tol, label: 'dW(1)' });
  assertClose(grads.get('0.bias')!, db1, { ...tol, label: 'db(1)' });

  // Update: w ← w + Δw with Δw = −η ∂C/∂w (plain SGD).
  const eta = 0.5;
  const before = model.parameters().map((p) => p.value.data.slice());
  new SGD(model.parameters(), { lr: eta }).step();
  model.parameters().forEach((p, i) => {
    assertClose(p.value.data, Array.from(before[i], (w, j) => w + -eta * p.grad.data[j]), { rtol: 1e-7, atol: 0, label: `update ${p.name}` });
  });
});

test('the loop Forward → Backward → Update, repeated, lowers the quadratic cost', () => {
  const model = notesNetwork(5);
  const { x, y } = batch(12, 6);
  const opt = new SGD(model.parameters(), { lr: 2 });
  const losses = Array.from({ length: 200 }, () => model.trainStep(x, y, 'mse', opt).loss);
  assert.ok(losses[199] < 0.5 * losses[0], `cost ${losses[0]} → ${losses[199]}`);
  for (let t = 20; t < 200; t += 20) assert.ok(losses[t] < losses[t - 20], `cost went up between steps ${t - 20} and ${t}`);
});
