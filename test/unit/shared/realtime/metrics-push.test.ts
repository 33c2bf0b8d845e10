import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandInput,
  ScanCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { logger } from '../../../../shared/observability';
import { Broadcaster } from '../../../../shared/realtime/broadcaster';
import type { ServerMessage } from '../../../../shared/realtime/messages';
import {
  type MetricsPushDeps,
  type MetricsUpdate,
  pushMetrics,
} from '../../../../shared/realtime/metrics-push';
import type { Subscriber } from '../../../../shared/realtime/subscriptions';
import { ConnectionStore } from '../../../../shared/stores/connections';
import { MetricCounters, type MinuteCounts } from '../../../../shared/stores/metric-counters';
import { type WebhookConfig, WebhookConfigStore } from '../../../../shared/stores/webhook-configs';
import { counts } from '../../support/management-fakes';
import { webhookConfig } from '../../support/webhook-config';

const ddbMock = mockClient(DynamoDBDocumentClient);
const apiMock = mockClient(ApiGatewayManagementApiClient);

beforeAll(() => {
  logger.setLogLevel('SILENT');
});

afterEach(() => {
  ddbMock.reset();
  apiMock.reset();
});

/** 12:05:20 UTC: the last complete minute is 12:04, a 15-minute window runs from 11:51 to 12:05. */
const NOW = new Date('2026-03-01T12:05:20Z');

function subscriber(connectionId: string, userId: string, overrides: Partial<Subscriber> = {}): Subscriber {
  return {
    connectionId,
    userId,
    operator: false,
    events: ['webhook-metrics-update'],
    filters: {},
    ...overrides,
  };
}

const operator = (connectionId: string, userId = 'oncall', overrides: Partial<Subscriber> = {}) =>
  subscriber(connectionId, userId, { operator: true, ...overrides });

const aliceShop = webhookConfig({ id: 'alice-shop', userId: 'alice', provider: 'shopify' });
const aliceShop2 = webhookConfig({ id: 'alice-shop-2', userId: 'alice', provider: 'shopify' });
const aliceHub = webhookConfig({ id: 'alice-hub', userId: 'alice', provider: 'hubspot' });
const bobShop = webhookConfig({ id: 'bob-shop', userId: 'bob', provider: 'shopify' });

/** The counters of the tests: minute buckets per owner and provider, and per provider (every owner). */
const COUNTERS: Record<string, { minute: string; counts: MinuteCounts }[]> = {
  // Alice's two Shopify configs together.
  'owner#alice#shopify': [
    // Before the window: never counted.
    { minute: '2026-03-01T11:50', counts: counts({ total: 50, dead: 50 }) },
    { minute: '2026-03-01T11:51', counts: counts({ total: 4, succeeded: 3, dead: 1, processingMsSum: 30 }) },
    {
      minute: '2026-03-01T12:04',
      counts: counts({ total: 6, succeeded: 4, failed: 1, dead: 1, processingMsSum: 80 }),
    },
    // The minute in progress: in the window, not in the last minute.
    { minute: '2026-03-01T12:05', counts: counts({ total: 1, succeeded: 1, processingMsSum: 10 }) },
  ],
  'owner#alice#hubspot': [],
  'owner#bob#shopify': [
    { minute: '2026-03-01T12:04', counts: counts({ total: 9, succeeded: 9, processingMsSum: 90 }) },
  ],
  // The provider-wide endpoint's deliveries.
  'owner#system#shopify': [
    { minute: '2026-03-01T12:04', counts: counts({ total: 2, succeeded: 2, processingMsSum: 8 }) },
  ],
  'provider#shopify': [
    {
      minute: '2026-03-01T12:04',
      counts: counts({ total: 17, succeeded: 15, failed: 1, dead: 1, processingMsSum: 178 }),
    },
  ],
};

/** In-memory ports: what the stores would answer, with the calls recorded. */
function fakes(
  subscribers: Subscriber[],
  configsOf: Record<string, WebhookConfig[]>,
  overrides: Partial<MetricsPushDeps> = {},
) {
  const pushed: ServerMessage[] = [];
  const reads: { pk: string; from: string; to: string }[] = [];
  const deps: MetricsPushDeps = {
    connections: { subscribedTo: async () => subscribers },
    configs: { listByUser: async (userId) => configsOf[userId] ?? [] },
    counters: {
      read: async (pk, from, to) => {
        reads.push({ pk, from, to });
        return (COUNTERS[pk] ?? []).filter(({ minute }) => minute >= from && minute <= to);
      },
    },
    broadcaster: {
      broadcast: async (message) => {
        pushed.push(message);
        return { delivered: 1, gone: 0, failed: 0 };
      },
    },
    providers: ['shopify'],
    now: () => NOW,
    ...overrides,
  };
  return { deps, pushed, reads };
}

