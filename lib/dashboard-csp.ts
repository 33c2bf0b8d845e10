/**
 * The dashboard page's Content-Security-Policy, the same in AWS (CloudFront response headers) and
 * locally: its own scripts and styles, and connections to its origin, the WebSocket API and (in
 * AWS) the Cognito domain whose token endpoint the page exchanges its sign-in code at.
 */
export function contentSecurityPolicy(websocketOrigin: string, signInOrigin?: string): string {
  return [
    "default-src 'self'",
    `connect-src 'self' ${websocketOrigin}${signInOrigin ? ` ${signInOrigin}` : ''}`,
    "img-src 'self' data:",
    "style-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}
