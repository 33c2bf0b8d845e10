import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  ForbiddenException,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { logger } from '../../../../shared/observability';
import { Broadcaster, type BroadcasterOptions } from '../../../../shared/realtime/broadcaster';
import { serverMessage } from '../../../../shared/realtime/messages';
import { ConnectionStore } from '../../../../shared/stores/connections';

const ddbMock = mockClient(DynamoDBDocumentClient);
const apiMock = mockClient(ApiGatewayManagementApiClient);

beforeAll(() => {
  logger.setLogLevel('SILENT');
});

beforeEach(() => {
  apiMock.on(PostToConnectionCommand).resolves({});
  ddbMock.on(DeleteCommand).resolves({});
});

afterEach(() => {
  ddbMock.reset();
  apiMock.reset();
});

function broadcaster(options: BroadcasterOptions = {}) {
  const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
  const api = new ApiGatewayManagementApiClient({
    region: 'eu-west-1',
    endpoint: 'https://ws123.execute-api.eu-west-1.amazonaws.com/prod',
  });
  return new Broadcaster(new ConnectionStore(ddb, 'connections'), api, { retryDelayMs: 1, ...options });
}

/** A connection as the table stores it; `role: 'operator'` marks an operator's. */
type Stored = {
  connectionId: string;
  userId?: string;
  role?: 'operator';
  events?: string[];
  filters?: Record<string, unknown>;
  batched?: boolean;
  tokenExpiresAt?: number;
};

function item(connection: Stored) {
  return { userId: 'user-1', events: ['webhook-event'], filters: {}, ...connection };
}

/** What the query of the operators' connections (the byRole index) returns. */
function operatorsConnected(...connections: Stored[]) {
  ddbMock
    .on(QueryCommand, { IndexName: 'byRole' })
    .resolves({ Items: connections.map((connection) => item({ role: 'operator', ...connection })) });
}

/** What the query of one owner's connections (the byUser index) returns. */
function ownersConnected(...connections: Stored[]) {
  ddbMock.on(QueryCommand, { IndexName: 'byUser' }).resolves({ Items: connections.map(item) });
}

function queriesOf(index: string) {
  return ddbMock.commandCalls(QueryCommand).filter((call) => call.args[0].input.IndexName === index);
}

function targets(): string[] {
  return apiMock
    .commandCalls(PostToConnectionCommand)
    .map((c) => c.args[0].input.ConnectionId as string)
    .sort();
}

const gone = () => new GoneException({ message: 'Gone', $metadata: { httpStatusCode: 410 } });
const at = new Date('2026-01-01T00:00:00Z');
/** An event received on a provider-wide endpoint: the system owner's, for operators. */
const providerWide = serverMessage(
  'webhook-event',
  { provider: 'shopify', objectId: '820982911946154508', ownerId: 'system' },
  at,
);
/** An event received on alice's config endpoint. */
const alicesEvent = serverMessage(
  'webhook-event',
  { provider: 'shopify', objectId: '1', configId: 'cfg-alice', ownerId: 'alice' },
  at,
);

describe('Broadcaster.broadcastAll (a batch of pushes)', () => {
  it("looks up each owner's and the operators' connections once for all pushes, and posts each connection its pushes in order", async () => {
    operatorsConnected({ connectionId: 'conn-op', userId: 'oncall' });
    ownersConnected({ connectionId: 'conn-alice', userId: 'alice' });
    const second = serverMessage('webhook-event', { ...(alicesEvent.data as object), objectId: '2' }, at);

    const result = await broadcaster().broadcastAll([alicesEvent, providerWide, second]);

    expect(result).toEqual({ delivered: 5, gone: 0, failed: 0 });
    expect(queriesOf('byRole')).toHaveLength(1);
    expect(queriesOf('byUser')).toHaveLength(1);
    const posted = (connectionId: string) =>
      apiMock
        .commandCalls(PostToConnectionCommand)
        .filter((call) => call.args[0].input.ConnectionId === connectionId)
        .map((call) => JSON.parse(Buffer.from(call.args[0].input.Data as Uint8Array).toString('utf8')));
    expect(posted('conn-op')).toEqual([alicesEvent, providerWide, second]);
    expect(posted('conn-alice')).toEqual([alicesEvent, second]);
  });

  it('posts nothing more to a connection found gone', async () => {
    operatorsConnected({ connectionId: 'conn-op', userId: 'oncall' });
    apiMock.on(PostToConnectionCommand).rejects(gone());

    const result = await broadcaster().broadcastAll([providerWide, providerWide]);

    expect(result).toEqual({ delivered: 0, gone: 1, failed: 0 });
    expect(apiMock.commandCalls(PostToConnectionCommand)).toHaveLength(1);
  });
});

