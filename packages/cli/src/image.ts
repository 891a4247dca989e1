/**
 * image: read a PNG of a handwritten digit for `nabla predict <model> <image.png ...>`.
 *
 * The CLI's part is only file IO and decoding: bytes → pngjs → RGBA. The maths (grey, polarity,
 * crop, scale, centre) lives in the library's src/data/digitImage.ts so the playground runs the
 * very same steps on a canvas.
 */
import { readFile, stat } from 'node:fs/promises';
import { inflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { NablaError, rgbaToInk, toMnistInput } from 'nabla';

/** The 8-byte signature every PNG starts with: \x89 P N G \r \n \x1a \n. */
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * The pixel budget of a digit image: width × height at most 2^22 = 4,194,304 (2048×2048; a 4K
 * screenshot cropped to the digit, a phone photo scaled to half). Checked from the PNG header
 * before anything is inflated, for `nabla predict` and `nabla serve` alike (both decode through
 * decodeDigitPng). The model sees 28×28; see docs/limits.md for the cost measured at the limit.
 */
export const MAX_IMAGE_PIXELS = 2 ** 22;

/**
 * The byte budget of a digit image's decompressed pixel data: 2^24 = 16 MiB (width × height ×
 * bits per pixel / 8), also checked from the header. It is what the pixel budget costs at 4 bytes per pixel (8-bit
 * RGBA); 16-bit images, which pngjs decodes 3–4× slower per pixel, get half the pixels.
 */
export const MAX_IMAGE_DATA_BYTES = 2 ** 24;

/**
 * The largest PNG file read from disk: 64 MiB. A PNG within the byte budget holds at most 16 MiB
 * of image data even stored uncompressed; anything bigger is padding.
 */
export const MAX_IMAGE_FILE_BYTES = 64 * 2 ** 20;

/**
 * Read a PNG file of one digit and return it as an MNIST-style input: 784 floats (28×28,
 * row-major), white digit on black, values in [0, 1].
 *
 * Any PNG pngjs decodes is accepted: any size, grey / grey+alpha / RGB / RGBA / palette,
 * 1–16 bits per channel, interlaced or not (pngjs normalises all of them to 8-bit RGBA).
 * Either polarity works: ink on paper is inverted automatically (see `rgbaToInk`).
 *
 * @throws NablaError naming the file when it is missing, empty, not a PNG (JPEG, GIF, BMP, WebP
 *         and TIFF are recognised by their signature and named) or a corrupt/truncated PNG.
 *
 * @example
 * const x = await readDigitPng('my-seven.png'); // Float32Array(784)
 */
export async function readDigitPng(path: string): Promise<Float32Array> {
  const where = `image file "${path}"`;

  let bytes: Buffer;
  try {
    // Size first: a huge file is refused before it is read.
    const st = await stat(path);
    if (st.isFile() && st.size > MAX_IMAGE_FILE_BYTES) {
      throw new NablaError({
        where,
        expected: `a PNG file of at most ${MAX_IMAGE_FILE_BYTES} bytes (64 MiB; see docs/limits.md)`,
        found: `${st.size} bytes`,
        hint: 'a digit needs far fewer pixels: scale the image down',
      });
    }
    bytes = await readFile(path);
  } catch (e) {
    if (e instanceof NablaError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const found =
      code === 'ENOENT' ? 'no such file'
      : code === 'EISDIR' ? 'a directory'
      : code === 'EACCES' || code === 'EPERM' ? 'a file it is not allowed to read'
      : `an unreadable file (${(e as Error).message})`;
    throw new NablaError({
      where,
      expected: 'a readable PNG file',
      found,
      hint: code === 'ENOENT' ? 'check the path' : undefined,
    });
  }

  return decodeDigitPng(bytes, where);
}

/**
 * Decode PNG bytes of one digit (a file's contents, an HTTP request body) to an MNIST-style input,
 * as {@link readDigitPng} does; `where` names the source in errors.
 *
 * Before pngjs sees the bytes (it inflates everything it is given), the chunk structure is walked
 * here: every chunk complete, IHDR first and valid, IEND present, width × height within
 * {@link MAX_IMAGE_PIXELS}, and the image data inflating to exactly the size the header implies
 * (inflation stops at that size, so a decompression bomb costs no more than an honest image).
 *
 * @example
 * const x = decodeDigitPng(body, 'request body'); // Float32Array(784)
 */
export function decodeDigitPng(bytes: Uint8Array, where: string): Float32Array {
  if (bytes.length === 0) {
    throw new NablaError({
      where,
      expected: 'a PNG image',
      found: 'an empty file (0 bytes)',
      hint: 'the file was probably not saved completely; export the image again',
    });
  }

  if (!hasPngSignature(bytes)) {
    const other = sniffFormat(bytes);
    throw new NablaError({
      where,
      expected: 'a PNG image (signature 89 50 4e 47 0d 0a 1a 0a)',
      found: other?.found ?? `bytes ${hex(bytes.subarray(0, 8))}, not an image format nabla knows`,
      hint: other?.hint ?? 'convert it to PNG',
    });
  }

  checkPngData(bytes, where);

  let png: { width: number; height: number; data: Buffer };
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    // NOTE: pngjs's messages are terse and, for truncation, cryptic ("There are some read
    // requests waitng on finished stream"): say what it means, keep its words for reference.
    const message = (e as Error).message || String(e);
    const endsEarly = /read requests|end of (stream|file)|unexpected end/i.test(message);
    throw new NablaError({
      where,
      expected: 'a valid PNG image',
      found: endsEarly
        ? `a corrupt PNG that ends early (pngjs: ${message})`
        : `a corrupt PNG (pngjs: ${message})`,
      hint: 'the file may be truncated or damaged; export it again',
    });
  }

  const ink = rgbaToInk(png.data, png.width, png.height, where);
  return toMnistInput(ink, png.width, png.height, where);
}

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
 * Walk the PNG's chunks and check them against the pixel budget and each other, without decoding
 * pixels (see decodeDigitPng). Throws a NablaError naming `where`.
 */
function checkPngData(bytes: Uint8Array, where: string): void {
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
      hint: 'a digit needs far fewer pixels: scale the image down (the model sees 28×28)',
    });
  }
  return { width, height, depth, colorType, interlace };
}

function hasPngSignature(bytes: Uint8Array): boolean {
  if (bytes.length < PNG_SIGNATURE.length) return false;
  return PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

/**
 * Name the format of a non-PNG file from its first bytes, so the message says what it is.
 * Returns undefined for bytes that match no known signature.
 */
function sniffFormat(bytes: Uint8Array): { found: string; hint?: string } | undefined {
  const ascii = (from: number, to: number) => String.fromCharCode(...bytes.subarray(from, to));
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return { found: 'a JPEG image' };
  if (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a') return { found: 'a GIF image' };
  if (ascii(0, 2) === 'BM') return { found: 'a BMP image' };
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return { found: 'a WebP image' };
  if (ascii(0, 4) === 'II*\0' || ascii(0, 4) === 'MM\0*') return { found: 'a TIFF image' };
  // "\x89PNG" then something other than \r\n\x1a\n: the classic FTP ASCII-mode damage, which
  // is exactly what the signature's \r\n and \n bytes exist to detect.
  if (bytes[0] === 0x89 && ascii(1, 4) === 'PNG') {
    return {
      found: 'a PNG whose signature was damaged by a text-mode transfer (line endings changed)',
      hint: 'copy the file again in binary mode',
    };
  }
  return undefined;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}
