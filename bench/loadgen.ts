/**
 * The load generator, run as its own process so it does not share an event loop (or a core's time
 * slices more than the OS decides) with the stack it measures. Reads its job from argv[2] (JSON),
 * writes its result as JSON to the job's `out` file.
 *
 * - `paced`: open loop, request i is due at start + i/rate. Latency is measured from the due time,
 *   not the send time, so a stalled server cannot hide its queueing (no coordinated omission).
 * - `closed`: `connections` clients each send their next request as soon as the previous answer
 *   arrives, for `durationS` (or until `total` requests): the peak throughput, or a burst.
 *
 * With `wsUrl`, a dashboard client (an operator's, subscribed to webhook-event) is connected before
 * the first request, and the time each delivery's push arrives is recorded: the load generator
 * waits for every accepted delivery's push, up to `pushTimeoutMs`.
 */
import { writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import WebSocket from 'ws';
import type { SignedRequest } from '../bin/samples';
import type { ProviderName } from '../shared/envelope';
import { ownedKey, SYSTEM_OWNER } from '../shared/owner';
import { providers } from '../shared/providers/registry';
import { signedRequests, toWebhookRequest } from './lib/requests';

export interface LoadJob {
  mode: 'paced' | 'closed';
  /** Where to connect, e.g. http://127.0.0.1:PORT. */
  target: string;
  /** The public base URL the requests are signed for (HubSpot v3 signs it). */
  signedBase: string;
  providers: ProviderName[];
  /** paced: requests per second. */
  rate?: number;
  durationS: number;
  /** closed: concurrent connections. */
  connections?: number;
  /** Distinct signed requests to prepare (cycled through in closed mode). */
  requests: number;
  /** closed: stop after this many requests, even before `durationS`. */
  total?: number;
  /** A dashboard WebSocket URL with its token: pushes are timed. */
  wsUrl?: string;
  /** How long to wait, after the last answer, for the pushes still missing. */
  pushTimeoutMs?: number;
  out: string;
}

export interface SentRequest {
  provider: ProviderName;
  dedupKey: string;
  status: number;
  /** Epoch ms when it was due (paced) or sent (closed). */
  dueAt: number;
  /** Due (paced) or send (closed) to complete response, ms. */
  latencyMs: number;
  /** Epoch ms when its webhook-event push arrived (with `wsUrl`). */
  pushedAt?: number;
  /** It opened a connection of its own: every kept-alive one was busy (or none was open yet). */
  newConnection: boolean;
}

export interface LoadResult {
  mode: LoadJob['mode'];
  elapsedS: number;
  sent: SentRequest[];
  errors: number;
  /** paced: the largest delay between a request's due time and its actual send, ms. */
  maxSendLagMs: number;
  /** With `wsUrl`: accepted deliveries whose push did not arrive within the wait. */
  notPushed?: number;
}

interface Pushed {
  type: string;
  data?: { id?: string };
}

/** The dashboard client: the arrival time of each webhook-event push, by event log id (dedup key). */
async function pushClient(url: string): Promise<{ pushes: Map<string, number>; close(): void }> {
  const ws = new WebSocket(url);
  const pushes = new Map<string, number>();
  await new Promise<void>((resolve, reject) => {
    ws.on('error', reject);
    ws.on('unexpected-response', (_request, response) =>
      reject(new Error(`WebSocket refused with ${response.statusCode}`)),
    );
    ws.on('message', (raw) => {
      const arrivedAt = performance.timeOrigin + performance.now();
      const message = JSON.parse(raw.toString()) as Pushed | { type: 'batch'; data: Pushed[] };
      if (message.type === 'subscribed') resolve();
      // A batch message carries the pushes of one processor batch.
      const received =
        message.type === 'batch' && Array.isArray(message.data)
          ? (message.data as Pushed[])
          : [message as Pushed];
      for (const push of received)
        if (push.type === 'webhook-event' && push.data?.id && !pushes.has(push.data.id))
          pushes.set(push.data.id, arrivedAt);
    });
    // As the dashboard does: the pushes of one processor batch in one message.
    ws.on('open', () =>
      ws.send(JSON.stringify({ type: 'subscribe', data: { events: ['webhook-event'], batch: true } })),
    );
  });
  return { pushes, close: () => ws.close() };
}

/** Waits until every accepted request's push arrived (or the time is up) and records the arrivals. */
async function collectPushes(
  client: { pushes: Map<string, number>; close(): void },
  sent: SentRequest[],
  timeoutMs: number,
): Promise<number> {
  const expected = sent.filter((s) => s.status >= 200 && s.status < 300 && s.dedupKey);
  const deadline = performance.now() + timeoutMs;
  while (expected.some((s) => !client.pushes.has(s.dedupKey)) && performance.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 100));
  client.close();
  for (const request of expected) request.pushedAt = client.pushes.get(request.dedupKey);
  return expected.filter((s) => s.pushedAt === undefined).length;
}

