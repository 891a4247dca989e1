/**
 * digitImage: turn any picture of one handwritten digit into what an MNIST-trained model expects.
 *
 * MNIST's convention (LeCun, Cortes & Burges): 28×28 grey, white digit on black, values in [0, 1];
 * the digit's bounding box was scaled, aspect ratio kept, to fit a 20×20 box (anti-aliased), then
 * placed in the 28×28 field so that its centre of mass sits at the centre. Measured on the MNIST
 * test set with pixel *index* coordinates (x = 0..27), the mean centre of mass is (14.01, 13.99)
 * and 99.97% of digits have a 20-pixel long side; this module reproduces both.
 *
 * Two steps, both pure and browser-safe (no `node:` imports, no decoder: the CLI decodes PNGs,
 * the playground reads a canvas, both hand RGBA bytes here):
 *
 *   rgbaToInk(rgba, W, H)      RGBA (W·H·4 bytes)  → ink (W·H floats, 1 = ink, 0 = background)
 *   toMnistInput(ink, W, H)    ink (W·H floats)    → 784 floats, MNIST layout (row-major 28×28)
 */
import { NablaError } from '../errors.ts';

/** MNIST's field side: inputs are SIDE×SIDE. */
const SIDE = 28;
/** The digit's bounding box is scaled so its longer side is BOX pixels (LeCun's 20×20 box). */
const BOX = 20;
/** Target centre of mass, in pixel index coordinates (what MNIST measures, see header). */
const CENTRE = 14;
/**
 * A pixel counts toward the bounding box only at or above this ink level. Weaker values are
 * anti-aliasing fringes or paper noise left after background removal; letting them set the box
 * would shrink the digit inside its 20×20 box. They are still kept if they fall inside the box.
 */
const INK_THRESHOLD = 0.2;
/**
 * If the strongest ink is less than this far from the background level, the picture is blank
 * (a photo of empty paper, a uniform canvas): stretching its noise to full contrast would invent
 * a digit, so rgbaToInk returns all zeros instead.
 */
const MIN_CONTRAST = 0.1;

function checkSize(where: string, width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new NablaError({
      where,
      expected: 'a positive integer width and height',
      found: `${width}×${height}`,
    });
  }
}

// ---------------------------------------------------------------------------------------------
// rgbaToInk: colour → grey, transparency → background, polarity → ink is 1
// ---------------------------------------------------------------------------------------------

/**
 * Convert an RGBA picture of a digit to an ink map: grey values in [0, 1] with 1 = ink, 0 = the
 * background, whatever the picture's polarity.
 *
 * Choices, in order:
 * 1. **Grey**: luminance `0.299 R + 0.587 G + 0.114 B` (ITU-R BT.601, the weights MNIST-era
 *    scanners and most "convert to greyscale" tools use), scaled to [0, 1].
 * 2. **Transparency** is composited over the picture's own background, not over a fixed colour,
 *    so a transparent PNG works whatever colour its strokes are:
 *    - if most border pixels are opaque (alpha ≥ 128), the background is the border's
 *      alpha-weighted mean grey, so transparent holes melt into it;
 *    - if most border pixels are transparent (a drawing app's export: strokes on nothing), the
 *      opaque pixels are the ink and the background is the opposite extreme of their mean grey
 *      (white behind dark strokes, black behind light ones). Fully transparent → all zeros.
 * 3. **Polarity**: if most border pixels are light (grey > 0.5) the picture is dark-on-light
 *    (ink on paper, a scan, a photo) and is inverted; otherwise it is already light-on-dark
 *    (MNIST's own convention, a canvas drawn in white). Ties keep the picture as it is.
 * 4. **Background removal**: the border's median ink level is taken as the background (grey paper,
 *    a photo's uneven light) and subtracted; the rest is stretched so the strongest ink is 1.
 *    A picture with less than 0.1 contrast between background and ink is blank → all zeros.
 *
 * NOTE: "border" means the outermost rows and columns. A digit that touches most of the border
 * (cropped too tightly) can fool steps 2–4; leave a margin around it.
 *
 * @param rgba   W·H·4 bytes, row-major, RGBA (a decoded PNG, or `ImageData.data` of a canvas)
 * @param width  W, pixels
 * @param height H, pixels
 * @param where  names the picture in errors (default "rgbaToInk"), e.g. 'image file "seven.png"'
 * @returns W·H floats in [0, 1], row-major, 1 = ink
 *
 * @example
 * // a 3×3 white picture with one black pixel in the middle (black-on-white → inverted)
 * const rgba = new Uint8Array(3 * 3 * 4).fill(255);
 * rgba.set([0, 0, 0, 255], 4 * 4);
 * rgbaToInk(rgba, 3, 3); // Float32Array [0,0,0, 0,1,0, 0,0,0]
 */
