import type { ZodError } from 'zod';
import { HttpError } from '../errors';

/** Where the invalid input was: the JSON body, or the query string (whose message names the parameters). */
export type RequestPart = 'body' | 'query';

/** A request body or query that failed its schema: 400 with one message per field path (`ip_whitelist.1`). */
export class ValidationFailedError extends HttpError {
  constructor(
    readonly fields: Record<string, string>,
    part: RequestPart = 'body',
  ) {
    super(400, 'validation_failed', part === 'body' ? 'The request body is invalid' : queryMessage(fields));
  }

  static fromZod(error: ZodError, part: RequestPart = 'body'): ValidationFailedError {
    const fields: Record<string, string> = {};
    for (const issue of error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) fields[[...issue.path, key].join('.')] ??= 'Unknown field';
        continue;
      }
      const path = issue.path.map(String).join('.') || '(root)';
      fields[path] ??= issue.message;
    }
    return new ValidationFailedError(fields, part);
  }
}

function queryMessage(fields: Record<string, string>): string {
  const names = Object.keys(fields);
  return `Invalid query parameter${names.length === 1 ? '' : 's'}: ${names.join(', ')}`;
}

export class ForbiddenError extends HttpError {
  constructor(message = 'Forbidden') {
    super(403, 'forbidden', message);
  }
}

export class TooManyRequestsError extends HttpError {
  constructor(retryAfterSeconds: number) {
    super(429, 'rate_limited', 'Rate limit exceeded, retry later', {
      'Retry-After': String(retryAfterSeconds),
    });
    this.because('rate_limited', { retry_after_seconds: retryAfterSeconds });
  }
}
