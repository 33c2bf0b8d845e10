import { createHash } from 'node:crypto';
import * as z from 'zod';
import { PRIORITIES, PROVIDER_NAMES } from './envelope-values';
import { SYSTEM_OWNER } from './owner';

export { PRIORITIES, PROVIDER_NAMES, type Priority, type ProviderName } from './envelope-values';

/**
 * Messages enqueued before envelopes named their owner carry the config owner's `userId` (per-config
 * endpoints) or nothing (provider-wide endpoints): they keep that owner.
 */
function withOwner(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || 'ownerId' in value) return value;
  const { userId } = value as { userId?: unknown };
  return { ...value, ownerId: typeof userId === 'string' && userId !== '' ? userId : SYSTEM_OWNER };
}

/**
 * The normalized message that travels from ingest to the processors. One envelope per business
 * event: provider batches are split before they are enqueued.
 */
const envelopeObject = z
  .object({
    version: z.literal(1),
    provider: z.enum(PROVIDER_NAMES),
    eventType: z.string().min(1),
    objectType: z.string().min(1),
    /** The provider's id exactly as sent (a string, never a rounded JS number). */
    objectId: z.string().min(1),
    /** Source time of the change; monotonic upserts compare it. */
    occurredAt: z.iso.datetime({ offset: true }),
    deliveryId: z.string().min(1),
    /** Unique per delivery and owner (`<owner>:<provider key>`); the event log and SQS deduplicate on it. */
    dedupKey: z.string().min(1),
    /** Events sharing it are processed in order (SQS message group); owner-scoped like dedupKey. */
    orderingKey: z.string().min(1),
    priority: z.enum(PRIORITIES),
    receivedAt: z.iso.datetime({ offset: true }),
    meta: z.record(z.string(), z.string()),
    /** The event body; absent when it was too large for SQS and sits in S3 at `payloadRef`. */
    payload: z.unknown().optional(),
    payloadRef: z.object({ bucket: z.string().min(1), key: z.string().min(1) }).optional(),
    /** Who owns the delivery: the config's user, or the system owner for provider-wide endpoints. */
    ownerId: z.string().min(1),
    /** The webhook config whose endpoint received it (per-config endpoints only). */
    configId: z.string().min(1).optional(),
    /**
     * The config's processing limits (absent: the system's): failed attempts of the delivery's own
     * after the first before it is dead-lettered (`retry_attempts`), and the longest one attempt
     * may take (`timeout_ms`).
     */
    limits: z
      .object({ retryAttempts: z.number().int().min(0).max(100), timeoutMs: z.number().int().min(1) })
      .optional(),
    /**
     * Where the delivery came from, as the seed's webhook_events records it: the source IP, the
     * User-Agent, and the signature header's value (a MAC of this body, not a secret; of a bearer
     * token only its signature part, since the whole token is a credential while it is valid).
     */
    source: z
      .object({
        ip: z.string().max(64),
        userAgent: z.string().max(512).optional(),
        signature: z.string().max(512).optional(),
      })
      .optional(),
    /**
     * Set on a replay requested through the API: the delivery is applied again even if it was
     * processed (once per replay id), and SQS must not drop it as a duplicate of the original.
     */
    replay: z.object({ id: z.string().min(1), requestedAt: z.iso.datetime({ offset: true }) }).optional(),
  })
  .refine((envelope) => envelope.payload !== undefined || envelope.payloadRef !== undefined, {
    message: 'An envelope carries its payload or a pointer to it',
    path: ['payload'],
  });

export const envelopeSchema = z.preprocess(withOwner, envelopeObject);

export type Envelope = z.infer<typeof envelopeObject>;

const SQS_ID = /^[\x21-\x7e]{1,128}$/;

/** The SQS deduplication key: the delivery's, or for a replay, one of its own. */
export function sqsDedupKeyOf(envelope: Envelope): string {
  return envelope.replay ? `${envelope.dedupKey}#replay#${envelope.replay.id}` : envelope.dedupKey;
}

/** SQS group and deduplication ids allow 128 printable ASCII characters; longer keys are hashed. */
export function toSqsId(key: string): string {
  return SQS_ID.test(key) ? key : createHash('sha256').update(key).digest('hex');
}
