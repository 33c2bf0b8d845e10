/** `npm start`: the whole system on this machine, with the seed's defaults. */
import { numberEnv, optionalEnv } from '../shared/env';
import { startLocalStack } from './stack';

const DEV_SECRETS = { shopify: 'dev-shopify-secret' };

const secrets = {
  shopify: optionalEnv('SHOPIFY_WEBHOOK_SECRET') ?? DEV_SECRETS.shopify,
};

const started = performance.now();
const stack = await startLocalStack({
  port: numberEnv('PORT', 3000),
  wsPort: numberEnv('WS_PORT', 8080),
  webhookBaseUrl: optionalEnv('WEBHOOK_BASE_URL'),
  databaseUrl: optionalEnv('DATABASE_URL'),
  secrets,
  log: (line) => console.log(`  ${line}`),
});

const usingDevSecret = secrets.shopify === DEV_SECRETS.shopify;
console.log(`
Webhooks system running locally (ready in ${Math.round(performance.now() - started)} ms)
  Health        ${stack.httpUrl}/health
  Shopify       POST ${stack.httpUrl}/api/webhooks/shopify${usingDevSecret ? `  (secret "${DEV_SECRETS.shopify}"; set SHOPIFY_WEBHOOK_SECRET to change)` : ''}
  WebSocket     ${stack.wsUrl}?token=<token from: npm run token -- <userId>>
  Postgres      ${stack.databaseUrl}
Press Ctrl-C to stop.`);

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
