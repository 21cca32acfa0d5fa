/**
 * The ϕ report: where the gold went (histograms, most gilded pathways and, for the first layer,
 * the input features that feed them) and how the distribution settled over epochs (ϕ drift, the
 * seeds' definition of convergence). One self-contained HTML page, inline SVG, no scripts.
 */
import type { CrackDriver } from '../../example-cracks';
import { KintsugiOptimizer } from '../../optimizer';
import { clippedList } from '../../clip';
import { largestIndices } from '../../largest';
import { kindOf, mergeKnown, show } from '../../options';
import { PhiRecorder } from './phi-recorder';
import { escapeXml, histogram, lineChart } from './svg';

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
  /** Class names for the loss-level stream, e.g. ['legit', 'fraud']; they also name example labels. */
  classNames?: string[];
  /** Each training example's label (by example id), shown beside the most gilded examples. */
  exampleLabels?: ArrayLike<number>;
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

const REPORT_DEFAULTS: PhiReportOptions = { title: undefined, recorder: undefined, firstLayer: undefined, top: 8, classNames: undefined, exampleLabels: undefined };

/**
 * Every argument checked before anything is drawn, each error naming the option and what it
 * accepts: TypeError for a value of the wrong kind, RangeError for one out of range.
 */
function checkReportArguments(optimizer: unknown, options: unknown): Required<Pick<PhiReportOptions, 'top'>> & PhiReportOptions {
  if (!(optimizer instanceof KintsugiOptimizer)) {
    throw new TypeError(`phiReport: the first argument must be a KintsugiOptimizer (made by kintsugi()); got ${kindOf(optimizer)}`);
  }
  const o = mergeKnown('phiReport', REPORT_DEFAULTS, options) as Required<Pick<PhiReportOptions, 'top'>> & PhiReportOptions;
  if (o.title !== undefined && typeof o.title !== 'string') throw new TypeError(`phiReport: option 'title' must be a string; got ${show(o.title)}`);
  if (!Number.isInteger(o.top) || o.top < 0) throw new RangeError(`phiReport: option 'top' must be a whole number ≥ 0; got ${show(o.top)}`);
  if (o.recorder !== undefined && !(o.recorder instanceof PhiRecorder)) {
    throw new TypeError(`phiReport: option 'recorder' must be a PhiRecorder (new PhiRecorder(optimizer)); got ${kindOf(o.recorder)}`);
  }
  if (o.classNames !== undefined && !(Array.isArray(o.classNames) && o.classNames.every((n) => typeof n === 'string'))) {
    throw new TypeError(`phiReport: option 'classNames' must be a list of strings; got ${show(o.classNames)}`);
  }
  if (o.firstLayer !== undefined) checkFirstLayer(o.firstLayer);
  const labels = o.exampleLabels as unknown;
  if (labels !== undefined && !(Array.isArray(labels) || ArrayBuffer.isView(labels))) {
    throw new TypeError(`phiReport: option 'exampleLabels' must be a list or typed array of labels, one per example id; got ${kindOf(labels)}`);
  }
  return o;
}

function checkFirstLayer(layer: unknown): void {
  const fail = (what: string, Kind: ErrorConstructor = TypeError): never => {
    throw new Kind(`phiReport: option 'firstLayer' ${what}; it takes {name, kernel: Float32Array of inputs × units, inputs, units, featureNames}`);
  };
  if (layer === null || typeof layer !== 'object') return fail(`is ${show(layer)}, not an object`);
  const l = layer as Partial<FirstLayer>;
  if (typeof l.name !== 'string') fail(`has name ${show(l.name)}, not a variable name`);
  for (const key of ['inputs', 'units'] as const) {
    if (!Number.isInteger(l[key]) || (l[key] as number) < 1) fail(`has ${key} ${show(l[key])}, not a whole number ≥ 1`, RangeError);
  }
  if (!(l.kernel instanceof Float32Array)) fail(`has a kernel that is ${kindOf(l.kernel)}, not a Float32Array`);
  const [inputs, units] = [l.inputs as number, l.units as number];
  if ((l.kernel as Float32Array).length !== inputs * units) {
    fail(`has a kernel of ${(l.kernel as Float32Array).length} values; inputs × units is ${inputs} × ${units} = ${inputs * units}`, RangeError);
  }
  if (!Array.isArray(l.featureNames) || !l.featureNames.every((n) => typeof n === 'string')) fail(`has featureNames ${show(l.featureNames)}, not a list of strings`);
  if ((l.featureNames as string[]).length !== inputs) fail(`has ${(l.featureNames as string[]).length} featureNames for ${inputs} inputs`, RangeError);
}

