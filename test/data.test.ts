import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCsv, standardize, stratifiedSplit, subsamplePositives } from '../src/eval/data/csv';
import { FRAUD_FEATURES, FRAUD_PATTERNS, createRng, syntheticFraud } from '../src/eval/data/synthetic-fraud';
import { rocAuc } from '../src/eval/metrics';

// The copy the package ships (data/README.md has its attribution), parsed once for every test here.
const CANCER = parseCsv(readFileSync(join(__dirname, '..', 'data', 'breast_cancer.csv'), 'utf8'), { label: 'label' });

function count(y: ArrayLike<number>, value: number): number {
  let c = 0;
  for (let i = 0; i < y.length; i++) if (y[i] === value) c += 1;
  return c;
}

function column(x: Float32Array, cols: number, j: number): Float32Array {
  const out = new Float32Array(x.length / cols);
  for (let r = 0; r < out.length; r++) out[r] = x[r * cols + j] as number;
  return out;
}

describe('createRng', () => {
  it('is deterministic and uniform on [0, 1)', () => {
    const a = createRng(42);
    const b = createRng(42);
    let sum = 0;
    for (let i = 0; i < 10000; i++) {
      const u = a();
      expect(u).toBe(b());
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
      sum += u;
    }
    // Mean of 10⁴ uniforms: 0.5 ± 0.0029 (one standard error); allow 4 of them.
    expect(Math.abs(sum / 10000 - 0.5)).toBeLessThan(0.012);
  });
});

