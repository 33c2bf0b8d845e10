import { type Statistics, statisticsOf } from '../api/status';
import { mapLimited } from '../concurrency';
import type { ProviderName } from '../envelope';
import { errorRate, outcomesOf } from '../metrics/outcomes';
import { logger } from '../observability';
import {
  configMinuteCounter,
  type MetricCounters,
  type MinuteCounts,
  minuteOf,
} from '../stores/metric-counters';
import type { WebhookConfig, WebhookConfigStore } from '../stores/webhook-configs';
import type { Broadcaster, BroadcastSummary } from './broadcaster';
import { type ServerMessage, serverMessage } from './messages';
import { audienceOf, type Subscriber, wants } from './subscriptions';

export const METRICS_PUSH_TYPE = 'webhook-metrics-update' as const;

/** The window of every push: this many minute buckets, the one in progress included. */
export const DEFAULT_WINDOW_MINUTES = 15;
/** Config and counter queries in flight at once. */
export const DEFAULT_READ_CONCURRENCY = 8;
/** Pushes in flight at once (each posts to its user's connections, 25 at a time). */
export const DEFAULT_PUSH_CONCURRENCY = 4;

/**
 * One provider's figures over some minutes, as the status API and the alert rules count them
 * (statisticsOf, shared/metrics/outcomes.ts): an event counts once, by how it ended, processed
 * (successful) or dead-lettered (failed); retried attempts and duplicate deliveries are not events.
 * Rates are percentages with one decimal; with no events the success rate is 100 and the error rate 0.
 */
export interface MetricFigures extends Statistics {
  /** Percent of events dead-lettered. */
  error_rate: number;
}

/**
 * The data of a `webhook-metrics-update` push: one provider of one user, over that user's own
 * configs of the provider only. `userId` and `provider` are also what routes it (audienceOf): only
 * the user's connections subscribed to the type get it, narrowed by their `providers` filter.
 */
export interface MetricsUpdate {
  userId: string;
  provider: ProviderName;
  /** The user's configs of this provider the figures add up. */
  configIds: string[];
  /** `lastMinute` covers this minute (`YYYY-MM-DDTHH:MM`, UTC): the last complete one. */
  minute: string;
  lastMinute: MetricFigures;
  /** `window` covers the minutes `windowFrom` to `windowTo` inclusive, the one in progress last. */
  windowMinutes: number;
  windowFrom: string;
  windowTo: string;
  window: MetricFigures;
}

export interface MetricsPushDeps {
  connections: { subscribedTo(type: typeof METRICS_PUSH_TYPE): Promise<Subscriber[]> };
  configs: Pick<WebhookConfigStore, 'listByUser'>;
  counters: Pick<MetricCounters, 'read'>;
  broadcaster: Pick<Broadcaster, 'broadcast'>;
  now: () => Date;
  windowMinutes?: number;
  readConcurrency?: number;
  pushConcurrency?: number;
}

/**
 * What one run did. Reads: one scan, `users` config queries, `configs` counter queries, and the
 * broadcaster's query of the user's connections per push.
 */
export interface MetricsPushSummary extends BroadcastSummary {
  /** Distinct users with a connection subscribed to the metrics push. */
  users: number;
  /** Their configs whose figures a connection wants, one counter query each. */
  configs: number;
  /** Pushes sent: one per user and provider of the user's configs that a connection of theirs wants. */
  pushes: number;
  /** Users or providers left out of this run because a read failed (logged; the next run retries). */
  skipped: number;
}

type Bucket = { minute: string; counts: MinuteCounts };

/**
 * The minute metrics push. Finds the users with a connection subscribed to
 * `webhook-metrics-update` (one scan), reads each user's configs (byUser) and each config's minute
 * counters over the window, and sends every user one push per provider of their configs, addressed
 * to that user (see MetricsUpdate) through the broadcaster, which keeps it to the user's connections
 * and their filters. Users with no config get nothing. Reads and pushes run with bounded
 * concurrency; a failed read skips that user (or provider) for this run only.
 */
