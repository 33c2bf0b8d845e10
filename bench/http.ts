/**
 * The local stack over HTTP, measured by a load generator in a separate process (bench/loadgen.ts):
 *  1. steady load (12,000/min by default) across the three providers, with one dashboard
 *     connected: ingest latency (due time to response), POST-to-pushed latency (due time to the
 *     push reaching the dashboard), the rate sustained end to end, and what each webhook cost;
 *  2. peak throughput of the Shopify route (closed loop), as a ratio to a bare node:http server
 *     started here that only verifies the Shopify HMAC and parses the JSON.
 */
import { spawn } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LocalStack } from '../local/stack';
import { type EventLogItem, messagesInQueues, scanEventLog } from '../test/support/event-log';
import { meterStack, type StackCost } from './lib/meter';
import { BENCH_SECRETS } from './lib/requests';
import { dashboardUrl, loadTarget, startBenchStack } from './lib/stack';
import { round, type Summary, sleep, summary } from './lib/stats';
import type { LoadJob, LoadResult, SentRequest } from './loadgen';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export interface HttpBenchOptions {
  rate: number;
  durationS: number;
  peakDurationS: number;
  peakConnections: number;
  /** Events allowed to finish processing after the steady run, ms. */
  drainTimeoutMs: number;
}

export interface HttpBenchResult {
  steady: {
    rate: number;
    durationS: number;
    requests: number;
    non2xx: number;
    /** Answers other than 2xx by status (0: the connection failed before an answer). */
    non2xxByStatus: Record<string, number>;
    maxSendLagMs: number;
    completedPerSecond: number;
    ingestMs: Summary;
    ingestMsByProvider: Record<string, Summary>;
    /**
     * The same, split at RAMP_MS after the first request: a stack that meets the rate cold carries
     * most of its tail in those first seconds (README, Performance).
     */
    ingestMsRamp: Summary;
    ingestMsAfterRamp: Summary;
    /** Requests that opened a connection of their own, in the first RAMP_MS and after. */
    newConnections: { ramp: number; afterRamp: number };
    /** Due time to the webhook-event push reaching a dashboard (one operator connected). */
    pushedMs: Summary;
    notPushed: number;
    /** Deliveries pushed per minute, from the first push to the last: what the stack sustained end to end. */
    endToEndPerMinute: number;
    /** Due time to processedAt, for deliveries that reached `processed`. */
    processedMs: Summary;
    /** Due time to the envelope's receivedAt (ingest's clock): the front and handler entry. */
    toReceivedMs: Summary;
    processed: number;
    notProcessedWithinDrain: number;
    drainMs: number;
    /** From the first steady request until every one is processed. */
    cost: StackCost;
  };
  peak: {
    connections: number;
    durationS: number;
    stackRps: number;
    stackNon2xx: number;
    stackLatencyMs: Summary;
    bareRps: number;
    bareNon2xx: number;
    bareLatencyMs: Summary;
    ratio: number;
  };
}

/** The first seconds of the steady run, reported apart (the run's figures include them). */
export const RAMP_MS = 5000;
/** The last part of the warm-up, at the steady rate, s. */
const WARM_AT_RATE_S = 5;

export function runLoad(job: Omit<LoadJob, 'out'>): Promise<LoadResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-load-'));
  const out = path.join(dir, 'result.json');
  return new Promise<LoadResult>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(HERE, 'loadgen.ts'), JSON.stringify({ ...job, out })],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`load generator exited with ${code}`));
      try {
        resolve(JSON.parse(readFileSync(out, 'utf8')) as LoadResult);
      } catch (error) {
        reject(error);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

/** The physical floor of a webhook endpoint on this machine: read the body, check the HMAC, parse, 200. */
function startBareServer(secret: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const expected = createHmac('sha256', secret).update(body).digest();
      const given = Buffer.from(String(req.headers['x-shopify-hmac-sha256'] ?? ''), 'base64');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"success":false}');
        return;
      }
      JSON.parse(body.toString('utf8'));
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"success":true,"accepted":1}');
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }),
    ),
  );
}

