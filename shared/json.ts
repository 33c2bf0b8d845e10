import { isSafeNumber, parse } from 'lossless-json';

/**
 * Parses JSON without losing digits: Shopify ids (e.g. 820982911946154508) exceed 2^53, so any
 * number a JS double cannot hold exactly is kept as its decimal string. Everything else is a plain
 * JSON value, so the result can be re-serialized and validated like the output of JSON.parse.
 */
export function parseJsonExact(text: string): unknown {
  // Fast path: no run of 16 digits (dots allowed between them), so every number literal has at
  // most 15 significant digits and the native parser reads it exactly.
  if (!/(?:\d\.?){16}/.test(text)) return JSON.parse(text);
  return parse(text, null, (digits) => (isSafeNumber(digits) ? Number(digits) : digits));
}

export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
