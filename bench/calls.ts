/**
 * What one webhook costs in calls to AWS at a given processor batch size: a local stack whose every
 * queue has that batch size, one dashboard connected, and a burst of webhooks (closed loop, so the
 * queues back up and the batches fill), counted in every process of the stack until each webhook
 * is processed. Each batch size runs in a process of its own (one stack per process).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ProviderName } from '../shared/envelope';
import { runLoad, waitForProcessed } from './http';
import { meterStack, type StackCost } from './lib/meter';
import { dashboardUrl, loadTarget, startBenchStack } from './lib/stack';
import { round } from './lib/stats';

export interface CallsRow {
  batchSize: number;
  webhooks: number;
  /** Records per processor invocation that finished its batch (deliveries over DeleteMessageBatch calls). */
  meanBatch: number;
  cost: StackCost;
}

interface CallsJob {
  batchSize: number;
  webhooks: number;
  out: string;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** Runs one batch size in a new process and reads its result. */
export function benchCalls(options: { batchSize: number; webhooks: number }): Promise<CallsRow> {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-calls-'));
  const job: CallsJob = { ...options, out: path.join(dir, 'result.json') };
  return new Promise<CallsRow>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(HERE, 'calls.ts'), JSON.stringify(job)],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    child.on('error', reject);
    child.on('exit', (code) => {
      try {
        if (code !== 0) throw new Error(`calls bench (batch ${options.batchSize}) exited with ${code}`);
        resolve(JSON.parse(readFileSync(job.out, 'utf8')) as CallsRow);
      } catch (error) {
        reject(error);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

async function run(job: CallsJob): Promise<CallsRow> {
  const stack = await startBenchStack({ processorBatchSize: job.batchSize });
  try {
    const meter = await meterStack(stack);
    const burst = await runLoad({
      ...loadTarget(stack),
      mode: 'closed',
      providers: ['shopify', 'hubspot', 'salesforce'] as ProviderName[],
      connections: 16,
      durationS: 600,
      requests: job.webhooks,
      total: job.webhooks,
      wsUrl: await dashboardUrl(stack),
      pushTimeoutMs: 300_000,
    });
    const accepted = burst.sent.filter((s) => s.status >= 200 && s.status < 300);
    await waitForProcessed(stack, new Set(accepted.map((s) => s.dedupKey)), 300_000);
    const cost = await meter.stop(accepted.length);
    const deletes = cost.operationsPerWebhook['AmazonSQS.DeleteMessageBatch'] ?? 0;
    return {
      batchSize: job.batchSize,
      webhooks: accepted.length,
      meanBatch: deletes ? round(1 / deletes, 1) : 0,
      cost,
    };
  } finally {
    await stack.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const job = JSON.parse(process.argv[2] ?? '{}') as CallsJob;
  writeFileSync(job.out, JSON.stringify(await run(job)));
  process.exit(0);
}
