#!/usr/bin/env node
// The fraud service. npm run server [-- --feed]
//
// Environment: PORT (3000; 0 picks a free port), HOST (127.0.0.1), DATA_DIR (examples/output/fraud-server),
// BATCH_SIZE (64), CHECKPOINT_EVERY (200 batches), MAX_QUEUE (100000 labels), MAX_ROWS (1024 per request),
// BODY_LIMIT (1 MiB), LOG_SYNC (full | normal), PUBLISH_EVERY (1 step), PUBLISH_INTERVAL_MS (50),
// KINTSUGI_TRAIN_THREADS (1), TRAIN_NICE (10: the training thread's nice value, Linux),
// START_PAUSED (1: start with training paused; POST /admin/training { paused: false } resumes),
// TRAIN_TIMEOUT_MS (30000: a training worker silent this long with work pending is stopped, and
// the service exits for its supervisor to restart it).
// --feed: also feeds the built-in synthetic fraud stream through /score and /labels and prints
// how the model learns (FEED_LABELS, default 60000; FEED_RATE labels/s, default 4000).
'use strict';
const { createService, settingsFromEnv } = require('./app.cjs');

async function main() {
  const settings = settingsFromEnv();
  const service = await createService(settings);
  const url = await service.listen();
  console.log(`fraud-server: listening on ${url} (data in ${settings.dataDir}, log synchronous=${service.log.synchronous}, batch ${settings.batchSize}, checkpoint every ${settings.checkpointEvery} batches)`);

  let stopping = false;
  const stop = (signal) => {
    if (stopping) return;
    stopping = true;
    console.log(`fraud-server: ${signal}: finishing in-flight steps and writing a last checkpoint`);
    const timer = setTimeout(() => {
      console.error('fraud-server: shutdown took over 10 s; exiting');
      process.exit(1);
    }, 10_000);
    service.close().then(
      () => {
        clearTimeout(timer);
        console.log(`fraud-server: stopped at step ${service.trainer.step} (log position ${service.loop.donePosition})`);
        process.exit(0);
      },
      (e) => {
        console.error(`fraud-server: shutdown failed: ${e.stack ?? e}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  if (process.argv.includes('--feed')) {
    const { feed } = require('./feed.cjs');
    await feed(url, {
      labels: Number(process.env.FEED_LABELS ?? 60000),
      rate: Number(process.env.FEED_RATE ?? 4000),
      shouldStop: () => stopping,
    });
    if (!stopping) console.log(`fraud-server: feed done; still serving on ${url} (Ctrl-C to stop)`);
  }
}

main().catch((e) => {
  console.error(`fraud-server: ${e.stack ?? e}`);
  process.exit(1);
});
