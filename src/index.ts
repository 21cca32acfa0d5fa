/**
 * kintsugi-optimizer: Kintsugi Optimization (Value-Weighted Pathway Reinforcement) for
 * TensorFlow.js. `kintsugi(options)` is a drop-in replacement for `tf.train.adam(...)`.
 */
export { KintsugiOptimizer, kintsugi } from './optimizer';
export type { PhiStats, VariablePhiStats, ClassPhiStats, StorageStats, PhiSummary, GildedPathway } from './stats';
export type { NamedTensor } from './state';
export type { BaseLoss, PerSampleLoss, ClassPathwayOptions, Weighting } from './class-pathways';
export { DEFAULT_OPTIONS } from './options';
export type { KintsugiOptions, Crack, Granularity, Normalize, Base, NonFinitePolicy, StorageMode } from './options';
export { kernelInfo } from './kernel/select';
export type { KernelInfo } from './kernel/select';
export { referenceKernel } from './kernel/reference';
export { NonFiniteGradientError, GRANULARITY, BASE } from './kernel/types';
export type { Kernel, KernelVariable, KernelParams, KernelOutput } from './kernel/types';
export { PhiRecorder, phiReport } from './eval/report/phi-report';
export type { PhiReportOptions, FirstLayer } from './eval/report/phi-report';
export { lineChart, histogram } from './eval/report/svg';
export type { LineChartOptions, HistogramOptions, Series } from './eval/report/svg';
export { averagePrecision, rocAuc, recallAtPrecision, recallAtFpr, bestF1, precisionRecallCurve } from './eval/metrics';
export type { BestF1, PrecisionRecallCurve } from './eval/metrics';
export { focalLoss, focalLossPerSample } from './eval/focal-loss';
export type { FocalLossOptions, FocalLossFn, FocalLossPerSampleFn } from './eval/focal-loss';
export { syntheticFraud } from './eval/data/synthetic-fraud';
export { parseCsv, stratifiedSplit, subsamplePositives, standardize } from './eval/data/csv';
export { createTrainer, Trainer, TrainerError, readCheckpoint, CHECKPOINT_FILE } from './trainer';
export type { ModelSpec, TrainerLoss, TrainerOptions, TrainBatch, StepResult, SnapshotTensor, TrainerSnapshot, CheckpointInfo, Checkpoint, TrainerInfo, TrainerState, TrainerErrorCode } from './trainer';
