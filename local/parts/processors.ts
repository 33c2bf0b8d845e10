import { SQSClient } from '@aws-sdk/client-sqs';
import { interceptLocalhostDns } from 'fauxqs';
import { PROCESSOR_DEFAULTS } from '../../lib/processor-defaults';
import { useWireProtocol } from '../../shared/db/client';
import { wireDb } from '../../shared/db/wire';
import type { Priority } from '../../shared/envelope';
import { PRIORITIES } from '../../shared/envelope';
import { withChaos, withCrashes, withKills } from '../chaos';
import type { PartHost, StartedPart } from '../hosted-part';
import type { LocalQueue } from '../resources';
import { startSqsPoller } from '../sqs-poller';

export interface ProcessorsConfig {
  region: string;
  sqsEndpoint: string;
  queues: Record<Priority, LocalQueue>;
  /** The Lambda timeout the handlers see, and after which an invocation is abandoned. */
  timeoutMs: number;
  /** CHAOS_FAILURE_RATE, CHAOS_KILL_RATE, CHAOS_CRASH_RATE (local/chaos.ts); 0 for none. */
  chaos: { failureRate: number; killRate: number; crashRate: number };
  /** Every queue's batch size instead of the stack's defaults (the bench compares batch sizes). */
  batchSize?: number;
}

/**
 * The processors: one SQS event source per queue (local/sqs-poller.ts) invoking the handler that
 * the Lambda entry point builds (functions/process.ts), with the queue's own DLQ, in this process
 * as each Lambda function runs in its own environment. The handlers read the environment the
 * stack set before starting this process. Emits `log` lines and the dedup key of each record that
 * killed its processor (`killed`).
 */
export async function start(config: ProcessorsConfig, host: PartHost): Promise<StartedPart<null>> {
  const restoreDns = interceptLocalhostDns();
  useWireProtocol(wireDb);
  const processing = await import('../../functions/process');
  const processDeps = processing.processDepsFromEnv();
  const { failureRate, killRate, crashRate } = config.chaos;
  const withFailures =
    failureRate !== 0 ? withChaos(processDeps.eventLog, failureRate) : processDeps.eventLog;
  const eventLog =
    killRate !== 0
      ? withKills(withFailures, killRate, (envelope) => host.emit('killed', envelope.dedupKey))
      : withFailures;
  const sqs = new SQSClient({ region: config.region, endpoint: config.sqsEndpoint });
  const pollers = PRIORITIES.map((priority) =>
    startSqsPoller({
      sqs,
      queueUrl: config.queues[priority].url,
      queueArn: config.queues[priority].arn,
      region: config.region,
      handler: withCrashes(
        processing.makeProcessHandler({ ...processDeps, eventLog, dlqUrl: config.queues[priority].dlqUrl }),
        crashRate,
      ),
      // As the stack's event sources by default: the same batches, the same parallelism.
      batchSize: config.batchSize ?? PROCESSOR_DEFAULTS[priority].batchSize,
      concurrency: PROCESSOR_DEFAULTS[priority].maxConcurrency,
      timeoutMs: config.timeoutMs,
      onError: (error) => host.emit('log', `processor (${priority}) error: ${(error as Error).message}`),
    }),
  );
  return {
    ready: null,
    stop: async () => {
      await Promise.all(pollers.map((poller) => poller.stop()));
      sqs.destroy();
      restoreDns();
    },
  };
}
