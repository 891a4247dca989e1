/**
 * CSV tables → datasets. RFC 4180: fields separated by commas, records by CRLF or LF, a field in
 * double quotes may hold commas, line breaks and doubled quotes (""). Every error names the
 * source and the line (1-based, the line where the record starts) and, for a cell, its column.
 *
 *   a header row (detected, or told)     → column names; the label column found by name
 *   label column                          → classes (strings or integers ≥ 0) or a regression target
 *   every other column                    → a numeric feature, x: (N, features) float32
 *
 * Kaggle's digit files (`label,pixel0..pixel783`, and test.csv without the label) are recognised
 * by their pixel column names: their values are divided by 255 and a square image gets the input
 * shape [1, side, side].
 */
import { NablaError } from '../errors.ts';
import { assembleClassification, imageShapeFor, type Dataset, type RegressionDataset } from './dataset.ts';

/**
 * One CSV record and the line it starts on (1-based).
 *
 * @example
 * for (const r of csvRecords('a,b\n1,"x, y"\n')) console.log(r.line, r.fields); // 1 ['a','b'], 2 ['1','x, y']
 */
export interface CsvRecord {
  fields: string[];
  line: number;
}

/**
 * Split CSV text into records (RFC 4180). Blank lines are skipped; a quote left open at the end
 * of the text is an error naming the line it opened on.
 *
 * @example
 * [...csvRecords('label,x\ncat,1\n')].map((r) => r.fields); // [['label', 'x'], ['cat', '1']]
 */
export function* csvRecords(text: string, source = 'CSV', firstLine = 1, delimiter = ','): Generator<CsvRecord> {
  const n = text.length;
  const delim = delimiter.charCodeAt(0);
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; // a byte-order mark (Excel writes one)
  let line = firstLine;
  while (i < n) {
    const start = line;
    const fields: string[] = [];
    let field = '';
    let quotedField = false;
    for (;;) {
      if (i >= n) { fields.push(field); break; }
      let c = text.charCodeAt(i);
      if (c === 0x22 && field === '' && !quotedField) {
        // A quoted field: up to the closing quote; "" is one quote.
        const open = line;
        i++;
        let buf = '';
        let segment = i;
        for (;;) {
          if (i >= n) {
            throw new NablaError({
              where: `${source}:${open}`, expected: 'a closing double quote for the field opened on this line', found: 'the end of the file',
              hint: 'a quote inside a quoted field is written twice ("")',
            });
          }
          c = text.charCodeAt(i);
          if (c === 0x22) {
            if (text.charCodeAt(i + 1) === 0x22) { buf += text.slice(segment, i + 1); i += 2; segment = i; continue; }
            buf += text.slice(segment, i);
            i++;
            break;
          }
          if (c === 0x0a) line++;
          i++;
        }
        field = buf;
        quotedField = true;
        continue;
      }
      if (c === delim) { fields.push(field); field = ''; quotedField = false; i++; continue; }
      if (c === 0x0a || c === 0x0d) {
        fields.push(field);
        if (c === 0x0d && text.charCodeAt(i + 1) === 0x0a) i++;
        i++;
        line++;
        break;
      }
      // Unquoted text (or text after a closing quote, kept as is: lenient like most readers).
      let j = i;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === delim || d === 0x0a || d === 0x0d) break;
        j++;
      }
      field += text.slice(i, j);
      i = j;
    }
    if (fields.length === 1 && fields[0] === '' && !quotedField) continue; // a blank line
    yield { fields, line: start };
  }
}

/**
 * How to read a CSV table as a dataset.
 *
 * @example
 * const options: CsvOptions = { label: 'species', header: true, classOrder: 'sorted' };
 */
export interface CsvOptions {
  /** Names the data in messages, e.g. the file path (default 'CSV'). */
  source?: string;
  /**
   * Whether the first record is a header (default 'auto': it is when some column is a number
   * in the second record but not in the first, or when no cell of the first record is a number).
   */
  header?: boolean | 'auto';
  /**
   * The label (target) column, by name or 0-based index; `null` for none (Kaggle's test.csv:
   * y is then empty and labels all 0). Default: a column named label, target, class or y (any
   * case; preferred in that order, so 'x,y,label' has its label in "label"); else the only
   * column whose first data value is not a number (iris' "species"); else column 0 (Kaggle's
   * `label,pixel0..pixel783`).
   */
  label?: string | number | null;
  /** 'classification' (default): labels become classes; 'regression': the target stays a number, y (N, 1). */
  task?: 'classification' | 'regression';
  /**
   * Divide every feature by this (default 'auto': 255 when the columns are pixels, named
   * pixel0, pixel1, ... as in Kaggle's digit files, else 1, values untouched).
   */
  scale?: number | 'auto';
  /**
   * The classes, index → name, to map labels with (e.g. the training set's, to read a test set
   * the same way); a label not among them is an error. Default: found in the data, see classOrder.
   */
  classNames?: string[];
  /**
   * Order of classes found in the data when labels are strings: 'sorted' (default; the same
   * indices whatever the row order, so a train and a test file agree) or 'first-seen'. Labels that
   * are all integers ≥ 0 are class indices themselves, and get no names.
   */
  classOrder?: 'sorted' | 'first-seen';
  /** The per-sample shape (default: [1, side, side] for square pixel tables, else [features]). */
  inputShape?: number[];
  /** Field separator (default ','). */
  delimiter?: string;
}

