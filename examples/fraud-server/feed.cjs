// --feed: the built-in synthetic fraud stream through the service's own HTTP API, so one command
// shows it learning. Each tick it scores a chunk of new transactions (POST /score), then sends
// the labels of the previous chunk (POST /labels: labels arrive after the score, like
// chargebacks). Every 2 s it scores a held-out set and prints its average precision.
'use strict';
const { averagePrecision, syntheticFraud } = require('kintsugi-optimizer');
const { FEATURES } = require('./model.cjs');

const HELD_OUT = 10_000;
const TICK_MS = 100;

async function post(url, body) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = await res.json();
  return { status: res.status, retryAfter: Number(res.headers.get('retry-after') ?? 0), json };
}

function rowsOf(data, from, to) {
  const out = [];
  for (let i = from; i < to; i++) out.push(Array.from(data.x.subarray(i * FEATURES, (i + 1) * FEATURES)));
  return out;
}

async function heldOutAp(url, data, start) {
  const scores = new Float64Array(HELD_OUT);
  for (let i = 0; i < HELD_OUT; i += 1000) {
    const { json } = await post(`${url}/score`, { transactions: rowsOf(data, start + i, start + Math.min(i + 1000, HELD_OUT)) });
    scores.set(json.scores, i);
  }
  return averagePrecision(data.y.subarray(start, start + HELD_OUT), scores);
}

/** Feeds `labels` labelled transactions at about `rate` per second, printing progress. */
async function feed(url, { labels = 60_000, rate = 4000, shouldStop = () => false } = {}) {
  const data = syntheticFraud({ n: labels + HELD_OUT, features: FEATURES, seed: 7 });
  const positives = data.y.subarray(0, labels).reduce((a, b) => a + b, 0);
  const chunk = Math.max(1, Math.round((rate * TICK_MS) / 1000));
  console.log(`feed: ${labels} synthetic transactions (${positives} fraudulent), ${chunk} every ${TICK_MS} ms; held-out: ${HELD_OUT} more`);
  console.log(`feed: held-out average precision at start ${(await heldOutAp(url, data, labels)).toFixed(3)} (a random ranker: ${(data.y.subarray(labels).reduce((a, b) => a + b, 0) / HELD_OUT).toFixed(3)})`);
  let sent = 0;
  let previous = null;
  let lastReport = Date.now();
  const report = async (final) => {
    const health = await (await fetch(`${url}/health`)).json();
    const ap = await heldOutAp(url, data, labels);
    const phi = health.classPhi ? `ϕ legit ${health.classPhi.legit.toFixed(3)} fraud ${health.classPhi.fraud.toFixed(3)}` : 'ϕ -';
    console.log(
      `feed: ${String(sent).padStart(6)} labels sent | step ${String(health.step).padStart(5)} | ${Math.round(health.examplesPerSecond).toString().padStart(6)} ex/s | backlog ${String(health.log.backlog).padStart(5)} | held-out AP ${ap.toFixed(3)} | ${phi}${final ? ' (final)' : ''}`,
    );
  };
  while (sent < labels && !shouldStop()) {
    const t0 = Date.now();
    const end = Math.min(sent + chunk, labels);
    await post(`${url}/score`, { transactions: rowsOf(data, sent, end) });
    if (previous) {
      const body = { labels: rowsOf(data, previous[0], previous[1]).map((features, k) => ({ id: `feed-${previous[0] + k}`, features, label: data.y[previous[0] + k] })) };
      for (;;) {
        const r = await post(`${url}/labels`, body);
        if (r.status !== 503) break;
        await new Promise((resolve) => setTimeout(resolve, r.retryAfter * 1000));
      }
    }
    previous = [sent, end];
    sent = end;
    if (Date.now() - lastReport >= 2000) {
      lastReport = Date.now();
      await report(false);
    }
    const wait = TICK_MS - (Date.now() - t0);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  if (previous && !shouldStop()) {
    await post(`${url}/labels`, { labels: rowsOf(data, previous[0], previous[1]).map((features, k) => ({ id: `feed-${previous[0] + k}`, features, label: data.y[previous[0] + k] })) });
    await new Promise((resolve) => setTimeout(resolve, 500));
    await report(true);
  }
}

module.exports = { feed };
