/**
 * Where the local stack's CPU goes under the steady load: the stack runs under the V8 sampling
 * profiler (this process, and every process the stack hosts its parts in) while the load generator
 * (another process) sends the steady mix of the three providers, until every webhook is processed.
 *
 * Each sample is charged to a component: walking its stack from the leaf, the first frame that
 * belongs to one (the ingest handler, the processors, the REST front, the WebSocket server, or a
 * stand-in: fauxqs, dynalite, PGlite, the EventBridge stand-in) names it. Samples with no such
 * frame (an SDK continuation after an await, the HTTP parser, the collector) are charged to what
 * their leaf is: the AWS SDK, node internals, and so on.
 */

import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CpuProfile, profileProcess } from '../local/usage';
import type { ProviderName } from '../shared/envelope';
import { runLoad, waitForProcessed } from './http';
import { meterStack } from './lib/meter';
import { dashboardUrl, loadTarget, startBenchStack } from './lib/stack';
import { round } from './lib/stats';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface ProfileRow {
  /** The process the samples come from (`main` serves ingest). */
  process: string;
  component: string;
  cpuMs: number;
  /** Of the CPU time of every process profiled. */
  share: number;
}

export interface ProfileResult {
  rate: number;
  durationS: number;
  webhooks: number;
  /** From the first steady request until every webhook is processed. */
  wallMs: number;
  /** CPU time per process, and how busy its event loop was. */
  processes: { process: string; cpuMs: number; busy: number }[];
  rows: ProfileRow[];
}

/** Where this repository's code belongs. Order matters: the first prefix that matches wins. */
const REPOSITORY_COMPONENTS: [prefix: string, component: string][] = [
  ['local/rest-api.ts', 'REST front'],
  ['local/edge-limits.ts', 'REST front'],
  ['functions/ingest/', 'ingest handler'],
  ['shared/ingest.ts', 'ingest handler'],
  ['shared/providers/', 'ingest handler'],
  ['shared/queue/publisher.ts', 'ingest handler'],
  ['shared/http/', 'ingest handler'],
  ['functions/process.ts', 'processors'],
  ['shared/process/', 'processors'],
  ['shared/events/', 'processors'],
  ['shared/realtime/broadcaster.ts', 'processors'],
  ['local/sqs-poller.ts', 'processors'],
  ['local/chaos.ts', 'processors'],
  ['functions/api/', 'management API'],
  ['shared/api/', 'management API'],
  ['functions/ws/', 'WebSocket server'],
  ['local/websocket-api.ts', 'WebSocket server'],
  ['local/eventbridge.ts', 'EventBridge stand-in'],
  ['local/workflows.ts', 'EventBridge stand-in'],
  ['local/sqs-move-tasks.ts', 'fauxqs (SQS)'],
  ['functions/realtime/', 'schedules (metrics push, cleanup, alerts)'],
  ['functions/cleanup.ts', 'schedules (metrics push, cleanup, alerts)'],
  ['functions/alerts/', 'schedules (metrics push, cleanup, alerts)'],
  ['local/alert-evaluator.ts', 'schedules (metrics push, cleanup, alerts)'],
  ['bench/', 'the bench itself (waiting for processing)'],
  ['test/', 'the bench itself (waiting for processing)'],
];

/** The stand-ins' packages: the package and every dependency only it brings. */
const STAND_IN_PACKAGES: [root: string, component: string][] = [
  ['dynalite', 'dynalite (DynamoDB)'],
  ['fauxqs', 'fauxqs (SQS)'],
  ['@electric-sql/pglite-socket', 'PGlite (Postgres)'],
  ['@electric-sql/pglite', 'PGlite (Postgres)'],
  ['ws', 'WebSocket server'],
];

/** Labels for a leaf no component claims. */
function fallbackOf(pkg: string | undefined, url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : `(${functionName || 'program'})`;
  if (url.startsWith('node:')) return 'node internals (http, net, streams)';
  if (pkg === undefined) return 'shared code (stores, db, envelope)';
  if (pkg.startsWith('@aws-sdk/') || pkg.startsWith('@smithy/') || pkg.startsWith('@aws-crypto/'))
    return 'AWS SDK (caller not on the stack)';
  if (pkg === 'pg' || pkg.startsWith('pg-') || pkg === 'drizzle-orm') return 'Postgres client (pg, drizzle)';
  if (pkg.startsWith('@aws-lambda-powertools/')) return 'Powertools';
  return pkg;
}

function packageOf(url: string): string | undefined {
  const at = url.lastIndexOf('node_modules/');
  if (at < 0) return undefined;
  const parts = url.slice(at + 'node_modules/'.length).split('/');
  return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
}

/** Package name -> stand-in, for each stand-in's package and the dependencies no other package shares. */
function standInPackages(): Map<string, string> {
  const dependencies = (name: string): string[] => {
    try {
      const manifest = JSON.parse(
        readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8'),
      );
      return Object.keys(manifest.dependencies ?? {});
    } catch {
      return [];
    }
  };
  const closure = (root: string): Set<string> => {
    const seen = new Set<string>();
    const todo = [root];
    for (let name = todo.pop(); name !== undefined; name = todo.pop()) {
      if (seen.has(name)) continue;
      seen.add(name);
      todo.push(...dependencies(name));
    }
    return seen;
  };
  const direct = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const ours = new Set([...Object.keys(direct.dependencies ?? {})].flatMap((name) => [...closure(name)]));
  const owners = new Map<string, string>();
  for (const [root, component] of STAND_IN_PACKAGES)
    for (const name of closure(root)) if (!ours.has(name) && !owners.has(name)) owners.set(name, component);
  return owners;
}

