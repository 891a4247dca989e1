import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rgbaToInk, toMnistInput } from './digitImage.ts';
import { NablaError } from '../errors.ts';

// ---- helpers --------------------------------------------------------------------------------

/** A W×H RGBA picture filled with one colour; `paint` sets more pixels. */
function picture(width: number, height: number, fill: [number, number, number, number]) {
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) rgba.set(fill, 4 * i);
  const paint = (x0: number, y0: number, x1: number, y1: number, c: number[]) => {
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) rgba.set(c, 4 * (y * width + x));
  };
  return { rgba, paint };
}

/** Grey image with a filled rectangle of ink [x0, x1) × [y0, y1). */
function inkRect(width: number, height: number, x0: number, y0: number, x1: number, y1: number) {
  const g = new Float32Array(width * height);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) g[y * width + x] = 1;
  return g;
}

/** Bounding box of non-zero pixels and centre of mass, in a 28×28 image (index coordinates). */
function stats(img: Float32Array) {
  let x0 = 28, x1 = -1, y0 = 28, y1 = -1, m = 0, mx = 0, my = 0, max = 0, min = Infinity;
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      const v = img[y * 28 + x];
      if (v > max) max = v;
      if (v < min) min = v;
      if (v > 0) {
        x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
      m += v; mx += x * v; my += y * v;
    }
  }
  return { w: x1 - x0 + 1, h: y1 - y0 + 1, x0, y0, cx: mx / m, cy: my / m, max, min, mass: m };
}

// ---- rgbaToInk ------------------------------------------------------------------------------

test('rgbaToInk: black-on-white is inverted so ink is 1 and paper 0', () => {
  const { rgba, paint } = picture(10, 8, [255, 255, 255, 255]);
  paint(4, 2, 6, 6, [0, 0, 0, 255]);
  const ink = rgbaToInk(rgba, 10, 8);
  assert.equal(ink.length, 80);
  assert.equal(ink[3 * 10 + 4], 1);
  assert.equal(ink[0], 0);
  assert.equal(ink.reduce((s, v) => s + v, 0), 8);
});

test('rgbaToInk: white-on-black (MNIST polarity) is kept', () => {
  const { rgba, paint } = picture(10, 8, [0, 0, 0, 255]);
  paint(4, 2, 6, 6, [255, 255, 255, 255]);
  const ink = rgbaToInk(rgba, 10, 8);
  assert.equal(ink[3 * 10 + 4], 1);
  assert.equal(ink.reduce((s, v) => s + v, 0), 8);
});

test('rgbaToInk: luminance weights 0.299/0.587/0.114 (pure red, green, blue ink on black)', () => {
  const { rgba, paint } = picture(5, 3, [0, 0, 0, 255]);
  paint(1, 1, 2, 2, [255, 0, 0, 255]);
  paint(2, 1, 3, 2, [0, 255, 0, 255]);
  paint(3, 1, 4, 2, [0, 0, 255, 255]);
  const ink = rgbaToInk(rgba, 5, 3);
  // stretched so the strongest (green) is 1
  assert.ok(Math.abs(ink[7] - 1) < 1e-6);
  assert.ok(Math.abs(ink[6] - 0.299 / 0.587) < 1e-5);
  assert.ok(Math.abs(ink[8] - 0.114 / 0.587) < 1e-5);
});

test('rgbaToInk: grey paper and grey ink are stretched to 0 and 1', () => {
  const { rgba, paint } = picture(12, 12, [200, 200, 200, 255]);
  paint(5, 3, 7, 9, [60, 60, 60, 255]);
  const ink = rgbaToInk(rgba, 12, 12);
  assert.equal(ink[0], 0);
  assert.ok(Math.abs(ink[4 * 12 + 5] - 1) < 1e-6);
});

