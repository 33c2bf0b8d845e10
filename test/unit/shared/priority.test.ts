import { describe, expect, it } from 'vitest';
import type { Priority, ProviderName } from '../../../shared/envelope';
import { priorityOf } from '../../../shared/priority';

describe('priorityOf', () => {
  it.each<[ProviderName, string, Priority]>([
    ['shopify', 'orders/create', 'high'],
    ['shopify', 'orders/updated', 'medium'],
    ['shopify', 'inventory_levels/update', 'low'],
    ['hubspot', 'deal.stageChange', 'high'],
    ['hubspot', 'deal.creation', 'medium'],
    ['hubspot', 'contact.creation', 'medium'],
    ['salesforce', 'OpportunityChangeEvent', 'high'],
    ['salesforce', 'OpportunityOutboundMessage', 'high'],
    ['salesforce', 'TaskChangeEvent', 'low'],
    ['salesforce', 'LeadChangeEvent', 'medium'],
  ])('gives %s %s the default priority %s', (provider, eventType, expected) => {
    expect(priorityOf(provider, eventType)).toBe(expected);
  });

  it.each<[ProviderName, string]>([
    ['shopify', 'carts/create'],
    ['hubspot', 'ticket.creation'],
    ['salesforce', 'ContractChangeEvent'],
  ])('falls back to medium for the unknown %s event %s', (provider, eventType) => {
    expect(priorityOf(provider, eventType)).toBe('medium');
  });

  it("does not apply one provider's defaults to another provider's event of the same name", () => {
    expect(priorityOf('hubspot', 'orders/create')).toBe('medium');
  });

  it('lets an exact override beat the default for that event', () => {
    expect(priorityOf('shopify', 'orders/create', { 'shopify:orders/create': 'low' })).toBe('low');
  });

  it('lets an exact override beat a matching prefix override', () => {
    const overrides: Record<string, Priority> = {
      'hubspot:contact.*': 'low',
      'hubspot:contact.creation': 'high',
    };

    expect(priorityOf('hubspot', 'contact.creation', overrides)).toBe('high');
  });

  it('lets an override prefix beat the default prefix of the same length', () => {
    expect(priorityOf('shopify', 'orders/updated', { 'shopify:orders/*': 'low' })).toBe('low');
  });

  it('keeps the default exact key over an override prefix', () => {
    expect(priorityOf('shopify', 'orders/create', { 'shopify:orders/*': 'low' })).toBe('high');
  });

  it('lets the longest matching prefix win, whichever table it comes from', () => {
    const overrides: Record<string, Priority> = {
      'salesforce:*': 'low',
      'salesforce:OpportunityLineItem*': 'medium',
    };

    expect(priorityOf('salesforce', 'OpportunityLineItemChangeEvent', overrides)).toBe('medium');
    expect(priorityOf('salesforce', 'OpportunityChangeEvent', overrides)).toBe('high');
    expect(priorityOf('salesforce', 'ContractChangeEvent', overrides)).toBe('low');
  });

  it('ignores overrides that match neither exactly nor as a prefix', () => {
    const overrides: Record<string, Priority> = { 'shopify:orders/create*': 'low', 'shopify:orders': 'low' };

    expect(priorityOf('shopify', 'orders/updated', overrides)).toBe('medium');
  });
});
