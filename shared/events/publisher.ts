import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { TransientError } from '../errors';
import type { DomainEvent } from './domain-events';

/** Where domain events go; the processor publishes through this port. */
export interface DomainEventPublisher {
  /** Resolves once every event is on the bus; rejects (a TransientError) if any one is not. */
  publish(events: readonly DomainEvent[]): Promise<void>;
}

/** Anything put on the bus: a domain event, or a notice such as the management API's AlertRulesChanged. */
export interface BusEvent {
  source: string;
  detailType: string;
  detail: unknown;
}

/** PutEvents takes at most 10 entries per call. */
const MAX_ENTRIES = 10;

/** Publishes to an EventBridge custom bus. A partly failed PutEvents fails the whole publish. */
export class EventBridgePublisher implements DomainEventPublisher {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly eventBusName: string,
  ) {}

  async publish(events: readonly BusEvent[]): Promise<void> {
    for (let start = 0; start < events.length; start += MAX_ENTRIES) {
      const chunk = events.slice(start, start + MAX_ENTRIES);
      const result = await this.client.send(
        new PutEventsCommand({
          Entries: chunk.map((event) => ({
            EventBusName: this.eventBusName,
            Source: event.source,
            DetailType: event.detailType,
            Detail: JSON.stringify(event.detail),
          })),
        }),
      );
      if ((result.FailedEntryCount ?? 0) > 0) {
        const failed = (result.Entries ?? []).find((entry) => entry.ErrorCode);
        throw new TransientError(
          `PutEvents failed for ${result.FailedEntryCount} of ${chunk.length} events` +
            (failed ? ` (${failed.ErrorCode}: ${failed.ErrorMessage ?? ''})` : ''),
        );
      }
    }
  }
}
