// npm run bench:server [-- --quick]
//
// The fraud service (examples/fraud-server) under load on loopback, in ≤ 60 s. One server, with
// a label log whose backlog keeps training busy for the whole run; training is switched off and
// on (POST /admin/training) between short phases, and the phases are interleaved over several
// rounds, so that whatever else runs on the machine weighs on both conditions alike:
//   - POST /score (16 transactions a request) at saturation (autocannon, 4 connections) and at a
//     fixed rate, evenly paced (half the paused saturated throughput), each with training paused
//     and running;
//   - training examples/s: the bare loop (trainOnBatch in a thread, server paused), inside the
//     server with no requests, and inside the server under /score load;
//   - first, the trainer's worker with no server (createTrainer) and the cost of one checkpoint;
//   - last, POST /labels (64 labels a request, synchronous=FULL, group commit) at saturation.
// Latency percentiles come from every response's own hrtime duration (autocannon's 'response'
// event), not from autocannon's 1 ms histogram. Writes bench/results/server.{json,md}
// (--quick: bench/results/tmp/).
'use strict';
process.env.KINTSUGI_THREADS ??= '1'; // the bare loop gets the pool size the server's worker uses
const { spawn } = require('node:child_process');
const http = require('node:http');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const autocannon = require('autocannon');
const tf = require('@tensorflow/tfjs');
const k = require('kintsugi-optimizer');
const { LabelLog } = require('../examples/fraud-server/label-log.cjs');
const { FEATURES, MODEL_MODULE, standardizeInPlace } = require('../examples/fraud-server/model.cjs');
const { OPTIMIZER, LOSS } = require('../examples/fraud-server/app.cjs');

const QUICK = process.argv.includes('--quick');
const T = QUICK ? { warm: 0.5, phase: 0.75, rounds: 2, labels: 1 } : { warm: 1, phase: 1.25, rounds: 3, labels: 2 };
const BATCH = 64;
const SCORE_ROWS = 16;
const CONNECTIONS = 4;
const DEADLINE_MS = 60_000;
const started = Date.now() - process.uptime() * 1000; // from process start, module loading included
const children = new Set();
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-server-'));

const watchdog = setTimeout(() => {
  console.error(`bench:server: over ${DEADLINE_MS / 1000} s; stopping`);
  cleanup();
  process.exit(1);
}, DEADLINE_MS);
watchdog.unref();

function cleanup() {
  for (const c of children) c.kill('SIGKILL');
  fs.rmSync(scratch, { recursive: true, force: true });
}

const elapsed = () => ((Date.now() - started) / 1000).toFixed(1);
const say = (msg) => console.log(`[${elapsed().padStart(5)} s] ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const seconds = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[i];
}

const data = (rows, seed) => k.syntheticFraud({ n: rows, features: FEATURES, seed, prevalence: 0.01 });

/** Batches of BATCH rows, standardized as the server does. */
function batches(count) {
  const d = data(count * BATCH, 3);
  standardizeInPlace(d.x);
  return Array.from({ length: count }, (_, b) => ({
    x: d.x.slice(b * BATCH * FEATURES, (b + 1) * BATCH * FEATURES),
    y: Float32Array.from(d.y.subarray(b * BATCH, (b + 1) * BATCH)),
  }));
}

/**
 * The bare training loop: the server's model, optimizer, loss and batches, trainOnBatch in a
 * loop on a thread of its own, at the training thread's nice value (TRAIN_NICE, default 10), so
 * that it differs from training in the server only by the serving plumbing (log reads, messages,
 * published weights, checkpoints), not by its priority.
 */
const BARE_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const os = require('node:os');
const tf = require(workerData.tfjs);
const k = require(workerData.pkg);
const { createModel } = require(workerData.model);
const { OPTIMIZER, LOSS } = require(workerData.app);
(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  if (process.platform === 'linux' && workerData.niceness) os.setPriority(workerData.niceness);
  const model = createModel(tf, { features: workerData.features });
  const optimizer = k.kintsugi(OPTIMIZER);
  model.compile({ optimizer, loss: optimizer.valueWeightedLoss(LOSS.valueWeighted) });
  const pool = workerData.pool;
  const B = workerData.batch;
  let i = 0;
  parentPort.on('message', async (secs) => {
    const t0 = process.hrtime.bigint();
    const end = Date.now() + secs * 1000;
    let n = 0;
    while (Date.now() < end) {
      const b = pool[i++ % pool.length];
      const xs = tf.tensor2d(b.x, [B, workerData.features]);
      const ys = tf.tensor2d(b.y, [B, 1]);
      await model.trainOnBatch(xs, ys);
      tf.dispose([xs, ys]);
      n++;
    }
    parentPort.postMessage({ examples: n * B, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
  });
  parentPort.postMessage('ready');
})();
`;

async function bareLoop(pool, niceness) {
  const { Worker } = require('node:worker_threads');
  const root = path.join(__dirname, '..');
  const worker = new Worker(BARE_WORKER, {
    eval: true,
    workerData: {
      pool,
      niceness,
      batch: BATCH,
      features: FEATURES,
      tfjs: require.resolve('@tensorflow/tfjs'),
      pkg: require.resolve('kintsugi-optimizer'),
      model: path.join(root, 'examples', 'fraud-server', 'model.cjs'),
      app: path.join(root, 'examples', 'fraud-server', 'app.cjs'),
    },
  });
  await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    run: (secs) =>
      new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.postMessage(secs);
      }),
    close: () => worker.terminate(),
  };
}

