/**
 * Convolution conformance: a backend's batch kernels conv2dForward / conv2dBackward against
 * float64 loops written from the definition (docs/math.md §11), on geometries that break
 * assumptions: stride 2 (one axis or both), padding 1 and 2, non-square images and windows,
 * several channels, windows that see only padding, and batches smaller than, equal to and not a
 * multiple of a chunk of 8 samples (the wasm backend's unit of work), up to the small CNN's layers.
 *
 * Usage (in a *.test.ts file): convConformance('wasm', () => backend);
 * y and dx must be written fresh, so they start as NaN; dW and db must be added into, so they
 * start random.
 */
import { test } from 'node:test';
import type { Backend } from '../src/backend/backend.ts';
import { Rng } from '../src/random.ts';
import { assertClose } from '../src/testing/assertClose.ts';

/** One convolution: batch, channels, input size, window, stride, padding, filters. */
export interface ConvCase {
  n: number; c: number; h: number; w: number; kh: number; kw: number; sh: number; sw: number; ph: number; pw: number; oc: number;
}

export const CONV_CASES: ConvCase[] = [
  { n: 1, c: 1, h: 1, w: 1, kh: 1, kw: 1, sh: 1, sw: 1, ph: 0, pw: 0, oc: 1 },
  { n: 3, c: 2, h: 7, w: 5, kh: 3, kw: 2, sh: 2, sw: 1, ph: 1, pw: 0, oc: 3 },
  { n: 13, c: 3, h: 9, w: 11, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1, oc: 4 },
  { n: 8, c: 2, h: 6, w: 6, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1, oc: 5 },
  { n: 9, c: 4, h: 5, w: 9, kh: 2, kw: 4, sh: 1, sw: 2, ph: 0, pw: 0, oc: 3 },
  { n: 2, c: 2, h: 3, w: 3, kh: 3, kw: 3, sh: 1, sw: 1, ph: 2, pw: 2, oc: 2 }, // corners see only padding
  { n: 17, c: 1, h: 12, w: 13, kh: 5, kw: 5, sh: 1, sw: 1, ph: 0, pw: 0, oc: 2 },
  { n: 20, c: 1, h: 28, w: 28, kh: 5, kw: 5, sh: 1, sw: 1, ph: 0, pw: 0, oc: 8 }, // the small CNN's layers
  { n: 11, c: 8, h: 12, w: 12, kh: 5, kw: 5, sh: 1, sw: 1, ph: 0, pw: 0, oc: 16 },
];

/** OH, OW. */
export function convOut(g: ConvCase): [number, number] {
  return [Math.floor((g.h + 2 * g.ph - g.kh) / g.sh) + 1, Math.floor((g.w + 2 * g.pw - g.kw) / g.sw) + 1];
}

/** The kernels' size arguments after the buffers: n, c, h, w, kh, kw, sh, sw, ph, pw, oc. */
export function convArgs(g: ConvCase): [number, number, number, number, number, number, number, number, number, number, number] {
  return [g.n, g.c, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.oc];
}

export function convLabel(g: ConvCase): string {
  return `N${g.n} C${g.c} ${g.h}×${g.w} k${g.kh}×${g.kw} s${g.sh}×${g.sw} p${g.ph}×${g.pw} OC${g.oc}`;
}

/** Calls visit(b, o, ch, i, j, u, v, xi) for every term W[o, ch, u, v] · x[b, ch, xi] of y[b, o, i, j]. */
function forEachTerm(g: ConvCase, visit: (b: number, o: number, ch: number, yi: number, wi: number, xi: number) => void): void {
  const [OH, OW] = convOut(g);
  for (let b = 0; b < g.n; b++) for (let o = 0; o < g.oc; o++) for (let i = 0; i < OH; i++) for (let j = 0; j < OW; j++) {
    const yi = ((b * g.oc + o) * OH + i) * OW + j;
    for (let ch = 0; ch < g.c; ch++) for (let u = 0; u < g.kh; u++) for (let v = 0; v < g.kw; v++) {
      const r = i * g.sh - g.ph + u;
      const s = j * g.sw - g.pw + v;
      if (r < 0 || r >= g.h || s < 0 || s >= g.w) continue;
      visit(b, o, ch, yi, ((o * g.c + ch) * g.kh + u) * g.kw + v, ((b * g.c + ch) * g.h + r) * g.w + s);
    }
  }
}

