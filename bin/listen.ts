/**
 * A terminal dashboard: `npm run listen -- [userId] [--operator] [--url ws://localhost:8080/ws]`
 * connects with a dev token, subscribes to every push type and prints each message as it arrives.
 * A user gets the pushes about their own deliveries; `--operator` every owner's, the provider-wide
 * endpoints' (the system owner's) included.
 */
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { devTokenSecret } from '../local/dev-secret';
import { OPERATORS_GROUP, signDevToken } from '../shared/auth/tokens';
import { PUSH_TYPES } from '../shared/realtime/messages';

const { values, positionals } = parseArgs({
  options: { url: { type: 'string' }, operator: { type: 'boolean' } },
  allowPositionals: true,
});
const url = values.url ?? `ws://localhost:${process.env.WS_PORT ?? 8080}/ws`;
const userId = positionals[0] ?? 'dev-user';

const token = await signDevToken(
  devTokenSecret(),
  userId,
  undefined,
  values.operator ? [OPERATORS_GROUP] : [],
);
const ws = new WebSocket(`${url}?token=${token}`);
ws.on('open', () => {
  console.error(`connected to ${url} as ${userId}; waiting for events (Ctrl-C to stop)`);
  ws.send(JSON.stringify({ type: 'subscribe', data: { events: PUSH_TYPES } }));
});
ws.on('message', (data) => console.log(data.toString()));
ws.on('unexpected-response', (_req, res) => {
  console.error(`connection refused: HTTP ${res.statusCode}`);
  process.exit(1);
});
ws.on('error', (error) => {
  console.error(`connection failed: ${error.message}`);
  process.exit(1);
});
ws.on('close', () => process.exit(0));
