import type { ZodError } from 'zod';
import { HttpError } from '../errors';

/** A request body that failed its schema: 400 with one message per field path (`ip_whitelist.1`). */
export class ValidationFailedError extends HttpError {
  constructor(readonly fields: Record<string, string>) {
    super(400, 'validation_failed', 'The request body is invalid');
  }

  static fromZod(error: ZodError): ValidationFailedError {
    const fields: Record<string, string> = {};
    for (const issue of error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) fields[[...issue.path, key].join('.')] ??= 'Unknown field';
        continue;
      }
      const path = issue.path.map(String).join('.') || '(root)';
      fields[path] ??= issue.message;
    }
    return new ValidationFailedError(fields);
  }
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
  }
}
