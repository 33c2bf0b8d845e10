import { sha256Hex } from './crypto';
import type { ProviderName } from './envelope';
import { keepRequest } from './kept-request';
import { logger } from './observability';
import { ownedKey } from './owner';
import type { WebhookRequest } from './providers/types';
import type { Broadcaster } from './realtime/broadcaster';
import { deliveryPush } from './realtime/delivery-push';
import type { EventLog } from './stores/event-log';
import type { PayloadStore } from './stores/payload-store';

/**
 * The quarantine: a verified delivery that is not what the provider's parser expects (or that SQS
 * refused as the sender's fault) is not refused, since the provider would retry it and then drop
 * it. It is kept whole instead: the raw request (headers, byte-exact body) in the payload store,
 * and an event log entry `quarantined` with the reason, owned like any delivery, listed and pushed
 * like one. A replay re-parses the kept request (shared/api/quarantine-replay.ts) once the parser
 * is fixed. The provider gets a 2xx.
 */

export interface QuarantinedDelivery {
  provider: ProviderName;
  ownerId: string;
  configId?: string;
  /** Why the parser (or SQS) refused it. */
  reason: string;
  receivedAt: Date;
  /** This acceptance's id: the entry's receipt. */
  acceptanceId: string;
}

export interface QuarantineDeps {
  payloads: Pick<PayloadStore, 'putQuarantined'>;
  eventLog: Pick<EventLog, 'quarantine'>;
  /** Pushes the quarantined delivery to its owner's dashboards and operators'. */
  broadcaster?: Pick<Broadcaster, 'broadcast'>;
}

/**
 * The event log id of a quarantined request: its owner, provider, config and body, so that the
 * provider's retries of the same body are one entry (with one receipt each).
 */
export function quarantineKey(
  delivery: Pick<QuarantinedDelivery, 'provider' | 'ownerId' | 'configId'>,
  body: Buffer,
): string {
  const config = delivery.configId === undefined ? '' : `${delivery.configId}:`;
  return ownedKey(delivery.ownerId, `${delivery.provider}:quarantine:${config}${sha256Hex(body)}`);
}

export class Quarantine {
  constructor(private readonly deps: QuarantineDeps) {}

  /** Keeps the request and logs it quarantined; returns its event log id. Throws if either store fails. */
  async park(request: WebhookRequest, delivery: QuarantinedDelivery): Promise<string> {
    const key = quarantineKey(delivery, request.body);
    const rawRef = await this.deps.payloads.putQuarantined(
      delivery.provider,
      key,
      keepRequest(request),
      delivery.receivedAt,
    );
    const eventType = eventTypeHint(request);
    await this.deps.eventLog.quarantine({
      key,
      provider: delivery.provider,
      ownerId: delivery.ownerId,
      configId: delivery.configId,
      eventType,
      reason: delivery.reason,
      rawRef,
      bodyBytes: request.body.length,
      receivedAt: delivery.receivedAt,
      acceptanceId: delivery.acceptanceId,
    });
    logger.warn('delivery quarantined', { provider: delivery.provider, id: key, reason: delivery.reason });
    // The delivery is kept: a push that fails is only logged.
    await this.deps.broadcaster
      ?.broadcast(
        deliveryPush(
          {
            id: key,
            provider: delivery.provider,
            eventType,
            receivedAt: delivery.receivedAt.toISOString(),
            ownerId: delivery.ownerId,
            configId: delivery.configId,
          },
          { status: 'quarantined', errorCategory: 'validation', errorMessage: delivery.reason },
          delivery.receivedAt,
        ),
      )
      .catch((error: unknown) => logger.warn('live push failed', { error: error as Error }));
    return key;
  }
}

/** What a request says it is, when it says so in a header (a Shopify topic, a Salesforce event type). */
function eventTypeHint(request: WebhookRequest): string | undefined {
  const hint = request.headers['x-shopify-topic'] ?? request.headers['x-salesforce-event-type'];
  return hint && hint.length <= 200 ? hint : undefined;
}
