import { isSafeNumber, parse } from 'lossless-json';
import { sha256Hex } from './crypto';
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

/** Real webhook payloads nest a few levels; anything deeper is hostile or broken. */
export const MAX_JSON_DEPTH = 64;

export function parseJsonBody(bytes: Uint8Array): unknown {
  const text = decodeUtf8(bytes);
  let value: unknown;
  try {
    value = parseJsonExact(text);
  } catch {
    throw new BadRequestError('Body must be valid JSON');
  }
  return storable(value);
}

/**
 * Checks the nesting depth (serializing deeper documents would overflow the stack) and makes every
 * string storable: Postgres jsonb refuses U+0000 and unpaired surrogates, which JSON allows, so a
 * delivery carrying one could otherwise be accepted and then fail forever. They are removed or
 * replaced (U+FFFD) in place; everything else is kept exactly.
 */
function storable(root: unknown): unknown {
  const stack: { value: unknown; depth: number }[] = [{ value: root, depth: 1 }];
  let clean = root;
  while (stack.length > 0) {
    const { value, depth } = stack.pop() as { value: unknown; depth: number };
    if (typeof value !== 'object' || value === null) continue;
    if (depth > MAX_JSON_DEPTH) throw new BadRequestError(`Body nests deeper than ${MAX_JSON_DEPTH} levels`);
    const container = value as Record<string, unknown>;
    for (const key of Object.keys(container)) {
      const child = container[key];
      if (typeof child === 'string') {
        if (!isStorable(child)) container[key] = toStorable(child);
      } else if (typeof child === 'object' && child !== null) {
        stack.push({ value: child, depth: depth + 1 });
      }
    }
  }
  if (typeof root === 'string' && !isStorable(root)) clean = toStorable(root);
  return clean;
}

function isStorable(text: string): boolean {
  return !text.includes('\u0000') && text.isWellFormed();
}

function toStorable(text: string): string {
  return text.replaceAll('\u0000', '').toWellFormed();
}

/** A body holding one event or an array of 1..max events. */
export function parseJsonItems(bytes: Uint8Array, max: number): unknown[] {
  const body = parseJsonBody(bytes);
  const items = Array.isArray(body) ? body : [body];
  if (items.length === 0) throw new BadRequestError('Body must hold at least one event');
  if (items.length > max) throw new BadRequestError(`At most ${max} events per request`);
  return items;
}

/**
 * JSON with every object's keys sorted: one text per value, however its source was formatted or
 * ordered. Strings and numbers are written as JSON.stringify writes them.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isJsonObject(value)) {
    const members = Object.keys(value)
      .filter((key) => value[key] !== undefined)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * An id for an event that comes without one: `sha256-` and the hash of its canonical JSON. A
 * provider's retry of the event gets the same id; any two events that differ get two.
 */
export function contentId(event: unknown): string {
  return `sha256-${sha256Hex(canonicalJson(event))}`;
}
