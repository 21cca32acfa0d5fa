// `optimizer.learningRate = x` between steps, as schedules and reduce-on-plateau callbacks do it,
// on each kernel: the step after it must use x, as tf.train.adam's does. Each kernel gets fresh
// modules (the kernel is chosen once per module instance, from KINTSUGI_KERNEL).
// A kernel that cannot load here skips, saying why; under CI every kernel must load.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { expectCloseToScale, smallMlp, tf, uniqueName, useBackend } from '../helpers';

type Api = typeof import('../../src');

/** Per-step rates: a rate of 0 must freeze θ exactly, and the rate after it must apply again. */
const RATES = [0.01, 0, 0.03, 0.03, 0, 0.005];

async function freshApi(kernel: string): Promise<{ api: Api } | { skip: string }> {
  vi.resetModules();
  process.env.KINTSUGI_KERNEL = kernel;
  const api = (await import('../../src')) as Api;
  try {
    const info = api.kernelInfo();
    if (info.kernel !== kernel) return { skip: `asked for ${kernel}, got ${info.kernel}: ${info.reason}` };
  } catch (e) {
    return { skip: (e as Error).message };
  }
  return { api };
}

const flat = (tensors: Float32Array[]): number[] => tensors.flatMap((t) => Array.from(t));

/** θ after each step of RATES, the rate set on the optimizer before the step. */
function train(optimizer: tf.Optimizer): Float32Array[][] {
  const mlp = smallMlp(uniqueName('lr'));
  const after: Float32Array[][] = [];
  for (const rate of RATES) {
    (optimizer as unknown as { learningRate: number }).learningRate = rate;
    optimizer.minimize(mlp.loss);
    after.push(mlp.values() as Float32Array[]);
  }
  mlp.dispose();
  optimizer.dispose();
  return after;
}

describe('learningRate set after construction', () => {
  const saved = process.env.KINTSUGI_KERNEL;
  beforeAll(() => useBackend('cpu'));
  afterAll(() => {
    if (saved === undefined) delete process.env.KINTSUGI_KERNEL;
    else process.env.KINTSUGI_KERNEL = saved;
  });

  for (const kernel of ['js', 'wasm', 'native']) {
    it(`is read at every step by the ${kernel} kernel, as tf.train.adam reads it`, async (ctx) => {
      const loaded = await freshApi(kernel);
      if ('skip' in loaded) {
        if (process.env.CI) throw new Error(`CI needs the ${kernel} kernel: ${loaded.skip}`);
        console.warn(`[learning-rate.test] ${kernel} SKIPPED: ${loaded.skip}`);
        ctx.skip();
        return;
      }
      const { kintsugi } = loaded.api;
      const theirs = train(tf.train.adam(RATES[0]));
      const ours = train(kintsugi({ learningRate: RATES[0], gildingRate: 0 }));
      RATES.forEach((rate, step) => {
        // One scale for the whole model: a bias still near 0 would make any rounding look large.
        expectCloseToScale(flat(ours[step]), flat(theirs[step]), 1e-5);
        if (step === 0) return;
        const moved = ours[step].some((w, i) => w.some((x, j) => x !== ours[step - 1][i][j]));
        expect(moved, `step ${step} at rate ${rate}: θ ${moved ? 'moved' : 'did not move'}`).toBe(rate !== 0);
      });
    });
  }

  it('is checked when set: a bad value throws a RangeError and the rate stays; getConfig saves the current rate', async () => {
    vi.resetModules();
    const { kintsugi } = (await import('../../src')) as Api;
    const optimizer = kintsugi({ learningRate: 0.01 });
    for (const bad of [-0.1, NaN, Infinity, '0.1', null]) {
      expect(() => {
        optimizer.learningRate = bad as number;
      }, String(bad)).toThrow(RangeError);
      expect(optimizer.learningRate).toBe(0.01);
    }
    optimizer.learningRate = 0;
    expect(optimizer.getConfig().learningRate).toBe(0);
    optimizer.dispose();
  });
});
