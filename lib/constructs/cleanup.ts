import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import { Construct } from 'constructs';
import { bindDatabase, type DatabaseAccess } from './database';
import { type FunctionDefaults, HouseFunction } from './house-function';

export interface CleanupProps {
  readonly database: DatabaseAccess;
  /** Config `alertRetentionDays` / `metricsRetentionDays`. */
  readonly alertRetentionDays: number;
  readonly metricsRetentionDays: number;
  readonly functionDefaults: FunctionDefaults;
}

/** How often the cleanup job runs (the local stack: CLEANUP_INTERVAL_SECONDS). */
export const CLEANUP_SCHEDULE = events.Schedule.rate(Duration.hours(1));

/**
 * The cleanup job (functions/cleanup.ts): an hourly schedule deletes `webhook_alerts` and
 * `webhook_metrics` rows past their retention through the Data API. A failed run is not retried:
 * the next one deletes what it left.
 */
export class Cleanup extends Construct {
  public readonly function: HouseFunction;
  public readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: CleanupProps) {
    super(scope, id);
    this.function = new HouseFunction(this, 'Function', {
      entry: 'cleanup.ts',
      serviceName: 'cleanup',
      defaults: props.functionDefaults,
      description: 'Deletes webhook_alerts and webhook_metrics rows past their retention',
      timeout: Duration.minutes(5),
      retryAttempts: 0,
      environment: {
        ALERT_RETENTION_DAYS: String(props.alertRetentionDays),
        METRICS_RETENTION_DAYS: String(props.metricsRetentionDays),
      },
    });
    bindDatabase(this.function, props.database);
    this.rule = new events.Rule(this, 'Schedule', {
      description: 'Runs the cleanup of expired alerts and metrics rows',
      schedule: CLEANUP_SCHEDULE,
      targets: [new targets.LambdaFunction(this.function, { retryAttempts: 0 })],
    });
  }
}
