/**
 * CSV files: read whole (loadCsv, up to MAX_FILE_BYTES), or chunk by chunk for files larger than
 * memory (openCsvChunks). Parsing and every check are the library's (data/csv.ts), so both agree
 * on layout, classes and errors (path:line, column).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { CsvClassMap, CsvRowReader, csvLayout, csvRecords, parseCsv, type CsvLayout, type CsvOptions, type CsvRecord } from '../data/csv.ts';
import { ChunkedDataset, type Chunk, type ChunkReader } from '../data/chunked.ts';
import type { Dataset, RegressionDataset } from '../data/dataset.ts';
import { NablaError } from '../errors.ts';
import { readFileChecked } from './files.ts';

/**
 * Read a CSV file as a dataset (see the library's parseCsv and CsvOptions for the header, label
 * column, scaling and class-order rules). Errors name `path:line` and the column.
 *
 * @example
 * const iris = loadCsv('iris.csv');                               // label column "species" found by name... or pass label
 * const digits = loadCsv('train.csv');                            // Kaggle digits: label column 0, pixels / 255, [1, 28, 28]
 * const houses = loadCsv('houses.csv', { task: 'regression', label: 'price' });
 */
export function loadCsv(path: string, options: CsvOptions & { task: 'regression' }): RegressionDataset;
export function loadCsv(path: string, options?: CsvOptions & { task?: 'classification' }): Dataset;
export function loadCsv(path: string, options?: CsvOptions): Dataset | RegressionDataset;
export function loadCsv(path: string, options: CsvOptions = {}): Dataset | RegressionDataset {
  // The whole file becomes one string, and V8 has no string longer than 2^29 − 24 characters.
  const bytes = readFileChecked(path, 'CSV file', MAX_CSV_IN_MEMORY_BYTES, 'train on it in chunks: openCsvChunks + fitSource (nabla train --stream)');
  const text = new TextDecoder('utf-8').decode(bytes);
  return parseCsv(text, { ...options, source: options.source ?? path });
}

/**
 * The largest CSV {@link loadCsv} reads whole: 512 MiB less 24 bytes, V8's longest string (the file
 * is decoded into one). Larger files train through {@link openCsvChunks} (`nabla train --stream`).
 *
 * @example loadCsv(path); // a NablaError naming the file when it is larger than MAX_CSV_IN_MEMORY_BYTES
 */
export const MAX_CSV_IN_MEMORY_BYTES = 2 ** 29 - 24;

/**
 * Options of {@link openCsvChunks}: CsvOptions plus the chunk and shuffle-buffer sizes.
 *
 * @example
 * const options: CsvChunkOptions = { chunkRows: 4096, bufferRows: 32768, label: 'label' };
 */
export interface CsvChunkOptions extends CsvOptions {
  /** Rows per chunk, the unit read from disk (default 4096). */
  chunkRows?: number;
  /** Rows in the shuffle buffer (default 4 chunks). */
  bufferRows?: number;
  /** Shuffle (chunk order and buffer; default true). */
  shuffle?: boolean;
  /** Bytes read from disk at a time during the first pass (default 1 MiB). */
  blockBytes?: number;
}

/**
 * A CSV file read chunk by chunk: a {@link ChunkedDataset} (so a BatchSource for fitSource) with
 * the table's layout and classes.
 *
 * @example
 * const data = openCsvChunks('big.csv');
 * data.classNames; // ['cat', 'dog'] when labels are strings
 */
export interface CsvChunks extends ChunkedDataset {
  readonly layout: CsvLayout;
  /** Classification: the class count; regression: 0. */
  readonly classes: number;
  readonly classNames: string[] | undefined;
  readonly inputShape: number[];
  /**
   * Each feature column's mean and population standard deviation over every row of the file, in
   * float64 (Welford's update during the first pass): what a Standardize layer in front of the
   * model needs (`setStatistics`), without another pass over the file.
   */
  readonly columnStatistics: { mean: Float64Array; std: Float64Array };
  /** Closes the file (reads after this fail). */
  close(): void;
}

