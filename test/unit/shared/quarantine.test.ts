import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  GetObjectCommand,
  type GetObjectCommandOutput,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { keptRequest } from '../../../shared/kept-request';
import { Quarantine, quarantineKey } from '../../../shared/quarantine';
import type { ServerMessage } from '../../../shared/realtime/messages';
import { EventLog } from '../../../shared/stores/event-log';
import { PayloadStore } from '../../../shared/stores/payload-store';
import { shopifyRequest } from '../support/shopify';

const NOW = new Date('2022-01-01T00:00:07.000Z');
const s3Mock = mockClient(S3Client);
const ddbMock = mockClient(DynamoDBDocumentClient);

afterEach(() => {
  s3Mock.reset();
  ddbMock.reset();
});

function quarantine(pushed: ServerMessage[] = []) {
  return new Quarantine({
    payloads: new PayloadStore(new S3Client({ region: 'eu-west-1' }), 'webhook-payloads'),
    eventLog: new EventLog(
      DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' })),
      'event-log',
      30,
    ),
    broadcaster: {
      broadcast: async (message) => {
        pushed.push(message);
        return { delivered: 1, gone: 0, failed: 0 };
      },
    },
  });
}

const delivery = {
  provider: 'shopify' as const,
  ownerId: 'alice',
  configId: 'config-1',
  reason: 'Not what the shopify parser expects: Payload needs an id',
  receivedAt: NOW,
  acceptanceId: 'acceptance-1',
};

describe('the quarantine', () => {
  it('keeps the raw request without its credentials, logs it quarantined under its owner, and pushes it', async () => {
    s3Mock.on(PutObjectCommand).resolves({});
    ddbMock.on(UpdateCommand).resolves({});
    const pushed: ServerMessage[] = [];
    const request = shopifyRequest(Buffer.from([0x7b, 0xff, 0x7d]), {
      headers: { authorization: 'Bearer secret' },
    });

    const id = await quarantine(pushed).park(request, delivery);

    expect(id).toBe(quarantineKey(delivery, request.body));
    expect(id).toMatch(/^alice:shopify:quarantine:config-1:[0-9a-f]{64}$/);
    const put = s3Mock.commandCalls(PutObjectCommand)[0]?.args[0].input;
    expect(put?.Key).toMatch(/^quarantine\/shopify\/2022-01-01\/[0-9a-f]{64}\.json$/);
    const kept = JSON.parse(String(put?.Body));
    expect(Buffer.from(kept.body, 'base64')).toEqual(request.body);
    expect(kept.headers).toMatchObject({ 'x-shopify-topic': 'orders/create' });
    expect(kept.headers).not.toHaveProperty('authorization');
    const update = ddbMock.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(update?.Key).toEqual({ pk: id });
    expect(update?.ExpressionAttributeValues).toMatchObject({
      ':i_status': 'quarantined',
      ':i_userId': 'alice',
      ':s_configId': 'config-1',
      ':s_eventType': 'orders/create',
      ':s_errorMessage': delivery.reason,
      ':s_rawRef': { bucket: 'webhook-payloads', key: put?.Key },
      ':a_receipts': new Set(['acceptance-1']),
    });
    expect(pushed).toEqual([
      {
        type: 'webhook-event',
        timestamp: NOW.toISOString(),
        data: expect.objectContaining({
          id,
          status: 'quarantined',
          errorMessage: delivery.reason,
          ownerId: 'alice',
        }),
      },
    ]);
  });

  it('fails (so ingest answers 503) when the raw request cannot be kept, and logs nothing', async () => {
    s3Mock.on(PutObjectCommand).rejects(new Error('SlowDown'));

    await expect(quarantine().park(shopifyRequest(Buffer.from('{}')), delivery)).rejects.toThrow('SlowDown');
    expect(ddbMock.commandCalls(UpdateCommand)).toHaveLength(0);
  });

  it('reads a kept request back byte for byte, as the parser reads a live one', async () => {
    const request = shopifyRequest(Buffer.from([0x7b, 0xff, 0x7d]));
    s3Mock.on(PutObjectCommand).resolves({});
    ddbMock.on(UpdateCommand).resolves({});
    await quarantine().park(request, delivery);
    const body = String(s3Mock.commandCalls(PutObjectCommand)[0]?.args[0].input.Body);
    s3Mock.on(GetObjectCommand).resolves({
      Body: { transformToString: async () => body } as unknown as GetObjectCommandOutput['Body'],
    });

    const read = await keptRequest(
      new PayloadStore(new S3Client({ region: 'eu-west-1' }), 'webhook-payloads'),
      {
        bucket: 'webhook-payloads',
        key: 'quarantine/shopify/2022-01-01/x.json',
      },
    );

    expect(read).toEqual({ ...request, headers: request.headers });
  });
});
