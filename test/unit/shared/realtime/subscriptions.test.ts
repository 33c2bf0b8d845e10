import { describe, expect, it } from 'vitest';
import { clientMessageSchema, serverMessage } from '../../../../shared/realtime/messages';
import {
  audienceOf,
  NO_SUBSCRIPTION,
  type Subscriber,
  type Subscription,
  subscribe,
  unsubscribe,
  wants,
} from '../../../../shared/realtime/subscriptions';

function message<T extends 'subscribe' | 'unsubscribe'>(type: T, data: unknown) {
  return clientMessageSchema.parse({ type, data }) as Extract<
    ReturnType<typeof clientMessageSchema.parse>,
    { type: T }
  >;
}

const subscriber = (userId: string, subscription: Subscription): Subscriber => ({
  connectionId: `${userId}-conn`,
  userId,
  ...subscription,
});

describe('subscribe and unsubscribe', () => {
  it('adds types, each with the filter of the message, and drops repeats', () => {
    const first = subscribe(
      NO_SUBSCRIPTION,
      message('subscribe', { events: ['webhook-event', 'webhook-event'] }),
    );
    const second = subscribe(
      first,
      message('subscribe', {
        events: ['webhook-alert', 'webhook-event'],
        providers: ['hubspot'],
        configIds: ['c1'],
      }),
    );

    expect(first).toEqual({ events: ['webhook-event'], filters: {} });
    expect(second).toEqual({
      events: ['webhook-event', 'webhook-alert'],
      filters: {
        'webhook-event': { providers: ['hubspot'], configIds: ['c1'] },
        'webhook-alert': { providers: ['hubspot'], configIds: ['c1'] },
      },
    });
  });

  it('replaces a filter when a type is subscribed again without one', () => {
    const filtered = subscribe(
      NO_SUBSCRIPTION,
      message('subscribe', { events: ['webhook-event'], providers: ['shopify'] }),
    );

    expect(subscribe(filtered, message('subscribe', { events: ['webhook-event'] }))).toEqual({
      events: ['webhook-event'],
      filters: {},
    });
  });

  it('drops the named types and their filters', () => {
    const current = subscribe(
      NO_SUBSCRIPTION,
      message('subscribe', { events: ['webhook-event', 'webhook-alert'], providers: ['shopify'] }),
    );

    expect(unsubscribe(current, message('unsubscribe', { events: ['webhook-event'] }))).toEqual({
      events: ['webhook-alert'],
      filters: { 'webhook-alert': { providers: ['shopify'] } },
    });
  });

  it('takes providers off a type, and drops the type when none is left', () => {
    const all = subscribe(
      NO_SUBSCRIPTION,
      message('subscribe', { events: ['webhook-event'], configIds: ['c1'] }),
    );

    const withoutHubspot = unsubscribe(
      all,
      message('unsubscribe', { events: ['webhook-event'], providers: ['hubspot'] }),
    );
    const none = unsubscribe(
      withoutHubspot,
      message('unsubscribe', { events: ['webhook-event'], providers: ['shopify', 'salesforce'] }),
    );

    expect(withoutHubspot).toEqual({
      events: ['webhook-event'],
      filters: { 'webhook-event': { configIds: ['c1'], providers: ['shopify', 'salesforce'] } },
    });
    expect(none).toEqual(NO_SUBSCRIPTION);
  });

  it('ignores unsubscribing from a type that was never subscribed', () => {
    expect(
      unsubscribe(
        NO_SUBSCRIPTION,
        message('unsubscribe', { events: ['webhook-alert'], providers: ['shopify'] }),
      ),
    ).toEqual(NO_SUBSCRIPTION);
  });
});

describe('who gets a push', () => {
  const everything = subscribe(
    NO_SUBSCRIPTION,
    message('subscribe', { events: ['webhook-event', 'webhook-alert', 'webhook-metrics-update'] }),
  );
  const alice = subscriber('alice', everything);
  const bob = subscriber('bob', everything);
  const perConfig = audienceOf(
    serverMessage('webhook-event', { provider: 'shopify', configId: 'cfg-a', userId: 'alice' }),
  );
  const providerWide = audienceOf(serverMessage('webhook-event', { provider: 'shopify' }));

  it('reads the audience from the push data', () => {
    expect(perConfig).toEqual({ provider: 'shopify', configId: 'cfg-a', owner: 'alice' });
    expect(providerWide).toEqual({ provider: 'shopify' });
    expect(audienceOf(serverMessage('webhook-event', { configId: 'cfg-a' }))).toEqual({
      configId: 'cfg-a',
      owner: null,
    });
    expect(audienceOf(serverMessage('webhook-metrics-update', null))).toEqual({});
  });

  it("gives a user their own configs' events and everyone's provider-wide events", () => {
    expect(wants(alice, 'webhook-event', perConfig)).toBe(true);
    expect(wants(bob, 'webhook-event', perConfig)).toBe(false);
    expect(wants(alice, 'webhook-event', providerWide)).toBe(true);
    expect(wants(bob, 'webhook-event', providerWide)).toBe(true);
  });

  it('gives nobody an event that names a config but lost its owner', () => {
    const ownerless = audienceOf(serverMessage('webhook-event', { provider: 'shopify', configId: 'cfg-a' }));

    expect(wants(alice, 'webhook-event', ownerless)).toBe(false);
  });

  it('gives a connection only the types it subscribed to', () => {
    const alertsOnly = subscriber(
      'alice',
      subscribe(NO_SUBSCRIPTION, message('subscribe', { events: ['webhook-alert'] })),
    );

    expect(wants(alertsOnly, 'webhook-event', providerWide)).toBe(false);
    expect(wants(alertsOnly, 'webhook-alert', providerWide)).toBe(true);
  });

  it('applies the provider and config filters of the type', () => {
    const hubspotOnly = subscriber(
      'alice',
      subscribe(NO_SUBSCRIPTION, message('subscribe', { events: ['webhook-event'], providers: ['hubspot'] })),
    );
    const configA = subscriber(
      'alice',
      subscribe(NO_SUBSCRIPTION, message('subscribe', { events: ['webhook-event'], configIds: ['cfg-a'] })),
    );

    expect(wants(hubspotOnly, 'webhook-event', providerWide)).toBe(false);
    expect(
      wants(
        hubspotOnly,
        'webhook-event',
        audienceOf(serverMessage('webhook-event', { provider: 'hubspot' })),
      ),
    ).toBe(true);
    expect(wants(configA, 'webhook-event', perConfig)).toBe(true);
    // A config filter asks for those configs only: provider-wide events are not among them.
    expect(wants(configA, 'webhook-event', providerWide)).toBe(false);
  });
});
