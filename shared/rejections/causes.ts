/**
 * Why a delivery was refused, in a word a machine can group by (README "Reading a rejection").
 * Every 401, 403, 413, 415 and 429 the ingest path answers carries one; the rejection record keeps
 * it with a small `detail` (numbers and names, never a secret or a body).
 */
export const REJECTION_CAUSES = [
  /** No signature header or bearer token at all. */
  'signature_missing',
  /** A signature or token that is not even well-formed (wrong encoding, wrong length, not a JWT). */
  'signature_malformed',
  /** Well-formed, but made with none of the accepted secrets over this request. */
  'signature_mismatch',
  /** Matches an accepted secret over a normalized copy of the body: a proxy re-encoded it on the way. */
  'signature_mismatch_body_altered',
  /** Matches a secret that is no longer accepted: the expired previous one, or the provider-wide one. */
  'unknown_secret',
  /** HubSpot's signed timestamp outside the 5-minute window (`detail.skew_seconds`). */
  'stale_timestamp',
  /** A bearer token past its `exp` (with the 60 s skew). */
  'token_expired',
  /** A bearer token whose `nbf` or `iat` is still in the future. */
  'token_not_yet_valid',
  /** A bearer token without `exp` or `iat`, or valid for longer than the maximum lifetime. */
  'token_lifetime_invalid',
  /** A bearer token for another audience, or signed with an algorithm we do not take. */
  'token_claims_invalid',
  /** A bearer token whose `body_sha256` claim names another body. */
  'body_hash_mismatch',
  /** HubSpot v1/v2 signatures, refused where only v3 is accepted. */
  'legacy_signature_refused',
  /** An Outbound Message without the endpoint token, with a wrong one, or where none is enabled. */
  'outbound_message_token_invalid',
  /** A verified delivery from another shop, portal or org than the one the endpoint is bound to. */
  'source_account_mismatch',
  /** The source address is outside the config's `ip_whitelist`. */
  'source_ip_not_allowed',
  /** Over the config's `rate_limit` (events per minute). */
  'rate_limited',
  /** A body over the size limit. */
  'payload_too_large',
  /** More events in one request than the endpoint takes (`max_events_per_request`, `rate_limit`). */
  'too_many_events',
  /** A content type the provider never sends. */
  'unsupported_media_type',
] as const;

export type RejectionCause = (typeof REJECTION_CAUSES)[number];

/** Small facts about a rejection (a skew, a limit, the accounts involved): numbers and short names only. */
export type RejectionDetail = Readonly<Record<string, string | number>>;

export interface RejectionReason {
  cause: RejectionCause;
  detail?: RejectionDetail;
}

/** The statuses whose deliveries are recorded as rejections (a 404 has no owner to show it to). */
export const RECORDED_STATUSES: ReadonlySet<number> = new Set([401, 403, 413, 415, 429]);