describe('Broadcaster batch messages (connections subscribed with batch: true)', () => {
  const posted = (connectionId: string) =>
    apiMock
      .commandCalls(PostToConnectionCommand)
      .filter((call) => call.args[0].input.ConnectionId === connectionId)
      .map((call) => JSON.parse(Buffer.from(call.args[0].input.Data as Uint8Array).toString('utf8')));
  const event = (objectId: string) =>
    serverMessage('webhook-event', { ...(alicesEvent.data as object), objectId }, at);

  it('posts the pushes of a batch to a batched connection as one batch message, in order, and one by one to the others', async () => {
    operatorsConnected({ connectionId: 'conn-op', userId: 'oncall', batched: true });
    ownersConnected({ connectionId: 'conn-alice', userId: 'alice' });
    const pushes = ['1', '2', '3'].map(event);

    const result = await broadcaster({ now: () => at.getTime() }).broadcastAll(pushes);

    expect(posted('conn-op')).toEqual([{ type: 'batch', data: pushes, timestamp: at.toISOString() }]);
    expect(posted('conn-alice')).toEqual(pushes);
    expect(apiMock.commandCalls(PostToConnectionCommand)).toHaveLength(4);
    // Counted per push, whatever the messages that carried them.
    expect(result).toEqual({ delivered: 6, gone: 0, failed: 0 });
  });

  it('sends a lone push to a batched connection as itself', async () => {
    operatorsConnected({ connectionId: 'conn-op', userId: 'oncall', batched: true });

    await broadcaster().broadcastAll([providerWide]);

    expect(posted('conn-op')).toEqual([providerWide]);
  });

  it('counts the pushes of a batch message that failed twice as failed, and a gone connection once', async () => {
    operatorsConnected(
      { connectionId: 'conn-broken', userId: 'oncall', batched: true },
      { connectionId: 'conn-gone', userId: 'oncall-2', batched: true },
    );
    apiMock
      .on(PostToConnectionCommand, { ConnectionId: 'conn-broken' })
      .rejects(new ForbiddenException({ message: 'Forbidden', $metadata: { httpStatusCode: 403 } }))
      .on(PostToConnectionCommand, { ConnectionId: 'conn-gone' })
      .rejects(gone());

    const result = await broadcaster().broadcastAll([providerWide, providerWide, providerWide]);

    expect(result).toEqual({ delivered: 0, gone: 1, failed: 3 });
  });
});

