/**
 * What the server sends to dashboards. What clients send, and its schema, is in
 * client-messages.ts: the functions that only push do not carry zod.
 */
export const PUSH_TYPES = ['webhook-event', 'webhook-alert', 'webhook-metrics-update'] as const;
export type PushType = (typeof PUSH_TYPES)[number];

/** Every message the server sends: `{type, data, timestamp}`. */
export interface ServerMessage<T extends string = string> {
  type: T;
  data: unknown;
  timestamp: string;
}

export function serverMessage<T extends string>(
  type: T,
  data: unknown,
  now: Date = new Date(),
): ServerMessage<T> {
  return { type, data, timestamp: now.toISOString() };
}
