import { createRequire } from 'node:module';
import * as path from 'node:path';

/** The repository root: function entries, the lock file and the SQL migrations are found from it. */
export const REPO_ROOT = path.resolve(import.meta.dirname, '..');

/** The dashboard page: served by the local stack, deployed to S3 behind CloudFront by the stack. */
export const WEB_DIR = path.join(REPO_ROOT, 'web');

/** uPlot's browser build (the page's only library), deployed next to the page. */
export const UPLOT_DIST_DIR = path.dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.esm.js'));
