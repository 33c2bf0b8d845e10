import type { SQSRecord } from 'aws-lambda';
import { envelopeSchema, PROVIDER_NAMES } from '../envelope';
import { ValidationError } from '../errors';
import { SYSTEM_OWNER } from '../owner';
import { type DeliveryFields, deliveryFields } from '../realtime/delivery-push';
import type { FailedDelivery } from '../stores/event-log';

export interface ReadDelivery extends FailedDelivery {
  /** The provider for counters and metrics: the envelope's, or `unknown` for an unreadable message. */
  provider: string;
  /** The owner for counters: the envelope's, the one an unreadable message names, or the system. */
  ownerId: string;
  invalid?: ValidationError;
}

/** The envelope in an SQS message, or what the log can say about a body that is not one. */
export function readDelivery(record: Pick<SQSRecord, 'body' | 'messageId' | 'attributes'>): ReadDelivery {
  const body = safeJson(record.body);
  const parsed = envelopeSchema.safeParse(body);
  if (parsed.success)
    return {
      key: parsed.data.dedupKey,
      envelope: parsed.data,
      provider: parsed.data.provider,
      ownerId: parsed.data.ownerId,
    };
  const fields = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const text = (name: string) => {
    const value = fields[name];
    return typeof value === 'string' && value.length > 0 && value.length <= 512 ? value : undefined;
  };
  const provider = text('provider');
  const ownerId = text('ownerId') ?? text('userId');
  const issue = parsed.error.issues[0];
  return {
    key: text('dedupKey') ?? `sqs:${record.attributes.MessageDeduplicationId ?? record.messageId}`,
    raw: {
      provider,
      eventType: text('eventType'),
      objectType: text('objectType'),
      objectId: text('objectId'),
      deliveryId: text('deliveryId'),
      ownerId,
    },
    provider: provider && (PROVIDER_NAMES as readonly string[]).includes(provider) ? provider : 'unknown',
    ownerId: ownerId ?? SYSTEM_OWNER,
    invalid: new ValidationError(
      body === undefined
        ? 'Invalid envelope: the message body is not JSON'
        : `Invalid envelope: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'rejected'}`,
    ),
  };
}

/** What a push can say about a delivery: its envelope's fields, or an unreadable message's. */
export function fieldsOf(delivery: ReadDelivery): DeliveryFields {
  if (delivery.envelope) return deliveryFields(delivery.envelope);
  return { id: delivery.key, ...definedOnly(delivery.raw ?? {}), ownerId: delivery.ownerId };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function definedOnly<T extends object>(record: T): Partial<T> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as Partial<T>;
}
