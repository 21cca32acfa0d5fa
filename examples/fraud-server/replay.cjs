#!/usr/bin/env node
// Offline replay: trains a fresh model on a label log, in the service's batches and checkpoint
// cadence, with no server and no crash. Because batches are a function of the log alone and
// training is bitwise deterministic, the result must equal, bit for bit, what the service holds
// after training the same rows, however often it was killed and restored on the way.
//
//   node examples/fraud-server/replay.cjs [DATA_DIR]
//     replays DATA_DIR/labels.db up to the position of DATA_DIR/checkpoint and compares the
//     result with that checkpoint (BATCH_SIZE and CHECKPOINT_EVERY as the service had them).
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { createTrainer, readCheckpoint } = require('kintsugi-optimizer');
const { LabelLog } = require('./label-log.cjs');
const { FEATURES, MODEL_MODULE } = require('./model.cjs');
const { OPTIMIZER, LOSS } = require('./app.cjs');
const { TrainingLoop } = require('./training-loop.cjs');

/**
 * Replays `dataDir`'s log from position 0 to `end` (default: every full batch) and returns the
 * trainer's final snapshot, optimizer state included.
 */
async function replayLog({ dataDir, batchSize = 64, checkpointEvery = 200, end = Infinity, checkpointDir }) {
  const log = new LabelLog(path.join(dataDir, 'labels.db'), { features: FEATURES, synchronous: 'NORMAL' });
  const scratch = checkpointDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'fraud-replay-'));
  const trainer = await createTrainer({
    model: { module: MODEL_MODULE, exportName: 'createModel', args: { features: FEATURES } },
    optimizer: OPTIMIZER,
    loss: LOSS,
  });
  let fatal = null;
  const loop = new TrainingLoop({
    trainer,
    log,
    batchSize,
    checkpointEvery,
    checkpointDir: scratch,
    position: 0,
    end,
    onFatal: (e) => {
      fatal = e;
    },
  });
  try {
    loop.kick();
    await loop.idle();
    await loop.checkpointChain;
    if (fatal) throw fatal;
    return { position: loop.donePosition, snapshot: await trainer.snapshot({ optimizer: true }) };
  } finally {
    await trainer.close();
    log.close();
    if (checkpointDir == null) fs.rmSync(scratch, { recursive: true, force: true });
  }
}

function sameBits(a, b) {
  return a.length === b.length && a.every((t, i) => Buffer.from(t.values.buffer, t.values.byteOffset, t.values.byteLength).equals(Buffer.from(b[i].values.buffer, b[i].values.byteOffset, b[i].values.byteLength)));
}

async function main() {
  const dataDir = path.resolve(process.argv[2] ?? process.env.DATA_DIR ?? path.join(__dirname, '..', 'output', 'fraud-server'));
  const ckpt = readCheckpoint(path.join(dataDir, 'checkpoint'));
  if (ckpt == null) throw new Error(`no checkpoint in ${dataDir}/checkpoint`);
  const batchSize = Number(ckpt.info.meta.batchSize);
  const end = Number(ckpt.info.meta.logPosition);
  const t0 = Date.now();
  const { position, snapshot } = await replayLog({ dataDir, batchSize, checkpointEvery: Number(process.env.CHECKPOINT_EVERY ?? 200), end });
  const same = snapshot.step === ckpt.info.step && sameBits(snapshot.weights, ckpt.weights) && sameBits(snapshot.optimizer, ckpt.optimizer);
  console.log(`replay: ${position} labels, ${snapshot.step} steps in ${((Date.now() - t0) / 1000).toFixed(1)} s; the checkpoint (step ${ckpt.info.step}, position ${end}) ${same ? 'matches bit for bit' : 'DIFFERS'}`);
  process.exit(same ? 0 : 1);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(`replay: ${e.stack ?? e}`);
    process.exit(2);
  });
}

module.exports = { replayLog, sameBits };
