/**
 * Image folders: root/<class>/<image>.png|.jpg|.jpeg, one sub-folder per class (the layout of
 * torchvision's ImageFolder and Keras' image_dataset_from_directory).
 *
 *   classes:  the sub-folder names, sorted (code-unit order): class i is the i-th name
 *   samples:  class by class, files sorted by name within a class (shuffle before a validation split)
 *   x:        (N, C·H·W) float32 in [0, 1], NCHW planes: C = 1 (grey) or 3 (RGB); alpha is ignored
 *
 * PNG needs the pngjs package and JPEG the jpeg-js package, both optional peer dependencies
 * imported when first needed (a clear error says which to install).
 */
import { readdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import { assembleClassification, type Dataset } from '../data/dataset.ts';
import { NablaError } from '../errors.ts';
import { readFileChecked } from './files.ts';
import { MAX_IMAGE_FILE_BYTES, MAX_IMAGE_PIXELS, checkPngData, hasPngSignature } from './png.ts';

/**
 * How loadImageFolder reads images.
 *
 * @example
 * const options: ImageFolderOptions = { size: [32, 32], channels: 3 };
 */
export interface ImageFolderOptions {
  /**
   * Resize every image to [H, W]: area averaging along an axis that shrinks, bilinear
   * interpolation (pixel centres, like PIL and torch's align_corners=False) along one that grows.
   * Default: no resizing, and images of different sizes are refused (naming both files).
   */
  size?: [number, number];
  /**
   * 1 (grey: 0.299 R + 0.587 G + 0.114 B), 3 (RGB), or 'auto' (default): 3 if any image has a
   * pixel whose R, G and B differ, else 1.
   */
  channels?: 1 | 3 | 'auto';
  /** Allocates x and y (a backend's allocate; default plain Float32Arrays). */
  allocate?: (length: number) => Float32Array;
}

/**
 * A dataset read from an image folder, with the files it came from and those it skipped.
 *
 * @example
 * const ds: ImageFolderDataset = await loadImageFolder('shapes');
 * ds.files[0]; // 'shapes/circle/000.png'
 */
export interface ImageFolderDataset extends Dataset {
  classNames: string[];
  inputShape: number[];
  /** The image behind each sample. */
  files: string[];
  /** Files that are not .png/.jpg/.jpeg, and files lying in the root beside the class folders. Hidden files are not listed. */
  skipped: string[];
}

const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'];

interface Rgba { width: number; height: number; data: Uint8Array }

/**
 * Read an image folder as a dataset: root/<class>/<image>, classes the sorted sub-folder names,
 * inputShape [C, H, W]. Files that are not PNG or JPEG are skipped and listed in `skipped`
 * (hidden files such as .DS_Store are ignored). Refused: fewer than 2 class folders, an empty
 * class folder, an image that cannot be read or decoded (naming its path), images of different
 * sizes without `size` (naming both).
 *
 * @example
 * const ds = await loadImageFolder('data/shapes', { size: [32, 32] });
 * ds.classNames; // ['circle', 'square', 'triangle']
 * ds.inputShape; // [3, 32, 32]
 * const model = new Sequential([new Conv2D(8, 3), new ReLU(), new Flatten(), new Dense(ds.classes)], { inputShape: ds.inputShape });
 */
export async function loadImageFolder(root: string, options: ImageFolderOptions = {}): Promise<ImageFolderDataset> {
  const where = `image folder "${root}"`;
  let entries;
  try {
    entries = readdirSync(root, { withFileTypes: true });
  } catch (e) {
    throw new NablaError({ where, expected: 'a readable folder', found: (e as NodeJS.ErrnoException).code ?? String(e), hint: 'check the path' });
  }
  const skipped: string[] = [];
  const classNames: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    if (e.isDirectory()) classNames.push(e.name);
    else skipped.push(join(root, e.name));
  }
  classNames.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (classNames.length < 2) {
    throw new NablaError({
      where, expected: 'at least 2 class folders (root/<class>/<image>.png)', found: `${classNames.length}${classNames.length ? ` ("${classNames[0]}")` : ''}`,
      hint: 'put each class\'s images in a sub-folder named after the class',
    });
  }
  const files: string[] = [];
  const labels: number[] = [];
  classNames.forEach((name, k) => {
    const folder = join(root, name);
    const images = readdirSync(folder, { withFileTypes: true })
      .filter((e) => !e.name.startsWith('.'))
      .filter((e) => {
        const ok = e.isFile() && IMAGE_EXTENSIONS.includes(extname(e.name).toLowerCase());
        if (!ok) skipped.push(join(folder, e.name));
        return ok;
      })
      .map((e) => e.name)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    if (images.length === 0) {
      throw new NablaError({
        where: `class folder "${folder}"`, expected: 'at least one .png, .jpg or .jpeg image', found: 'none',
        hint: 'remove the empty folder or add its images',
      });
    }
    for (const f of images) { files.push(join(folder, f)); labels.push(k); }
  });

  const wanted = options.channels ?? 'auto';
  let size = options.size;
  if (size && !(size.length === 2 && size.every((d) => Number.isInteger(d) && d > 0))) {
    throw new NablaError({ where: 'loadImageFolder', expected: 'size as [height, width], positive integers', found: JSON.stringify(size) });
  }
  const storeChannels = wanted === 1 ? 1 : 3;
  let rows: Float32Array | undefined;
  let anyColour = false;
  let firstFile = '';
  let firstSize = [0, 0];
  for (let i = 0; i < files.length; i++) {
    const img = await decodeImageFile(files[i]);
    if (!size) size = [img.height, img.width];
    if (i === 0) { firstFile = files[i]; firstSize = [img.height, img.width]; }
    if (!options.size && (img.height !== size[0] || img.width !== size[1])) {
      throw new NablaError({
        where: `image "${files[i]}"`, expected: `${size[1]}×${size[0]} pixels like "${firstFile}" (${firstSize[1]}×${firstSize[0]})`,
        found: `${img.width}×${img.height}`, hint: 'images of different sizes need a common size: pass size: [height, width] (they are then resized)',
      });
    }
    const [H, W] = size;
    rows ??= new Float32Array(files.length * storeChannels * H * W);
    anyColour = toPlanes(img, storeChannels, H, W, rows, i * storeChannels * H * W) || anyColour;
  }
  const [H, W] = size!;
  const channels = wanted === 'auto' ? (anyColour ? 3 : 1) : wanted;
  const F = channels * H * W;
  const x = (options.allocate ?? ((n: number) => new Float32Array(n)))(files.length * F);
  for (let i = 0; i < files.length; i++) {
    // 'auto' with only grey images keeps the first (R = G = B) plane.
    x.set(rows!.subarray(i * storeChannels * H * W, i * storeChannels * H * W + F), i * F);
  }
  const ds = assembleClassification(x, labels, classNames.length, [channels, H, W], classNames, options.allocate);
  return { ...ds, classNames, inputShape: [channels, H, W], files, skipped };
}

