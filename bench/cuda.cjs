// The CUDA section of bench/throughput: the CUDA step per element count, against the GPU's
// memory bandwidth and the native CPU kernel. Runs only where a GPU can be used (and the addon
// of `npm run build:cuda` is built); elsewhere it returns why, in one line.
//
//   node bench/cuda.cjs [--quick]   # this section alone (scripts/gpu-check.sh runs it); on a GPU
//                                   # writes bench/results/cuda.{json,md} (tmp/ under --quick)
//
// Per size, one variable [n / 1000, 1000], unit granularity, adam (the throughput bench's
// settings):
//   step          kernel.step as the optimizer calls it: g and theta packed into pinned memory,
//                 copied to the GPU, the kernels, theta copied back (median wall time)
//   kernels       the same step's kernels alone, on data already on the GPU (CUDA events)
//   transfer      step - kernels: what crossing the bus costs (packing, copies, the one sync)
//   device GB/s   36 bytes per element over the kernels' time: the pre-pass reads g, the update
//                 reads g, theta, m, v and writes theta, m, v (phi per unit is negligible)
// The roofline is the peak bandwidth from the device's memory clock and bus width
// (2 x clock x width, double data rate); a device-to-device cudaMemcpy is measured beside it as
// what a copy reaches. The crossover is the smallest size at which the CUDA step (with its
// transfers) beats the native CPU kernel.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const DEVICE_BYTES_PER_ELEMENT = 36;
const BUS_BYTES_PER_ELEMENT = 12; // g and theta in, theta out
const HYPER = { learningRate: 1e-3, gildingRate: 0.01 };

/**
 * { skipped: reason } where no GPU can be used; else the device, its bandwidths and one row per
 * size. `timeIt(step)` and `randomFill(array, seed)` are bench/throughput's.
 */
function cudaBench({ quick, timeIt, randomFill }) {
  const { cudaStatus, CudaKernel, packParams } = require('../dist/kernel/cuda.js');
  const { loadNativeKernel } = require('../dist/kernel/native.js');
  const { kernelParamsOf, resolveOptions } = require('../dist/options.js');
  const status = cudaStatus();
  if (!status.ok) return { skipped: status.reason };
  const probe = status.probe;
  const kernel = new CudaKernel(status.addon, probe);
  const native = loadNativeKernel();
  try {
    const peakGBps = (2 * probe.memoryClockKHz * 1e3 * (probe.busWidthBits / 8)) / 1e9;
    const bandwidth = kernel.raw.bandwidth(quick ? 64 << 20 : 1 << 30, quick ? 5 : 20);
    const sizes = quick ? [1e4, 1e5, 1e6] : [1e4, 1e5, 1e6, 1e7, 1e8];
    const rows = [];
    for (const n of sizes) {
      const make = (seed) => ({
        name: 'w', theta: randomFill(new Float32Array(n), seed), grad: randomFill(new Float32Array(n), seed + 1),
        phi: new Float32Array(1000).fill(1), m: new Float32Array(n), v: new Float32Array(n),
      });
      const onGpu = [make(1)];
      const params = kernelParamsOf(resolveOptions(HYPER));
      const out = { skipped: new Uint8Array(1), meanAbsDeltaPhi: new Float64Array(1) };
      const step = timeIt(() => { params.step++; kernel.step(onGpu, params, out); });
      const reps = Math.max(3, Math.min(200, Math.round(2e9 / n)));
      const kernelsMs = kernel.raw.stepKernelsMs(packParams(params), reps);
      kernel.reset();
      let cpu = null;
      if (!('error' in native)) {
        const onCpu = [make(1)];
        const p = kernelParamsOf(resolveOptions(HYPER));
        cpu = timeIt(() => { p.step++; native.kernel.step(onCpu, p, out); });
      }
      const gbPerS = (n * DEVICE_BYTES_PER_ELEMENT) / (kernelsMs * 1e6);
      rows.push({
        size: n,
        stepMs: step.medianMs,
        kernelsMs,
        transferMs: step.medianMs - kernelsMs,
        busGB: (n * BUS_BYTES_PER_ELEMENT) / 1e9,
        deviceGBps: gbPerS,
        ofPeak: gbPerS / peakGBps,
        ofCopy: gbPerS / bandwidth.deviceToDevice,
        cpuMs: cpu ? cpu.medianMs : null,
      });
      console.log(`  done: CUDA 1 × ${n.toExponential(0)}`);
    }
    const first = (faster) => rows.find(faster)?.size ?? null;
    return {
      device: kernel.description,
      probe,
      peakGBps,
      bandwidth,
      bytesPerElement: DEVICE_BYTES_PER_ELEMENT,
      rows,
      cpu: 'error' in native ? { error: native.error } : native.info,
      crossover: {
        step: first((r) => r.cpuMs !== null && r.stepMs < r.cpuMs),
        kernels: first((r) => r.cpuMs !== null && r.kernelsMs < r.cpuMs),
      },
    };
  } finally {
    kernel.dispose();
  }
}

