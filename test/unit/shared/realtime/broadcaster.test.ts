import {
  ApiGatewayManagementApiClient,
  ForbiddenException,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { logger } from '../../../../shared/observability';
import { Broadcaster, type BroadcasterOptions } from '../../../../shared/realtime/broadcaster';
import { serverMessage } from '../../../../shared/realtime/messages';
import type { Subscriber } from '../../../../shared/realtime/subscriptions';
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

type Stored = Partial<Subscriber> & { connectionId: string };

function item(connection: Stored): Subscriber {
  return { userId: 'user-1', events: ['webhook-event'], filters: {}, ...connection };
}

/** What the provider-wide scan returns. */
function scanned(...connections: Stored[]) {
  ddbMock.on(ScanCommand).resolves({ Items: connections.map(item) });
}

function targets(): string[] {
  return apiMock
    .commandCalls(PostToConnectionCommand)
    .map((c) => c.args[0].input.ConnectionId as string)
    .sort();
}

const gone = () => new GoneException({ message: 'Gone', $metadata: { httpStatusCode: 410 } });
const at = new Date('2026-01-01T00:00:00Z');
/** An event received on a provider-wide endpoint: no config, no owner. */
const providerWide = serverMessage(
  'webhook-event',
  { provider: 'shopify', objectId: '820982911946154508' },
  at,
);
/** An event received on alice's config endpoint. */
const alicesEvent = serverMessage(
  'webhook-event',
  { provider: 'shopify', objectId: '1', configId: 'cfg-alice', userId: 'alice' },
  at,
);

describe('Broadcaster fan-out', () => {
  it('scans for the subscribers of the push type and posts the message as JSON to each', async () => {
    scanned({ connectionId: 'conn-a' }, { connectionId: 'conn-b', userId: 'user-2' });

    const result = await broadcaster().broadcast(providerWide);

    expect(result).toEqual({ delivered: 2, gone: 0, failed: 0 });
    expect(targets()).toEqual(['conn-a', 'conn-b']);
    expect(ddbMock.commandCalls(ScanCommand)[0]?.args[0].input).toMatchObject({
      TableName: 'connections',
      FilterExpression: 'contains(events, :type)',
      ExpressionAttributeValues: { ':type': 'webhook-event' },
    });
    const data = apiMock.commandCalls(PostToConnectionCommand)[0]?.args[0].input.Data as Uint8Array;
    expect(JSON.parse(Buffer.from(data).toString('utf8'))).toEqual(providerWide);
  });

  it('follows scan pages until the last one', async () => {
    ddbMock
      .on(ScanCommand)
      .resolvesOnce({
        Items: [item({ connectionId: 'conn-a' })],
        LastEvaluatedKey: { connectionId: 'conn-a' },
      })
      .resolvesOnce({ Items: [item({ connectionId: 'conn-b' })] });

    const result = await broadcaster().broadcast(providerWide);

    expect(result.delivered).toBe(2);
    expect(ddbMock.commandCalls(ScanCommand)[1]?.args[0].input.ExclusiveStartKey).toEqual({
      connectionId: 'conn-a',
    });
  });

  it('sends nothing when no connection is subscribed', async () => {
    scanned();

    expect(await broadcaster().broadcast(providerWide)).toEqual({ delivered: 0, gone: 0, failed: 0 });
    expect(apiMock.commandCalls(PostToConnectionCommand)).toHaveLength(0);
  });

  it('deletes a connection that is gone (410), counts it and does not retry it', async () => {
    scanned({ connectionId: 'conn-live' }, { connectionId: 'conn-gone' });
    apiMock.on(PostToConnectionCommand, { ConnectionId: 'conn-gone' }).rejects(gone());

    const result = await broadcaster().broadcast(providerWide);

    expect(result).toEqual({ delivered: 1, gone: 1, failed: 0 });
    expect(ddbMock.commandCalls(DeleteCommand).map((c) => c.args[0].input)).toEqual([
      { TableName: 'connections', Key: { connectionId: 'conn-gone' } },
    ]);
    expect(targets()).toEqual(['conn-gone', 'conn-live']);
  });

  it('still counts a gone connection as gone when deleting it fails', async () => {
    scanned({ connectionId: 'conn-gone' });
    apiMock.on(PostToConnectionCommand).rejects(gone());
    ddbMock.on(DeleteCommand).rejects(new Error('ProvisionedThroughputExceededException'));

    expect(await broadcaster().broadcast(providerWide)).toEqual({ delivered: 0, gone: 1, failed: 0 });
  });

  it('retries any other error once and counts a retry that succeeds as delivered', async () => {
    scanned({ connectionId: 'conn-throttled' });
    apiMock.on(PostToConnectionCommand).rejectsOnce(new Error('LimitExceededException')).resolves({});

    const result = await broadcaster().broadcast(providerWide);

    expect(result).toEqual({ delivered: 1, gone: 0, failed: 0 });
    expect(targets()).toEqual(['conn-throttled', 'conn-throttled']);
  });

  it('counts a connection failing twice as failed, keeps it and still reaches the others', async () => {
    scanned({ connectionId: 'conn-live' }, { connectionId: 'conn-forbidden' }, { connectionId: 'conn-down' });
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
    scanned({ connectionId: 'conn-a' });
    apiMock.on(PostToConnectionCommand).rejectsOnce(new Error('socket hang up')).rejects(gone());

    expect(await broadcaster().broadcast(providerWide)).toEqual({ delivered: 0, gone: 1, failed: 0 });
    expect(ddbMock.commandCalls(DeleteCommand)).toHaveLength(1);
  });

  it('posts to at most `concurrency` connections at once and reaches all of them', async () => {
    scanned(...Array.from({ length: 60 }, (_, i) => ({ connectionId: `conn-${i}` })));
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
  it("sends a per-config event only to its owner's connections, found by the byUser index", async () => {
    ddbMock.on(QueryCommand).resolves({ Items: [item({ connectionId: 'alice-1', userId: 'alice' })] });
    scanned({ connectionId: 'alice-1', userId: 'alice' }, { connectionId: 'bob-1', userId: 'bob' });

    const result = await broadcaster().broadcast(alicesEvent);

    expect(result).toEqual({ delivered: 1, gone: 0, failed: 0 });
    expect(targets()).toEqual(['alice-1']);
    expect(ddbMock.commandCalls(ScanCommand)).toHaveLength(0);
    expect(ddbMock.commandCalls(QueryCommand)[0]?.args[0].input).toMatchObject({
      TableName: 'connections',
      IndexName: 'byUser',
      KeyConditionExpression: 'userId = :user',
      FilterExpression: 'contains(events, :type)',
      ExpressionAttributeValues: { ':user': 'alice', ':type': 'webhook-event' },
    });
  });

  it("never sends a per-config event to another user's connection, whatever the index returns", async () => {
    ddbMock.on(QueryCommand).resolves({ Items: [item({ connectionId: 'bob-1', userId: 'bob' })] });

    expect(await broadcaster().broadcast(alicesEvent)).toEqual({ delivered: 0, gone: 0, failed: 0 });
    expect(targets()).toEqual([]);
  });

  it('sends a provider-wide event to every user subscribed to its type, and only to them', async () => {
    scanned(
      { connectionId: 'alice-1', userId: 'alice' },
      { connectionId: 'bob-1', userId: 'bob' },
      // The scan filters on the type; a stale item that slipped through is still checked.
      { connectionId: 'bob-alerts', userId: 'bob', events: ['webhook-alert'] },
    );

    await broadcaster().broadcast(providerWide);

    expect(targets()).toEqual(['alice-1', 'bob-1']);
  });

  it('sends an event naming a config but no owner to nobody', async () => {
    const ownerless = serverMessage('webhook-event', { provider: 'shopify', configId: 'cfg-1' }, at);
    scanned({ connectionId: 'alice-1', userId: 'alice' });

    expect(await broadcaster().broadcast(ownerless)).toEqual({ delivered: 0, gone: 0, failed: 0 });
    expect(ddbMock.calls()).toHaveLength(0);
  });

  it("applies the connections' provider and config filters", async () => {
    ddbMock.on(QueryCommand).resolves({
      Items: [
        item({ connectionId: 'all', userId: 'alice' }),
        item({
          connectionId: 'shopify',
          userId: 'alice',
          filters: { 'webhook-event': { providers: ['shopify'] } },
        }),
        item({
          connectionId: 'hubspot',
          userId: 'alice',
          filters: { 'webhook-event': { providers: ['hubspot'] } },
        }),
        item({
          connectionId: 'this-config',
          userId: 'alice',
          filters: { 'webhook-event': { configIds: ['cfg-alice'] } },
        }),
        item({
          connectionId: 'other-config',
          userId: 'alice',
          filters: { 'webhook-event': { configIds: ['cfg-2'] } },
        }),
      ],
    });

    await broadcaster().broadcast(alicesEvent);

    expect(targets()).toEqual(['all', 'shopify', 'this-config']);
  });
});

describe('Broadcaster subscriber cache', () => {
  it('scans once for the provider-wide pushes of one type within the cache time, then again', async () => {
    let now = 0;
    const cached = broadcaster({ subscriberCacheMs: 1000, now: () => now });
    scanned({ connectionId: 'conn-a' });

    await cached.broadcast(providerWide);
    now = 999;
    await cached.broadcast(providerWide);
    expect(ddbMock.commandCalls(ScanCommand)).toHaveLength(1);
    now = 1000;
    await cached.broadcast(providerWide);

    expect(ddbMock.commandCalls(ScanCommand)).toHaveLength(2);
    expect(targets()).toEqual(['conn-a', 'conn-a', 'conn-a']);
  });

  it('shares one scan between concurrent pushes and keeps one per type', async () => {
    const cached = broadcaster({ subscriberCacheMs: 1000, now: () => 0 });
    scanned({ connectionId: 'conn-a', events: ['webhook-event', 'webhook-alert'] });

    await Promise.all([
      cached.broadcast(providerWide),
      cached.broadcast(providerWide),
      cached.broadcast(serverMessage('webhook-alert', { provider: 'shopify' }, at)),
    ]);

    expect(ddbMock.commandCalls(ScanCommand).map((c) => c.args[0].input.ExpressionAttributeValues)).toEqual([
      { ':type': 'webhook-event' },
      { ':type': 'webhook-alert' },
    ]);
  });

  it('stops posting to a cached connection once it was found gone', async () => {
    const cached = broadcaster({ subscriberCacheMs: 1000, now: () => 0 });
    scanned({ connectionId: 'conn-live' }, { connectionId: 'conn-gone' });
    apiMock.on(PostToConnectionCommand, { ConnectionId: 'conn-gone' }).rejects(gone());

    await cached.broadcast(providerWide);
    const second = await cached.broadcast(providerWide);

    expect(second).toEqual({ delivered: 1, gone: 0, failed: 0 });
    expect(targets()).toEqual(['conn-gone', 'conn-live', 'conn-live']);
  });

  it('does not remember a failed scan', async () => {
    const cached = broadcaster({ subscriberCacheMs: 1000, now: () => 0 });
    ddbMock
      .on(ScanCommand)
      .rejectsOnce(new Error('ProvisionedThroughputExceededException'))
      .resolves({ Items: [item({ connectionId: 'conn-a' })] });

    await expect(cached.broadcast(providerWide)).rejects.toThrow('ProvisionedThroughputExceededException');
    expect(await cached.broadcast(providerWide)).toEqual({ delivered: 1, gone: 0, failed: 0 });
  });

  it('always queries afresh for per-config pushes', async () => {
    const cached = broadcaster({ subscriberCacheMs: 1000, now: () => 0 });
    ddbMock.on(QueryCommand).resolves({ Items: [item({ connectionId: 'alice-1', userId: 'alice' })] });

    await cached.broadcast(alicesEvent);
    await cached.broadcast(alicesEvent);

    expect(ddbMock.commandCalls(QueryCommand)).toHaveLength(2);
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
