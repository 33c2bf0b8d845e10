import {
  type ApiGatewayManagementApiClient,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { managementApi } from '../aws';
import { mapLimited } from '../concurrency';
import { numberEnv, requireEnv } from '../env';
import { logger } from '../observability';
import { isReservedOwner } from '../owner';
import type { ConnectionStore } from '../stores/connections';
import { closeConnection } from './expiry';
import {
  batchFrames,
  type EncodedPush,
  encodePush,
  type Frame,
  type PushType,
  type ServerMessage,
} from './messages';
import { type Audience, audienceOf, type Subscriber, wants } from './subscriptions';

/** What pushes did: posted, found their connection gone (410, connection forgotten; counted once), or failed twice. */
export interface BroadcastSummary {
  delivered: number;
  gone: number;
  failed: number;
}

export interface BroadcasterOptions {
  /** Posts in flight at once per push. */
  concurrency?: number;
  /**
   * How long one query of the operators' connections subscribed to a push type serves the pushes of
   * this instance (0: a query per push). An operator who subscribes meanwhile gets pushes that much
   * later; an owner's connections are always queried afresh.
   */
  subscriberCacheMs?: number;
  /** Pause before the one retry of a post that failed with anything but 410. */
  retryDelayMs?: number;
  /** Milliseconds clock of the cache (tests). */
  now?: () => number;
}

export const DEFAULT_FANOUT_CONCURRENCY = 25;
export const DEFAULT_SUBSCRIBER_CACHE_MS = 1000;

type Outcome = keyof BroadcastSummary;

interface CachedSubscribers {
  expiresAt: number;
  subscribers: Promise<Subscriber[]>;
  /** Connections found gone since the scan. */
  gone: Set<string>;
}

/**
 * Posts server messages to WebSocket connections through the API Gateway management API.
 *
 * A push goes to the connections subscribed to its type that it is meant for (see audienceOf and
 * wants): its owner's connections (the byUser index) and operators' (the byRole index, cached for
 * `subscriberCacheMs`); a push naming no owner, or the system owner, to operators only. Posting runs
 * `concurrency` at a time; a 410 deletes the connection, any other error is retried once and then
 * counted as failed. A connection subscribed with `batch` gets the pushes sent together as one
 * `batch` message (messages.ts): one post per connection, not one per push.
 */
export class Broadcaster {
  private readonly concurrency: number;
  private readonly cacheMs: number;
  private readonly retryDelayMs: number;
  private readonly now: () => number;
  private readonly cache = new Map<PushType, CachedSubscribers>();

  constructor(
    private readonly connections: ConnectionStore,
    private readonly api: ApiGatewayManagementApiClient,
    options: BroadcasterOptions = {},
  ) {
    this.concurrency = Math.max(1, options.concurrency ?? DEFAULT_FANOUT_CONCURRENCY);
    this.cacheMs = Math.max(0, options.subscriberCacheMs ?? 0);
    this.retryDelayMs = options.retryDelayMs ?? 50;
    this.now = options.now ?? Date.now;
  }

  /** Sends to one connection; a connection that is gone (410) is forgotten. Returns false if gone. */
  async send(connectionId: string, message: ServerMessage): Promise<boolean> {
    const outcome = await this.post(connectionId, Buffer.from(JSON.stringify(message)), 1);
    return outcome === 'delivered';
  }

  /** Sends a push to every connection that wants it; see the class documentation. */
  async broadcast(
    message: ServerMessage<PushType>,
    audience: Audience = audienceOf(message),
  ): Promise<BroadcastSummary> {
    return this.deliver([{ message, audience }]);
  }

  /**
   * Sends pushes, each to every connection that wants it, as `broadcast` does one by one, but with
   * each owner's and the operators' connections looked up once for all of them; a connection gets
   * its pushes in their order.
   */
  async broadcastAll(messages: readonly ServerMessage<PushType>[]): Promise<BroadcastSummary> {
    return this.deliver(messages.map((message) => ({ message, audience: audienceOf(message) })));
  }

  private async deliver(
    pushes: readonly { message: ServerMessage<PushType>; audience: Audience }[],
  ): Promise<BroadcastSummary> {
    const lookups = new Map<string, Promise<Subscriber[]>>();
    const lookup = (key: string, find: () => Promise<Subscriber[]>) => {
      let found = lookups.get(key);
      if (!found) {
        found = find();
        lookups.set(key, found);
      }
      return found;
    };
    // Per connection, the pushes it wants, in order; a connection whose token expired gets
    // nothing more: it is closed instead (and counted gone).
    const nowSeconds = this.now() / 1000;
    // Each push is serialized and encoded once, whichever connections it goes to.
    const queues = new Map<string, { batched: boolean; pushes: EncodedPush[] }>();
    const expired = new Set<string>();
    for (const { message, audience } of pushes) {
      const { ownerId } = audience;
      const [owners, operators] = await Promise.all([
        ownerId === undefined || isReservedOwner(ownerId)
          ? []
          : lookup(`owner:${ownerId}:${message.type}`, () =>
              this.connections.subscribedOfUser(ownerId, message.type),
            ),
        lookup(`operators:${message.type}`, () => this.operatorsSubscribedTo(message.type)),
      ]);
      // An operator's own data reaches their connections once.
      const candidates = new Map([...owners, ...operators].map((target) => [target.connectionId, target]));
      const push = encodePush(message);
      for (const target of candidates.values()) {
        if (!wants(target, message.type, audience)) continue;
        if ((target.tokenExpiresAt ?? Number.POSITIVE_INFINITY) <= nowSeconds) {
          expired.add(target.connectionId);
          continue;
        }
        const queue = queues.get(target.connectionId) ?? { batched: target.batched === true, pushes: [] };
        queue.pushes.push(push);
        queues.set(target.connectionId, queue);
      }
    }
    const summary: BroadcastSummary = { delivered: 0, gone: 0, failed: 0 };
    await mapLimited([...expired], this.concurrency, async (connectionId) => {
      for (const cached of this.cache.values()) cached.gone.add(connectionId);
      await closeConnection(this.api, this.connections, connectionId).catch((error: unknown) =>
        logger.warn('could not close an expired connection', { connectionId, error: error as Error }),
      );
      summary.gone++;
    });
    const sentAt = new Date(this.now());
    await mapLimited([...queues], this.concurrency, async ([connectionId, { batched, pushes }]) => {
      const frames: Frame[] = batched
        ? batchFrames(pushes, sentAt)
        : pushes.map((push) => ({ ...push, pushes: 1 }));
      for (const frame of frames) {
        const outcome = await this.post(connectionId, frame.data, 2).catch((error: unknown) => {
          logger.warn('push failed', { connectionId, error: error as Error });
          return 'failed' as const;
        });
        // A connection found gone (and forgotten) gets nothing more.
        if (outcome === 'gone') {
          summary.gone++;
          break;
        }
        summary[outcome] += frame.pushes;
      }
    });
    if (summary.failed > 0 || summary.gone > 0)
      logger.info('push summary', {
        types: [...new Set(pushes.map(({ message }) => message.type))],
        ...summary,
      });
    return summary;
  }

  /** Posts once per attempt; 410 forgets the connection. Throws the last error otherwise. */
  private async post(connectionId: string, data: Uint8Array, attempts: number): Promise<Outcome> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.api.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }));
        return 'delivered';
      } catch (error) {
        if (error instanceof GoneException) {
          await this.forget(connectionId);
          return 'gone';
        }
        if (attempt >= attempts) throw error;
        await new Promise((resolve) => setTimeout(resolve, this.retryDelayMs));
      }
    }
  }

  private async forget(connectionId: string): Promise<void> {
    for (const cached of this.cache.values()) cached.gone.add(connectionId);
    await this.connections
      .remove(connectionId)
      .catch((error: unknown) =>
        logger.warn('could not delete a gone connection', { connectionId, error: error as Error }),
      );
  }

  /** Operators subscribed to a type, from one query shared by the pushes of the next `subscriberCacheMs`. */
  private async operatorsSubscribedTo(type: PushType): Promise<Subscriber[]> {
    if (this.cacheMs === 0) return this.connections.operatorsSubscribedTo(type);
    const now = this.now();
    let cached = this.cache.get(type);
    if (!cached || cached.expiresAt <= now) {
      const entry: CachedSubscribers = {
        expiresAt: now + this.cacheMs,
        subscribers: this.connections.operatorsSubscribedTo(type),
        gone: new Set(),
      };
      // A failed scan is not remembered: the next push scans again.
      entry.subscribers.catch(() => {
        if (this.cache.get(type) === entry) this.cache.delete(type);
      });
      this.cache.set(type, entry);
      cached = entry;
    }
    const { subscribers, gone } = cached;
    return (await subscribers).filter((subscriber) => !gone.has(subscriber.connectionId));
  }
}

/**
 * The broadcaster of a Lambda function (and the local stack): the stage's @connections endpoint
 * from WEBSOCKET_ENDPOINT, the subscriber cache from SUBSCRIBER_CACHE_MS (default 1000 ms) and the
 * fan-out concurrency from FANOUT_CONCURRENCY (default 25).
 */
export function broadcasterFromEnv(connections: ConnectionStore): Broadcaster {
  return new Broadcaster(connections, managementApi(requireEnv('WEBSOCKET_ENDPOINT')), {
    subscriberCacheMs: numberEnv('SUBSCRIBER_CACHE_MS', DEFAULT_SUBSCRIBER_CACHE_MS),
    concurrency: numberEnv('FANOUT_CONCURRENCY', DEFAULT_FANOUT_CONCURRENCY),
  });
}
