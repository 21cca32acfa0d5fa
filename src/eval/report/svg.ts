/**
 * Minimal SVG charts (histogram, line chart) written as strings: no dependency, no DOM, the
 * same output in Node and in a browser. Used by the ϕ report and the benchmarks.
 */

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

function fmt(x: number): string {
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e4 || a < 1e-2) return x.toExponential(0).replace('e+', 'e');
  return Number(x.toPrecision(3)).toString();
}

function ticks(lo: number, hi: number, count: number): number[] {
  if (!(hi > lo)) return [lo];
  const step = (hi - lo) / count;
  return Array.from({ length: count + 1 }, (_, i) => lo + i * step);
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

export function lineChart(o: LineChartOptions): string {
  const width = o.width ?? 640;
  const height = o.height ?? 360;
  const pw = width - MARGIN.left - MARGIN.right;
  const ph = height - MARGIN.top - MARGIN.bottom;
  const tx = (x: number) => (o.logX ? Math.log10(x) : x);
  const all = o.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(tx(x)) && Number.isFinite(y));
  const ys = [...all.map(([, y]) => y), ...(o.hLines ?? []).map((h) => h.y)];
  const [x0, x1] = o.xRange ? o.xRange.map(tx) : extent(all.map(([x]) => tx(x)));
  const [y0, y1] = o.yRange ?? [Math.min(0, extent(ys)[0]), extent(ys)[1] * 1.05 || 1];
  const sx = (x: number) => MARGIN.left + ((tx(x) - x0) / (x1 - x0 || 1)) * pw;
  const sy = (y: number) => MARGIN.top + ph - ((y - y0) / (y1 - y0 || 1)) * ph;
  const parts: string[] = [];
  for (const t of ticks(y0, y1, 5)) {
    parts.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + pw}" y1="${sy(t)}" y2="${sy(t)}" stroke="#eee"/>`);
    parts.push(`<text x="${MARGIN.left - 6}" y="${sy(t) + 4}" text-anchor="end">${fmt(t)}</text>`);
  }
  for (const t of ticks(x0, x1, o.logX ? Math.max(1, Math.round(x1 - x0)) : 5)) {
    const x = o.logX ? 10 ** t : t;
    parts.push(`<text x="${sx(x)}" y="${MARGIN.top + ph + 16}" text-anchor="middle">${fmt(x)}</text>`);
  }
  parts.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  parts.push(`<text x="${MARGIN.left + pw / 2}" y="${height - 8}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`);
  parts.push(
    `<text transform="translate(14 ${MARGIN.top + ph / 2}) rotate(-90)" text-anchor="middle">${escapeXml(o.yLabel)}</text>`,
  );
  (o.hLines ?? []).forEach((h) => {
    parts.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + pw}" y1="${sy(h.y)}" y2="${sy(h.y)}" stroke="#444" stroke-dasharray="6 4"/>`);
    parts.push(`<text x="${MARGIN.left + pw - 4}" y="${sy(h.y) - 4}" text-anchor="end">${escapeXml(h.label)}</text>`);
  });
  o.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const pts = s.points.filter(([x, y]) => Number.isFinite(tx(x)) && Number.isFinite(y));
    if (pts.length > 0) {
      const d = pts.map(([x, y], k) => `${k === 0 ? 'M' : 'L'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join('');
      parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
      if (pts.length <= 40) pts.forEach(([x, y]) => parts.push(`<circle cx="${sx(x)}" cy="${sy(y)}" r="2.5" fill="${color}"/>`));
    }
    const ly = MARGIN.top + 12 + i * 16;
    parts.push(`<rect x="${width - MARGIN.right + 10}" y="${ly - 8}" width="12" height="3" fill="${color}"/>`);
    parts.push(`<text x="${width - MARGIN.right + 26}" y="${ly - 3}">${escapeXml(s.name)}</text>`);
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
  parts.push(`<text x="60" y="${MARGIN.top + ph + 16}" text-anchor="start">${fmt(lo)}</text>`);
  parts.push(`<text x="${60 + pw}" y="${MARGIN.top + ph + 16}" text-anchor="end">${fmt(hi)}</text>`);
  parts.push(`<text x="${60 + pw / 2}" y="${height - 8}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`);
  return frame(width, height, o.title, parts.join(''));
}
