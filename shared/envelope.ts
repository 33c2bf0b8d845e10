import { createHash } from 'node:crypto';
import { PRIORITIES, PROVIDER_NAMES } from './envelope-values';
import { SYSTEM_OWNER } from './owner';
import * as z from './zod-mini';

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

const nonEmpty = () => z.string().check(z.minLength(1));

/**
 * The normalized message that travels from ingest to the processors. One envelope per business
 * event: provider batches are split before they are enqueued.
 */
const envelopeObject = z
  .object({
    version: z.literal(1),
    provider: z.enum(PROVIDER_NAMES),
    eventType: nonEmpty(),
    objectType: nonEmpty(),
    /** The provider's id exactly as sent (a string, never a rounded JS number). */
    objectId: nonEmpty(),
    /** Source time of the change; monotonic upserts compare it. */
    occurredAt: z.iso.datetime({ offset: true }),
    deliveryId: nonEmpty(),
    /** Unique per delivery and owner (`<owner>:<provider key>`); the event log and SQS deduplicate on it. */
    dedupKey: nonEmpty(),
    /** Events sharing it are processed in order (SQS message group); owner-scoped like dedupKey. */
    orderingKey: nonEmpty(),
    priority: z.enum(PRIORITIES),
    receivedAt: z.iso.datetime({ offset: true }),
    meta: z.record(z.string(), z.string()),
    /** The event body; absent when it was too large for SQS and sits in S3 at `payloadRef`. */
    payload: z.optional(z.unknown()),
    payloadRef: z.optional(z.object({ bucket: nonEmpty(), key: nonEmpty() })),
    /** Who owns the delivery: the config's user, or the system owner for provider-wide endpoints. */
    ownerId: nonEmpty(),
    /** The webhook config whose endpoint received it (per-config endpoints only). */
    configId: z.optional(nonEmpty()),
    /**
     * The config's processing limits (absent: the system's): failed attempts of the delivery's own
     * after the first before it is dead-lettered (`retry_attempts`), and the longest one attempt
     * may take (`timeout_ms`).
     */
    limits: z.optional(
      z.object({
        retryAttempts: z.int().check(z.minimum(0), z.maximum(100)),
        timeoutMs: z.int().check(z.minimum(1)),
      }),
    ),
    /**
     * Where the delivery came from, as the seed's webhook_events records it: the source IP, the
     * User-Agent, and the signature header's value (a MAC of this body, not a secret; of a bearer
     * token only its signature part, since the whole token is a credential while it is valid).
     */
    source: z.optional(
      z.object({
        ip: z.string().check(z.maxLength(64)),
        userAgent: z.optional(z.string().check(z.maxLength(512))),
        signature: z.optional(z.string().check(z.maxLength(512))),
      }),
    ),
    /**
     * Set on a replay requested through the API: the delivery is applied again even if it was
     * processed (once per replay id), and SQS must not drop it as a duplicate of the original.
     */
    replay: z.optional(z.object({ id: nonEmpty(), requestedAt: z.iso.datetime({ offset: true }) })),
  })
  .check(
    z.refine((envelope) => envelope.payload !== undefined || envelope.payloadRef !== undefined, {
      message: 'An envelope carries its payload or a pointer to it',
      path: ['payload'],
    }),
  );

export const envelopeSchema = z.pipe(z.transform(withOwner), envelopeObject);

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
