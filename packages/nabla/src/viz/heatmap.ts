/**
 * Heat maps: numbers → RGBA pixels, for pictures of weights, gradients and digits. Shared by the
 * report (the CLI encodes the pixels as PNG) and the playground (it puts them in a canvas), so
 * both draw W(1) the same way: firstLayerPictures, tilePictures and confusionColour are theirs.
 *
 *   signedToRgba(v, W, H)   diverging: negative blue, zero white, positive red; |v| / scale
 *   inkToRgba(v, W, H)      grey: 0 black, 1 white (MNIST's white digit on black)
 */
import { NablaError } from '../errors.ts';
import type { Sequential } from '../model/sequential.ts';

function checkLength(where: string, values: ArrayLike<number>, width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || values.length !== width * height) {
    throw new NablaError({
      where, expected: `${width * height} values (width × height, positive integers: ${width}×${height})`,
      found: `${values.length} values`,
    });
  }
}

/**
 * The largest |v|; 0 for an empty or all-zero array.
 * @example maxAbs([1, -3, 2]); // 3
 */
export function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i]);
    if (a > m) m = a;
  }
  return m;
}

/**
 * Colour signed values: −scale → full blue, 0 → white, +scale → full red (clamped beyond).
 * A diverging map, because for weights the sign matters as much as the size: red pixels of a
 * W(1) row excite the unit, blue ones inhibit it.
 *
 * @param scale the value drawn at full colour (default: the largest |v|, so each picture uses its
 *              whole range; pass a common scale to compare pictures)
 * @returns W·H·4 bytes, RGBA, row-major, opaque
 *
 * @example
 * const rgba = signedToRgba(w.subarray(u * 784, (u + 1) * 784), 28, 28); // unit u of W(1)
 * ctx.putImageData(new ImageData(rgba, 28, 28), 0, 0);
 */
export function signedToRgba(values: ArrayLike<number>, width: number, height: number, scale = maxAbs(values)): Uint8ClampedArray {
  checkLength('signedToRgba', values, width, height);
  const out = new Uint8ClampedArray(width * height * 4);
  const inv = scale > 0 ? 1 / scale : 0;
  for (let i = 0; i < values.length; i++) {
    const t = Math.max(-1, Math.min(1, values[i] * inv));
    // Fade the other two channels towards 0 as |t| grows: white → red (t > 0) or white → blue.
    const fade = Math.round(255 * (1 - Math.abs(t)));
    const p = 4 * i;
    out[p] = t < 0 ? fade : 255;
    out[p + 1] = fade;
    out[p + 2] = t > 0 ? fade : 255;
    out[p + 3] = 255;
  }
  return out;
}

/**
 * Grey pixels for values in [0, 1] (clamped): 0 black, 1 white, as MNIST digits are drawn.
 *
 * @example
 * const rgba = inkToRgba(test.x.subarray(i * 784, (i + 1) * 784), 28, 28);
 */
export function inkToRgba(values: ArrayLike<number>, width: number, height: number): Uint8ClampedArray {
  checkLength('inkToRgba', values, width, height);
  const out = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < values.length; i++) {
    const g = Math.round(255 * Math.max(0, Math.min(1, values[i])));
    out.set([g, g, g, 255], 4 * i);
  }
  return out;
}


/**
 * Each of the first `maxUnits` units of the first Dense layer: its `side`² incoming weights as a
 * side × side RGBA picture (signedToRgba: red positive, blue negative, each unit on its own scale),
 * and the layer's unit count. Undefined when the first Dense layer does not read side × side inputs.
 *
 * @example
 * const w = firstLayerPictures(model, 64); // { pictures: 64 × (28·28·4 bytes), units: 256 }
 */
export function firstLayerPictures(model: Sequential, maxUnits: number, side = 28): { pictures: Uint8ClampedArray[]; units: number } | undefined {
  const first = model.layers.find((l) => l.type === 'Dense');
  const n = side * side;
  if (!first || first.inputShape[0] !== n) return undefined;
  const w = first.params()[0].value.data;
  const units = first.outputShape[0];
  const pictures = Array.from({ length: Math.min(maxUnits, units) }, (_, u) => signedToRgba(w.subarray(u * n, (u + 1) * n), side, side));
  return { pictures, units };
}

/**
 * Pictures of width × height tiled `cols` to a row with a 1-pixel white gap: one image instead
 * of hundreds (the report embeds it as a single PNG).
 *
 * @example
 * const sprite = tilePictures(w.pictures, 28, 28, 16); // { rgba, width: 463, height: ... }
 */
export function tilePictures(pictures: Uint8ClampedArray[], width: number, height: number, cols: number): { rgba: Uint8ClampedArray; width: number; height: number } {
  const rows = Math.ceil(pictures.length / cols);
  const W = cols * (width + 1) - 1;
  const H = rows * (height + 1) - 1;
  const rgba = new Uint8ClampedArray(W * H * 4).fill(255);
  pictures.forEach((picture, i) => {
    const ox = (i % cols) * (width + 1);
    const oy = Math.floor(i / cols) * (height + 1);
    for (let y = 0; y < height; y++) rgba.set(picture.subarray(y * width * 4, (y + 1) * width * 4), ((oy + y) * W + ox) * 4);
  });
  return { rgba, width: W, height: H };
}

/**
 * Background of confusion-matrix cell confusion[i][j] holding `count` of the row's `rowTotal`
 * samples: blue on the diagonal (deeper with the class accuracy), red off it (visible from a
 * small share), transparent for an empty cell.
 *
 * @example
 * td.style.background = confusionColour(v, rowTotal, i === j);
 */
export function confusionColour(count: number, rowTotal: number, diagonal: boolean): string {
  const share = count / (rowTotal || 1);
  if (diagonal) return `rgba(36,113,163,${(0.15 + 0.6 * share).toFixed(2)})`;
  return count > 0 ? `rgba(192,57,43,${Math.min(0.8, 0.1 + 8 * share).toFixed(2)})` : 'transparent';
}
