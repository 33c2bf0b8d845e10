/**
 * The longest a Salesforce bearer token may be valid (`exp - iat`) unless configured otherwise
 * (`salesforce.maxTokenLifetimeSeconds`): a token is a credential for any body until it expires, so
 * a captured one must be worthless within minutes. A module of its own: the stack config and every
 * ingest handler read it without the Salesforce provider's code.
 */
export const DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 300;
