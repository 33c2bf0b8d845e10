/**
 * The envelope's enumerations, apart from its schema (shared/envelope.ts): modules that only need
 * the names (the WebSocket functions' subscriptions, say) do not pull zod into their bundle.
 */
export const PROVIDER_NAMES = ['hubspot', 'shopify', 'salesforce'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

export const PRIORITIES = ['high', 'medium', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];