/** The trainer's worker with no server, fed from memory (8 batches in flight), as the server feeds it. */
async function trainerLoop(pool) {
  const trainer = await k.createTrainer({
    model: { module: MODEL_MODULE, exportName: 'createModel', args: { features: FEATURES } },
    optimizer: OPTIMIZER,
    loss: LOSS,
    publishIntervalMs: 50,
    niceness: Number(process.env.TRAIN_NICE ?? 10), // as the server's
  });
  let i = 0;
  const run = async (secs) => {
    const end = Date.now() + secs * 1000;
    let n = 0;
    const inflight = new Set();
    while (Date.now() < end) {
      while (inflight.size < 8) {
        const b = pool[i++ % pool.length];
        const p = trainer.train({ x: b.x.slice(), y: b.y.slice() }).then(() => {
          inflight.delete(p);
          n++;
        });
        inflight.add(p);
      }
      await Promise.race(inflight);
    }
    await Promise.all(inflight);
    return n;
  };
  await run(T.warm);
  const checkpoints = async () => {
  const saves = [];
  let bytes = 0;
  for (let j = 0; j < (QUICK ? 10 : 30); j++) {
    const info = await trainer.save(path.join(scratch, 'checkpoint-bench'), { logPosition: j });
    saves.push(info.ms);
    bytes = info.bytes;
  }
  saves.sort((a, b) => a - b);
  return { count: saves.length, p50Ms: percentile(saves, 0.5), p99Ms: percentile(saves, 0.99), maxMs: saves[saves.length - 1], bytes };
  };
  return {
    async run(secs) {
      const t0 = process.hrtime.bigint();
      const n = await run(secs);
      return { examples: n * BATCH, seconds: seconds(t0) };
    },
    checkpoints,
    close: () => trainer.close(),
  };
}

function startServer(dataDir, env = {}) {
  const proc = spawn(process.execPath, [path.join(__dirname, '..', 'examples', 'fraud-server', 'server.cjs')], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, BATCH_SIZE: String(BATCH), MAX_QUEUE: '100000000', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  const exited = new Promise((resolve) => proc.on('exit', (code) => (children.delete(proc), resolve(code))));
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 20_000);
    proc.stdout.on('data', (c) => {
      out += c;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, url: m[1], exited, output: () => out });
      }
    });
    proc.stderr.on('data', (c) => (out += c));
  });
}

async function stopServer(server) {
  server.proc.kill('SIGTERM');
  const code = await Promise.race([server.exited, sleep(10_000).then(() => 'timeout')]);
  if (code !== 0) server.proc.kill('SIGKILL');
}