describe('syntheticFraud', () => {
  const d = syntheticFraud();

  it('has the documented shapes and names with the defaults', () => {
    expect(d.rows).toBe(20000);
    expect(d.cols).toBe(12);
    expect(d.x).toBeInstanceOf(Float32Array);
    expect(d.y).toBeInstanceOf(Uint8Array);
    expect(d.x.length).toBe(20000 * 12);
    expect(d.y.length).toBe(20000);
    expect(d.pattern.length).toBe(20000);
    expect(d.featureNames).toEqual([...FRAUD_FEATURES, 'v1', 'v2', 'v3']);
    expect(d.x.every(Number.isFinite)).toBe(true);
  });

  it('has exactly round(n · prevalence) positives', () => {
    expect(count(d.y, 1)).toBe(200); // 20000 · 0.01
    expect(count(d.y, 0) + count(d.y, 1)).toBe(20000);
    expect(count(syntheticFraud({ n: 1234, prevalence: 0.013 }).y, 1)).toBe(16); // 16.042 → 16
    expect(count(syntheticFraud({ n: 1000, prevalence: 0.0155 }).y, 1)).toBe(16); // 15.5 → 16
    expect(count(syntheticFraud({ n: 500, prevalence: 0.005 }).y, 1)).toBe(3); // 2.5 → 3
    expect(count(syntheticFraud({ n: 100, prevalence: 0 }).y, 1)).toBe(0);
    expect(count(syntheticFraud({ n: 100, prevalence: 1 }).y, 1)).toBe(100);
  });

  it('is deterministic: the same seed gives identical bytes', () => {
    const again = syntheticFraud();
    expect(Buffer.from(again.x.buffer).equals(Buffer.from(d.x.buffer))).toBe(true);
    expect(Buffer.from(again.y.buffer).equals(Buffer.from(d.y.buffer))).toBe(true);
    expect(Buffer.from(again.pattern.buffer).equals(Buffer.from(d.pattern.buffer))).toBe(true);
    const a = syntheticFraud({ n: 3000, features: 15, prevalence: 0.02, seed: 99 });
    const b = syntheticFraud({ seed: 99, prevalence: 0.02, features: 15, n: 3000 });
    expect(Buffer.from(a.x.buffer).equals(Buffer.from(b.x.buffer))).toBe(true);
    expect(Buffer.from(a.y.buffer).equals(Buffer.from(b.y.buffer))).toBe(true);
  });

  it('differs between seeds, in features and in which rows are positive', () => {
    const other = syntheticFraud({ seed: 2 });
    expect(count(other.y, 1)).toBe(200);
    let sameLabels = 0;
    for (let i = 0; i < 20000; i++) if (other.y[i] === 1 && d.y[i] === 1) sameLabels += 1;
    // Two independent draws of 200 of 20000 rows share 2 on average.
    expect(sameLabels).toBeLessThan(20);
    let sameValues = 0;
    for (let k = 0; k < d.x.length; k++) if (other.x[k] === d.x[k]) sameValues += 1;
    // Only the 0/1 'foreign' column can coincide often (it is 0 for ~95% of rows).
    expect(sameValues).toBeLessThan(d.x.length / 12 + 1000);
  });

  it('spreads the positives over the rows rather than grouping them', () => {
    const firstHalf = count(d.y.subarray(0, 10000), 1);
    expect(firstHalf).toBeGreaterThan(60);
    expect(firstHalf).toBeLessThan(140);
  });

  it('labels every positive with one of the three patterns, and every negative with none', () => {
    const perPattern = [0, 0, 0, 0];
    for (let i = 0; i < d.rows; i++) {
      const p = d.pattern[i] as number;
      expect(p === 0).toBe(d.y[i] === 0);
      perPattern[p] = (perPattern[p] as number) + 1;
    }
    expect(FRAUD_PATTERNS.length).toBe(4);
    // Mixture weights 0.4 / 0.35 / 0.25 of 200 positives.
    expect(perPattern[1]).toBeGreaterThan(50);
    expect(perPattern[2]).toBeGreaterThan(40);
    expect(perPattern[3]).toBeGreaterThan(25);
  });

  it('carries signal, yet no single feature separates the classes', () => {
    const aucs = d.featureNames.map((_, j) => rocAuc(d.y, column(d.x, d.cols, j)));
    const strength = aucs.map((a) => Math.max(a, 1 - a));
    // Several features are informative on their own…
    expect(strength.filter((s) => s > 0.6).length).toBeGreaterThanOrEqual(3);
    // …but none is close to a perfect ranker.
    expect(Math.max(...strength)).toBeLessThan(0.85);
  });

  it('keeps the named features in plausible ranges', () => {
    const foreign = column(d.x, d.cols, 3);
    expect(foreign.every((v) => v === 0 || v === 1)).toBe(true);
    for (const j of [1, 2]) expect(column(d.x, d.cols, j).every((v) => v >= -1 && v <= 1)).toBe(true);
    for (const j of [4, 5, 6, 7]) expect(column(d.x, d.cols, j).every((v) => v >= 0)).toBe(true);
  });

  it('adds v-features beyond the named ones', () => {
    const wide = syntheticFraud({ n: 100, features: 20 });
    expect(wide.featureNames.length).toBe(20);
    expect(wide.featureNames[9]).toBe('v1');
    expect(wide.featureNames[19]).toBe('v11');
    expect(wide.x.length).toBe(2000);
  });

  it('rejects bad options, naming them', () => {
    expect(() => syntheticFraud({ n: 0 })).toThrow(/option 'n' must be an integer in \[1, 100000000\]; got 0/);
    expect(() => syntheticFraud({ n: 10.5 })).toThrow(/'n'.*got 10\.5/);
    expect(() => syntheticFraud({ features: 5 })).toThrow(/option 'features' must be an integer in \[9, 1000\]; got 5/);
    expect(() => syntheticFraud({ prevalence: 1.5 })).toThrow(/option 'prevalence' must be a number in \[0, 1\]; got 1\.5/);
    expect(() => syntheticFraud({ prevalence: NaN })).toThrow(/'prevalence'/);
    expect(() => syntheticFraud({ seed: 0.5 })).toThrow(/option 'seed'/);
    expect(() => syntheticFraud({ rows: 10 } as unknown as { n: number })).toThrow(/unknown option 'rows'/);
  });
});