/**
 * How loadImageFile and loadImageBytes read an image: `channels` planes, resized to `size` (H, W) when given.
 *
 * @example
 * const options: ImageInputOptions = { size: [32, 32], channels: 3 };
 */
export interface ImageInputOptions {
  size?: [number, number];
  channels: 1 | 3;
}

/**
 * One image as a model input: `x` holds inputShape's values in [0, 1]; `colour` says whether any pixel had colour.
 *
 * @example
 * const { x, inputShape }: ImageInput = await loadImageFile('cat.png', { channels: 1 }); // inputShape [1, H, W]
 */
export interface ImageInput {
  x: Float32Array;
  inputShape: [number, number, number];
  colour: boolean;
}

/**
 * Read one PNG or JPEG image as a model input the way loadImageFolder reads a folder's: `channels`
 * planes (1 grey, 3 RGB) of H×W values in [0, 1], resized to `size` when given (else its own size).
 * For predicting with a model trained on an image folder (its recorded size and channels).
 *
 * @example
 * const { x, inputShape } = await loadImageFile('cat.jpg', { size: [32, 32], channels: 3 }); // inputShape [3, 32, 32]
 */
export async function loadImageFile(path: string, options: ImageInputOptions): Promise<ImageInput> {
  return imageInput(await decodeImageFile(path), options);
}

/**
 * loadImageFile for an image already in memory (an upload): `where` names it in errors. The same
 * decoding, budgets and resizing.
 *
 * @example
 * const { x } = await loadImageBytes(body, 'request body', { size: [32, 32], channels: 3 });
 */
export async function loadImageBytes(bytes: Uint8Array, where: string, options: ImageInputOptions): Promise<ImageInput> {
  return imageInput(await decodeImage(bytes, where), options);
}

/** One decoded image as a model input: loadImageFile's and loadImageBytes' result. */
function imageInput(img: Rgba, options: ImageInputOptions): ImageInput {
  const [H, W] = options.size ?? [img.height, img.width];
  const x = new Float32Array(options.channels * H * W);
  const colour = toPlanes(img, options.channels, H, W, x, 0);
  return { x, inputShape: [options.channels, H, W], colour };
}

/**
 * Write one image as `channels` planes of H×W values in [0, 1] into out[offset ..], resizing if
 * needed; returns whether the image has colour (some pixel with R, G, B not all equal).
 */
