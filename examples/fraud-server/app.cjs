// The fraud service: scores transactions, takes labels (chargebacks) into a durable log, and
// keeps learning from them in a worker thread while it answers.
//
//   POST /score    { transactions: number[][] }                 → { scores: number[], step }
//   POST /labels   { labels: [{ id?, features: number[], label }] } → { accepted, first, last }
//                  (answered only after the labels are committed to the log; 503 + Retry-After
//                  when the training backlog is full)
//   GET  /health   training, log and checkpoint state (503 once the trainer has failed)
//   GET  /metrics  Prometheus text format (prom-client)
//   POST /admin/training { paused }  pause or resume training (labels are still logged)
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const Fastify = require('fastify');
const tf = require('@tensorflow/tfjs');
const client = require('prom-client');
const { createTrainer, kernelInfo } = require('kintsugi-optimizer');
const { LabelLog, GroupCommitter } = require('./label-log.cjs');
const { FEATURES, MODEL_MODULE, standardizeInPlace } = require('./model.cjs');
const { TrainingLoop } = require('./training-loop.cjs');

const OPTIMIZER = { learningRate: 0.003 };
const LOSS = { valueWeighted: 'binaryCrossentropy' };
const CLASS_NAMES = ['legit', 'fraud'];
tf.env().set('PROD', true); // no "install tfjs-node" banner (this module is also loaded by replay.cjs and the bench)

