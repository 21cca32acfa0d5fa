/**
 * Checkpoint files: model weights, optimizer state (iteration count, ϕ, moments, class stream)
 * and the caller's meta (e.g. a label-log position) in one file, replaced atomically.
 *
 * Layout: the 16-byte magic `KINTSUGI-CKPT-1\n`, a little-endian u32 header length, the header
 * as UTF-8 JSON, zero padding to a multiple of 8, then the tensors' bytes (little-endian, as
 * each entry's offset and length say). The header carries the SHA-256 of the data, so a file
 * that is cut short or damaged is refused instead of loading wrong numbers.
 *
 * A write goes to a temporary file in the same directory, is fsynced, renamed over
 * `checkpoint.kts`, and the directory is fsynced: after a crash at any point the directory
 * holds the previous checkpoint or the new one, whole.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { Checkpoint, CheckpointInfo, SnapshotTensor } from './types';

export const CHECKPOINT_FILE = 'checkpoint.kts';
const MAGIC = Buffer.from('KINTSUGI-CKPT-1\n', 'latin1');
const TMP_PREFIX = '.checkpoint.kts.tmp-';

interface Entry {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  offset: number;
  length: number;
}

interface Header {
  format: 1;
  step: number;
  examples: number;
  createdAt: string;
  meta: Record<string, unknown>;
  optimizerConfig: Record<string, unknown>;
  model: Entry[];
  optimizer: Entry[];
  dataBytes: number;
  sha256: string;
}

export interface CheckpointContent {
  step: number;
  examples: number;
  meta: Record<string, unknown>;
  optimizerConfig: Record<string, unknown>;
  weights: SnapshotTensor[];
  optimizer: SnapshotTensor[];
}

function layout(tensors: SnapshotTensor[], start: number): { entries: Entry[]; end: number } {
  let offset = start;
  const entries = tensors.map((t) => {
    const e: Entry = { name: t.name, shape: t.shape.slice(), dtype: t.dtype, offset, length: t.values.length };
    offset += t.values.length * 4;
    return e;
  });
  return { entries, end: offset };
}

function fsyncDir(dir: string): void {
  // Linux and macOS persist a rename only once the directory is synced; Windows cannot open a
  // directory for fsync, and its rename is durable by itself.
  let fd: number | null = null;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    /* not supported on this platform */
  } finally {
    if (fd != null) fs.closeSync(fd);
  }
}

let tmpCounter = 0;

/** Writes `dir/checkpoint.kts` atomically (temp file, fsync, rename, fsync of the directory). */
export function writeCheckpoint(dir: string, content: CheckpointContent): CheckpointInfo {
  const t0 = performance.now();
  fs.mkdirSync(dir, { recursive: true });
  const model = layout(content.weights, 0);
  const optimizer = layout(content.optimizer, model.end);
  const data = Buffer.alloc(optimizer.end);
  for (const [tensors, entries] of [[content.weights, model.entries], [content.optimizer, optimizer.entries]] as const) {
    tensors.forEach((t, i) => {
      const bytes = new Uint8Array(t.values.buffer, t.values.byteOffset, t.values.byteLength);
      data.set(bytes, entries[i].offset);
    });
  }
  const createdAt = new Date().toISOString();
  const header: Header = {
    format: 1,
    step: content.step,
    examples: content.examples,
    createdAt,
    meta: content.meta,
    optimizerConfig: content.optimizerConfig,
    model: model.entries,
    optimizer: optimizer.entries,
    dataBytes: data.length,
    sha256: crypto.createHash('sha256').update(data).digest('hex'),
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(MAGIC.length + 4);
  MAGIC.copy(prefix, 0);
  prefix.writeUInt32LE(json.length, MAGIC.length);
  const headerEnd = prefix.length + json.length;
  const padding = Buffer.alloc((8 - (headerEnd % 8)) % 8);

  const final = path.join(dir, CHECKPOINT_FILE);
  const tmp = path.join(dir, `${TMP_PREFIX}${process.pid}-${++tmpCounter}`);
  const fd = fs.openSync(tmp, 'w');
  try {
    for (const part of [prefix, json, padding, data]) {
      let written = 0;
      while (written < part.length) written += fs.writeSync(fd, part, written, part.length - written);
    }
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, final);
  fsyncDir(dir);
  return {
    path: final,
    step: content.step,
    examples: content.examples,
    meta: content.meta,
    bytes: headerEnd + padding.length + data.length,
    createdAt,
    ms: performance.now() - t0,
  };
}

/** Removes temporary files that a write cut short by a crash left behind. */
export function removeStaleTemporaries(dir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) if (name.startsWith(TMP_PREFIX)) fs.rmSync(path.join(dir, name), { force: true });
}

function bad(file: string, why: string): Error {
  return new Error(`kintsugi trainer: ${file} is not a valid checkpoint: ${why}`);
}

/**
 * Reads `dir/checkpoint.kts` (or the file itself when given a file path), checking its magic,
 * header and checksum. Returns null when there is no checkpoint; throws when there is one that
 * cannot be read whole.
 */
export function readCheckpoint(dirOrFile: string): Checkpoint | null {
  let file = dirOrFile;
  try {
    if (fs.statSync(dirOrFile).isDirectory()) file = path.join(dirOrFile, CHECKPOINT_FILE);
  } catch {
    return null;
  }
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  if (buf.length < MAGIC.length + 4 || !buf.subarray(0, MAGIC.length).equals(MAGIC)) throw bad(file, 'wrong magic');
  const headerLength = buf.readUInt32LE(MAGIC.length);
  const headerEnd = MAGIC.length + 4 + headerLength;
  if (headerEnd > buf.length) throw bad(file, 'header cut short');
  let header: Header;
  try {
    header = JSON.parse(buf.subarray(MAGIC.length + 4, headerEnd).toString('utf8')) as Header;
  } catch {
    throw bad(file, 'header is not JSON');
  }
  if (header.format !== 1) throw bad(file, `unknown format ${String(header.format)}`);
  const dataStart = headerEnd + ((8 - (headerEnd % 8)) % 8);
  if (dataStart + header.dataBytes !== buf.length) throw bad(file, `expected ${dataStart + header.dataBytes} bytes, found ${buf.length}`);
  // A copy, 8-byte aligned, so typed arrays can view it.
  const data = new Uint8Array(header.dataBytes);
  data.set(buf.subarray(dataStart));
  const sha = crypto.createHash('sha256').update(data).digest('hex');
  if (sha !== header.sha256) throw bad(file, 'checksum mismatch');
  const tensors = (entries: Entry[]): SnapshotTensor[] =>
    entries.map((e) => ({
      name: e.name,
      shape: e.shape,
      dtype: e.dtype,
      values: e.dtype === 'int32' ? new Int32Array(data.buffer, e.offset, e.length) : new Float32Array(data.buffer, e.offset, e.length),
    }));
  return {
    info: {
      path: file,
      step: header.step,
      examples: header.examples,
      meta: header.meta,
      bytes: buf.length,
      createdAt: header.createdAt,
    },
    weights: tensors(header.model),
    optimizer: tensors(header.optimizer),
    optimizerConfig: header.optimizerConfig,
  };
}
