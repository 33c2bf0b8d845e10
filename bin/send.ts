/**
 * Sends a realistic, correctly signed sample delivery:
 *   npm run send -- <provider> <event-type> [--url URL] [--secret S] [--id OBJECT_ID] [--org ORG_ID]
 * to the local stack by default, or to a deployed webhook URL with --url.
 */
import { parseArgs } from 'node:util';
import { DEV_WEBHOOK_SECRETS } from '../local/dev-secret';
import { PROVIDER_NAMES } from '../shared/envelope';
import { DEFAULT_ORG_ID, SAMPLE_EVENT_TYPES, signedSample } from './samples';

const { values, positionals } = parseArgs({
  options: {
    url: { type: 'string' },
    secret: { type: 'string' },
    id: { type: 'string' },
    org: { type: 'string' },
    help: { type: 'boolean' },
  },
  allowPositionals: true,
});
const [providerArg, eventType] = positionals;
const provider = PROVIDER_NAMES.find((name) => name === providerArg);
if (values.help || !provider || !eventType || !SAMPLE_EVENT_TYPES[provider].includes(eventType)) {
  console.error(
    'Usage: npm run send -- <provider> <event-type> [--url URL] [--secret S] [--id OBJECT_ID] [--org ORG_ID]',
  );
  for (const name of PROVIDER_NAMES) console.error(`  ${name}: ${SAMPLE_EVENT_TYPES[name].join(', ')}`);
  process.exit(values.help ? 0 : 2);
}

const url = values.url ?? `http://localhost:${process.env.PORT ?? 3000}/api/webhooks/${provider}`;
const secret =
  values.secret ?? process.env[`${provider.toUpperCase()}_WEBHOOK_SECRET`] ?? DEV_WEBHOOK_SECRETS[provider];
const request = await signedSample(provider, eventType, {
  url,
  secret,
  objectId: values.id,
  orgId: values.org ?? process.env.SALESFORCE_ORG_ID ?? DEFAULT_ORG_ID,
});

const started = performance.now();
const response = await fetch(request.url, {
  method: 'POST',
  headers: request.headers,
  body: request.body,
}).catch((error: Error) => {
  console.error(
    `Could not reach ${url}: ${error.cause instanceof Error ? error.cause.message : error.message}`,
  );
  process.exit(1);
});
console.log(`${provider} ${eventType} -> ${url}`);
console.log(`HTTP ${response.status} in ${Math.round(performance.now() - started)} ms`);
console.log(await response.text());
process.exit(response.ok ? 0 : 1);
