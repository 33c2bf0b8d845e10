import type { ProviderName } from '../envelope';
import { hubspot } from './hubspot';
import { salesforce } from './salesforce';
import { shopify } from './shopify';
import type { WebhookProvider } from './types';

/** Every provider the system accepts; adding one is a module plus one line here. */
export const providers: Record<ProviderName, WebhookProvider> = {
  hubspot,
  shopify,
  salesforce,
};

export function providerNamed(name: string): WebhookProvider | undefined {
  return Object.hasOwn(providers, name) ? providers[name as ProviderName] : undefined;
}
