import { ExecuteStatementCommand, type Field, RDSDataClient } from '@aws-sdk/client-rds-data';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Db, dbFromEnv, useWireProtocol } from '../../../../shared/db/client';
import { entityHandlerFor } from '../../../../shared/process/entities';
import { directWriter } from '../../../../shared/process/entities/upsert';
import { useDataApiEnv } from '../../support/data-api-env';
import { shopifyEnvelope } from '../../support/envelopes';

const ORDER_ID = '820982911946154508';
const rdsMock = mockClient(RDSDataClient);

useDataApiEnv();

afterEach(() => {
  rdsMock.reset();
});

const ENVELOPE = shopifyEnvelope('orders-create.json');

/** What the statement returns for a row it wrote: its key, its newest event, and whether it is live. */
function returnedRow(eventId: string, live: boolean): Field[] {
  return [
    { stringValue: ENVELOPE.ownerId },
    { stringValue: ENVELOPE.meta.shopDomain ?? '' },
    { stringValue: ORDER_ID },
    { stringValue: eventId },
    { booleanValue: live },
  ];
}

async function upsertThroughDataApi() {
  const envelope = ENVELOPE;
  const upsert = entityHandlerFor(envelope);
  if (!upsert) throw new Error('no handler for shopify orders');
  return upsert(directWriter(dbFromEnv()), envelope);
}

describe('dbFromEnv over the RDS Data API', () => {
  it('sends the monotonic order upsert as one ExecuteStatement to the configured cluster', async () => {
    rdsMock.on(ExecuteStatementCommand).resolves({ records: [returnedRow(ENVELOPE.dedupKey, true)] });

    const changed = await upsertThroughDataApi();

    expect(changed).toBe(true);
    const calls = rdsMock.commandCalls(ExecuteStatementCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]?.args[0].input;
    expect(input).toMatchObject({
      resourceArn: 'arn:aws:rds:eu-west-1:123456789012:cluster:webhooks',
      secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:webhooks-db-AbCdEf',
      database: 'webhooks',
    });
    const statement = input?.sql?.toLowerCase() ?? '';
    expect(statement).toContain('insert into "synced_orders"');
    // The owner leads the key: two owners' copies of one order are two rows.
    expect(statement).toContain('on conflict ("owner_id","shop_domain","id") do update');
    // The row version, compared as a row value, guards the row-level columns and the update itself.
    expect(statement).toContain(
      'where ("synced_orders"."source_updated_at", "synced_orders"."source_sequence", "synced_orders"."source_event_id") <= (excluded."source_updated_at", excluded."source_sequence", excluded."source_event_id")',
    );
    // Each row it wrote, by key: the caller tells its events apart (a statement holds many rows).
    expect(statement).toContain(
      'returning "owner_id", "shop_domain", "id", "source_event_id", ("deleted_at" is null)',
    );
    // The Data API takes no `::` casts after a parameter, and no array parameters.
    expect(statement).not.toMatch(/:\d+::/);
  });

  it('passes the order id as a string parameter and the source time in UTC', async () => {
    rdsMock.on(ExecuteStatementCommand).resolves({ records: [returnedRow(ENVELOPE.dedupKey, true)] });

    await upsertThroughDataApi();

    const parameters = rdsMock.commandCalls(ExecuteStatementCommand)[0]?.args[0].input.parameters ?? [];
    expect(parameters[0]?.value).toEqual({ stringValue: ORDER_ID });
    const payload = parameters.find((p) => p.value?.stringValue?.startsWith('{'));
    expect(payload?.typeHint).toBe('JSON');
    expect(payload?.value?.stringValue).toContain(`"id":"${ORDER_ID}"`);
    expect(parameters).toContainEqual(
      expect.objectContaining({ value: { stringValue: '2022-01-01 00:00:00.000' }, typeHint: 'TIMESTAMP' }),
    );
    expect(parameters).toContainEqual(expect.objectContaining({ value: { longValue: 0 } }));
    expect(parameters).toContainEqual(expect.objectContaining({ value: { stringValue: 'system' } }));
  });

  it('reports a stale event when the upsert returns no row, or a row it did not make visible', async () => {
    // A tombstone whose newest event is another's.
    rdsMock.on(ExecuteStatementCommand).resolves({ records: [returnedRow('shopify:newer', false)] });
    await expect(upsertThroughDataApi()).resolves.toBe(false);

    rdsMock.on(ExecuteStatementCommand).resolves({ records: [] });

    await expect(upsertThroughDataApi()).resolves.toBe(false);
  });
});

describe('dbFromEnv with DATABASE_URL', () => {
  const url = 'postgres://local@127.0.0.1:5434/postgres';

  it('needs the wire-protocol driver plugged in: no Lambda bundle carries one', () => {
    vi.stubEnv('DATABASE_URL', url);
    try {
      expect(() => dbFromEnv()).toThrow('DATABASE_URL is set but no wire-protocol driver is plugged in');
    } finally {
      vi.stubEnv('DATABASE_URL', '');
    }
  });

  it('opens the URL with the driver the local stack plugs in', () => {
    const db = {} as Db;
    const opened: string[] = [];
    useWireProtocol((given) => {
      opened.push(given);
      return db;
    });
    vi.stubEnv('DATABASE_URL', url);
    try {
      expect(dbFromEnv()).toBe(db);
      expect(opened).toEqual([url]);
    } finally {
      vi.stubEnv('DATABASE_URL', '');
    }
  });
});
