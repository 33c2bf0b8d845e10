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

/** PutEvents takes at most 10 entries per call, of at most 256 KiB together. */
const MAX_ENTRIES = 10;
const MAX_REQUEST_BYTES = 256 * 1024;

/** An entry's size as EventBridge counts it: source, detail type and detail in UTF-8, plus 14 for its time. */
function entrySize(event: BusEvent): number {
  return (
    Buffer.byteLength(event.source) +
    Buffer.byteLength(event.detailType) +
    Buffer.byteLength(JSON.stringify(event.detail)) +
    14
  );
}

/**
 * Events packed into PutEvents requests, in order: at most 10 a request and 256 KiB together (an
 * event larger than that on its own goes alone, and EventBridge refuses it).
 */
export function putEventsBatches<T extends BusEvent>(events: readonly T[]): T[][] {
  const batches: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const event of events) {
    const size = entrySize(event);
    if (current.length > 0 && (current.length === MAX_ENTRIES || bytes + size > MAX_REQUEST_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(event);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** Publishes to an EventBridge custom bus. A partly failed PutEvents fails the whole publish. */
export class EventBridgePublisher implements DomainEventPublisher {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly eventBusName: string,
  ) {}

  async publish(events: readonly BusEvent[]): Promise<void> {
    for (const chunk of putEventsBatches(events)) {
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