describe('Broadcaster fan-out', () => {
  it("queries the operators' connections subscribed to the push type and posts the message as JSON to each", async () => {
    operatorsConnected({ connectionId: 'conn-a' }, { connectionId: 'conn-b', userId: 'user-2' });

    const result = await broadcaster().broadcast(providerWide);

    expect(result).toEqual({ delivered: 2, gone: 0, failed: 0 });
    expect(targets()).toEqual(['conn-a', 'conn-b']);
    expect(queriesOf('byRole')[0]?.args[0].input).toMatchObject({
      TableName: 'connections',
      KeyConditionExpression: '#role = :role',
      FilterExpression: 'contains(events, :type)',
      ExpressionAttributeValues: { ':role': 'operator', ':type': 'webhook-event' },
    });
    // The system owner has no connections of its own to look for.
    expect(queriesOf('byUser')).toHaveLength(0);
    const data = apiMock.commandCalls(PostToConnectionCommand)[0]?.args[0].input.Data as Uint8Array;
    expect(JSON.parse(Buffer.from(data).toString('utf8'))).toEqual(providerWide);
  });

  it('closes a connection whose token expired instead of pushing to it, and forgets it (issue 16)', async () => {
    apiMock.on(DeleteConnectionCommand).resolves({});
    const nowSeconds = at.getTime() / 1000;
    operatorsConnected(
      { connectionId: 'conn-expired', tokenExpiresAt: nowSeconds - 1 },
      { connectionId: 'conn-valid', tokenExpiresAt: nowSeconds + 60 },
      { connectionId: 'conn-no-exp' },
    );

    const result = await broadcaster({ now: () => at.getTime() }).broadcast(providerWide);

    expect(result).toEqual({ delivered: 2, gone: 1, failed: 0 });
    expect(targets()).toEqual(['conn-no-exp', 'conn-valid']);
    expect(apiMock.commandCalls(DeleteConnectionCommand).map((c) => c.args[0].input.ConnectionId)).toEqual([
      'conn-expired',
    ]);
    expect(ddbMock.commandCalls(DeleteCommand)[0]?.args[0].input.Key).toEqual({
      connectionId: 'conn-expired',
    });
  });

  it('follows query pages until the last one', async () => {
    ddbMock
      .on(QueryCommand, { IndexName: 'byRole' })
      .resolvesOnce({
        Items: [item({ connectionId: 'conn-a', role: 'operator' })],
        LastEvaluatedKey: { connectionId: 'conn-a' },
      })
      .resolvesOnce({ Items: [item({ connectionId: 'conn-b', role: 'operator' })] });

    const result = await broadcaster().broadcast(providerWide);

    expect(result.delivered).toBe(2);
    expect(queriesOf('byRole')[1]?.args[0].input.ExclusiveStartKey).toEqual({ connectionId: 'conn-a' });
  });

  it('sends nothing when no connection is subscribed', async () => {
    operatorsConnected();

    expect(await broadcaster().broadcast(providerWide)).toEqual({ delivered: 0, gone: 0, failed: 0 });
    expect(apiMock.commandCalls(PostToConnectionCommand)).toHaveLength(0);
  });

  it('deletes a connection that is gone (410), counts it and does not retry it', async () => {
    operatorsConnected({ connectionId: 'conn-live' }, { connectionId: 'conn-gone' });
    apiMock.on(PostToConnectionCommand, { ConnectionId: 'conn-gone' }).rejects(gone());

    const result = await broadcaster().broadcast(providerWide);

    expect(result).toEqual({ delivered: 1, gone: 1, failed: 0 });
    expect(ddbMock.commandCalls(DeleteCommand).map((c) => c.args[0].input)).toEqual([
      { TableName: 'connections', Key: { connectionId: 'conn-gone' } },
    ]);
    expect(targets()).toEqual(['conn-gone', 'conn-live']);
  });

  it('still counts a gone connection as gone when deleting it fails', async () => {
    operatorsConnected({ connectionId: 'conn-gone' });
    apiMock.on(PostToConnectionCommand).rejects(gone());
    ddbMock.on(DeleteCommand).rejects(new Error('ProvisionedThroughputExceededException'));

    expect(await broadcaster().broadcast(providerWide)).toEqual({ delivered: 0, gone: 1, failed: 0 });
  });

  it('retries any other error once and counts a retry that succeeds as delivered', async () => {
    operatorsConnected({ connectionId: 'conn-throttled' });
    apiMock.on(PostToConnectionCommand).rejectsOnce(new Error('LimitExceededException')).resolves({});

    const result = await broadcaster().broadcast(providerWide);

    expect(result).toEqual({ delivered: 1, gone: 0, failed: 0 });
    expect(targets()).toEqual(['conn-throttled', 'conn-throttled']);
  });

  it('counts a connection failing twice as failed, keeps it and still reaches the others', async () => {
    operatorsConnected(
      { connectionId: 'conn-live' },
      { connectionId: 'conn-forbidden' },
      { connectionId: 'conn-down' },
    );
    apiMock
      .on(PostToConnectionCommand, { ConnectionId: 'conn-forbidden' })
      .rejects(new ForbiddenException({ message: 'Forbidden', $metadata: { httpStatusCode: 403 } }));
    apiMock.on(PostToConnectionCommand, { ConnectionId: 'conn-down' }).rejects(new Error('socket hang up'));

    const result = await broadcaster().broadcast(providerWide);

    expect(result).toEqual({ delivered: 1, gone: 0, failed: 2 });
    expect(targets()).toEqual(['conn-down', 'conn-down', 'conn-forbidden', 'conn-forbidden', 'conn-live']);
    expect(ddbMock.commandCalls(DeleteCommand)).toHaveLength(0);
  });

  it('deletes a connection whose retry finds it gone', async () => {
    operatorsConnected({ connectionId: 'conn-a' });
    apiMock.on(PostToConnectionCommand).rejectsOnce(new Error('socket hang up')).rejects(gone());

    expect(await broadcaster().broadcast(providerWide)).toEqual({ delivered: 0, gone: 1, failed: 0 });
    expect(ddbMock.commandCalls(DeleteCommand)).toHaveLength(1);
  });

  it('posts to at most `concurrency` connections at once and reaches all of them', async () => {
    operatorsConnected(...Array.from({ length: 60 }, (_, i) => ({ connectionId: `conn-${i}` })));
    let inFlight = 0;
    let peak = 0;
    apiMock.on(PostToConnectionCommand).callsFake(async () => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
      return {};
    });

    const result = await broadcaster({ concurrency: 25 }).broadcast(providerWide);

    expect(result).toEqual({ delivered: 60, gone: 0, failed: 0 });
    expect(peak).toBe(25);
  });
});