test('rgbaToInk: dark strokes on a transparent background become ink', () => {
  // Drawing-app export: transparent pixels are (0,0,0,0), strokes are opaque black.
  const { rgba, paint } = picture(10, 10, [0, 0, 0, 0]);
  paint(3, 2, 6, 8, [0, 0, 0, 255]);
  const ink = rgbaToInk(rgba, 10, 10);
  assert.equal(ink[5 * 10 + 4], 1);
  assert.equal(ink[0], 0);
  assert.equal(ink.reduce((s, v) => s + v, 0), 18);
});

test('rgbaToInk: light strokes on a transparent background become ink', () => {
  const { rgba, paint } = picture(10, 10, [255, 255, 255, 0]);
  paint(3, 2, 6, 8, [255, 255, 255, 255]);
  const ink = rgbaToInk(rgba, 10, 10);
  assert.equal(ink[5 * 10 + 4], 1);
  assert.equal(ink.reduce((s, v) => s + v, 0), 18);
});

test('rgbaToInk: transparent holes in opaque paper melt into the paper', () => {
  const { rgba, paint } = picture(10, 10, [255, 255, 255, 255]);
  paint(0, 0, 2, 2, [0, 0, 0, 0]); // a transparent corner (e.g. rounded corners)
  paint(4, 3, 6, 7, [0, 0, 0, 255]);
  const ink = rgbaToInk(rgba, 10, 10);
  assert.equal(ink[0], 0);
  assert.equal(ink.reduce((s, v) => s + v, 0), 8);
});

test('rgbaToInk: blank pictures (uniform, fully transparent, faint noise) give zeros', () => {
  for (const fill of [[255, 255, 255, 255], [0, 0, 0, 255], [0, 0, 0, 0], [128, 9, 77, 255]]) {
    const ink = rgbaToInk(picture(6, 5, fill as [number, number, number, number]).rgba, 6, 5);
    assert.ok(ink.every((v) => v === 0), `fill ${fill}`);
  }
  const { rgba, paint } = picture(6, 5, [250, 250, 250, 255]);
  paint(2, 2, 3, 3, [240, 240, 240, 255]); // 4% darker: noise, not a digit
  assert.ok(rgbaToInk(rgba, 6, 5).every((v) => v === 0));
});

test('rgbaToInk: tiny pictures (1×1, 2×2) do not crash', () => {
  assert.deepEqual(Array.from(rgbaToInk(new Uint8Array([9, 9, 9, 255]), 1, 1)), [0]);
  assert.equal(rgbaToInk(new Uint8ClampedArray(16).fill(255), 2, 2).length, 4);
});

test('rgbaToInk: wrong buffer length or size is a NablaError', () => {
  assert.throws(() => rgbaToInk(new Uint8Array(11), 2, 2), (e: unknown) =>
    e instanceof NablaError && /16 bytes/.test(e.message) && /found 11 bytes/.test(e.message));
  assert.throws(() => rgbaToInk(new Uint8Array(0), 0, 3), NablaError);
});

// ---- toMnistInput ---------------------------------------------------------------------------

test('toMnistInput: no ink gives 784 zeros', () => {
  const out = toMnistInput(new Float32Array(50 * 40), 50, 40);
  assert.equal(out.length, 784);
  assert.ok(out.every((v) => v === 0));
  // faint fringes below the ink threshold do not count as a digit either
  assert.ok(toMnistInput(new Float32Array(100).fill(0.1), 10, 10).every((v) => v === 0));
});

test('toMnistInput: a tall bar fills 20 rows, keeps its aspect, centre of mass at (14,14)', () => {
  // 30×100 bar in a 200×120 image: scale 1/5 exactly → 6×20
  const out = toMnistInput(inkRect(200, 120, 85, 10, 115, 110), 200, 120);
  const s = stats(out);
  assert.equal(s.h, 20);
  assert.equal(s.w, 6);
  assert.ok(Math.abs(s.cx - 14) <= 0.5 && Math.abs(s.cy - 14) <= 0.5, `COM ${s.cx},${s.cy}`);
  assert.equal(s.max, 1);
  assert.equal(s.min, 0);
});

