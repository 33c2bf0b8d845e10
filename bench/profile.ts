/**
 * Where the local stack's CPU goes under peak load: the stack runs in this process under the V8
 * sampling profiler while the load generator (another process) drives the Shopify route closed-loop.
 * Self time is grouped by package (or by this repository's directory), which is what says whether a
 * cost is the production code, the AWS SDK, or a local stand-in (fauxqs, dynalite, PGlite).
 */

import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runLoad } from './http';
import { BENCH_ORG_ID, BENCH_SECRETS } from './lib/requests';
import { round } from './lib/stats';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileRow {
  where: string;
  share: number;
}

/** node_modules/<pkg>, the repository directory (shared/, local/...), node internals or V8 states. */
function bucketOf(url: string, functionName: string): string {
  if (!url) return `(${functionName || 'program'})`;
  const at = url.lastIndexOf('node_modules/');
  if (at >= 0) {
    const parts = url.slice(at + 'node_modules/'.length).split('/');
    return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] ?? url);
  }
  if (url.startsWith('node:')) return 'node internals';
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const relative = url.replace(/^file:\/\//, '').replace(`${root}/`, '');
  const [dir, second] = relative.split('/');
  return dir === 'shared' || dir === 'functions' || dir === 'local' ? `${dir}/${second ?? ''}` : (dir ?? url);
}

export async function profileStack(options: { durationS: number; connections: number; out?: string }) {
  Object.assign(process.env, {
    SALESFORCE_ORG_ID: BENCH_ORG_ID,
    POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'ERROR',
  });
  const { startLocalStack } = await import('../local/stack');
  const stack = await startLocalStack({
    port: 0,
    wsPort: 0,
    secrets: { ...BENCH_SECRETS },
    // The load comes from one address at rates only many provider addresses would reach.
    edgeLimits: false,
  });
  const session = new Session();
  session.connect();
  try {
    const target = `http://127.0.0.1:${new URL(stack.httpUrl).port}`;
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
    const run = await runLoad({
      mode: 'closed',
      target,
      signedBase: stack.httpUrl,
      providers: ['shopify'],
      durationS: options.durationS,
      connections: options.connections,
      requests: 10_000,
    });
    const { profile } = (await session.post('Profiler.stop')) as { profile: Profile };
    if (options.out) writeFileSync(options.out, JSON.stringify(profile));
    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    const selfTime = new Map<string, number>();
    let total = 0;
    profile.samples.forEach((id, i) => {
      const node = byId.get(id);
      const dt = profile.timeDeltas[i] ?? 0;
      if (!node) return;
      const bucket = bucketOf(node.callFrame.url, node.callFrame.functionName);
      selfTime.set(bucket, (selfTime.get(bucket) ?? 0) + dt);
      total += dt;
    });
    const rows: ProfileRow[] = [...selfTime.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([where, time]) => ({ where, share: round(time / total, 3) }));
    const ok = run.sent.filter((s) => s.status >= 200 && s.status < 300).length;
    return { requestsPerSecond: Math.round(ok / run.elapsedS), rows };
  } finally {
    session.disconnect();
    await stack.stop();
  }
}
