import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  CONFIG_CONTEXT_KEY,
  parseConfig,
  type WebhooksConfig,
  type WebhooksConfigInput,
} from '../lib/config';
import { REPO_ROOT } from '../lib/paths';
import { optionalEnv } from '../shared/env';

/**
 * The stack configuration the local stack shares with `cdk deploy` (rate limits, retention...):
 * WEBHOOKS_CONFIG (the JSON `-c webhooks=...` takes), else the `webhooks` context of cdk.json,
 * validated by the same schema, with the same defaults.
 */
export function localStackConfig(input?: WebhooksConfigInput): WebhooksConfig {
  if (input) return parseConfig(input);
  const fromEnv = optionalEnv('WEBHOOKS_CONFIG');
  if (fromEnv) return parseConfig(fromEnv);
  const cdkJson = JSON.parse(readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return parseConfig(cdkJson.context?.[CONFIG_CONTEXT_KEY]);
}
