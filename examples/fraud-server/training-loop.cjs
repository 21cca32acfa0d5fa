// The training loop: consumes the label log in order, in full batches, and checkpoints.
//
// Batch k is the log's rows (k·B, (k+1)·B]: a partial batch waits for more labels. Batches are
// therefore a function of the log alone, so an offline replay of the same log (replay.cjs),
// a run that never stopped, and a run restored from a checkpoint train on the very same batches,
// and (the trainer being bitwise deterministic) end in the same bits.
//
// After every `checkpointEvery`-th batch the loop queues trainer.save(dir, { logPosition }),
// which the worker runs right after that batch's step: the checkpoint holds the state after
// exactly the rows up to logPosition. Restoring it and continuing from logPosition + 1 is the
// same as never having stopped.
//
// At most `inFlight` batches (default 16) are posted and unanswered at once: the worker always
// has the next batches waiting, even when this thread is late to read a reply (on 2 busy cores a
// wake-up can take longer than a step: with 2 in flight the worker idled 8-17% of the time, with
// 4 about half that), and memory holds at most that many batches (16 × 64 rows: 56 KB). The
// backlog stays in the log, on disk.
//
// The log is read in chunks: once fewer than half of `inFlight` batches are still posted, one
// query reads the rows of all the batches that refill it. A query per batch cost this thread about 0.3 ms
// (better-sqlite3 re-prepares a range query whenever its bound values change), and on 2 cores
// every millisecond this thread runs is taken from the niced training thread.
'use strict';
const { standardizeInPlace } = require('./model.cjs');

class TrainingLoop {
  /**
   * @param {{ trainer: import('kintsugi-optimizer').Trainer, log: import('./label-log.cjs').LabelLog,
   *   batchSize: number, checkpointEvery: number, checkpointDir: string, position: number,
   *   end?: number, inFlight?: number, onStep?: Function, onCheckpoint?: Function, onStepError?: Function, onFatal?: Function }} o
   */
  constructor(o) {
    if (o.position % o.batchSize !== 0) throw new Error(`log position ${o.position} is not a multiple of the batch size ${o.batchSize}`);
    Object.assign(this, { end: Infinity, inFlight: 16, onStep() {}, onCheckpoint() {}, onStepError() {}, onFatal() {} }, o);
    /** Rows posted to the trainer. */
    this.sentPosition = o.position;
    /** Rows whose step has finished (trained or failed). */
    this.donePosition = o.position;
    this.posted = 0;
    this.stopped = false;
    this.paused = false;
    this.idleWaiters = [];
    this.lastCheckpoint = null;
    this.checkpointChain = Promise.resolve();
  }

  /** Whether a full batch waits in the log (before `end`, when given). */
  hasFullBatch() {
    return this.fullBatches() > 0;
  }

  /** Labels committed to the log and not trained yet. */
  get backlog() {
    return this.log.lastSeq - this.donePosition;
  }

  /** Full batches waiting in the log (before `end`, when given). */
  fullBatches() {
    return Math.floor((Math.min(this.log.lastSeq, this.end) - this.sentPosition) / this.batchSize);
  }

  /**
   * Looks for full batches and posts them, up to `inFlight` at once, reading them in one query
   * when fewer than half of `inFlight` are still posted. Call after each append.
   */
  kick() {
    const lowWater = Math.max(1, Math.floor(this.inFlight / 2));
    while (!this.stopped && !this.paused && this.posted < lowWater && this.hasFullBatch()) {
      const want = Math.min(this.inFlight - this.posted, this.fullBatches());
      const chunk = this.log.read(this.sentPosition, want * this.batchSize);
      const batches = Math.floor(chunk.rows / this.batchSize);
      if (batches === 0) break;
      standardizeInPlace(chunk.x);
      for (let b = 0; b < batches; b++) this.post(chunk, b, this.log.features);
    }
    if (this.posted === 0) this.resolveIdle();
  }

  /** Posts batch `b` of a chunk read from the log (its own copies of x and y: they are transferred). */
  post(chunk, b, width) {
    const B = this.batchSize;
    const end = chunk.seq[(b + 1) * B - 1];
    const x = chunk.x.slice(b * B * width, (b + 1) * B * width);
    const y = chunk.y.slice(b * B, (b + 1) * B);
    this.sentPosition = end;
    this.posted++;
    const index = end / B; // batches since the start of the log
    this.trainer.train({ x, y }).then(
      (result) => this.finished(end, result, null),
      (error) => this.finished(end, null, error),
    );
    if (index % this.checkpointEvery === 0) this.checkpoint(end);
  }

  finished(end, result, error) {
    this.posted--;
    this.donePosition = end;
    if (error) {
      if (error.code === 'STEP_FAILED') this.onStepError(error, end);
      else {
        this.stopped = true;
        this.onFatal(error);
        this.resolveIdle();
        return;
      }
    } else {
      this.onStep(result, end);
    }
    this.kick();
  }

  /** Queues a checkpoint of the state after the rows up to `position` (queued behind its step). */
  checkpoint(position) {
    const p = this.trainer.save(this.checkpointDir, { logPosition: position, batchSize: this.batchSize }).then(
      (info) => {
        this.lastCheckpoint = info;
        this.onCheckpoint(info);
        return info;
      },
      (error) => {
        // A failed checkpoint write loses nothing: the log still holds every label.
        if (error.code !== 'CLOSED') this.onStepError(error, position);
        return null;
      },
    );
    this.checkpointChain = this.checkpointChain.then(() => p);
    return p;
  }

  /** Stops posting new batches (the log keeps growing); resume() picks up where it stopped. */
  pause() {
    this.paused = true;
  }

  resume() {
    this.paused = false;
    this.kick();
  }

  /** Resolves once nothing is posted and no full batch waits in the log (or the loop stopped). */
  idle() {
    if (this.posted === 0 && (this.stopped || !this.hasFullBatch())) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  resolveIdle() {
    if (this.posted !== 0) return;
    if (!this.stopped && this.hasFullBatch()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Stops posting; resolves when the posted batches have finished. */
  async stop() {
    this.stopped = true;
    if (this.posted > 0) await new Promise((resolve) => this.idleWaiters.push(resolve));
    await this.checkpointChain;
  }
}

module.exports = { TrainingLoop };
