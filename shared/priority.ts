import type { Priority, ProviderName } from './envelope';

/** Keys are `provider:eventType`; unlisted events get the fallback. Overridable through config. */
export const DEFAULT_PRIORITIES: Readonly<Record<string, Priority>> = {
  'shopify:orders/create': 'high',
  'shopify:orders/paid': 'high',
  'shopify:orders/cancelled': 'high',
  'shopify:orders/updated': 'medium',
  'shopify:orders/fulfilled': 'medium',
  'shopify:customers/create': 'medium',
  'shopify:customers/update': 'medium',
  'shopify:products/create': 'low',
  'shopify:products/update': 'low',
  'shopify:inventory_levels/update': 'low',
};

export const FALLBACK_PRIORITY: Priority = 'medium';

export function priorityOf(
  provider: ProviderName,
  eventType: string,
  overrides: Readonly<Record<string, Priority>> = {},
): Priority {
  const key = `${provider}:${eventType}`;
  return overrides[key] ?? DEFAULT_PRIORITIES[key] ?? FALLBACK_PRIORITY;
}
