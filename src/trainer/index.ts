/** The trainer: Kintsugi training in a worker thread, prediction on the caller's thread. */
export { createTrainer, Trainer, TrainerError } from './trainer';
export { readCheckpoint, CHECKPOINT_FILE } from './checkpoint';
export type {
  ModelSpec,
  TrainerLoss,
  TrainerOptions,
  TrainBatch,
  StepResult,
  SnapshotTensor,
  TrainerSnapshot,
  CheckpointInfo,
  Checkpoint,
  TrainerInfo,
  TrainerState,
  TrainerErrorCode,
} from './types';
