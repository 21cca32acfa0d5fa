/**
 * Loading a small tabular data set from CSV text and preparing it for a rare-event experiment:
 * a stratified train/test split, subsampling the positives down to a rare prevalence, and
 * standardization fitted on the training rows only (fitting it on all rows leaks the test set).
 *
 * All randomness is seeded, so an experiment is reproducible from its seed alone.
 */
import { clip, clippedList, quoted } from '../../clip';
import { createRng } from './synthetic-fraud';

export interface ParseCsvOptions {
  /** The name of the label column (as written in the header). */
  label: string;
  /** For a label column of two distinct strings (e.g. 'M'/'B'): the value that means positive.
   * Without it, the label column must hold the numbers 0 and 1. */
  positive?: string;
  /** Columns to leave out (ids, dates, leaks). Every name must exist in the header. */
  drop?: string[];
}

export interface ParsedCsv {
  /** Row-major rows × cols, the feature columns in header order. */
  x: Float32Array;
  y: Uint8Array;
  featureNames: string[];
  rows: number;
  cols: number;
}

interface CsvRecord {
  cells: string[];
  /** 1-based line of the file on which the record starts, for error messages. */
  line: number;
}

/**
 * RFC 4180 records: commas, LF, CRLF or CR line ends, double-quoted cells with "" for a quote.
 * A cell is quoted when its first character other than whitespace is a quote; after the closing
 * quote only whitespace may follow before the comma or line end (anything else is an error, not
 * glued on: `"say "hi""` is a missing "" far more often than a cell). A quote inside an unquoted
 * cell is literal. A line of nothing but whitespace carries no record.
 */
function readRecords(text: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let cells: string[] = [];
  let cell = '';
  let inQuotes = false;
  let closed = false; // after the closing quote of this cell
  let line = 1;
  let start = 1;
  let i = 0;
  const endRecord = (): void => {
    cells.push(cell);
    if (!(cells.length === 1 && (cells[0] as string).trim() === '')) records.push({ cells, line: start });
    cells = [];
    cell = '';
    closed = false;
  };
  while (i < text.length) {
    const ch = text[i] as string;
    if (inQuotes) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i += 2;
          continue;
        }
        inQuotes = false;
        closed = true;
        i += 1;
        continue;
      }
      // \n, \r\n and \r each end one line of the file, inside a quoted cell too.
      if (ch === '\n' || (ch === '\r' && text[i + 1] !== '\n')) line += 1;
      cell += ch;
      i += 1;
      continue;
    }
    if (ch === ',') {
      cells.push(cell);
      cell = '';
      closed = false;
    } else if (ch === '\n' || ch === '\r') {
      endRecord();
      i += ch === '\r' && text[i + 1] === '\n' ? 2 : 1;
      line += 1;
      start = line;
      continue;
    } else if (closed) {
      if (ch.trim() !== '') {
        throw new Error(`parseCsv: line ${line}: text after the closing quote of a quoted cell (a quote inside a quoted cell is written "")`);
      }
    } else if (ch === '"' && cell.trim() === '') {
      inQuotes = true;
      cell = '';
    } else {
      cell += ch;
    }
    i += 1;
  }
  if (inQuotes) throw new Error(`parseCsv: a quoted cell that starts on line ${start} is never closed`);
  endRecord();
  return records;
}

/** A decimal number: digits with an optional sign, point and exponent. Not hex, binary, octal,
 * `Infinity`, `NaN` or separators, which Number() would also take or turn into something else. */
const DECIMAL = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;

/** A feature cell's value as float32, or why it has none. */
function featureValue(raw: string): number | string {
  if (raw === '') return 'the cell is empty';
  if (!DECIMAL.test(raw)) return `the cell is ${quoted(raw)}, not a decimal number`;
  const v = Math.fround(Number(raw));
  // 1e39 is a fine float64 but Infinity as float32, the type of the features.
  if (!Number.isFinite(v)) return `${clip(raw)} is outside the float32 range (±3.4028234663852886e+38)`;
  return v;
}

/**
 * Parses CSV text with a header row into features and 0/1 labels.
 *
 * Every column except the label and the dropped ones is a feature and must hold, in every row,
 * a decimal number that fits float32 (no missing values: impute before, or drop the column; no
 * hex, `NaN` or `Infinity`). Errors are one line, name the line and column, and show at most 40
 * characters of a cell (docs/errors.md).
 *
 * @example parseCsv(text, {label: 'diagnosis', positive: 'M', drop: ['id']})
 */
