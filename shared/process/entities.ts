import type { Envelope, ProviderName } from '../envelope';
import { acceptsHubSpotEvent, hubspotHandlers } from './entities/hubspot';
import { acceptsSalesforceEvent, salesforceHandlers } from './entities/salesforce';
import { shopifyHandlers } from './entities/shopify';
import type { EntityHandler } from './entities/upsert';

export type { EntityHandler } from './entities/upsert';

interface ProviderEntities {
  /** Object type (as the provider module names it) -> the handler writing its synced_* table. */
  handlers: Record<string, EntityHandler>;
  /** Events of a known object type that mean nothing for its record (e.g. unknown HubSpot actions). */
  accepts?: (envelope: Envelope) => boolean;
}

const PROVIDERS: Record<ProviderName, ProviderEntities> = {
  shopify: { handlers: shopifyHandlers },
  hubspot: { handlers: hubspotHandlers, accepts: acceptsHubSpotEvent },
  salesforce: { handlers: salesforceHandlers, accepts: acceptsSalesforceEvent },
};

/**
 * The handler for `provider:objectType` (shopify order/customer/product/inventory_level, hubspot
 * contact/company/deal, salesforce opportunity/lead/account/task/case), or undefined when no table
 * holds the event (the processor reports it as ignored).
 */
export function entityHandlerFor(envelope: Envelope): EntityHandler | undefined {
  const entities = PROVIDERS[envelope.provider];
  const handler = Object.hasOwn(entities.handlers, envelope.objectType)
    ? entities.handlers[envelope.objectType]
    : undefined;
  if (!handler || (entities.accepts && !entities.accepts(envelope))) return undefined;
  return handler;
}
