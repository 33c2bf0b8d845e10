import { optionalEnv } from './env';
import { PRIORITIES, type Priority, type ProviderName } from './envelope';
import * as z from './zod-mini';

/**
 * Keys are `provider:eventType`, or a prefix ending in `*` (`hubspot:contact.*`); the exact key wins,
 * then the longest matching prefix, then the fallback. Overridable through config.
 */
export const DEFAULT_PRIORITIES: Readonly<Record<string, Priority>> = {
  'shopify:orders/create': 'high',
  'shopify:orders/paid': 'high',
  'shopify:orders/cancelled': 'high',
  'shopify:orders/*': 'medium',
  'shopify:customers/*': 'medium',
  'shopify:products/*': 'low',
  'shopify:inventory_levels/*': 'low',
  'hubspot:deal.stageChange': 'high',
  'hubspot:deal.*': 'medium',
  'hubspot:contact.*': 'medium',
  'hubspot:company.*': 'medium',
  // Change events and Outbound Messages alike (OpportunityChangeEvent, OpportunityOutboundMessage).
  'salesforce:Opportunity*': 'high',
  'salesforce:Lead*': 'medium',
  'salesforce:Account*': 'medium',
  'salesforce:Case*': 'medium',
  'salesforce:Task*': 'low',
};

export const FALLBACK_PRIORITY: Priority = 'medium';

export function priorityOf(
  provider: ProviderName,
  eventType: string,
  overrides: Readonly<Record<string, Priority>> = {},
): Priority {
  const key = `${provider}:${eventType}`;
  const exact = overrides[key] ?? DEFAULT_PRIORITIES[key];
  if (exact) return exact;
  let best: { length: number; priority: Priority } | undefined;
  for (const table of [DEFAULT_PRIORITIES, overrides]) {
    for (const [pattern, priority] of Object.entries(table)) {
      if (!pattern.endsWith('*') || !key.startsWith(pattern.slice(0, -1))) continue;
      // Later tables (overrides) win ties.
      if (!best || pattern.length >= best.length) best = { length: pattern.length, priority };
    }
  }
  return best?.priority ?? FALLBACK_PRIORITY;
}

const priorityOverridesSchema = z.record(z.string(), z.enum(PRIORITIES));

/** The stack's priority overrides (config `priorities`), from PRIORITY_OVERRIDES. */
export function priorityOverridesFromEnv(): Record<string, Priority> {
  return priorityOverridesSchema.parse(JSON.parse(optionalEnv('PRIORITY_OVERRIDES') ?? '{}'));
}
