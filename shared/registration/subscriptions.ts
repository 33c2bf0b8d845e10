import type { RegistrationResult, UnregistrationResult } from './types';

type Removal = { ok: true } | { ok: false; reason: string };

/** How one provider creates and removes a subscription; reasons name it as `provider` and `noun`. */
export interface SubscriptionApi<T> {
  provider: string;
  /** What a listed id is called in a reason (`'subscription '`), or `''` when the id says it. */
  noun: string;
  /** The new subscription's id; `id: undefined` when the provider's answer had none. */
  create(item: T): Promise<{ ok: true; id: string | undefined } | { ok: false; reason: string }>;
  /** Removing one already gone counts as done, so unregistering can be repeated. */
  remove(id: string): Promise<Removal>;
}

/**
 * One subscription per item, in order; on the first failure the ones already created are removed
 * (best effort) and the reason names the event, and whatever could not be removed.
 * `externalWebhookId` is the created ids joined with ','.
 */
export async function subscribeAll<T>(
  api: SubscriptionApi<T>,
  items: Iterable<readonly [event: string, item: T]>,
): Promise<RegistrationResult> {
  const created: string[] = [];
  for (const [event, item] of items) {
    const outcome = await api.create(item);
    const id = outcome.ok ? outcome.id : undefined;
    if (id === undefined) {
      const reason = outcome.ok ? 'no subscription id in the response' : outcome.reason;
      const left = await removeAll(api, created);
      const leftovers =
        left.length === 0 ? '' : ` (could not remove already created ${api.noun}${left.join(', ')})`;
      return {
        status: 'failed',
        reason: `${api.provider} could not subscribe to ${event}: ${reason}${leftovers}`,
      };
    }
    created.push(id);
  }
  return { status: 'registered', externalWebhookId: created.join(',') };
}

/** Removes every listed subscription; the reason names each one that could not be removed. */
export async function unsubscribeAll<T>(
  api: SubscriptionApi<T>,
  ids: readonly string[],
): Promise<UnregistrationResult> {
  const failures: string[] = [];
  for (const id of ids) {
    const outcome = await api.remove(id);
    if (!outcome.ok) failures.push(`${id}: ${outcome.reason}`);
  }
  return failures.length === 0
    ? { ok: true }
    : { ok: false, reason: `${api.provider} could not delete ${api.noun}${failures.join('; ')}` };
}

/** The ids whose removal failed. */
async function removeAll<T>(api: SubscriptionApi<T>, ids: readonly string[]): Promise<string[]> {
  const left: string[] = [];
  for (const id of ids) if (!(await api.remove(id)).ok) left.push(id);
  return left;
}
