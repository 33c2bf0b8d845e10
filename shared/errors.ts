/**
 * The small set of errors the system raises on purpose. Each maps to one HTTP status in one place
 * (shared/http/responses.ts); anything else is an internal error and becomes a generic 500/503.
 */
export class HttpError extends Error {
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
}

export class BadRequestError extends HttpError {
  constructor(message: string) {
    super(400, 'bad_request', message);
  }
}

export class UnauthorizedError extends HttpError {
  constructor(message = 'Invalid or missing signature') {
    super(401, 'unauthorized', message);
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
  }
}

export class UnsupportedMediaTypeError extends HttpError {
  constructor(expected: string) {
    super(415, 'unsupported_media_type', `Content-Type must be ${expected}`);
  }
}

/** The event could not be made durable; the provider must retry. */
export class EnqueueFailedError extends HttpError {
  constructor(message = 'Could not enqueue the event, retry later', options?: ErrorOptions) {
    super(503, 'enqueue_failed', message, { 'Retry-After': '5' }, options);
  }
}

/** A record that can never succeed (bad envelope, unknown event type): dead-lettered without retries. */
export class ValidationError extends Error {
  override name = 'ValidationError';
}
