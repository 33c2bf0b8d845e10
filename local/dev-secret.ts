import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProviderName } from '../shared/envelope';

/** Local-only defaults so a fresh clone works; real secrets come from the *_WEBHOOK_SECRET variables. */
export const DEV_WEBHOOK_SECRETS: Readonly<Record<ProviderName, string>> = {
  hubspot: 'dev-hubspot-secret',
  shopify: 'dev-shopify-secret',
  salesforce: 'dev-salesforce-secret',
};

/**
 * The Salesforce org `npm start` takes provider-wide deliveries from unless SALESFORCE_ORG_ID says
 * otherwise: the org of `npm run send`'s samples.
 */
export const DEV_SALESFORCE_ORG_ID = '00D5g000004XyZ1EAK';

/** Local state lives here; deleting the folder resets the local stack. */
export const LOCAL_DIR = join(process.cwd(), '.local');

/**
 * The secret that signs local dev tokens: DEV_TOKEN_SECRET, else a random one kept in .local/ so
 * `npm run token` and `npm start` agree without configuration.
 */
export function devTokenSecret(): string {
  return process.env.DEV_TOKEN_SECRET || keptSecret('dev-token-secret');
}

/**
 * The key the local alert webhook channel signs with: ALERT_WEBHOOK_SIGNING_SECRET, else a random one
 * kept in .local/alert-webhook-signing-secret for the local receivers to verify with. Alerts are never
 * sent unsigned, and no well-known default signs them.
 */
export function alertWebhookSigningSecret(): string {
  return process.env.ALERT_WEBHOOK_SIGNING_SECRET || keptSecret('alert-webhook-signing-secret');
}

/** A random secret kept in .local/ (created on first use, readable by its owner only). */
function keptSecret(name: string): string {
  const file = join(LOCAL_DIR, name);
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    mkdirSync(LOCAL_DIR, { recursive: true });
    const secret = randomBytes(32).toString('base64url');
    writeFileSync(file, secret, { mode: 0o600 });
    return secret;
  }
}