describe('parseCsv', () => {
  it('parses a header, numeric features and a 0/1 label', () => {
    const p = parseCsv('a,b,label\n1,2,0\n3.5,-4e1,1\n', { label: 'label' });
    expect(p.featureNames).toEqual(['a', 'b']);
    expect(p.rows).toBe(2);
    expect(p.cols).toBe(2);
    expect(Array.from(p.x)).toEqual([1, 2, 3.5, -40]);
    expect(Array.from(p.y)).toEqual([0, 1]);
  });

  it('takes the label from any column and keeps the others in header order', () => {
    const p = parseCsv('a,y,b\n1,1,2\n3,0,4', { label: 'y' });
    expect(p.featureNames).toEqual(['a', 'b']);
    expect(Array.from(p.x)).toEqual([1, 2, 3, 4]);
    expect(Array.from(p.y)).toEqual([1, 0]);
  });

  it('accepts CRLF, blank lines, a BOM, spaces, quotes and "1.0" labels', () => {
    const text = '\ufeff"a", b ,label\r\n"1",  2 ,1.0\r\n\r\n" 3","4",0\r\n\r\n';
    const p = parseCsv(text, { label: 'label' });
    expect(p.featureNames).toEqual(['a', 'b']);
    expect(Array.from(p.x)).toEqual([1, 2, 3, 4]);
    expect(Array.from(p.y)).toEqual([1, 0]);
  });

  it('reads quoted header names with commas and escaped quotes', () => {
    const p = parseCsv('"x, raw","say ""hi""",label\n1,2,1', { label: 'label' });
    expect(p.featureNames).toEqual(['x, raw', 'say "hi"']);
  });

  it('maps a two-string label with `positive`, and drops listed columns', () => {
    const p = parseCsv('id,diagnosis,r\n842302,M,2.5\n842517,B,3\n84300903,M,1', {
      label: 'diagnosis',
      positive: 'M',
      drop: ['id'],
    });
    expect(p.featureNames).toEqual(['r']);
    expect(Array.from(p.x)).toEqual([2.5, 3, 1]);
    expect(Array.from(p.y)).toEqual([1, 0, 1]);
  });

  it('keeps id-like columns unless told to drop them', () => {
    const p = parseCsv('id,v,label\n7,1,0\n8,2,1', { label: 'label' });
    expect(p.featureNames).toEqual(['id', 'v']);
  });

  it('handles a file with a header and no rows', () => {
    const p = parseCsv('a,label\n', { label: 'label' });
    expect(p.rows).toBe(0);
    expect(p.x.length).toBe(0);
  });

  it('names the line and column of a non-numeric or empty cell', () => {
    expect(() => parseCsv('a,b,label\n1,2,0\n1,x,1', { label: 'label' })).toThrow(
      /parseCsv: line 3, column 'b': the cell is "x", not a decimal number/,
    );
    expect(() => parseCsv('a,b,label\n1,,0', { label: 'label' })).toThrow(/line 2, column 'b': the cell is empty/);
    expect(() => parseCsv('a,label\nNaN,0', { label: 'label' })).toThrow(/line 2, column 'a'.*"NaN"/);
    expect(() => parseCsv('a,label\nInfinity,0', { label: 'label' })).toThrow(/"Infinity", not a decimal number/);
  });

  it('reads only decimal numbers: no hex, binary, octal, separators or words', () => {
    for (const cell of ['0x10', '0X1f', '0b11', '0o7', '1_000', 'Infinity', '-Infinity', 'NaN', '1e', '.', '--1', '1,5', '١']) {
      const text = `a,label\n${cell.includes(',') ? `"${cell}"` : cell},0`;
      expect(() => parseCsv(text, { label: 'label' }), cell).toThrow(new RegExp(`line 2, column 'a': the cell is ${JSON.stringify(cell)}, not a decimal number`));
    }
    const ok = parseCsv('a,label\n+1.5,0\n-.5e1,1\n7.,0\n 2E-3 ,1\n"3",0', { label: 'label' });
    expect(Array.from(ok.x)).toEqual([1.5, -5, 7, Math.fround(0.002), 3]);
    // The label too: 0x1 is not 1.
    expect(() => parseCsv('a,label\n1,0x1', { label: 'label' })).toThrow(/line 2, label column 'label': "0x1" is not 0 or 1/);
    expect(Array.from(parseCsv('a,label\n1,1.0\n2,0e0', { label: 'label' }).y)).toEqual([1, 0]);
  });

  it('rejects a number that float32 cannot hold, instead of storing Infinity', () => {
    expect(() => parseCsv('a,label\n1,0\n1e39,1', { label: 'label' })).toThrow(
      /parseCsv: line 3, column 'a': 1e39 is outside the float32 range \(±3\.4028234663852886e\+38\)/,
    );
    expect(() => parseCsv('a,label\n-4e38,1', { label: 'label' })).toThrow(/-4e38 is outside the float32 range/);
    expect(() => parseCsv('a,label\n1e400,1', { label: 'label' })).toThrow(/1e400 is outside the float32 range/);
    // The largest float32 and tiny values (which round towards 0) are fine.
    expect(Array.from(parseCsv('a,label\n3.4028234e38,1\n1e-50,0', { label: 'label' }).x)).toEqual([Math.fround(3.4028234e38), 0]);
  });

  it('clips what it echoes: a 5 MB cell, a long header name or label stays a short one-line message', () => {
    const huge = 'x'.repeat(5_000_000);
    const messageOf = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        return (e as Error).message;
      }
      throw new Error('did not throw');
    };
    const cases = [
      messageOf(() => parseCsv(`a,label\n${huge},0`, { label: 'label' })),
      messageOf(() => parseCsv(`a,label\n1,${huge}`, { label: 'label' })),
      messageOf(() => parseCsv(`${huge},label\n1,0`, { label: 'nope' })),
      messageOf(() => parseCsv(`a,label\n1,0`, { label: huge })),
      messageOf(() => parseCsv(`a,label\n1,0`, { label: 'label', drop: [huge] })),
      messageOf(() => parseCsv(`${huge},${huge},label\n1,2,0`, { label: 'label' })),
      messageOf(() => parseCsv(`a,d\n1,${huge}\n2,B\n3,\n`, { label: 'd', positive: 'M' })),
      messageOf(() => parseCsv(`a,d\n1,x\n2,B`, { label: 'd', positive: huge })),
      messageOf(() => parseCsv(Array.from({ length: 200 }, (_, j) => `column_with_a_long_name_${j}`).join(',') + '\n', { label: 'y' })),
    ];
    for (const message of cases) {
      expect(message.length, message.slice(0, 100)).toBeLessThan(300);
      expect(message).not.toMatch(/\n/);
    }
    expect(cases[0]).toContain(`"${'x'.repeat(40)}…"`);
    expect(cases[8]).toMatch(/… \(200 in all\)$/);
    // A newline inside a quoted cell is shown escaped, so the message stays one line.
    expect(messageOf(() => parseCsv('a,label\n"1\n2",0', { label: 'label' }))).toMatch(/the cell is "1\\n2", not a decimal number/);
  });

  it('rejects text after the closing quote of a cell instead of gluing it on', () => {
    expect(() => parseCsv('a,label\n"1"2,0', { label: 'label' })).toThrow(/line 2: text after the closing quote of a quoted cell \(a quote inside a quoted cell is written ""\)/);
    expect(() => parseCsv('name,label\n"say "hi"",0', { label: 'label' })).toThrow(/line 2: text after the closing quote/);
    // Spaces around a quoted cell are fine, and so is a quote inside an unquoted cell.
    expect(parseCsv(' "a" ,b"c,label\n1,2,0', { label: 'label' }).featureNames).toEqual(['a', 'b"c']);
  });

  it('counts lines the same for \\n, \\r\\n and \\r line ends, inside quoted cells too', () => {
    for (const eol of ['\n', '\r\n', '\r']) {
      const text = ['a,b,label', '"x', 'y",1,0', '1,2,1', '', '1,z,0'].join(eol);
      expect(() => parseCsv(text, { label: 'label' }), JSON.stringify(eol)).toThrow(/line 2, column 'a'/);
      const later = ['a,b,label', '"1', '",1,0', '1,2,1', '', '1,z,0'].join(eol);
      expect(() => parseCsv(later, { label: 'label' }), JSON.stringify(eol)).toThrow(/line 6, column 'b': the cell is "z"/);
    }
  });

  it('names a missing label column and lists the columns', () => {
    expect(() => parseCsv('a,b\n1,2', { label: 'target' })).toThrow(/no label column 'target'; the columns are 'a', 'b'/);
    expect(() => parseCsv('a,b\n1,2', {} as { label: string })).toThrow(/options\.label .* is required/);
  });

  it('rejects labels that are not 0/1, suggesting `positive` for strings', () => {
    expect(() => parseCsv('a,label\n1,0\n2,2', { label: 'label' })).toThrow(/line 3, label column 'label': "2" is not 0 or 1/);
    expect(() => parseCsv('a,label\n1,M', { label: 'label' })).toThrow(/"M" is not 0 or 1 \(for a label of two strings, pass \{positive/);
    expect(() => parseCsv('a,label\n1,', { label: 'label' })).toThrow(/"" is not 0 or 1/);
  });

  it('rejects a string label with more than two values or without the positive value', () => {
    expect(() => parseCsv('a,d\n1,M\n2,B\n3,X', { label: 'd', positive: 'M' })).toThrow(
      /label column 'd' has more than two distinct values \('M', 'B', 'X', line 4\)/,
    );
    expect(() => parseCsv('a,d\n1,M\n2,B', { label: 'd', positive: 'm' })).toThrow(
      /positive value "m" never occurs in label column 'd'; its values are 'M', 'B'/,
    );
  });

  it('rejects bad drop lists, ragged rows, duplicate or empty headers, open quotes', () => {
    expect(() => parseCsv('a,label\n1,0', { label: 'label', drop: ['id'] })).toThrow(/cannot drop 'id': no such column/);
    expect(() => parseCsv('a,label\n1,0', { label: 'label', drop: ['label'] })).toThrow(/cannot drop the label column 'label'/);
    expect(() => parseCsv('a,b,label\n1,2,0\n1,0', { label: 'label' })).toThrow(/line 3 has 2 cells; the header has 3/);
    expect(() => parseCsv('a,a,label\n1,2,0', { label: 'label' })).toThrow(/header column 'a' appears twice/);
    expect(() => parseCsv('a,,label\n1,2,0', { label: 'label' })).toThrow(/header column 2 has no name/);
    expect(() => parseCsv('a,label\n"1,0', { label: 'label' })).toThrow(/quoted cell that starts on line 2 is never closed/);
    expect(() => parseCsv('', { label: 'label' })).toThrow(/empty/);
  });

  it('parses the UCI Wisconsin Diagnostic breast cancer data (label: 1 = malignant)', () => {
    const p = CANCER;
    // 569 samples, 30 features (mean, se, worst of 10 nucleus measurements), 212 malignant.
    expect(p.rows).toBe(569);
    expect(p.cols).toBe(30);
    expect(p.featureNames[0]).toBe('radius_mean');
    expect(p.featureNames[29]).toBe('fractal_dimension_worst');
    expect(p.featureNames).not.toContain('label');
    expect(count(p.y, 1)).toBe(212);
    expect(count(p.y, 0)).toBe(357);
    // First row of the file: radius_mean 17.99, texture_mean 10.38, area_mean 1001, label 1.
    expect(p.x[0]).toBeCloseTo(17.99, 4);
    expect(p.x[1]).toBeCloseTo(10.38, 4);
    expect(p.x[3]).toBe(1001);
    expect(p.y[0]).toBe(1);
  });
});

