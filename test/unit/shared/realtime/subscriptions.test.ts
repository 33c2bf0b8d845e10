import { describe, expect, it } from 'vitest';
import { clientMessageSchema } from '../../../../shared/realtime/client-messages';
import { serverMessage } from '../../../../shared/realtime/messages';
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

const subscriber = (userId: string, subscription: Subscription, operator = false): Subscriber => ({
  connectionId: `${userId}-conn`,
  userId,
  operator,
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

  it('switches the connection to batch messages with batch: true, keeps it through later changes, and back with false', () => {
    const batched = subscribe(
      NO_SUBSCRIPTION,
      message('subscribe', { events: ['webhook-event'], batch: true }),
    );
    const more = subscribe(batched, message('subscribe', { events: ['webhook-alert'] }));
    const fewer = unsubscribe(more, message('unsubscribe', { events: ['webhook-alert'] }));

    expect(batched).toEqual({ events: ['webhook-event'], filters: {}, batched: true });
    expect(more.batched).toBe(true);
    expect(fewer).toEqual({ events: ['webhook-event'], filters: {}, batched: true });
    expect(subscribe(fewer, message('subscribe', { events: ['webhook-event'], batch: false }))).toEqual({
      events: ['webhook-event'],
      filters: {},
    });
    expect(() => message('subscribe', { events: ['webhook-event'], batch: 'yes' })).toThrow();
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
  const oncall = subscriber('oncall', everything, true);
  const perConfig = audienceOf(
    serverMessage('webhook-event', { provider: 'shopify', configId: 'cfg-a', ownerId: 'alice' }),
  );
  const providerWide = audienceOf(serverMessage('webhook-event', { provider: 'shopify', ownerId: 'system' }));
  const team = audienceOf(serverMessage('webhook-alert', { provider: 'all' }));

  it('reads the audience from the push data', () => {
    expect(perConfig).toEqual({ provider: 'shopify', configId: 'cfg-a', ownerId: 'alice' });
    expect(providerWide).toEqual({ provider: 'shopify', ownerId: 'system' });
    expect(audienceOf(serverMessage('webhook-event', { configId: 'cfg-a' }))).toEqual({ configId: 'cfg-a' });
    expect(audienceOf(serverMessage('webhook-metrics-update', null))).toEqual({});
  });

  it("gives a user their own pushes only, and an operator every owner's", () => {
    expect(wants(alice, 'webhook-event', perConfig)).toBe(true);
    expect(wants(bob, 'webhook-event', perConfig)).toBe(false);
    expect(wants(oncall, 'webhook-event', perConfig)).toBe(true);
  });

  it("gives the provider-wide endpoints' events (the system owner's) to operators only", () => {
    expect(wants(alice, 'webhook-event', providerWide)).toBe(false);
    expect(wants(bob, 'webhook-event', providerWide)).toBe(false);
    expect(wants(oncall, 'webhook-event', providerWide)).toBe(true);
  });

  it("gives a push naming no owner (the team's alerts) to operators only", () => {
    expect(wants(alice, 'webhook-alert', team)).toBe(false);
    expect(wants(oncall, 'webhook-alert', team)).toBe(true);
    // A user whose id happens to be `system` is still not the system owner (and no token may claim it).
    expect(wants(subscriber('system', everything), 'webhook-event', providerWide)).toBe(false);
  });

  it('gives a connection only the types it subscribed to', () => {
    const alertsOnly = subscriber(
      'oncall',
      subscribe(NO_SUBSCRIPTION, message('subscribe', { events: ['webhook-alert'] })),
      true,
    );

    expect(wants(alertsOnly, 'webhook-event', providerWide)).toBe(false);
    expect(wants(alertsOnly, 'webhook-alert', team)).toBe(true);
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

    expect(wants(hubspotOnly, 'webhook-event', perConfig)).toBe(false);
    expect(
      wants(
        hubspotOnly,
        'webhook-event',
        audienceOf(serverMessage('webhook-event', { provider: 'hubspot', ownerId: 'alice' })),
      ),
    ).toBe(true);
    expect(wants(configA, 'webhook-event', perConfig)).toBe(true);
    expect(
      wants(configA, 'webhook-event', audienceOf(serverMessage('webhook-event', { ownerId: 'alice' }))),
    ).toBe(false);
  });
});
