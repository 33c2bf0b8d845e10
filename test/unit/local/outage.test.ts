import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { interruptServer } from '../../../local/outage';

describe('interruptServer (a stand-in outage)', () => {
  const server = dynalite({ createTableMs: 0 });
  let ddb: DynamoDBClient;

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    ddb = new DynamoDBClient({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${port}`,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
    });
    await ddb.send(
      new CreateTableCommand({
        TableName: 'outage',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    await ddb.send(new PutItemCommand({ TableName: 'outage', Item: { pk: { S: 'kept' } } }));
  });

  afterAll(async () => {
    ddb.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it('refuses connections while down, then serves the same data on the same port', async () => {
    const get = () => ddb.send(new GetItemCommand({ TableName: 'outage', Key: { pk: { S: 'kept' } } }));
    const port = (server.address() as AddressInfo).port;
    const outage = interruptServer(server, 300);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await expect(get()).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await outage;
    expect((server.address() as AddressInfo).port).toBe(port);
    // dynalite's own close() would have dropped its tables; the outage keeps them.
    await expect(get()).resolves.toMatchObject({ Item: { pk: { S: 'kept' } } });
  });
});
