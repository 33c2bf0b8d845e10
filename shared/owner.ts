/**
 * Who owns a delivery and everything it produces (event log entry, rows, counters, pushes).
 *
 * - A delivery to a per-config endpoint (`/api/webhooks/{provider}/{configId}`) belongs to the
 *   config's user.
 * - A delivery to a provider-wide endpoint (`/api/webhooks/{provider}`) belongs to the deployment
 *   itself: the reserved system owner. Operators act for it.
 *
 * The owner is part of every key that must not collide across owners (see ownedKey), so two tenants
 * receiving the same provider event get two deliveries, two rows and two domain events.
 */
export const SYSTEM_OWNER = 'system';

/** No token may speak for the system owner: its subject would see the deployment's own traffic. */
export function isReservedOwner(userId: string): boolean {
  return userId === SYSTEM_OWNER;
}

/**
 * A provider key (dedup or ordering key) scoped to its owner: `<owner>:<key>`, e.g.
 * `system:shopify:<webhook id>`. The owner is URI-encoded, so it never contains the `:` that ends it
 * and no two (owner, key) pairs give the same text; the result stays usable in a URL path segment.
 */
export function ownedKey(ownerId: string, key: string): string {
  return `${encodeURIComponent(ownerId)}:${key}`;
}
