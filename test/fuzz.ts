// Settings of the property-based tests (fast-check): a fixed number of runs in `npm test`, more
// with KINTSUGI_FUZZ_RUNS (`npm run test:fuzz`), and KINTSUGI_FUZZ_SEED to replay a failure.
// fast-check's failure message carries the seed and the counterexample's path, and
// `fuzzParameters` adds both to the message as a ready-to-paste replay line.
import fc from 'fast-check';

function positiveInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw == null || raw === '') return fallback;
  if (!/^-?[0-9]{1,10}$/.test(raw) || (name.endsWith('RUNS') && Number(raw) < 1)) {
    throw new RangeError(`${name} must be ${name.endsWith('RUNS') ? 'a whole number ≥ 1' : 'an integer'}; got ${JSON.stringify(raw.slice(0, 40))}`);
  }
  return Number(raw);
}

/**
 * Parameters for `fc.assert`: `runs` in `npm test` (each suite stays under a few seconds), or
 * KINTSUGI_FUZZ_RUNS; KINTSUGI_FUZZ_SEED (and KINTSUGI_FUZZ_PATH) replay one failure.
 */
export function fuzzParameters<T>(runs: number): fc.Parameters<T> {
  const seed = process.env.KINTSUGI_FUZZ_SEED ? positiveInteger('KINTSUGI_FUZZ_SEED', 0) : undefined;
  const path = process.env.KINTSUGI_FUZZ_PATH || undefined;
  return {
    numRuns: positiveInteger('KINTSUGI_FUZZ_RUNS', runs),
    ...(seed !== undefined ? { seed } : {}),
    ...(path !== undefined ? { path } : {}),
    // The default report already names seed and path; this adds the command that replays it.
    reporter: (details) => {
      if (!details.failed) return;
      const replay = `replay: KINTSUGI_FUZZ_SEED=${details.seed} KINTSUGI_FUZZ_PATH=${JSON.stringify(details.counterexamplePath ?? '')} npx vitest run <this file>`;
      // defaultReportMessage leaves out the failing assertion (includeErrorInReport is off): add it.
      const error = details.errorInstance;
      const got = error instanceof Error ? error.message : String(error);
      throw new Error(`${fc.defaultReportMessage(details) ?? 'property failed'}\nGot error: ${got.slice(0, 4000)}\n${replay}`, { cause: error });
    },
  };
}
