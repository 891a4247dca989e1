/**
 * Mini-batches: the order of one epoch and the gathering of rows into reusable buffers.
 *
 *   order: (N) uint32 permutation of 0..N-1 (identity when not shuffling)
 *   batch x: (B, features), batch y: (B, classes); B = batchSize, the last batch may be smaller
 *
 * Gathering writes into buffers allocated once per run, so a training epoch allocates nothing per
 * batch (TF.js spends much of an MNIST epoch in per-batch gathering).
 */
import type { Backend } from '../backend/backend.ts';
import { JsBackend } from '../backend/js/jsBackend.ts';
import { NablaError } from '../errors.ts';
import type { Rng } from '../random.ts';

/**
 * Samples as rows: x (count × features), y (count × targets). A Dataset is one; so is any pair of
 * row-major buffers a user brings.
 *
 * @example
 * const xor: Samples = { x: new Float32Array([0, 0, 0, 1, 1, 0, 1, 1]), y: new Float32Array([0, 1, 1, 0]), count: 4 };
 */
export interface Samples {
  x: Float32Array;
  y: Float32Array;
  count: number;
}

/** Row widths of a Samples: features per input row and values per target row. */
export function rowWidths(ds: Samples): { features: number; targets: number } {
  return ds.count === 0 ? { features: 0, targets: 0 } : { features: ds.x.length / ds.count, targets: ds.y.length / ds.count };
}

/**
 * Number of batches in an epoch of `count` samples: ceil(count / batchSize).
 *
 * @example
 * batchCount(60000, 64); // 938 (the last batch has 32 samples)
 */
export function batchCount(count: number, batchSize: number): number {
  checkBatchSize(batchSize);
  return Math.ceil(count / batchSize);
}

/**
 * The sample order of one epoch: a seeded permutation when `shuffle` is on, the identity
 * otherwise (`rng` is then not touched). Pass `out` to reuse a buffer across epochs.
 *
 * The permutation always starts from the identity before shuffling, so an epoch's order depends
 * only on the Rng state; restoring the Rng from a checkpoint reproduces the next epoch exactly.
 *
 * @example
 * const order = epochOrder(ds.count, true, rng); // e.g. Uint32Array [3, 0, 4, 1, 2]
 */
export function epochOrder(count: number, shuffle: boolean, rng: Rng, out?: Uint32Array): Uint32Array {
  const order = out ?? new Uint32Array(count);
  if (order.length !== count) {
    throw new NablaError({
      where: 'epochOrder',
      expected: `an order buffer of length ${count}`,
      found: `length ${order.length}`,
    });
  }
  for (let i = 0; i < count; i++) order[i] = i;
  if (shuffle) rng.shuffle(order);
  return order;
}

/** The row copies when no backend is named. */
const REFERENCE = new JsBackend();

/**
 * Copy rows `order[start .. start+count)` of `ds` into the first `count` rows of `outX`
 * (B, features) and `outY` (B, classes), with `backend`'s gatherRows. No data buffer is
 * allocated; the same buffers are reused batch after batch.
 *
 * @example
 * const bx = new Float32Array(64 * ds.features);
 * const by = new Float32Array(64 * ds.classes);
 * gatherBatch(bx, by, ds, order, 0, 64); // the first batch of the epoch
 */
export function gatherBatch(
  outX: Float32Array,
  outY: Float32Array,
  ds: Samples,
  order: Uint32Array,
  start: number,
  count: number,
  backend: Backend = REFERENCE,
): void {
  const { features: F, targets: K } = rowWidths(ds);
  if (start < 0 || count < 0 || start + count > order.length) {
    throw new NablaError({
      where: 'gatherBatch',
      expected: `a range within the epoch order (length ${order.length})`,
      found: `start ${start}, count ${count}`,
    });
  }
  if (outX.length < count * F || outY.length < count * K) {
    throw new NablaError({
      where: 'gatherBatch',
      expected: `buffers for ${count} rows (x ≥ ${count * F}, y ≥ ${count * K} values)`,
      found: `x ${outX.length}, y ${outY.length} values`,
      hint: 'allocate the batch buffers for the full batch size',
    });
  }
  backend.gatherRows(outX, ds.x, order, start, count, F);
  backend.gatherRows(outY, ds.y, order, start, count, K);
}

/**
 * One batch handed out by {@link BatchIterator}; its buffers are reused by the next batch.
 *
 * @example
 * for (const batch of new BatchIterator(train, { batchSize: 64, shuffle: true, rng: new Rng(1) }).epoch()) {
 *   model.trainStep(new Tensor([batch.size, 784], batch.x), new Tensor([batch.size, 10], batch.y), 'ce', optimizer);
 * }
 */
export interface Batch {
  /** (size, features) inputs. */
  x: Float32Array;
  /** (size, classes) targets. */
  y: Float32Array;
  /** Rows in this batch: batchSize, or less for the last batch. */
  size: number;
  /** Position of the first row in the epoch order: the rows are order[start .. start+size). */
  start: number;
  /** The whole epoch order (dataset row indices), shared by every batch of the epoch. */
  order: Uint32Array;
}