export function parseCsv(text: string, options: ParseCsvOptions): ParsedCsv {
  if (typeof text !== 'string') throw new TypeError(`parseCsv: text must be a string; got ${typeof text}`);
  if (options == null || typeof options.label !== 'string') {
    throw new TypeError("parseCsv: options.label (the name of the label column) is required");
  }
  const { label, positive } = options;
  const drop = options.drop ?? [];
  // A BOM would otherwise become part of the first column's name.
  const records = readRecords(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  if (records.length === 0) throw new Error('parseCsv: the text is empty (no header row)');

  const header = (records[0] as CsvRecord).cells.map((h) => h.trim());
  const seen = new Set<string>();
  header.forEach((h, j) => {
    if (h === '') throw new Error(`parseCsv: header column ${j + 1} has no name`);
    if (seen.has(h)) throw new Error(`parseCsv: header column '${clip(h)}' appears twice`);
    seen.add(h);
  });
  const labelCol = header.indexOf(label);
  if (labelCol < 0) throw new Error(`parseCsv: no label column '${clip(label)}'; the columns are ${clippedList(header)}`);
  for (const d of drop) {
    if (d === label) throw new Error(`parseCsv: cannot drop the label column '${clip(label)}'`);
    if (!seen.has(d)) throw new Error(`parseCsv: cannot drop '${clip(d)}': no such column; the columns are ${clippedList(header)}`);
  }
  const featureCols: number[] = [];
  header.forEach((h, j) => {
    if (j !== labelCol && !drop.includes(h)) featureCols.push(j);
  });

  const rows = records.length - 1;
  const cols = featureCols.length;
  const x = new Float32Array(rows * cols);
  const y = new Uint8Array(rows);
  const labelValues = new Set<string>();
  for (let r = 0; r < rows; r++) {
    const { cells, line } = records[r + 1] as CsvRecord;
    if (cells.length !== header.length) {
      throw new Error(`parseCsv: line ${line} has ${cells.length} cells; the header has ${header.length}`);
    }
    for (let k = 0; k < cols; k++) {
      const j = featureCols[k] as number;
      const v = featureValue((cells[j] as string).trim());
      if (typeof v === 'string') throw new Error(`parseCsv: line ${line}, column '${clip(header[j] as string)}': ${v}`);
      x[r * cols + k] = v;
    }
    const raw = (cells[labelCol] as string).trim();
    if (positive !== undefined) {
      labelValues.add(raw);
      if (labelValues.size > 2) {
        throw new Error(
          `parseCsv: label column '${clip(label)}' has more than two distinct values (${clippedList([...labelValues])}, line ${line}); a binary label is required`,
        );
      }
      y[r] = raw === positive ? 1 : 0;
    } else {
      const v = DECIMAL.test(raw) ? Number(raw) : NaN;
      if (v !== 0 && v !== 1) {
        throw new Error(
          `parseCsv: line ${line}, label column '${clip(label)}': ${quoted(raw)} is not 0 or 1` +
            ` (for a label of two strings, pass {positive: <the positive value>})`,
        );
      }
      y[r] = v;
    }
  }
  if (positive !== undefined && rows > 0 && !labelValues.has(positive)) {
    throw new Error(
      `parseCsv: positive value ${quoted(positive)} never occurs in label column '${clip(label)}'; its values are ${clippedList([...labelValues])}`,
    );
  }
  return { x, y, featureNames: featureCols.map((j) => header[j] as string), rows, cols };
}

function checkLabels(fn: string, y: ArrayLike<number>): void {
  for (let i = 0; i < y.length; i++) {
    if (y[i] !== 0 && y[i] !== 1) throw new RangeError(`${fn}: labels must be 0 or 1; y[${i}] is ${String(y[i])}`);
  }
}

function checkSeed(fn: string, seed: number): void {
  if (typeof seed !== 'number' || !Number.isInteger(seed)) throw new RangeError(`${fn}: seed must be an integer; got ${String(seed)}`);
}

/** Fisher-Yates, in place, from a seeded stream. */
function shuffle(a: number[], uniform: () => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(uniform() * (i + 1));
    const t = a[i] as number;
    a[i] = a[j] as number;
    a[j] = t;
  }
}

/**
 * Splits row indices into train and test, keeping each class's share: each class sends
 * `round(count · testFraction)` of its rows, chosen at random, to test. A class with at least
 * two rows always lands on both sides, so a rare class never vanishes from the test set.
 *
 * @param testFraction in (0, 1).
 * @returns ascending row indices of each side.
 */
export function stratifiedSplit(
  y: ArrayLike<number>,
  testFraction: number,
  seed: number,
): { train: Uint32Array; test: Uint32Array } {
  if (typeof testFraction !== 'number' || !(testFraction > 0 && testFraction < 1)) {
    throw new RangeError(`stratifiedSplit: testFraction must be a number in (0, 1); got ${String(testFraction)}`);
  }
  checkSeed('stratifiedSplit', seed);
  checkLabels('stratifiedSplit', y);
  const uniform = createRng(seed);
  const train: number[] = [];
  const test: number[] = [];
  for (const cls of [0, 1]) {
    const members: number[] = [];
    for (let i = 0; i < y.length; i++) if (y[i] === cls) members.push(i);
    shuffle(members, uniform);
    let k = Math.round(members.length * testFraction);
    if (members.length >= 2) k = Math.min(Math.max(k, 1), members.length - 1);
    for (let m = 0; m < members.length; m++) (m < k ? test : train).push(members[m] as number);
  }
  return { train: Uint32Array.from(train).sort(), test: Uint32Array.from(test).sort() };
}

