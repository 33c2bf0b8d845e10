import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import { Construct } from 'constructs';
import { PRIORITIES, type Priority } from '../config';
import { type FunctionDefaults, HouseFunction, type TableRef } from './house-function';
import type { PriorityQueue } from './queues';
import type { Realtime } from './realtime';

export interface DeadLetterSweepProps {
  readonly queues: Record<Priority, PriorityQueue>;
  readonly eventLog: TableRef;
  readonly eventLogRetentionDays: number;
  /** Per-minute counters: the sweep counts the deliveries it marks dead (UpdateItem only). */
  readonly metrics: TableRef;
  readonly connections: TableRef;
  readonly realtime: Realtime;
  readonly functionDefaults: FunctionDefaults;
}

/** How often the DLQs are swept (the local stack: DLQ_SWEEP_INTERVAL_SECONDS). */
export const DEAD_LETTER_SWEEP_SCHEDULE = events.Schedule.rate(Duration.minutes(1));

/** The sweep's timeout; a message it reads stays invisible a little longer, should it die. */
const SWEEP_TIMEOUT = Duration.minutes(2);

/**
 * The DLQ sweep (functions/dead-letter-sweep.ts): every minute, each priority's DLQ is read, the
 * event log marks every dead letter's delivery dead (those SQS moved on its own, or whose `dead`
 * the log could not take when the processor dead-lettered them), and the messages are released
 * for a redrive. One run at a time; a failed run is not retried, the next one does its work.
 */
export class DeadLetterSweep extends Construct {
  public readonly function: HouseFunction;
  public readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: DeadLetterSweepProps) {
    super(scope, id);
    this.function = new HouseFunction(this, 'Function', {
      entry: 'dead-letter-sweep.ts',
      serviceName: 'dead-letter-sweep',
      defaults: props.functionDefaults,
      description: 'Marks the deliveries in the DLQs dead in the event log, leaving them for a redrive',
      timeout: SWEEP_TIMEOUT,
      retryAttempts: 0,
      reservedConcurrentExecutions: 1,
      environment: {
        EVENT_LOG_RETENTION_DAYS: String(props.eventLogRetentionDays),
        WEBSOCKET_ENDPOINT: props.realtime.callbackUrl,
        DLQ_SWEEP_HOLD_SECONDS: String(SWEEP_TIMEOUT.toSeconds() + 60),
      },
    })
      .bindTable('EVENT_LOG_TABLE', props.eventLog, 'update')
      .bindTable('METRICS_TABLE', props.metrics, 'update')
      .bindTable('CONNECTIONS_TABLE', props.connections, 'readDelete');
    props.realtime.grantPostToConnections(this.function);
    for (const priority of PRIORITIES) {
      const { dlq } = props.queues[priority];
      const suffix = priority.toUpperCase();
      this.function
        .addEnvironment(`DLQ_URL_${suffix}`, dlq.queueUrl)
        .addEnvironment(`DLQ_ARN_${suffix}`, dlq.queueArn);
      dlq.grant(
        this.function,
        'sqs:ReceiveMessage',
        'sqs:ChangeMessageVisibility',
        'sqs:GetQueueAttributes',
        'sqs:ListMessageMoveTasks',
      );
    }
    this.rule = new events.Rule(this, 'Schedule', {
      description: 'Sweeps the DLQs into the event log',
      schedule: DEAD_LETTER_SWEEP_SCHEDULE,
      targets: [new targets.LambdaFunction(this.function, { retryAttempts: 0 })],
    });
  }
}