const health = async (url) => (await fetch(`${url}/health`)).json();

async function setTraining(url, on) {
  await fetch(`${url}/admin/training`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ paused: !on }) });
  // Let the batches already posted finish (pause) or the worker pick up again (resume).
  await sleep(on ? 150 : 100);
}

/** autocannon against one route at saturation; every 200 response's hrtime duration, and the request count. */
function load(url, { route, body, secs }) {
  return new Promise((resolve, reject) => {
    const latencies = [];
    const instance = autocannon(
      { url: `${url}${route}`, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: CONNECTIONS, duration: secs },
      (err, result) => {
        if (err) return reject(err);
        resolve({ latencies, requests: result.requests.total, seconds: secs, non2xx: result.non2xx, errors: result.errors + result.timeouts });
      },
    );
    instance.on('response', (client, status, bytes, ms) => {
      if (status === 200) latencies.push(ms);
    });
  });
}

/**
 * Open-loop load at a fixed rate, evenly spaced: request i is due at start + i/rate, whatever
 * the answers before it. (autocannon's `overallRate` sends each second's quota in one burst at
 * the top of the second, which measures bursts, not a rate.) Latency is counted from the time a
 * request was due, so a server (or a client) that falls behind shows it. Keep-alive sockets, up
 * to 16 at once.
 */
function paced(url, { route, body, secs, rate }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const target = new URL(`${url}${route}`);
  const total = Math.round(rate * secs);
  const interval = 1000 / rate;
  const latencies = [];
  let non2xx = 0;
  let errors = 0;
  let settled = 0;
  let sent = 0;
  return new Promise((resolve) => {
    const start = performance.now();
    const finish = () => {
      agent.destroy();
      resolve({ latencies, requests: latencies.length, seconds: (performance.now() - start) / 1000, non2xx, errors });
    };
    const done = () => {
      settled++;
      if (settled === total) finish();
    };
    const fire = (due) => {
      const req = http.request(
        { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) latencies.push(performance.now() - due);
            else non2xx++;
            done();
          });
        },
      );
      req.on('error', () => {
        errors++;
        done();
      });
      req.end(body);
    };
    const tick = () => {
      const due = Math.min(total, Math.floor((performance.now() - start) / interval) + 1);
      while (sent < due) fire(start + sent++ * interval);
      if (sent < total) setTimeout(tick, Math.max(0, start + sent * interval - performance.now()));
    };
    tick();
  });
}

/** Runs `fn` while counting the examples the server trains (from /health). */
async function trained(url, fn) {
  const a = await health(url);
  const busy0 = await stepSecondsSum(url);
  const t0 = process.hrtime.bigint();
  const result = await fn();
  const b = await health(url);
  const busy = (await stepSecondsSum(url)) - busy0;
  return { result, examples: b.examples - a.examples, seconds: seconds(t0), busySeconds: busy, backlog: b.log.backlog };
}

/** Seconds the server's worker has spent inside training steps (its step-time histogram's sum). */
async function stepSecondsSum(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^kintsugi_train_step_seconds_sum ([\d.e+-]+)/m.exec(text)?.[1] ?? 0);
}

/** Accumulates phases of one condition over the rounds. */
function condition() {
  return { latencies: [], phaseP99: [], requests: 0, seconds: 0, non2xx: 0, errors: 0, examples: 0, trainSeconds: 0 };
}
function addLoad(c, r) {
  for (const l of r.latencies) c.latencies.push(l);
  c.phaseP99.push(percentile(r.latencies.slice().sort((a, b) => a - b), 0.99));
  c.requests += r.requests;
  c.seconds += r.seconds;
  c.non2xx += r.non2xx;
  c.errors += r.errors;
}
function addTraining(c, t) {
  c.examples += t.examples;
  c.trainSeconds += t.seconds;
  c.busySeconds = (c.busySeconds ?? 0) + (t.busySeconds ?? NaN);
}
function summary(c) {
  const sorted = c.latencies.slice().sort((a, b) => a - b);
  return {
    requests: c.requests,
    rps: c.seconds ? c.requests / c.seconds : null,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    maxMs: sorted[sorted.length - 1],
    // One stall of the machine (other tenants) lifts the pooled p99; the median over phases does not.
    phaseP99Ms: c.phaseP99,
    medianPhaseP99Ms: c.phaseP99.length ? c.phaseP99.slice().sort((a, b) => a - b)[Math.floor((c.phaseP99.length - 1) / 2)] : NaN,
    non2xx: c.non2xx,
    errors: c.errors,
    trainExamplesPerSecond: c.trainSeconds ? c.examples / c.trainSeconds : null,
    // The share of the wall time the worker spent inside steps: below 1, it waited for batches.
    trainBusy: c.trainSeconds && Number.isFinite(c.busySeconds) ? c.busySeconds / c.trainSeconds : null,
  };
}

