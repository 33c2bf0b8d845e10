import type { ProviderName } from '../envelope';
import { redact } from './http';
import { registerHubspot, unregisterHubspot } from './hubspot';
import { manualInstructions } from './manual';
import { registerShopify, unregisterShopify } from './shopify';
import {
  type ProviderCredentials,
  providerCredentialsSchema,
  type RegistrationDeps,
  type RegistrationRequest,
  type RegistrationResult,
  type UnregistrationResult,
} from './types';

export { parseHubspotEvent } from './hubspot';
export { shopifyTopic } from './shopify';
export {
  type ProviderCredentials,
  providerCredentialsSchema,
  type RegistrationDeps,
  type RegistrationRequest,
  type RegistrationResult,
  type UnregistrationResult,
} from './types';

/**
 * Creates the provider-side subscription that sends `request.events` to our endpoint.
 * Salesforce, and Shopify/HubSpot without credentials, get setup instructions instead.
 * Never throws for provider or network errors: those come back as `failed`.
 */
export async function registerWithProvider(
  request: RegistrationRequest,
  deps: RegistrationDeps,
): Promise<RegistrationResult> {
  if (request.provider === 'salesforce' || request.credentials === undefined) {
    return {
      status: 'manual',
      instructions: manualInstructions(request.provider, request.events, request.endpointUrl),
    };
  }
  const credentials = checkCredentials(request.provider, request.credentials);
  if (!credentials.ok) return { status: 'failed', reason: credentials.reason };
  const secrets = secretsOf(credentials.value);
  try {
    const result =
      credentials.value.provider === 'shopify'
        ? await registerShopify(request.events, request.endpointUrl, credentials.value, deps)
        : await registerHubspot(request.events, request.endpointUrl, credentials.value, deps);
    // Last line of defence: whatever a provider echoed, no secret leaves in a reason.
    return result.status === 'failed' ? { status: 'failed', reason: redact(result.reason, secrets) } : result;
  } catch {
    // A bug on our side (the port itself never throws); its message could carry request details.
    return { status: 'failed', reason: `Unexpected error while registering with ${request.provider}` };
  }
}

/** Deletes every subscription in `externalWebhookId`; subscriptions already gone count as deleted. */
export async function unregisterWithProvider(
  provider: ProviderName,
  externalWebhookId: string,
  credentials: ProviderCredentials,
  deps: RegistrationDeps,
): Promise<UnregistrationResult> {
  if (provider === 'salesforce') return { ok: false, reason: 'Salesforce subscriptions are removed by hand' };
  const checked = checkCredentials(provider, credentials);
  if (!checked.ok) return checked;
  try {
    const result =
      checked.value.provider === 'shopify'
        ? await unregisterShopify(externalWebhookId, checked.value, deps)
        : await unregisterHubspot(externalWebhookId, checked.value, deps);
    return result.ok ? result : { ok: false, reason: redact(result.reason, secretsOf(checked.value)) };
  } catch {
    return { ok: false, reason: `Unexpected error while unregistering with ${provider}` };
  }
}

/** Re-validates (callers may build credentials without the schema) and names only the bad fields. */
function checkCredentials(
  provider: ProviderName,
  credentials: ProviderCredentials,
): { ok: true; value: ProviderCredentials } | { ok: false; reason: string } {
  const parsed = providerCredentialsSchema.safeParse(credentials);
  if (!parsed.success) {
    const fields = parsed.error.issues.flatMap((issue) =>
      issue.code === 'unrecognized_keys' ? issue.keys : [issue.path.map(String).join('.') || 'provider'],
    );
    return { ok: false, reason: `Invalid provider_credentials: check ${[...new Set(fields)].join(', ')}` };
  }
  if (parsed.data.provider !== provider) {
    return { ok: false, reason: `provider_credentials are for ${parsed.data.provider}, not ${provider}` };
  }
  return { ok: true, value: parsed.data };
}

function secretsOf(credentials: ProviderCredentials): string[] {
  return credentials.provider === 'shopify' ? [credentials.access_token] : [credentials.developer_api_key];
}
