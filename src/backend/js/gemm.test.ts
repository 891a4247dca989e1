// GEMM conformance: the fast kernel (dense and sparse paths) against the naive oracle, on shapes
// that break the 4×4 tiling, with every transpose and α/β combination.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { naiveGemm } from './naiveGemm.ts';
import { JsBackend } from './jsBackend.ts';
import { compareClose } from '../../testing/assertClose.ts';
import { Rng } from '../../random.ts';

const SHAPES: [number, number, number][] = [
  [1, 1, 1], [1, 7, 3], [5, 1, 9], [4, 4, 4], [3, 5, 2], [33, 65, 17], [17, 33, 65], [64, 10, 128], [13, 31, 7], [8, 8, 1],
];

function random(n: number, rng: Rng, zeroShare = 0): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.uniform() < zeroShare ? 0 : rng.normal();
  return v;
}

function check(m: number, n: number, k: number, transA: boolean, transB: boolean, alpha: number, beta: number, zerosA: number, zerosB: number) {
  const rng = new Rng(m * 1000 + n * 10 + k);
  const a = random(m * k, rng, zerosA);
  const b = random(k * n, rng, zerosB);
  const c0 = random(m * n, rng);
  const expected = c0.slice();
  naiveGemm(expected, a, b, m, n, k, transA, transB, alpha, beta);
  const actual = c0.slice();
  new JsBackend().gemm(actual, a, b, m, n, k, transA, transB, alpha, beta);
  const r = compareClose(actual, expected, {
    rtol: 1e-4, atol: 1e-4 * Math.sqrt(k),
    label: `gemm m=${m} n=${n} k=${k} transA=${transA} transB=${transB} α=${alpha} β=${beta} zeros=${zerosA}/${zerosB}`,
  });
  assert.ok(r.ok, r.message);
}

for (const [zerosA, zerosB, path] of [[0, 0, 'dense'], [0.8, 0, 'sparse A'], [0, 0.8, 'sparse B']] as const) {
  test(`fast gemm (${path} path) matches the naive oracle on awkward shapes, every transpose, α/β`, () => {
    for (const [m, n, k] of SHAPES) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          for (const [alpha, beta] of [[1, 0], [1, 1], [-0.5, 2], [2, 0.25]]) check(m, n, k, transA, transB, alpha, beta, zerosA, zerosB);
        }
      }
    }
  });
}

test('beta = 0 ignores NaN already in C (BLAS semantics), on both kernels', () => {
  for (const backend of [new JsBackend(), new JsBackend({ naive: true })]) {
    const c = new Float32Array(4).fill(NaN);
    backend.gemm(c, Float32Array.of(1, 2, 3, 4), Float32Array.of(1, 0, 0, 1), 2, 2, 2, false, false, 1, 0);
    assert.deepEqual(Array.from(c), [1, 2, 3, 4]);
  }
});

test("the notes' worked product: [[1,2,3],[4,5,6]]·[[1,2],[3,4],[5,6]] is the 2×2 [[22,28],[49,64]]", () => {
  // The notes wrote a 2×3 result [[14,32,50],[32,44,44]]: a (2×3)·(3×2) product is 2×2.
  for (const backend of [new JsBackend(), new JsBackend({ naive: true })]) {
    const c = new Float32Array(4);
    backend.gemm(c, Float32Array.of(1, 2, 3, 4, 5, 6), Float32Array.of(1, 2, 3, 4, 5, 6), 2, 2, 3, false, false, 1, 0);
    assert.deepEqual(Array.from(c), [22, 28, 49, 64]);
  }
});

test("the notes' dot product [1,9,9,1,2,1]·[1..6] = 66 (a 1×6 by 6×1 GEMM)", () => {
  const c = new Float32Array(1);
  new JsBackend({ naive: true }).gemm(c, Float32Array.of(1, 9, 9, 1, 2, 1), Float32Array.of(1, 2, 3, 4, 5, 6), 1, 1, 6, false, false, 1, 0);
  assert.equal(c[0], 66);
});
