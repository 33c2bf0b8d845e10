import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import type { ProviderName } from '../../shared/envelope';
import { CONNECTIONS_BY_ROLE_INDEX, CONNECTIONS_BY_USER_INDEX } from '../../shared/stores/connections';
import { CONFIGS_BY_OWNER_INDEX } from '../../shared/stores/webhook-configs';
import { bindDatabase, type DatabaseAccess } from './database';
import { type FunctionDefaults, HouseFunction, type TableRef } from './house-function';
import type { Realtime } from './realtime';

export interface MetricsPushProps {
  /** Subscribers of the push: Scan of the table, Query of its user and role indexes, DeleteItem of gone ones. */
  readonly connections: TableRef;
  /** The users' configs: Query of the owner index alone (no secret there; the table's key decrypts the items). */
  readonly configs: TableRef;
  /** The per-minute counters: Query alone. */
  readonly metrics: TableRef;
  /** The WebSocket API pushed to (POST @connections on its stage). */
  readonly realtime: Realtime;
  /** The deployment's providers: operators get their provider-wide and all-owners figures. */
  readonly providers: readonly ProviderName[];
  /** webhook_metrics, the minute history the same job writes (Data API). */
  readonly database: DatabaseAccess;
  readonly functionDefaults: FunctionDefaults;
}

/** How often dashboards get `webhook-metrics-update` (the local stack: METRICS_PUSH_INTERVAL_SECONDS). */
export const METRICS_PUSH_SCHEDULE = events.Schedule.rate(Duration.minutes(1));

/**
 * The minute metrics push (functions/realtime/metrics-push.ts): an EventBridge schedule runs it
 * every minute; it reads who is subscribed, their configs and the owners' counters, and posts each
 * user their per-provider figures (operators also the provider-wide and all-owners ones). A run is
 * never retried: the next minute's supersedes it.
 */
export class MetricsPush extends Construct {
  public readonly function: HouseFunction;
  public readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: MetricsPushProps) {
    super(scope, id);
    const { connections, configs, metrics } = props;
    const indexOf = (ref: TableRef, name: string) => {
      if (!ref.indexNames?.includes(name)) throw new Error(`${ref.table.node.path} has no ${name} index`);
      return `${ref.table.tableArn}/index/${name}`;
    };

    this.function = new HouseFunction(this, 'Function', {
      entry: 'realtime/metrics-push.ts',
      serviceName: 'metrics-push',
      defaults: props.functionDefaults,
      description:
        'Pushes webhook-metrics-update to dashboards and writes the minute history (webhook_metrics)',
      // Well within the minute, so runs never overlap.
      timeout: Duration.seconds(50),
      retryAttempts: 0,
      maxEventAge: Duration.minutes(1),
      environment: { WEBSOCKET_ENDPOINT: props.realtime.callbackUrl, PROVIDERS: props.providers.join(',') },
    });
    const fn = this.function;

    fn.addEnvironment('CONNECTIONS_TABLE', connections.table.tableName);
    grant(fn, ['dynamodb:Scan', 'dynamodb:DeleteItem'], [connections.table.tableArn]);
    grant(
      fn,
      ['dynamodb:Query'],
      [indexOf(connections, CONNECTIONS_BY_USER_INDEX), indexOf(connections, CONNECTIONS_BY_ROLE_INDEX)],
    );
    fn.addEnvironment('CONFIGS_TABLE', configs.table.tableName);
    grant(fn, ['dynamodb:Query'], [indexOf(configs, CONFIGS_BY_OWNER_INDEX)]);
    // The history covers every config: a scan (projected, no secrets) of the table itself.
    grant(fn, ['dynamodb:Scan'], [configs.table.tableArn]);
    fn.addEnvironment('METRICS_TABLE', metrics.table.tableName);
    grant(fn, ['dynamodb:Query'], [metrics.table.tableArn]);
    for (const { table } of [connections, configs, metrics]) {
      if (table.encryptionKey) grant(fn, ['kms:Decrypt', 'kms:DescribeKey'], [table.encryptionKey.keyArn]);
    }
    props.realtime.grantPostToConnections(fn);
    bindDatabase(fn, props.database);

    this.rule = new events.Rule(this, 'Schedule', {
      description: 'Runs the minute metrics push (webhook-metrics-update) and history (webhook_metrics)',
      schedule: METRICS_PUSH_SCHEDULE,
      targets: [new targets.LambdaFunction(fn, { retryAttempts: 0, maxEventAge: Duration.minutes(1) })],
    });
  }
}

function grant(fn: HouseFunction, actions: string[], resourceArns: string[]): void {
  iam.Grant.addToPrincipal({ grantee: fn, actions, resourceArns });
}
