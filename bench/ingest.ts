/**
 * The ingest hot path in-process: the production `ingest()` with the real provider module (verify,
 * parse, envelope schema) publishing to an in-memory port, against a baseline measured in the same
 * run on the same bodies: the bare signature check (one HMAC-SHA256 and a constant-time compare)
 * plus `JSON.parse`. The ratio says how much of the physical minimum the production path keeps.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { SignedRequest } from '../bin/samples';
import type { Envelope, ProviderName } from '../shared/envelope';
import { type IngestDeps, ingest } from '../shared/ingest';
import { providers } from '../shared/providers/registry';
import type { WebhookRequest } from '../shared/providers/types';
import { BENCH_ORG_ID, BENCH_SECRETS, signedRequests, toWebhookRequest } from './lib/requests';
import { round } from './lib/stats';

export interface IngestBenchRow {
  provider: ProviderName;
  /** Distinct signed requests cycled through. */
  samples: number;
  meanBodyBytes: number;
  ingestOpsPerSec: number;
  baselineOpsPerSec: number;
  /** ingest / baseline: 1 would mean the production path costs no more than the bare check. */
  ratio: number;
  /** Mean time of one production ingest call, microseconds. */
  ingestMicros: number;
  envelopesPublished: number;
}

const URL_BASE = 'https://webhooks.example.com/prod';
const SAMPLES = 200;

type Op = (request: WebhookRequest) => Promise<unknown>;

/** The bare check each provider's signature scheme reduces to, then JSON.parse of the body. */
const BASELINES: Record<ProviderName, (secret: string) => Op> = {
  shopify: (secret) => async (request) => {
    const expected = createHmac('sha256', secret).update(request.body).digest();
    const given = Buffer.from(request.headers['x-shopify-hmac-sha256'] ?? '', 'base64');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new Error('bad hmac');
    return JSON.parse(request.body.toString('utf8'));
  },
  hubspot: (secret) => async (request) => {
    const timestamp = request.headers['x-hubspot-request-timestamp'] ?? '';
    const expected = createHmac('sha256', secret)
      .update(`${request.method}${request.url}${request.body.toString('utf8')}${timestamp}`)
      .digest();
    const given = Buffer.from(request.headers['x-hubspot-signature-v3'] ?? '', 'base64');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new Error('bad hmac');
    return JSON.parse(request.body.toString('utf8'));
  },
  // HS256: the HMAC of the JWS signing input, nothing else (no claim checks).
  salesforce: (secret) => async (request) => {
    const token = (request.headers.authorization ?? '').slice('Bearer '.length);
    const dot = token.lastIndexOf('.');
    const expected = createHmac('sha256', secret).update(token.slice(0, dot)).digest();
    const given = Buffer.from(token.slice(dot + 1), 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new Error('bad hmac');
    return JSON.parse(request.body.toString('utf8'));
  },
};

/** Calls `op` over the requests, round-robin, for about `ms` milliseconds; returns ops/s. */
async function measure(op: Op, requests: readonly WebhookRequest[], ms: number): Promise<number> {
  let done = 0;
  const started = performance.now();
  const deadline = started + ms;
  while (performance.now() < deadline) {
    // 100 calls between clock reads, so reading the clock costs nothing measurable.
    for (let i = 0; i < 100; i++) await op(requests[(done + i) % requests.length] as WebhookRequest);
    done += 100;
  }
  return done / ((performance.now() - started) / 1000);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

export async function benchIngest(options: { roundMs: number; rounds: number }): Promise<IngestBenchRow[]> {
  const rows: IngestBenchRow[] = [];
  for (const name of ['shopify', 'hubspot', 'salesforce'] as const) {
    const url = `${URL_BASE}/api/webhooks/${name}`;
    const signed: SignedRequest[] = await signedRequests(name, SAMPLES, url);
    const requests = signed.map(toWebhookRequest);
    let published = 0;
    const deps: IngestDeps = {
      provider: providers[name],
      secrets: async () => [BENCH_SECRETS[name]],
      settings: { orgId: BENCH_ORG_ID, acceptLegacySignatures: true },
      publisher: {
        publish: async (envelopes: readonly Envelope[]) => {
          published += envelopes.length;
        },
      },
      maxBodyBytes: 4 * 1024 * 1024,
    };
    const production: Op = (request) => ingest(deps, request);
    const baseline = BASELINES[name](BENCH_SECRETS[name]);
    // Both must accept every sample, or the comparison is meaningless.
    for (const request of requests) {
      await production(request);
      await baseline(request);
    }
    // Warm-up (JIT), then alternate rounds so drift in machine load hits both sides alike.
    await measure(production, requests, options.roundMs / 2);
    await measure(baseline, requests, options.roundMs / 2);
    const ingestRounds: number[] = [];
    const baselineRounds: number[] = [];
    for (let r = 0; r < options.rounds; r++) {
      baselineRounds.push(await measure(baseline, requests, options.roundMs));
      ingestRounds.push(await measure(production, requests, options.roundMs));
    }
    const ingestOps = median(ingestRounds);
    const baselineOps = median(baselineRounds);
    rows.push({
      provider: name,
      samples: requests.length,
      meanBodyBytes: Math.round(requests.reduce((sum, r) => sum + r.body.length, 0) / requests.length),
      ingestOpsPerSec: Math.round(ingestOps),
      baselineOpsPerSec: Math.round(baselineOps),
      ratio: round(ingestOps / baselineOps, 3),
      ingestMicros: round(1e6 / ingestOps, 1),
      envelopesPublished: published,
    });
  }
  return rows;
}