/**
 * Open a CSV file too large for memory as a shuffled batch source.
 *
 * A first pass reads the file once, block by block (`blockBytes`), checking every row exactly as
 * loadCsv would (errors name path:line and column), collecting the classes, and recording the
 * byte offset and line of every `chunkRows`-th row. Each epoch then permutes the chunk order,
 * reads each chunk with one positioned read, and passes its rows through a shuffle buffer of
 * `bufferRows` rows: once the buffer is full, each incoming row replaces a uniformly chosen
 * buffered row, which goes to the batch (tf.data's shuffle); the buffer is drained in random
 * order at the end. Memory: the buffer, one chunk's bytes and rows, one batch, and 16 bytes per
 * chunk of offsets, whatever the file's size. Train with fitSource(model, source, options).
 *
 * @example
 * const source = openCsvChunks('train.csv', { chunkRows: 2048, bufferRows: 16384 });
 * const model = new Sequential([new Dense(64), new ReLU(), new Dense(source.classes)], { inputShape: source.inputShape });
 * await fitSource(model, source, { optimizer: new Adam(model.parameters()), loss: 'ce', epochs: 2 });
 * source.close();
 */
export function openCsvChunks(path: string, options: CsvChunkOptions = {}): CsvChunks {
  const source = options.source ?? path;
  const chunkRows = options.chunkRows ?? 4096;
  if (!Number.isInteger(chunkRows) || chunkRows < 1) {
    throw new NablaError({ where: 'openCsvChunks', expected: 'chunkRows a positive integer', found: String(options.chunkRows) });
  }
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new NablaError({ where: `CSV file "${path}"`, expected: 'a readable file', found: (e as NodeJS.ErrnoException).code ?? String(e) });
  }
  try {
    const size = fstatSync(fd).size;
    const decoder = new TextDecoder('utf-8');
    const records = byteRecords(fd, size, options.blockBytes ?? 1 << 20);
    const first = nextRecord(records, decoder, source, options.delimiter);
    if (!first) throw new NablaError({ where: source, expected: 'a CSV table', found: 'no rows', hint: 'is the file empty?' });
    const second = nextRecord(records, decoder, source, options.delimiter);
    const layout = csvLayout(first.rec.fields, second?.rec.fields, options, first.rec.line);
    const reader = new CsvRowReader(layout, source);
    const F = layout.featureColumns.length;
    const scratch = new Float32Array(F);
    const regression = layout.task === 'regression';
    if (layout.labelColumn === undefined) {
      throw new NablaError({ where: source, expected: 'a label column to train on', found: 'label: null', hint: 'a file without labels is for predict: use loadCsv' });
    }
    const labelCol = layout.labelColumn;
    const map = new CsvClassMap(options.classNames);
    const offsets: number[] = [];
    const lines: number[] = [];
    let count = 0;
    const mean = new Float64Array(F);
    const m2 = new Float64Array(F);
    const visit = (r: { rec: CsvRecord; start: number }): void => {
      if (count % chunkRows === 0) { offsets.push(r.start); lines.push(r.rec.line); }
      const label = reader.read(r.rec, scratch, 0)!;
      // Welford: the running mean and sum of squared deviations, exact enough for any row count.
      for (let j = 0; j < F; j++) {
        const d = scratch[j] - mean[j];
        mean[j] += d / (count + 1);
        m2[j] += d * (scratch[j] - mean[j]);
      }
      const where = (): string => `${source}:${r.rec.line}, ${layout.columnName(labelCol)}`;
      if (regression) {
        if (!Number.isFinite(Number(label))) {
          throw new NablaError({ where: where(), expected: 'a finite number (a regression target)', found: JSON.stringify(label) });
        }
      } else {
        map.add(label, where);
      }
      count++;
    };
    if (!layout.header) visit(first);
    if (second) visit(second);
    for (let r = nextRecord(records, decoder, source, options.delimiter); r; r = nextRecord(records, decoder, source, options.delimiter)) visit(r);
    if (count === 0) throw new NablaError({ where: source, expected: 'at least one data row', found: 'only the header' });
    offsets.push(size);
    const classes = regression ? 0 : map.finish(options.classOrder ?? 'sorted');
    const T = regression ? 1 : classes;
    let open = true;
    const chunkReader: ChunkReader = {
      chunks: lines.length, count, features: F, targets: T,
      readChunk(c: number): Chunk {
        if (!open) throw new NablaError({ where: source, expected: 'an open file', found: 'closed', hint: 'read before close()' });
        const bytes = Buffer.alloc(offsets[c + 1] - offsets[c]);
        readSync(fd, bytes, 0, bytes.length, offsets[c]);
        const rows = Math.min(chunkRows, count - c * chunkRows);
        const x = new Float32Array(rows * F);
        const y = new Float32Array(rows * T);
        let i = 0;
        for (const rec of csvRecords(decoder.decode(bytes), source, lines[c], options.delimiter)) {
          if (i >= rows) break;
          const label = reader.read(rec, x, i * F)!;
          if (regression) y[i] = Number(label);
          else y[i * T + map.indexOf(label)] = 1;
          i++;
        }
        if (i !== rows) {
          throw new NablaError({ where: `${source}:${lines[c]}`, expected: `${rows} rows in this chunk`, found: `${i}`, hint: 'the file changed after it was opened' });
        }
        return { x, y, rows };
      },
    };
    // CsvChunks' own fields on the ChunkedDataset (its type, from the interface, not written again).
    const data: CsvChunks = Object.assign(new ChunkedDataset(chunkReader, { bufferRows: options.bufferRows ?? 4 * chunkRows, shuffle: options.shuffle }), {
      layout,
      classes,
      classNames: regression ? undefined : map.names,
      inputShape: layout.inputShape,
      columnStatistics: { mean, std: m2.map((s) => Math.sqrt(s / count)) },
      close: () => { if (open) { open = false; closeSync(fd); } },
    });
    return data;
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Records of a file as byte ranges: a record ends at a LF outside double quotes. */
function* byteRecords(fd: number, size: number, blockBytes: number): Generator<{ bytes: Uint8Array; start: number }> {
  const block = Buffer.alloc(blockBytes);
  let carry: Uint8Array = new Uint8Array(0);
  let carryStart = 0;
  let inQuotes = false;
  let pos = 0;
  while (pos < size) {
    const n = readSync(fd, block, 0, Math.min(blockBytes, size - pos), pos);
    if (n <= 0) break;
    let recStart = 0;
    for (let i = 0; i < n; i++) {
      const b = block[i];
      if (b === 0x22) inQuotes = !inQuotes;
      else if (b === 0x0a && !inQuotes) {
        const piece = block.subarray(recStart, i + 1);
        const bytes = carry.length ? concat(carry, piece) : Uint8Array.from(piece);
        yield { bytes, start: carry.length ? carryStart : pos + recStart };
        carry = new Uint8Array(0);
        recStart = i + 1;
      }
    }
    if (recStart < n) {
      if (carry.length === 0) carryStart = pos + recStart;
      carry = concat(carry, block.subarray(recStart, n));
    }
    pos += n;
  }
  if (carry.length) yield { bytes: carry, start: carryStart };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** The next non-blank record, parsed, with its byte offset; line numbers count every LF before it. */
function nextRecord(
  it: Generator<{ bytes: Uint8Array; start: number }> & { line?: number },
  decoder: TextDecoder,
  source: string,
  delimiter?: string,
): { rec: CsvRecord; start: number } | undefined {
  for (;;) {
    const r = it.next();
    if (r.done) return undefined;
    const line = it.line ?? 1;
    let lf = 0;
    for (const b of r.value.bytes) if (b === 0x0a) lf++;
    it.line = line + lf;
    const text = decoder.decode(r.value.bytes);
    const recs = [...csvRecords(text, source, line, delimiter)];
    if (recs.length === 0) continue; // blank line
    return { rec: recs[0], start: r.value.start };
  }
}
