import { z } from 'zod';

export const PUSH_TYPES = ['webhook-event', 'webhook-alert', 'webhook-metrics-update'] as const;
export type PushType = (typeof PUSH_TYPES)[number];

/** What clients send, exactly as in the seed's example. */
export const clientMessageSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('subscribe'),
    data: z.object({ events: z.array(z.enum(PUSH_TYPES)).min(1).max(10) }),
  }),
  z.object({ type: z.literal('ping') }),
]);

export type ClientMessage = z.infer<typeof clientMessageSchema>;

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
