/**
 * Training-time augmentation for images: each sample of a batch is shifted by a few pixels and
 * rotated by a small angle, at random (seeded), so the network sees a slightly different digit
 * every epoch. Test and validation data are never augmented.
 *
 * Layout: a batch x: (N, H·W) of grey images, row-major, background 0 (MNIST after /255).
 * The transform maps each output pixel back into the source (rotation about the image centre,
 * then the shift) and reads it with bilinear interpolation; pixels that come from outside the
 * image are background (0).
 */
import { NablaError } from '../errors.ts';
import type { Rng } from '../random.ts';

/**
 * Sizes and ranges of ImageAugmenter's random shifts and rotations.
 *
 * @example
 * new ImageAugmenter(new Rng(1), { maxShift: 3, maxRotation: 15 });
 */
export interface AugmentOptions {
  /** Image height and width (default 28 × 28). */
  height?: number;
  width?: number;
  /** Largest shift in pixels, each axis uniform in [−maxShift, maxShift] (default 2). */
  maxShift?: number;
  /** Largest rotation in degrees, uniform in [−maxRotation, maxRotation] (default 10). */
  maxRotation?: number;
}

/**
 * Seeded training-time augmentation of image rows: a random shift and rotation per image.
 *
 * @example
 * const augmenter = new ImageAugmenter(new Rng(1));
 * model.fit(train, { optimizer, loss: 'ce', epochs: 5, augment: (x, n) => augmenter.apply(x, n) });
 */
export class ImageAugmenter {
  readonly height: number;
  readonly width: number;
  readonly maxShift: number;
  readonly maxRotation: number;
  private readonly rng: Rng;
  /** One source image, copied out so a batch can be transformed in place. */
  private readonly source: Float32Array;

  /**
   * @example
   * const augment = new ImageAugmenter(model.rng, { maxShift: 2, maxRotation: 10 });
   * model.fit(train, { ..., augment: (x, n) => augment.apply(x, n) });
   */
  constructor(rng: Rng, options: AugmentOptions = {}) {
    this.rng = rng;
    this.height = options.height ?? 28;
    this.width = options.width ?? 28;
    this.maxShift = options.maxShift ?? 2;
    this.maxRotation = options.maxRotation ?? 10;
    for (const [name, v, ok] of [
      ['height', this.height, Number.isInteger(this.height) && this.height >= 1],
      ['width', this.width, Number.isInteger(this.width) && this.width >= 1],
      ['maxShift', this.maxShift, this.maxShift >= 0 && Number.isFinite(this.maxShift)],
      ['maxRotation', this.maxRotation, this.maxRotation >= 0 && this.maxRotation <= 180],
    ] as const) {
      if (!ok) throw new NablaError({ where: 'ImageAugmenter', expected: `a valid ${name}`, found: String(v) });
    }
    this.source = new Float32Array(this.height * this.width);
  }

  /** Transform `count` images of x in place, each with its own random shift and rotation. */
  apply(x: Float32Array, count: number): void {
    const size = this.height * this.width;
    if (x.length < count * size) {
      throw new NablaError({ where: 'ImageAugmenter', expected: `${count} images of ${size} values`, found: `${x.length} values` });
    }
    for (let s = 0; s < count; s++) {
      const dx = (2 * this.rng.uniform() - 1) * this.maxShift;
      const dy = (2 * this.rng.uniform() - 1) * this.maxShift;
      const angle = ((2 * this.rng.uniform() - 1) * this.maxRotation * Math.PI) / 180;
      this.transform(x.subarray(s * size, (s + 1) * size), dx, dy, angle);
    }
  }

  /** Shift one image by (dx, dy) pixels and rotate it by `angle` radians about its centre, in place. */
  transform(image: Float32Array, dx: number, dy: number, angle: number): void {
    const h = this.height;
    const w = this.width;
    const src = this.source;
    src.set(image);
    const cx = (w - 1) / 2;
    const cy = (h - 1) / 2;
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        // Inverse map: undo the shift, then rotate by −angle about the centre.
        const u = j - dx - cx;
        const v = i - dy - cy;
        const sx = cos * u + sin * v + cx;
        const sy = -sin * u + cos * v + cy;
        image[i * w + j] = bilinear(src, h, w, sy, sx);
      }
    }
  }
}

/** Bilinear read of src at the real position (y, x); 0 outside the image. */
function bilinear(src: Float32Array, h: number, w: number, y: number, x: number): number {
  const y0 = Math.floor(y);
  const x0 = Math.floor(x);
  const fy = y - y0;
  const fx = x - x0;
  const at = (r: number, c: number): number => (r >= 0 && r < h && c >= 0 && c < w ? src[r * w + c] : 0);
  return (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
}