const dataOf = (message: ServerMessage | undefined) => message?.data as MetricsUpdate;

describe('minute metrics push', () => {
  it("sends each subscribed user one push per provider of their configs, with that user's figures only", async () => {
    const { deps, pushed } = fakes(
      [subscriber('alice-1', 'alice'), subscriber('alice-2', 'alice'), subscriber('bob-1', 'bob')],
      { alice: [aliceShop, aliceHub, aliceShop2], bob: [bobShop] },
    );

    const summary = await pushMetrics(deps);

    expect(pushed.map((m) => [m.type, dataOf(m).ownerId, dataOf(m).provider])).toEqual([
      ['webhook-metrics-update', 'alice', 'hubspot'],
      ['webhook-metrics-update', 'alice', 'shopify'],
      ['webhook-metrics-update', 'bob', 'shopify'],
    ]);
    expect(pushed[1]).toEqual({
      type: 'webhook-metrics-update',
      timestamp: '2026-03-01T12:05:20.000Z',
      data: {
        scope: 'owner',
        ownerId: 'alice',
        provider: 'shopify',
        configIds: ['alice-shop', 'alice-shop-2'],
        minute: '2026-03-01T12:04',
        // 12:04 of both configs: 4 processed, 1 dead; the retried attempt (failed) is no event.
        lastMinute: {
          total_events: 5,
          successful_events: 4,
          failed_events: 1,
          success_rate: 80,
          error_rate: 20,
          average_processing_time_ms: 20,
        },
        windowMinutes: 15,
        windowFrom: '2026-03-01T11:51',
        windowTo: '2026-03-01T12:05',
        // 11:51, 12:04 and the minute in progress; 11:50 is outside the window.
        window: {
          total_events: 10,
          successful_events: 8,
          failed_events: 2,
          success_rate: 80,
          error_rate: 20,
          average_processing_time_ms: 15,
        },
      },
    });
    expect(dataOf(pushed[2])).toMatchObject({
      configIds: ['bob-shop'],
      lastMinute: { total_events: 9, success_rate: 100, error_rate: 0 },
    });
    expect(summary).toEqual({ users: 2, pushes: 3, skipped: 0, delivered: 3, gone: 0, failed: 0 });
  });

  it("sends a connected operator the provider-wide endpoint's figures and every owner's together", async () => {
    const { deps, pushed, reads } = fakes([operator('oncall-1'), subscriber('bob-1', 'bob')], {
      bob: [bobShop],
    });

    await pushMetrics(deps);

    expect(pushed.map((m) => [dataOf(m).scope, dataOf(m).ownerId ?? null, dataOf(m).provider])).toEqual([
      ['owner', 'bob', 'shopify'],
      ['owner', 'system', 'shopify'],
      ['all', null, 'shopify'],
    ]);
    expect(dataOf(pushed[1]).lastMinute).toMatchObject({ total_events: 2, successful_events: 2 });
    expect(dataOf(pushed[2]).lastMinute).toMatchObject({ total_events: 16, failed_events: 1 });
    expect(reads.map((read) => read.pk)).toEqual([
      'owner#bob#shopify',
      'owner#system#shopify',
      'provider#shopify',
    ]);
  });

  it('sends no provider-wide or all-owners figures when no operator is connected', async () => {
    const { deps, pushed } = fakes([subscriber('bob-1', 'bob')], { bob: [bobShop] });

    await pushMetrics(deps);

    expect(pushed.map((m) => dataOf(m).ownerId)).toEqual(['bob']);
  });

  it('reports a provider without events in the window as zero events, 100% success and 0% errors', async () => {
    const { deps, pushed } = fakes([subscriber('alice-1', 'alice')], { alice: [aliceHub] });

    await pushMetrics(deps);

    const empty = {
      total_events: 0,
      successful_events: 0,
      failed_events: 0,
      success_rate: 100,
      error_rate: 0,
      average_processing_time_ms: 0,
    };
    expect(dataOf(pushed[0])).toMatchObject({ provider: 'hubspot', lastMinute: empty, window: empty });
  });

  it("reads each owner's provider once, over the window, from the owner's minute counter", async () => {
    const { deps, reads } = fakes([subscriber('alice-1', 'alice')], {
      alice: [aliceShop, aliceShop2, aliceHub],
    });

    await pushMetrics({ ...deps, windowMinutes: 5 });

    expect(reads).toEqual([
      { pk: 'owner#alice#hubspot', from: '2026-03-01T12:01', to: '2026-03-01T12:05' },
      { pk: 'owner#alice#shopify', from: '2026-03-01T12:01', to: '2026-03-01T12:05' },
    ]);
  });

  it('neither reads nor pushes a provider that every connection of the user filters out', async () => {
    const { deps, pushed, reads } = fakes(
      [
        subscriber('alice-hubspot', 'alice', {
          filters: { 'webhook-metrics-update': { providers: ['hubspot'] } },
        }),
        // A config filter never matches a push of provider-wide figures.
        subscriber('alice-config', 'alice', {
          filters: { 'webhook-metrics-update': { configIds: ['alice-shop'] } },
        }),
      ],
      { alice: [aliceShop, aliceHub] },
    );

    const summary = await pushMetrics(deps);

    expect(pushed.map((m) => dataOf(m).provider)).toEqual(['hubspot']);
    expect(reads.map((read) => read.pk)).toEqual(['owner#alice#hubspot']);
    expect(summary).toMatchObject({ users: 1, pushes: 1 });
  });

  it('pushes nothing to a user without configs, nor when nobody is subscribed', async () => {
    const withoutConfigs = fakes([subscriber('carol-1', 'carol')], {});
    const nobody = fakes([], { alice: [aliceShop] });

    const summaries = [await pushMetrics(withoutConfigs.deps), await pushMetrics(nobody.deps)];

    expect(withoutConfigs.pushed).toEqual([]);
    expect(nobody.pushed).toEqual([]);
    expect(nobody.reads).toEqual([]);
    expect(summaries.map((s) => [s.users, s.pushes])).toEqual([
      [1, 0],
      [0, 0],
    ]);
  });

  it('skips only the user whose configs could not be listed, and only the provider whose counters failed', async () => {
    const { deps, pushed } = fakes(
      [subscriber('alice-1', 'alice'), subscriber('bob-1', 'bob'), subscriber('dave-1', 'dave')],
      { alice: [aliceShop, aliceHub], bob: [bobShop] },
    );
    const listByUser = deps.configs.listByUser;
    const read = deps.counters.read;
    const summary = await pushMetrics({
      ...deps,
      configs: {
        listByUser: async (userId) => {
          if (userId === 'dave') throw new Error('ProvisionedThroughputExceededException');
          return listByUser(userId);
        },
      },
      counters: {
        read: async (pk, from, to) => {
          if (pk === 'owner#alice#shopify') throw new Error('timeout');
          return read(pk, from, to);
        },
      },
    });

    expect(pushed.map((m) => `${dataOf(m).ownerId}:${dataOf(m).provider}`)).toEqual([
      'alice:hubspot',
      'bob:shopify',
    ]);
    expect(summary).toMatchObject({ users: 3, pushes: 2, skipped: 2 });
  });

  it('counts a push that throws as failed and still sends the others', async () => {
    const { deps } = fakes([subscriber('alice-1', 'alice'), subscriber('bob-1', 'bob')], {
      alice: [aliceShop],
      bob: [bobShop],
    });
    const summary = await pushMetrics({
      ...deps,
      broadcaster: {
        broadcast: async (message) => {
          if (dataOf(message).ownerId === 'alice') throw new Error('connections query failed');
          return { delivered: 2, gone: 1, failed: 0 };
        },
      },
    });

    expect(summary).toMatchObject({ pushes: 2, delivered: 2, gone: 1, failed: 1 });
  });

  it('keeps at most `readConcurrency` reads and `pushConcurrency` pushes in flight', async () => {
    const users = Array.from({ length: 12 }, (_, i) => `user-${String(i).padStart(2, '0')}`);
    const configsOf = Object.fromEntries(
      users.map((userId) => [
        userId,
        [
          webhookConfig({ id: `${userId}-shop`, userId, provider: 'shopify' }),
          webhookConfig({ id: `${userId}-hub`, userId, provider: 'hubspot' }),
        ],
      ]),
    );
    let reading = 0;
    let peakReads = 0;
    let pushing = 0;
    let peakPushes = 0;
    const slow = async <T>(counter: 'read' | 'push', value: T): Promise<T> => {
      if (counter === 'read') peakReads = Math.max(peakReads, ++reading);
      else peakPushes = Math.max(peakPushes, ++pushing);
      await new Promise((resolve) => setTimeout(resolve, 2));
      if (counter === 'read') reading--;
      else pushing--;
      return value;
    };
    const { deps } = fakes(
      users.map((userId) => subscriber(`${userId}-conn`, userId)),
      configsOf,
    );

    const summary = await pushMetrics({
      ...deps,
      readConcurrency: 3,
      pushConcurrency: 2,
      configs: { listByUser: (userId) => slow('read', configsOf[userId] ?? []) },
      counters: { read: () => slow('read', []) },
      broadcaster: { broadcast: () => slow('push', { delivered: 1, gone: 0, failed: 0 }) },
    });

    expect(summary).toMatchObject({ users: 12, pushes: 24, delivered: 24 });
    expect(peakReads).toBe(3);
    expect(peakPushes).toBe(2);
  });
});

