import * as z from 'zod';
import type { ProviderName } from '../envelope';

export type ProviderCredentials =
  | { provider: 'shopify'; shop_domain: string; access_token: string; api_version?: string }
  | { provider: 'hubspot'; app_id: string; developer_api_key: string };

export type ShopifyCredentials = Extract<ProviderCredentials, { provider: 'shopify' }>;
export type HubspotCredentials = Extract<ProviderCredentials, { provider: 'hubspot' }>;

/** The shop's permanent domain only: it becomes the host we call, so nothing else may get through. */
export const SHOP_DOMAIN = /^[a-z0-9][a-z0-9-]{0,62}\.myshopify\.com$/;
/** HubSpot app ids are int32 path segments. */
export const APP_ID = /^[1-9][0-9]{0,9}$/;

/**
 * `provider_credentials` of the register request. Strict objects, so a misspelt field is refused
 * instead of being dropped. Messages never echo the value (it may be a secret).
 */
export const providerCredentialsSchema: z.ZodType<ProviderCredentials> = z.discriminatedUnion('provider', [
  z.strictObject({
    provider: z.literal('shopify'),
    shop_domain: z
      .string()
      .trim()
      .toLowerCase()
      .regex(SHOP_DOMAIN, 'Must be the <name>.myshopify.com domain of the shop'),
    access_token: z
      .string()
      .min(1, 'Required')
      .max(512)
      .regex(/^[\x21-\x7e]+$/, 'Must be printable ASCII without spaces'),
    api_version: z
      .string()
      .regex(/^(\d{4}-(01|04|07|10)|unstable)$/, 'Must be a Shopify API version such as 2025-10')
      .optional(),
  }),
  z.strictObject({
    provider: z.literal('hubspot'),
    app_id: z.string().regex(APP_ID, 'Must be the numeric HubSpot app id'),
    developer_api_key: z
      .string()
      .min(8, 'Must be at least 8 characters')
      .max(128)
      .regex(/^[A-Za-z0-9_-]+$/, 'Must contain only letters, digits, "-" and "_"'),
  }),
]);

export interface RegistrationRequest {
  provider: ProviderName;
  /** As stored on the config: Shopify topics (`orders/create`), HubSpot types (`contact.propertyChange:email`). */
  events: string[];
  /** Our per-config endpoint the provider must deliver to. */
  endpointUrl: string;
  credentials?: ProviderCredentials;
}

export type RegistrationResult =
  | { status: 'registered'; externalWebhookId: string }
  /** `reason` is short, human readable and never contains a token or key. */
  | { status: 'failed'; reason: string }
  | { status: 'manual'; instructions: string };

export type UnregistrationResult = { ok: true } | { ok: false; reason: string };

export interface RegistrationDeps {
  fetch: typeof fetch;
  /** Per HTTP call; default 5000. */
  timeoutMs?: number;
}

export const DEFAULT_TIMEOUT_MS = 5_000;
