/**
 * The browser entry (package.json `exports`, condition "browser", and `kintsugi-optimizer/browser`),
 * and the part of the API that runs anywhere. Nothing it reaches imports a Node built-in: the
 * kernel is the WebAssembly build of the C++ kernel (embedded as base64) or the TypeScript
 * reference kernel, never the native addon. The Node entry (./index) re-exports all of it and
 * adds the native kernel and the trainer, which reads and writes files.
 */
export { KintsugiOptimizer, kintsugi } from './optimizer';
export type { PhiStats, VariablePhiStats, ClassPhiStats, StorageStats, PhiSummary, GildedPathway } from './stats';
export type { NamedTensor } from './state';
export type { BaseLoss, PerSampleLoss, ClassPathwayOptions, Weighting } from './class-pathways';
export { withoutExampleIds } from './example-pathways';
export type { ExamplePathwayOptions } from './example-pathways';
export type { ExampleCrackOptions, CrackDriver } from './example-cracks';
export { exampleDataset, withExampleIds } from './example-dataset';
export type { ExampleDatasetOptions, ExampleDataset, ExampleBatch } from './example-dataset';
export { DEFAULT_OPTIONS } from './options';
export type { KintsugiOptions, Crack, Granularity, Normalize, Base, NonFinitePolicy, StorageMode, DeviceMode } from './options';
export { kernelInfo } from './kernel/select';
export type { KernelInfo } from './kernel/select';
export { prepareWasmKernel } from './kernel/wasm';
export type { WasmLoad, WasmInfo } from './kernel/wasm';
export { referenceKernel } from './kernel/reference';
export { NonFiniteGradientError, GRANULARITY, BASE } from './kernel/types';
export type { Kernel, KernelVariable, KernelParams, KernelOutput } from './kernel/types';
export { phiReport } from './eval/report/phi-report';
export type { PhiReportOptions, FirstLayer } from './eval/report/phi-report';
export { PhiRecorder } from './eval/report/phi-recorder';
export type { PhiRecorderJSON, PhiSnapshot } from './eval/report/phi-recorder';
export { lineChart, histogram } from './eval/report/svg';
export type { LineChartOptions, HistogramOptions, Series } from './eval/report/svg';
export { averagePrecision, rocAuc, recallAtPrecision, recallAtFpr, bestF1, precisionRecallCurve } from './eval/metrics';
export type { BestF1, PrecisionRecallCurve } from './eval/metrics';
export { focalLoss, focalLossPerSample } from './eval/focal-loss';
export type { FocalLossOptions, FocalLossFn, FocalLossPerSampleFn } from './eval/focal-loss';
export { syntheticFraud } from './eval/data/synthetic-fraud';
export { parseCsv, stratifiedSplit, subsamplePositives, standardize } from './eval/data/csv';
