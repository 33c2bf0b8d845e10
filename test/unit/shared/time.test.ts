import { describe, expect, it } from 'vitest';
import { toIsoTime } from '../../../shared/time';

describe('toIsoTime', () => {
  it.each([
    ['an ISO time with an offset', '2025-11-29T12:00:00+02:00', '2025-11-29T10:00:00.000Z'],
    ['an ISO time in UTC', '2022-01-01T00:00:00.000Z', '2022-01-01T00:00:00.000Z'],
    ['epoch milliseconds', 1764410000000, '2025-11-29T09:53:20.000Z'],
    ['epoch zero', 0, '1970-01-01T00:00:00.000Z'],
    ['an RFC 2822 time', 'Sat, 29 Nov 2025 10:00:00 +0000', '2025-11-29T10:00:00.000Z'],
    ['an RFC 2822 time with an offset', 'Sat, 29 Nov 2025 05:00:00 -0500', '2025-11-29T10:00:00.000Z'],
    ['the last millisecond of year 9999', 253402300799999, '9999-12-31T23:59:59.999Z'],
    ['the Unix epoch', 0, '1970-01-01T00:00:00.000Z'],
  ])('converts %s to ISO 8601 UTC', (_case, value, expected) => {
    expect(toIsoTime(value)).toBe(expected);
  });

  it.each([
    ['an unparseable string', 'not a date'],
    ['a time in year 0, which Postgres cannot store', '0000-06-01T00:00:00Z'],
    ['a time before 1970', '1969-12-31T23:59:59.999Z'],
    ['an empty string', ''],
    ['year 20000', '+020000-01-01T00:00:00Z'],
    ['the first millisecond of year 10000', 253402300800000],
    ['a negative year', '-000001-01-01T00:00:00Z'],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['null', null],
    ['undefined', undefined],
    ['a boolean', true],
    ['an object', { time: 1764410000000 }],
  ])('returns undefined for %s', (_case, value) => {
    expect(toIsoTime(value)).toBeUndefined();
  });

  it.each([
    ['the largest time a Date can hold', 8.64e15],
    ['the smallest time a Date can hold', -8.64e15],
    ['one millisecond past the largest time', 8.64e15 + 1],
    ['one millisecond before the smallest time', -8.64e15 - 1],
  ])('returns undefined, without throwing, for %s', (_case, value) => {
    expect(() => toIsoTime(value)).not.toThrow();
    expect(toIsoTime(value)).toBeUndefined();
  });
});