/**
 * The example pathways: how many examples, how many were seen, and the `top` most gilded (id,
 * label, ϕ, times seen); null before they have trained. The top ones are picked without a sort
 * (largestIndices).
 */
function examplesSection(optimizer: KintsugiOptimizer, top: number, labels: ArrayLike<number> | undefined, classNames: string[] | undefined): string | null {
  const phi = optimizer.exampleValueWeights();
  const seen = optimizer.exampleTimesSeen();
  if (!phi || !seen) return null;
  if (labels !== undefined && labels.length !== phi.length) {
    throw new RangeError(`phiReport: option 'exampleLabels' has ${labels.length} labels, but the example pathways hold ${phi.length} examples`);
  }
  let seenOnce = 0;
  let max = 0;
  for (let id = 0; id < phi.length; id++) {
    if (seen[id] > 0) seenOnce++;
    max = Math.max(max, phi[id]);
  }
  if (max === 1 && phi.every((x) => x === 1)) {
    // gildingRate 0: the stream only carries example ids (for per-example cracks' drivers).
    return `<h2>Example pathways</h2>\n<p>${phi.length} examples · ${seenOnce} seen in training · every ϕ is 1 (not gilded: the stream carries example ids only)</p>`;
  }
  const labelOf = (id: number) => {
    if (labels === undefined) return '';
    const label = labels[id];
    return `<td>${escapeXml(classNames?.[label] ?? String(label))}</td>`;
  };
  const best = largestIndices(phi.length, top, (id) => phi[id]);
  const rows = best.map((id) => `<tr><td>${id}</td>${labelOf(id)}<td>${phi[id].toFixed(4)}</td><td>${seen[id]}</td></tr>`);
  return [
    '<h2>Example pathways (most gilded training examples)</h2>',
    `<p>${phi.length} examples · ${seenOnce} seen in training · max ϕ ${max.toFixed(3)}</p>`,
    histogram({ title: 'ϕ of the examples', xLabel: 'ϕ', values: phi }),
    `<table><tr><th>example</th>${labels === undefined ? '' : '<th>label</th>'}<th>ϕ</th><th>times seen</th></tr>`,
    ...rows,
    '</table>',
  ].join('\n');
}

/** ' (fraud)': an example's label by its id, named by `classNames` when given; '' without labels. */
function labelText(id: number, labels: ArrayLike<number> | undefined, classNames: string[] | undefined): string {
  if (labels === undefined || id >= labels.length) return '';
  const label = labels[id];
  return ` (${escapeXml(classNames?.[label] ?? String(label))})`;
}

