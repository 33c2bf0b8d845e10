import { hmacSha256 } from '../crypto';

/**
 * Salesforce Outbound Messages carry no signature, and their OrganizationId is no secret. What
 * authenticates one is a token only the endpoint's owner knows, set by the Salesforce admin in the
 * Outbound Message's endpoint URL as `?token=<token>` (README "Providers").
 *
 * The token is derived from a signing secret: base64url(HMAC-SHA256(secret,
 * "salesforce-outbound-message:<scope>")), where the scope is the config id of a per-config endpoint
 * or `provider` for the provider-wide one. So it needs no storage of its own, a rotation of the secret
 * rotates it (the previous secret's token stays valid for the grace period), and knowing the token
 * tells nothing about the secret.
 */
export const OUTBOUND_MESSAGE_TOKEN_PARAMETER = 'token';

/** The scope of the provider-wide endpoint's token. */
export const PROVIDER_WIDE_SCOPE = 'provider';

export function outboundMessageToken(secret: string, scope: string): string {
  return hmacSha256(secret, `salesforce-outbound-message:${scope}`).toString('base64url');
}

/** The Outbound Message endpoint URL of an endpoint: its URL with the token of its current secret. */
export function outboundMessageUrl(endpointUrl: string, secret: string, scope: string): string {
  const url = new URL(endpointUrl);
  url.searchParams.set(OUTBOUND_MESSAGE_TOKEN_PARAMETER, outboundMessageToken(secret, scope));
  return url.toString();
}
