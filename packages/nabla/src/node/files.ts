/**
 * File plumbing for Node: reading with clear errors, and atomic writes (temp file in the same
 * folder, then rename), so an interrupted or failed save never leaves a half-written model.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { NablaError } from '../errors.ts';

/**
 * The largest file nabla reads whole (model files, checkpoints, weights, IDX files): 1 GiB.
 * Node cannot read a file over 2 GiB into one buffer at all (ERR_FS_FILE_TOO_LARGE), and a model
 * file is decoded into float32 copies of its tensors, so 1 GiB already costs ~2 GiB of memory.
 * See docs/limits.md.
 *
 * @example readFileChecked(path, 'model file', MAX_FILE_BYTES);
 */
export const MAX_FILE_BYTES = 2 ** 30;

/**
 * Read a whole file; a missing path, a folder or a file over `maxBytes` (default MAX_FILE_BYTES,
 * checked before reading) is a NablaError naming the file's role (with `tooLargeHint` for the last).
 *
 * @example
 * const bytes = readFileChecked('model.safetensors', 'model file');
 */
export function readFileChecked(path: string, role: string, maxBytes = MAX_FILE_BYTES, tooLargeHint = 'is this the right file?'): Uint8Array {
  let size: number;
  try {
    const st = statSync(path);
    if (st.isDirectory()) {
      throw new NablaError({ where: `${role} "${path}"`, expected: 'a file', found: 'a directory' });
    }
    size = st.size;
  } catch (e) {
    if (e instanceof NablaError) throw e;
    throw new NablaError({
      where: `${role} "${path}"`, expected: 'an existing file', found: describeFsError(e),
      hint: 'check the path',
    });
  }
  if (size === 0) {
    throw new NablaError({ where: `${role} "${path}"`, expected: 'a non-empty file', found: 'an empty file (0 bytes)' });
  }
  if (size > maxBytes) {
    throw new NablaError({
      where: `${role} "${path}"`, expected: `a file of at most ${maxBytes} bytes (${formatBytes(maxBytes)}; see docs/limits.md)`,
      found: `${size} bytes (${formatBytes(size)})`, hint: tooLargeHint,
    });
  }
  return new Uint8Array(readFileSync(path));
}

/**
 * Write bytes atomically: to "<name>.tmp-<pid>" beside the target, then rename over it. On any
 * failure the temp file is removed and the previous file (if any) is left untouched.
 *
 * @example
 * writeFileAtomic('out/weights.bin', bytes, 'weights file');
 */
export function writeFileAtomic(path: string, bytes: Uint8Array, role: string): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}`);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (e) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // The temp file could not even be created (e.g. the folder is a file): nothing to clean.
    }
    throw new NablaError({
      where: `${role} "${path}"`, expected: 'a writable location', found: describeFsError(e),
      hint: 'check that the folder exists or can be created, is writable, and the disk is not full',
    });
  }
}

/** 1073741824 → "1 GiB", 3221225472 → "3 GiB", 268436480 → "256.0 MiB". */
function formatBytes(n: number): string {
  for (const [unit, size] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const) {
    if (n >= size) return `${Number.isInteger(n / size) ? n / size : (n / size).toFixed(1)} ${unit}`;
  }
  return `${n} bytes`;
}

function describeFsError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ENOENT') return 'no such file or directory';
  if (err.code === 'EACCES' || err.code === 'EPERM') return 'permission denied';
  if (err.code === 'ENOSPC') return 'no space left on device';
  if (err.code === 'EISDIR') return 'a directory';
  if (err.code === 'ENOTDIR' || err.code === 'EEXIST') return 'a path through a file that is not a folder';
  return err.message ?? String(e);
}
