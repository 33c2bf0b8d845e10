import { SQSClient } from '@aws-sdk/client-sqs';

export interface EnqueueSpy {
  /** Messages handed to SQS (SendMessage, or each entry of SendMessageBatch) since the spy was installed. */
  readonly count: number;
  restore(): void;
}

type Send = (this: SQSClient, command: unknown, ...rest: unknown[]) => Promise<unknown>;

/**
 * Counts every message any SQSClient in this process tries to enqueue. The local stack runs the
 * production ingest handler in the test's own process, with its own module-level SQSClient; it is
 * not reachable from the test, but its `send` is looked up on the shared prototype at call time, so
 * wrapping that prototype method observes every publish without touching source. Pollers only
 * Receive/Delete and are not counted. Install before the stack starts; restore in afterAll.
 */
export function spyOnEnqueues(): EnqueueSpy {
  const prototype = SQSClient.prototype as unknown as { send: Send };
  const hadOwn = Object.hasOwn(prototype, 'send');
  const original = prototype.send;
  let count = 0;
  prototype.send = function (this: SQSClient, command: unknown, ...rest: unknown[]) {
    const name = (command as { constructor?: { name?: string } })?.constructor?.name;
    const input = (command as { input?: { Entries?: unknown[] } })?.input;
    if (name === 'SendMessageBatchCommand') count += input?.Entries?.length ?? 0;
    else if (name === 'SendMessageCommand') count += 1;
    return original.call(this, command, ...rest);
  };
  return {
    get count() {
      return count;
    },
    restore() {
      if (hadOwn) prototype.send = original;
      else delete (prototype as Partial<typeof prototype>).send;
    },
  };
}
