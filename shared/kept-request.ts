import type { WebhookRequest } from './providers/types';
import type { PayloadRef, PayloadStore } from './stores/payload-store';
import * as z from './zod-mini';

/*
 * A quarantined request as the payload store keeps it (shared/quarantine.ts writes it, a replay
 * reads it back): apart from the logger-free modules, so the management API and tests can read it.
 */

/** Headers a parser never needs that must not be kept: credentials. */
const SECRET_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization']);

/** What is kept of a request: enough for the provider's parser to read it again. */
const keptRequestSchema = z.object({
  url: z.string(),
  method: z.string(),
  headers: z.record(z.string(), z.string()),
  /** The body's bytes, base64. */
  body: z.string(),
  sourceIp: z.string(),
});

export type KeptRequest = z.infer<typeof keptRequestSchema>;

/** What is kept of a request: its headers but credentials, and its bytes. */
export function keepRequest(request: WebhookRequest): KeptRequest {
  return {
    url: request.url,
    method: request.method,
    headers: Object.fromEntries(
      Object.entries(request.headers).filter(([name]) => !SECRET_HEADERS.has(name)),
    ),
    body: request.body.toString('base64'),
    sourceIp: request.sourceIp,
  };
}

/** A kept request, as the provider's parser reads a live one. */
export async function keptRequest(
  payloads: Pick<PayloadStore, 'get'>,
  ref: PayloadRef,
): Promise<WebhookRequest> {
  const kept = keptRequestSchema.parse(await payloads.get(ref));
  return { ...kept, body: Buffer.from(kept.body, 'base64') };
}