export function rgbaToInk(
  rgba: Uint8Array | Uint8ClampedArray,
  width: number,
  height: number,
  where = 'rgbaToInk',
): Float32Array {
  checkSize(where, width, height);
  const n = width * height;
  if (rgba.length !== n * 4) {
    throw new NablaError({
      where,
      expected: `${n * 4} bytes for ${width}×${height} RGBA (4 bytes per pixel)`,
      found: `${rgba.length} bytes`,
      hint: 'pass RGBA data, e.g. a decoded PNG or a canvas ImageData.data',
    });
  }

  // Grey and alpha, both in [0, 1].
  const grey = new Float32Array(n);
  const alpha = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const p = 4 * i;
    grey[i] = (0.299 * rgba[p] + 0.587 * rgba[p + 1] + 0.114 * rgba[p + 2]) / 255;
    alpha[i] = rgba[p + 3] / 255;
  }

  const border = borderIndices(width, height);

  // Step 2: composite over the picture's own background (see JSDoc).
  let opaqueBorder = 0;
  let borderGreySum = 0;
  let borderAlphaSum = 0;
  for (const i of border) {
    if (alpha[i] >= 0.5) opaqueBorder++;
    borderGreySum += alpha[i] * grey[i];
    borderAlphaSum += alpha[i];
  }
  let backdrop: number;
  if (2 * opaqueBorder > border.length) {
    backdrop = borderGreySum / borderAlphaSum;
  } else {
    let greySum = 0;
    let alphaSum = 0;
    for (let i = 0; i < n; i++) {
      greySum += alpha[i] * grey[i];
      alphaSum += alpha[i];
    }
    if (alphaSum === 0) return new Float32Array(n); // fully transparent: nothing drawn
    backdrop = greySum / alphaSum < 0.5 ? 1 : 0;
  }
  const ink = new Float32Array(n);
  for (let i = 0; i < n; i++) ink[i] = alpha[i] * grey[i] + (1 - alpha[i]) * backdrop;

  // Step 3: polarity, by majority of light border pixels.
  let lightBorder = 0;
  for (const i of border) if (ink[i] > 0.5) lightBorder++;
  if (2 * lightBorder > border.length) {
    for (let i = 0; i < n; i++) ink[i] = 1 - ink[i];
  }

  // Step 4: background level = the border's median; stretch the rest to [0, 1].
  const borderInk = new Float32Array(border.length);
  for (let j = 0; j < border.length; j++) borderInk[j] = ink[border[j]];
  borderInk.sort();
  const background = borderInk[borderInk.length >> 1];
  let strongest = 0;
  for (let i = 0; i < n; i++) if (ink[i] > strongest) strongest = ink[i];
  const contrast = strongest - background;
  if (contrast < MIN_CONTRAST) return new Float32Array(n);
  for (let i = 0; i < n; i++) ink[i] = Math.min(1, Math.max(0, (ink[i] - background) / contrast));
  return ink;
}

