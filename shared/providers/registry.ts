import type { ProviderName } from '../envelope';
import { shopify } from './shopify';
import type { WebhookProvider } from './types';

/** Every provider the system accepts; adding one is a module plus one line here. */
export const providers: Partial<Record<ProviderName, WebhookProvider>> = {
  shopify,
};

export function providerNamed(name: string): WebhookProvider | undefined {
  return Object.hasOwn(providers, name) ? providers[name as ProviderName] : undefined;
}
