import { getSecret } from '@aws-lambda-powertools/parameters/secrets';

/**
 * Signing secrets for one provider. In AWS they live in Secrets Manager (cached for 5 minutes, so a
 * rotation reaches every instance quickly); the secret string is one secret or a JSON array of
 * accepted secrets, current first. Locally they come from the environment in the same format.
 */
export function secretSource(options: {
  secretArn?: string;
  envValue?: string;
}): () => Promise<readonly string[]> {
  const { secretArn, envValue } = options;
  if (secretArn) {
    return async () => parseSecrets(await getSecret<string>(secretArn, { maxAge: 300 }));
  }
  const fixed = parseSecrets(envValue);
  return async () => fixed;
}

export function parseSecrets(value: string | undefined): readonly string[] {
  const trimmed = value?.trim() ?? '';
  // An empty key would let anyone sign: blank values mean "no secret configured".
  if (trimmed === '') return [];
  if (trimmed.startsWith('[')) {
    try {
      const list: unknown = JSON.parse(trimmed);
      if (Array.isArray(list)) {
        return list
          .filter((s): s is string => typeof s === 'string')
          .map((s) => s.trim())
          .filter((s) => s !== '');
      }
    } catch {
      // Not a JSON list: the whole value is one secret.
    }
  }
  return [trimmed];
}
