/**
 * kintsugi-optimizer: Kintsugi Optimization (Value-Weighted Pathway Reinforcement) for
 * TensorFlow.js. `kintsugi(options)` is a drop-in replacement for `tf.train.adam(...)`.
 * This is the Node entry: everything of ./browser, the native kernel and the trainer.
 */
// Node's half (the native addon's loader, the CPU count) is handed to the portable code here;
// the browser entry never imports it.
import './node';

export * from './browser';
export { createTrainer, Trainer, TrainerError, readCheckpoint, CHECKPOINT_FILE } from './trainer';
export type { ModelSpec, TrainerLoss, TrainerOptions, TrainBatch, StepResult, SnapshotTensor, TrainerSnapshot, CheckpointInfo, Checkpoint, TrainerInfo, TrainerState, TrainerErrorCode } from './trainer';