export async function pushMetrics(deps: MetricsPushDeps): Promise<MetricsPushSummary> {
  const now = deps.now();
  const windowMinutes = Math.max(1, Math.floor(deps.windowMinutes ?? DEFAULT_WINDOW_MINUTES));
  const readConcurrency = deps.readConcurrency ?? DEFAULT_READ_CONCURRENCY;
  const range = {
    minute: minuteOf(new Date(now.getTime() - 60_000)),
    from: minuteOf(new Date(now.getTime() - (windowMinutes - 1) * 60_000)),
    to: minuteOf(now),
  };
  const summary: MetricsPushSummary = {
    users: 0,
    configs: 0,
    pushes: 0,
    skipped: 0,
    delivered: 0,
    gone: 0,
    failed: 0,
  };

  const subscribers = await deps.connections.subscribedTo(METRICS_PUSH_TYPE);
  const connectionsOf = new Map<string, Subscriber[]>();
  for (const subscriber of subscribers) {
    const own = connectionsOf.get(subscriber.userId) ?? [];
    own.push(subscriber);
    connectionsOf.set(subscriber.userId, own);
  }
  const users = [...connectionsOf.keys()].sort();
  summary.users = users.length;

  const configsOfUsers = await mapLimited(users, readConcurrency, (userId) =>
    deps.configs.listByUser(userId).catch((error: unknown) => {
      logger.warn('metrics push: could not list the configs of a user', { userId, error: error as Error });
      summary.skipped++;
      return [] as WebhookConfig[];
    }),
  );
  // One push per user and provider, kept only if a connection of the scan wants it (its providers
  // filter may leave the provider out): then neither its counters are read nor the broadcaster
  // queries the user's connections to find nobody.
  const groups = users.flatMap((userId, index) =>
    byProvider(configsOfUsers[index] ?? []).flatMap(([provider, configs]) => {
      const audience = audienceOf(serverMessage(METRICS_PUSH_TYPE, { userId, provider }));
      const wanted = (connectionsOf.get(userId) ?? []).some((subscriber) =>
        wants(subscriber, METRICS_PUSH_TYPE, audience),
      );
      return wanted ? [{ userId, provider, configs }] : [];
    }),
  );
  const configs = groups.flatMap((group) => group.configs);
  summary.configs = configs.length;

  const bucketsOf = new Map<string, Bucket[] | undefined>();
  await mapLimited(configs, readConcurrency, async (config) => {
    const buckets = await deps.counters
      .read(configMinuteCounter(config.id), range.from, range.to)
      .catch((error: unknown) => {
        logger.warn('metrics push: could not read the counters of a config', {
          configId: config.id,
          error: error as Error,
        });
        return undefined;
      });
    bucketsOf.set(config.id, buckets);
  });

  const messages: ServerMessage<typeof METRICS_PUSH_TYPE>[] = [];
  for (const { userId, provider, configs: own } of groups) {
    const buckets = own.map((config) => bucketsOf.get(config.id));
    if (buckets.some((found) => found === undefined)) {
      summary.skipped++;
      continue;
    }
    const data = metricsUpdate(userId, provider, own, buckets.flat() as Bucket[], range, windowMinutes);
    messages.push(serverMessage(METRICS_PUSH_TYPE, data, now));
  }

  summary.pushes = messages.length;
  await mapLimited(messages, deps.pushConcurrency ?? DEFAULT_PUSH_CONCURRENCY, async (message) => {
    const result = await deps.broadcaster.broadcast(message).catch((error: unknown) => {
      logger.warn('metrics push failed', { error: error as Error });
      return { delivered: 0, gone: 0, failed: 1 };
    });
    summary.delivered += result.delivered;
    summary.gone += result.gone;
    summary.failed += result.failed;
  });
  return summary;
}

/** A user's configs grouped by provider, providers in alphabetical order. */
function byProvider(configs: readonly WebhookConfig[]): [ProviderName, WebhookConfig[]][] {
  const groups = new Map<ProviderName, WebhookConfig[]>();
  for (const config of configs) groups.set(config.provider, [...(groups.get(config.provider) ?? []), config]);
  return [...groups.entries()].sort(([a], [b]) => a.localeCompare(b));
}

function figuresOf(buckets: readonly Bucket[]): MetricFigures {
  const errors = errorRate(outcomesOf(buckets)) ?? 0;
  return { ...statisticsOf(buckets), error_rate: Math.round(errors * 10) / 10 };
}

function metricsUpdate(
  userId: string,
  provider: ProviderName,
  configs: readonly WebhookConfig[],
  buckets: readonly Bucket[],
  range: { minute: string; from: string; to: string },
  windowMinutes: number,
): MetricsUpdate {
  return {
    userId,
    provider,
    configIds: configs.map((config) => config.id),
    minute: range.minute,
    lastMinute: figuresOf(buckets.filter((bucket) => bucket.minute === range.minute)),
    windowMinutes,
    windowFrom: range.from,
    windowTo: range.to,
    window: figuresOf(buckets),
  };
}