/** The service's settings from the environment, with defaults. */
function settingsFromEnv(env = process.env) {
  const int = (name, fallback, min = 0) => {
    const raw = env[name];
    if (raw == null || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new RangeError(`${name} must be an integer ≥ ${min}; got ${JSON.stringify(raw)}`);
    return n;
  };
  const sync = (env.LOG_SYNC ?? 'full').toUpperCase();
  if (sync !== 'FULL' && sync !== 'NORMAL') throw new RangeError(`LOG_SYNC must be full or normal; got ${env.LOG_SYNC}`);
  return {
    port: int('PORT', 3000, 0),
    host: env.HOST ?? '127.0.0.1',
    dataDir: path.resolve(env.DATA_DIR ?? path.join(__dirname, '..', 'output', 'fraud-server')),
    batchSize: int('BATCH_SIZE', 64, 1),
    checkpointEvery: int('CHECKPOINT_EVERY', 200, 1),
    maxQueue: int('MAX_QUEUE', 100_000, 1),
    maxRows: int('MAX_ROWS', 1024, 1),
    bodyLimit: int('BODY_LIMIT', 1024 * 1024, 1024),
    publishEvery: int('PUBLISH_EVERY', 1, 1),
    publishIntervalMs: int('PUBLISH_INTERVAL_MS', 50, 0),
    threads: int('KINTSUGI_TRAIN_THREADS', 1, 1),
    niceness: int('TRAIN_NICE', 10, 0),
    startPaused: env.START_PAUSED === '1',
    trainTimeoutMs: int('TRAIN_TIMEOUT_MS', 30_000, 1),
    sync,
  };
}

function rowsSchema(maxRows) {
  const features = { type: 'array', minItems: FEATURES, maxItems: FEATURES, items: { type: 'number' } };
  return {
    score: {
      body: {
        type: 'object',
        required: ['transactions'],
        additionalProperties: false,
        properties: { transactions: { type: 'array', minItems: 1, maxItems: maxRows, items: features } },
      },
      response: {
        200: { type: 'object', properties: { scores: { type: 'array', items: { type: 'number' } }, step: { type: 'integer' } } },
      },
    },
    labels: {
      body: {
        type: 'object',
        required: ['labels'],
        additionalProperties: false,
        properties: {
          labels: {
            type: 'array',
            minItems: 1,
            maxItems: maxRows,
            items: {
              type: 'object',
              required: ['features', 'label'],
              additionalProperties: false,
              properties: {
                id: { type: 'string', minLength: 1, maxLength: 128 },
                features,
                label: { type: 'integer', enum: [0, 1] },
              },
            },
          },
        },
      },
      response: {
        200: { type: 'object', properties: { accepted: { type: 'integer' }, first: { type: 'integer' }, last: { type: 'integer' } } },
      },
    },
  };
}

/** One reason a client can act on, from Ajv's first error. */
function schemaErrorFormatter(errors, dataVar) {
  const e = errors[0];
  const where = `${dataVar}${e.instancePath}`;
  let reason;
  if (e.keyword === 'type' && typeof e.data === 'number' && !Number.isFinite(e.data)) {
    reason = `${where} is ${e.data}: every feature must be a finite number`;
  } else if ((e.keyword === 'minItems' || e.keyword === 'maxItems') && /^\/(transactions\/\d+|labels\/\d+\/features)$/.test(e.instancePath)) {
    reason = `${where} has ${Array.isArray(e.data) ? e.data.length : '?'} features; a transaction has exactly ${FEATURES}`;
  } else if (e.keyword === 'additionalProperties') {
    reason = `${where} has an unknown property '${e.params.additionalProperty}'`;
  } else {
    reason = `${where} ${e.message}`;
  }
  return new Error(reason);
}

function createMetrics(service) {
  const register = new client.Registry();
  client.collectDefaultMetrics({ register, prefix: 'fraud_server_' });
  const m = {
    register,
    http: new client.Summary({
      name: 'fraud_server_http_request_duration_seconds',
      help: 'Request latency (fastify reply.elapsedTime), over a 60 s sliding window',
      labelNames: ['method', 'route', 'status'],
      percentiles: [0.5, 0.9, 0.99],
      maxAgeSeconds: 60,
      ageBuckets: 6,
      registers: [register],
    }),
    scored: new client.Counter({ name: 'fraud_server_transactions_scored_total', help: 'Transactions scored', registers: [register] }),
    labels: new client.Counter({ name: 'fraud_server_labels_total', help: 'Labels committed to the log', registers: [register] }),
    rejected: new client.Counter({ name: 'fraud_server_labels_rejected_total', help: 'Label requests refused', labelNames: ['reason'], registers: [register] }),
    steps: new client.Counter({ name: 'kintsugi_train_steps_total', help: 'Training steps finished in this process', registers: [register] }),
    stepFailures: new client.Counter({ name: 'kintsugi_train_step_failures_total', help: 'Training steps (or checkpoints) that failed', registers: [register] }),
    examples: new client.Counter({ name: 'kintsugi_train_examples_total', help: 'Examples trained in this process', registers: [register] }),
    // A histogram, not a summary: observed hundreds of times a second on the request thread, and
    // a summary's t-digest cost about 9% of that thread's time here (quantiles: histogram_quantile).
    stepSeconds: new client.Histogram({
      name: 'kintsugi_train_step_seconds',
      help: 'Time of one step in the worker',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
      registers: [register],
    }),
    loss: new client.Gauge({ name: 'kintsugi_train_loss', help: 'Loss of the last training batch', registers: [register] }),
    classPhi: new client.Gauge({ name: 'kintsugi_class_phi', help: 'Value weight of each class in the class stream', labelNames: ['class'], registers: [register] }),
    checkpointSeconds: new client.Summary({
      name: 'kintsugi_checkpoint_seconds',
      help: 'Time to write one checkpoint (serialize, write, fsync, rename) in the worker',
      percentiles: [0.5, 0.99],
      registers: [register],
    }),
    checkpointStep: new client.Gauge({ name: 'kintsugi_checkpoint_step', help: 'Step of the last checkpoint', registers: [register] }),
    checkpointBytes: new client.Gauge({ name: 'kintsugi_checkpoint_bytes', help: 'Size of the last checkpoint', registers: [register] }),
  };
  new client.Gauge({
    name: 'kintsugi_train_examples_per_second',
    help: 'Examples trained per second over the last 5 s',
    registers: [register],
    collect() {
      this.set(service.examplesPerSecond());
    },
  });
  new client.Gauge({
    name: 'kintsugi_train_queue_depth',
    help: 'Labels committed to the log and not trained yet',
    registers: [register],
    collect() {
      this.set(service.loop.backlog);
    },
  });
  new client.Gauge({
    name: 'kintsugi_train_batches_in_flight',
    help: 'Batches posted to the worker and not answered',
    registers: [register],
    collect() {
      this.set(service.loop.posted);
    },
  });
  new client.Gauge({
    name: 'kintsugi_train_step',
    help: 'Steps trained (restored ones included)',
    registers: [register],
    collect() {
      this.set(service.trainer.step);
    },
  });
  new client.Gauge({
    name: 'kintsugi_snapshot_step',
    help: 'Step of the weights /score uses',
    registers: [register],
    collect() {
      this.set(service.trainer.publishedStep);
    },
  });
  new client.Gauge({
    name: 'kintsugi_log_position',
    help: 'Last log position trained',
    registers: [register],
    collect() {
      this.set(service.loop.donePosition);
    },
  });
  new client.Gauge({
    name: 'kintsugi_log_last_seq',
    help: 'Last position in the label log',
    registers: [register],
    collect() {
      this.set(service.log.lastSeq);
    },
  });
  return m;
}

/**
 * Opens the log, starts the trainer (restoring the last checkpoint), replays the log after the
 * checkpoint's position, and builds the HTTP app. Call `listen()` to serve, `close()` to stop
 * gracefully (final checkpoint included).
 */
async function createService(settings = settingsFromEnv(), hooks = {}) {
  const say = hooks.log ?? ((msg) => console.log(`fraud-server: ${msg}`));
  const onFatal =
    hooks.onFatal ??
    ((error) => {
      console.error(`fraud-server: the trainer failed (${error.message}); exiting so a supervisor restarts the service (the log keeps every label; the restart restores the last checkpoint and replays)`);
      process.exit(1);
    });
  // The scoring model on this thread uses tfjs's cpu backend; PROD silences its tfjs-node banner.
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  fs.mkdirSync(settings.dataDir, { recursive: true });
  const checkpointDir = path.join(settings.dataDir, 'checkpoint');
  const log = new LabelLog(path.join(settings.dataDir, 'labels.db'), { features: FEATURES, synchronous: settings.sync });
  const committer = new GroupCommitter(log);
  const trainer = await createTrainer({
    model: { module: MODEL_MODULE, exportName: 'createModel', args: { features: FEATURES } },
    optimizer: OPTIMIZER,
    loss: LOSS,
    restore: checkpointDir,
    threads: settings.threads,
    niceness: settings.niceness,
    timeoutMs: settings.trainTimeoutMs,
    publishEvery: settings.publishEvery,
    publishIntervalMs: settings.publishIntervalMs,
  });
  const restored = trainer.info.restored;
  const position = restored ? Number(restored.meta.logPosition) : 0;
  if (restored && restored.meta.batchSize !== settings.batchSize) {
    throw new Error(`the checkpoint in ${checkpointDir} was trained with BATCH_SIZE=${restored.meta.batchSize}; start with that batch size`);
  }
  if (position > log.lastSeq) throw new Error(`the checkpoint is at log position ${position} but the log ends at ${log.lastSeq}`);

  const service = {
    settings,
    log,
    committer,
    trainer,
    restored: restored ? { step: restored.step, logPosition: position, createdAt: restored.createdAt } : null,
    startedAt: Date.now(),
    samples: [], // [time ms, examples] after each step, the last 5 s
    examplesPerSecond() {
      const now = Date.now();
      while (this.samples.length > 1 && now - this.samples[0][0] > 5000) this.samples.shift();
      if (this.samples.length < 2) return 0;
      const [t0, e0] = this.samples[0];
      const [t1, e1] = this.samples[this.samples.length - 1];
      return t1 > t0 ? ((e1 - e0) * 1000) / (t1 - t0) : 0;
    },
  };
  const metrics = createMetrics(service);
  service.metrics = metrics;

  service.loop = new TrainingLoop({
    trainer,
    log,
    batchSize: settings.batchSize,
    checkpointEvery: settings.checkpointEvery,
    checkpointDir,
    position,
    onStep(result) {
      metrics.steps.inc();
      metrics.examples.inc(result.rows);
      metrics.stepSeconds.observe(result.ms / 1000);
      metrics.loss.set(result.loss);
      if (result.classPhi) result.classPhi.forEach((phi, c) => metrics.classPhi.set({ class: CLASS_NAMES[c] ?? String(c) }, phi));
      service.classPhi = result.classPhi;
      service.loss = result.loss;
      service.samples.push([Date.now(), result.examples]);
      if (service.samples.length > 10_000) service.samples.splice(0, 5_000);
    },
    onCheckpoint(info) {
      metrics.checkpointSeconds.observe((info.ms ?? 0) / 1000);
      metrics.checkpointStep.set(info.step);
      metrics.checkpointBytes.set(info.bytes);
    },
    onStepError(error, end) {
      metrics.stepFailures.inc();
      say(`step or checkpoint at log position ${end} failed: ${error.message}`);
    },
    onFatal,
  });
  trainer.on('failed', () => {}); // the pending train() rejections reach onFatal
  const replay = log.lastSeq - position;
  say(
    restored
      ? `restored checkpoint of step ${restored.step} (log position ${position}); replaying ${replay} labels after it`
      : `no checkpoint in ${checkpointDir}; training from the start of the log (${replay} labels)`,
  );
  if (settings.startPaused) service.loop.pause();
  service.loop.kick();

  const schemas = rowsSchema(settings.maxRows);
  const app = Fastify({
    logger: process.env.LOG_REQUESTS === '1',
    bodyLimit: settings.bodyLimit,
    schemaErrorFormatter,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, strictNumbers: true, allErrors: false, verbose: true } },
  });
  app.addHook('onResponse', (request, reply, done) => {
    metrics.http.observe({ method: request.method, route: request.routeOptions.url ?? 'unknown', status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    done();
  });
  app.setErrorHandler((error, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
    if (status >= 500) say(`${request.method} ${request.url} failed: ${error.stack ?? error.message}`);
    if (request.routeOptions.url === '/labels') metrics.rejected.inc({ reason: status === 413 ? 'too_large' : status < 500 ? 'invalid' : 'error' });
    reply.code(status).send({ statusCode: status, error: status === 413 ? 'Payload Too Large' : status < 500 ? 'Bad Request' : 'Internal Server Error', code: error.code, reason: error.message });
  });

  app.post('/score', { schema: schemas.score }, async (request) => {
    const rows = request.body.transactions;
    const x = new Float32Array(rows.length * FEATURES);
    rows.forEach((r, i) => x.set(r, i * FEATURES));
    standardizeInPlace(x);
    const scores = trainer.predict(x);
    metrics.scored.inc(rows.length);
    return { scores: Array.from(scores), step: trainer.publishedStep };
  });

  app.post('/labels', { schema: schemas.labels }, async (request, reply) => {
    const rows = request.body.labels;
    const waiting = service.loop.backlog + committer.pendingRows;
    if (waiting + rows.length > settings.maxQueue) {
      const rate = Math.max(service.examplesPerSecond(), 1);
      const retry = Math.min(60, Math.max(1, Math.ceil((waiting + rows.length - settings.maxQueue) / rate)));
      metrics.rejected.inc({ reason: 'queue_full' });
      reply.code(503).header('Retry-After', String(retry));
      return {
        statusCode: 503,
        error: 'Service Unavailable',
        code: 'TRAINING_QUEUE_FULL',
        reason: `training backlog full: ${waiting} labels wait to be trained (limit ${settings.maxQueue}); nothing was written, retry after ${retry} s`,
      };
    }
    const range = await committer.append(rows);
    metrics.labels.inc(rows.length);
    service.loop.kick();
    return { accepted: rows.length, first: range.first, last: range.last };
  });

  app.get('/health', async (request, reply) => {
    const ok = trainer.state === 'open';
    reply.code(ok ? 200 : 503);
    const k = kernelInfo();
    return {
      status: ok ? 'ok' : `trainer ${trainer.state}`,
      step: trainer.step,
      publishedStep: trainer.publishedStep,
      examples: trainer.examples,
      paused: service.loop.paused,
      log: { lastSeq: log.lastSeq, trainedPosition: service.loop.donePosition, sentPosition: service.loop.sentPosition, backlog: service.loop.backlog, synchronous: log.synchronous },
      batchSize: settings.batchSize,
      checkpoint: service.loop.lastCheckpoint
        ? { step: service.loop.lastCheckpoint.step, logPosition: service.loop.lastCheckpoint.meta.logPosition, createdAt: service.loop.lastCheckpoint.createdAt }
        : null,
      restored: service.restored,
      loss: service.loss ?? null,
      classPhi: service.classPhi ? Object.fromEntries(service.classPhi.map((phi, c) => [CLASS_NAMES[c] ?? String(c), phi])) : null,
      examplesPerSecond: service.examplesPerSecond(),
      kernel: { trainer: trainer.info.kernel, threads: trainer.info.threads, main: k.kernel },
      uptimeSeconds: (Date.now() - service.startedAt) / 1000,
    };
  });

  // Operations: pause or resume training (labels are still logged; a paused loop resumes where it
  // stopped). Loopback-only like the whole example; a real deployment puts it behind auth.
  app.post(
    '/admin/training',
    { schema: { body: { type: 'object', required: ['paused'], additionalProperties: false, properties: { paused: { type: 'boolean' } } } } },
    async (request) => {
      if (request.body.paused) service.loop.pause();
      else service.loop.resume();
      return { paused: service.loop.paused, step: trainer.step, backlog: service.loop.backlog };
    },
  );

  app.get('/metrics', async (request, reply) => {
    reply.header('Content-Type', metrics.register.contentType);
    return metrics.register.metrics();
  });

  service.app = app;
  service.listen = async () => {
    const address = await app.listen({ port: settings.port, host: settings.host });
    service.url = address;
    return address;
  };
  let closing = null;
  service.close = () => {
    closing ??= (async () => {
      await app.close();
      await service.loop.stop();
      if (trainer.state === 'open' && (service.loop.lastCheckpoint?.meta.logPosition ?? position) !== service.loop.donePosition) {
        await service.loop.checkpoint(service.loop.donePosition);
      }
      if (trainer.state === 'open') await trainer.close();
      log.close();
    })();
    return closing;
  };
  return service;
}

module.exports = { createService, settingsFromEnv, OPTIMIZER, LOSS, FEATURES };
