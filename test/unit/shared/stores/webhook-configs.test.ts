import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  acceptedSecrets,
  cachedConfigLookup,
  type WebhookConfig,
  WebhookConfigStore,
} from '../../../../shared/stores/webhook-configs';
import { fakeCipher } from '../../support/fake-cipher';
import { webhookConfig } from '../../support/webhook-config';

const ddbMock = mockClient(DynamoDBDocumentClient);

afterEach(() => {
  ddbMock.reset();
});

function config(overrides: Partial<WebhookConfig> = {}): WebhookConfig {
  return webhookConfig({
    createdAt: '2026-03-01T10:00:00.000Z',
    updatedAt: '2026-03-01T10:00:00.000Z',
    ...overrides,
  });
}

const store = () =>
  new WebhookConfigStore(DynamoDBDocumentClient.from(new DynamoDBClient({})), 'configs', fakeCipher);
const conditionFailed = () => new ConditionalCheckFailedException({ message: 'failed', $metadata: {} });

describe('acceptedSecrets', () => {
  const rotated = config({
    secret: 'new-secret-0123456789',
    previousSecret: 'old-secret-0123456789',
    previousSecretExpiresAt: '2026-03-02T10:00:00.000Z',
  });

  it('accepts the previous secret until its grace period ends, after the current one', () => {
    expect(acceptedSecrets(rotated, new Date('2026-03-02T09:59:59.999Z'))).toEqual([
      'new-secret-0123456789',
      'old-secret-0123456789',
    ]);
  });

  it('accepts only the current secret from the moment the grace period ends', () => {
    expect(acceptedSecrets(rotated, new Date('2026-03-02T10:00:00.000Z'))).toEqual(['new-secret-0123456789']);
  });

  it('accepts only the current secret of a config never rotated', () => {
    expect(acceptedSecrets(config(), new Date())).toEqual(['current-secret-0123456789']);
  });
});

describe('WebhookConfigStore', () => {
  it('binds an unbound config to an account, conditionally, and reports the account it is bound to', async () => {
    ddbMock.on(UpdateCommand).resolvesOnce({}).rejectsOnce(conditionFailed());
    ddbMock.on(GetCommand).resolves({ Item: config({ sourceAccount: 'first.myshopify.com' }) });

    expect(await store().bindSourceAccount('id-1', 'first.myshopify.com')).toBe('first.myshopify.com');
    expect(await store().bindSourceAccount('id-1', 'second.myshopify.com')).toBe('first.myshopify.com');

    expect(ddbMock.commandCalls(UpdateCommand)[0]?.args[0].input).toMatchObject({
      Key: { id: 'id-1' },
      UpdateExpression: 'SET sourceAccount = :account',
      ConditionExpression: 'attribute_exists(id) AND attribute_not_exists(sourceAccount)',
    });
  });

  it("lists every owner's configs for operators without reading their secrets", async () => {
    ddbMock
      .on(ScanCommand)
      .resolvesOnce({ Items: [config({ id: 'b', userId: 'bob' })], LastEvaluatedKey: { id: 'b' } })
      .resolvesOnce({ Items: [config({ id: 'a' })] });

    const listed = await store().listAll();

    expect(listed.map((c) => c.id)).toEqual(['a', 'b']);
    const projection = ddbMock.commandCalls(ScanCommand)[0]?.args[0].input;
    const attributes = Object.values(projection?.ExpressionAttributeNames ?? {});
    expect(attributes).toEqual(expect.arrayContaining(['id', 'userId', 'provider', 'active']));
    for (const secret of ['secret', 'previousSecret', 'providerCredentials'])
      expect(attributes).not.toContain(secret);
  });

  it("hides another user's config from getOwned", async () => {
    ddbMock.on(GetCommand).resolves({ Item: config() });
    expect(await store().getOwned(config().id, 'alice')).toEqual(config());
    expect(await store().getOwned(config().id, 'mallory')).toBeUndefined();
  });

  it("lists a user's configs from the byOwner index, following pages", async () => {
    ddbMock
      .on(QueryCommand)
      .resolvesOnce({ Items: [config({ id: 'a' })], LastEvaluatedKey: { id: 'a' } })
      .resolvesOnce({ Items: [config({ id: 'b' })] });
    const configs = await store().listByUser('alice');
    expect(configs.map((c) => c.id)).toEqual(['a', 'b']);
    expect(ddbMock.commandCalls(QueryCommand)[0]?.args[0].input).toMatchObject({
      IndexName: 'byOwner',
      KeyConditionExpression: 'userId = :userId',
      ExpressionAttributeValues: { ':userId': 'alice' },
    });
  });

  it('updates only a config of the caller and only the given fields', async () => {
    ddbMock.on(UpdateCommand).resolves({ Attributes: config({ active: false }) });
    const updated = await store().update(
      config().id,
      'alice',
      { active: false },
      new Date('2026-03-01T11:00:00Z'),
    );
    expect(updated?.active).toBe(false);
    expect(ddbMock.commandCalls(UpdateCommand)[0]?.args[0].input).toMatchObject({
      UpdateExpression: 'SET #active = :active, #updatedAt = :updatedAt',
      ConditionExpression: 'attribute_exists(id) AND #owner = :owner',
      ExpressionAttributeNames: { '#owner': 'userId' },
      ExpressionAttributeValues: {
        ':owner': 'alice',
        ':active': false,
        ':updatedAt': '2026-03-01T11:00:00.000Z',
      },
    });
  });

  it('answers undefined and false when the owner condition fails', async () => {
    ddbMock.on(UpdateCommand).rejects(conditionFailed()).on(DeleteCommand).rejects(conditionFailed());
    expect(await store().update(config().id, 'mallory', { active: false }, new Date())).toBeUndefined();
    expect(await store().delete(config().id, 'mallory')).toBe(false);
    expect(ddbMock.commandCalls(DeleteCommand)[0]?.args[0].input).toMatchObject({
      ConditionExpression: 'attribute_exists(id) AND userId = :userId',
      ExpressionAttributeValues: { ':userId': 'mallory' },
    });
  });

  it('rotates conditionally on the ciphertext it replaced, moving that one to previous', async () => {
    const stored = config({
      secretCiphertext: `enc(${config().id}/signing-secret:current-secret-0123456789)`,
    });
    ddbMock.on(UpdateCommand).resolves({ Attributes: { ...stored, secretCiphertext: 'x' } });
    const rotated = await store().rotateSecret(
      stored,
      'next',
      new Date('2026-03-02T10:00:00Z'),
      new Date('2026-03-01T10:00:00Z'),
    );
    expect(ddbMock.commandCalls(UpdateCommand)[0]?.args[0].input).toMatchObject({
      ConditionExpression: 'attribute_exists(id) AND #owner = :owner AND secretCiphertext = :current',
      ExpressionAttributeValues: {
        ':secret': `enc(${config().id}/signing-secret:next)`,
        ':previous': stored.secretCiphertext,
        ':current': stored.secretCiphertext,
        ':expiresAt': '2026-03-02T10:00:00.000Z',
        ':owner': 'alice',
      },
    });
    expect(rotated).toMatchObject({ secret: 'next', previousSecret: 'current-secret-0123456789' });
  });
});

