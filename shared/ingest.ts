import { type Envelope, envelopeSchema, type Priority } from './envelope';
import { MethodNotAllowedError, PayloadTooLargeError, UnsupportedMediaTypeError } from './errors';
import { priorityOf } from './priority';
import type { VerifySettings, WebhookProvider, WebhookRequest } from './providers/types';
import type { EnvelopePublisher } from './queue/publisher';

export interface IngestDeps {
  provider: WebhookProvider;
  /** Accepted signing secrets, current first (rotation keeps the previous one valid). */
  secrets: () => Promise<readonly string[]>;
  /** Provider-specific verification settings besides the secrets (public key, audience, org id...). */
  settings?: Omit<VerifySettings, 'secrets'>;
  publisher: EnvelopePublisher;
  maxBodyBytes: number;
  priorities?: Readonly<Record<string, Priority>>;
  now?: () => Date;
}

export interface IngestResult {
  accepted: number;
  deliveryIds: string[];
}

/**
 * The whole ingest hot path: cheap checks, signature, parse, route, enqueue. It returns only after
 * every envelope is in SQS, so a 2xx never loses an event; any failure throws and the provider retries.
 */
export async function ingest(deps: IngestDeps, request: WebhookRequest): Promise<IngestResult> {
  if (request.method !== 'POST') throw new MethodNotAllowedError(['POST']);
  if (request.body.length > deps.maxBodyBytes) throw new PayloadTooLargeError(deps.maxBodyBytes);
  assertMediaType(request, deps.provider.mediaTypes);

  const settings: VerifySettings = { ...deps.settings, secrets: await deps.secrets() };
  if (settings.secrets.length === 0 && !settings.publicKey) {
    throw new Error(`No signing secret or key configured for ${deps.provider.name}`);
  }
  const now = deps.now?.() ?? new Date();
  await deps.provider.verify(request, settings, now);

  const envelopes: Envelope[] = deps.provider.parse(request, now).map((event) =>
    envelopeSchema.parse({
      version: 1,
      provider: deps.provider.name,
      priority: priorityOf(deps.provider.name, event.eventType, deps.priorities),
      receivedAt: now.toISOString(),
      ...event,
    }),
  );
  await deps.publisher.publish(envelopes);
  return { accepted: envelopes.length, deliveryIds: [...new Set(envelopes.map((e) => e.deliveryId))] };
}

function assertMediaType(request: WebhookRequest, accepted: readonly string[]): void {
  const header = request.headers['content-type'];
  // Providers always send one; a missing header is tolerated so hand-made test requests still work.
  if (!header) return;
  const mediaType = header.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  if (!accepted.includes(mediaType)) throw new UnsupportedMediaTypeError(accepted.join(' or '));
}
