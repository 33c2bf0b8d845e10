import { ZodError } from 'zod';
import type { RejectionCause, RejectionDetail, RejectionReason } from './rejections/causes';

/**
 * The small set of errors the system raises on purpose. Each maps to one HTTP status in one place
 * (shared/http/responses.ts); anything else is an internal error and becomes a generic 500/503.
 */
export class HttpError extends Error {
  /** Why a delivery was refused, for the rejection record (shared/rejections/causes.ts). */
  reason?: RejectionReason;

  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }

  /** Names the machine-readable cause of a refused delivery (and a few facts about it). */
  because(cause: RejectionCause, detail?: RejectionDetail): this {
    this.reason = detail === undefined ? { cause } : { cause, detail };
    return this;
  }
}

export class BadRequestError extends HttpError {
  constructor(message: string) {
    super(400, 'bad_request', message);
  }
}

export class UnauthorizedError extends HttpError {
  constructor(message = 'Invalid or missing signature', cause: RejectionCause = 'signature_mismatch') {
    super(401, 'unauthorized', message);
    this.because(cause);
  }
}

export class NotFoundError extends HttpError {
  constructor(message = 'Not found') {
    super(404, 'not_found', message);
  }
}

export class MethodNotAllowedError extends HttpError {
  constructor(allowed: readonly string[]) {
    super(405, 'method_not_allowed', `Use ${allowed.join(', ')}`, { Allow: allowed.join(', ') });
  }
}

export class PayloadTooLargeError extends HttpError {
  constructor(limitBytes: number) {
    super(413, 'payload_too_large', `Body exceeds ${limitBytes} bytes`);
    this.because('payload_too_large', { limit_bytes: limitBytes });
  }
}

/** More events in one request than the endpoint takes: the cap is named, and retrying cannot help. */
export class TooManyEventsError extends HttpError {
  constructor(events: number, limit: number, setting: string) {
    super(
      413,
      'payload_too_large',
      `The delivery carries ${events} events; this endpoint takes at most ${limit} per request (${setting})`,
    );
    this.because('too_many_events', { events, limit, setting });
  }
}

export class UnsupportedMediaTypeError extends HttpError {
  constructor(expected: string) {
    super(415, 'unsupported_media_type', `Content-Type must be ${expected}`);
    this.because('unsupported_media_type');
  }
}

/** The event could not be made durable; the provider must retry. */
export class EnqueueFailedError extends HttpError {
  constructor(message = 'Could not enqueue the event, retry later', options?: ErrorOptions) {
    super(503, 'enqueue_failed', message, { 'Retry-After': '5' }, options);
  }
}

/**
 * How a processing failure is handled (and recorded as the event log's `errorCategory`):
 * `validation` can never succeed and is dead-lettered at once; `processing` (anything transient) is
 * retried with backoff; `timeout` was not attempted because the invocation ran out of time.
 */
export type ErrorCategory = 'validation' | 'processing' | 'timeout';

/** A record that can never succeed (bad envelope, unknown event type): dead-lettered without retries. */
export class ValidationError extends Error {
  override name = 'ValidationError';
  readonly category = 'validation' as const;
}

/** The invocation had too little time left to take this record; it is retried untouched. */
export class TimeoutError extends Error {
  override name = 'TimeoutError';
  readonly category = 'timeout' as const;
}

/** A dependency failed in a way that may pass (a failed PutEvents entry, a throttled call): retried. */
export class TransientError extends Error {
  override name = 'TransientError';
  readonly category = 'processing' as const;
}

/**
 * The category of any error a record handler saw. Only what is known to be permanent is
 * `validation` (our ValidationError, or a schema rejection); everything else, from DynamoDB
 * throttling to Data API errors, is worth a retry.
 */
export function errorCategoryOf(error: unknown): ErrorCategory {
  if (error instanceof ValidationError || error instanceof ZodError || isDataException(error))
    return 'validation';
  if (error instanceof TimeoutError) return 'timeout';
  return 'processing';
}

/**
 * Postgres refused the values themselves (SQLSTATE class 22: invalid text, out of range, bad
 * encoding...): the same event can never succeed, so retrying five times only delays the DLQ.
 * node-postgres exposes the code; the RDS Data API puts it in the message.
 */
function isDataException(failure: unknown): boolean {
  const error = reportableError(failure);
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return /^22[0-9A-Z]{3}$/.test(code);
  return /SQLState: 22[0-9A-Z]{3}\b/.test(error.message);
}

const MAX_ERROR_MESSAGE = 300;

/**
 * The error worth reporting. A query builder's wrapper (drizzle's `Failed query: <sql> params:
 * <values>`) gives way to its cause, so query parameters, which carry payload data, stay out of the
 * logs and the event log.
 */
export function reportableError(error: unknown): unknown {
  if (error instanceof Error && error.message.startsWith('Failed query:') && error.cause !== undefined)
    return reportableError(error.cause);
  return error;
}

/** One short line for the event log and the DLQ: the error's name and first message line, no stack. */
export function shortErrorMessage(failure: unknown): string {
  const error = reportableError(failure);
  let text: string;
  if (error instanceof ZodError) {
    const issue = error.issues[0];
    text = `ZodError: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`;
  } else if (error instanceof Error) {
    const line = error.message.split('\n', 1)[0]?.trim() ?? '';
    text = line ? `${error.name}: ${line}` : error.name;
  } else {
    text = String(error).split('\n', 1)[0] ?? 'Unknown error';
  }
  return text.length > MAX_ERROR_MESSAGE ? `${text.slice(0, MAX_ERROR_MESSAGE - 1)}…` : text;
}
