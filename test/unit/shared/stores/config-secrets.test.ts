import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalKms } from '../../../../local/kms';
import { createTables, TABLES } from '../../../../local/resources';
import { KmsSecretCipher } from '../../../../shared/secret-cipher';
import { CONFIGS_BY_OWNER_INDEX, WebhookConfigStore } from '../../../../shared/stores/webhook-configs';
import { webhookConfig } from '../../support/webhook-config';

/*
 * Config secrets at rest (issue 16): the configs table on dynalite, encrypted through the real KMS
 * client against the local KMS stand-in (local/kms.ts), which serves Encrypt and Decrypt as KMS does.
 */

const servers: Server[] = [];
let ddb: DynamoDBDocumentClient;
let kms: KMSClient;
let keyArn: string;

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  const credentials = { accessKeyId: 'x', secretAccessKey: 'x' };
  const client = new DynamoDBClient({
    region: 'us-east-1',
    endpoint: await listen(dynalite({ createTableMs: 0 })),
    credentials,
  });
  await createTables(client);
  ddb = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  const local = createLocalKms({ region: 'us-east-1', account: '000000000000' });
  keyArn = local.keyArn;
  kms = new KMSClient({ region: 'us-east-1', endpoint: await listen(local.server), credentials });
});

afterAll(async () => {
  for (const server of servers) await new Promise((resolve) => server.close(resolve));
});

const store = () => new WebhookConfigStore(ddb, TABLES.configs, new KmsSecretCipher(kms, keyArn));
const raw = async (id: string) =>
  (await ddb.send(new GetCommand({ TableName: TABLES.configs, Key: { id } }))).Item as Record<
    string,
    unknown
  >;

const SECRET = 'signing-secret-of-alice-0123456789';
const TOKEN = 'shpat_0123456789abcdef';
const alice = webhookConfig({
  id: '11111111-1111-4111-8111-111111111111',
  secret: SECRET,
  providerCredentials: { provider: 'shopify', shop_domain: 'a.myshopify.com', access_token: TOKEN },
});

describe('config secrets at rest', () => {
  it('stores the signing secret and the provider credentials as KMS ciphertexts only', async () => {
    await store().create(alice);

    const item = await raw(alice.id);
    const text = JSON.stringify(item);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(TOKEN);
    expect(item).not.toHaveProperty('secret');
    expect(item).not.toHaveProperty('providerCredentials');
    expect(item.secretCiphertext).toEqual(expect.any(String));
    expect(item.providerCredentialsCiphertext).toEqual(expect.any(String));
  });

  it('decrypts the signing secret for the ingest path, and the credentials only for the management API', async () => {
    const forIngest = await store().get(alice.id);
    const forManagement = await store().getOwned(alice.id, 'alice');

    expect(forIngest?.secret).toBe(SECRET);
    expect(forIngest).not.toHaveProperty('providerCredentials');
    expect(forManagement?.providerCredentials).toEqual(alice.providerCredentials);
  });

  it('lists configs through an index that holds no secret, not even a ciphertext', async () => {
    const { Items } = await ddb.send(
      new QueryCommand({
        TableName: TABLES.configs,
        IndexName: CONFIGS_BY_OWNER_INDEX,
        KeyConditionExpression: 'userId = :u',
        ExpressionAttributeValues: { ':u': 'alice' },
      }),
    );
    expect(Items).toHaveLength(1);
    expect(Object.keys(Items?.[0] ?? {}).filter((name) => /secret|credential/i.test(name))).toEqual([]);
    expect((await store().listByUser('alice')).map((c) => c.id)).toEqual([alice.id]);
  });

  it('binds each ciphertext to its config: copied into another config, it no longer decrypts', async () => {
    const item = await raw(alice.id);
    const mallory = { ...item, id: '22222222-2222-4222-8222-222222222222', userId: 'mallory' };
    await ddb.send(new PutCommand({ TableName: TABLES.configs, Item: mallory }));

    await expect(store().get(mallory.id)).rejects.toMatchObject({ name: 'InvalidCiphertextException' });
  });

  it('reads no secret at all without a cipher (the metrics job), and refuses to write one', async () => {
    const noCipher = new WebhookConfigStore(ddb, TABLES.configs);

    expect((await noCipher.listAll()).map((c) => c.id)).toContain(alice.id);
    await expect(noCipher.get(alice.id)).rejects.toThrow(/no cipher/);
    await expect(
      noCipher.create(webhookConfig({ id: '33333333-3333-4333-8333-333333333333' })),
    ).rejects.toThrow(/no cipher/);
  });

  it('rotates by moving the current ciphertext to previous, both still decrypting', async () => {
    const current = (await store().getOwned(alice.id, 'alice')) as NonNullable<
      Awaited<ReturnType<WebhookConfigStore['getOwned']>>
    >;
    const rotated = await store().rotateSecret(
      current,
      'rotated-secret-0123456789abcdef',
      new Date(Date.now() + 3_600_000),
      new Date(),
    );

    expect(rotated).toMatchObject({ secret: 'rotated-secret-0123456789abcdef', previousSecret: SECRET });
    expect((await raw(alice.id)).previousSecretCiphertext).toBe(current.secretCiphertext);
    expect(await store().get(alice.id)).toMatchObject({
      secret: 'rotated-secret-0123456789abcdef',
      previousSecret: SECRET,
    });
    // A second rotation from the stale read loses: the ciphertext it compares with is gone.
    expect(
      await store().rotateSecret(current, 'another-one-0123456789abcdef', new Date(), new Date()),
    ).toBeUndefined();
  });

  it('encrypts configs stored in plaintext before, once, and reads them the same before and after', async () => {
    const legacy = {
      ...webhookConfig({ id: '44444444-4444-4444-8444-444444444444', userId: 'carol' }),
      secret: 'legacy-plaintext-secret-0123456',
      previousSecret: 'legacy-previous-secret-0123456',
      previousSecretExpiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      providerCredentials: { provider: 'hubspot', app_id: '1', developer_api_key: 'legacy-dev-key' },
    };
    await ddb.send(new PutCommand({ TableName: TABLES.configs, Item: legacy }));
    const before = await store().getOwned(legacy.id, 'carol');

    expect(await store().encryptLegacySecrets()).toBe(1);
    expect(await store().encryptLegacySecrets()).toBe(0);

    const text = JSON.stringify(await raw(legacy.id));
    for (const plaintext of ['legacy-plaintext-secret', 'legacy-previous-secret', 'legacy-dev-key'])
      expect(text).not.toContain(plaintext);
    const after = await store().getOwned(legacy.id, 'carol');
    expect({ ...after, secretCiphertext: undefined }).toEqual({ ...before, secretCiphertext: undefined });
  });
});