test('toMnistInput: a wide bar fills 20 columns', () => {
  const s = stats(toMnistInput(inkRect(90, 60, 10, 20, 80, 34), 90, 60)); // 70×14 → 20×4
  assert.equal(s.w, 20);
  assert.equal(s.h, 4);
  assert.ok(Math.abs(s.cx - 14) <= 0.5 && Math.abs(s.cy - 14) <= 0.5);
});

test('toMnistInput: where the digit sits in the picture does not matter', () => {
  const a = toMnistInput(inkRect(64, 64, 2, 3, 12, 33), 64, 64);
  const b = toMnistInput(inkRect(64, 64, 50, 30, 60, 60), 64, 64);
  assert.deepEqual(a, b);
});

test('toMnistInput: a small digit is upscaled (bilinear) to the 20 box', () => {
  // a 3×5 "L" in a 9×9 image
  const g = new Float32Array(81);
  for (let y = 2; y < 7; y++) g[y * 9 + 3] = 1;
  g[6 * 9 + 4] = 1;
  g[6 * 9 + 5] = 1;
  const s = stats(toMnistInput(g, 9, 9));
  assert.equal(s.h, 20);
  assert.equal(s.w, 12);
  assert.ok(Math.abs(s.cx - 14) <= 0.5 && Math.abs(s.cy - 14) <= 0.5);
});

test('toMnistInput: a 1-pixel stroke survives a 20× downscale (area averaging)', () => {
  // 1-px diagonal in a 400×400 image: nearest-neighbour sampling would keep ~1 pixel in 20
  const W = 400;
  const g = new Float32Array(W * W);
  for (let i = 0; i < W; i++) g[i * W + i] = 1;
  const out = toMnistInput(g, W, W);
  const s = stats(out);
  assert.equal(s.w, 20);
  assert.equal(s.h, 20);
  // every one of the 20 diagonal cells is lit, strongly (normalised so the peak is 1)
  for (let i = 0; i < 20; i++) assert.ok(out[(s.y0 + i) * 28 + s.x0 + i] > 0.9, `cell ${i}`);
});

test('toMnistInput: a lopsided digit is clamped inside the field, no ink lost', () => {
  // heavy bar at the left, a single dot far right: the centre of mass is near the bar, so
  // centring it would push the dot off the field; the shift is clamped instead.
  const g = new Float32Array(100 * 100);
  for (let y = 0; y < 100; y++) for (let x = 0; x < 20; x++) g[y * 100 + x] = 1;
  for (let y = 0; y < 5; y++) for (let x = 95; x < 100; x++) g[y * 100 + x] = 1;
  const out = toMnistInput(g, 100, 100);
  const s = stats(out);
  assert.equal(s.w, 20);
  assert.equal(s.h, 20);
  // centring would shift it 12 px right; clamped to 8 so the dot lands on the last column
  assert.equal(s.x0, 8);
  assert.ok(out[s.y0 * 28 + 27] > 0.9, 'the dot is still there');
  assert.ok(s.cx < 13, `centre of mass is left of centre when clamped: ${s.cx}`);
});

test('toMnistInput: values outside [0,1] are clamped, output stays in [0,1]', () => {
  const g = inkRect(10, 10, 2, 2, 8, 8).map((v) => (v ? 3 : -0.5));
  const s = stats(toMnistInput(g, 10, 10));
  assert.ok(s.max <= 1 && s.min >= 0);
});

test('toMnistInput: wrong length is a NablaError', () => {
  assert.throws(() => toMnistInput(new Float32Array(10), 4, 4), (e: unknown) =>
    e instanceof NablaError && /16 grey values/.test(e.message));
});

test('rgbaToInk + toMnistInput: ink on paper ends up like MNIST', () => {
  const { rgba, paint } = picture(200, 120, [240, 235, 225, 255]); // off-white paper
  paint(90, 10, 110, 110, [20, 30, 60, 255]); // dark blue ink
  const s = stats(toMnistInput(rgbaToInk(rgba, 200, 120), 200, 120));
  assert.equal(s.h, 20);
  assert.equal(s.w, 4);
  assert.ok(Math.abs(s.cx - 14) <= 1 && Math.abs(s.cy - 14) <= 1);
});
