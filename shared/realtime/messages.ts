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

/**
 * The message a connection that subscribed with `batch: true` gets for the pushes sent to it
 * together (those of one processor batch): `{type: 'batch', data: [push, ...], timestamp}`, the pushes
 * in their order. One post instead of one per push; a lone push is sent as itself.
 */
export const BATCH_MESSAGE_TYPE = 'batch';

/**
 * API Gateway accepts WebSocket messages of up to 128 KiB: pushes are packed into batch messages of at
 * most this many bytes (a push larger than that alone is sent as itself).
 */
export const MAX_BATCH_MESSAGE_BYTES = 96 * 1024;

/** A push serialized once, and its bytes, whichever connections it goes to. */
export interface EncodedPush {
  text: string;
  data: Uint8Array;
}

/** A WebSocket message to post, and how many pushes it carries. */
export interface Frame extends EncodedPush {
  pushes: number;
}

/** A push, serialized and encoded once. */
export function encodePush(message: ServerMessage): EncodedPush {
  const text = JSON.stringify(message);
  return { text, data: Buffer.from(text) };
}

/**
 * The frames that carry already encoded pushes to a batched connection: runs of pushes packed into
 * `batch` messages within `maxBytes`, a run of one sent as the push itself (its bytes reused).
 */
export function batchFrames(
  pushes: readonly EncodedPush[],
  now: Date = new Date(),
  maxBytes = MAX_BATCH_MESSAGE_BYTES,
): Frame[] {
  const head = `{"type":"${BATCH_MESSAGE_TYPE}","data":[`;
  const tail = `],"timestamp":"${now.toISOString()}"}`;
  const overhead = head.length + tail.length;
  const frames: Frame[] = [];
  let run: EncodedPush[] = [];
  let bytes = overhead;
  const close = () => {
    const [first] = run;
    if (run.length === 1 && first) frames.push({ ...first, pushes: 1 });
    else if (run.length > 1) {
      const text = `${head}${run.map((push) => push.text).join(',')}${tail}`;
      frames.push({ text, data: Buffer.from(text), pushes: run.length });
    }
    run = [];
    bytes = overhead;
  };
  for (const push of pushes) {
    const size = push.data.byteLength + 1;
    if (run.length > 0 && bytes + size > maxBytes) close();
    run.push(push);
    bytes += size;
  }
  close();
  return frames;
}
