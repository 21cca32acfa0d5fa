/**
 * kintsugi-optimizer: Kintsugi Optimization (Value-Weighted Pathway Reinforcement) for
 * TensorFlow.js. `kintsugi(options)` is a drop-in replacement for `tf.train.adam(...)`.
 */
export { KintsugiOptimizer, kintsugi } from './optimizer';
export type { PhiStats, VariablePhiStats, ClassPhiStats, StorageStats, NamedTensor } from './optimizer';
export type { BaseLoss, PerSampleLoss, ClassPathwayOptions, Weighting } from './class-pathways';
export type { PhiSummary, GildedPathway } from './inspect';
export { DEFAULT_OPTIONS } from './options';
export type { KintsugiOptions, Crack, Granularity, Normalize, Base, NonFinitePolicy, StorageMode } from './options';
export { kernelInfo } from './kernel/select';
export type { KernelInfo } from './kernel/select';
export { referenceKernel } from './kernel/reference';
export { NonFiniteGradientError, GRANULARITY, BASE } from './kernel/types';
export type { Kernel, KernelVariable, KernelParams, KernelOutput } from './kernel/types';
export { PhiRecorder, phiReport } from './report/phi-report';
export type { PhiReportOptions, FirstLayer } from './report/phi-report';
export { lineChart, histogram } from './report/svg';
export type { LineChartOptions, HistogramOptions, Series } from './report/svg';
export { averagePrecision, rocAuc, recallAtPrecision, recallAtFpr, bestF1, precisionRecallCurve } from './metrics';
export type { BestF1, PrecisionRecallCurve } from './metrics';
export { focalLoss, focalLossPerSample } from './focal-loss';
export type { FocalLossOptions, FocalLossFn, FocalLossPerSampleFn } from './focal-loss';
export { syntheticFraud } from './data/synthetic-fraud';
export { parseCsv, stratifiedSplit, subsamplePositives, standardize } from './data/csv';