describe('minute metrics push through the stores and the broadcaster', () => {
  /** Connections, configs and counters as DynamoDB would answer the stores' scans and queries. */
  function tables(connections: Subscriber[], configs: WebhookConfig[]) {
    // As the table stores them: an operator's connection carries role `operator`.
    const items = connections.map(({ operator, ...connection }) => ({
      ...connection,
      ...(operator && { role: 'operator' }),
    }));
    ddbMock.on(ScanCommand).callsFake(async (input: { FilterExpression?: string }) => {
      expect(input.FilterExpression).toBe('contains(events, :type)');
      return { Items: items };
    });
    ddbMock.on(QueryCommand).callsFake(async (input: QueryCommandInput) => {
      const values = input.ExpressionAttributeValues ?? {};
      if (input.TableName === 'connections')
        return {
          Items: items.filter(
            (c) =>
              (input.IndexName === 'byRole' ? c.role === values[':role'] : c.userId === values[':user']) &&
              c.events.includes(values[':type'] as never),
          ),
        };
      if (input.TableName === 'configs')
        return { Items: configs.filter((c) => c.userId === values[':userId']) };
      const buckets = COUNTERS[values[':pk'] as string] ?? [];
      return {
        Items: buckets
          .filter(
            ({ minute }) => minute >= (values[':from'] as string) && minute <= (values[':to'] as string),
          )
          .map(({ minute, counts }) => ({ pk: values[':pk'], minute, ...counts })),
      };
    });
    ddbMock.on(DeleteCommand).resolves({});
    apiMock.on(PostToConnectionCommand).resolves({});
  }

  function deps(): MetricsPushDeps {
    const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
    const api = new ApiGatewayManagementApiClient({
      region: 'eu-west-1',
      endpoint: 'https://ws123.execute-api.eu-west-1.amazonaws.com/prod',
    });
    const connections = new ConnectionStore(ddb, 'connections');
    return {
      connections,
      configs: new WebhookConfigStore(ddb, 'configs'),
      counters: new MetricCounters(ddb, 'metrics'),
      broadcaster: new Broadcaster(connections, api, { retryDelayMs: 1 }),
      providers: ['shopify'],
      now: () => NOW,
    };
  }

  /** Which connection got which user's push of which provider. */
  function posts(): string[] {
    return apiMock
      .commandCalls(PostToConnectionCommand)
      .map((call) => {
        const { ConnectionId, Data } = call.args[0].input;
        const data = JSON.parse(Buffer.from(Data as Uint8Array).toString('utf8')).data as MetricsUpdate;
        return `${ConnectionId} <- ${data.ownerId ?? data.scope}:${data.provider}`;
      })
      .sort();
  }

  it("posts a user's metrics to that user's and operators' connections only, narrowed by their providers filter", async () => {
    tables(
      [
        subscriber('alice-all', 'alice'),
        subscriber('alice-hubspot', 'alice', {
          filters: { 'webhook-metrics-update': { providers: ['hubspot'] } },
        }),
        subscriber('bob-1', 'bob'),
        subscriber('bob-events-only', 'bob', { events: ['webhook-event'] }),
        operator('oncall-1'),
      ],
      [aliceShop, aliceHub, bobShop],
    );

    await pushMetrics(deps());

    expect(posts()).toEqual([
      'alice-all <- alice:hubspot',
      'alice-all <- alice:shopify',
      'alice-hubspot <- alice:hubspot',
      'bob-1 <- bob:shopify',
      'oncall-1 <- alice:hubspot',
      'oncall-1 <- alice:shopify',
      'oncall-1 <- all:shopify',
      'oncall-1 <- bob:shopify',
      'oncall-1 <- system:shopify',
    ]);
  });

  it("costs one scan, a config query per user, a counter query per push and the owner's and operators' connection queries per push", async () => {
    tables(
      [subscriber('alice-1', 'alice'), subscriber('alice-2', 'alice'), subscriber('bob-1', 'bob')],
      [aliceShop, aliceShop2, aliceHub, bobShop],
    );

    const summary = await pushMetrics(deps());

    const queries = ddbMock.commandCalls(QueryCommand).map((call) => call.args[0].input);
    const byTable = (name: string) => queries.filter((input) => input.TableName === name);
    expect(ddbMock.commandCalls(ScanCommand)).toHaveLength(1);
    expect(byTable('configs')).toHaveLength(2);
    expect(byTable('configs').every((input) => input.IndexName === 'byOwner')).toBe(true);
    expect(byTable('metrics')).toHaveLength(3);
    expect(byTable('connections').filter((input) => input.IndexName === 'byUser')).toHaveLength(3);
    expect(byTable('connections').filter((input) => input.IndexName === 'byRole')).toHaveLength(3);
    expect(summary).toMatchObject({ users: 2, pushes: 3, delivered: 5 });
  });
});
