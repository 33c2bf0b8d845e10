import { describe, expect, it } from 'vitest';
import { BadRequestError } from '../../../shared/errors';
import {
  canonicalJson,
  contentId,
  isJsonObject,
  MAX_JSON_DEPTH,
  parseJsonBody,
  parseJsonExact,
} from '../../../shared/json';

describe('parseJsonExact', () => {
  it('keeps an integer above 2^53 as its exact decimal string', () => {
    const parsed = parseJsonExact('{"id":820982911946154508}');

    expect(parsed).toEqual({ id: '820982911946154508' });
  });

  it('keeps big integers nested in objects and arrays as strings', () => {
    const parsed = parseJsonExact(
      '{"customer":{"id":706405506930370084},"line_items":[{"id":866550311766439020},{"id":141249953214522974}],"ids":[9007199254740993,-9007199254740993]}',
    );

    expect(parsed).toEqual({
      customer: { id: '706405506930370084' },
      line_items: [{ id: '866550311766439020' }, { id: '141249953214522974' }],
      ids: ['9007199254740993', '-9007199254740993'],
    });
  });

  it('keeps safe numbers as numbers next to a big integer', () => {
    const parsed = parseJsonExact(
      '{"id":820982911946154508,"number":234,"total_weight":0,"ratio":0.25,"max":9007199254740991}',
    );

    expect(parsed).toEqual({
      id: '820982911946154508',
      number: 234,
      total_weight: 0,
      ratio: 0.25,
      max: 9007199254740991,
    });
  });

  it('returns plain numbers when no big integer is present', () => {
    expect(parseJsonExact('{"id":123,"price":99.99,"list":[1,2,3]}')).toEqual({
      id: 123,
      price: 99.99,
      list: [1, 2, 3],
    });
  });

  it('leaves strings containing long digit runs untouched', () => {
    const parsed = parseJsonExact(
      '{"admin_graphql_api_id":"gid://shopify/Order/820982911946154508","phone":"00441234567890123456","n":5}',
    );

    expect(parsed).toEqual({
      admin_graphql_api_id: 'gid://shopify/Order/820982911946154508',
      phone: '00441234567890123456',
      n: 5,
    });
  });

  it.each([
    ['without big integers', '{"__proto__":{"polluted":true},"id":1}'],
    ['with a big integer', '{"__proto__":{"polluted":true},"id":820982911946154508}'],
  ])('does not pollute Object.prototype through a __proto__ key (%s)', (_label, text) => {
    const parsed = parseJsonExact(text) as Record<string, unknown>;

    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(Object.hasOwn(parsed, '__proto__')).toBe(true);
  });

  it('reads a number the same way whatever else the document holds', () => {
    const alone = parseJsonExact('{"amount":123456789.123456789}') as Record<string, unknown>;
    const besideBigId = parseJsonExact('{"id":820982911946154508,"amount":123456789.123456789}') as Record<
      string,
      unknown
    >;

    expect(alone.amount).toBe('123456789.123456789');
    expect(besideBigId.amount).toBe(alone.amount);
  });

  it('throws on invalid JSON', () => {
    expect(() => parseJsonExact('{"id":820982911946154508,')).toThrow();
    expect(() => parseJsonExact('{"id":1,')).toThrow();
  });
});

describe('isJsonObject', () => {
  it.each([
    [{}, true],
    [{ id: 1 }, true],
    [[], false],
    [null, false],
    ['{}', false],
    [1, false],
  ])('classifies %j as an object: %s', (value, expected) => {
    expect(isJsonObject(value)).toBe(expected);
  });
});

describe('parseJsonBody', () => {
  const nested = (depth: number) => Buffer.from(`{"id":1,"a":${'['.repeat(depth)}${']'.repeat(depth)}}`);

  it(`accepts a document nested ${MAX_JSON_DEPTH} levels deep`, () => {
    expect(() => parseJsonBody(nested(MAX_JSON_DEPTH - 1))).not.toThrow();
  });

  it('refuses deeper nesting with a 400 instead of overflowing the stack later', () => {
    expect(() => parseJsonBody(nested(MAX_JSON_DEPTH))).toThrow(BadRequestError);
    expect(() => parseJsonBody(nested(100_000))).toThrow(BadRequestError);
  });

  it('removes U+0000 and replaces unpaired surrogates, which Postgres jsonb refuses', () => {
    const parsed = parseJsonBody(Buffer.from('{"note":"a\\u0000b","name":"x\\ud800y","list":["\\udc00"]}'));

    expect(parsed).toEqual({ note: 'ab', name: 'x\ufffdy', list: ['\ufffd'] });
  });

  it('keeps valid strings, emoji included, exactly', () => {
    const text = '{"note":"Grüße 🎉 \\"quoted\\"","id":820982911946154508}';

    expect(parseJsonBody(Buffer.from(text))).toEqual({ note: 'Grüße 🎉 "quoted"', id: '820982911946154508' });
  });
});

describe('canonicalJson and contentId', () => {
  it('writes one text for a value whatever its key order, dropping undefined members', () => {
    const a = parseJsonExact('{ "b": [1, {"y": "é", "x": null}], "a": "\\uFFFF" }');
    const b = { a: '\uFFFF', b: [1, { x: null, y: 'é' }], c: undefined };

    expect(canonicalJson(a)).toBe('{"a":"\uFFFF","b":[1,{"x":null,"y":"é"}]}');
    expect(canonicalJson(b)).toBe(canonicalJson(a));
    expect(contentId(b)).toBe(contentId(a));
  });

  it('gives values that differ anywhere, array order included, different ids', () => {
    const ids = [{ a: [1, 2] }, { a: [2, 1] }, { a: [1, 2], b: 0 }, { a: ['1', 2] }, [{ a: [1, 2] }]].map(
      contentId,
    );

    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^sha256-[0-9a-f]{64}$/);
  });
});
