import { describe, expect, it } from 'vitest';
import { ValidationFailedError } from '../../../../shared/api/errors';
import { registerSchema, updateSchema } from '../../../../shared/api/schemas';

function fieldErrors(schema: typeof registerSchema | typeof updateSchema, body: unknown) {
  const result = schema.safeParse(body);
  if (result.success) throw new Error('expected a validation failure');
  return ValidationFailedError.fromZod(result.error).fields;
}

describe('registerSchema', () => {
  it("takes the seed's example and fills the defaults", () => {
    const parsed = registerSchema.parse({
      provider: 'hubspot',
      events: ['contact.propertyChange', 'deal.stageChange', 'company.creation'],
      webhook_url: 'https://romashkaai.vercel.app/api/webhooks/hubspot',
      secret: 'optional_custom_secret',
      ip_whitelist: ['192.168.1.1'],
    });
    expect(parsed).toEqual({
      provider: 'hubspot',
      events: ['contact.propertyChange', 'deal.stageChange', 'company.creation'],
      webhook_url: 'https://romashkaai.vercel.app/api/webhooks/hubspot',
      secret: 'optional_custom_secret',
      rate_limit: 100,
      max_events_per_request: 100,
      timeout_ms: 30_000,
      retry_attempts: 3,
      ip_whitelist: ['192.168.1.1'],
    });
  });

  it('names every invalid field by its path', () => {
    const fields = fieldErrors(registerSchema, {
      provider: 'stripe',
      events: [],
      webhook_url: 'ftp://example.com',
      secret: 'too-short',
      rate_limit: 0,
      timeout_ms: 12.5,
      retry_attempts: -1,
      ip_whitelist: ['10.0.0.0/8', '300.1.1.1'],
      rate_limt: 5,
    });
    expect(Object.keys(fields).sort()).toEqual([
      'events',
      'ip_whitelist.1',
      'provider',
      'rate_limit',
      'rate_limt',
      'retry_attempts',
      'secret',
      'timeout_ms',
      'webhook_url',
    ]);
    expect(fields.secret).toBe('Must be at least 16 characters');
    expect(fields['ip_whitelist.1']).toBe('Must be an IPv4 or IPv6 address or CIDR');
    expect(fields.rate_limt).toBe('Unknown field');
  });

  it.each([
    [1, true],
    [100_000, true],
    [100_001, false],
    [0, false],
    [1.5, false],
    ['100', false],
  ])('rate_limit %j is valid: %s', (rateLimit, valid) => {
    expect(
      registerSchema.safeParse({ provider: 'shopify', events: ['orders/create'], rate_limit: rateLimit })
        .success,
    ).toBe(valid);
  });

  it('refuses a body that is not an object at the root', () => {
    expect(fieldErrors(registerSchema, ['shopify'])).toEqual({ '(root)': expect.any(String) });
  });

  it('refuses empty event names and drops duplicates', () => {
    expect(
      fieldErrors(registerSchema, { provider: 'shopify', events: ['orders/create', ' '] }),
    ).toHaveProperty('events.1');
    expect(
      registerSchema.parse({ provider: 'shopify', events: ['orders/create', 'orders/create'] }).events,
    ).toEqual(['orders/create']);
  });
});

describe('updateSchema', () => {
  it('takes any subset of the changeable fields', () => {
    expect(updateSchema.parse({ active: false, rate_limit: 5 })).toEqual({ active: false, rate_limit: 5 });
  });

  it('refuses an empty update and fields that cannot change', () => {
    expect(fieldErrors(updateSchema, {})).toEqual({ '(root)': 'Nothing to update' });
    expect(fieldErrors(updateSchema, { provider: 'hubspot' })).toMatchObject({ provider: 'Unknown field' });
    expect(fieldErrors(updateSchema, { secret: 'a-new-secret-value-here' })).toMatchObject({
      secret: 'Unknown field',
    });
  });
});