function toPlanes(img: Rgba, channels: 1 | 3, H: number, W: number, out: Float32Array, offset: number): boolean {
  const { width: w, height: h, data } = img;
  const n = w * h;
  let colour = false;
  const planes: Float32Array[] = [];
  if (channels === 3) {
    for (let c = 0; c < 3; c++) {
      const p = new Float32Array(n);
      for (let i = 0; i < n; i++) p[i] = data[4 * i + c];
      planes.push(p);
    }
  } else {
    const p = new Float32Array(n);
    // Integer weights: a grey pixel (R = G = B = v) gives exactly v.
    for (let i = 0; i < n; i++) p[i] = (299 * data[4 * i] + 587 * data[4 * i + 1] + 114 * data[4 * i + 2]) / 1000;
    planes.push(p);
  }
  for (let i = 0; i < n; i++) {
    if (data[4 * i] !== data[4 * i + 1] || data[4 * i + 1] !== data[4 * i + 2]) { colour = true; break; }
  }
  planes.forEach((p, c) => {
    const resized = h === H && w === W ? p : resizePlane(p, h, w, H, W);
    const base = offset + c * H * W;
    for (let i = 0; i < H * W; i++) out[base + i] = resized[i] / 255;
  });
  return colour;
}

/** Per output index, the input indices and weights along one axis (area when shrinking, bilinear when growing). */
function axisWeights(inSize: number, outSize: number): Array<Array<[number, number]>> {
  const scale = inSize / outSize;
  const result: Array<Array<[number, number]>> = [];
  for (let o = 0; o < outSize; o++) {
    const taps: Array<[number, number]> = [];
    if (scale > 1) {
      const a = o * scale;
      const b = a + scale;
      for (let i = Math.floor(a); i < Math.min(inSize, Math.ceil(b)); i++) {
        const wgt = Math.min(b, i + 1) - Math.max(a, i);
        if (wgt > 0) taps.push([i, wgt / scale]);
      }
    } else {
      const c = Math.min(Math.max((o + 0.5) * scale - 0.5, 0), inSize - 1);
      const i0 = Math.floor(c);
      const i1 = Math.min(i0 + 1, inSize - 1);
      const t = c - i0;
      taps.push([i0, 1 - t]);
      if (t > 0) taps.push([i1, t]);
    }
    result.push(taps);
  }
  return result;
}

/**
 * Resize one plane (h × w, row-major) to H × W: area averaging along an axis that shrinks,
 * bilinear interpolation between pixel centres along one that grows; separable (rows, then columns).
 *
 * @example
 * resizePlane(new Float32Array([0, 255, 255, 0]), 2, 2, 1, 1); // Float32Array [127.5]
 */
export function resizePlane(plane: Float32Array, h: number, w: number, H: number, W: number): Float32Array {
  const wx = axisWeights(w, W);
  const wy = axisWeights(h, H);
  const tmp = new Float32Array(h * W);
  for (let r = 0; r < h; r++) {
    for (let o = 0; o < W; o++) {
      let s = 0;
      for (const [i, wgt] of wx[o]) s += plane[r * w + i] * wgt;
      tmp[r * W + o] = s;
    }
  }
  const out = new Float32Array(H * W);
  for (let o = 0; o < H; o++) {
    for (let c = 0; c < W; c++) {
      let s = 0;
      for (const [i, wgt] of wy[o]) s += tmp[i * W + c] * wgt;
      out[o * W + c] = s;
    }
  }
  return out;
}

/** A module nabla imports only when needed (optional peer dependencies); the name is a variable so that bundlers and tsc leave it alone. */
async function optionalImport(name: string, where: string, what: string): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    const m = await import(name);
    return m.default ?? m;
  } catch {
    throw new NablaError({
      where, expected: `the ${name} package to decode ${what}`, found: 'it is not installed',
      hint: `npm install ${name}`,
    });
  }
}

/** decodeImage for a file, read within the file-size budget. */
function decodeImageFile(path: string): Promise<Rgba> {
  return decodeImage(readFileChecked(path, 'image', MAX_IMAGE_FILE_BYTES), `image "${path}"`);
}

/** Decode a PNG or JPEG image to 8-bit RGBA, within the image budgets of docs/limits.md. */
async function decodeImage(bytes: Uint8Array, where: string): Promise<Rgba> {
  const isPng = hasPngSignature(bytes);
  const isJpeg = bytes[0] === 0xff && bytes[1] === 0xd8;
  if (!isPng && !isJpeg) {
    throw new NablaError({ where, expected: 'a PNG or JPEG image', found: `bytes ${[...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ')}`, hint: 'is the file damaged or misnamed?' });
  }
  if (isPng) {
    // The budgets and the chunk walk nabla predict uses: a bomb or a truncated file stops here.
    checkPngData(bytes, where);
    const pngjs = await optionalImport('pngjs', where, 'PNG images');
    try {
      const png = pngjs.PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return { width: png.width, height: png.height, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
    } catch (e) {
      throw new NablaError({ where, expected: 'a valid PNG image', found: `a damaged one (${(e as Error).message})`, hint: 'open it in an image viewer, or delete it' });
    }
  }
  const jpeg = await optionalImport('jpeg-js', where, 'JPEG images');
  try {
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_IMAGE_PIXELS / 2 ** 20, maxMemoryUsageInMB: 256 });
    return { width: img.width, height: img.height, data: img.data };
  } catch (e) {
    throw new NablaError({ where, expected: 'a valid JPEG image', found: `a damaged or too large one (${(e as Error).message})`, hint: 'open it in an image viewer, or delete it' });
  }
}

