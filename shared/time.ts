/** ISO 8601 (`2025-11-29T10:00:00Z`) or RFC 2822 (`Sat, 29 Nov 2025 10:00:00 +0000`) forms only. */
const DATE_TEXT = /^(?:\d{4}-\d{2}-\d{2}|(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} [A-Z][a-z]{2} \d{4} )/;

/** 1970-01-01 to 9999-12-31: no business event is older, and Postgres and ISO 8601 both hold these. */
const EARLIEST = 0;
const LATEST = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * A provider time (ISO 8601 or RFC 2822 text, or epoch milliseconds) as an ISO 8601 UTC string, or
 * undefined when it is not a time the envelope can carry: other text (V8 would guess at "0" or
 * "Jan 1 20000"), or a time outside 1970-9999.
 */
export function toIsoTime(value: unknown): string | undefined {
  const time =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && DATE_TEXT.test(value)
        ? Date.parse(value)
        : Number.NaN;
  if (!Number.isFinite(time) || time < EARLIEST || time > LATEST) return undefined;
  return new Date(time).toISOString();
}
