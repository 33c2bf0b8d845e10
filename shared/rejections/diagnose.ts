import type { WebhookProvider, WebhookRequest } from '../providers/types';
import type { RejectionReason } from './causes';

/**
 * Bodies above this size are not diagnosed further than `signature_mismatch`: the diagnosis
 * recomputes a few HMACs per secret, and must stay cheap next to what the request already cost.
 */
export const DIAGNOSIS_MAX_BODY_BYTES = 64 * 1024;

export interface DiagnosisSecrets {
  /** The secrets the endpoint accepts (the signature matched none of them over the body as received). */
  accepted: readonly string[];
  /**
   * Secrets that are no longer accepted but that a sender may still use: a config's previous secret
   * after its grace period, or (on a per-config endpoint) the provider-wide secret.
   */
  retired: readonly { secret: string; which: string }[];
}

/**
 * Why a well-formed signature did not verify, for the rejection record only (the sender's answer
 * stays a plain 401). What it checks, and nothing more, so it can be neither an oracle nor a cost
 * amplifier:
 *
 * 1. `unknown_secret`: the signature matches one of `retired` (at most the config's expired previous
 *    secret and the provider-wide secrets: a handful of HMACs). Another tenant's secrets are never
 *    tried: that would need their configs read and decrypted for a stranger's request.
 * 2. `signature_mismatch_body_altered`: for providers that sign the body, and bodies up to 64 KiB,
 *    the signature matches an accepted secret over one of a fixed list of normalized bodies
 *    (whitespace and line endings, compact JSON, UTF-8/Latin-1 re-encoding): a proxy changed the
 *    bytes. At most 7 variants times the accepted secrets (two during a rotation).
 * 3. Otherwise `signature_mismatch`.
 *
 * Nothing here changes the answer: a sender learns no more than before, and only the endpoint's
 * owner and operators see the diagnosis.
 */
export function diagnoseSignature(
  provider: WebhookProvider,
  request: WebhookRequest,
  secrets: DiagnosisSecrets,
): RejectionReason {
  const retired = secrets.retired.find(({ secret }) => provider.signedWith(request, secret));
  if (retired) return { cause: 'unknown_secret', detail: { matches: retired.which } };
  if (!provider.signsBody) return { cause: 'signature_mismatch' };
  if (request.body.length > DIAGNOSIS_MAX_BODY_BYTES)
    return { cause: 'signature_mismatch', detail: { diagnosis: 'body_too_large_to_diagnose' } };
  for (const [normalization, body] of bodyVariants(request.body)) {
    const altered = { ...request, body };
    if (secrets.accepted.some((secret) => provider.signedWith(altered, secret)))
      return { cause: 'signature_mismatch_body_altered', detail: { normalization } };
  }
  return { cause: 'signature_mismatch' };
}

/** The bodies a proxy or a client library commonly turns the signed one into, each different from it. */
export function bodyVariants(body: Buffer): [string, Buffer][] {
  const text = body.toString('utf8');
  const variants: [string, string | Buffer][] = [
    ['trimmed', text.trim()],
    ['trailing_newline', `${text}\n`],
    ['crlf_to_lf', text.replaceAll('\r\n', '\n')],
    ['lf_to_crlf', text.replace(/\r?\n/g, '\r\n')],
    ['json_compact', compactJson(text)],
    // Read as Latin-1 and re-encoded as UTF-8 (double encoding), or the other way round.
    ['utf8_from_latin1', Buffer.from(body.toString('latin1'), 'utf8')],
    ['latin1_from_utf8', Buffer.from(text, 'latin1')],
  ];
  return variants
    .map(([name, value]): [string, Buffer] => [name, Buffer.isBuffer(value) ? value : Buffer.from(value)])
    .filter(([, value]) => !value.equals(body));
}

function compactJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text));
  } catch {
    return text;
  }
}
