/** `npm start`: the whole system on this machine, with the seed's defaults. */

import { OPERATORS_GROUP, signDevToken } from '../shared/auth/tokens';
import { numberEnv, optionalEnv } from '../shared/env';
import { PROVIDER_NAMES, type ProviderName } from '../shared/envelope';
import { DEV_SALESFORCE_ORG_ID, DEV_WEBHOOK_SECRETS, devTokenSecret } from './dev-secret';
import { nodeMajor, RECOMMENDED_NODE_MAJOR } from './node-support';
import { startLocalStack } from './stack';

const secrets = Object.fromEntries(
  PROVIDER_NAMES.map((name) => [
    name,
    optionalEnv(`${name.toUpperCase()}_WEBHOOK_SECRET`) ?? DEV_WEBHOOK_SECRETS[name],
  ]),
) as Record<ProviderName, string>;

// Provider-wide Salesforce deliveries (bearer tokens and Outbound Messages) must name this org.
process.env.SALESFORCE_ORG_ID ??= DEV_SALESFORCE_ORG_ID;

const started = performance.now();
const stack = await startLocalStack({
  port: numberEnv('PORT', 3000),
  wsPort: numberEnv('WS_PORT', 8080),
  host: optionalEnv('HOST'),
  webhookBaseUrl: optionalEnv('WEBHOOK_BASE_URL'),
  databaseUrl: optionalEnv('DATABASE_URL'),
  // A fixed port, so the README's psql command works as written.
  pglitePort: numberEnv('PGLITE_PORT', 5434),
  secrets,
  // Ingest first, as in AWS where no processor shares its CPU (LocalStackOptions.processorNice).
  processorNice: numberEnv('PROCESSOR_NICE', 10),
  log: (line) => console.log(`  ${line}`),
});

const endpoints = PROVIDER_NAMES.map((name) => {
  const devSecret =
    secrets[name] === DEV_WEBHOOK_SECRETS[name] ? `  (dev secret "${DEV_WEBHOOK_SECRETS[name]}")` : '';
  const org = name === 'salesforce' ? `, org ${process.env.SALESFORCE_ORG_ID}` : '';
  return `  ${name.padEnd(12)}  POST ${stack.httpUrl}/api/webhooks/${name}${devSecret}${org}`;
});
// The printed dashboard link signs in as a local operator (the token rides in the fragment, which
// the browser never sends to a server; the page drops it from the address bar).
const dashboardToken = await signDevToken(devTokenSecret(), 'dev-user', 12 * 3600, [OPERATORS_GROUP]);
console.log(`
Webhooks system running locally (ready in ${Math.round(performance.now() - started)} ms)
  Dashboard     ${stack.httpUrl}/#token=${dashboardToken}
  Health        ${stack.httpUrl}/health
${endpoints.join('\n')}
  WebSocket     ${stack.wsUrl}?token=<token from: npm run token -- <userId>>
  Postgres      ${stack.databaseUrl}
  Domain events EventBridge bus "${stack.eventBusName}" (local stand-in, kept in memory)
Send a signed sample: npm run send -- shopify orders/create
Press Ctrl-C to stop.`);
if (nodeMajor() < RECOMMENDED_NODE_MAJOR)
  console.log(
    `(Node.js ${process.version} works, but is past its end of life: Node.js ${RECOMMENDED_NODE_MAJOR} or 24 is recommended.)`,
  );

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    console.log('\nStopping...');
    await stack.stop();
    process.exit(0);
  });
}
