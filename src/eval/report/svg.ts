/**
 * Minimal SVG charts (histogram, line chart) written as strings: no dependency, no DOM, the
 * same output in Node and in a browser. Used by the ϕ report and the benchmarks.
 */
import { formatNumber, linearTicks, tickLabels } from './axis';

export interface Series {
  name: string;
  points: Array<[number, number]>;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  logX?: boolean;
  /** Horizontal reference lines, e.g. a roofline. */
  hLines?: Array<{ y: number; label: string }>;
  width?: number;
  height?: number;
  /** Fix the axes instead of fitting them to the data. */
  xRange?: [number, number];
  yRange?: [number, number];
}

export interface HistogramOptions {
  title: string;
  xLabel: string;
  values: ArrayLike<number>;
  bins?: number;
  width?: number;
  height?: number;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const MARGIN = { left: 60, right: 150, top: 30, bottom: 45 };

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * About how wide `text` is drawn at `fontSize` px in a sans-serif font: enough to size the legend
 * so that no name is cut off (test/charts.test.ts renders every chart and checks that nothing
 * falls outside it).
 */
function textWidth(text: string, fontSize: number): number {
  let em = 0;
  for (const ch of text) {
    if (/[ilIj.,:;'|!()[\]ft ]/.test(ch)) em += 0.32;
    else if (/[mwMW@%]/.test(ch)) em += 0.9;
    else if (/[A-Z]/.test(ch)) em += 0.7;
    else em += 0.6;
  }
  return em * fontSize;
}

function frame(width: number, height: number, title: string, body: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">` +
    `<rect width="${width}" height="${height}" fill="white"/>` +
    `<text x="${width / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(title)}</text>` +
    body +
    '</svg>'
  );
}

/**
 * [min, max] of the finite values ([Infinity, −Infinity] when none), in one pass: spreading into
 * Math.min overflows the stack past about 10⁵ values (a weight-granularity ϕ, a long PR curve).
 */
function extent(values: ArrayLike<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** Legend rows are this far apart; a swatch and a gap (LEGEND_SWATCH) come before each name. */
const LEGEND_ROW = 16;
const LEGEND_SWATCH = 18;

/** The powers of ten between 10^lo and 10^hi (exponents given). */
function powersOfTen(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.ceil(lo); e <= Math.floor(hi); e++) out.push(10 ** e);
  return out;
}

export function lineChart(o: LineChartOptions): string {
  const tx = (x: number) => (o.logX ? Math.log10(x) : x);
  const all = o.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(tx(x)) && Number.isFinite(y));
  const ys = [...all.map(([, y]) => y), ...(o.hLines ?? []).map((h) => h.y)];
  const [x0, x1] = o.xRange ? o.xRange.map(tx) : extent(all.map(([x]) => tx(x)));
  const [y0, y1] = o.yRange ?? [Math.min(0, extent(ys)[0]), extent(ys)[1] * 1.05 || 1];
  const yTicks = linearTicks(y0, y1, 5);
  const yLabels = tickLabels(yTicks);
  // An axis whose points are all whole numbers (epochs, counts) gets whole-number ticks.
  const wholeX = !o.logX && all.length > 0 && all.every(([x]) => Number.isInteger(x)) && (o.xRange ?? []).every(Number.isInteger);
  const xTicks = o.logX ? powersOfTen(x0, x1) : linearTicks(x0, x1, 5, wholeX);
  const xLabels = o.logX ? xTicks.map((x) => formatNumber(x)) : tickLabels(xTicks);

  // Room for the longest y label beside the rotated axis title, for the longest legend name,
  // and for every legend row (the canvas grows if it must): nothing is drawn outside it.
  const left = Math.max(MARGIN.left, 24 + Math.ceil(Math.max(0, ...yLabels.map((l) => textWidth(l, 11)))) + 6);
  const legend = Math.max(0, ...o.series.map((s) => textWidth(s.name, 11)));
  const right = Math.max(MARGIN.right, 10 + LEGEND_SWATCH + Math.ceil(legend) + 10);
  const width = Math.max(o.width ?? 640, left + right + 200);
  const height = Math.max(o.height ?? 360, MARGIN.top + 12 + o.series.length * LEGEND_ROW + MARGIN.bottom);
  const pw = width - left - right;
  const ph = height - MARGIN.top - MARGIN.bottom;
  const sx = (x: number) => left + ((tx(x) - x0) / (x1 - x0 || 1)) * pw;
  const sy = (y: number) => MARGIN.top + ph - ((y - y0) / (y1 - y0 || 1)) * ph;
  const parts: string[] = [];
  yTicks.forEach((t, i) => {
    parts.push(`<line x1="${left}" x2="${left + pw}" y1="${sy(t)}" y2="${sy(t)}" stroke="#eee"/>`);
    parts.push(`<text x="${left - 6}" y="${sy(t) + 4}" text-anchor="end">${yLabels[i]}</text>`);
  });
  xTicks.forEach((x, i) => parts.push(`<text x="${sx(x)}" y="${MARGIN.top + ph + 16}" text-anchor="middle">${xLabels[i]}</text>`));
  parts.push(`<rect x="${left}" y="${MARGIN.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  parts.push(`<text x="${left + pw / 2}" y="${height - 8}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`);
  parts.push(
    `<text transform="translate(14 ${MARGIN.top + ph / 2}) rotate(-90)" text-anchor="middle">${escapeXml(o.yLabel)}</text>`,
  );
  (o.hLines ?? []).forEach((h) => {
    parts.push(`<line x1="${left}" x2="${left + pw}" y1="${sy(h.y)}" y2="${sy(h.y)}" stroke="#444" stroke-dasharray="6 4"/>`);
    parts.push(`<text x="${left + pw - 4}" y="${sy(h.y) - 4}" text-anchor="end">${escapeXml(h.label)}</text>`);
  });
  o.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    // Past the palette, series are dashed, so no two look alike.
    const dash = i >= PALETTE.length ? ' stroke-dasharray="5 3"' : '';
    const pts = s.points.filter(([x, y]) => Number.isFinite(tx(x)) && Number.isFinite(y));
    if (pts.length > 0) {
      const d = pts.map(([x, y], k) => `${k === 0 ? 'M' : 'L'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join('');
      parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
      if (pts.length <= 40) pts.forEach(([x, y]) => parts.push(`<circle cx="${sx(x)}" cy="${sy(y)}" r="2.5" fill="${color}"/>`));
    }
    const ly = MARGIN.top + 12 + i * LEGEND_ROW;
    const lx = width - right + 10;
    parts.push(`<line x1="${lx}" x2="${lx + 14}" y1="${ly - 6.5}" y2="${ly - 6.5}" stroke="${color}" stroke-width="3"${dash}/>`);
    parts.push(`<text x="${lx + LEGEND_SWATCH}" y="${ly - 3}">${escapeXml(s.name)}</text>`);
  });
  return frame(width, height, o.title, parts.join(''));
}

export function histogram(o: HistogramOptions): string {
  const width = o.width ?? 360;
  const height = o.height ?? 220;
  const bins = o.bins ?? 20;
  const finite = extent(o.values);
  const [lo, hi] = finite[0] <= finite[1] ? finite : [0, 1];
  const span = hi - lo || 1;
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < o.values.length; i++) {
    const v = o.values[i];
    if (Number.isFinite(v)) counts[Math.min(bins - 1, Math.floor(((v - lo) / span) * bins))]++;
  }
  const pw = width - 60 - 15;
  const ph = height - MARGIN.top - MARGIN.bottom;
  const top = Math.max(1, ...counts);
  const bw = pw / bins;
  const parts = counts.map((c, i) => {
    const h = (c / top) * ph;
    return `<rect x="${60 + i * bw + 0.5}" y="${MARGIN.top + ph - h}" width="${Math.max(0.5, bw - 1)}" height="${h}" fill="#c9a227"/>`;
  });
  parts.push(`<rect x="60" y="${MARGIN.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  parts.push(`<text x="54" y="${MARGIN.top + 8}" text-anchor="end">${top}</text><text x="54" y="${MARGIN.top + ph}" text-anchor="end">0</text>`);
  // The ends, with the digits that tell them apart (ϕ near 1 spans 0.9995 to 1.0004).
  const tol = (hi - lo) * 1e-3;
  parts.push(`<text x="60" y="${MARGIN.top + ph + 16}" text-anchor="start">${formatNumber(lo, tol)}</text>`);
  parts.push(`<text x="${60 + pw}" y="${MARGIN.top + ph + 16}" text-anchor="end">${formatNumber(hi, tol)}</text>`);
  parts.push(`<text x="${60 + pw / 2}" y="${height - 8}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`);
  return frame(width, height, o.title, parts.join(''));
}
