import { SAMPLE_EVENT_TYPES, type SignedRequest, signedSample } from '../../bin/samples';
import type { ProviderName } from '../../shared/envelope';
import type { WebhookRequest } from '../../shared/providers/types';

export const BENCH_SECRETS: Record<ProviderName, string> = {
  shopify: 'bench-shopify-secret',
  hubspot: 'bench-hubspot-secret',
  salesforce: 'bench-salesforce-secret',
};
export const BENCH_ORG_ID = '00D5g000004XyZ1EAK';

/**
 * Event types used by the benches: every sample type of the provider except Salesforce Outbound
 * Messages (SOAP, no signature to compare with the HMAC baseline; they are covered by the e2e tests).
 */
export function benchEventTypes(provider: ProviderName): string[] {
  return SAMPLE_EVENT_TYPES[provider].filter((type) => !type.endsWith('OutboundMessage'));
}

/** `count` distinct, correctly signed deliveries of one provider, cycling through its event types. */
export async function signedRequests(
  provider: ProviderName,
  count: number,
  url: string,
): Promise<SignedRequest[]> {
  const types = benchEventTypes(provider);
  const requests: SignedRequest[] = [];
  for (let i = 0; i < count; i++) {
    requests.push(
      await signedSample(provider, types[i % types.length] ?? '', {
        url,
        secret: BENCH_SECRETS[provider],
        orgId: BENCH_ORG_ID,
      }),
    );
  }
  return requests;
}

/** The request as the ingest core sees it (shared/http/api-gateway.ts lower-cases header names). */
export function toWebhookRequest(request: SignedRequest): WebhookRequest {
  return {
    method: 'POST',
    url: request.url,
    headers: Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), v])),
    body: Buffer.from(request.body),
    sourceIp: '127.0.0.1',
  };
}