/** Indices of the outermost rows and columns, each pixel once (corners are not counted twice). */
function borderIndices(width: number, height: number): Uint32Array {
  // Sized up front: a 1-pixel-high image is all border, and pushing millions of numbers into a
  // plain array costs seconds where filling a typed array costs milliseconds.
  const rows = height > 1 ? 2 : 1;
  const cols = width > 1 ? 2 : 1;
  const out = new Uint32Array(rows * width + cols * Math.max(0, height - 2));
  let k = 0;
  for (let x = 0; x < width; x++) out[k++] = x; // top row
  if (height > 1) for (let x = 0; x < width; x++) out[k++] = (height - 1) * width + x; // bottom
  for (let y = 1; y < height - 1; y++) {
    out[k++] = y * width; // left column
    if (width > 1) out[k++] = y * width + width - 1; // right column
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// toMnistInput: crop, scale to the 20×20 box, centre by mass in 28×28
// ---------------------------------------------------------------------------------------------

/**
 * Lay out an ink map like an MNIST digit: 784 floats, row-major 28×28, white digit on black.
 *
 * Steps (LeCun's recipe for MNIST):
 * 1. **Crop** to the ink's bounding box (pixels ≥ 0.2; fainter fringes do not set the box).
 * 2. **Scale**, aspect ratio kept, so the longer side is 20 pixels. Downscaling averages areas
 *    (each output pixel is the coverage-weighted mean of the source pixels under it), so a stroke
 *    thinner than one output pixel dims instead of vanishing as it would with nearest-neighbour
 *    sampling; upscaling a small digit is bilinear, so it does not turn blocky.
 * 3. **Normalise** so the brightest pixel is 1: in MNIST 90% of digits reach 255, and averaging
 *    down a thin stroke would otherwise leave it faint.
 * 4. **Place** the 20×20-fitting patch in the 28×28 field by an integer shift that puts its
 *    centre of mass (pixel index coordinates) at (14, 14), within half a pixel. An integer shift
 *    keeps strokes sharp where a sub-pixel shift would blur them.
 *    NOTE: a lopsided digit whose mass sits far off its box's centre would be pushed past the
 *    field's edge; the shift is clamped so no ink is lost, and then its centre of mass is off.
 *
 * An image with no ink (nothing ≥ 0.2) returns all zeros.
 *
 * @param gray   W·H floats in [0, 1], row-major, 1 = ink (see {@link rgbaToInk})
 * @param width  W, pixels
 * @param height H, pixels
 * @param where  names the picture in errors (default "toMnistInput")
 * @returns 784 floats in [0, 1]: the MNIST-style input
 *
 * @example
 * const ink = rgbaToInk(rgba, width, height); // any size, any polarity
 * const x = toMnistInput(ink, width, height); // Float32Array(784), ready for model.predict
 */
export function toMnistInput(gray: Float32Array, width: number, height: number, where = 'toMnistInput'): Float32Array {
  checkSize(where, width, height);
  if (gray.length !== width * height) {
    throw new NablaError({
      where,
      expected: `${width * height} grey values for ${width}×${height}`,
      found: `${gray.length} values`,
      hint: 'pass one float per pixel, e.g. the output of rgbaToInk',
    });
  }
  const out = new Float32Array(SIDE * SIDE);

  // Step 1: bounding box of the ink, inclusive [x0, x1] × [y0, y1].
  let x0 = width;
  let x1 = -1;
  let y0 = height;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (gray[y * width + x] >= INK_THRESHOLD) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0) return out; // no ink
  const W = x1 - x0 + 1;
  const H = y1 - y0 + 1;

  // Step 2: the longer side becomes BOX; the shorter keeps the aspect ratio (at least 1 pixel).
  const scale = BOX / Math.max(W, H);
  const OW = Math.max(1, Math.min(BOX, Math.round(W * scale)));
  const OH = Math.max(1, Math.min(BOX, Math.round(H * scale)));
  const colTaps = resampleTaps(W, OW);
  const rowTaps = resampleTaps(H, OH);

  // Separable: rows first (H × OW), then columns (OH × OW). tmp: (H, OW), patch: (OH, OW).
  const tmp = new Float64Array(H * OW);
  for (let y = 0; y < H; y++) {
    const row = (y0 + y) * width + x0;
    for (let ox = 0; ox < OW; ox++) {
      const t = colTaps[ox];
      let s = 0;
      for (let k = 0; k < t.index.length; k++) s += t.weight[k] * gray[row + t.index[k]];
      tmp[y * OW + ox] = s;
    }
  }
  const patch = new Float64Array(OH * OW);
  for (let oy = 0; oy < OH; oy++) {
    const t = rowTaps[oy];
    for (let ox = 0; ox < OW; ox++) {
      let s = 0;
      for (let k = 0; k < t.index.length; k++) s += t.weight[k] * tmp[t.index[k] * OW + ox];
      patch[oy * OW + ox] = s;
    }
  }

  // Step 3: brightest pixel → 1 (also clamps: inputs outside [0, 1] must not leak through).
  let peak = 0;
  for (let i = 0; i < patch.length; i++) if (patch[i] > peak) peak = patch[i];
  if (peak <= 0) return out;
  for (let i = 0; i < patch.length; i++) patch[i] = Math.min(1, Math.max(0, patch[i] / peak));

  // Step 4: centre of mass (float64 sums) → integer shift, clamped so the patch stays inside.
  let mass = 0;
  let mx = 0;
  let my = 0;
  for (let oy = 0; oy < OH; oy++) {
    for (let ox = 0; ox < OW; ox++) {
      const v = patch[oy * OW + ox];
      mass += v;
      mx += ox * v;
      my += oy * v;
    }
  }
  const dx = clamp(Math.round(CENTRE - mx / mass), 0, SIDE - OW);
  const dy = clamp(Math.round(CENTRE - my / mass), 0, SIDE - OH);
  for (let oy = 0; oy < OH; oy++) {
    for (let ox = 0; ox < OW; ox++) out[(oy + dy) * SIDE + ox + dx] = patch[oy * OW + ox];
  }
  return out;
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/** For one output pixel: which source pixels it reads and with what weights (weights sum to 1). */
interface Taps {
  index: number[];
  weight: number[];
}

/**
 * 1-D resampling taps from `n` source pixels to `m` output pixels.
 * - Downscaling (n ≥ m): area averaging. Output pixel i covers source interval [i·s, (i+1)·s),
 *   s = n / m; each source pixel j weighs its overlap with that interval, divided by s.
 * - Upscaling (n < m): bilinear. Output pixel i's centre maps to source position (i + ½)·s − ½,
 *   clamped to the first/last pixel (so edges repeat rather than fade to black).
 */
function resampleTaps(n: number, m: number): Taps[] {
  const s = n / m;
  const taps: Taps[] = [];
  for (let i = 0; i < m; i++) {
    const index: number[] = [];
    const weight: number[] = [];
    if (s >= 1) {
      const lo = i * s;
      const hi = (i + 1) * s;
      for (let j = Math.floor(lo); j < Math.min(n, Math.ceil(hi)); j++) {
        const overlap = Math.min(j + 1, hi) - Math.max(j, lo);
        if (overlap > 1e-12) {
          index.push(j);
          weight.push(overlap / s);
        }
      }
    } else {
      const pos = clamp((i + 0.5) * s - 0.5, 0, n - 1);
      const j = Math.floor(pos);
      const f = pos - j;
      index.push(j);
      weight.push(1 - f);
      if (f > 0) {
        index.push(j + 1);
        weight.push(f);
      }
    }
    taps.push({ index, weight });
  }
  return taps;
}

/**
 * Why a model input holds no digit to read, or undefined when it has ink: a blank, transparent or
 * near-empty image (total ink under one full pixel) still gets a prediction, and that prediction
 * means nothing, so the CLI and the server say so beside it.
 *
 * @example
 * noInk(new Float32Array(784)); // 'no ink found: the image is blank or transparent, so the prediction means nothing'
 */
export function noInk(x: Float32Array): string | undefined {
  let ink = 0;
  for (let i = 0; i < x.length; i++) ink += x[i];
  return ink >= 1 ? undefined : 'no ink found: the image is blank or transparent, so the prediction means nothing';
}
