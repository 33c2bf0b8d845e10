/**
 * Prints a dev token for the local stack: `npm run token -- <userId> [--operator]` (the token is the
 * last line). `--operator` puts the user in the operators group, which DLQ redrive requires.
 */

import { parseArgs } from 'node:util';
import { devTokenSecret } from '../local/dev-secret';
import { OPERATORS_GROUP, signDevToken } from '../shared/auth/tokens';

const { values, positionals } = parseArgs({
  options: { operator: { type: 'boolean' } },
  allowPositionals: true,
});
const userId = positionals[0] ?? 'dev-user';
const token = await signDevToken(
  devTokenSecret(),
  userId,
  undefined,
  values.operator ? [OPERATORS_GROUP] : [],
);
console.error(
  `Dev token for user "${userId}" (valid 12 h). Connect with ws://localhost:${process.env.WS_PORT ?? 8080}/ws?token=<token>`,
);
console.log(token);