/** CPU time by component of one process's profile (idle time left out). */
type ProfileNode = CpuProfile['nodes'][number];

export function componentsOf(profile: CpuProfile): Map<string, number> {
  const owners = standInPackages();
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const ownerOf = (url: string): string | undefined => {
    const pkg = packageOf(url);
    if (pkg !== undefined) return owners.get(pkg);
    const relative = url.replace(/^file:\/\//, '').replace(`${ROOT}/`, '');
    return REPOSITORY_COMPONENTS.find(([prefix]) => relative.startsWith(prefix))?.[1];
  };
  const cache = new Map<number, string>();
  const componentOf = (leaf: number): string => {
    const known = cache.get(leaf);
    if (known) return known;
    let component: string | undefined;
    // A native leaf (no URL: writev, Hash...) is labelled by the first caller that has one.
    let labelled: ProfileNode | undefined;
    for (let id: number | undefined = leaf; id !== undefined && !component; id = parent.get(id)) {
      const node = byId.get(id);
      const url = node?.callFrame.url ?? '';
      if (!url) continue;
      labelled ??= node;
      component = ownerOf(url);
    }
    const frame = (labelled ?? byId.get(leaf))?.callFrame;
    component ??= fallbackOf(packageOf(frame?.url ?? ''), frame?.url ?? '', frame?.functionName ?? '');
    cache.set(leaf, component);
    return component;
  };
  const totals = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const component = componentOf(id);
    if (component === '(idle)') return;
    totals.set(component, (totals.get(component) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return totals;
}

export async function profileStack(
  options: { rate: number; durationS: number; drainTimeoutMs: number; out?: string },
  log: (line: string) => void,
): Promise<ProfileResult> {
  const stack = await startBenchStack();
  try {
    const job = { ...loadTarget(stack), providers: ['shopify', 'hubspot', 'salesforce'] as ProviderName[] };
    log('profile: warm-up (5 s at 50/s)');
    await runLoad({ ...job, mode: 'paced', rate: 50, durationS: 5, requests: 250 });
    await waitForProcessed(stack, new Set(), 30_000);

    log(`profile: steady ${options.rate}/s for ${options.durationS} s, then until processed`);
    const stops = [
      { process: 'main', stop: await profileProcess() },
      ...(await Promise.all(
        stack.processes.map(async (child) => ({ process: child.name, stop: await child.profile() })),
      )),
    ];
    // The profiler samples wall time while a thread runs JavaScript or a native call; a process
    // waiting for a core is sampled too. Its shares are scaled to the CPU time the process was given.
    const meter = await meterStack(stack);
    const started = performance.now();
    const run = await runLoad({
      ...job,
      mode: 'paced',
      rate: options.rate,
      durationS: options.durationS,
      requests: Math.round(options.rate * options.durationS),
      wsUrl: await dashboardUrl(stack),
      pushTimeoutMs: options.drainTimeoutMs,
    });
    const accepted = run.sent.filter((s) => s.status >= 200 && s.status < 300);
    await waitForProcessed(stack, new Set(accepted.map((s) => s.dedupKey)), options.drainTimeoutMs);
    const wallMs = performance.now() - started;
    const cost = await meter.stop(accepted.length);
    const profiles = await Promise.all(
      stops.map(async ({ process, stop }) => ({ process, profile: await stop() })),
    );
    if (options.out) writeFileSync(options.out, JSON.stringify(profiles));

    const rows: ProfileRow[] = [];
    for (const { process, profile } of profiles) {
      const sampled = componentsOf(profile);
      const sampledMs = [...sampled.values()].reduce((sum, ms) => sum + ms, 0);
      const cpuMs = (cost.processes.find((p) => p.process === process)?.cpuMsPerWebhook ?? 0) * cost.webhooks;
      for (const [component, ms] of sampled)
        rows.push({ process, component, cpuMs: (ms / sampledMs) * cpuMs, share: 0 });
    }
    const totalMs = rows.reduce((sum, row) => sum + row.cpuMs, 0);
    for (const row of rows) {
      row.share = round(row.cpuMs / totalMs, 3);
      row.cpuMs = Math.round(row.cpuMs);
    }
    rows.sort((a, b) => b.cpuMs - a.cpuMs);
    return {
      rate: options.rate,
      durationS: options.durationS,
      webhooks: accepted.length,
      wallMs: Math.round(wallMs),
      processes: cost.processes.map(({ process, cpuMsPerWebhook, eventLoopUtilization }) => ({
        process,
        cpuMs: Math.round(cpuMsPerWebhook * cost.webhooks),
        busy: eventLoopUtilization,
      })),
      rows,
    };
  } finally {
    await stack.stop();
  }
}
