import { describe, expect, it } from 'vitest';
import { parseSecrets, secretSource } from '../../../shared/secrets';

describe('parseSecrets', () => {
  it('reads a single value as one secret', () => {
    expect(parseSecrets('shpss_current_0f9d2c7e5b1a')).toEqual(['shpss_current_0f9d2c7e5b1a']);
  });

  it('trims surrounding whitespace of a single secret', () => {
    expect(parseSecrets('  shpss_current_0f9d2c7e5b1a\n')).toEqual(['shpss_current_0f9d2c7e5b1a']);
  });

  it('reads a JSON array as the accepted secrets, current first', () => {
    expect(parseSecrets('["shpss_current", "shpss_previous"]')).toEqual(['shpss_current', 'shpss_previous']);
  });

  it('drops empty and non-string entries of a JSON array', () => {
    expect(parseSecrets('["shpss_current", "", 42, null, "shpss_previous"]')).toEqual([
      'shpss_current',
      'shpss_previous',
    ]);
  });

  it("treats malformed JSON starting with '[' as one secret", () => {
    expect(parseSecrets('[not-json')).toEqual(['[not-json']);
  });

  it.each([
    ['undefined', undefined],
    ['an empty string', ''],
    ['whitespace only (an empty HMAC key would let anyone sign)', ' \n'],
    ['a JSON array of blank entries', '["  ", ""]'],
  ])('returns no secret for %s', (_label, value) => {
    expect(parseSecrets(value)).toEqual([]);
  });
});

describe('secretSource', () => {
  it('serves the secrets of the environment value when no secret ARN is configured', async () => {
    const source = secretSource({ envValue: '["shpss_current","shpss_previous"]' });

    await expect(source()).resolves.toEqual(['shpss_current', 'shpss_previous']);
  });
});