/**
 * Keeps every negative and a random subset of the positives, so that the positives make up
 * `targetPrevalence` of the result: `k = round(target · negatives / (1 − target))` positives.
 * Turns a balanced data set (breast cancer: 37% malignant) into a rare-event one.
 *
 * @param targetPrevalence in (0, 1), below the current prevalence.
 * @returns ascending row indices to keep.
 * @throws when the target is not below the current prevalence, or would keep no positive.
 */
export function subsamplePositives(y: ArrayLike<number>, targetPrevalence: number, seed: number): Uint32Array {
  const fn = 'subsamplePositives';
  if (typeof targetPrevalence !== 'number' || !(targetPrevalence > 0 && targetPrevalence < 1)) {
    throw new RangeError(`${fn}: targetPrevalence must be a number in (0, 1); got ${String(targetPrevalence)}`);
  }
  checkSeed(fn, seed);
  checkLabels(fn, y);
  const positives: number[] = [];
  const keep: number[] = [];
  for (let i = 0; i < y.length; i++) (y[i] === 1 ? positives : keep).push(i);
  const negatives = keep.length;
  const k = Math.round((targetPrevalence * negatives) / (1 - targetPrevalence));
  if (k > positives.length) {
    const current = y.length === 0 ? NaN : positives.length / y.length;
    throw new RangeError(
      `${fn}: the prevalence is already ${current.toFixed(4)}, not above the target ${targetPrevalence}; subsampling positives can only lower it`,
    );
  }
  if (k < 1) {
    throw new RangeError(`${fn}: a prevalence of ${targetPrevalence} among ${negatives} negatives keeps no positive`);
  }
  shuffle(positives, createRng(seed));
  for (let m = 0; m < k; m++) keep.push(positives[m] as number);
  return Uint32Array.from(keep).sort();
}

/**
 * Standardizes each column to mean 0 and standard deviation 1, with the mean and (population)
 * standard deviation of the training rows only, applied to every row. A column that is constant
 * on the training rows becomes 0 everywhere (it carries no information the model could scale).
 *
 * @param x row-major rows × cols.
 * @param trainIdx the rows to fit on (e.g. `stratifiedSplit(...).train`).
 * @returns a new Float32Array; `x` is not changed.
 */
export function standardize(x: Float32Array, cols: number, trainIdx: ArrayLike<number>): Float32Array {
  const fn = 'standardize';
  if (!Number.isInteger(cols) || cols < 1) throw new RangeError(`${fn}: cols must be an integer ≥ 1; got ${String(cols)}`);
  if (x.length % cols !== 0) throw new RangeError(`${fn}: x has ${x.length} values, not a multiple of cols = ${cols}`);
  const rows = x.length / cols;
  if (trainIdx.length === 0) throw new RangeError(`${fn}: trainIdx is empty; the statistics need at least one row`);
  for (let t = 0; t < trainIdx.length; t++) {
    const r = trainIdx[t] as number;
    if (!Number.isInteger(r) || r < 0 || r >= rows) {
      throw new RangeError(`${fn}: trainIdx[${t}] is ${String(r)}, not a row index in [0, ${rows})`);
    }
  }
  const n = trainIdx.length;
  const mean = new Float64Array(cols);
  const min = new Float64Array(cols).fill(Infinity);
  const max = new Float64Array(cols).fill(-Infinity);
  for (let t = 0; t < n; t++) {
    const base = (trainIdx[t] as number) * cols;
    for (let j = 0; j < cols; j++) {
      const v = x[base + j] as number;
      mean[j] += v;
      if (v < (min[j] as number)) min[j] = v;
      if (v > (max[j] as number)) max[j] = v;
    }
  }
  for (let j = 0; j < cols; j++) mean[j] = (mean[j] as number) / n;
  // Two passes: the one-pass E[x²] − E[x]² loses everything to cancellation when |mean| ≫ std.
  const std = new Float64Array(cols);
  for (let t = 0; t < n; t++) {
    const base = (trainIdx[t] as number) * cols;
    for (let j = 0; j < cols; j++) {
      const d = (x[base + j] as number) - (mean[j] as number);
      std[j] += d * d;
    }
  }
  // "Constant" is tested as min = max, which holds exactly, rather than std = 0, which would rest on
  // an argument about rounding in the mean (a tiny non-zero std would blow rounding noise up to ±1).
  const scale = new Float64Array(cols);
  for (let j = 0; j < cols; j++) scale[j] = min[j] === max[j] ? 0 : 1 / Math.sqrt((std[j] as number) / n);
  const out = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) {
      const k = r * cols + j;
      out[k] = ((x[k] as number) - (mean[j] as number)) * (scale[j] as number);
    }
  }
  return out;
}