describe('Broadcaster tenant scoping', () => {
  it("sends an owner's event to the owner's connections (the byUser index) and operators'", async () => {
    ownersConnected({ connectionId: 'alice-1', userId: 'alice' });
    operatorsConnected({ connectionId: 'oncall-1', userId: 'oncall' });

    const result = await broadcaster().broadcast(alicesEvent);

    expect(result).toEqual({ delivered: 2, gone: 0, failed: 0 });
    expect(targets()).toEqual(['alice-1', 'oncall-1']);
    expect(queriesOf('byUser')[0]?.args[0].input).toMatchObject({
      TableName: 'connections',
      KeyConditionExpression: 'userId = :user',
      FilterExpression: 'contains(events, :type)',
      ExpressionAttributeValues: { ':user': 'alice', ':type': 'webhook-event' },
    });
  });

  it("never sends an owner's event to another user's connection, whatever the index returns", async () => {
    ownersConnected({ connectionId: 'bob-1', userId: 'bob' });
    // Marked operator in the index but not in the item: not an operator's connection.
    ddbMock
      .on(QueryCommand, { IndexName: 'byRole' })
      .resolves({ Items: [item({ connectionId: 'bob-2', userId: 'bob' })] });

    expect(await broadcaster().broadcast(alicesEvent)).toEqual({ delivered: 0, gone: 0, failed: 0 });
    expect(targets()).toEqual([]);
  });

  it("sends the system owner's (provider-wide) events to operators only", async () => {
    ownersConnected({ connectionId: 'alice-1', userId: 'alice' });
    operatorsConnected(
      { connectionId: 'oncall-1', userId: 'oncall' },
      // The query filters on the type; a stale item that slipped through is still checked.
      { connectionId: 'oncall-alerts', userId: 'oncall', events: ['webhook-alert'] },
    );

    await broadcaster().broadcast(providerWide);

    expect(targets()).toEqual(['oncall-1']);
  });

  it('sends a push naming no owner to operators only', async () => {
    const teams = serverMessage('webhook-alert', { provider: 'all', metric: 'error_rate' }, at);
    operatorsConnected({ connectionId: 'oncall-1', userId: 'oncall', events: ['webhook-alert'] });

    expect(await broadcaster().broadcast(teams)).toEqual({ delivered: 1, gone: 0, failed: 0 });
    expect(queriesOf('byUser')).toHaveLength(0);
  });

  it('reaches an operator who is also the owner once', async () => {
    ownersConnected({ connectionId: 'alice-1', userId: 'alice' });
    operatorsConnected({ connectionId: 'alice-1', userId: 'alice' });

    expect(await broadcaster().broadcast(alicesEvent)).toEqual({ delivered: 1, gone: 0, failed: 0 });
  });

  it("applies the connections' provider and config filters", async () => {
    ownersConnected(
      { connectionId: 'all', userId: 'alice' },
      { connectionId: 'shopify', userId: 'alice', filters: { 'webhook-event': { providers: ['shopify'] } } },
      { connectionId: 'hubspot', userId: 'alice', filters: { 'webhook-event': { providers: ['hubspot'] } } },
      {
        connectionId: 'this-config',
        userId: 'alice',
        filters: { 'webhook-event': { configIds: ['cfg-alice'] } },
      },
      {
        connectionId: 'other-config',
        userId: 'alice',
        filters: { 'webhook-event': { configIds: ['cfg-2'] } },
      },
    );
    operatorsConnected();

    await broadcaster().broadcast(alicesEvent);

    expect(targets()).toEqual(['all', 'shopify', 'this-config']);
  });
});

