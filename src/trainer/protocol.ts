/// <reference types="node" preserve="true" />
/** Messages between the trainer (caller's thread) and its worker. Internal. */
import type { CheckpointInfo, ModelSpec, SnapshotTensor, StepResult, TrainerInfo, TrainerLoss } from './types';
import type { KintsugiOptions } from '../index';

export interface WorkerConfig {
  model: ModelSpec;
  optimizer: KintsugiOptions;
  loss: TrainerLoss;
  publishEvery: number;
  publishIntervalMs: number;
  threads: number | null;
  niceness: number | null;
  restore: string | null;
  backend: string;
  tfjs: string;
}

export type Request =
  | { type: 'train'; id: number; x: ArrayBuffer; y: ArrayBuffer; rows: number }
  | { type: 'snapshot'; id: number; optimizer: boolean }
  | { type: 'save'; id: number; dir: string; meta: Record<string, unknown> }
  | { type: 'close'; id: number };

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
}

/** The weights `predict` uses: one buffer, the tensors laid out in `model.getWeights()` order. */
export interface Published {
  step: number;
  shapes: number[][];
  buffer: ArrayBuffer;
}

export type Reply =
  | { type: 'ready'; info: TrainerInfo; step: number; examples: number; published: Published }
  | { type: 'init-error'; error: SerializedError }
  | { type: 'published'; published: Published }
  | ({ type: 'trained'; id: number } & StepResult)
  | { type: 'snapshot'; id: number; step: number; examples: number; weights: SnapshotTensor[]; optimizer?: SnapshotTensor[]; classPhi: number[] | null }
  | { type: 'saved'; id: number; info: CheckpointInfo }
  | { type: 'closed'; id: number }
  | { type: 'failed'; id: number; error: SerializedError };

export function serializeError(e: unknown): SerializedError {
  if (e instanceof Error) return { name: e.name, message: e.message, stack: e.stack };
  return { name: 'Error', message: String(e) };
}

export type ReadyReply = Extract<Reply, { type: 'ready' }>;
