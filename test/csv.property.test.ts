// parseCsv against generated CSV text: random cells (numbers written many ways, near-numbers,
// words, empty), quoting, \n / \r\n / \r line ends, a BOM, blank lines and huge cells. Every text
// either parses to exactly what a simple reference parse (below, written from the documented
// rules, not from the parser) gives, or throws an Error whose message is one line shorter than
// 300 characters. `npm test` runs a fixed number of cases; KINTSUGI_FUZZ_RUNS runs more.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCsv, ParseCsvOptions, ParsedCsv } from '../src/eval/data/csv';
import { fuzzParameters } from './fuzz';

// ---------------------------------------------------------------------------------------------
// The reference: records by one regular expression per cell, then the documented checks.

/** Whitespace inside a line (what String.prototype.trim removes, less the line ends). */
const WS = '[^\\S\\r\\n]*';
/** A quoted cell (with "" for a quote) and the spaces around it, or an unquoted cell. */
const CELL = new RegExp(`${WS}"((?:[^"]|"")*)"${WS}|((?!${WS}")[^,\\r\\n]*)`, 'y');
const DECIMAL = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;

type Reference = { ok: true; value: Pick<ParsedCsv, 'featureNames' | 'rows' | 'cols'> & { x: number[]; y: number[] } } | { ok: false; why: string };

function referenceRecords(text: string): string[][] | null {
  if (text.startsWith('\ufeff')) text = text.slice(1);
  const records: string[][] = [];
  let cells: string[] = [];
  let i = 0;
  for (;;) {
    CELL.lastIndex = i;
    const m = CELL.exec(text);
    if (m === null) return null; // a quote that never closes
    cells.push(m[1] !== undefined ? m[1].replace(/""/g, '"') : (m[2] as string));
    i = CELL.lastIndex;
    if (text[i] === ',') {
      i += 1;
      continue;
    }
    if (i < text.length && text[i] !== '\r' && text[i] !== '\n') return null; // text after a closing quote
    // A line holding nothing but whitespace is no record.
    if (!(cells.length === 1 && (cells[0] as string).trim() === '')) records.push(cells);
    cells = [];
    if (i >= text.length) return records;
    i += text.startsWith('\r\n', i) ? 2 : 1;
  }
}

function reference(text: string, options: ParseCsvOptions): Reference {
  const fail = (why: string): Reference => ({ ok: false, why });
  const records = referenceRecords(text);
  if (records === null) return fail('quoting');
  if (records.length === 0) return fail('empty');
  const header = (records[0] as string[]).map((h) => h.trim());
  if (header.some((h) => h === '') || new Set(header).size !== header.length) return fail('header');
  const labelCol = header.indexOf(options.label);
  if (labelCol < 0) return fail('no label');
  const featureCols = header.map((_, j) => j).filter((j) => j !== labelCol);
  const x: number[] = [];
  const y: number[] = [];
  const labels = new Set<string>();
  for (const cells of records.slice(1)) {
    if (cells.length !== header.length) return fail('cell count');
    for (const j of featureCols) {
      const raw = (cells[j] as string).trim();
      if (!DECIMAL.test(raw) || !Number.isFinite(Math.fround(Number(raw)))) return fail(`feature ${raw}`);
      x.push(Math.fround(Number(raw)));
    }
    const raw = (cells[labelCol] as string).trim();
    if (options.positive !== undefined) {
      labels.add(raw);
      if (labels.size > 2) return fail('three labels');
      y.push(raw === options.positive ? 1 : 0);
    } else {
      if (!DECIMAL.test(raw) || (Number(raw) !== 0 && Number(raw) !== 1)) return fail(`label ${raw}`);
      y.push(Number(raw));
    }
  }
  if (options.positive !== undefined && y.length > 0 && !labels.has(options.positive)) return fail('positive never occurs');
  return { ok: true, value: { featureNames: featureCols.map((j) => header[j] as string), rows: y.length, cols: featureCols.length, x, y } };
}

// ---------------------------------------------------------------------------------------------
// Generators.

const f32 = fc.float({ noNaN: true, noDefaultInfinity: true });
/** Numbers as people and programs write them. */
const numberText = fc.oneof(
  f32.map(String),
  f32.map((v) => v.toExponential()),
  fc.tuple(f32, fc.integer({ min: 0, max: 8 })).map(([v, d]) => (Math.abs(v) < 1e20 ? v.toFixed(d) : String(v))),
  fc.integer({ min: -1000, max: 1000 }).map((v) => (v >= 0 ? `+${v}` : `${v}`)),
  fc.constantFrom('.5', '-.5e1', '7.', '1E3', '0', '-0', '3.4028234e38', '1e-50'),
);
/** Cells that look numeric but are not (or not in float32), and other cells. */
const otherText = fc.oneof(
  fc.constantFrom('', ' ', '0x10', '0b11', '0o7', '1e39', '-1e39', '1e400', 'Infinity', 'NaN', '1_000', '1e', '.', 'e5', '+-1', '1 2', 'M', 'B', 'x'),
  fc.string({ maxLength: 6, unit: fc.constantFrom('1', '0', '.', 'e', '-', ' ', '"', ',', 'a', '\n', '\r', '\t', '\u00a0', '\ufeff') }),
  fc.string({ maxLength: 8 }),
);
const labelText = fc.oneof(
  { weight: 20, arbitrary: fc.constantFrom('0', '1', '1.0', '0e0', '+1', ' 1 ') },
  { weight: 1, arbitrary: fc.constantFrom('2', '0x1', '', 'M', 'B', 'Infinity') },
);
const cellText = fc.oneof({ weight: 30, arbitrary: numberText }, { weight: 1, arbitrary: otherText });
const eol = fc.constantFrom('\n', '\r\n', '\r');

