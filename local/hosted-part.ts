/**
 * What a part of the local stack that runs in a process of its own (local/hosted.ts) exports: a
 * `start` that brings it up from a plain-data config and answers with plain data (endpoints,
 * ports), the operations the stack may ask of it later (an outage, say), and a `stop`.
 */
export interface HostedPart<Config, Ready> {
  start(config: Config, host: PartHost): Promise<StartedPart<Ready>>;
}

export interface StartedPart<Ready> {
  ready: Ready;
  /** Operations the stack calls by name, with a plain-data argument and answer. */
  operations?: Record<string, (argument: never) => Promise<unknown>>;
  stop(): Promise<void>;
}

/** What the hosting process gives a part: a way to tell the stack something as it happens. */
export interface PartHost {
  emit(event: string, data: unknown): void;
}

/** Parent -> child: an operation by name. */
export interface HostRequest {
  id: number;
  operation: string;
  argument?: unknown;
}

/** Child -> parent: an operation's answer, or an event the part emitted. */
export type HostMessage =
  | { id: number; result: unknown }
  | { id: number; error: string }
  | { event: string; data: unknown };

/** The event a hosting process emits once it listens for requests (earlier ones would be lost). */
export const LISTENING = 'listening';
