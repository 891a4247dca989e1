/**
 * image: read a PNG of a handwritten digit for `nabla predict <model> <image.png ...>`.
 *
 * The CLI's part is only file IO and decoding: bytes → pngjs → RGBA. The maths (grey, polarity,
 * crop, scale, centre) lives in the library's src/data/digitImage.ts so the playground runs the
 * very same steps on a canvas.
 */
import { readFile, stat } from 'node:fs/promises';
import { PNG } from 'pngjs';
import { NablaError, rgbaToInk, toMnistInput } from 'nabla';
import { MAX_IMAGE_FILE_BYTES, checkPngData, hasPngSignature } from 'nabla/node';


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
