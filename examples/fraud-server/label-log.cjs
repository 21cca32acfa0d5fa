// The durable, append-only label log: one SQLite table in WAL mode (better-sqlite3).
//
// Every labelled transaction is one row; `seq` (the rowid) is its position in the log. The
// service is the only writer and never updates or deletes, so positions are dense (1, 2, 3, …)
// and "the first n rows after position p" is a range read on the primary key.
//
// synchronous=FULL by default: in WAL mode SQLite then fsyncs the WAL at every commit, so a label
// acknowledged by POST /labels survives a power cut, not only a crash of the process. NORMAL
// (LOG_SYNC=normal) skips that fsync; an acknowledged label then survives a process crash (the
// WAL is in the OS's page cache) but the last commits can be lost if the machine loses power.
// Chargebacks are money, and group commit (GroupCommitter below) makes one fsync cover every
// /labels request of an event-loop turn, so FULL costs little.
'use strict';
const Database = require('better-sqlite3');

const SCHEMA_VERSION = 1;

class LabelLog {
  /**
   * @param {string} file database file
   * @param {{ features: number, synchronous?: 'FULL' | 'NORMAL', readonly?: boolean }} options
   */
  constructor(file, { features, synchronous = 'FULL', readonly = false }) {
    if (!['FULL', 'NORMAL'].includes(synchronous)) throw new RangeError(`synchronous must be FULL or NORMAL; got ${synchronous}`);
    this.file = file;
    this.features = features;
    this.db = new Database(file, { readonly, fileMustExist: readonly });
    if (!readonly) {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${synchronous}`);
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS labels (
          seq INTEGER PRIMARY KEY,
          txn_id TEXT,
          label INTEGER NOT NULL CHECK (label IN (0, 1)),
          features BLOB NOT NULL,
          received_at INTEGER NOT NULL
        );`);
      const put = this.db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)');
      put.run('schema', String(SCHEMA_VERSION));
      put.run('features', String(features));
    }
    const stored = this.db.prepare("SELECT value FROM meta WHERE key = 'features'").get();
    if (stored && Number(stored.value) !== features) {
      throw new Error(`label log ${file} holds transactions of ${stored.value} features; this service has ${features}`);
    }
    this.synchronous = this.db.pragma('synchronous', { simple: true }) === 2 ? 'FULL' : 'NORMAL';
    this.insert = readonly ? null : this.db.prepare('INSERT INTO labels (txn_id, label, features, received_at) VALUES (?, ?, ?, ?)');
    // Raw rows (arrays, not objects): the training loop reads every label once, in batches.
    this.rangeStmt = this.db.prepare('SELECT seq, label, features FROM labels WHERE seq > ? ORDER BY seq LIMIT ?').raw(true);
    this.lastSeq = this.db.prepare('SELECT COALESCE(MAX(seq), 0) AS last FROM labels').get().last;
    this.appendAll = readonly
      ? null
      : this.db.transaction((groups) => {
          const now = Date.now();
          return groups.map((rows) => {
            let first = 0;
            let last = 0;
            for (const r of rows) {
              const blob = Buffer.from(Float32Array.from(r.features).buffer);
              last = Number(this.insert.run(r.id ?? null, r.label, blob, now).lastInsertRowid);
              if (first === 0) first = last;
            }
            return { first, last };
          });
        });
  }

  /**
   * Appends groups of labelled rows in one transaction (one commit, one fsync under FULL) and
   * returns each group's first and last position. Throws, having written nothing, on any error.
   * @param {Array<Array<{ id?: string, features: number[], label: 0 | 1 }>>} groups
   */
  append(groups) {
    const ranges = this.appendAll(groups);
    this.lastSeq = ranges.reduce((m, r) => Math.max(m, r.last), this.lastSeq);
    return ranges;
  }

  /**
   * Up to `limit` rows after `position`, in log order: x (rows × features, float32, as logged),
   * y (rows), each row's position (seq), and the position of the last row.
   */
  read(position, limit) {
    const rows = this.rangeStmt.all(position, limit);
    const x = new Float32Array(rows.length * this.features);
    const bytes = new Uint8Array(x.buffer);
    const y = new Float32Array(rows.length);
    const seq = new Float64Array(rows.length);
    const rowBytes = this.features * 4;
    for (let i = 0; i < rows.length; i++) {
      const [position, label, features] = rows[i];
      if (features.length !== rowBytes) throw new Error(`label log row ${position} has ${features.length} feature bytes; expected ${rowBytes}`);
      bytes.set(features, i * rowBytes); // little-endian float32, as written
      y[i] = label;
      seq[i] = position;
    }
    return { rows: rows.length, x, y, seq, last: rows.length ? seq[rows.length - 1] : position };
  }

  /** Every row with a transaction id: id → { seq, label, features } (for checks and tests). */
  byId() {
    const out = new Map();
    for (const r of this.db.prepare('SELECT seq, txn_id, label, features FROM labels WHERE txn_id IS NOT NULL ORDER BY seq').iterate()) {
      out.set(r.txn_id, { seq: r.seq, label: r.label, features: new Float32Array(r.features.buffer.slice(r.features.byteOffset, r.features.byteOffset + r.features.byteLength)) });
    }
    return out;
  }

  close() {
    this.db.close();
  }
}

/**
 * Group commit: every append requested in one event-loop turn goes into one transaction, so
 * concurrent /labels requests share one fsync. `append` resolves only after the commit.
 */
class GroupCommitter {
  constructor(log) {
    this.log = log;
    this.pending = [];
    this.pendingRows = 0;
    this.scheduled = false;
    this.commits = 0;
  }

  append(rows) {
    return new Promise((resolve, reject) => {
      this.pending.push({ rows, resolve, reject });
      this.pendingRows += rows.length;
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  flush() {
    const batch = this.pending;
    this.pending = [];
    this.pendingRows = 0;
    this.scheduled = false;
    if (batch.length === 0) return;
    let ranges;
    try {
      ranges = this.log.append(batch.map((b) => b.rows));
      this.commits++;
    } catch (e) {
      for (const b of batch) b.reject(e);
      return;
    }
    batch.forEach((b, i) => b.resolve(ranges[i]));
  }
}

module.exports = { LabelLog, GroupCommitter };