/**
 * The layout of a CSV table, from its header (or first record) and the options.
 *
 * @example
 * const layout: CsvLayout = csvLayout(['f0', 'f1', 'species'], ['5.1', '1.4', 'setosa'], {});
 * layout.featureColumns; // [0, 1]
 */
export interface CsvLayout {
  header: string[] | undefined;
  columns: number;
  labelColumn: number | undefined;
  featureColumns: number[];
  scale: number;
  inputShape: number[];
  task: 'classification' | 'regression';
  /** The name of column c, for messages: 'column "pixel3"' or 'column 4'. */
  columnName(c: number): string;
}

const LABEL_NAMES = ['label', 'target', 'class', 'y'];

function isNumber(s: string): boolean {
  return s.trim() !== '' && !Number.isNaN(Number(s));
}

/**
 * Decide a table's layout from its first two records: header or not, the label column, the
 * feature columns, the scale and the input shape (see {@link CsvOptions} for each default).
 *
 * @example
 * const layout = csvLayout(['label', 'pixel0', 'pixel1'], ['3', '0', '255'], {});
 * layout.labelColumn; // 0
 * layout.scale;       // 255
 */
export function csvLayout(first: string[], second: string[] | undefined, options: CsvOptions, firstLine = 1): CsvLayout {
  const source = options.source ?? 'CSV';
  const task = options.task ?? 'classification';
  let hasHeader: boolean;
  if (options.header === undefined || options.header === 'auto') {
    hasHeader = first.every((f) => !isNumber(f)) ||
      (second !== undefined && first.some((f, c) => !isNumber(f) && second[c] !== undefined && isNumber(second[c])));
  } else {
    hasHeader = options.header;
  }
  const header = hasHeader ? first.map((f) => f.trim()) : undefined;
  const columns = first.length;
  const columnName = (c: number): string => (header ? `column "${header[c]}"` : `column ${c}`);
  let labelColumn: number | undefined;
  if (options.label === null) {
    labelColumn = undefined;
  } else if (typeof options.label === 'number') {
    if (!Number.isInteger(options.label) || options.label < 0 || options.label >= columns) {
      throw new NablaError({
        where: `${source}:${firstLine}`, expected: `a label column index in 0..${columns - 1}`, found: String(options.label),
      });
    }
    labelColumn = options.label;
  } else if (typeof options.label === 'string') {
    labelColumn = header?.indexOf(options.label);
    if (labelColumn === undefined || labelColumn < 0) {
      throw new NablaError({
        where: `${source}:${firstLine}`, expected: `a column named "${options.label}"`,
        found: header ? `columns ${listColumns(header)}` : 'no header row',
        hint: header ? 'name the label column by its header name or index' : 'without a header, name the label column by its 0-based index',
      });
    }
  } else {
    // In this order: a table of points with columns x, y, label has its label in "label".
    const lower = header?.map((h) => h.toLowerCase());
    const name = lower && LABEL_NAMES.find((n) => lower.includes(n));
    const named = name ? lower!.indexOf(name) : -1;
    const row = header ? second : first;
    const text = row ? row.map((f, c) => (isNumber(f) ? -1 : c)).filter((c) => c >= 0) : [];
    labelColumn = named >= 0 ? named : text.length === 1 ? text[0] : 0;
  }
  const featureColumns = [...Array(columns).keys()].filter((c) => c !== labelColumn);
  const pixels = header !== undefined && featureColumns.length > 0 && featureColumns.every((c) => /^pixel\d+$/i.test(header[c]));
  let scale: number;
  if (options.scale === undefined || options.scale === 'auto') scale = pixels ? 255 : 1;
  else scale = options.scale;
  if (!(scale > 0 && Number.isFinite(scale))) {
    throw new NablaError({ where: source, expected: 'scale, the divisor of every feature, a number > 0', found: String(options.scale) });
  }
  const side = Math.round(Math.sqrt(featureColumns.length));
  let inputShape = options.inputShape ?? (pixels && side * side === featureColumns.length ? [1, side, side] : [featureColumns.length]);
  inputShape = [...inputShape];
  const product = inputShape.reduce((a, b) => a * b, 1);
  if (product !== featureColumns.length) {
    throw new NablaError({
      where: source, expected: `an inputShape of ${featureColumns.length} values (the feature columns)`,
      found: `[${inputShape.join(', ')}] = ${product}`,
    });
  }
  return { header, columns, labelColumn, featureColumns, scale, inputShape, task, columnName };
}