/** A label log with `rows` labels (synthetic rows, repeated), written directly. */
function writeLog(dataDir, rows) {
  fs.mkdirSync(dataDir, { recursive: true });
  const log = new LabelLog(path.join(dataDir, 'labels.db'), { features: FEATURES, synchronous: 'NORMAL' });
  const src = data(50_000, 9);
  for (let start = 0; start < rows; start += 50_000) {
    const group = [];
    for (let i = start; i < Math.min(start + 50_000, rows); i++) {
      const r = i % src.rows;
      group.push({ features: src.x.subarray(r * FEATURES, (r + 1) * FEATURES), label: src.y[r] });
    }
    log.append([group]);
  }
  log.close();
}

function scoreBody() {
  const d = data(SCORE_ROWS, 21);
  const transactions = [];
  for (let i = 0; i < SCORE_ROWS; i++) transactions.push(Array.from(d.x.subarray(i * FEATURES, (i + 1) * FEATURES)));
  return JSON.stringify({ transactions });
}

function labelsBody() {
  const d = data(BATCH, 22);
  const labels = [];
  for (let i = 0; i < BATCH; i++) labels.push({ features: Array.from(d.x.subarray(i * FEATURES, (i + 1) * FEATURES)), label: d.y[i] });
  return JSON.stringify({ labels });
}

const f1 = (v) => (Number.isFinite(v) ? v.toFixed(1) : '–');
const f2 = (v) => (Number.isFinite(v) ? v.toFixed(2) : '–');
const int = (v) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '–');