/**
 * Iterates a dataset in mini-batches, epoch after epoch, with preallocated buffers.
 *
 * NOTE: each yielded {@link Batch} views buffers that the next batch overwrites; copy what you
 * need to keep.
 *
 * @example
 * const it = new BatchIterator(train, { batchSize: 64, shuffle: true, rng: new Rng(1) });
 * for (const batch of it.epoch()) {
 *   step(batch.x, batch.y, batch.size); // x: (size, features), y: (size, classes)
 * }
 */
export class BatchIterator {
  readonly dataset: Samples;
  readonly batchSize: number;
  readonly shuffle: boolean;
  private readonly rng: Rng;
  private readonly backend: Backend;
  private readonly order: Uint32Array;
  // NOTE: kept only to keep the order's memory alive: a wasm backend frees an allocation when
  // the Float32Array it handed out is collected, and `order` is a second view of the same bytes.
  private readonly orderBuffer: Float32Array;
  // Full-size buffers plus, when the last batch is short, views over their leading rows, so
  // even the last batch allocates nothing.
  private readonly fullX: Float32Array;
  private readonly fullY: Float32Array;
  private readonly lastX: Float32Array;
  private readonly lastY: Float32Array;
  /**
   * The second set of input buffers, allocated the first time the backend takes on the next
   * batch's gather ahead (Backend.prefetchRows): the next batch's rows go there while this batch
   * is being used, and the two sets take turns.
   */
  private spare: { full: Float32Array; last: Float32Array } | undefined;

  /**
   * `backend` allocates the batch buffers and gathers the rows (default: the JS backend's plain
   * Float32Arrays); pass the model's, so that the first layer reads the batch without a copy.
   */
  constructor(
    dataset: Samples,
    options: { batchSize: number; shuffle: boolean; rng: Rng; backend?: Backend },
  ) {
    checkBatchSize(options.batchSize);
    this.dataset = dataset;
    this.batchSize = options.batchSize;
    this.shuffle = options.shuffle;
    this.rng = options.rng;
    this.backend = options.backend ?? REFERENCE;
    const allocate = (length: number): Float32Array => this.backend.allocate(length);
    // The order lives in the backend's memory too (as uint32), for its gather kernel.
    this.orderBuffer = allocate(dataset.count);
    this.order = new Uint32Array(this.orderBuffer.buffer, this.orderBuffer.byteOffset, dataset.count);
    // A batch never holds more than the dataset, so tiny datasets get tiny buffers.
    const rows = Math.min(this.batchSize, dataset.count);
    const { features, targets } = rowWidths(dataset);
    this.fullX = allocate(rows * features);
    this.fullY = allocate(rows * targets);
    const lastRows = dataset.count % this.batchSize || rows;
    this.lastX = this.fullX.subarray(0, lastRows * features);
    this.lastY = this.fullY.subarray(0, lastRows * targets);
  }

  /** Batches per epoch. */
  get batches(): number {
    return batchCount(this.dataset.count, this.batchSize);
  }

  /**
   * One epoch: draws a new order (shuffled if enabled), then yields every batch in turn, starting
   * at batch `skip` (a run resumed mid-epoch: same order, the first `skip` batches already done).
   * `onOrder` runs right after the order is drawn (a resume then moves the Rng on to where the
   * skipped batches' dropout masks and augmentations left it).
   */
  *epoch(skip = 0, onOrder?: () => void): Generator<Batch, void, undefined> {
    const ds = this.dataset;
    epochOrder(ds.count, this.shuffle, this.rng, this.order);
    onOrder?.();
    const batch: Batch = { x: this.fullX, y: this.fullY, size: 0, start: 0, order: this.order };
    const own = { full: this.fullX, last: this.lastX };
    // Where this batch's rows go (or went, when the backend gathered them ahead).
    let x = own;
    for (let start = skip * this.batchSize; start < ds.count; start += this.batchSize) {
      const size = Math.min(this.batchSize, ds.count - start);
      const last = size < this.batchSize;
      gatherBatch(x.full, this.fullY, ds, this.order, start, size, this.backend);
      const next = this.aheadInto(x === own ? undefined : own, start + this.batchSize);
      batch.x = last ? x.last : x.full;
      batch.y = last ? this.lastY : this.fullY;
      batch.size = size;
      batch.start = start;
      yield batch;
      x = next ?? x;
    }
  }

  /**
   * Offer the gather of the batch at `start` to the backend (prefetchRows), into `into` or the
   * spare buffers; returns the buffers it will land in, or undefined if the backend declined.
   */
  private aheadInto(into: { full: Float32Array; last: Float32Array } | undefined, start: number): { full: Float32Array; last: Float32Array } | undefined {
    const ds = this.dataset;
    if (!this.backend.prefetchRows || start >= ds.count) return undefined;
    const { features } = rowWidths(ds);
    if (!into) {
      if (!this.spare) {
        const full = this.backend.allocate(this.fullX.length);
        this.spare = { full, last: full.subarray(0, this.lastX.length) };
      }
      into = this.spare;
    }
    const size = Math.min(this.batchSize, ds.count - start);
    return this.backend.prefetchRows(into.full, ds.x, this.order, start, size, features) ? into : undefined;
  }
}

function checkBatchSize(batchSize: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new NablaError({
      where: 'batches',
      expected: 'a batch size that is a positive integer',
      found: `${batchSize}`,
      hint: 'try --batch-size 64',
    });
  }
}