function listColumns(header: string[]): string {
  const shown = header.slice(0, 8).map((h) => `"${h}"`).join(', ');
  return header.length > 8 ? `${shown} and ${header.length - 8} more` : shown;
}

/**
 * Parses one record's cells into features (and a label cell), checking the column count, that
 * every feature is a finite number, and that the label is present. Shared by parseCsv and the
 * Node streaming reader.
 */
export class CsvRowReader {
  readonly layout: CsvLayout;
  private readonly source: string;

  constructor(layout: CsvLayout, source: string) {
    this.layout = layout;
    this.source = source;
  }

  /** Write the record's features, divided by the scale, into out[offset ..]; return its label cell (trimmed). */
  read(record: CsvRecord, out: Float32Array, offset: number): string | undefined {
    const { layout } = this;
    const f = record.fields;
    if (f.length !== layout.columns) {
      throw new NablaError({
        where: `${this.source}:${record.line}`, expected: `${layout.columns} columns${layout.header ? ' (as the header has)' : ' (as the first row has)'}`,
        found: `${f.length}`, hint: 'a comma inside a value needs the value in double quotes',
      });
    }
    const cols = layout.featureColumns;
    const scale = layout.scale;
    for (let j = 0; j < cols.length; j++) {
      const cell = f[cols[j]];
      const v = Number(cell);
      // Number('') and Number('  ') are 0: only a zero can be an empty cell.
      if (!Number.isFinite(v) || (v === 0 && cell.trim() === '')) {
        throw new NablaError({
          where: `${this.source}:${record.line}, ${layout.columnName(cols[j])}`,
          expected: 'a finite number', found: cell.trim() === '' ? 'an empty cell' : JSON.stringify(cell),
          hint: Number.isNaN(v) && cell.trim() !== '' && !/^\s*nan\s*$/i.test(cell)
            ? 'non-numeric columns must be encoded as numbers (or dropped) before training'
            : 'fill or drop missing values before training',
        });
      }
      out[offset + j] = scale === 1 ? v : v / scale;
    }
    if (layout.labelColumn === undefined) return undefined;
    const label = f[layout.labelColumn].trim();
    if (label === '') {
      throw new NablaError({
        where: `${this.source}:${record.line}, ${layout.columnName(layout.labelColumn)}`, expected: 'a label', found: 'an empty cell',
        hint: 'drop rows without a label',
      });
    }
    return label;
  }
}

/**
 * Turns label cells into class indices: integers ≥ 0 are indices; strings become classes in
 * `classOrder` (collect every label first with `add`, then `finish`), or are looked up in given
 * classNames.
 */
export class CsvClassMap {
  private readonly given: string[] | undefined;
  private readonly seen = new Map<string, number>();
  private numeric = true;
  private maxIndex = -1;
  names: string[] | undefined;
  private index = new Map<string, number>();

  constructor(classNames?: string[]) {
    this.given = classNames;
    if (classNames) {
      this.numeric = false;
      classNames.forEach((n, i) => this.index.set(n, i));
      this.names = [...classNames];
    }
  }

  /** Record one label cell (first pass). `where` names file:line and column for errors. */
  add(label: string, where: () => string): void {
    if (this.given) {
      if (!this.index.has(label)) {
        throw new NablaError({
          where: where(), expected: `one of the classes ${listColumns(this.given)}`, found: JSON.stringify(label),
          hint: 'the data has a class the given classNames lack',
        });
      }
      return;
    }
    if (!this.seen.has(label)) this.seen.set(label, this.seen.size);
    if (this.numeric) {
      const v = Number(label);
      if (Number.isInteger(v) && v >= 0 && /^\s*\+?\d+(\.0*)?\s*$/.test(label)) {
        if (v > this.maxIndex) this.maxIndex = v;
      } else if (isNumber(label)) {
        throw new NablaError({
          where: where(), expected: 'a class: an integer ≥ 0 or a name', found: label,
          hint: Number.isFinite(v) && v >= 0 ? "real-valued targets are regression: pass task: 'regression'" : 'class indices start at 0',
        });
      } else {
        this.numeric = false;
      }
    }
  }