describe('stratifiedSplit', () => {
  // 10 negatives (rows 0–9) and 4 positives (rows 10–13).
  const y = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1];

  it('keeps each class share: round(10 · 0.25) = 3 and round(4 · 0.25) = 1 rows to test', () => {
    const { train, test } = stratifiedSplit(y, 0.25, 1);
    expect(test.length).toBe(4);
    expect(train.length).toBe(10);
    expect(count(Array.from(test, (i) => y[i] as number), 1)).toBe(1);
    expect(count(Array.from(train, (i) => y[i] as number), 1)).toBe(3);
  });

  it('partitions the rows: disjoint, complete, ascending', () => {
    const { train, test } = stratifiedSplit(y, 0.3, 5);
    const all = [...train, ...test].sort((a, b) => a - b);
    expect(all).toEqual(y.map((_, i) => i));
    for (const side of [train, test]) for (let k = 1; k < side.length; k++) expect(side[k]).toBeGreaterThan(side[k - 1] as number);
    expect(train).toBeInstanceOf(Uint32Array);
  });

  it('is deterministic per seed and differs between seeds', () => {
    const labels = Array.from({ length: 1000 }, (_, i) => (i % 50 === 0 ? 1 : 0));
    const a = stratifiedSplit(labels, 0.3, 7);
    expect(Array.from(stratifiedSplit(labels, 0.3, 7).test)).toEqual(Array.from(a.test));
    expect(Array.from(stratifiedSplit(labels, 0.3, 8).test)).not.toEqual(Array.from(a.test));
    // 980 negatives · 0.3 = 294, 20 positives · 0.3 = 6.
    expect(a.test.length).toBe(300);
    expect(count(Array.from(a.test, (i) => labels[i] as number), 1)).toBe(6);
  });

  it('puts at least one row of a class with two or more on each side', () => {
    // 2 positives · 0.1 = 0.2 would round to 0; one is sent to test anyway.
    const labels = [...new Array<number>(20).fill(0), 1, 1];
    const { train, test } = stratifiedSplit(labels, 0.1, 3);
    expect(count(Array.from(test, (i) => labels[i] as number), 1)).toBe(1);
    expect(count(Array.from(train, (i) => labels[i] as number), 1)).toBe(1);
    // 2 positives · 0.9 = 1.8 → 2 would leave train without one; capped at 1.
    const high = stratifiedSplit(labels, 0.9, 3);
    expect(count(Array.from(high.train, (i) => labels[i] as number), 1)).toBe(1);
  });

  it('rejects a bad fraction, seed or label', () => {
    expect(() => stratifiedSplit(y, 0, 1)).toThrow(/testFraction must be a number in \(0, 1\); got 0/);
    expect(() => stratifiedSplit(y, 1, 1)).toThrow(/testFraction/);
    expect(() => stratifiedSplit(y, 0.2, 1.5)).toThrow(/seed must be an integer; got 1\.5/);
    expect(() => stratifiedSplit([0, 2], 0.5, 1)).toThrow(/labels must be 0 or 1; y\[1\] is 2/);
  });
});