function countBy(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

/**
 * Waits until every key is processed (or dead) and the queues are empty. The queues are asked first:
 * a scan of the whole event log each second would weigh on the stand-in being measured.
 */
export async function waitForProcessed(
  stack: LocalStack,
  keys: Set<string>,
  timeoutMs: number,
): Promise<{ items: Map<string, EventLogItem & Record<string, unknown>>; drainMs: number }> {
  const started = performance.now();
  let items = new Map<string, EventLogItem & Record<string, unknown>>();
  for (;;) {
    const timedOut = performance.now() - started > timeoutMs;
    if ((await messagesInQueues(stack)) === 0 || timedOut) {
      items = new Map(
        (await scanEventLog()).map((item) => [item.pk, item as EventLogItem & Record<string, unknown>]),
      );
      const missing = [...keys].filter(
        (key) => !['processed', 'dead'].includes(String(items.get(key)?.status)),
      );
      if (missing.length === 0 || timedOut) break;
    }
    await sleep(250);
  }
  return { items, drainMs: Math.round(performance.now() - started) };
}

/** Deliveries per minute between the first and the last of the given times (epoch ms). */
function perMinute(times: readonly number[]): number {
  if (times.length < 2) return 0;
  const span = Math.max(...times) - Math.min(...times);
  return Math.round(((times.length - 1) * 60_000) / span);
}

export async function benchHttp(
  options: HttpBenchOptions,
  log: (line: string) => void,
): Promise<HttpBenchResult> {
  const stack = await startBenchStack();
  const bare = await startBareServer(BENCH_SECRETS.shopify);
  try {
    const where = loadTarget(stack);
    const all = ['shopify', 'hubspot', 'salesforce'] as const;

    // Warm-up, not measured: 10 s at 50/s, then 5 s at the steady rate, so the stack meets the
    // steady run with its code optimised, its heaps and its connections to the stand-ins grown
    // for that rate (without the second part, the first seconds of the steady run carried most
    // of its tail: README, Performance).
    log(`http: warm-up (10 s at 50/s, then ${WARM_AT_RATE_S} s at ${options.rate}/s)`);
    for (const [rate, durationS] of [
      [50, 10],
      [options.rate, WARM_AT_RATE_S],
    ] as const) {
      await runLoad({
        ...where,
        mode: 'paced',
        providers: [...all],
        rate,
        durationS,
        requests: rate * durationS,
      });
      await waitForProcessed(stack, new Set(), 60_000);
    }

    log(`http: steady ${options.rate}/s for ${options.durationS} s, a dashboard timing the pushes`);
    const meter = await meterStack(stack);
    const steady = await runLoad({
      ...where,
      mode: 'paced',
      providers: [...all],
      rate: options.rate,
      durationS: options.durationS,
      requests: Math.round(options.rate * options.durationS),
      wsUrl: await dashboardUrl(stack),
      pushTimeoutMs: options.drainTimeoutMs,
    });
    const accepted = steady.sent.filter((s) => s.status >= 200 && s.status < 300);
    log(`http: steady done (${steady.sent.length} sent, ${steady.errors} non-2xx); waiting for processing`);
    const { items, drainMs } = await waitForProcessed(
      stack,
      new Set(accepted.map((s) => s.dedupKey)),
      options.drainTimeoutMs,
    );
    const cost = await meter.stop(accepted.length);
    const processedMs: number[] = [];
    const toReceived: number[] = [];
    let notProcessed = 0;
    for (const request of accepted) {
      const item = items.get(request.dedupKey);
      if (item?.status !== 'processed' || typeof item.processedAt !== 'string') {
        notProcessed++;
        continue;
      }
      processedMs.push(Date.parse(item.processedAt) - request.dueAt);
      if (typeof item.receivedAt === 'string') toReceived.push(Date.parse(item.receivedAt) - request.dueAt);
    }
    const pushedAt = accepted.flatMap((s) => (s.pushedAt === undefined ? [] : [s.pushedAt]));
    const firstDue = Math.min(...steady.sent.map((s) => s.dueAt));
    const ramp = steady.sent.filter((s) => s.dueAt - firstDue < RAMP_MS);
    const afterRamp = steady.sent.filter((s) => s.dueAt - firstDue >= RAMP_MS);
    const opened = (sent: SentRequest[]) => sent.filter((s) => s.newConnection).length;
    const byProvider: Record<string, Summary> = {};
    for (const provider of all)
      byProvider[provider] = summary(
        steady.sent.filter((s) => s.provider === provider).map((s) => s.latencyMs),
      );

    log(
      `http: peak, bare node:http server (${options.peakConnections} connections, ${options.peakDurationS} s)`,
    );
    const peakJob = {
      mode: 'closed' as const,
      signedBase: where.signedBase,
      providers: ['shopify' as const],
      durationS: options.peakDurationS,
      connections: options.peakConnections,
      requests: 20_000,
    };
    const bareRun = await runLoad({ ...peakJob, target: bare.url });
    log('http: peak, local stack Shopify route');
    const stackRun = await runLoad({ ...peakJob, target: where.target });
    const rps = (run: LoadResult) =>
      run.sent.filter((s) => s.status >= 200 && s.status < 300).length / run.elapsedS;

    return {
      steady: {
        rate: options.rate,
        durationS: options.durationS,
        requests: steady.sent.length,
        non2xx: steady.errors,
        non2xxByStatus: countBy(
          steady.sent.filter((s) => s.status < 200 || s.status >= 300).map((s) => String(s.status)),
        ),
        maxSendLagMs: round(steady.maxSendLagMs),
        completedPerSecond: round(steady.sent.length / steady.elapsedS, 1),
        ingestMs: summary(steady.sent.map((s) => s.latencyMs)),
        ingestMsByProvider: byProvider,
        ingestMsRamp: summary(ramp.map((s) => s.latencyMs)),
        ingestMsAfterRamp: summary(afterRamp.map((s) => s.latencyMs)),
        newConnections: { ramp: opened(ramp), afterRamp: opened(afterRamp) },
        pushedMs: summary(accepted.flatMap((s) => (s.pushedAt === undefined ? [] : [s.pushedAt - s.dueAt]))),
        notPushed: steady.notPushed ?? accepted.length,
        endToEndPerMinute: perMinute(pushedAt),
        processedMs: summary(processedMs),
        toReceivedMs: summary(toReceived),
        processed: processedMs.length,
        notProcessedWithinDrain: notProcessed,
        drainMs,
        cost,
      },
      peak: {
        connections: options.peakConnections,
        durationS: options.peakDurationS,
        stackRps: Math.round(rps(stackRun)),
        stackNon2xx: stackRun.errors,
        stackLatencyMs: summary(stackRun.sent.map((s) => s.latencyMs)),
        bareRps: Math.round(rps(bareRun)),
        bareNon2xx: bareRun.errors,
        bareLatencyMs: summary(bareRun.sent.map((s) => s.latencyMs)),
        ratio: round(rps(stackRun) / rps(bareRun), 3),
      },
    };
  } finally {
    await new Promise((resolve) => bare.server.close(resolve));
    bare.server.closeAllConnections();
    await stack.stop();
  }
}
