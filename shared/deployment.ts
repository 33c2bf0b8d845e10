import { optionalEnv } from './env';
import { PROVIDER_NAMES, type ProviderName } from './envelope';

/**
 * The providers the deployment serves, from PROVIDERS (comma-separated, as the stack sets it from
 * its `providers` config); every provider when unset.
 */
export function providersFromEnv(): ProviderName[] {
  const raw = optionalEnv('PROVIDERS');
  if (raw === undefined) return [...PROVIDER_NAMES];
  const names = raw.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(PROVIDER_NAMES as readonly string[]).includes(name));
  if (unknown.length > 0) throw new Error(`PROVIDERS names unknown providers: ${unknown.join(', ')}`);
  return names as ProviderName[];
}
