import { $ZodError } from 'zod/v4/core';
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
 * SQS refused events as the sender's fault (content it does not take, a message too long): sent
 * again unchanged they would be refused again. Ingest keeps such a delivery in the quarantine
 * (`senderFault`, see refusedBySqs) and answers 2xx; without a quarantine the provider is told why
 * at once instead of being answered 503 until it gives up: 413 for a message too long, 422 else.
 */
export class EnqueueRefusedError extends HttpError {
  readonly senderFault = true;
  constructor(tooLong: boolean, message: string, options?: ErrorOptions) {
    super(tooLong ? 413 : 422, tooLong ? 'payload_too_large' : 'unprocessable_content', message, {}, options);
  }
}

/**
 * How a processing failure is handled (and recorded as the event log's `errorCategory`):
 * - `validation`: can never succeed: dead-lettered at once;
 * - `processing`: the delivery's own processing failed (an unknown error is one of these): retried,
 *   and it uses up one of the delivery's attempts;
 * - `timeout`: the attempt took longer than its delivery's timeout_ms, or never finished (the
 *   invocation died on it): like `processing`;
 * - `dependency`: a dependency was unreachable, throttled, timed out or resuming (or the invocation
 *   ran out of time for the attempt): retried on the schedule without using up an attempt, for as
 *   long as the queue keeps the message.
 */
export type ErrorCategory = 'validation' | 'processing' | 'timeout' | 'dependency';

/** A record that can never succeed (bad envelope, unknown event type): dead-lettered without retries. */
export class ValidationError extends Error {
  override name = 'ValidationError';
  readonly category = 'validation' as const;
}

/** The attempt took longer than its delivery may take (timeout_ms), or never finished. */
export class TimeoutError extends Error {
  override name = 'TimeoutError';
  readonly category = 'timeout' as const;
}

/**
 * A dependency failed in a way that passes (a failed PutEvents entry, a throttled call, an
 * invocation out of time): retried without using up an attempt.
 */
export class TransientError extends Error {
  override name = 'TransientError';
  readonly category = 'dependency' as const;
}

/**
 * The category of any error a record handler saw. Only what is known to be permanent is
 * `validation` (our ValidationError, a schema rejection, data Postgres refuses); only what is known
 * to be a dependency's state is `dependency` (see isDependencyFailure); anything else is the
 * delivery's own `processing` failure, retried within its attempts.
 */
export function errorCategoryOf(error: unknown): ErrorCategory {
  if (error instanceof ValidationError || error instanceof $ZodError || isDataException(error))
    return 'validation';
  if (error instanceof TimeoutError) return 'timeout';
  if (error instanceof TransientError || isDependencyFailure(error)) return 'dependency';
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

/** Socket-level failures (Node, undici): the other end is down, unreachable or too slow. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** AWS errors that describe the service's state, not the request: throttling, capacity, resuming. */
const AWS_DEPENDENCY_ERRORS = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'ProvisionedThroughputExceededException',
  'TransactionConflictException',
  'SlowDown',
  'InternalServerError',
  'InternalServerException',
  'InternalFailure',
  'InternalError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'ServiceUnavailableError',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'DatabaseResumingException',
  'DatabaseUnavailableException',
  'StatementTimeoutException',
]);

/**
 * Postgres SQLSTATEs of the server's state: connection exceptions (08), insufficient resources
 * (53), operator intervention such as a shutdown or restart (57P01-57P03), and the concurrency
 * conflicts that succeed when repeated (40001, 40P01).
 */
const POSTGRES_DEPENDENCY_STATE = /^(?:08[0-9A-Z]{3}|53[0-9A-Z]{3}|57P0[123]|40001|40P01)$/;

/** node-postgres's own messages when the connection, not the statement, failed (they carry no code). */
const POSTGRES_CONNECTION_MESSAGE =
  /Connection terminated|timeout exceeded when trying to connect|Query read timeout|connection error and is not queryable|the database system is (?:starting up|shutting down)/i;

/**
 * Whether a failure is a dependency's state rather than the delivery's: a connection refused,
 * reset or timed out, a throttled or unavailable AWS service (or one answering 5xx), a resuming
 * Aurora, a Postgres server restarting or out of connections. Reads the whole `cause` chain, since
 * drizzle and the SDK wrap what the driver saw.
 */
export function isDependencyFailure(failure: unknown): boolean {
  for (let current = failure, depth = 0; current instanceof Error && depth < 8; depth++) {
    const error = current as Error & {
      code?: unknown;
      $fault?: unknown;
      $retryable?: unknown;
      $metadata?: { httpStatusCode?: number };
    };
    if (error instanceof TransientError) return true;
    // Ours: the attempt itself was too slow (SDK and AbortSignal timeouts share the name).
    if (error instanceof TimeoutError) return false;
    if (typeof error.code === 'string') {
      if (NETWORK_CODES.has(error.code) || POSTGRES_DEPENDENCY_STATE.test(error.code)) return true;
    }
    if (AWS_DEPENDENCY_ERRORS.has(error.name) || error.$retryable !== undefined) return true;
    const status = error.$metadata?.httpStatusCode;
    if (error.$fault === 'server' || status === 429 || (status !== undefined && status >= 500)) return true;
    if (POSTGRES_CONNECTION_MESSAGE.test(error.message)) return true;
    // The RDS Data API reports the server's SQLSTATE in the message.
    if (/SQLState: (?:08|53)[0-9A-Z]{3}\b|SQLState: 57P0[123]\b/.test(error.message)) return true;
    current = error.cause;
  }
  return false;
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
  if (error instanceof $ZodError) {
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
