/**
 * PNG files checked before they are decoded: the image budgets (docs/limits.md) and a walk of the
 * chunks that refuses decompression bombs and truncated files. `nabla predict`, `nabla serve` and
 * loadImageFolder all read PNGs through these checks; the decoding itself is pngjs's.
 */
import { inflateSync } from 'node:zlib';
import { NablaError } from '../errors.ts';

/** The 8-byte signature every PNG starts with: \x89 P N G \r \n \x1a \n. */
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * The pixel budget of an image: width × height at most 2^22 = 4,194,304 (2048×2048; a 4K
 * screenshot cropped to the digit, a phone photo scaled to half). Checked from the PNG header
 * before anything is inflated, for `nabla predict`, `nabla serve` and image folders alike; see
 * docs/limits.md for the cost measured at the limit.
 *
 * @example checkPngData(bytes, 'image "a.png"'); // refuses more than MAX_IMAGE_PIXELS pixels
 */
export const MAX_IMAGE_PIXELS = 2 ** 22;

/**
 * The byte budget of an image's decompressed pixel data: 2^24 = 16 MiB (width × height ×
 * bits per pixel / 8), also checked from the header. It is what the pixel budget costs at 4 bytes per pixel (8-bit
 * RGBA); 16-bit images, which pngjs decodes 3–4× slower per pixel, get half the pixels.
 *
 * @example checkPngData(bytes, 'image "a.png"'); // refuses more than MAX_IMAGE_DATA_BYTES of pixel data
 */
export const MAX_IMAGE_DATA_BYTES = 2 ** 24;

/**
 * The largest image file read from disk: 64 MiB. A PNG within the byte budget holds at most 16 MiB
 * of image data even stored uncompressed; anything bigger is padding.
 *
 * @example readFileChecked('a.png', 'image', MAX_IMAGE_FILE_BYTES);
 */
export const MAX_IMAGE_FILE_BYTES = 64 * 2 ** 20;

/** Channels per pixel by PNG colour type, and the bit depths each allows (PNG spec, 11.2.2). */
const COLOR_TYPES: Readonly<Record<number, { channels: number; depths: number[]; name: string }>> = {
  0: { channels: 1, depths: [1, 2, 4, 8, 16], name: 'grey' },
  2: { channels: 3, depths: [8, 16], name: 'RGB' },
  3: { channels: 1, depths: [1, 2, 4, 8], name: 'palette' },
  4: { channels: 2, depths: [8, 16], name: 'grey+alpha' },
  6: { channels: 4, depths: [8, 16], name: 'RGBA' },
};

/** Adam7's seven passes: [x start, x step, y start, y step]. */
const ADAM7 = [[0, 8, 0, 8], [4, 8, 0, 8], [0, 4, 4, 8], [2, 4, 0, 4], [0, 2, 2, 4], [1, 2, 0, 2], [0, 1, 1, 2]];

/**
 * Walk a PNG's chunks and check them against the pixel budget and each other, without decoding
 * pixels: the header's size against MAX_IMAGE_PIXELS and MAX_IMAGE_DATA_BYTES before anything is
 * inflated, then the image data inflated with its output capped at exactly what the header
 * implies. Throws a NablaError naming `where`. A decoder (pngjs) may then run on the bytes safely.
 *
 * @example
 * checkPngData(bytes, 'image "scan.png"'); // a decompression bomb or a truncated file is refused here
 */