/** Writes a cell: bare when it can be, else (or at random) quoted with "" for ". */
function render(cell: string, quote: boolean): string {
  const needs = /[",\r\n]/.test(cell) || cell.trim() !== cell;
  return quote || needs ? `"${cell.replace(/"/g, '""')}"` : cell;
}

/** A table of `width` columns, one of them 'label', rendered as CSV text with random layout. */
const csvText = fc
  .record({
    width: fc.integer({ min: 1, max: 4 }),
    labelAt: fc.nat(),
    rows: fc.integer({ min: 0, max: 6 }),
    bom: fc.boolean(),
    trailing: fc.boolean(),
    seed: fc.nat(),
  })
  .chain(({ width, labelAt, rows, bom, trailing }) => {
    const label = labelAt % width;
    const names = fc.uniqueArray(fc.oneof(fc.constantFrom('a', 'b', 'x, y', 'say "hi"', ' spaced '), fc.string({ minLength: 1, maxLength: 5 })), {
      minLength: width - 1, maxLength: width - 1, selector: (s) => s.trim(),
    }).filter((ns) => ns.every((n) => n.trim() !== '' && n.trim() !== 'label'));
    const row = fc.tuple(...Array.from({ length: width }, (_, j) => (j === label ? labelText : cellText)));
    const line = (cells: fc.Arbitrary<string[]>) => fc.tuple(cells, fc.array(fc.boolean(), { minLength: width, maxLength: width }), eol, fc.nat({ max: 6 }));
    return fc.tuple(
      names.chain((ns) => line(fc.constant([...ns.slice(0, label), 'label', ...ns.slice(label)]))),
      fc.array(line(row.map((r) => [...r])), { minLength: rows, maxLength: rows }),
      // Now and then: a row of the wrong width, a stray quote, or a huge cell.
      fc.option(fc.constantFrom('1,2,3,4,5,6', '"1,0', '"1"2,0', `${'9'.repeat(200_000)},1`, `"${'x'.repeat(200_000)}",0`, '  ', ''), { freq: 4 }),
      fc.nat(),
    ).map(([head, body, odd, where]) => {
      const lines = [head, ...body].map(([cells, quotes, end, blank]) =>
        cells.map((c, j) => render(c, quotes[j] as boolean)).join(',') + end + (blank === 0 ? end : ''),
      );
      if (odd !== null) lines.splice(1 + (where % lines.length), 0, `${odd}\n`);
      let text = lines.join('');
      if (!trailing) text = text.replace(/(\r\n|\r|\n)$/, '');
      return (bom ? '\ufeff' : '') + text;
    });
  });

/** Outcomes of `check`, so each property can show it reached both. */
const outcomes = { parsed: 0, refused: 0 };

function check(text: string, options: ParseCsvOptions): void {
  const expected = reference(text, options);
  let got: ParsedCsv;
  try {
    got = parseCsv(text, options);
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    const message = (e as Error).message;
    expect(message.length, message.slice(0, 200)).toBeLessThan(300);
    expect(message).toMatch(/^parseCsv: /);
    expect(message).not.toMatch(/[\r\n]/);
    expect(expected.ok, `parseCsv threw ${JSON.stringify(message)} but the reference parses it`).toBe(false);
    outcomes.refused += 1;
    return;
  }
  expect(expected.ok, `parseCsv parsed it but the reference refuses it (${expected.ok ? '' : expected.why})`).toBe(true);
  if (!expected.ok) return;
  expect({ featureNames: got.featureNames, rows: got.rows, cols: got.cols, x: Array.from(got.x), y: Array.from(got.y) }).toEqual(expected.value);
  outcomes.parsed += 1;
}

/** Runs `body`, then checks that both outcomes were reached often enough to mean something. */
function expectBothOutcomes(body: () => void, atLeast: number): void {
  outcomes.parsed = 0;
  outcomes.refused = 0;
  body();
  const total = outcomes.parsed + outcomes.refused;
  expect(outcomes.parsed / total, `parsed ${outcomes.parsed} of ${total}`).toBeGreaterThan(atLeast);
  expect(outcomes.refused / total, `refused ${outcomes.refused} of ${total}`).toBeGreaterThan(atLeast);
}

describe('parseCsv, property-based', () => {
  it('generated tables: parses exactly as the reference, or throws a short one-line Error', () => {
    expectBothOutcomes(() => {
      fc.assert(
        fc.property(csvText, fc.constantFrom<string | undefined>(undefined, undefined, undefined, undefined, 'M', '1'), (text, positive) => {
          check(text, { label: 'label', positive });
        }),
        fuzzParameters(400),
      );
    }, 0.1);
  });

  it('arbitrary text over CSV-ish characters: the same', () => {
    const unit = fc.constantFrom('label', 'a', ',', '"', '\n', '\r', '\r\n', ' ', '0', '1', '.', 'e', '-', 'x', '\ufeff');
    expectBothOutcomes(() => {
      fc.assert(
        fc.property(fc.string({ maxLength: 40, unit }), (body) => {
          check(`a,label\n${body}`, { label: 'label' });
        }),
        fuzzParameters(600),
      );
    }, 0.05);
  });

  it('the reference itself agrees with hand-written cases', () => {
    expect(referenceRecords('\ufeffa,"b,""c"""\r\n\r\n 1 ,2\r3,4\n')).toEqual([['a', 'b,"c"'], [' 1 ', '2'], ['3', '4']]);
    expect(referenceRecords('a,"b')).toBeNull();
    expect(referenceRecords('a,"b"c')).toBeNull();
    expect(reference('a,label\n0x10,1', { label: 'label' })).toMatchObject({ ok: false });
  });
});