function filled(backend: Backend, length: number, value: (i: number) => number): Float32Array {
  const a = backend.allocate(length);
  for (let i = 0; i < length; i++) a[i] = value(i);
  return a;
}

export function convConformance(name: string, make: () => Backend): void {
  test(`${name}: conv2dForward equals the cross-correlation definition, with and without bias`, () => {
    const backend = make();
    const rng = new Rng(21);
    for (const g of CONV_CASES) {
      const [OH, OW] = convOut(g);
      const x = filled(backend, g.n * g.c * g.h * g.w, () => rng.normal());
      const weight = filled(backend, g.oc * g.c * g.kh * g.kw, () => rng.normal());
      const bias = filled(backend, g.oc, () => rng.normal());
      const expected = new Float64Array(g.n * g.oc * OH * OW);
      forEachTerm(g, (_b, _o, _ch, yi, wi, xi) => { expected[yi] += weight[wi] * x[xi]; });
      // A sum of C·KH·KW float32 products: its rounding grows with the count.
      const atol = 1e-6 * g.c * g.kh * g.kw;
      const y = filled(backend, expected.length, () => NaN);
      backend.conv2dForward(y, x, weight, undefined, ...convArgs(g));
      assertClose(y, expected, { rtol: 1e-5, atol, label: `${name} conv2dForward ${convLabel(g)} no bias` });
      y.fill(NaN);
      backend.conv2dForward(y, x, weight, bias, ...convArgs(g));
      const s = OH * OW;
      assertClose(y, expected.map((v, i) => v + bias[Math.floor(i / s) % g.oc]), { rtol: 1e-5, atol, label: `${name} conv2dForward ${convLabel(g)}` });
    }
  });

  test(`${name}: conv2dBackward adds dW and db, writes dx fresh, and skips what is not asked for`, () => {
    const backend = make();
    const rng = new Rng(22);
    for (const g of CONV_CASES) {
      const [OH, OW] = convOut(g);
      const s = OH * OW;
      const x = filled(backend, g.n * g.c * g.h * g.w, () => rng.normal());
      const weight = filled(backend, g.oc * g.c * g.kh * g.kw, () => rng.normal());
      const dy = filled(backend, g.n * g.oc * s, () => rng.normal());
      const dW0 = Float32Array.from({ length: weight.length }, () => rng.normal());
      const db0 = Float32Array.from({ length: g.oc }, () => rng.normal());
      const dWsum = new Float64Array(weight.length);
      const dxExpected = new Float64Array(x.length);
      forEachTerm(g, (_b, _o, _ch, yi, wi, xi) => {
        dWsum[wi] += dy[yi] * x[xi];
        dxExpected[xi] += dy[yi] * weight[wi];
      });
      const dbSum = new Float64Array(g.oc);
      dy.forEach((v, i) => { dbSum[Math.floor(i / s) % g.oc] += v; });
      const dW = filled(backend, weight.length, (i) => dW0[i]);
      const db = filled(backend, g.oc, (i) => db0[i]);
      const dx = filled(backend, x.length, () => NaN);
      backend.conv2dBackward(dW, db, dx, x, dy, weight, ...convArgs(g));
      const label = `${name} conv2dBackward ${convLabel(g)}`;
      // dW and db sum N·OH·OW products; dx sums at most OC·KH·KW.
      assertClose(dW, dWsum.map((v, i) => v + dW0[i]), { rtol: 1e-5, atol: 2e-6 * g.n * s, label: `${label} dW` });
      assertClose(db, dbSum.map((v, i) => v + db0[i]), { rtol: 1e-5, atol: 2e-6 * g.n * s, label: `${label} db` });
      assertClose(dx, dxExpected, { rtol: 1e-5, atol: 1e-6 * g.oc * g.kh * g.kw, label: `${label} dx` });
      // Without dx and db: dW alone, the same sums.
      const dWonly = filled(backend, weight.length, (i) => dW0[i]);
      backend.conv2dBackward(dWonly, undefined, undefined, x, dy, weight, ...convArgs(g));
      assertClose(dWonly, dW, { rtol: 1e-6, atol: 1e-6, label: `${label} dW without db, dx` });
    }
  });
}
