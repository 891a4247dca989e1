/**
 * Data larger than memory: a source that reads rows chunk by chunk (a CSV or .npy file on disk,
 * see nabla/node's openCsvChunks and openNpyChunks), shuffled with bounded memory, in batches
 * that fitSource trains on.
 *
 * Shuffling, every epoch:
 *   1. the chunk order is a seeded permutation of 0..chunks-1 (chunks are `chunkRows` consecutive rows);
 *   2. rows flow through a shuffle buffer of `bufferRows` rows (tf.data's algorithm): while the
 *      buffer is not full, an incoming row joins it; once full, each incoming row replaces a
 *      uniformly chosen buffered row, which is emitted; at the end the buffer is emitted in a
 *      random order. The emitted rows are cut into batches.
 * Memory: the buffer (bufferRows × (features + targets) floats), one chunk, one batch. A row
 * lands at most bufferRows + chunkRows positions earlier than in chunk order, and can be emitted
 * arbitrarily later; with bufferRows ≥ a few chunks, rows of different chunks mix within a batch.
 */
import { NablaError } from '../errors.ts';
import type { Rng } from '../random.ts';
import type { Samples } from './batches.ts';

/**
 * Rows of one chunk: x (rows, features), y (rows, targets).
 *
 * @example
 * const chunk: Chunk = source.readChunk(0); // chunk.rows ≤ source.chunkRows
 */
export interface Chunk {
  x: Float32Array;
  y: Float32Array;
  rows: number;
}

/**
 * Anything that reads its rows in numbered chunks: what {@link ChunkedDataset} shuffles.
 *
 * @example
 * const reader: ChunkReader = { chunks: 1, count: xor.count, features: 2, targets: 1, readChunk: () => ({ ...xor, rows: 4 }) };
 */
export interface ChunkReader {
  /** Number of chunks. */
  readonly chunks: number;
  /** Rows in all chunks. */
  readonly count: number;
  readonly features: number;
  readonly targets: number;
  /** The rows of chunk c (0 ≤ c < chunks), in file order. */
  readChunk(c: number): Chunk;
}

/**
 * One batch from a {@link BatchSource}; its buffers are reused by the next batch.
 *
 * @example
 * for (const b of source.epoch(64, rng)) console.log(b.size, b.x.length / b.size);
 */
export interface SourceBatch {
  x: Float32Array;
  y: Float32Array;
  size: number;
}

/**
 * What fitSource trains on: the shape of the rows and a fresh sequence of batches per epoch.
 *
 * @example
 * const source: BatchSource = openCsvChunks('train.csv', { chunkRows: 4096 });
 * await fitSource(model, source, { optimizer, loss: 'ce', epochs: 3 });
 */
export interface BatchSource {
  readonly count: number;
  readonly features: number;
  readonly targets: number;
  /** Batches of one epoch, in an order drawn from `rng`. */
  epoch(batchSize: number, rng: Rng): Iterable<SourceBatch>;
}

/**
 * Wraps a {@link ChunkReader} as a {@link BatchSource} that shuffles with bounded memory: the
 * chunk order is permuted each epoch and rows pass through a shuffle buffer of `bufferRows` rows
 * (see the module comment for exactly how). With `shuffle: false` rows come in file order.
 *
 * @example
 * const ds = new ChunkedDataset(reader, { bufferRows: 4 * reader.count / reader.chunks });
 * for (const batch of ds.epoch(64, new Rng(1))) step(batch.x, batch.y, batch.size);
 */
export class ChunkedDataset implements BatchSource {
  readonly reader: ChunkReader;
  readonly bufferRows: number;
  readonly shuffle: boolean;

  constructor(reader: ChunkReader, options: { bufferRows?: number; shuffle?: boolean } = {}) {
    this.reader = reader;
    this.bufferRows = options.bufferRows ?? 10000;
    this.shuffle = options.shuffle ?? true;
    if (!Number.isInteger(this.bufferRows) || this.bufferRows < 1) {
      throw new NablaError({ where: 'ChunkedDataset', expected: 'bufferRows a positive integer', found: String(options.bufferRows) });
    }
  }

  get count(): number { return this.reader.count; }
  get features(): number { return this.reader.features; }
  get targets(): number { return this.reader.targets; }

  /** Batches of one epoch: chunks in a permuted order through the shuffle buffer (if shuffling). */
  *epoch(batchSize: number, rng: Rng): Generator<SourceBatch> {
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new NablaError({ where: 'ChunkedDataset', expected: 'a batch size that is a positive integer', found: String(batchSize) });
    }
    const { features: F, targets: T } = this;
    const order = Uint32Array.from({ length: this.reader.chunks }, (_, i) => i);
    if (this.shuffle) rng.shuffle(order);
    const cap = this.shuffle ? this.bufferRows : 0;
    const bufX = new Float32Array(cap * F);
    const bufY = new Float32Array(cap * T);
    let held = 0;
    const bx = new Float32Array(batchSize * F);
    const by = new Float32Array(batchSize * T);
    const batch: SourceBatch = { x: bx, y: by, size: 0 };
    let size = 0;
    // Emit row r of (x, y) into the batch; returns true when the batch is full.
    const emit = (x: Float32Array, y: Float32Array, r: number): boolean => {
      bx.set(x.subarray(r * F, (r + 1) * F), size * F);
      by.set(y.subarray(r * T, (r + 1) * T), size * T);
      size++;
      return size === batchSize;
    };
    for (const c of order) {
      const chunk = this.reader.readChunk(c);
      for (let r = 0; r < chunk.rows; r++) {
        let full: boolean;
        if (cap === 0) {
          full = emit(chunk.x, chunk.y, r);
        } else if (held < cap) {
          bufX.set(chunk.x.subarray(r * F, (r + 1) * F), held * F);
          bufY.set(chunk.y.subarray(r * T, (r + 1) * T), held * T);
          held++;
          continue;
        } else {
          const j = rng.int(cap);
          full = emit(bufX, bufY, j);
          bufX.set(chunk.x.subarray(r * F, (r + 1) * F), j * F);
          bufY.set(chunk.y.subarray(r * T, (r + 1) * T), j * T);
        }
        if (full) { batch.size = size; yield batch; size = 0; }
      }
    }
    // Drain the buffer in a random order.
    const rest = Uint32Array.from({ length: held }, (_, i) => i);
    if (held > 1) rng.shuffle(rest);
    for (const j of rest) {
      if (emit(bufX, bufY, j)) { batch.size = size; yield batch; size = 0; }
    }
    if (size > 0) {
      batch.x = bx.subarray(0, size * F);
      batch.y = by.subarray(0, size * T);
      batch.size = size;
      yield batch;
    }
  }
}

/**
 * An in-memory {@link Samples} as a {@link ChunkReader} of `chunkRows`-row chunks: to test a
 * streaming pipeline, or to train on held data through fitSource.
 *
 * @example
 * const source = new ChunkedDataset(samplesChunks(train, 1000), { bufferRows: 5000 });
 */
export function samplesChunks(ds: Samples, chunkRows: number): ChunkReader {
  const F = ds.count ? ds.x.length / ds.count : 0;
  const T = ds.count ? ds.y.length / ds.count : 0;
  return {
    chunks: Math.ceil(ds.count / chunkRows), count: ds.count, features: F, targets: T,
    readChunk(c: number): Chunk {
      const a = c * chunkRows;
      const b = Math.min(ds.count, a + chunkRows);
      return { x: ds.x.subarray(a * F, b * F), y: ds.y.subarray(a * T, b * T), rows: b - a };
    },
  };
}
