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
 *
 * `VariableStorage` keeps, per position in the step's variable list, what the next step can reuse:
 * the `OpenedVariable` record it hands out, and on wasm the views it made. A view is reused only
 * when the backend's record of the tensor's data (looked up afresh every step, by the tensor's
 * current data id), its memory offset and the heap's buffer are the very ones it was made from,
 * so it is the view a fresh `new Float32Array(buffer, offset, size)` would give. The backend itself
 * is looked up every step and its accessors are rebuilt when it changes.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { StorageMode } from './options';

export type Access = 'in-place' | 'copy' | 'generic';

export interface OpenedVariable {
  theta: Float32Array;
  grad: Float32Array;
  access: Access;
}

/** A backend's record of one tensor's data: the fields this module reads (duck-typed). */
interface CpuRecord {
  values?: unknown;
  refCount?: unknown;
}
interface WasmRecord {
  id: number;
  memoryOffset: number | null;
  refCount?: unknown;
}

/** The parts of the cpu backend's internals this module reads (duck-typed: no import of it). */
interface CpuBackendLike {
  data: { has(id: object): boolean; get(id: object): CpuRecord };
  refCount(id: object): number;
}

/** The parts of the wasm backend's internals this module reads. */
interface WasmBackendLike {
  dataIdMap: { has(id: object): boolean; get(id: object): WasmRecord };
  dataIdNextNumber: number;
  wasm: {
    HEAPU8: Uint8Array;
    tfjs: { disposeData(id: number): void; registerTensor(id: number, size: number, offset: number): void };
  };
  refCount(id: object): number;
}

type Backend = { kind: 'cpu'; b: CpuBackendLike } | { kind: 'wasm'; b: WasmBackendLike } | { kind: 'generic' };

const EMPTY = new Float32Array(0);
// Read once: `tf.x` goes through a getter of the namespace object on every access.
const { engine, getBackend, tidy, tensor } = tf;

/** A wasm view and the exact record, offset and buffer it was made from. */
interface CachedView {
  record: WasmRecord | null;
  buffer: ArrayBufferLike | null;
  offset: number;
  view: Float32Array;
}

/** One position of the step's variable list: the record handed out, and the wasm views to reuse. */
interface Slot extends OpenedVariable {
  thetaView: CachedView;
  gradView: CachedView;
}

