import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { AlertRule } from '../../../shared/alerts/rules';
import type { AlertQuery, AlertRecord, AlertRuleChanges } from '../../../shared/alerts/store';
import type { AlertsPort, ConfigsPort, ManagementDeps } from '../../../shared/api/handlers';
import { signDevToken } from '../../../shared/auth/tokens';
import type { Envelope, Priority } from '../../../shared/envelope';
import type { BusEvent } from '../../../shared/events/publisher';
import type { MetricsRow, SeriesSummary } from '../../../shared/metrics/history';
import type { EnvelopePublisher } from '../../../shared/queue/publisher';
import { RedriveConflictError, type RedriveProgress, type RedriveTask } from '../../../shared/queue/redrive';
import {
  type EventPage,
  type EventQuery,
  type LedgerCounts,
  ledgerOf,
  type StoredEvent,
} from '../../../shared/stores/event-log';
import type { MinuteCounts } from '../../../shared/stores/metric-counters';
import type { WebhookConfig, WebhookConfigChanges } from '../../../shared/stores/webhook-configs';

/**
 * An in-memory event log with the indexes' semantics: one owner's items (byUser) or every owner's
 * (byDay), newest receivedAt first, filters applied after the key condition, and a cursor that is
 * the last item's index key.
 */
export class FakeEventLog {
  readonly items = new Map<string, StoredEvent>();
  readonly replays: string[] = [];

  put(...items: StoredEvent[]): this {
    for (const item of items) this.items.set(item.pk, item);
    return this;
  }

  async get(key: string): Promise<StoredEvent | undefined> {
    return this.items.get(key);
  }

  async list(query: EventQuery): Promise<EventPage> {
    const inRange = [...this.items.values()]
      .filter(
        (item) =>
          (query.ownerId === undefined || item.userId === query.ownerId) && item.receivedAt !== undefined,
      )
      .filter(
        (item) =>
          (query.since ?? '') <= (item.receivedAt ?? '') &&
          (item.receivedAt ?? '') <= (query.until ?? '9999'),
      )
      .sort((a, b) => ((b.receivedAt ?? '') + b.pk).localeCompare((a.receivedAt ?? '') + a.pk));
    const after = query.after as { pk: string } | undefined;
    const start = after ? inRange.findIndex((item) => item.pk === after.pk) + 1 : 0;
    const matching = inRange
      .slice(start)
      .filter(
        (item) =>
          (query.provider === undefined || item.provider === query.provider) &&
          (query.status === undefined || item.status === query.status) &&
          (query.eventType === undefined || item.eventType === query.eventType),
      );
    const items = matching.slice(0, query.limit);
    const last = items.at(-1);
    const more = last !== undefined && inRange.indexOf(last) < inRange.length - 1;
    return {
      // The index projects the list attributes only: never the payload or meta.
      items: items.map(({ payload: _p, payloadRef: _r, meta: _m, orderingKey: _o, ...listed }) => listed),
      next:
        more && last
          ? query.ownerId === undefined
            ? { pk: last.pk, receivedDay: last.receivedAt?.slice(0, 10), receivedAt: last.receivedAt }
            : { pk: last.pk, userId: last.userId, receivedAt: last.receivedAt }
          : undefined,
    };
  }

  async noteReplay(key: string): Promise<void> {
    this.replays.push(key);
  }

  /** Ingest's receipt (and a release's): the entry, received unless it exists, and the ids. */
  async receive(envelope: Envelope, acceptanceId: string | readonly string[]): Promise<void> {
    const existing = this.items.get(envelope.dedupKey);
    const receipts = new Set([
      ...(existing?.receipts ?? []),
      ...(typeof acceptanceId === 'string' ? [acceptanceId] : acceptanceId),
    ]);
    this.items.set(envelope.dedupKey, {
      pk: envelope.dedupKey,
      status: 'received',
      attempts: 0,
      provider: envelope.provider,
      eventType: envelope.eventType,
      objectType: envelope.objectType,
      objectId: envelope.objectId,
      userId: envelope.ownerId,
      configId: envelope.configId,
      receivedAt: envelope.receivedAt,
      ...existing,
      receipts,
    });
  }

  async release(key: string, events: number, now: Date): Promise<boolean> {
    const item = this.items.get(key);
    if (item?.status !== 'quarantined') return false;
    this.items.set(key, {
      ...item,
      status: 'released',
      releasedAt: now.toISOString(),
      releasedEvents: events,
    });
    return true;
  }

  async ledger(query: { ownerId?: string; since: string; until: string }): Promise<LedgerCounts> {
    this.ledgerQueries.push(query);
    return ledgerOf(
      [...this.items.values()].filter(
        (item) =>
          (query.ownerId === undefined || item.userId === query.ownerId) &&
          query.since <= (item.receivedAt ?? '') &&
          (item.receivedAt ?? '') <= query.until,
      ),
    );
  }

  readonly ledgerQueries: { ownerId?: string; since: string; until: string }[] = [];
}

/** Counter buckets per counter key. */
export class FakeCounters {
  readonly buckets = new Map<string, { minute: string; counts: MinuteCounts }[]>();
  readonly reads: [pk: string, from: string, to: string][] = [];

