// The example fraud service as a child process on an ephemeral loopback port: input
// validation, backpressure, metrics, and the crash test (SIGKILL mid-training, restart, replay,
// bitwise equality with an offline replay of the same log). Needs dist/ (npm run build).
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..');
const SERVER = path.join(ROOT, 'examples', 'fraud-server', 'server.cjs');
// The example is CommonJS that loads the built package; load it the way Node does.
const load = createRequire(path.join(ROOT, 'package.json'));
const { syntheticFraud, readCheckpoint } = load('kintsugi-optimizer') as typeof import('../src/index');
const { LabelLog } = load('./examples/fraud-server/label-log.cjs');
const { replayLog, sameBits } = load('./examples/fraud-server/replay.cjs');

const FEATURES = 12;
const children = new Set<ChildProcess>();
const dirs: string[] = [];

interface Server {
  proc: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'fraud-server-test-'));
  dirs.push(d);
  return d;
}

/** Starts the service; resolves with its URL once it listens (port 0: the OS picks a free one). */
function start(dataDir: string, env: Record<string, string> = {}): Promise<Server> {
  const proc = spawn(process.execPath, [SERVER], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  let out = '';
  const exited = new Promise<number | null>((resolve) =>
    proc.on('exit', (code) => {
      children.delete(proc);
      resolve(code);
    }),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within 20 s:\n${out}`)), 20_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, url: m[1], output: () => out, exited });
      }
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before listening:\n${out}`));
    });
  });
}

async function stop(server: Server): Promise<number | null> {
  server.proc.kill('SIGTERM');
  return server.exited;
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, headers: res.headers, json };
}

