import { type Statistics, statisticsOf } from '../api/status';
import { mapLimited } from '../concurrency';
import type { ProviderName } from '../envelope';
import { errorRate, outcomesOf } from '../metrics/outcomes';
import { logger } from '../observability';
import { SYSTEM_OWNER } from '../owner';
import {
  type MetricCounters,
  type MinuteCounts,
  minuteOf,
  ownerMinuteCounter,
  providerCounter,
} from '../stores/metric-counters';
import type { ConfigView, WebhookConfigStore } from '../stores/webhook-configs';
import type { Broadcaster, BroadcastSummary } from './broadcaster';
import { serverMessage } from './messages';
import { audienceOf, type Subscriber, wants } from './subscriptions';

export const METRICS_PUSH_TYPE = 'webhook-metrics-update' as const;

/** The window of every push: this many minute buckets, the one in progress included. */
export const DEFAULT_WINDOW_MINUTES = 15;
/** Config and counter queries in flight at once. */
export const DEFAULT_READ_CONCURRENCY = 8;
/** Pushes in flight at once (each posts to its audience's connections, 25 at a time). */
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
 * The data of a `webhook-metrics-update` push: one provider's figures, either of one owner (`scope`
 * `owner`: a user's own configs of the provider, or the system owner's provider-wide endpoint) or of
 * every owner together (`scope` `all`, for operators). `ownerId` and `provider` are also what routes
 * it (audienceOf): an owner's push reaches the owner's connections and operators'; the all-owners
 * push names no owner and reaches operators only; both are narrowed by the `providers` filter.
 */
export interface MetricsUpdate {
  scope: 'owner' | 'all';
  /** The owner the figures are of (scope `owner` only). */
  ownerId?: string;
  provider: ProviderName;
  /** The owner's configs of this provider whose deliveries the figures add up (none for the system owner). */
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
  /** The providers this deployment serves: the system owner's and the all-owners figures cover them. */
  providers: readonly ProviderName[];
  now: () => Date;
  windowMinutes?: number;
  readConcurrency?: number;
  pushConcurrency?: number;
}

/**
 * What one run did. Reads: one scan, `users` config queries, one counter query per push, and the
 * broadcaster's queries of the owner's and operators' connections per push.
 */
export interface MetricsPushSummary extends BroadcastSummary {
  /** Distinct users with a connection subscribed to the metrics push. */
  users: number;
  /** Pushes sent (each one counter query): per owner and provider, and the operators' all-owners ones. */
  pushes: number;
  /** Users or pushes left out of this run because a read failed (logged; the next run retries). */
  skipped: number;
}

type Bucket = { minute: string; counts: MinuteCounts };

/** One push to make: whose figures, of which provider, from which counter. */
interface PlannedPush {
  data: Pick<MetricsUpdate, 'scope' | 'ownerId' | 'provider' | 'configIds'>;
  counter: string;
}

/**
 * The minute metrics push. Finds the connections subscribed to `webhook-metrics-update` (one scan).
 * Each connected user gets, per provider of their configs, their own figures (the owner's counter);
 * when an operator is connected, the system owner's figures (the provider-wide endpoints) and the
 * all-owners figures go out too, per provider of the deployment. A push nobody connected wants (the
 * `providers` filter) is neither read nor sent. Reads and pushes run with bounded concurrency; a
 * failed read skips that user (or push) for this run only.
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
  const summary: MetricsPushSummary = { users: 0, pushes: 0, skipped: 0, delivered: 0, gone: 0, failed: 0 };

  const subscribers = await deps.connections.subscribedTo(METRICS_PUSH_TYPE);
  const users = [...new Set(subscribers.map((subscriber) => subscriber.userId))].sort();
  summary.users = users.length;

  const configsOfUsers = await mapLimited(users, readConcurrency, (userId) =>
    deps.configs.listByUser(userId).catch((error: unknown) => {
      logger.warn('metrics push: could not list the configs of a user', { userId, error: error as Error });
      summary.skipped++;
      return [] as ConfigView[];
    }),
  );
  const planned: PlannedPush[] = users.flatMap((userId, index) =>
    byProvider(configsOfUsers[index] ?? []).map(([provider, configs]) => ({
      data: { scope: 'owner' as const, ownerId: userId, provider, configIds: configs.map((c) => c.id) },
      counter: ownerMinuteCounter(userId, provider),
    })),
  );
  if (subscribers.some((subscriber) => subscriber.operator)) {
    for (const provider of [...deps.providers].sort()) {
      planned.push(
        {
          data: { scope: 'owner', ownerId: SYSTEM_OWNER, provider, configIds: [] },
          counter: ownerMinuteCounter(SYSTEM_OWNER, provider),
        },
        { data: { scope: 'all', provider, configIds: [] }, counter: providerCounter(provider) },
      );
    }
  }
  const wanted = planned.filter(({ data }) => {
    const audience = audienceOf(serverMessage(METRICS_PUSH_TYPE, data));
    return subscribers.some((subscriber) => wants(subscriber, METRICS_PUSH_TYPE, audience));
  });

  const messages = (
    await mapLimited(wanted, readConcurrency, async ({ data, counter }) => {
      const buckets = await deps.counters.read(counter, range.from, range.to).catch((error: unknown) => {
        logger.warn('metrics push: could not read a counter', { counter, error: error as Error });
        summary.skipped++;
        return undefined;
      });
      return (
        buckets && serverMessage(METRICS_PUSH_TYPE, metricsUpdate(data, buckets, range, windowMinutes), now)
      );
    })
  ).filter((message) => message !== undefined);

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
function byProvider(configs: readonly ConfigView[]): [ProviderName, ConfigView[]][] {
  const groups = new Map<ProviderName, ConfigView[]>();
  for (const config of configs) groups.set(config.provider, [...(groups.get(config.provider) ?? []), config]);
  return [...groups.entries()].sort(([a], [b]) => a.localeCompare(b));
}

function figuresOf(buckets: readonly Bucket[]): MetricFigures {
  const errors = errorRate(outcomesOf(buckets)) ?? 0;
  return { ...statisticsOf(buckets), error_rate: Math.round(errors * 10) / 10 };
}

function metricsUpdate(
  data: PlannedPush['data'],
  buckets: readonly Bucket[],
  range: { minute: string; from: string; to: string },
  windowMinutes: number,
): MetricsUpdate {
  return {
    ...data,
    minute: range.minute,
    lastMinute: figuresOf(buckets.filter((bucket) => bucket.minute === range.minute)),
    windowMinutes,
    windowFrom: range.from,
    windowTo: range.to,
    window: figuresOf(buckets),
  };
}