  add(pk: string, minute: string, counts: Partial<MinuteCounts>): this {
    const list = this.buckets.get(pk) ?? [];
    list.push({ minute, counts: { ...zeroCounts(), ...counts } });
    list.sort((a, b) => a.minute.localeCompare(b.minute));
    this.buckets.set(pk, list);
    return this;
  }

  async read(pk: string, from: string, to: string) {
    this.reads.push([pk, from, to]);
    return (this.buckets.get(pk) ?? []).filter(({ minute }) => from <= minute && minute <= to);
  }
}

/** The minute history in memory, as MetricsHistory reads and sums it. */
export class FakeHistory {
  readonly rows: MetricsRow[] = [];

  put(...rows: MetricsRow[]): this {
    this.rows.push(...rows);
    return this;
  }

  async read(query: { series: readonly string[]; provider?: string; from: Date; to: Date; limit: number }) {
    return this.rows
      .filter(
        (row) =>
          query.series.includes(row.series) &&
          (query.provider === undefined || row.provider === query.provider) &&
          query.from.toISOString() <= row.minute &&
          row.minute <= query.to.toISOString(),
      )
      .sort((a, b) => a.minute.localeCompare(b.minute))
      .slice(-query.limit);
  }

  async summarize(query: { series: readonly string[]; from: Date; to: Date }): Promise<SeriesSummary[]> {
    const rows = await this.read({ ...query, limit: Number.MAX_SAFE_INTEGER });
    const keys = [...new Set(rows.map((row) => `${row.series}|${row.provider}`))];
    return keys.map((key) => {
      const own = rows.filter((row) => `${row.series}|${row.provider}` === key);
      return {
        series: own[0]?.series ?? '',
        provider: own[0]?.provider ?? '',
        successfulEvents: own.reduce((sum, row) => sum + row.successfulEvents, 0),
        failedEvents: own.reduce((sum, row) => sum + row.failedEvents, 0),
        processingMsSum: own.reduce((sum, row) => sum + row.averageProcessingTime * row.successfulEvents, 0),
        latest: own.at(-1),
      };
    });
  }
}

/** A minute's counts: zero but for the overrides. */
export function counts(overrides: Partial<MinuteCounts> = {}): MinuteCounts {
  return { ...zeroCounts(), ...overrides };
}

export function zeroCounts(): MinuteCounts {
  return { total: 0, succeeded: 0, duplicates: 0, failed: 0, dead: 0, processingMsSum: 0, latencyMsSum: 0 };
}

export class RecordingPublisher implements EnvelopePublisher {
  readonly published: Envelope[] = [];
  async publish(envelopes: readonly Envelope[]): Promise<void> {
    this.published.push(...envelopes);
  }
}

/** One running task per priority at most, like SQS. */
export class FakeRedrive {
  readonly started: { priority: Priority; maxPerSecond?: number }[] = [];
  readonly running = new Set<Priority>();

  async start(priority: Priority, options: { maxPerSecond?: number } = {}): Promise<RedriveTask> {
    if (this.running.has(priority)) throw new RedriveConflictError(priority);
    this.running.add(priority);
    this.started.push({ priority, ...options });
    return { priority, task_handle: `task-${priority}`, status: 'RUNNING', messages_moved: 0 };
  }

  async progress(priority: Priority): Promise<RedriveProgress> {
    return {
      priority,
      queue_depth: 0,
      queue_in_flight: 0,
      dlq_depth: this.running.has(priority) ? 2 : 0,
      tasks: this.running.has(priority)
        ? [
            {
              priority,
              task_handle: `task-${priority}`,
              status: 'RUNNING',
              messages_moved: 1,
              messages_to_move: 3,
            },
          ]
        : [],
    };
  }
}

/** A fetch that fails the test if a route calls a provider it should not. */
export const unexpectedFetch: typeof fetch = async (input) => {
  throw new Error(`unexpected provider call to ${String(input)}`);
};

/** The management ports other than the configs table, as fakes; tests override what they look at. */
export function fakePorts(
  overrides: Partial<
    Pick<
      ManagementDeps,
      'events' | 'counters' | 'history' | 'publisher' | 'redrive' | 'registration' | 'alerts' | 'bus'
    >
  > = {},
) {
  return {
    alerts: new FakeAlerts(),
    bus: new RecordingBus(),
    events: new FakeEventLog(),
    counters: new FakeCounters(),
    history: new FakeHistory(),
    publisher: new RecordingPublisher(),
    redrive: new FakeRedrive(),
    registration: { fetch: unexpectedFetch },
    ...overrides,
  };
}

/** The configs table in memory, owner-checked like WebhookConfigStore. */
export class FakeConfigs implements ConfigsPort {
  readonly items = new Map<string, WebhookConfig>();

  put(...configs: WebhookConfig[]): this {
    for (const config of configs) this.items.set(config.id, config);
    return this;
  }

  async create(config: WebhookConfig): Promise<void> {
    this.items.set(config.id, config);
  }

