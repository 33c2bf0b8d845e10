import type { Priority } from '../envelope';
import { BadRequestError, HttpError } from '../errors';
import { sourceOf, toEnvelopes } from '../ingest';
import { keptRequest } from '../kept-request';
import { providerNamed } from '../providers/registry';
import type { EnvelopePublisher } from '../queue/publisher';
import type { EventLog, StoredEvent } from '../stores/event-log';
import type { PayloadStore } from '../stores/payload-store';
import type { WebhookConfigStore } from '../stores/webhook-configs';

export interface ReleaseDeps {
  events: Pick<EventLog, 'receive' | 'release'>;
  /** Where quarantined requests are kept. */
  payloads?: Pick<PayloadStore, 'get'>;
  publisher: EnvelopePublisher;
  /** The delivery's config, for its `events` and limits (as ingest applies them). */
  configs: Pick<WebhookConfigStore, 'getOwned'>;
  /** The priority overrides ingest applies (PRIORITY_OVERRIDES). */
  priorities?: Readonly<Record<string, Priority>>;
  now: () => Date;
}

/**
 * A replay of a quarantined delivery: its kept request is parsed again, by today's parser, into the
 * deliveries ingest would have made of it (owner, config, events filter, priorities; received when
 * it was), which are enqueued and carry its receipts; the quarantined entry becomes `released`.
 * Every step can be repeated: SQS and the event log deduplicate, receipts are ids. A parser that
 * still refuses it leaves it quarantined (409 with the parser's reason).
 */
export async function releaseQuarantined(
  deps: ReleaseDeps,
  item: StoredEvent & { userId: string },
): Promise<number> {
  const provider = providerNamed(item.provider ?? '');
  if (!provider || !item.rawRef || !deps.payloads || !item.receivedAt)
    throw new HttpError(409, 'not_replayable', 'The quarantined request is not kept');
  const request = await keptRequest(deps.payloads, item.rawRef).catch((error: unknown) => {
    if ((error as Error)?.name === 'NoSuchKey')
      throw new HttpError(
        409,
        'payload_not_retained',
        'The quarantined request has expired (payloadRetentionDays)',
      );
    throw error;
  });
  const receivedAt = new Date(item.receivedAt);
  let events: ReturnType<typeof provider.parse>;
  try {
    events = provider.parse(request, receivedAt);
  } catch (error) {
    if (error instanceof BadRequestError)
      throw new HttpError(409, 'still_unparseable', `The parser still refuses it: ${error.message}`);
    throw error;
  }
  const config = item.configId ? await deps.configs.getOwned(item.configId, item.userId) : undefined;
  const wanted = config ? events.filter((event) => config.events.includes(event.eventType)) : events;
  const envelopes = toEnvelopes(provider.name, wanted, {
    ownerId: item.userId,
    config,
    priorities: deps.priorities,
    source: sourceOf(provider, request),
    now: receivedAt,
  });
  if (envelopes.length > 0) await deps.publisher.publish(envelopes);
  // Each acceptance of the request was one of each of its deliveries.
  const receipts = item.receipts?.size ? [...item.receipts] : [item.pk];
  const now = deps.now();
  for (const envelope of envelopes) await deps.events.receive(envelope, receipts, now);
  await deps.events.release(item.pk, envelopes.length, now);
  return envelopes.length;
}
