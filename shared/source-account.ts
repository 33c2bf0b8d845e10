import type { ProviderName } from './envelope';

/**
 * The provider account a webhook config is bound to: a Shopify shop domain, a HubSpot portal id or a
 * Salesforce org id. A bound config refuses verified deliveries from any other account, so a tenant
 * who knows (or chose) a config's secret cannot feed it another shop's data.
 */
export const SOURCE_ACCOUNT_LABEL: Record<ProviderName, string> = {
  shopify: 'shop',
  hubspot: 'portal',
  salesforce: 'org',
};

const FORMATS: Record<ProviderName, { pattern: RegExp; example: string }> = {
  shopify: { pattern: /^[a-z0-9][a-z0-9-]{0,99}\.myshopify\.com$/, example: 'example.myshopify.com' },
  hubspot: { pattern: /^[0-9]{1,20}$/, example: '62515' },
  salesforce: { pattern: /^00D[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?$/, example: '00D5e000000AbCd' },
};

/**
 * The comparable form of an account as the provider names it: shop domains are case-insensitive;
 * org ids are compared on their first 15 characters (the 18-character form adds a checksum).
 * undefined for a value that is not an account of this provider.
 */
export function normalizeSourceAccount(provider: ProviderName, value: string): string | undefined {
  const trimmed = provider === 'shopify' ? value.trim().toLowerCase() : value.trim();
  if (!FORMATS[provider].pattern.test(trimmed)) return undefined;
  return provider === 'salesforce' ? trimmed.slice(0, 15) : trimmed;
}

/** What a valid account of the provider looks like, for error messages. */
export function sourceAccountExample(provider: ProviderName): string {
  return FORMATS[provider].example;
}
