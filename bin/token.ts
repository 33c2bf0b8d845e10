/**
 * Prints a dev token for the local stack: `npm run token -- <userId> [--operator]` (the token is the
 * last line). `--operator` puts the user in the operators group: they see every owner's data, the
 * DLQs and the team's alerts.
 */

import { parseArgs } from 'node:util';
import { devTokenSecret } from '../local/dev-secret';
import { OPERATORS_GROUP, signDevToken } from '../shared/auth/tokens';
import { isReservedOwner } from '../shared/owner';

const { values, positionals } = parseArgs({
  options: { operator: { type: 'boolean' } },
  allowPositionals: true,
});
const userId = positionals[0] ?? 'dev-user';
if (isReservedOwner(userId)) {
  console.error(`"${userId}" is the deployment's own owner: no token speaks for it (use --operator).`);
  process.exit(2);
}
const token = await signDevToken(
  devTokenSecret(),
  userId,
  undefined,
  values.operator ? [OPERATORS_GROUP] : [],
);
console.error(
  `Dev token for user "${userId}" (valid 12 h). Connect with ws://localhost:8080/ws?token=<token>`,
);
console.log(token);
