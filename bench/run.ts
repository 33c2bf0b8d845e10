/**
 * `npm run bench`: the throughput figures of issue 18 side by side, from one run, printed as tables
 * and written to bench/results/ (latest.json, and a copy named after the run's start time). Not part
 * of `npm test`.
 *
 *   npm run bench                      # http, calls, ingest, bundles (about 6 minutes)
 *   npm run bench -- --only=bundles    # http | calls | ingest | bundles | profile, comma-separated
 *                                      # (profile: where each process's CPU goes under the steady load)
 *   npm run bench -- --rate=200 --duration=30 --peak-duration=8 --connections=32 --burst=1000
 *   npm run bench -- --before=../main     # bundles of another checkout too, as the figures before
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type BundleRow, type BundleVariant, benchBundles, bundleVariants } from './bundles';
import { benchCalls, type CallsRow } from './calls';
import { benchHttp, type HttpBenchResult, RAMP_MS } from './http';
import { benchIngest, type IngestBenchRow } from './ingest';
import { SERVICES } from './lib/meter';
import { machine, table } from './lib/stats';
import { type ProfileResult, profileStack } from './profile';

/** The targets of issue 18, on this 2-core machine. */
const TARGETS = {
  ingestP99Ms: 100,
  pushedP99Ms: 1000,
  endToEndPerMinute: 12_000,
  peakRatio: 0.5,
  awsCallsAtBatch10: 3,
  ingestBundleKiB: 300,
  processorBundleKiB: 600,
};

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const RESULTS_DIR = path.join(HERE, 'results');
const DEFAULT_PARTS = 'http,calls,ingest,bundles';
const BATCH_SIZES = [1, 10];

const { values } = parseArgs({
  options: {
    only: { type: 'string', default: DEFAULT_PARTS },
    rate: { type: 'string', default: '200' },
    duration: { type: 'string', default: '30' },
    'peak-duration': { type: 'string', default: '8' },
    connections: { type: 'string', default: '32' },
    burst: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '15' },
    before: { type: 'string' },
  },
});
const only = new Set(String(values.only).split(','));
// Each starts its own local stack, and the handlers keep module-level clients bound to the first
// stack's endpoints: one stack per process (the calls bench starts processes of its own).
if (only.has('http') && only.has('profile'))
  throw new Error('Run --only=profile on its own (one local stack per process)');
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

interface Baseline {
  recordedAt: string;
  loadAverage: number[];
  bundles: Record<string, { kib: number; initMs: number }>;
}
/** Bundle sizes and init times before (--before): "init not slower" compares with them. */
let baseline: Baseline | undefined;

const before = machine();
const results: {
  startedAt: string;
  machineBefore: ReturnType<typeof machine>;
  machineAfter?: ReturnType<typeof machine>;
  targets: typeof TARGETS;
  http?: HttpBenchResult;
  calls?: CallsRow[];
  ingest?: IngestBenchRow[];
  bundles?: BundleRow[];
  bundlesBefore?: Baseline;
  ingestBundleVariants?: BundleVariant[];
  profile?: ProfileResult;
  verdicts?: Verdict[];
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
      drainTimeoutMs: 180_000,
    },
    log,
  );
}
if (only.has('calls')) {
  results.calls = [];
  for (const batchSize of BATCH_SIZES) {
    log(`calls: a burst of ${values.burst} webhooks, every processor at batch size ${batchSize}`);
    results.calls.push(await benchCalls({ batchSize, webhooks: Number(values.burst) }));
  }
}
if (only.has('ingest')) {
  log('ingest: in-process, production ingest() vs bare HMAC + JSON.parse');
  results.ingest = await benchIngest({ roundMs: 1500, rounds: 3 });
}
if (only.has('bundles')) {
  log('bundles: esbuild with the HouseFunction options, then import() in fresh processes');
  const beforeRoot = values.before ? path.resolve(values.before) : undefined;
  const [bundles, bundlesBefore] = await benchBundles({
    runs: Number(values.runs),
    roots: beforeRoot ? [ROOT, beforeRoot] : [],
  });
  results.bundles = bundles;
  if (beforeRoot && bundlesBefore) {
    const rev = execFileSync('git', ['-C', beforeRoot, 'rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
    }).trim();
    baseline = {
      recordedAt: `this run, ${path.basename(beforeRoot)} at ${rev}, init runs alternating with this checkout's`,
      loadAverage: machine().loadAverage,
      bundles: Object.fromEntries(bundlesBefore.map((b) => [b.entry, { kib: b.kib, initMs: b.initMs ?? 0 }])),
    };
    results.bundlesBefore = baseline;
  }
  results.ingestBundleVariants = await bundleVariants({ runs: Number(values.runs) });
}
if (only.has('profile')) {
  log('profile: every process of the local stack under the V8 profiler, steady load until processed');
  results.profile = await profileStack(
    {
      rate: Number(values.rate),
      durationS: Number(values.duration),
      drainTimeoutMs: 180_000,
      out: path.join(RESULTS_DIR, 'profile.json'),
    },
    log,
  );
}
results.machineAfter = machine();