/**
 * The dedup key ingest will give a single-event request to a provider-wide endpoint: the provider
 * module's, scoped to the system owner.
 */
function dedupKeyOf(provider: ProviderName, request: SignedRequest): string {
  const events = providers[provider].parse(toWebhookRequest(request), new Date());
  return events[0] ? ownedKey(SYSTEM_OWNER, events[0].dedupKey) : '';
}

async function prepare(job: LoadJob) {
  const prepared: { provider: ProviderName; request: SignedRequest; dedupKey: string }[] = [];
  const perProvider = Math.ceil(job.requests / job.providers.length);
  const lists = await Promise.all(
    job.providers.map(async (provider) => ({
      provider,
      requests: await signedRequests(provider, perProvider, `${job.signedBase}/api/webhooks/${provider}`),
    })),
  );
  // Interleaved, so every second of the run carries every provider.
  for (let i = 0; i < perProvider; i++)
    for (const { provider, requests } of lists) {
      const request = requests[i];
      if (request) prepared.push({ provider, request, dedupKey: dedupKeyOf(provider, request) });
    }
  return prepared.slice(0, job.requests);
}

interface Answer {
  status: number;
  newConnection: boolean;
}

function send(agent: Agent, target: URL, request: SignedRequest): Promise<Answer> {
  const path = new URL(request.url).pathname;
  const body = Buffer.from(request.body);
  let newConnection = false;
  return new Promise<number>((resolve) => {
    const req = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: 'POST',
        path,
        agent,
        headers: { ...request.headers, 'Content-Length': body.length },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(0));
      },
    );
    req.on('socket', () => {
      newConnection = !req.reusedSocket;
    });
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
    req.end(body);
  }).then((status) => ({ status, newConnection }));
}

async function run(job: LoadJob): Promise<LoadResult> {
  const prepared = await prepare(job);
  const pushes = job.wsUrl ? await pushClient(job.wsUrl) : undefined;
  const withPushes = async (result: LoadResult): Promise<LoadResult> =>
    pushes
      ? { ...result, notPushed: await collectPushes(pushes, result.sent, job.pushTimeoutMs ?? 60_000) }
      : result;
  const target = new URL(job.target);
  const agent = new Agent({ keepAlive: true, maxSockets: job.connections ?? 256 });
  const sent: SentRequest[] = [];
  let errors = 0;
  const started = performance.now();
  const epochAt = (t: number) => performance.timeOrigin + t;

  if (job.mode === 'paced') {
    const rate = job.rate ?? 200;
    const total = Math.min(prepared.length, Math.round(rate * job.durationS));
    let maxSendLagMs = 0;
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      const due = started + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      maxSendLagMs = Math.max(maxSendLagMs, performance.now() - due);
      const item = prepared[i];
      if (!item) break;
      inFlight.push(
        send(agent, target, item.request).then(({ status, newConnection }) => {
          if (status < 200 || status >= 300) errors++;
          sent.push({
            provider: item.provider,
            dedupKey: item.dedupKey,
            status,
            dueAt: epochAt(due),
            latencyMs: performance.now() - due,
            newConnection,
          });
        }),
      );
    }
    await Promise.all(inFlight);
    agent.destroy();
    const elapsedS = (performance.now() - started) / 1000;
    return withPushes({ mode: job.mode, elapsedS, sent, errors, maxSendLagMs });
  }

  const deadline = started + job.durationS * 1000;
  const total = job.total ?? Number.POSITIVE_INFINITY;
  let next = 0;
  const client = async () => {
    while (performance.now() < deadline && next < total) {
      const item = prepared[next++ % prepared.length];
      if (!item) return;
      const at = performance.now();
      const { status, newConnection } = await send(agent, target, item.request);
      if (status < 200 || status >= 300) errors++;
      sent.push({
        provider: item.provider,
        dedupKey: item.dedupKey,
        status,
        dueAt: epochAt(at),
        latencyMs: performance.now() - at,
        newConnection,
      });
    }
  };
  await Promise.all(Array.from({ length: job.connections ?? 32 }, client));
  const elapsedS = (performance.now() - started) / 1000;
  agent.destroy();
  return withPushes({ mode: job.mode, elapsedS, sent, errors, maxSendLagMs: 0 });
}

const job = JSON.parse(process.argv[2] ?? '{}') as LoadJob;
const result = await run(job);
writeFileSync(job.out, JSON.stringify(result));
