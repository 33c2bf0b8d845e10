import { PROVIDER_NAMES, type ProviderName } from '../envelope-values';
import { isReservedOwner } from '../owner';
import type { SubscribeMessage, UnsubscribeMessage } from './client-messages';
import type { PushType, ServerMessage } from './messages';

/** What one push type of a connection is restricted to; an absent list means "all". */
export interface PushFilter {
  providers?: ProviderName[];
  configIds?: string[];
}

/** The push types a connection receives, each with its own filter. */
export interface Subscription {
  events: PushType[];
  filters: Partial<Record<PushType, PushFilter>>;
  /** Takes the pushes sent together as one `batch` message (absent: one message per push, as the seed's clients expect). */
  batched?: true;
}

/** A stored connection as fan-out sees it. */
export interface Subscriber extends Subscription {
  connectionId: string;
  userId: string;
  /** Opened by a member of the operators group: it gets every owner's pushes. */
  operator: boolean;
  /** When the token that opened it expires (epoch seconds): no push after that. */
  tokenExpiresAt?: number;
}

export const NO_SUBSCRIPTION: Subscription = { events: [], filters: {} };

/**
 * `subscribe`: the named types are added, each with exactly the filter the message carries (none:
 * every provider and config), replacing the filter an earlier `subscribe` gave them. `batch`, when
 * given, switches the whole connection to (or from) batch messages.
 */
export function subscribe(current: Subscription, { data }: SubscribeMessage): Subscription {
  const filter: PushFilter = {
    ...(data.providers && { providers: data.providers }),
    ...(data.configIds && { configIds: data.configIds }),
  };
  const filters = { ...current.filters };
  for (const type of data.events) filters[type] = filter;
  const batched = data.batch ?? current.batched === true;
  return normalized({ events: [...current.events, ...data.events], filters, ...(batched && { batched }) });
}

/**
 * `unsubscribe`: the named types are dropped; with `providers`, only those providers are taken off
 * the types' filters, and a type left with no provider is dropped.
 */
export function unsubscribe(current: Subscription, { data }: UnsubscribeMessage): Subscription {
  const filters = { ...current.filters };
  let events = current.events;
  for (const type of data.events) {
    const filter = filters[type] ?? {};
    const providers = data.providers
      ? (filter.providers ?? [...PROVIDER_NAMES]).filter((p) => !data.providers?.includes(p))
      : [];
    if (providers.length > 0) filters[type] = { ...filter, providers };
    else {
      events = events.filter((event) => event !== type);
      delete filters[type];
    }
  }
  return normalized({ events, filters, ...(current.batched && { batched: true }) });
}

function normalized(subscription: Subscription): Subscription {
  const events = [...new Set(subscription.events)];
  const filters = Object.fromEntries(
    events.flatMap((type) => {
      const filter = subscription.filters[type];
      return filter && Object.keys(filter).length > 0 ? [[type, filter]] : [];
    }),
  );
  return { events, filters, ...(subscription.batched && { batched: true }) };
}

/**
 * Who a push is for, from its data. Every push about an owner's data names the owner (`ownerId`):
 * it reaches that owner's connections and operators', nobody else's. A push naming no owner (the
 * team's alerts, the ops alarms, the all-owners metrics) reaches operators only, and so does one
 * about the system owner (the provider-wide endpoints), which no user speaks for.
 */
export interface Audience {
  provider?: string;
  configId?: string;
  /** The owner whose data the push is about; undefined: operators only. */
  ownerId?: string;
}

export function audienceOf(message: ServerMessage): Audience {
  const data = (typeof message.data === 'object' && message.data !== null ? message.data : {}) as Record<
    string,
    unknown
  >;
  const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
  const provider = text(data.provider);
  const configId = text(data.configId);
  const ownerId = text(data.ownerId);
  return {
    ...(provider !== undefined && { provider }),
    ...(configId !== undefined && { configId }),
    ...(ownerId !== undefined && { ownerId }),
  };
}

/** Whether a connection gets a push: its type, its owner or role, and the type's filter. */
export function wants(subscriber: Subscriber, type: PushType, audience: Audience): boolean {
  if (!subscriber.events.includes(type)) return false;
  const { ownerId } = audience;
  const owns = ownerId !== undefined && ownerId === subscriber.userId && !isReservedOwner(ownerId);
  if (!subscriber.operator && !owns) return false;
  const filter = subscriber.filters[type];
  if (filter?.providers && audience.provider !== undefined) {
    if (!(filter.providers as string[]).includes(audience.provider)) return false;
  }
  if (filter?.configIds) {
    if (audience.configId === undefined || !filter.configIds.includes(audience.configId)) return false;
  }
  return true;
}
