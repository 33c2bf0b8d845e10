import { EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signDevToken } from '../../../../shared/auth/tokens';

const ddbMock = mockClient(DynamoDBDocumentClient);
const kmsMock = mockClient(KMSClient);
const ENV = {
  CONFIGS_TABLE: 'webhook-configs-table',
  WEBHOOK_BASE_URL: 'https://abc.execute-api.eu-west-1.amazonaws.com/prod',
  DEV_TOKEN_SECRET: 'management-unit-secret',
  SECRET_GRACE_HOURS: '2',
  AWS_REGION: 'eu-west-1',
  EVENT_LOG_TABLE: 'webhook-events-table',
  METRICS_TABLE: 'webhook-metrics-table',
  // Alert rules live in Postgres, reached through the Data API as in Lambda (no call is made until
  // an alert route runs).
  DB_CLUSTER_ARN: 'arn:aws:rds:eu-west-1:123456789012:cluster:unused',
  DB_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:unused',
  DB_NAME: 'unused',
  EVENT_BUS_NAME: 'webhooks-domain-events',
  REJECTIONS_TABLE: 'webhook-rejections-table',
  SECRETS_KEY_ID: 'arn:aws:kms:eu-west-1:1:key/secrets',
  ...Object.fromEntries(
    ['HIGH', 'MEDIUM', 'LOW'].flatMap((suffix) => [
      [`QUEUE_URL_${suffix}`, `https://sqs.eu-west-1.amazonaws.com/1/q-${suffix}.fifo`],
      [`QUEUE_ARN_${suffix}`, `arn:aws:sqs:eu-west-1:1:q-${suffix}.fifo`],
      [`DLQ_URL_${suffix}`, `https://sqs.eu-west-1.amazonaws.com/1/dlq-${suffix}.fifo`],
      [`DLQ_ARN_${suffix}`, `arn:aws:sqs:eu-west-1:1:dlq-${suffix}.fifo`],
    ]),
  ),
};
const saved: Record<string, string | undefined> = {};

beforeAll(() => {
  for (const [name, value] of Object.entries(ENV)) {
    saved[name] = process.env[name];
    process.env[name] = value;
  }
});

afterAll(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

afterEach(() => {
  ddbMock.reset();
  kmsMock.reset();
});

describe('management Lambda entry point', () => {
  it('reads its tables, queues, base URL and token secret from the environment', async () => {
    ddbMock.on(PutCommand).resolves({}).on(UpdateCommand).resolves({});
    kmsMock.on(EncryptCommand).resolves({ CiphertextBlob: Buffer.from('ciphertext') });
    const { handler } = await import('../../../../functions/api/management');
    const token = await signDevToken(ENV.DEV_TOKEN_SECRET, 'user-1');

    const response = await handler({
      httpMethod: 'POST',
      path: '/api/webhooks/register',
      resource: '/api/webhooks/register',
      headers: { Authorization: `Bearer ${token}` },
      body: Buffer.from(JSON.stringify({ provider: 'shopify', events: ['orders/create'] })).toString(
        'base64',
      ),
      isBase64Encoded: true,
    } as unknown as APIGatewayProxyEvent);

    expect(response.statusCode).toBe(201);
    const { webhook } = JSON.parse(response.body);
    expect(webhook.webhook_url).toBe(`${ENV.WEBHOOK_BASE_URL}/api/webhooks/shopify/${webhook.id}`);
    expect(ddbMock.commandCalls(PutCommand)[0]?.args[0].input).toMatchObject({
      TableName: ENV.CONFIGS_TABLE,
      Item: {
        userId: 'user-1',
        provider: 'shopify',
        secretCiphertext: Buffer.from('ciphertext').toString('base64'),
      },
    });
    // The secret is encrypted with the stack's key, bound to its config.
    expect(kmsMock.commandCalls(EncryptCommand)[0]?.args[0].input).toMatchObject({
      KeyId: ENV.SECRETS_KEY_ID,
      EncryptionContext: { purpose: 'webhooks-config-secret', configId: webhook.id, field: 'signing-secret' },
    });
  });
});
