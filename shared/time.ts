/**
 * A provider time (ISO string, RFC 2822 string or epoch milliseconds) as an ISO 8601 UTC string,
 * or undefined when it is not a time the envelope can carry (unparseable, or outside years 0-9999).
 */
export function toIsoTime(value: unknown): string | undefined {
  const time = typeof value === 'number' ? value : typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(time) || Math.abs(time) > 8.64e15) return undefined;
  const iso = new Date(time).toISOString();
  return /^\d{4}-/.test(iso) ? iso : undefined;
}