async function health(url: string) {
  return (await (await fetch(`${url}/health`)).json()) as {
    status: string;
    step: number;
    publishedStep: number;
    log: { lastSeq: number; trainedPosition: number; backlog: number };
    checkpoint: { step: number; logPosition: number } | null;
    restored: { step: number; logPosition: number } | null;
  };
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function rows(x: Float32Array, from: number, to: number): number[][] {
  const out: number[][] = [];
  for (let i = from; i < to; i++) out.push(Array.from(x.subarray(i * FEATURES, (i + 1) * FEATURES)));
  return out;
}

afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('fraud service: requests', () => {
  it('scores, validates input with a reason, refuses labels when the backlog is full, and reports metrics', async () => {
    const dataDir = tempDir();
    const server = await start(dataDir, { BATCH_SIZE: '64', MAX_QUEUE: '100', BODY_LIMIT: '32768', MAX_ROWS: '100' });
    const { url } = server;
    const data = syntheticFraud({ n: 300, seed: 5 });
    try {
      const h = await health(url);
      expect(h.status).toBe('ok');
      expect(h.log.lastSeq).toBe(0);
      expect(h.restored).toBeNull();

      const scored = await post(`${url}/score`, { transactions: rows(data.x, 0, 3) });
      expect(scored.status).toBe(200);
      const scores = scored.json.scores as number[];
      expect(scores).toHaveLength(3);
      for (const s of scores) expect(s > 0 && s < 1).toBe(true);

      const bad = async (route: string, body: unknown, status: number, reason: RegExp, headers?: Record<string, string>) => {
        const r = await post(`${url}${route}`, body, headers);
        expect(r.status, `${route} ${JSON.stringify(body).slice(0, 80)}`).toBe(status);
        expect(String(r.json.reason)).toMatch(reason);
      };
      const one = rows(data.x, 0, 1)[0];
      await bad('/score', { transactions: 'all of them' }, 400, /body\/transactions must be array/);
      await bad('/score', {}, 400, /must have required property 'transactions'/);
      await bad('/score', { transactions: [one], extra: 1 }, 400, /unknown property 'extra'/);
      await bad('/score', { transactions: [] }, 400, /must NOT have fewer than 1 items/);
      await bad('/score', { transactions: [one.slice(0, 3)] }, 400, /body\/transactions\/0 has 3 features; a transaction has exactly 12/);
      await bad('/score', { transactions: [[...one, 1]] }, 400, /has 13 features/);
      await bad('/score', `{"transactions":[[${one.slice(0, 11).join(',')},1e999]]}`, 400, /body\/transactions\/0\/11 is Infinity: every feature must be a finite number/);
      await bad('/score', { transactions: [[...one.slice(0, 11), 'NaN']] }, 400, /must be number/);
      await bad('/score', { transactions: Array.from({ length: 101 }, () => one.map(() => 0)) }, 400, /must NOT have more than 100 items/);
      await bad('/score', { transactions: Array.from({ length: 250 }, () => one.map(() => 0.123456789012345)) }, 413, /Request body is too large/);
      await bad('/score', 'transactions=1', 415, /Unsupported Media Type/, { 'content-type': 'application/x-www-form-urlencoded' });
      await bad('/score', '{"transactions": [', 400, /JSON/);
      await bad('/labels', { labels: [{ features: one, label: 2 }] }, 400, /body\/labels\/0\/label must be (integer|equal to one of the allowed values)/);
      await bad('/labels', { labels: [{ features: one.slice(1), label: 1 }] }, 400, /body\/labels\/0\/features has 11 features/);
      await bad('/labels', { labels: [{ features: one, label: 1, id: '' }] }, 400, /id must NOT have fewer than 1 characters/);
      await bad('/labels', `{"labels":[{"features":[${one.slice(0, 11).join(',')},-1e400],"label":0}]}`, 400, /is -Infinity/);
      expect((await health(url)).log.lastSeq).toBe(0); // nothing written

      const labels = (from: number, to: number) =>
        rows(data.x, from, to).map((features, k) => ({ id: `v-${from + k}`, features, label: data.y[from + k] }));
      // Training paused: the backlog can only grow, so the limit is reached deterministically.
      expect((await post(`${url}/admin/training`, { paused: true })).json).toMatchObject({ paused: true });
      const ok = await post(`${url}/labels`, { labels: labels(0, 90) });
      expect(ok.status).toBe(200);
      expect(ok.json).toEqual({ accepted: 90, first: 1, last: 90 });
      await new Promise((r) => setTimeout(r, 100));
      expect((await health(url)).log.trainedPosition).toBe(0);
      const full = await post(`${url}/labels`, { labels: labels(90, 180) });
      expect(full.status).toBe(503);
      expect(Number(full.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(String(full.json.reason)).toMatch(/training backlog full: 90 labels wait to be trained \(limit 100\); nothing was written/);
      expect((await post(`${url}/admin/training`, { paused: false })).json).toMatchObject({ paused: false });
      await until('the first batch to train', async () => (await health(url)).log.trainedPosition === 64);
      const after = await health(url);
      expect(after.log.lastSeq).toBe(90); // the refused request wrote nothing
      expect(after.step).toBe(1);
      expect(after.log.backlog).toBe(26);

      const metrics = await (await fetch(`${url}/metrics`)).text();
      for (const name of [
        'kintsugi_train_steps_total 1',
        'kintsugi_train_examples_total 64',
        'kintsugi_train_examples_per_second',
        'kintsugi_train_queue_depth 26',
        'kintsugi_class_phi{class="fraud"}',
        'kintsugi_class_phi{class="legit"}',
        'kintsugi_train_step_seconds_bucket{le="0.01"}',
        'kintsugi_checkpoint_seconds',
        'fraud_server_labels_rejected_total{reason="queue_full"} 1',
        'fraud_server_labels_total 90',
        'fraud_server_http_request_duration_seconds{quantile="0.5",method="POST",route="/score",status="200"}',
        'fraud_server_http_request_duration_seconds{quantile="0.99",method="POST",route="/score",status="200"}',
        'fraud_server_nodejs_eventloop_lag_p99_seconds',
      ]) {
        expect(metrics).toContain(name);
      }
      expect(await stop(server)).toBe(0);
    } finally {
      server.proc.kill('SIGKILL');
    }
  });
});

describe('fraud service: crash', () => {
  it('keeps every acknowledged label through SIGKILL, resumes from the last checkpoint, and ends bitwise where an offline replay ends', async () => {
    const B = 32;
    const EVERY = 5;
    const env = { BATCH_SIZE: String(B), CHECKPOINT_EVERY: String(EVERY) };
    const dataDir = tempDir();
    const data = syntheticFraud({ n: 12_000, prevalence: 0.05, seed: 11 });
    const first = await start(dataDir, env);

    // Post labels as fast as the service takes them, from two clients, until a few checkpoints
    // exist, then SIGKILL it with requests in flight and a backlog not yet trained.
    const acked = new Map<string, { label: number; features: number[] }>();
    let next = 0;
    let killed = false;
    const client = async () => {
      while (!killed && next < data.rows) {
        const from = next;
        const to = Math.min(from + 40, data.rows);
        next = to;
        const body = rows(data.x, from, to).map((features, k) => ({ id: `t-${from + k}`, features, label: data.y[from + k] }));
        try {
          const r = await post(`${first.url}/labels`, { labels: body });
          if (r.status === 200) for (const l of body) acked.set(l.id, l);
        } catch {
          return; // the server is gone
        }
      }
    };
    const clients = [client(), client()];
    await until('three checkpoints and a backlog', async () => {
      const h = await health(first.url);
      return h.checkpoint != null && h.checkpoint.step >= 3 * EVERY && h.log.backlog > 2 * B && h;
    });
    first.proc.kill('SIGKILL');
    killed = true;
    await Promise.all(clients);
    expect(await first.exited).toBeNull(); // killed by the signal, no clean exit

    const ckpt = readCheckpoint(path.join(dataDir, 'checkpoint'));
    expect(ckpt).not.toBeNull();
    const killedAt = ckpt!.info;
    expect(killedAt.step).toBeGreaterThanOrEqual(3 * EVERY);
    expect(killedAt.step % EVERY).toBe(0);
    expect(killedAt.meta).toMatchObject({ logPosition: killedAt.step * B, batchSize: B });
    expect(fs.readdirSync(path.join(dataDir, 'checkpoint')).filter((f) => f !== 'checkpoint.kts')).toEqual([]);

    // Every acknowledged label is in the log, with its label and its features as float32.
    const checkLog = () => {
      const log = new LabelLog(path.join(dataDir, 'labels.db'), { features: FEATURES, synchronous: 'NORMAL' });
      try {
        const logged = log.byId() as Map<string, { seq: number; label: number; features: Float32Array }>;
        for (const [id, l] of acked) {
          const row = logged.get(id);
          expect(row, `acknowledged label ${id} missing from the log`).toBeDefined();
          expect(row!.label).toBe(l.label);
          expect(Array.from(row!.features)).toEqual(Array.from(Float32Array.from(l.features)));
        }
        return log.lastSeq as number;
      } finally {
        log.close();
      }
    };
    const logged = checkLog();
    expect(acked.size).toBeGreaterThan(0);
    expect(logged).toBeGreaterThanOrEqual(acked.size);
    expect(logged - killedAt.meta.logPosition).toBeGreaterThan(B); // killed mid-training: whole batches after the checkpoint

    // Restart: restores the checkpoint, replays the log after it.
    const second = await start(dataDir, env);
    expect(second.output()).toContain(`restored checkpoint of step ${killedAt.step} (log position ${killedAt.meta.logPosition})`);
    const h = await health(second.url);
    expect(h.restored).toMatchObject({ step: killedAt.step, logPosition: killedAt.meta.logPosition });
    const end = Math.floor(logged / B) * B;
    await until('the replay to finish', async () => (await health(second.url)).log.trainedPosition === end);
    const metrics = await (await fetch(`${second.url}/metrics`)).text();
    // This process trained only the batches after the checkpoint.
    expect(metrics).toContain(`kintsugi_train_steps_total ${end / B - killedAt.step}`);
    expect(await stop(second)).toBe(0); // graceful: a last checkpoint at the end of the log
    expect(checkLog()).toBe(logged);

    const final = readCheckpoint(path.join(dataDir, 'checkpoint'))!;
    expect(final.info.step).toBe(end / B);
    expect(final.info.meta.logPosition).toBe(end);

    // The same log replayed offline, from scratch, with the same batches and checkpoint cadence.
    const replayed = await replayLog({ dataDir, batchSize: B, checkpointEvery: EVERY });
    expect(replayed.position).toBe(end);
    expect(replayed.snapshot.step).toBe(final.info.step);
    expect(sameBits(replayed.snapshot.weights, final.weights), 'model weights bitwise').toBe(true);
    expect(sameBits(replayed.snapshot.optimizer, final.optimizer), 'optimizer state bitwise').toBe(true);
  });
});
