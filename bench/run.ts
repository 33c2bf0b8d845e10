/**
 * `npm run bench`: the performance figures of issue 9, printed as tables and written to
 * bench/results/latest.json. Not part of `npm test`.
 *
 *   npm run bench                      # everything (about 3 minutes)
 *   npm run bench -- --only=ingest     # ingest | http | bundles | profile, comma-separated
 *                                      # (profile: where the local stack's CPU goes at peak; not in the default set)
 *   npm run bench -- --rate=200 --duration=30 --peak-duration=8 --connections=32
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type BundleRow, type BundleVariant, benchBundles, bundleVariants } from './bundles';
import { benchHttp, type HttpBenchResult } from './http';
import { benchIngest, type IngestBenchRow } from './ingest';
import { machine, table } from './lib/stats';
import { type ProfileRow, profileStack } from './profile';

const TARGETS = {
  ingestP99Ms: 20,
  endToEndP99Ms: 100,
  peakRatio: 0.8,
  ingestBundleKiB: 150,
};

const DEFAULT_PARTS = 'ingest,bundles,http';

const { values } = parseArgs({
  options: {
    only: { type: 'string', default: DEFAULT_PARTS },
    rate: { type: 'string', default: '200' },
    duration: { type: 'string', default: '30' },
    'peak-duration': { type: 'string', default: '8' },
    connections: { type: 'string', default: '32' },
    runs: { type: 'string', default: '5' },
  },
});
const only = new Set(String(values.only).split(','));
// Each starts its own local stack, and the handlers keep module-level clients bound to the first
// stack's endpoints: one stack per process.
if (only.has('http') && only.has('profile'))
  throw new Error('Run --only=profile on its own (one local stack per process)');
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

const before = machine();
const results: {
  startedAt: string;
  machineBefore: ReturnType<typeof machine>;
  machineAfter?: ReturnType<typeof machine>;
  targets: typeof TARGETS;
  ingest?: IngestBenchRow[];
  http?: HttpBenchResult;
  bundles?: BundleRow[];
  ingestBundleVariants?: BundleVariant[];
  profile?: { requestsPerSecond: number; rows: ProfileRow[] };
  verdicts?: { target: string; measured: string; met: boolean }[];
} = { startedAt: new Date().toISOString(), machineBefore: before, targets: TARGETS };

log(
  `load average ${before.loadAverage.join(' ')} on ${before.cpus} CPUs (${before.cpuModel}), node ${before.node}`,
);

// The local stack first: it is the measure most disturbed by what ran before in this process.
if (only.has('http')) {
  results.http = await benchHttp(
    {
      rate: Number(values.rate),
      durationS: Number(values.duration),
      peakDurationS: Number(values['peak-duration']),
      peakConnections: Number(values.connections),
      drainTimeoutMs: 120_000,
    },
    log,
  );
}
if (only.has('ingest')) {
  log('ingest: in-process, production ingest() vs bare HMAC + JSON.parse');
  results.ingest = await benchIngest({ roundMs: 1500, rounds: 3 });
}
if (only.has('bundles')) {
  log('bundles: esbuild with the HouseFunction options, then import() in fresh processes');
  results.bundles = await benchBundles({ runs: Number(values.runs) });
  results.ingestBundleVariants = await bundleVariants({ runs: Number(values.runs) });
}
if (only.has('profile')) {
  log('profile: the local stack under the V8 profiler at peak (closed loop, Shopify route)');
  results.profile = await profileStack({
    durationS: Number(values['peak-duration']),
    connections: Number(values.connections),
  });
}
results.machineAfter = machine();

// --- Report -------------------------------------------------------------------------------------

const verdicts: { target: string; measured: string; met: boolean }[] = [];
const out: string[] = [];
if (results.ingest) {
  out.push('Ingest hot path, in-process (ops/s, one core)');
  out.push(
    table([
      ['provider', 'ingest() ops/s', 'baseline ops/s', 'ratio', 'us/op', 'body bytes'],
      ...results.ingest.map((r) => [
        r.provider,
        r.ingestOpsPerSec,
        r.baselineOpsPerSec,
        r.ratio,
        r.ingestMicros,
        r.meanBodyBytes,
      ]),
    ]),
  );
}
if (results.http) {
  const { steady, peak } = results.http;
  out.push(
    '',
    `Local stack over HTTP: steady ${steady.rate}/s (${steady.rate * 60}/min) for ${steady.durationS} s`,
  );
  out.push(
    table([
      ['measure', 'n', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'],
      [
        'ingest (all)',
        steady.ingestMs.n,
        steady.ingestMs.p50,
        steady.ingestMs.p90,
        steady.ingestMs.p99,
        steady.ingestMs.max,
      ],
      ...Object.entries(steady.ingestMsByProvider).map(([provider, s]) => [
        `ingest ${provider}`,
        s.n,
        s.p50,
        s.p90,
        s.p99,
        s.max,
      ]),
      [
        'POST to processed',
        steady.endToEndMs.n,
        steady.endToEndMs.p50,
        steady.endToEndMs.p90,
        steady.endToEndMs.p99,
        steady.endToEndMs.max,
      ],
    ]),
  );
  out.push(
    `completed ${steady.completedPerSecond}/s (responses over the whole run, last one included), non-2xx ${steady.non2xx} ${JSON.stringify(steady.non2xxByStatus)}, not processed within the drain ${steady.notProcessedWithinDrain}, max send lag ${steady.maxSendLagMs} ms`,
  );
  const { cost } = steady;
  out.push(
    '',
    'Cost per webhook on the local stack (steady run until processed)',
    table([
      ['what', 'per webhook'],
      ...Object.entries(cost.perWebhook).map(([service, n]) => [
        service === 'postgres' ? 'postgres (SQL statements)' : `${service} (requests served)`,
        n,
      ]),
      ['round trips in all', cost.roundTripsPerWebhook],
      ['CPU ms (process, all threads)', cost.cpuMsPerWebhook],
    ]),
    `main event loop busy ${Math.round(cost.eventLoopUtilization * 100)}%; at this cost the machine's cores carry at most ${cost.ceilingPerSecond} webhooks/s with nothing else running`,
  );
  out.push('', `Peak (closed loop, ${peak.connections} connections, ${peak.durationS} s, Shopify route)`);
  out.push(
    table([
      ['server', 'req/s', 'non-2xx', 'p50 ms', 'p99 ms'],
      [
        'bare node:http (HMAC + JSON.parse)',
        peak.bareRps,
        peak.bareNon2xx,
        peak.bareLatencyMs.p50,
        peak.bareLatencyMs.p99,
      ],
      ['local stack', peak.stackRps, peak.stackNon2xx, peak.stackLatencyMs.p50, peak.stackLatencyMs.p99],
    ]),
  );
  out.push(`ratio ${peak.ratio}`);
  verdicts.push(
    {
      target: `ingest p99 < ${TARGETS.ingestP99Ms} ms at ${steady.rate * 60}/min`,
      measured: `${steady.ingestMs.p99} ms`,
      met: steady.ingestMs.p99 < TARGETS.ingestP99Ms && steady.non2xx === 0,
    },
    {
      target: `POST-to-processed p99 < ${TARGETS.endToEndP99Ms} ms`,
      measured: `${steady.endToEndMs.p99} ms`,
      met: steady.endToEndMs.p99 < TARGETS.endToEndP99Ms && steady.notProcessedWithinDrain === 0,
    },
    {
      target: `peak >= ${TARGETS.peakRatio}x bare server`,
      measured: `${peak.ratio}x (${peak.stackRps} vs ${peak.bareRps} req/s)`,
      met: peak.ratio >= TARGETS.peakRatio,
    },
  );
}
if (results.bundles) {
  out.push(
    '',
    'Lambda bundles (minified ESM as house-function.ts builds them; init = import() in a fresh process, median)',
  );
  out.push(
    table([
      ['function', 'KiB', 'init ms', 'largest packages'],
      ...results.bundles.map((b) => [
        b.entry,
        b.kib,
        b.initMs ?? `failed: ${b.initError}`,
        b.topPackages
          .slice(0, 3)
          .map((p) => `${p.name} ${Math.round(p.share * 100)}%`)
          .join(', '),
      ]),
    ]),
  );
  const ingest = results.bundles.filter((b) => b.entry.startsWith('ingest/'));
  const largest = Math.max(...ingest.map((b) => b.kib));
  verdicts.push({
    target: `ingest bundle <= ${TARGETS.ingestBundleKiB} KB`,
    measured: `${largest} KiB`,
    met: largest <= TARGETS.ingestBundleKiB,
  });
}
if (results.ingestBundleVariants) {
  out.push('', 'What-if builds of the Shopify ingest bundle (measured, nothing changed in the repository)');
  out.push(
    table([
      ['variant', 'KiB', 'init ms'],
      ...results.ingestBundleVariants.map((v) => [v.variant, v.kib, v.initMs ?? 'failed']),
    ]),
  );
}
if (results.profile) {
  out.push(
    '',
    `Local stack CPU profile at peak (${results.profile.requestsPerSecond} req/s): self time by package or directory`,
  );
  out.push(table([['where', 'share'], ...results.profile.rows.slice(0, 20).map((r) => [r.where, r.share])]));
}
results.verdicts = verdicts;
if (verdicts.length) {
  out.push('', 'Targets');
  out.push(
    table([
      ['target', 'measured', 'met'],
      ...verdicts.map((v) => [v.target, v.measured, v.met ? 'MET' : 'MISSED']),
    ]),
  );
}
out.push(
  '',
  `load average before ${before.loadAverage.join(' ')}, after ${results.machineAfter.loadAverage.join(' ')} (${before.cpus} CPUs)`,
);

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
mkdirSync(dir, { recursive: true });
// The default run is latest.json; a partial one (--only) gets its own file and leaves it alone.
const file = values.only === DEFAULT_PARTS ? 'latest.json' : `latest-${[...only].join('-')}.json`;
writeFileSync(path.join(dir, file), `${JSON.stringify(results, null, 2)}\n`);
console.log(out.join('\n'));
console.log(`\nwritten to ${path.relative(process.cwd(), path.join(dir, file))}`);
