/**
 * The ϕ report: where the gold went (histograms, most gilded pathways and, for the first layer,
 * the input features that feed them) and how the distribution settled over epochs (ϕ drift, the
 * seeds' definition of convergence). One self-contained HTML page, inline SVG, no scripts.
 */
import type { KintsugiOptimizer } from '../../optimizer';
import { escapeXml, histogram, lineChart } from './svg';

interface Snapshot {
  epoch: number;
  phi: Map<string, Float32Array>;
  classes: Float32Array | null;
}

/**
 * Records every variable's ϕ at the end of each epoch. Pass it to `fit` as a callback:
 * `model.fit(x, y, { callbacks: recorder })`.
 */
export class PhiRecorder {
  readonly snapshots: Snapshot[] = [];

  constructor(private readonly optimizer: KintsugiOptimizer) {}

  /** An arrow property: tfjs calls callbacks detached from their object. */
  readonly onEpochEnd = (epoch: number): void => {
    const phi = new Map<string, Float32Array>();
    for (const v of this.optimizer.phiStats({ top: 0 }).variables) phi.set(v.name, this.optimizer.valueWeights(v.name));
    this.snapshots.push({ epoch, phi, classes: this.optimizer.classValueWeights() });
  };

  /** Mean |ϕ_epoch − ϕ_previous epoch| per variable (and `classes`), one point per epoch after the first. */
  drift(): Map<string, Array<[number, number]>> {
    const out = new Map<string, Array<[number, number]>>();
    const add = (name: string, epoch: number, a: Float32Array | null | undefined, b: Float32Array | null | undefined) => {
      if (!a || !b || a.length !== b.length || a.length === 0) return;
      let s = 0;
      for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
      if (!out.has(name)) out.set(name, []);
      out.get(name)?.push([epoch + 1, s / a.length]);
    };
    for (let k = 1; k < this.snapshots.length; k++) {
      const [prev, cur] = [this.snapshots[k - 1], this.snapshots[k]];
      for (const [name, phi] of cur.phi) add(name, cur.epoch, phi, prev.phi.get(name));
      add('classes', cur.epoch, cur.classes, prev.classes);
    }
    return out;
  }
}

/** The first dense layer: its kernel `[inputs, units]` and the names of its input features. */
export interface FirstLayer {
  /** The kernel variable's name as the optimizer knows it, e.g. `dense_Dense1/kernel`. */
  name: string;
  kernel: Float32Array;
  inputs: number;
  units: number;
  featureNames: string[];
}

export interface PhiReportOptions {
  title?: string;
  recorder?: PhiRecorder;
  firstLayer?: FirstLayer;
  /** Most gilded pathways listed per variable. Default 8. */
  top?: number;
  /** Class names for the loss-level stream, e.g. ['legit', 'fraud']. */
  classNames?: string[];
}

/** Which input features feed pathway `index` of the first layer, strongest |w| first. */
function feeders(layer: FirstLayer, granularity: string, index: number): string {
  if (granularity === 'weight') {
    const f = Math.floor(index / layer.units);
    return `${layer.featureNames[f] ?? `x${f}`} → unit ${index % layer.units}`;
  }
  if (granularity !== 'unit') return '';
  const weights = Array.from({ length: layer.inputs }, (_, f) => ({ f, w: layer.kernel[f * layer.units + index] }));
  weights.sort((a, b) => Math.abs(b.w) - Math.abs(a.w));
  return weights
    .slice(0, 3)
    .map(({ f, w }) => `${escapeXml(layer.featureNames[f] ?? `x${f}`)} (${w >= 0 ? '+' : ''}${w.toFixed(2)})`)
    .join(', ');
}

export function phiReport(optimizer: KintsugiOptimizer, options: PhiReportOptions = {}): string {
  const top = options.top ?? 8;
  const stats = optimizer.phiStats({ top });
  const sections: string[] = [];
  sections.push(
    `<p>step ${stats.iterations} · steps skipped for non-finite gradients: ${stats.skippedSteps}</p>`,
  );
  if (options.recorder && options.recorder.snapshots.length > 1) {
    const series = [...options.recorder.drift()].map(([name, points]) => ({ name, points }));
    sections.push('<h2>ϕ drift per epoch</h2><p>Mean |ϕ<sub>epoch</sub> − ϕ<sub>epoch−1</sub>|; it falls towards 0 as the value weights settle.</p>');
    sections.push(lineChart({ title: 'ϕ drift', xLabel: 'epoch', yLabel: 'mean |Δϕ|', series, width: 720 }));
  }
  const classes = stats.classes;
  if (classes) {
    const names = options.classNames ?? [];
    const rows = optimizer.classValueWeights() ?? new Float32Array(0);
    sections.push('<h2>Class pathways (loss-level stream)</h2><table><tr><th>class</th><th>ϕ</th><th>last crack</th></tr>');
    rows.forEach((phi, c) => {
      sections.push(`<tr><td>${escapeXml(names[c] ?? String(c))}</td><td>${phi.toFixed(4)}</td><td>${classes.crack[c].toFixed(4)}</td></tr>`);
    });
    sections.push('</table>');
  }
  sections.push('<h2>Parameter pathways</h2>');
  for (const v of stats.variables) {
    const phi = optimizer.valueWeights(v.name);
    const layer = options.firstLayer?.name === v.name ? options.firstLayer : undefined;
    sections.push(`<h3>${escapeXml(v.name)}</h3>`);
    sections.push(
      `<p>${v.pathways} pathways (${v.granularity}) · mean ${v.mean.toFixed(3)} · min ${v.min.toFixed(3)} · max ${v.max.toFixed(3)} · std ${v.std.toFixed(3)} · gini ${v.gini.toFixed(3)} · last mean |Δϕ| ${v.meanAbsDeltaPhi.toExponential(2)}</p>`,
    );
    sections.push(histogram({ title: `ϕ of ${v.name}`, xLabel: 'ϕ', values: phi }));
    sections.push(`<table><tr><th>pathway</th><th>ϕ</th>${layer ? '<th>fed by</th>' : ''}</tr>`);
    for (const t of v.top) {
      sections.push(`<tr><td>${t.index}</td><td>${t.phi.toFixed(4)}</td>${layer ? `<td>${feeders(layer, v.granularity, t.index)}</td>` : ''}</tr>`);
    }
    sections.push('</table>');
  }
  const title = escapeXml(options.title ?? 'Kintsugi ϕ report');
  return (
    `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>` +
    '<style>body{font-family:sans-serif;max-width:900px;margin:2em auto;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}h3{margin-bottom:.2em}</style>' +
    `</head><body><h1>${title}</h1>${sections.join('\n')}</body></html>\n`
  );
}
