import * as z from 'zod';
import { PROVIDER_NAMES } from '../envelope-values';
import { PUSH_TYPES } from './messages';

/** A list of distinct values (repeats are dropped), at least one, at most `max`. */
function distinct<T extends z.ZodType<string>>(item: T, max: number) {
  return z
    .array(item)
    .min(1)
    .max(max)
    .transform((values) => [...new Set(values)]);
}

const subscription = {
  events: distinct(z.enum(PUSH_TYPES), 10),
  providers: distinct(z.enum(PROVIDER_NAMES), 10).optional(),
};

/**
 * What clients send: the seed's `subscribe` (with optional `providers` and `configIds` filters, and
 * `batch`: the connection takes the pushes of one batch as one `batch` message, see messages.ts),
 * `unsubscribe` (optionally from some providers only) and `ping`. Unknown keys are ignored.
 */
export const clientMessageSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('subscribe'),
    data: z.object({
      ...subscription,
      configIds: distinct(z.string().min(1).max(128), 100).optional(),
      batch: z.boolean().optional(),
    }),
  }),
  z.object({ type: z.literal('unsubscribe'), data: z.object(subscription) }),
  z.object({ type: z.literal('ping') }),
]);

export type ClientMessage = z.infer<typeof clientMessageSchema>;
export type SubscribeMessage = Extract<ClientMessage, { type: 'subscribe' }>;
export type UnsubscribeMessage = Extract<ClientMessage, { type: 'unsubscribe' }>;