export function checkPngData(bytes: Uint8Array, where: string): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const corrupt = (found: string, hint = 'the file may be truncated or damaged; export it again') =>
    new NablaError({ where, expected: 'a valid PNG image', found, hint });
  const idat: Uint8Array[] = [];
  let header: { width: number; height: number; depth: number; colorType: number; interlace: number } | undefined;
  let ended = false;
  for (let at = PNG_SIGNATURE.length; !ended;) {
    if (at + 8 > bytes.length) {
      throw corrupt(`a corrupt PNG that ends early (no IEND chunk: the file stops after ${bytes.length} bytes)`);
    }
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    if (at + 12 + length > bytes.length) {
      throw corrupt(`a corrupt PNG that ends early (chunk ${JSON.stringify(type)} declares ${length} bytes, ${Math.max(0, bytes.length - at - 12)} are left)`);
    }
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (header === undefined && type !== 'IHDR') throw corrupt(`a first chunk ${JSON.stringify(type)} instead of IHDR`);
    if (type === 'IHDR') header = readIhdr(data, corrupt, where);
    else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') ended = true;
    at += 12 + length;
  }
  if (!header) throw corrupt('no IHDR chunk');
  if (idat.length === 0) throw corrupt('no image data (no IDAT chunk)');

  // The exact size of the filtered scanlines the header implies: 1 filter byte + packed pixels per row.
  const bitsPerPixel = COLOR_TYPES[header.colorType].channels * header.depth;
  const rowBytes = (w: number) => 1 + Math.ceil((w * bitsPerPixel) / 8);
  let expected = 0;
  if (header.interlace === 0) {
    expected = header.height * rowBytes(header.width);
  } else {
    for (const [x0, dx, y0, dy] of ADAM7) {
      const w = Math.ceil(Math.max(0, header.width - x0) / dx);
      const h = Math.ceil(Math.max(0, header.height - y0) / dy);
      if (w > 0 && h > 0) expected += h * rowBytes(w);
    }
  }
  // The byte budget counts the pixels' bytes (not the per-row filter bytes), so 2048×2048 8-bit RGBA fits.
  const pixelBytes = Math.ceil((header.width * header.height * bitsPerPixel) / 8);
  if (pixelBytes > MAX_IMAGE_DATA_BYTES) {
    throw new NablaError({
      where,
      expected: `pixel data of at most ${MAX_IMAGE_DATA_BYTES} bytes once decompressed (16 MiB; see docs/limits.md)`,
      found: `a ${header.width}×${header.height} ${COLOR_TYPES[header.colorType].name} image of ${header.depth}-bit samples: ${pixelBytes} bytes`,
      hint: 'scale the image down, or save it with 8-bit samples',
    });
  }
  // Inflate with the output capped at that size: a stream that inflates further is refused as soon
  // as it passes it, so a decompression bomb costs what an honest image of its size costs.
  let inflated: Buffer;
  try {
    inflated = inflateSync(Buffer.concat(idat), { maxOutputLength: expected });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_BUFFER_TOO_LARGE') {
      throw corrupt(`image data that inflates to more than the ${expected} bytes a ${header.width}×${header.height} image holds (a decompression bomb, or a damaged file)`);
    }
    const endsEarly = err.code === 'Z_BUF_ERROR' || /unexpected end/i.test(err.message);
    throw corrupt(endsEarly
      ? `a corrupt PNG that ends early (the compressed image data stops short: ${err.message})`
      : `a corrupt PNG (image data: ${err.message})`);
  }
  if (inflated.length !== expected) {
    throw corrupt(`a corrupt PNG that ends early (its image data holds ${inflated.length} of the ${expected} bytes a ${header.width}×${header.height} image needs: truncated)`);
  }
}

function readIhdr(
  data: Uint8Array, corrupt: (found: string) => NablaError, where: string,
): { width: number; height: number; depth: number; colorType: number; interlace: number } {
  if (data.length !== 13) throw corrupt(`an IHDR chunk of ${data.length} bytes (13 expected)`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const width = view.getUint32(0);
  const height = view.getUint32(4);
  const [depth, colorType, compression, filter, interlace] = data.subarray(8, 13);
  if (width === 0 || height === 0 || width > 2 ** 31 - 1 || height > 2 ** 31 - 1) {
    throw corrupt(`a size of ${width}×${height} in its header (each side must be 1 to 2^31-1)`);
  }
  const type = COLOR_TYPES[colorType];
  if (!type || !type.depths.includes(depth) || compression !== 0 || filter !== 0 || interlace > 1) {
    throw corrupt(`a header with colour type ${colorType}, bit depth ${depth}, compression ${compression}, filter ${filter}, interlace ${interlace}`);
  }
  // The pixel budget, before a single byte is inflated.
  if (width * height > MAX_IMAGE_PIXELS) {
    throw new NablaError({
      where,
      expected: `an image of at most ${MAX_IMAGE_PIXELS} pixels (2048×2048; see docs/limits.md)`,
      found: `${width}×${height} = ${width * height} pixels`,
      hint: 'scale the image down (a digit model sees 28×28)',
    });
  }
  return { width, height, depth, colorType, interlace };
}

/**
 * Whether the bytes start with PNG's 8-byte signature.
 * @example hasPngSignature(readFileSync('a.png')); // true
 */
export function hasPngSignature(bytes: Uint8Array): boolean {
  if (bytes.length < PNG_SIGNATURE.length) return false;
  return PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}
