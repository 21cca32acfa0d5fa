import { beforeAll, describe, expect, it } from 'vitest';
import { kintsugi, PhiRecorder, phiReport } from '../src';
import { histogram, lineChart } from '../src/eval/report/svg';
import { smallClassifier, tf, useBackend } from './helpers';

describe('svg charts', () => {
  it('histogram takes a weight-granularity ϕ of a million values (no argument spreading)', () => {
    const values = new Float32Array(1_000_000).map((_, i) => i % 2);
    const svg = histogram({ title: 'big', xLabel: 'ϕ', values, bins: 2 });
    expect(svg).toContain('>500000<'); // the tallest bin's count labels the y axis
  });

  it('histogram bins every finite value and escapes text', () => {
    const svg = histogram({ title: 'a<b', xLabel: 'ϕ & co', values: [0, 0, 1, 1, 1, NaN], bins: 2 });
    expect(svg).toContain('a&lt;b');
    expect(svg).toContain('ϕ &amp; co');
    expect(svg.match(/fill="#c9a227"/g)).toHaveLength(2);
    expect(svg).toContain('>3</text>'); // the tallest bin's count labels the axis
  });

  it('line chart draws one path per series and the reference lines', () => {
    const svg = lineChart({
      title: 't', xLabel: 'x', yLabel: 'y', logX: true,
      series: [{ name: 'a', points: [[1e3, 1], [1e6, 2]] }, { name: 'b', points: [[1e3, 2], [1e6, 3]] }],
      hLines: [{ y: 4, label: 'roofline' }],
    });
    expect(svg.match(/<path /g)).toHaveLength(2);
    expect(svg).toContain('roofline');
    expect(svg).toContain('stroke-dasharray');
  });
});

describe('phiReport', () => {
  beforeAll(() => useBackend('cpu'));

  it('records drift per epoch and names the features feeding the most gilded first-layer units', async () => {
    const { model, x, y } = smallClassifier(4);
    const optimizer = kintsugi({ learningRate: 0.02, gildingRate: 0.1 });
    model.compile({ optimizer, loss: optimizer.valueWeightedLoss() });
    const recorder = new PhiRecorder(optimizer);
    await model.fit(x, y, { epochs: 4, batchSize: 32, verbose: 0, callbacks: recorder });
    expect(recorder.snapshots).toHaveLength(4);
    const drift = recorder.drift();
    expect(drift.get('classes')).toHaveLength(3);
    const kernel = model.layers[0].getWeights()[0];
    const name = optimizer.phiStats().variables[0].name;
    const html = phiReport(optimizer, {
      recorder,
      classNames: ['legit', 'fraud'],
      firstLayer: { name, kernel: kernel.dataSync() as Float32Array, inputs: 4, units: 8, featureNames: ['amount', 'hour', 'country', 'device'] },
    });
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('ϕ drift per epoch');
    expect(html).toContain('fraud');
    for (const v of optimizer.phiStats().variables) expect(html).toContain(v.name);
    expect(html).toMatch(/(amount|hour|country|device) \([+-]\d/);
    expect(html.match(/<svg /g)?.length).toBe(1 + optimizer.phiStats().variables.length);
    tf.dispose([x, y]);
  });
});
