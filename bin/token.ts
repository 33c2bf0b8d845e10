/** Prints a dev token for the local stack: `npm run token -- <userId>` (the token is the last line). */

import { devTokenSecret } from '../local/dev-secret';
import { signDevToken } from '../shared/auth/tokens';

const userId = process.argv[2] ?? 'dev-user';
const token = await signDevToken(devTokenSecret(), userId);
console.error(
  `Dev token for user "${userId}" (valid 12 h). Connect with ws://localhost:8080/ws?token=<token>`,
);
console.log(token);
