import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTables, TABLES } from '../../../../local/resources';
import {
  DETAILS_PER_MINUTE,
  type Rejection,
  RejectionStore,
  totalOf,
} from '../../../../shared/stores/rejections';

/* The rejection store against dynalite, with the table and byDay index the local stack creates. */

let server: Server;
let store: RejectionStore;

beforeAll(async () => {
  server = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = new DynamoDBClient({
    region: 'eu-west-1',
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  await createTables(client);
  store = new RejectionStore(DynamoDBDocumentClient.from(client), TABLES.rejections);
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const T0 = Date.parse('2026-03-01T23:58:00.000Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

function rejection(overrides: Partial<Rejection> = {}): Rejection {
  return {
    ownerId: 'alice',
    provider: 'shopify',
    configId: 'c1',
    status: 401,
    cause: 'signature_mismatch',
    message: 'Invalid X-Shopify-Hmac-Sha256 signature',
    sourceIp: '203.0.113.9',
    bodyBytes: 120,
    receivedAt: at(0),
    ...overrides,
  };
}

describe('RejectionStore', () => {
  it("lists an owner's rejections newest first, filtered, page by page", async () => {
    await store.record(rejection({ receivedAt: at(1) }));
    await store.record(
      rejection({ receivedAt: at(2), cause: 'stale_timestamp', detail: { skew_seconds: 420 } }),
    );
    await store.record(rejection({ receivedAt: at(3), provider: 'hubspot', configId: 'c2' }));
    await store.record(rejection({ ownerId: 'bob', receivedAt: at(4) }));
    const range = { since: at(0), until: at(600) };

    const all = await store.list({ ownerId: 'alice', ...range, limit: 10 });
    expect(all.items.map((r) => [r.receivedAt, r.cause])).toEqual([
      [at(3), 'signature_mismatch'],
      [at(2), 'stale_timestamp'],
      [at(1), 'signature_mismatch'],
    ]);
    expect(all.items[1]).toMatchObject({ detail: { skew_seconds: 420 }, sourceIp: '203.0.113.9' });

    const first = await store.list({ ownerId: 'alice', ...range, limit: 2 });
    const second = await store.list({ ownerId: 'alice', ...range, limit: 2, after: first.next });
    expect([...first.items, ...second.items].map((r) => r.receivedAt)).toEqual([at(3), at(2), at(1)]);
    expect(second.next).toBeUndefined();

    const shopifyOnly = await store.list({ ownerId: 'alice', ...range, limit: 10, provider: 'shopify' });
    expect(shopifyOnly.items).toHaveLength(2);
    const byCause = await store.list({ ownerId: 'alice', ...range, limit: 10, cause: 'stale_timestamp' });
    expect(byCause.items).toHaveLength(1);
  });

  it("lists every owner's rejections across UTC days for operators", async () => {
    await store.record(rejection({ ownerId: 'carol', receivedAt: at(130) })); // the next day
    const everyone = await store.list({ since: at(0), until: at(600), limit: 50 });

    expect(everyone.items.map((r) => r.ownerId)).toEqual(['carol', 'bob', 'alice', 'alice', 'alice']);
    const paged = await store.list({ since: at(0), until: at(600), limit: 2 });
    const rest = await store.list({ since: at(0), until: at(600), limit: 50, after: paged.next });
    expect([...paged.items, ...rest.items].map((r) => r.ownerId)).toEqual(
      everyone.items.map((r) => r.ownerId),
    );
  });

  it('counts per provider and cause for an owner and for everyone', async () => {
    const alice = await store.counts('alice', new Date(T0), new Date(T0 + 600_000));
    expect(alice).toEqual({
      shopify: { signature_mismatch: 1, stale_timestamp: 1 },
      hubspot: { signature_mismatch: 1 },
    });
    const everyone = await store.counts(undefined, new Date(T0), new Date(T0 + 600_000));
    expect(totalOf(everyone)).toBe(5);
    expect(totalOf(everyone, 'hubspot')).toBe(1);
  });

  it('keeps only the first rejections of a minute in full, and counts them all', async () => {
    for (let i = 0; i < DETAILS_PER_MINUTE + 5; i++)
      await store.record(rejection({ ownerId: 'flooded', receivedAt: at(i / 10) }));

    const kept = await store.list({ ownerId: 'flooded', since: at(0), until: at(60), limit: 200 });
    const counted = await store.counts('flooded', new Date(T0), new Date(T0 + 60_000));
    expect(kept.items).toHaveLength(DETAILS_PER_MINUTE);
    expect(counted).toEqual({ shopify: { signature_mismatch: DETAILS_PER_MINUTE + 5 } });
  });
});
