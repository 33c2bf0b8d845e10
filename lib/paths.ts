import * as path from 'node:path';

/** The repository root: function entries, the lock file and the SQL migrations are found from it. */
export const REPO_ROOT = path.resolve(import.meta.dirname, '..');
