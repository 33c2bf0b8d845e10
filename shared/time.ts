/** ISO 8601 (`2025-11-29T10:00:00Z`) or RFC 2822 (`Sat, 29 Nov 2025 10:00:00 +0000`) forms only. */
const DATE_TEXT = /^(?:\d{4}-\d{2}-\d{2}|(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} [A-Z][a-z]{2} \d{4} )/;

/**
 * A provider time (ISO 8601 or RFC 2822 text, or epoch milliseconds) as an ISO 8601 UTC string, or
 * undefined when it is not a time the envelope can carry: other text (V8 would guess at "0" or
 * "Jan 1 20000"), or a year outside 0-9999.
 */
export function toIsoTime(value: unknown): string | undefined {
  const time =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && DATE_TEXT.test(value)
        ? Date.parse(value)
        : Number.NaN;
  if (!Number.isFinite(time) || Math.abs(time) > 8.64e15) return undefined;
  const iso = new Date(time).toISOString();
  return /^\d{4}-/.test(iso) ? iso : undefined;
}
