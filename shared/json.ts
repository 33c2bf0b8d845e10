import { isSafeNumber, parse } from 'lossless-json';
import { BadRequestError } from './errors';

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

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A request body as text; invalid UTF-8 is the sender's mistake (400), never silently replaced. */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new BadRequestError('Body must be valid UTF-8');
  }
}

export function parseJsonBody(bytes: Uint8Array): unknown {
  const text = decodeUtf8(bytes);
  try {
    return parseJsonExact(text);
  } catch {
    throw new BadRequestError('Body must be valid JSON');
  }
}

/** A body holding one event or an array of 1..max events. */
export function parseJsonItems(bytes: Uint8Array, max: number): unknown[] {
  const body = parseJsonBody(bytes);
  const items = Array.isArray(body) ? body : [body];
  if (items.length === 0) throw new BadRequestError('Body must hold at least one event');
  if (items.length > max) throw new BadRequestError(`At most ${max} events per request`);
  return items;
}