describe('cachedConfigLookup', () => {
  it('serves a config from the cache until its TTL, then reads it again', async () => {
    let now = 1_000;
    const load = vi.fn(async () => config());
    const lookup = cachedConfigLookup(load, { ttlMs: 60_000, now: () => now });

    await lookup('x');
    now += 59_999;
    await lookup('x');
    expect(load).toHaveBeenCalledTimes(1);

    now += 1;
    await lookup('x');
    expect(load).toHaveBeenCalledTimes(2);
  });

  it('reads again when asked to refresh, at most once per interval', async () => {
    let now = 0;
    const load = vi.fn(async () => config());
    const lookup = cachedConfigLookup(load, { ttlMs: 60_000, minRefreshIntervalMs: 5_000, now: () => now });
    await lookup('x');
    await lookup('x', { refresh: true });
    expect(load).toHaveBeenCalledTimes(2);

    now = 4_999;
    await lookup('x', { refresh: true });
    await lookup('x');
    expect(load).toHaveBeenCalledTimes(2);

    now = 5_000;
    await lookup('x', { refresh: true });
    expect(load).toHaveBeenCalledTimes(3);
  });

  it("forgets an invalidated config, so the instance's own change is read at the next lookup", async () => {
    const load = vi.fn(async () => config());
    const lookup = cachedConfigLookup(load, { ttlMs: 60_000, now: () => 0 });
    await lookup('x');

    lookup.invalidate('x');
    await lookup('x');

    expect(load).toHaveBeenCalledTimes(2);
  });

  it('caches misses too, so probing an unknown id costs one read per TTL', async () => {
    const load = vi.fn(async () => undefined);
    const lookup = cachedConfigLookup(load, { ttlMs: 60_000, now: () => 0 });
    expect(await lookup('nope')).toBeUndefined();
    expect(await lookup('nope')).toBeUndefined();
    expect(load).toHaveBeenCalledTimes(1);
  });

  it('evicts the oldest entry beyond its size and caches nothing with a zero TTL', async () => {
    const load = vi.fn(async (id: string) => config({ id }));
    const lookup = cachedConfigLookup(load, { ttlMs: 60_000, maxEntries: 2, now: () => 0 });
    await lookup('a');
    await lookup('b');
    await lookup('c');
    await lookup('b');
    expect(load).toHaveBeenCalledTimes(3);
    await lookup('a');
    expect(load).toHaveBeenCalledTimes(4);

    const uncached = vi.fn(async () => config());
    const noCache = cachedConfigLookup(uncached, { ttlMs: 0 });
    await noCache('a');
    await noCache('a');
    expect(uncached).toHaveBeenCalledTimes(2);
  });
});
