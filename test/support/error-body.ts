/** The error code each status must carry (shared/errors.ts and the REST front's own answers). */
export const ERROR_CODES: Readonly<Record<number, string>> = {
  400: 'bad_request',
  401: 'unauthorized',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
};

const STACK_FRAME = /\bat\s+\S+\s+\(|\bat\s+(?:file:|node:|\/)|\n\s*at\s/;
const FILE_PATH = /\/work\/|\/home\/|\/tmp\/|\/usr\/|\/var\/|node_modules|file:\/\/|\w\.[cm]?[jt]s\b/;

/**
 * What is wrong with an error response body, as a list (empty when it is fine): it must be exactly
 * `{success:false,error:{code,message}}`, with a short one-line message that leaks no stack frame,
 * file path or secret.
 */
export function errorBodyProblems(text: string, secrets: readonly string[]): string[] {
  const problems: string[] = [];
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return [`body is not JSON: ${text.slice(0, 120)}`];
  }
  const { success, error, ...rest } = (body ?? {}) as Record<string, unknown>;
  if (success !== false) problems.push('success is not false');
  if (Object.keys(rest).length > 0) problems.push(`unexpected keys ${Object.keys(rest).join(', ')}`);
  const { code, message, ...more } = (error ?? {}) as Record<string, unknown>;
  if (typeof code !== 'string' || !/^[a-z_]{1,40}$/.test(code))
    problems.push(`bad error.code ${String(code)}`);
  if (typeof message !== 'string' || message.length === 0) problems.push('error.message is not a string');
  else if (message.length > 200 || message.includes('\n')) problems.push('error.message is not short');
  if (Object.keys(more).length > 0) problems.push(`unexpected error keys ${Object.keys(more).join(', ')}`);
  if (STACK_FRAME.test(text)) problems.push('body contains a stack frame');
  if (FILE_PATH.test(text)) problems.push('body contains a file path');
  for (const secret of secrets) if (secret && text.includes(secret)) problems.push('body contains a secret');
  return problems;
}
