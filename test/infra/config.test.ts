import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config';

describe('stack configuration', () => {
  it('fills every default from an empty context', () => {
    const config = parseConfig(undefined);
    expect(config).toMatchObject({
      stage: 'prod',
      removalPolicy: 'retain',
      logRetentionDays: 30,
      eventLogRetentionDays: 30,
      providers: ['shopify'],
      queues: { maxReceiveCount: 5 },
      database: { name: 'webhooks', minCapacity: 0.5, maxCapacity: 4, deletionProtection: true },
      processors: {
        high: { timeoutSeconds: 30 },
        medium: { timeoutSeconds: 30 },
        low: { timeoutSeconds: 60 },
      },
    });
  });

  it('merges a partial processor override with the defaults of that priority', () => {
    const config = parseConfig({ processors: { high: { batchSize: 2 } } });
    expect(config.processors.high).toEqual({ batchSize: 2, maxConcurrency: 20, timeoutSeconds: 30 });
  });

  it('accepts the JSON text that `cdk -c webhooks=...` passes', () => {
    expect(parseConfig('{"stage":"dev","database":{"minCapacity":0,"autoPauseMinutes":15}}')).toMatchObject({
      stage: 'dev',
      database: { minCapacity: 0, autoPauseMinutes: 15 },
    });
  });

  it.each([
    ['a FIFO batch above 10', { processors: { low: { batchSize: 11 } } }, /batchSize/],
    [
      'auto-pause without a zero minimum',
      { database: { autoPauseMinutes: 10 } },
      /autoPauseMinutes requires minCapacity 0/,
    ],
    ['a capacity that is not a multiple of 0.5 ACU', { database: { maxCapacity: 2.25 } }, /multiple of 0.5/],
    ['a log retention CloudWatch does not offer', { logRetentionDays: 31 }, /logRetentionDays/],
    ['an unknown provider', { providers: ['stripe'] }, /providers/],
    ['a misspelt key', { stge: 'dev' }, /stge/],
    ['a stage name API Gateway refuses', { stage: 'prod/v1' }, /stage/],
  ])('rejects %s', (_, raw, message) => {
    expect(() => parseConfig(raw)).toThrow(message);
  });

  it('rejects context text that is not JSON', () => {
    expect(() => parseConfig('{stage:dev}')).toThrow(/not valid JSON/);
  });
});
