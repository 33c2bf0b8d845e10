import { describe, expect, it } from 'vitest';
import { ZodError } from 'zod';
import { errorCategoryOf, TimeoutError, ValidationError } from '../../../shared/errors';

function postgresError(code: string, message = 'boom'): Error {
  return Object.assign(new Error(message), { code });
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
    ['a connection error', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })],
    ['a Data API error without a data SQLState', new Error('Communications link failure; SQLState: 08S01')],
    ['an unknown error', new Error('boom')],
  ])('classes %s as processing, so it is retried', (_case, error) => {
    expect(errorCategoryOf(error)).toBe('processing');
  });

  it('classes a TimeoutError as timeout', () => {
    expect(errorCategoryOf(new TimeoutError('late'))).toBe('timeout');
  });
});