describe('subsamplePositives', () => {
  it('keeps all negatives and round(p · N / (1 − p)) positives', () => {
    // 95 negatives, 20 positives, target 0.05: 0.05 · 95 / 0.95 = 5 positives → 100 rows.
    const y = [...new Array<number>(95).fill(0), ...new Array<number>(20).fill(1)];
    const keep = subsamplePositives(y, 0.05, 1);
    expect(keep.length).toBe(100);
    expect(count(Array.from(keep, (i) => y[i] as number), 1)).toBe(5);
    for (let i = 0; i < 95; i++) expect(keep).toContain(i);
    for (let k = 1; k < keep.length; k++) expect(keep[k]).toBeGreaterThan(keep[k - 1] as number);
  });

  it('is deterministic per seed and picks different positives for different seeds', () => {
    const y = [...new Array<number>(950).fill(0), ...new Array<number>(300).fill(1)];
    const a = Array.from(subsamplePositives(y, 0.05, 1));
    expect(Array.from(subsamplePositives(y, 0.05, 1))).toEqual(a);
    expect(Array.from(subsamplePositives(y, 0.05, 2))).not.toEqual(a);
    // 0.05 · 950 / 0.95 = 50.
    expect(a.length).toBe(1000);
  });

  it('turns the breast cancer data into a 5% rare-event set', () => {
    const p = CANCER;
    const keep = subsamplePositives(p.y, 0.05, 1);
    // 357 negatives; 0.05 · 357 / 0.95 = 18.79 → 19 positives; 376 rows, prevalence 5.05%.
    expect(keep.length).toBe(376);
    expect(count(Array.from(keep, (i) => p.y[i] as number), 1)).toBe(19);
  });

  it('refuses to raise the prevalence or to keep no positive', () => {
    const y = [...new Array<number>(10).fill(0), ...new Array<number>(5).fill(1)];
    // Current prevalence 5/15 = 0.3333; target 0.5 needs 10 positives.
    expect(() => subsamplePositives(y, 0.5, 1)).toThrow(/prevalence is already 0\.3333, not above the target 0\.5/);
    // 0.01 · 10 / 0.99 = 0.1 → 0 positives.
    expect(() => subsamplePositives(y, 0.01, 1)).toThrow(/keeps no positive/);
    expect(() => subsamplePositives(y, 0, 1)).toThrow(/targetPrevalence must be a number in \(0, 1\); got 0/);
  });
});

