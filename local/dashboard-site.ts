import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { UPLOT_DIST_DIR, WEB_DIR } from '../lib/paths';

export interface SiteFile {
  body: Buffer;
  contentType: string;
}

/** What the page needs to find the APIs: the REST API's base (same origin here) and the WebSocket URL. */
export interface SiteConfig {
  apiBaseUrl: string;
  websocketUrl: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/**
 * The dashboard as the stack's CloudFront distribution serves it: web/ and uPlot's two browser
 * files at the root, and a generated /config.json. Anything else is not part of the site.
 */
export function dashboardSite(config: () => SiteConfig) {
  const files: Record<string, string> = {
    '/': path.join(WEB_DIR, 'index.html'),
    '/index.html': path.join(WEB_DIR, 'index.html'),
    '/app.js': path.join(WEB_DIR, 'app.js'),
    '/sign-in.js': path.join(WEB_DIR, 'sign-in.js'),
    '/styles.css': path.join(WEB_DIR, 'styles.css'),
    '/uPlot.esm.js': path.join(UPLOT_DIST_DIR, 'uPlot.esm.js'),
    '/uPlot.min.css': path.join(UPLOT_DIST_DIR, 'uPlot.min.css'),
  };
  return async (pathname: string): Promise<SiteFile | undefined> => {
    if (pathname === '/config.json')
      return { body: Buffer.from(JSON.stringify(config())), contentType: 'application/json' };
    const file = files[pathname];
    if (!file) return undefined;
    return {
      body: await readFile(file),
      contentType: TYPES[path.extname(file)] ?? 'application/octet-stream',
    };
  };
}