describe('Broadcaster subscriber cache', () => {
  it("queries the operators' connections once per type within the cache time, then again", async () => {
    let now = 0;
    const cached = broadcaster({ subscriberCacheMs: 1000, now: () => now });
    operatorsConnected({ connectionId: 'conn-a' });

    await cached.broadcast(providerWide);
    now = 999;
    await cached.broadcast(providerWide);
    expect(queriesOf('byRole')).toHaveLength(1);
    now = 1000;
    await cached.broadcast(providerWide);

    expect(queriesOf('byRole')).toHaveLength(2);
    expect(targets()).toEqual(['conn-a', 'conn-a', 'conn-a']);
  });

  it('shares one query between concurrent pushes and keeps one per type', async () => {
    const cached = broadcaster({ subscriberCacheMs: 1000, now: () => 0 });
    operatorsConnected({ connectionId: 'conn-a', events: ['webhook-event', 'webhook-alert'] });

    await Promise.all([
      cached.broadcast(providerWide),
      cached.broadcast(providerWide),
      cached.broadcast(serverMessage('webhook-alert', { provider: 'shopify' }, at)),
    ]);

    expect(queriesOf('byRole').map((c) => c.args[0].input.ExpressionAttributeValues?.[':type'])).toEqual([
      'webhook-event',
      'webhook-alert',
    ]);
  });

  it('stops posting to a cached connection once it was found gone', async () => {
    const cached = broadcaster({ subscriberCacheMs: 1000, now: () => 0 });
    operatorsConnected({ connectionId: 'conn-live' }, { connectionId: 'conn-gone' });
    apiMock.on(PostToConnectionCommand, { ConnectionId: 'conn-gone' }).rejects(gone());

    await cached.broadcast(providerWide);
    const second = await cached.broadcast(providerWide);

    expect(second).toEqual({ delivered: 1, gone: 0, failed: 0 });
    expect(targets()).toEqual(['conn-gone', 'conn-live', 'conn-live']);
  });

  it('does not remember a failed query', async () => {
    const cached = broadcaster({ subscriberCacheMs: 1000, now: () => 0 });
    ddbMock
      .on(QueryCommand, { IndexName: 'byRole' })
      .rejectsOnce(new Error('ProvisionedThroughputExceededException'))
      .resolves({ Items: [item({ connectionId: 'conn-a', role: 'operator' })] });

    await expect(cached.broadcast(providerWide)).rejects.toThrow('ProvisionedThroughputExceededException');
    expect(await cached.broadcast(providerWide)).toEqual({ delivered: 1, gone: 0, failed: 0 });
  });

  it("always queries an owner's connections afresh", async () => {
    const cached = broadcaster({ subscriberCacheMs: 1000, now: () => 0 });
    ownersConnected({ connectionId: 'alice-1', userId: 'alice' });
    operatorsConnected();

    await cached.broadcast(alicesEvent);
    await cached.broadcast(alicesEvent);

    expect(queriesOf('byUser')).toHaveLength(2);
    expect(queriesOf('byRole')).toHaveLength(1);
  });
});

describe('Broadcaster.send', () => {
  it('reports a gone connection as false after deleting it', async () => {
    apiMock.on(PostToConnectionCommand).rejects(gone());

    expect(await broadcaster().send('conn-gone', providerWide)).toBe(false);
    expect(ddbMock.commandCalls(DeleteCommand)[0]?.args[0].input.Key).toEqual({ connectionId: 'conn-gone' });
  });

  it('rethrows any other error at once (a reply is not retried)', async () => {
    apiMock.on(PostToConnectionCommand).rejects(new Error('Throttling'));

    await expect(broadcaster().send('conn-a', providerWide)).rejects.toThrow('Throttling');
    expect(apiMock.commandCalls(PostToConnectionCommand)).toHaveLength(1);
    expect(ddbMock.commandCalls(DeleteCommand)).toHaveLength(0);
  });
});