// --- Report -------------------------------------------------------------------------------------

interface Verdict {
  figure: string;
  measured: string;
  target: string;
  met?: boolean;
}
const verdicts: Verdict[] = [];
const details: string[] = [];
const ms = (n: number) => `${Math.round(n).toLocaleString('en-US')} ms`;
const callsText = (cost: CallsRow['cost']) =>
  `${cost.awsCallsPerWebhook} (${Object.entries(cost.perWebhook)
    .filter(([service]) => service !== 'api')
    .map(([service, n]) => `${service} ${n}`)
    .join(', ')})`;

if (results.http) {
  const { steady, peak } = results.http;
  const perMinute = steady.rate * 60;
  verdicts.push(
    { figure: 'bare node:http limit (HMAC + JSON.parse)', measured: `${peak.bareRps} req/s`, target: '' },
    {
      figure: 'peak ingest, local stack (Shopify route)',
      measured: `${peak.stackRps} req/s = ${peak.ratio}x bare`,
      target: `>= ${TARGETS.peakRatio}x`,
      met: peak.ratio >= TARGETS.peakRatio,
    },
    {
      figure: `steady ${perMinute.toLocaleString('en-US')}/min: ingest latency`,
      measured: `p50 ${ms(steady.ingestMs.p50)}, p99 ${ms(steady.ingestMs.p99)}, ${steady.non2xx} non-2xx`,
      target: `p99 <= ${TARGETS.ingestP99Ms} ms`,
      met: steady.ingestMs.p99 <= TARGETS.ingestP99Ms && steady.non2xx === 0,
    },
    {
      figure: `same, after the first ${RAMP_MS / 1000} s`,
      measured: `p50 ${ms(steady.ingestMsAfterRamp.p50)}, p99 ${ms(steady.ingestMsAfterRamp.p99)} (first ${RAMP_MS / 1000} s: p99 ${ms(steady.ingestMsRamp.p99)}, max ${ms(steady.ingestMsRamp.max)})`,
      target: '',
    },
    {
      figure: 'same: POST to pushed on the WebSocket',
      measured: `p50 ${ms(steady.pushedMs.p50)}, p99 ${ms(steady.pushedMs.p99)}, ${steady.notPushed} not pushed`,
      target: `p99 <= ${ms(TARGETS.pushedP99Ms)}`,
      met: steady.pushedMs.p99 <= TARGETS.pushedP99Ms && steady.notPushed === 0,
    },
    {
      figure: 'same: processed end to end',
      measured: `${steady.endToEndPerMinute.toLocaleString('en-US')}/min`,
      target: `>= ${TARGETS.endToEndPerMinute.toLocaleString('en-US')}/min`,
      met: steady.endToEndPerMinute >= TARGETS.endToEndPerMinute && steady.notPushed === 0,
    },
    {
      figure: 'same: AWS calls per event, default batches',
      measured: callsText(steady.cost),
      target: '',
    },
  );
  details.push(
    `Local stack over HTTP: steady ${steady.rate}/s (${perMinute}/min) for ${steady.durationS} s, one dashboard connected`,
    table([
      ['measure', 'n', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'],
      ...[
        ['ingest (all)', steady.ingestMs] as const,
        ...Object.entries(steady.ingestMsByProvider).map(
          ([provider, s]) => [`ingest ${provider}`, s] as const,
        ),
        [`ingest, first ${RAMP_MS / 1000} s`, steady.ingestMsRamp] as const,
        [`ingest, after the first ${RAMP_MS / 1000} s`, steady.ingestMsAfterRamp] as const,
        ['POST to handler entry (receivedAt)', steady.toReceivedMs] as const,
        ['POST to processed (event log)', steady.processedMs] as const,
        ['POST to pushed (dashboard)', steady.pushedMs] as const,
      ].map(([name, s]) => [name, s.n, s.p50, s.p90, s.p99, s.max]),
    ]),
    `completed ${steady.completedPerSecond}/s, non-2xx ${steady.non2xx} ${JSON.stringify(steady.non2xxByStatus)}, not processed within the drain ${steady.notProcessedWithinDrain}, not pushed ${steady.notPushed}, max send lag ${steady.maxSendLagMs} ms, connections opened ${steady.newConnections.ramp} in the first ${RAMP_MS / 1000} s and ${steady.newConnections.afterRamp} after`,
    '',
    'Cost per webhook on the local stack (steady run until processed), by process',
    table([
      ['process', 'CPU ms per webhook', 'event loop busy'],
      ...steady.cost.processes.map((p) => [
        p.process,
        p.cpuMsPerWebhook,
        `${Math.round(p.eventLoopUtilization * 100)}%`,
      ]),
      ['all', steady.cost.cpuMsPerWebhook, ''],
    ]),
    `at this cost the machine's cores carry at most ${steady.cost.ceilingPerSecond} webhooks/s with nothing else running`,
    '',
    `Peak (closed loop, ${peak.connections} connections, ${peak.durationS} s, Shopify route)`,
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
}
if (results.calls) {
  for (const row of results.calls)
    verdicts.push({
      figure: `AWS calls per event, batch ${row.batchSize} (mean batch ${row.meanBatch})`,
      measured: callsText(row.cost),
      target: row.batchSize === 10 ? `<= ${TARGETS.awsCallsAtBatch10}` : '',
      met: row.batchSize === 10 ? row.cost.awsCallsPerWebhook <= TARGETS.awsCallsAtBatch10 : undefined,
    });
  const columns = results.calls;
  const operations = [...new Set(columns.flatMap((row) => Object.keys(row.cost.operationsPerWebhook)))];
  details.push(
    '',
    `Calls per event by service and operation, a burst of ${values.burst} webhooks with one dashboard connected`,
    table([
      ['service / operation', ...columns.map((row) => `batch ${row.batchSize}`)],
      ...SERVICES.filter((s) => s !== 'api').map((service) => [
        service === 'postgres' ? 'postgres (SQL statements)' : service,
        ...columns.map((row) => row.cost.perWebhook[service] ?? 0),
      ]),
      ['all AWS calls', ...columns.map((row) => row.cost.awsCallsPerWebhook)],
      ...operations.map((operation) => [
        `  ${operation}`,
        ...columns.map((row) => row.cost.operationsPerWebhook[operation] ?? 0),
      ]),
      ['CPU ms per webhook', ...columns.map((row) => row.cost.cpuMsPerWebhook)],
    ]),
  );
}
if (results.ingest) {
  details.push(
    '',
    'Ingest hot path, in-process (ops/s, one core)',
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
if (results.bundles) {
  const bundles = results.bundles;
  const group = (name: string, entries: BundleRow[], limit: number) => {
    const largest = Math.max(...entries.map((b) => b.kib));
    const slower = entries.filter((b) => {
      const before = baseline?.bundles[b.entry]?.initMs;
      return b.initMs === null || (before !== undefined && b.initMs > before);
    });
    verdicts.push({
      figure: `${name} bundle (init ms)`,
      measured: entries.map((b) => `${b.kib} KiB (${b.initMs ?? 'failed'})`).join(', '),
      target: `<= ${limit} KiB, init not slower`,
      met: largest <= limit && slower.length === 0,
    });
  };
  group(
    'ingest',
    bundles.filter((b) => b.entry.startsWith('ingest/')),
    TARGETS.ingestBundleKiB,
  );
  group(
    'processor',
    bundles.filter((b) => b.entry === 'process.ts'),
    TARGETS.processorBundleKiB,
  );
  details.push(
    '',
    'Lambda bundles (minified ESM as house-function.ts builds them; init = import() in a fresh process, median)',
    table([
      ['function', 'KiB', 'init ms', 'before: KiB', 'init ms', 'largest packages'],
      ...bundles.map((b) => [
        b.entry,
        b.kib,
        b.initMs ?? `failed: ${b.initError}`,
        baseline?.bundles[b.entry]?.kib ?? '',
        baseline?.bundles[b.entry]?.initMs ?? '',
        b.topPackages
          .slice(0, 3)
          .map((p) => `${p.name} ${Math.round(p.share * 100)}%`)
          .join(', '),
      ]),
    ]),
    baseline ? `before: ${baseline.recordedAt}, load average ${baseline.loadAverage.join(' ')}` : '',
  );
}
if (results.ingestBundleVariants) {
  details.push(
    '',
    'What-if builds of the Shopify ingest bundle (measured, nothing changed in the repository)',
    table([
      ['variant', 'KiB', 'init ms'],
      ...results.ingestBundleVariants.map((v) => [v.variant, v.kib, v.initMs ?? 'failed']),
    ]),
  );
}
if (results.profile) {
  const { profile } = results;
  details.push(
    '',
    `Where the CPU goes: steady ${profile.rate}/s for ${profile.durationS} s until processed (${profile.webhooks} webhooks, ${Math.round(profile.wallMs / 1000)} s)`,
    table([
      ['process', 'CPU ms', 'event loop busy'],
      ...profile.processes.map((p) => [p.process, p.cpuMs, `${Math.round(p.busy * 100)}%`]),
    ]),
    table([
      ['process', 'component', 'CPU ms', 'share'],
      ...profile.rows.slice(0, 30).map((r) => [r.process, r.component, r.cpuMs, r.share]),
    ]),
  );
}
results.verdicts = verdicts;

const after = results.machineAfter;
const out = [
  `Issue 18 figures, one run (${before.cpus} CPUs, load average before ${before.loadAverage.join(' ')}, after ${after.loadAverage.join(' ')})`,
  table([
    ['figure', 'measured', 'target', 'met'],
    ...verdicts.map((v) => [
      v.figure,
      v.measured,
      v.target,
      v.met === undefined ? '' : v.met ? 'MET' : 'MISSED',
    ]),
  ]),
  '',
  ...details,
];

mkdirSync(RESULTS_DIR, { recursive: true });
// The default run is latest.json; a partial one (--only) gets its own file and leaves it alone.
const name = values.only === DEFAULT_PARTS ? 'latest' : `latest-${[...only].join('-')}`;
const json = `${JSON.stringify(results, null, 2)}\n`;
writeFileSync(path.join(RESULTS_DIR, `${name}.json`), json);
writeFileSync(path.join(RESULTS_DIR, `${name}-${results.startedAt.replaceAll(':', '-')}.json`), json);
console.log(out.join('\n'));
console.log(`\nwritten to ${path.relative(process.cwd(), path.join(RESULTS_DIR, `${name}.json`))}`);