describe('standardize', () => {
  // Rows (cols = 3): [1, 5, 10], [3, 5, 20], [5, 5, 30], [100, 7, -1]; fit on rows 0–2.
  //   col 0: mean 3, population std √((4 + 0 + 4)/3) = √(8/3) = 1.6329932
  //          → −1.2247449, 0, 1.2247449, and row 3: 97/1.6329932 = 59.400126
  //   col 1: constant (5) on the training rows → 0 everywhere, row 3's 7 included
  //   col 2: mean 20, std √((100 + 0 + 100)/3) = √(200/3) = 8.1649658
  //          → −1.2247449, 0, 1.2247449, and row 3: −21/8.1649658 = −2.5719640
  const x = Float32Array.from([1, 5, 10, 3, 5, 20, 5, 5, 30, 100, 7, -1]);

  it('uses the statistics of the training rows only', () => {
    const z = standardize(x, 3, [0, 1, 2]);
    const expected = [-1.2247449, 0, -1.2247449, 0, 0, 0, 1.2247449, 0, 1.2247449, 59.400126, 0, -2.571964];
    expected.forEach((e, k) => expect(z[k]).toBeCloseTo(e, 5));
    expect(z).toBeInstanceOf(Float32Array);
    // The input is left alone.
    expect(Array.from(x)).toEqual([1, 5, 10, 3, 5, 20, 5, 5, 30, 100, 7, -1]);
  });

  it('does not care about the order or type of trainIdx', () => {
    const a = standardize(x, 3, Uint32Array.from([2, 0, 1]));
    const b = standardize(x, 3, [0, 1, 2]);
    expect(Array.from(a)).toEqual(Array.from(b));
  });

  it('maps a constant column to exact zeros', () => {
    // 0.1 is not representable: the column holds 0.1f, and must still give exact zeros.
    const c = new Float32Array(7 * 2);
    for (let r = 0; r < 7; r++) {
      c[r * 2] = 0.1;
      c[r * 2 + 1] = r;
    }
    const z = standardize(c, 2, [0, 1, 2, 3, 4, 5, 6]);
    for (let r = 0; r < 7; r++) expect(z[r * 2]).toBe(0);
    // Column 1: 0…6, mean 3, std 2 → (r − 3)/2.
    for (let r = 0; r < 7; r++) expect(z[r * 2 + 1]).toBeCloseTo((r - 3) / 2, 6);
  });

  it('gives train columns mean 0 and std 1 on real data', () => {
    const p = CANCER;
    const { train } = stratifiedSplit(p.y, 0.3, 1);
    const z = standardize(p.x, p.cols, train);
    for (const j of [0, 3, 29]) {
      let s = 0;
      let s2 = 0;
      for (const r of train) {
        const v = z[r * p.cols + j] as number;
        s += v;
        s2 += v * v;
      }
      expect(s / train.length).toBeCloseTo(0, 5);
      expect(s2 / train.length).toBeCloseTo(1, 4);
    }
  });

  it('rejects bad shapes and indices', () => {
    expect(() => standardize(x, 5, [0])).toThrow(/x has 12 values, not a multiple of cols = 5/);
    expect(() => standardize(x, 0, [0])).toThrow(/cols must be an integer ≥ 1; got 0/);
    expect(() => standardize(x, 3, [0, 4])).toThrow(/trainIdx\[1\] is 4, not a row index in \[0, 4\)/);
    expect(() => standardize(x, 3, [])).toThrow(/trainIdx is empty/);
  });
});