  /** Fix the class indices after every label was added. */
  finish(order: 'sorted' | 'first-seen'): number {
    if (this.given) return this.given.length;
    if (this.numeric) {
      this.names = undefined;
      return this.maxIndex + 1;
    }
    const names = [...this.seen.keys()];
    if (order === 'sorted') names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    this.names = names;
    this.index = new Map(names.map((n, i) => [n, i]));
    return names.length;
  }

  /** The class index of a label (after finish). */
  indexOf(label: string): number {
    return this.names ? this.index.get(label)! : Number(label);
  }
}

/**
 * Read CSV text as a dataset: classification (default; string or integer labels) or, with
 * `task: 'regression'`, real-valued targets. See {@link CsvOptions} for the header, label column,
 * scaling and class-order defaults. Errors name `source:line` and the column.
 *
 * @example
 * const iris = parseCsv('sepal,petal,species\n5.1,1.4,setosa\n6.3,6.0,virginica\n', { source: 'iris.csv' });
 * iris.classNames; // ['setosa', 'virginica']
 * const houses = parseCsv(text, { task: 'regression', label: 'price' }); // y: (N, 1)
 */
export function parseCsv(text: string, options: CsvOptions & { task: 'regression' }): RegressionDataset;
export function parseCsv(text: string, options?: CsvOptions & { task?: 'classification' }): Dataset;
export function parseCsv(text: string, options?: CsvOptions): Dataset | RegressionDataset;
export function parseCsv(text: string, options: CsvOptions = {}): Dataset | RegressionDataset {
  const source = options.source ?? 'CSV';
  const it = csvRecords(text, source, 1, options.delimiter);
  const r1 = it.next();
  if (r1.done) throw new NablaError({ where: source, expected: 'a CSV table', found: 'no rows', hint: 'is the file empty?' });
  const r2 = it.next();
  const layout = csvLayout(r1.value.fields, r2.done ? undefined : r2.value.fields, options, r1.value.line);
  const reader = new CsvRowReader(layout, source);
  const F = layout.featureColumns.length;
  // Room for the rows the text probably holds (its length over the second record's, +10%), so
  // that a large file is not copied while it grows.
  const recordChars = Math.max(2, (r2.done ? r1.value.fields : r2.value.fields).reduce((a, f) => a + f.length + 1, 0));
  let x = new Float32Array(Math.max(F, Math.ceil((text.length / recordChars) * 1.1) * F));
  const labelCells: string[] = [];
  const lines: number[] = [];
  let count = 0;
  const take = (rec: CsvRecord): void => {
    if ((count + 1) * F > x.length) {
      const bigger = new Float32Array(Math.max((count + 1) * F, x.length * 2));
      bigger.set(x);
      x = bigger;
    }
    const label = reader.read(rec, x, count * F);
    if (label !== undefined) { labelCells.push(label); lines.push(rec.line); }
    count++;
  };
  if (!layout.header) take(r1.value);
  if (!r2.done) {
    take(r2.value);
    for (const rec of it) take(rec);
  }
  x = x.length === count * F ? x : x.slice(0, count * F);
  if (count === 0) {
    throw new NablaError({ where: source, expected: 'at least one data row', found: 'only the header', hint: 'is the file complete?' });
  }
  const labelCol = layout.labelColumn;
  if (layout.task === 'regression') {
    if (labelCol === undefined) {
      throw new NablaError({ where: source, expected: 'a target column for regression', found: 'label: null', hint: 'name the target column with label' });
    }
    const y = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      const v = Number(labelCells[i]);
      if (!Number.isFinite(v)) {
        throw new NablaError({
          where: `${source}:${lines[i]}, ${layout.columnName(labelCol)}`, expected: 'a finite number (a regression target)',
          found: JSON.stringify(labelCells[i]), hint: 'string targets are classes: leave out task: \'regression\'',
        });
      }
      y[i] = v;
    }
    return {
      x, y, count, features: F, targets: 1, inputShape: layout.inputShape,
      ...(layout.header ? { targetNames: [layout.header[labelCol]], featureNames: layout.featureColumns.map((c) => layout.header![c]) } : {}),
    };
  }
  if (labelCol === undefined) {
    // No label column (Kaggle's test.csv): inputs only, for predict.
    return {
      x, y: new Float32Array(0), labels: new Uint8Array(count), count, features: F, classes: 0,
      imageShape: imageShapeFor(layout.inputShape), inputShape: layout.inputShape,
    };
  }
  const map = new CsvClassMap(options.classNames);
  for (let i = 0; i < count; i++) map.add(labelCells[i], () => `${source}:${lines[i]}, ${layout.columnName(labelCol)}`);
  const classes = map.finish(options.classOrder ?? 'sorted');
  const indices = new Int32Array(count);
  for (let i = 0; i < count; i++) indices[i] = map.indexOf(labelCells[i]);
  return assembleClassification(x, indices, classes, layout.inputShape, map.names);
}
