import type { WebhookConfig } from '../../../shared/stores/webhook-configs';

/** A stored Shopify config of alice's, active, with the seed's defaults; tests override what they vary. */
export function webhookConfig(overrides: Partial<WebhookConfig> = {}): WebhookConfig {
  return {
    id: '6f1c2d9e-0b7a-4c1e-9a51-3d2e8f7a6b5c',
    userId: 'alice',
    provider: 'shopify',
    events: ['orders/create'],
    secret: 'current-secret-0123456789',
    rateLimit: 100,
    timeoutMs: 30_000,
    retryAttempts: 3,
    ipWhitelist: [],
    active: true,
    registrationStatus: 'pending',
    createdAt: '2026-02-01T00:00:00.000Z',
    updatedAt: '2026-02-01T00:00:00.000Z',
    ...overrides,
  };
}
