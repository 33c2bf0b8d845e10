import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defaultProvider } from '../../../shared/lambda-credentials';

describe('the Lambda bundles’ credential provider (aliased for @aws-sdk/credential-provider-node)', () => {
  afterEach(() => vi.unstubAllEnvs());

  it('exports the name the SDK clients import from the default chain', () => {
    expect(typeof defaultProvider).toBe('function');
    // Every client the functions bundle imports the default chain under that name.
    const require = createRequire(import.meta.url);
    for (const client of ['client-sqs', 'client-dynamodb', 'client-s3', 'client-secrets-manager']) {
      const config = readFileSync(
        require.resolve(`@aws-sdk/${client}`).replace(/dist-cjs\/index\.js$/, 'dist-es/runtimeConfig.js'),
        'utf8',
      );
      expect(config, client).toContain(
        'defaultProvider as credentialDefaultProvider } from "@aws-sdk/credential-provider-node"',
      );
    }
  });

  it('resolves the execution role’s keys from the environment, as Lambda provides them', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'ASIAEXAMPLE');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'secret');
    vi.stubEnv('AWS_SESSION_TOKEN', 'token');
    await expect(defaultProvider()()).resolves.toMatchObject({
      accessKeyId: 'ASIAEXAMPLE',
      secretAccessKey: 'secret',
      sessionToken: 'token',
    });
  });

  it('fails plainly without them rather than trying other sources', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', '');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', '');
    await expect(defaultProvider()()).rejects.toThrow(/environment variable/i);
  });
});