  async getOwned(id: string, userId: string): Promise<WebhookConfig | undefined> {
    const config = this.items.get(id);
    return config?.userId === userId ? config : undefined;
  }

  async listByUser(userId: string): Promise<WebhookConfig[]> {
    return [...this.items.values()].filter((config) => config.userId === userId);
  }

  async listAll(): Promise<WebhookConfig[]> {
    return [...this.items.values()];
  }

  async update(id: string, userId: string, changes: WebhookConfigChanges, now: Date) {
    const config = await this.getOwned(id, userId);
    if (!config) return undefined;
    const updated = { ...config, ...definedOnly(changes), updatedAt: now.toISOString() };
    this.items.set(id, updated);
    return updated;
  }

  async delete(id: string, userId: string): Promise<boolean> {
    return (await this.getOwned(id, userId)) !== undefined && this.items.delete(id);
  }

  async rotateSecret(config: WebhookConfig, secret: string, previousExpiresAt: Date, now: Date) {
    const updated = {
      ...config,
      secret,
      previousSecret: config.secret,
      previousSecretExpiresAt: previousExpiresAt.toISOString(),
      updatedAt: now.toISOString(),
    };
    this.items.set(config.id, updated);
    return updated;
  }

  async recordRegistration(
    config: WebhookConfig,
    registration: Parameters<ConfigsPort['recordRegistration']>[1],
    now: Date,
  ) {
    const updated = { ...config, ...registration, updatedAt: now.toISOString() };
    this.items.set(config.id, updated);
    return updated;
  }
}

function definedOnly<T extends object>(record: T): Partial<T> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/** The alert rules and alerts tables in memory: the team's, as AlertStore keeps them. */
export class FakeAlerts implements AlertsPort {
  readonly rules = new Map<string, AlertRule>();
  readonly alerts = new Map<string, AlertRecord>();

  putAlert(...alerts: AlertRecord[]): this {
    for (const alert of alerts) this.alerts.set(alert.id, alert);
    return this;
  }

  async createRule(rule: AlertRule): Promise<AlertRule> {
    this.rules.set(rule.id, rule);
    return rule;
  }

  async getRule(id: string): Promise<AlertRule | undefined> {
    return this.rules.get(id);
  }

  async listRules(): Promise<AlertRule[]> {
    return [...this.rules.values()];
  }

  async updateRule(id: string, changes: AlertRuleChanges): Promise<AlertRule | undefined> {
    const rule = this.rules.get(id);
    if (!rule) return undefined;
    const updated = { ...rule, ...definedOnly(changes) };
    this.rules.set(id, updated);
    return updated;
  }

  async deleteRule(id: string): Promise<boolean> {
    return this.rules.delete(id);
  }

  async listAlerts(query: AlertQuery): Promise<AlertRecord[]> {
    if (!query.operator) return [];
    return [...this.alerts.values()]
      .filter(
        (alert) =>
          (query.acknowledged === undefined || alert.acknowledged === query.acknowledged) &&
          (query.provider === undefined || alert.provider === query.provider) &&
          (query.since ?? '') <= alert.createdAt &&
          alert.createdAt <= (query.until ?? '9999'),
      )
      .sort((a, b) => (b.createdAt + b.id).localeCompare(a.createdAt + a.id))
      .slice(0, query.limit);
  }

  async acknowledge(id: string, by: string, at: Date) {
    const alert = this.alerts.get(id);
    if (!alert) return undefined;
    if (alert.acknowledged) return alert;
    const acknowledged = {
      ...alert,
      acknowledged: true,
      acknowledgedBy: by,
      acknowledgedAt: at.toISOString(),
    };
    this.alerts.set(id, acknowledged);
    return acknowledged;
  }
}

/** A bus that keeps what was published; `failing` makes it refuse like a throttled PutEvents. */
export class RecordingBus {
  readonly published: BusEvent[] = [];
  failing = false;

  async publish(events: readonly BusEvent[]): Promise<void> {
    if (this.failing) throw new Error('PutEvents throttled');
    this.published.push(...events);
  }
}

export interface CallOptions {
  /** The caller (`alice` by default); `null` sends no token. */
  user?: string | null;
  groups?: string[];
  query?: Record<string, string>;
  body?: unknown;
}

/**
 * Calls a management handler as API Gateway would, with a dev token for the caller; the response
 * comes back with its body parsed. `groupsFor` gives the groups when a call names none.
 */
export function managementCaller(
  handler: (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>,
  tokenSecret: string,
  groupsFor: (path: string) => string[] = () => [],
) {
  return async (method: string, path: string, options: CallOptions = {}) => {
    const user = options.user === undefined ? 'alice' : options.user;
    const token = user
      ? await signDevToken(tokenSecret, user, 3600, options.groups ?? groupsFor(path))
      : undefined;
    const result = await handler({
      httpMethod: method,
      path,
      headers: token ? { Authorization: `Bearer ${token}` } : {},
      queryStringParameters: options.query ?? null,
      body: options.body === undefined ? null : JSON.stringify(options.body),
      isBase64Encoded: false,
    } as unknown as APIGatewayProxyEvent);
    return { ...result, json: result.body ? JSON.parse(result.body) : undefined };
  };
}