function markdown(r) {
  const lines = [];
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const load = r.loadavg.map((v) => v.toFixed(1)).join(' → ');
  lines.push('# bench:server');
  lines.push('');
  lines.push(
    `${r.date}, ${cpu}, ${os.cpus().length} cores, Node ${process.versions.node}, tfjs ${tf.version.tfjs} cpu backend, kernel ${r.kernel}, ` +
      `native threads 1, training thread nice ${r.niceness ?? 0}${r.quick ? ', --quick' : ''}. /score: ${SCORE_ROWS} transactions a request; saturated: autocannon, ` +
      `${CONNECTIONS} connections; fixed rate: evenly paced open loop, latency from each request's due time; the load generator runs in the bench process, on the same 2 cores. Training: batches of ${BATCH}, class stream, weights published ` +
      `every 50 ms. ${r.rounds} interleaved rounds of ${r.phase} s phases. Load average before → after: ${load}.`,
  );
  lines.push('');
  lines.push('| /score | training | requests/s | p50 ms | p99 ms | median of the phases\' p99 ms | max ms | training examples/s |');
  lines.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  const row = (name, training, x) =>
    lines.push(
      `| ${name} | ${training} | ${int(x.rps)} | ${f2(x.p50Ms)} | ${f2(x.p99Ms)} | ${f2(x.medianPhaseP99Ms)} | ${f1(x.maxMs)} | ${x.trainExamplesPerSecond == null ? '–' : int(x.trainExamplesPerSecond)} |`,
    );
  row('saturated', 'paused', r.score.idleSaturated);
  row('saturated', 'full speed', r.score.trainingSaturated);
  row(`${int(r.score.rate)} req/s`, 'paused', r.score.idleFixed);
  row(`${int(r.score.rate)} req/s`, 'full speed', r.score.trainingFixed);
  lines.push('');
  lines.push('| training loop | examples/s | of the bare loop | server\'s worker inside steps |');
  lines.push('| --- | ---: | ---: | ---: |');
  const busy = (x) => (x == null ? '–' : `${(100 * x).toFixed(0)}% of the time`);
  const bare = r.training.bare;
  const pct = (v) => `${((100 * v) / bare).toFixed(0)}%`;
  lines.push(`| bare loop (trainOnBatch in a thread of its own at the same nice, server paused) | ${int(bare)} | 100% | – |`);
  lines.push(`| trainer worker, no server (createTrainer, batches from memory, server paused) | ${int(r.training.worker)} | ${pct(r.training.worker)} | – |`);
  lines.push(`| in the server, no requests | ${int(r.training.serverNoLoad)} | ${pct(r.training.serverNoLoad)} | ${busy(r.training.serverNoLoadBusy)} |`);
  lines.push(`| bare loop, server paused but answering /score at ${int(r.score.rate)} req/s | ${int(r.training.bareFixed)} | ${pct(r.training.bareFixed)} | – |`);
  lines.push(`| in the server, /score at ${int(r.score.rate)} req/s | ${int(r.score.trainingFixed.trainExamplesPerSecond)} | ${pct(r.score.trainingFixed.trainExamplesPerSecond)} (${((100 * r.score.trainingFixed.trainExamplesPerSecond) / r.training.bareFixed).toFixed(0)}% of the bare loop under the same load) | ${busy(r.score.trainingFixed.trainBusy)} |`);
  lines.push(`| in the server, /score saturated | ${int(r.score.trainingSaturated.trainExamplesPerSecond)} | ${pct(r.score.trainingSaturated.trainExamplesPerSecond)} | ${busy(r.score.trainingSaturated.trainBusy)} |`);
  lines.push('');
  const c = r.checkpoint;
  lines.push(
    `One checkpoint (model + optimizer state + log position, ${int(c.bytes)} bytes: serialize, write, fsync, rename, fsync of the directory, in the worker): ` +
      `p50 ${f2(c.p50Ms)} ms, p99 ${f2(c.p99Ms)} ms over ${c.count} writes` +
      (r.serverCheckpoints ? `; in the server during the run: ${r.serverCheckpoints.count} checkpoints (every 200 batches), mean ${f2(r.serverCheckpoints.meanMs)} ms.` : '.'),
  );
  lines.push('');
  const l = r.labels;
  lines.push(`POST /labels (${BATCH} labels a request, synchronous=FULL, group commit, training paused), saturated: ${int(l.rps)} requests/s = ${int(l.rps * BATCH)} labels/s, p50 ${f2(l.p50Ms)} ms, p99 ${f2(l.p99Ms)} ms.`);
  lines.push('');
  const ratio = r.score.trainingFixed.p99Ms / r.score.idleFixed.p99Ms;
  const satRatio = r.score.trainingSaturated.p99Ms / r.score.idleSaturated.p99Ms;
  const medianRatio = r.score.trainingFixed.medianPhaseP99Ms / r.score.idleFixed.medianPhaseP99Ms;
  const loaded = r.score.trainingFixed.trainExamplesPerSecond / r.training.bareFixed;
  lines.push(
    `Targets: /score p99 with training ≤ 2× paused: ${ratio.toFixed(2)}× at ${int(r.score.rate)} req/s (${ratio <= 2 ? 'met' : 'not met'}; ` +
      `median of the phases' p99: ${medianRatio.toFixed(2)}×), ` +
      `${satRatio.toFixed(2)}× saturated (${satRatio <= 2 ? 'met' : 'not met'}). Training in the server ≥ 90% of the bare loop: ` +
      `${((100 * r.training.serverNoLoad) / bare).toFixed(0)}% with no requests (${r.training.serverNoLoad / bare >= 0.9 ? 'met' : 'not met'}), ` +
      `${(100 * loaded).toFixed(0)}% with /score at ${int(r.score.rate)} req/s, against the bare loop under the same load (${loaded >= 0.9 ? 'met' : 'not met'}; ` +
      `against the unloaded bare loop ${((100 * r.score.trainingFixed.trainExamplesPerSecond) / bare).toFixed(0)}%: the serving work takes its share of the 2 cores, whoever trains).`,
  );
  if (r.warnings.length) {
    lines.push('');
    for (const w of r.warnings) lines.push(`Warning: ${w}`);
  }
  lines.push('');
  lines.push(`Total bench time ${r.seconds.toFixed(1)} s.`);
  return lines.join('\n');
}

