import {
  BeginTransactionCommand,
  CommitTransactionCommand,
  DatabaseResumingException,
  ExecuteStatementCommand,
  RDSDataClient,
} from '@aws-sdk/client-rds-data';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { migrationsHandler } from '../../../functions/migrate';
import { loadMigrations } from '../../../shared/db/migrate';
import { isDatabaseResuming, retryWhileResuming } from '../../../shared/db/resume';
import { useDataApiEnv } from '../support/data-api-env';

const rdsMock = mockClient(RDSDataClient);

useDataApiEnv();
afterEach(() => rdsMock.reset());

const resuming = () =>
  new DatabaseResumingException({ message: 'The database is resuming', $metadata: { httpStatusCode: 400 } });

const CREATE = {
  RequestType: 'Create',
  ServiceToken: 'token',
  ResponseURL: 'https://example.com',
  StackId: 'stack',
  RequestId: 'request',
  LogicalResourceId: 'Migrations',
  ResourceType: 'Custom::DatabaseMigrations',
  ResourceProperties: { ServiceToken: 'token' },
} satisfies CloudFormationCustomResourceEvent;

/** A clock that the stand-in sleep moves forward: no real waiting, and the deadline is real. */
function fakeTime() {
  let now = 1_000_000;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      now += ms;
    },
  };
}

describe('migrations custom resource', () => {
  it('waits for a paused cluster to resume, then applies every migration', async () => {
    // The Data API's answer to a paused Serverless v2 writer, then a database with no migrations yet.
    rdsMock.on(ExecuteStatementCommand).rejectsOnce(resuming()).resolves({ records: [] });
    rdsMock.on(BeginTransactionCommand).resolves({ transactionId: 'tx-1' });
    rdsMock.on(CommitTransactionCommand).resolves({ transactionStatus: 'Transaction Committed' });
    const time = fakeTime();

    const result = await migrationsHandler(time)(CREATE, { getRemainingTimeInMillis: () => 300_000 });

    const ids = (await loadMigrations()).map((migration) => migration.id);
    expect(result).toEqual({ PhysicalResourceId: 'schema-migrations', Data: { Applied: ids.join(',') } });
    expect(time.sleeps).toEqual([2000]);
    expect(rdsMock.commandCalls(CommitTransactionCommand)).toHaveLength(ids.length);
  });

  it('fails the deployment with the exception when the cluster is still resuming at its timeout', async () => {
    rdsMock.on(ExecuteStatementCommand).rejects(resuming());
    const time = fakeTime();

    await expect(
      migrationsHandler(time)(CREATE, { getRemainingTimeInMillis: () => 120_000 }),
    ).rejects.toSatisfy(isDatabaseResuming);
    // 2 + 4 + 8 + 16 + 20 + 20 + 20 s fit in 120 s less the 15 s kept to answer; the next would not.
    expect(time.sleeps).toEqual([2000, 4000, 8000, 16_000, 20_000, 20_000, 20_000]);
  });

  it('does not retry another error', async () => {
    rdsMock.on(ExecuteStatementCommand).rejects(new Error('syntax error at or near "CREATE"'));
    const time = fakeTime();

    await expect(
      migrationsHandler(time)(CREATE, { getRemainingTimeInMillis: () => 300_000 }),
    ).rejects.toThrow();
    expect(time.sleeps).toEqual([]);
  });

  it('leaves the schema in place on delete', async () => {
    const result = await migrationsHandler()(
      { ...CREATE, RequestType: 'Delete', PhysicalResourceId: 'schema-migrations' },
      { getRemainingTimeInMillis: () => 300_000 },
    );
    expect(result).toEqual({ PhysicalResourceId: 'schema-migrations' });
    expect(rdsMock.calls()).toHaveLength(0);
  });
});

describe('isDatabaseResuming', () => {
  it('finds the exception anywhere in the cause chain, and nothing else', async () => {
    expect(isDatabaseResuming(resuming())).toBe(true);
    expect(isDatabaseResuming(new Error('Failed query', { cause: resuming() }))).toBe(true);
    expect(isDatabaseResuming(new Error('Failed query', { cause: new Error('timeout') }))).toBe(false);
    expect(isDatabaseResuming('DatabaseResumingException')).toBe(false);
    await expect(retryWhileResuming(async () => 'done', { deadline: 0 })).resolves.toBe('done');
  });
});