/** The section as Markdown lines: a table, or the one line saying why it was skipped. */
function cudaMarkdown(c) {
  if (!c || c.skipped) return [`CUDA: skipped (${c ? c.skipped : 'not run'}).`];
  const fmt = (x, d = 3) => (x === null || x === undefined ? 'n/a' : x.toFixed(d));
  const at = (size) => (size === null ? `none up to 1e${Math.log10(c.rows[c.rows.length - 1].size)}` : `1e${Math.log10(size)} elements`);
  const lines = [
    `CUDA: ${c.device}, driver ${c.probe.driverVersion}, runtime ${c.probe.runtimeVersion}.`,
    `Roofline: peak ${fmt(c.peakGBps, 0)} GB/s (2 × ${c.probe.memoryClockKHz / 1e3} MHz × ${c.probe.busWidthBits} bit); ` +
      `device-to-device copy ${fmt(c.bandwidth.deviceToDevice, 0)} GB/s; pinned host→device ${fmt(c.bandwidth.hostToDevice, 1)} GB/s, ` +
      `device→host ${fmt(c.bandwidth.deviceToHost, 1)} GB/s.`,
    `CPU: ${c.cpu.error ? `native kernel not available (${c.cpu.error})` : `native ${c.cpu.isa}, ${c.cpu.threads} threads`}. ` +
      `Crossover (CUDA faster than the CPU from): with transfers ${at(c.crossover.step)}; kernels alone ${at(c.crossover.kernels)}.`,
    '',
    `| elements | CUDA step ms (with transfers) | kernels ms | transfer ms (${BUS_BYTES_PER_ELEMENT} B/element over the bus) | device GB/s (${c.bytesPerElement} B/element) | of peak | of d2d copy | CPU native ms |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of c.rows) {
    lines.push(`| ${r.size.toExponential(0)} | ${fmt(r.stepMs)} | ${fmt(r.kernelsMs)} | ${fmt(r.transferMs)} | ${fmt(r.deviceGBps, 0)} | ${(100 * r.ofPeak).toFixed(0)}% | ${(100 * r.ofCopy).toFixed(0)}% | ${fmt(r.cpuMs)} |`);
  }
  return lines;
}

module.exports = { cudaBench, cudaMarkdown };

if (require.main === module) {
  const quick = process.argv.includes('--quick');
  const { timeIt, randomFill } = require('./throughput.cjs');
  const c = cudaBench({ quick, timeIt, randomFill });
  const text = cudaMarkdown(c).join('\n') + '\n';
  console.log(text);
  if (!c.skipped) {
    const dir = path.join(__dirname, 'results', quick ? 'tmp' : '');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'cuda.json'), JSON.stringify({ date: new Date().toISOString(), quick, ...c }, null, 2));
    fs.writeFileSync(path.join(dir, 'cuda.md'), text);
  }
}
