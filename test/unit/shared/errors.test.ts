import { describe, expect, it } from 'vitest';
import { ZodError } from 'zod';
import { errorCategoryOf, TimeoutError, TransientError, ValidationError } from '../../../shared/errors';

function postgresError(code: string, message = 'boom'): Error {
  return Object.assign(new Error(message), { code });
}

/** An AWS SDK service exception as the SDK builds it. */
function awsError(name: string, fault: 'client' | 'server', status: number): Error {
  return Object.assign(new Error(name), { name, $fault: fault, $metadata: { httpStatusCode: status } });
}

describe('errorCategoryOf', () => {
  it.each([
    ['a ValidationError', new ValidationError('bad')],
    ['a ZodError', new ZodError([])],
    [
      'invalid text for a column (node-postgres 22P02)',
      postgresError('22P02', 'invalid input syntax for type numeric'),
    ],
    ['a value out of range (22003)', postgresError('22003')],
    [
      'a data exception reported by the RDS Data API',
      new Error('ERROR: date/time field value out of range: "0000-06-01"; SQLState: 22008'),
    ],
    [
      "a data exception wrapped by drizzle's Failed query error",
      new Error('Failed query: insert into ... params: ...', { cause: postgresError('22021') }),
    ],
  ])('classes %s as validation: it can never succeed, so it is dead-lettered at once', (_case, error) => {
    expect(errorCategoryOf(error)).toBe('validation');
  });

  it.each([
    ['a serialization failure (40001)', postgresError('40001')],
    [
      'a server shutting down (57P01)',
      postgresError('57P01', 'terminating connection due to administrator command'),
    ],
    ['too many connections (53300)', postgresError('53300')],
    ['a connection refused', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })],
    ['a connection reset', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
    ['a node-postgres connection cut', new Error('Connection terminated unexpectedly')],
    [
      'a connection error wrapped by drizzle',
      new Error('Failed query: select 1', { cause: new Error('Connection terminated unexpectedly') }),
    ],
    ['a Data API link failure', new Error('Communications link failure; SQLState: 08S01')],
    ['DynamoDB throttling', awsError('ProvisionedThroughputExceededException', 'client', 400)],
    [
      'an AWS throttling error the SDK marks retryable',
      Object.assign(awsError('SomethingNew', 'client', 400), { $retryable: { throttling: true } }),
    ],
    ['an AWS 5xx', awsError('InternalFailure', 'server', 500)],
    ['a resuming Aurora', awsError('DatabaseResumingException', 'client', 400)],
    [
      'an SDK request timeout',
      Object.assign(new Error('Connection timed out after 1000 ms'), { name: 'TimeoutError' }),
    ],
    ['a TransientError (a failed PutEvents entry)', new TransientError('PutEvents failed for 1 of 1 events')],
  ])('classes %s as dependency: retried without using up an attempt', (_case, error) => {
    expect(errorCategoryOf(error)).toBe('dependency');
  });

  it.each([
    ['an unknown error', new Error('boom')],
    ['a constraint the data violates (23505)', postgresError('23505')],
    ['an AWS error about the request itself', awsError('ValidationException', 'client', 400)],
  ])("classes %s as processing: retried within the delivery's attempts", (_case, error) => {
    expect(errorCategoryOf(error)).toBe('processing');
  });

  it('classes our TimeoutError (the attempt took too long) as timeout, not as a dependency', () => {
    expect(errorCategoryOf(new TimeoutError('late'))).toBe('timeout');
  });
});
