/**
 * The dashboard page's Content-Security-Policy, the same in AWS (CloudFront response headers) and
 * locally: its own scripts and styles, and connections to its origin and the WebSocket API.
 */
export function contentSecurityPolicy(websocketOrigin: string): string {
  return [
    "default-src 'self'",
    `connect-src 'self' ${websocketOrigin}`,
    "img-src 'self' data:",
    "style-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}
