/**
 * Reaches θ and g as Float32Arrays without copying where the backend allows it.
 *
 * - `cpu`: the backend's own arrays. θ is updated in place when its buffer is not shared
 *   (refCount 1); a shared buffer (a `tf.clone`, a reshape) is copied once and assigned back.
 * - `wasm`: views on the wasm heap, with the same rule. Views die when the heap grows, so every
 *   view is taken after the last allocation before the kernel runs, and copies are written back
 *   (which allocates) only after it.
 * - anything else (tfjs-node's `tensorflow`, `webgl`, ...), or `storage: 'copy'`: `dataSync()`
 *   in, `assign` out.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { StorageMode } from './options';

export type Access = 'in-place' | 'copy' | 'generic';

export interface OpenedVariable {
  theta: Float32Array;
  grad: Float32Array;
  access: Access;
  /** Run after an in-place write: tells the backend the memory under the variable changed. */
  touched?: () => void;
}

/** The parts of the cpu backend's internals this module reads (duck-typed: no import of it). */
interface CpuBackendLike {
  data: { has(id: object): boolean; get(id: object): { values?: unknown } };
  refCount(id: object): number;
}

/** The parts of the wasm backend's internals this module reads. */
interface WasmBackendLike {
  dataIdMap: { has(id: object): boolean; get(id: object): { id: number; memoryOffset: number | null } };
  dataIdNextNumber: number;
  wasm: {
    HEAPU8: Uint8Array;
    tfjs: { disposeData(id: number): void; registerTensor(id: number, size: number, offset: number): void };
  };
  refCount(id: object): number;
}

type Reader = (t: tf.Tensor) => Float32Array | null;

interface DirectAccess {
  reader: Reader;
  refCount: (t: tf.Tensor) => number;
  /** Called after θ of `t` was written in place. */
  touched?: (t: tf.Tensor) => void;
}

function cpuReader(backend: CpuBackendLike): Reader {
  return (t) => {
    if (!backend.data.has(t.dataId)) return null;
    const values = backend.data.get(t.dataId).values;
    return values instanceof Float32Array && values.length === t.size ? values : null;
  };
}

function wasmReader(backend: WasmBackendLike): Reader {
  return (t) => {
    if (!backend.dataIdMap.has(t.dataId)) return null;
    if (t.size === 0) return new Float32Array(0);
    const offset = backend.dataIdMap.get(t.dataId).memoryOffset;
    if (offset == null || offset % 4 !== 0) return null;
    return new Float32Array(backend.wasm.HEAPU8.buffer, offset, t.size);
  };
}

/**
 * The wasm backend caches XNNPACK operators, with their packed weights, per tensor id, and drops
 * them only when that id is disposed. After θ changes in place, the same memory is registered
 * under a fresh id, so no kernel reuses weights packed before the step.
 */
function wasmRenew(backend: WasmBackendLike): (t: tf.Tensor) => void {
  return (t) => {
    const entry = backend.dataIdMap.get(t.dataId);
    if (entry.memoryOffset == null) return;
    backend.wasm.tfjs.disposeData(entry.id);
    entry.id = backend.dataIdNextNumber++;
    backend.wasm.tfjs.registerTensor(entry.id, t.size, entry.memoryOffset);
  };
}

function directAccess(): DirectAccess | null {
  const name = tf.getBackend();
  const backend = tf.engine().backend as unknown;
  if (name === 'cpu' && isCpuLike(backend)) {
    return { reader: cpuReader(backend), refCount: (t) => backend.refCount(t.dataId) };
  }
  if (name === 'wasm' && isWasmLike(backend)) {
    return { reader: wasmReader(backend), refCount: (t) => backend.refCount(t.dataId), touched: wasmRenew(backend) };
  }
  return null;
}

function isCpuLike(b: unknown): b is CpuBackendLike {
  const x = b as Partial<CpuBackendLike> | null;
  return x != null && typeof x.data?.get === 'function' && typeof x.data?.has === 'function' && typeof x.refCount === 'function';
}

function isWasmLike(b: unknown): b is WasmBackendLike {
  const x = b as Partial<WasmBackendLike> | null;
  return (
    x != null &&
    typeof x.dataIdMap?.get === 'function' &&
    typeof x.dataIdNextNumber === 'number' &&
    x.wasm?.HEAPU8 instanceof Uint8Array &&
    typeof x.wasm.tfjs?.disposeData === 'function' &&
    typeof x.wasm.tfjs?.registerTensor === 'function' &&
    typeof x.refCount === 'function'
  );
}

/**
 * Opens θ and g of each variable for one kernel call. Nothing on the backend is allocated here,
 * so the wasm views stay valid until `commit`.
 */
export function openVariables(
  variables: readonly tf.Variable[],
  grads: readonly tf.Tensor[],
  mode: StorageMode,
): OpenedVariable[] {
  const direct = mode === 'auto' ? directAccess() : null;
  return variables.map((variable, i) => {
    const grad = grads[i];
    if (direct != null) {
      const theta = direct.reader(variable);
      const g = direct.reader(grad);
      if (theta != null && g != null) {
        if (direct.refCount(variable) !== 1) return { theta: theta.slice(), grad: g, access: 'copy' };
        const touched = direct.touched;
        return { theta, grad: g, access: 'in-place', touched: touched && (() => touched(variable)) };
      }
    }
    // dataSync() may hand back the backend's own array (it does on cpu), so θ is copied.
    return {
      theta: (variable.dataSync() as Float32Array).slice(),
      grad: grad.dataSync() as Float32Array,
      access: 'generic',
    };
  });
}

/** Writes the copies back into their variables; in-place ones are already done. */
export function commitVariables(
  variables: readonly tf.Variable[],
  opened: readonly OpenedVariable[],
  skipped: Uint8Array,
): void {
  tf.tidy(() => {
    opened.forEach((o, i) => {
      if (skipped[i] !== 0) return;
      if (o.access === 'in-place') o.touched?.();
      else variables[i].assign(tf.tensor(o.theta, variables[i].shape, 'float32'));
    });
  });
}