export function phiReport(optimizer: KintsugiOptimizer, options: PhiReportOptions = {}): string {
  const o = checkReportArguments(optimizer, options);
  const top = o.top;
  const stats = optimizer.phiStats({ top });
  if (o.firstLayer && !stats.variables.some((v) => v.name === o.firstLayer?.name)) {
    throw new RangeError(
      `phiReport: option 'firstLayer' names ${show(o.firstLayer.name)}, which this optimizer has not trained; its variables are ${clippedList(stats.variables.map((v) => v.name))}`,
    );
  }
  const sections: string[] = [];
  sections.push(
    `<p>step ${stats.iterations} · steps skipped for non-finite gradients: ${stats.skippedSteps}</p>`,
  );
  if (o.recorder && o.recorder.snapshots.length > 1) {
    const series = [...o.recorder.drift()].map(([name, points]) => ({ name, points }));
    sections.push('<h2>ϕ drift per epoch</h2><p>Mean |ϕ<sub>epoch</sub> − ϕ<sub>epoch−1</sub>|; it falls towards 0 as the value weights settle.</p>');
    sections.push(lineChart({ title: 'ϕ drift', xLabel: 'epoch', yLabel: 'mean |Δϕ|', series, width: 720 }));
  }
  const classes = stats.classes;
  if (classes) {
    const names = o.classNames ?? [];
    const rows = optimizer.classValueWeights() ?? new Float32Array(0);
    sections.push('<h2>Class pathways (loss-level stream)</h2><table><tr><th>class</th><th>ϕ</th><th>last crack</th></tr>');
    rows.forEach((phi, c) => {
      sections.push(`<tr><td>${escapeXml(names[c] ?? String(c))}</td><td>${phi.toFixed(4)}</td><td>${classes.crack[c].toFixed(4)}</td></tr>`);
    });
    sections.push('</table>');
  }
  const examples = examplesSection(optimizer, top, o.exampleLabels, o.classNames);
  if (examples) sections.push(examples);
  sections.push('<h2>Parameter pathways</h2>');
  for (const v of stats.variables) {
    const phi = optimizer.valueWeights(v.name);
    const layer = o.firstLayer?.name === v.name ? o.firstLayer : undefined;
    sections.push(`<h3>${escapeXml(v.name)}</h3>`);
    sections.push(
      `<p>${v.pathways} pathways (${v.granularity}) · mean ${v.mean.toFixed(3)} · min ${v.min.toFixed(3)} · max ${v.max.toFixed(3)} · std ${v.std.toFixed(3)} · gini ${v.gini.toFixed(3)} · last mean |Δϕ| ${v.meanAbsDeltaPhi.toExponential(2)}</p>`,
    );
    sections.push(histogram({ title: `ϕ of ${v.name}`, xLabel: 'ϕ', values: phi }));
    const drivers = optimizer.exampleCrackDrivers(v.name, 3);
    if (drivers) {
      sections.push(
        '<p>Which examples drove each unit\'s gilding (per-example cracks): the examples whose part |δ<sub>u</sub>(n)|·‖a(n)‖ was most often the largest of their batch, ' +
          'with the number of training steps in which it was (a range where the bounded counter is unsure).</p>',
      );
    }
    const driverCell = (unit: number) => {
      const list = drivers?.[unit] ?? [];
      const times = (d: CrackDriver) => (d.steps === d.atMost ? `×${d.steps}` : `×${d.steps}–${d.atMost}`);
      return `<td>${list.map((d) => `#${d.id}${labelText(d.id, o.exampleLabels, o.classNames)} ${times(d)}`).join(', ')}</td>`;
    };
    sections.push(`<table><tr><th>pathway</th><th>ϕ</th>${layer ? '<th>fed by</th>' : ''}${drivers ? '<th>examples that drove it</th>' : ''}</tr>`);
    for (const t of v.top) {
      sections.push(`<tr><td>${t.index}</td><td>${t.phi.toFixed(4)}</td>${layer ? `<td>${feeders(layer, v.granularity, t.index)}</td>` : ''}${drivers ? driverCell(t.index) : ''}</tr>`);
    }
    sections.push('</table>');
  }
  const title = escapeXml(o.title ?? 'Kintsugi ϕ report');
  return (
    `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>` +
    '<style>body{font-family:sans-serif;max-width:900px;margin:2em auto;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}h3{margin-bottom:.2em}</style>' +
    `</head><body><h1>${title}</h1>${sections.join('\n')}</body></html>\n`
  );
}
