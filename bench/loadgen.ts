/**
 * The load generator, run as its own process so it does not share an event loop (or a core's time
 * slices more than the OS decides) with the stack it measures. Reads its job from argv[2] (JSON),
 * writes its result as JSON to the job's `out` file.
 *
 * - `paced`: open loop, request i is due at start + i/rate. Latency is measured from the due time,
 *   not the send time, so a stalled server cannot hide its queueing (no coordinated omission).
 * - `closed`: `connections` clients each send their next request as soon as the previous answer
 *   arrives, for `durationS`: the peak throughput.
 */
import { writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
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
}

export interface LoadResult {
  mode: LoadJob['mode'];
  elapsedS: number;
  sent: SentRequest[];
  errors: number;
  /** paced: the largest delay between a request's due time and its actual send, ms. */
  maxSendLagMs: number;
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

function send(agent: Agent, target: URL, request: SignedRequest): Promise<number> {
  const path = new URL(request.url).pathname;
  const body = Buffer.from(request.body);
  return new Promise((resolve) => {
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
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

async function run(job: LoadJob): Promise<LoadResult> {
  const prepared = await prepare(job);
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
        send(agent, target, item.request).then((status) => {
          if (status < 200 || status >= 300) errors++;
          sent.push({
            provider: item.provider,
            dedupKey: item.dedupKey,
            status,
            dueAt: epochAt(due),
            latencyMs: performance.now() - due,
          });
        }),
      );
    }
    await Promise.all(inFlight);
    agent.destroy();
    return { mode: job.mode, elapsedS: (performance.now() - started) / 1000, sent, errors, maxSendLagMs };
  }

  const deadline = started + job.durationS * 1000;
  let next = 0;
  const client = async () => {
    while (performance.now() < deadline) {
      const item = prepared[next++ % prepared.length];
      if (!item) return;
      const at = performance.now();
      const status = await send(agent, target, item.request);
      if (status < 200 || status >= 300) errors++;
      sent.push({
        provider: item.provider,
        dedupKey: item.dedupKey,
        status,
        dueAt: epochAt(at),
        latencyMs: performance.now() - at,
      });
    }
  };
  await Promise.all(Array.from({ length: job.connections ?? 32 }, client));
  const elapsedS = (performance.now() - started) / 1000;
  agent.destroy();
  return { mode: job.mode, elapsedS, sent, errors, maxSendLagMs: 0 };
}

const job = JSON.parse(process.argv[2] ?? '{}') as LoadJob;
const result = await run(job);
writeFileSync(job.out, JSON.stringify(result));
