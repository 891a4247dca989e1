/**
 * What the report (cli/report.ts) and the playground (web/) both draw, written once: the first
 * dense layer's weights W(1) as one 28×28 picture per unit, a sprite tiling such pictures, and
 * the colour of a confusion-matrix cell.
 */
import type { Sequential } from '../model/sequential.ts';
import { signedToRgba } from './heatmap.ts';

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