function newSlot(): Slot {
  return {
    theta: EMPTY,
    grad: EMPTY,
    access: 'generic',
    thetaView: { record: null, buffer: null, offset: -1, view: EMPTY },
    gradView: { record: null, buffer: null, offset: -1, view: EMPTY },
  };
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

/** The refCount the backend's `refCount(id)` would return: the record's own field, which is what both backends read. */
function refCountOf(record: { refCount?: unknown }, backend: { refCount(id: object): number }, t: tf.Tensor): number {
  return typeof record.refCount === 'number' ? record.refCount : backend.refCount(t.dataId);
}

/** cpu: the backend's record of `t` when it holds a Float32Array of t.size, else null. */
function cpuRecord(b: CpuBackendLike, t: tf.Tensor): CpuRecord | null {
  const id = t.dataId;
  if (!b.data.has(id)) return null;
  const record = b.data.get(id);
  const values = record.values;
  return values instanceof Float32Array && values.length === t.size ? record : null;
}

/** wasm: the backend's record of `t`, or null. */
function wasmRecord(b: WasmBackendLike, t: tf.Tensor): WasmRecord | null {
  const id = t.dataId;
  return b.dataIdMap.has(id) ? b.dataIdMap.get(id) : null;
}

/** wasm: a view of `size` floats at the record's offset, the cached one when it was made from exactly these. */
function wasmView(record: WasmRecord, size: number, buffer: ArrayBufferLike, cache: CachedView): Float32Array | null {
  if (size === 0) return EMPTY;
  const offset = record.memoryOffset;
  if (offset == null || offset % 4 !== 0) return null;
  if (cache.record === record && cache.buffer === buffer && cache.offset === offset && cache.view.length === size) return cache.view;
  const view = new Float32Array(buffer, offset, size);
  cache.record = record;
  cache.buffer = buffer;
  cache.offset = offset;
  cache.view = view;
  return view;
}

/**
 * The wasm backend caches XNNPACK operators, with their packed weights, per tensor id, and drops
 * them only when that id is disposed. After θ changes in place, the same memory is registered
 * under a fresh id, so no kernel reuses weights packed before the step.
 */
function wasmRenew(b: WasmBackendLike, t: tf.Tensor): void {
  const entry = b.dataIdMap.get(t.dataId);
  if (entry.memoryOffset == null) return;
  b.wasm.tfjs.disposeData(entry.id);
  entry.id = b.dataIdNextNumber++;
  b.wasm.tfjs.registerTensor(entry.id, t.size, entry.memoryOffset);
}

/** θ and g of each variable of a step, opened for one kernel call and committed after it. */
export class VariableStorage {
  private readonly slots: Slot[] = [];
  /** What `open` handed out this step (the first `count` slots). */
  private readonly opened: Slot[] = [];
  /** The engine's backend the accessors below were built for. */
  private backendObject: unknown = null;
  private backend: Backend = { kind: 'generic' };

  constructor(private readonly mode: StorageMode) {}

  /**
   * Opens θ and g of the first `count` variables. Nothing on the backend is allocated here,
   * so the wasm views stay valid until `commit`.
   */
  open(variables: readonly tf.Variable[], grads: readonly tf.Tensor[], count: number): readonly OpenedVariable[] {
    const backend = this.currentBackend();
    const opened = this.opened;
    opened.length = count;
    const buffer = backend.kind === 'wasm' ? backend.b.wasm.HEAPU8.buffer : null;
    for (let i = 0; i < count; i++) {
      const slot = (this.slots[i] ??= newSlot());
      opened[i] = slot;
      const variable = variables[i];
      const grad = grads[i];
      if (backend.kind === 'cpu') {
        const theta = cpuRecord(backend.b, variable);
        const g = theta && cpuRecord(backend.b, grad);
        if (theta != null && g != null) {
          const shared = refCountOf(theta, backend.b, variable) !== 1;
          const values = theta.values as Float32Array;
          slot.theta = shared ? values.slice() : values;
          slot.grad = g.values as Float32Array;
          slot.access = shared ? 'copy' : 'in-place';
          continue;
        }
      } else if (backend.kind === 'wasm' && buffer != null) {
        const thetaRecord = wasmRecord(backend.b, variable);
        const gradRecord = thetaRecord && wasmRecord(backend.b, grad);
        const theta = thetaRecord && wasmView(thetaRecord, variable.size, buffer, slot.thetaView);
        const g = theta && gradRecord && wasmView(gradRecord, grad.size, buffer, slot.gradView);
        if (thetaRecord != null && theta != null && g != null) {
          const shared = refCountOf(thetaRecord, backend.b, variable) !== 1;
          slot.theta = shared ? theta.slice() : theta;
          slot.grad = g;
          slot.access = shared ? 'copy' : 'in-place';
          continue;
        }
      }
      // dataSync() may hand back the backend's own array (it does on cpu), so θ is copied.
      slot.theta = (variable.dataSync() as Float32Array).slice();
      slot.grad = grad.dataSync() as Float32Array;
      slot.access = 'generic';
    }
    return opened;
  }

  /** Writes the copies of the opened variables back into them; in-place ones are already done. */
  commit(variables: readonly tf.Variable[], skipped: Uint8Array): void {
    const opened = this.opened;
    let copies = false;
    for (let i = 0; i < opened.length; i++) if (skipped[i] === 0 && opened[i].access !== 'in-place') copies = true;
    const backend = this.backend;
    const write = (): void => {
      for (let i = 0; i < opened.length; i++) {
        if (skipped[i] !== 0) continue;
        const o = opened[i];
        if (o.access === 'in-place') {
          if (backend.kind === 'wasm') wasmRenew(backend.b, variables[i]);
        } else {
          variables[i].assign(tensor(o.theta, variables[i].shape, 'float32'));
        }
      }
    };
    if (copies) tidy(write);
    else write();
  }

  /** Drops the step's references to tensor memory, so nothing is kept alive between steps. */
  release(): void {
    for (const o of this.opened) {
      o.theta = EMPTY;
      o.grad = EMPTY;
    }
  }

  /** The engine's backend now, with its accessors (rebuilt only when the backend object changes). */
  private currentBackend(): Backend {
    if (this.mode !== 'auto') return this.backend;
    const object = engine().backend as unknown;
    if (object !== this.backendObject) {
      const name = getBackend();
      this.backend =
        name === 'cpu' && isCpuLike(object) ? { kind: 'cpu', b: object }
          : name === 'wasm' && isWasmLike(object) ? { kind: 'wasm', b: object }
            : { kind: 'generic' };
      this.backendObject = object;
    }
    return this.backend;
  }
}