async function main() {
  await tf.setBackend('cpu');
  tf.env().set('PROD', true);
  const result = { date: new Date().toISOString(), quick: QUICK, kernel: k.kernelInfo().kernel, rounds: T.rounds, phase: T.phase, loadavg: [os.loadavg()[0]], warnings: [] };
  const pool = batches(200);

  say('bare training loop: warm-up and estimate');
  const niceness = Number(process.env.TRAIN_NICE ?? 10);
  const bare = await bareLoop(pool, niceness);
  await bare.run(T.warm);
  const estimate = await bare.run(1);
  const estimateRate = estimate.examples / estimate.seconds;
  say(`  about ${int(estimateRate)} examples/s`);
  say('trainer worker with no server: warm-up, and the cost of a checkpoint');
  const worker = await trainerLoop(pool);
  result.checkpoint = await worker.checkpoints();
  say(`  checkpoint p50 ${f2(result.checkpoint.p50Ms)} ms, p99 ${f2(result.checkpoint.p99Ms)} ms`);

  // Backlog for every training phase at three times the estimated rate, so it cannot run out.
  const trainingSeconds = T.rounds * 3 * (T.phase + 0.5) + T.warm + 2;
  const rows = Math.min(3_000_000, Math.ceil((3 * Math.max(estimateRate, 10_000) * trainingSeconds) / BATCH) * BATCH);
  say(`writing a label log of ${int(rows)} rows (the training backlog)`);
  const dataDir = path.join(scratch, 'server');
  writeLog(dataDir, rows);
  const server = await startServer(dataDir, { START_PAUSED: '1' });
  const { url } = server;
  result.niceness = Number(process.env.TRAIN_NICE ?? 10);
  say(`server at ${url}, training paused; warming up`);
  const score = scoreBody();
  await load(url, { route: '/score', body: score, secs: T.warm });
  await setTraining(url, true);
  await sleep(T.warm * 1000);
  await setTraining(url, false);
  let rate = null; // half the paused saturated throughput, set by the first phase
  result.score = {};

  const c = { idleSat: condition(), idleFixed: condition(), trainSat: condition(), trainFixed: condition(), bare: condition(), bareFixed: condition(), worker: condition(), noLoad: condition() };
  const pausedBlock = async () => {
    const sat = await load(url, { route: '/score', body: score, secs: T.phase });
    addLoad(c.idleSat, sat);
    if (rate == null) {
      rate = Math.max(100, Math.round((sat.requests / sat.seconds) * 0.5 / 100) * 100);
      result.score.rate = rate;
      say(`  /score saturated ${int(sat.requests / sat.seconds)} req/s with training paused; the fixed rate is ${rate} req/s`);
    }
    addLoad(c.idleFixed, await paced(url, { route: '/score', body: score, secs: T.phase, rate }));
    addTraining(c.bare, await bare.run(T.phase));
    addTraining(c.worker, await worker.run(T.phase));
    // The bare loop under the same /score load as the server's trainer gets below: the serving
    // work (the server's main thread, the load generator) takes its share of the 2 cores from
    // both alike, so the ratio of the two is what training in the server costs.
    const [, loaded] = await Promise.all([paced(url, { route: '/score', body: score, secs: T.phase, rate }), bare.run(T.phase)]);
    addTraining(c.bareFixed, loaded);
  };
  let backlog = Infinity;
  const trainingBlock = async () => {
    await setTraining(url, true);
    const quiet = await trained(url, () => sleep(T.phase * 1000));
    addTraining(c.noLoad, quiet);
    const sat = await trained(url, () => load(url, { route: '/score', body: score, secs: T.phase }));
    addLoad(c.trainSat, sat.result);
    addTraining(c.trainSat, sat);
    const fixed = await trained(url, () => paced(url, { route: '/score', body: score, secs: T.phase, rate }));
    addLoad(c.trainFixed, fixed.result);
    addTraining(c.trainFixed, fixed);
    backlog = fixed.backlog;
    await setTraining(url, false);
  };
  for (let round = 1; round <= T.rounds; round++) {
    // ABBA order, so drifts in the machine's load hit both conditions alike.
    if (round % 2 === 1) {
      await pausedBlock();
      await trainingBlock();
    } else {
      await trainingBlock();
      await pausedBlock();
    }
    const s = summary(c.trainFixed);
    say(`  after round ${round}: /score p99 at ${rate} req/s ${f2(summary(c.idleFixed).p99Ms)} ms paused, ${f2(s.p99Ms)} ms training; training ex/s: server ${int(summary(c.noLoad).trainExamplesPerSecond)}, bare loop ${int(c.bare.examples / c.bare.trainSeconds)}, server at ${rate} req/s ${int(summary(c.trainFixed).trainExamplesPerSecond)}, bare loop at ${rate} req/s ${int(c.bareFixed.examples / c.bareFixed.trainSeconds)}, worker ${int(c.worker.examples / c.worker.trainSeconds)}`);
  }
  if (backlog < BATCH) result.warnings.push('the training backlog ran out; training rates are underestimates');

  say('POST /labels, saturated (training paused)');
  const lab = await load(url, { route: '/labels', body: labelsBody(), secs: T.labels });
  const labC = condition();
  addLoad(labC, lab);
  result.labels = summary(labC);
  const metrics = await (await fetch(`${url}/metrics`)).text();
  const sum = Number(/^kintsugi_checkpoint_seconds_sum ([\d.e+-]+)/m.exec(metrics)?.[1]);
  const count = Number(/^kintsugi_checkpoint_seconds_count (\d+)/m.exec(metrics)?.[1]);
  result.serverCheckpoints = count > 0 ? { count, meanMs: (1000 * sum) / count } : null;
  await stopServer(server);
  await worker.close();
  await bare.close();

  result.score.idleSaturated = summary(c.idleSat);
  result.score.idleFixed = summary(c.idleFixed);
  result.score.trainingSaturated = summary(c.trainSat);
  result.score.trainingFixed = summary(c.trainFixed);
  result.training = {
    bare: c.bare.examples / c.bare.trainSeconds,
    bareFixed: c.bareFixed.examples / c.bareFixed.trainSeconds,
    worker: c.worker.examples / c.worker.trainSeconds,
    serverNoLoad: c.noLoad.examples / c.noLoad.trainSeconds,
    serverNoLoadBusy: summary(c.noLoad).trainBusy,
  };
  for (const [name, x] of Object.entries({ ...result.score, labels: result.labels })) {
    if (x && typeof x === 'object' && (x.non2xx || x.errors)) result.warnings.push(`${name}: ${x.non2xx} non-2xx responses, ${x.errors} errors`);
  }
  result.loadavg.push(os.loadavg()[0]);
  result.seconds = (Date.now() - started) / 1000;
  const md = markdown(result);
  const out = QUICK ? path.join(__dirname, 'results', 'tmp') : path.join(__dirname, 'results');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'server.json'), `${JSON.stringify(result, null, 2)}\n`);
  fs.writeFileSync(path.join(out, 'server.md'), `${md}\n`);
  console.log(`\n${md}\n`);
  console.log(`written: ${path.relative(process.cwd(), path.join(out, 'server.md'))}, server.json`);
  console.log(`bench:server took ${((Date.now() - started) / 1000).toFixed(1)} s from process start`);
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => {
    cleanup();
    clearTimeout(watchdog);
    process.exit(); // nothing left to wait for (keep-alive sockets, timers of the load generator)
  });
