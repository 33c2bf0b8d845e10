import { Aws, Duration, Stack } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as rds from 'aws-cdk-lib/aws-rds';
import type * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import type { ProviderName } from '../../shared/envelope';
import { PRIORITIES, type Priority } from '../config';
import { globalName } from '../names';
import { type HouseFunction, METRICS_NAMESPACE } from './house-function';
import { functionAlarmName, wafMetric } from './ops-alarms';
import type { PriorityQueue } from './queues';

export interface SystemDashboardProps {
  readonly providers: readonly ProviderName[];
  readonly restStage: apigw.Stage;
  readonly webSocketApi: apigwv2.WebSocketApi;
  readonly webSocketStageName: string;
  readonly webAcl: wafv2.CfnWebACL;
  readonly queues: Record<Priority, PriorityQueue>;
  /** Every function of the stack. */
  readonly functions: readonly HouseFunction[];
  readonly cluster: rds.DatabaseCluster;
  /** Shown in an alarm status widget at the top. */
  readonly alarms: readonly cloudwatch.IAlarm[];
}

const WIDTH = 24;
const PERIOD = Duration.minutes(1);

/**
 * One CloudWatch dashboard of the whole system, top to bottom as a delivery flows: alarms, ingest
 * (REST API and WAF), processing (EMF metrics per provider), queues and DLQs, Lambda, the
 * WebSocket API, and the database. Built on aws-cloudwatch directly (see the README for why not
 * cdk-monitoring-constructs).
 */
export class SystemDashboard extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;
  public readonly dashboardName: string;
  /** The dashboard in the CloudWatch console. */
  public readonly url: string;

  constructor(scope: Construct, id: string, props: SystemDashboardProps) {
    super(scope, id);
    // Dashboards are account-wide: the region keeps two regions' copies of a stage apart.
    this.dashboardName = globalName(this, 'overview', 255);
    this.url = `https://console.aws.amazon.com/cloudwatch/home?region=${Aws.REGION}#dashboards:name=${this.dashboardName}`;
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: this.dashboardName,
      defaultInterval: Duration.hours(3),
    });

    const graph = (
      title: string,
      left: cloudwatch.IMetric[],
      options: Partial<cloudwatch.GraphWidgetProps> = {},
    ) => new cloudwatch.GraphWidget({ title, left, width: 8, height: 6, period: PERIOD, ...options });
    const perProvider = (metricName: string, statistic: string) =>
      props.providers.map(
        (provider) =>
          new cloudwatch.Metric({
            namespace: METRICS_NAMESPACE,
            metricName,
            dimensionsMap: { provider },
            statistic,
            period: PERIOD,
            label: `${provider} ${metricName}`,
          }),
      );
    const each = <T>(items: readonly T[], metric: (item: T) => cloudwatch.IMetric) => items.map(metric);
    const named = (metric: cloudwatch.Metric, label: string) => metric.with({ label });
    const { restStage: rest, queues, functions, cluster } = props;
    const mainQueues = PRIORITIES.map((p) => [p, queues[p].queue] as const);
    const dlqs = PRIORITIES.map((p) => [p, queues[p].dlq] as const);

    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown: `# ${Stack.of(this).stackName}\nProvider webhooks -> REST API + WAF -> ingest -> SQS FIFO (high/medium/low) -> processors -> DynamoDB, Aurora, EventBridge, WebSocket.`,
        width: WIDTH,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({
        title: 'Alarms',
        alarms: [...props.alarms],
        width: WIDTH,
        height: 6,
        sortBy: cloudwatch.AlarmStatusWidgetSortBy.STATE_UPDATED_TIMESTAMP,
      }),
    );
    this.dashboard.addWidgets(
      graph('Webhook API requests', [
        named(rest.metricCount({ statistic: 'Sum', period: PERIOD }), 'requests'),
        named(rest.metricClientError({ statistic: 'Sum', period: PERIOD }), '4xx'),
        named(rest.metricServerError({ statistic: 'Sum', period: PERIOD }), '5xx'),
      ]),
      graph('Webhook API latency (ms)', [
        named(rest.metricLatency({ statistic: 'p50', period: PERIOD }), 'p50'),
        named(rest.metricLatency({ statistic: 'p99', period: PERIOD }), 'p99'),
        named(rest.metricIntegrationLatency({ statistic: 'p99', period: PERIOD }), 'integration p99'),
      ]),
      graph(
        'WAF requests',
        ['AllowedRequests', 'BlockedRequests', 'CountedRequests'].map((name) =>
          wafMetric(props.webAcl, name, { period: PERIOD, label: name }),
        ),
      ),
    );
    this.dashboard.addWidgets(
      graph('Events processed', perProvider('EventsProcessed', 'Sum'), { stacked: true }),
      graph('Events dead / failed attempts', [
        ...perProvider('EventsDead', 'Sum'),
        ...perProvider('EventsFailed', 'Sum'),
      ]),
      graph('Duplicates', perProvider('EventsDuplicate', 'Sum')),
    );
    this.dashboard.addWidgets(
      graph('Processing time (ms, average)', perProvider('ProcessingTime', 'Average')),
      graph('Processing time (ms, p99)', perProvider('ProcessingTime', 'p99')),
      graph('End-to-end latency (ms, p99)', perProvider('EndToEndLatency', 'p99')),
    );
    this.dashboard.addWidgets(
      graph(
        'Queue depth',
        mainQueues.map(([p, q]) =>
          named(q.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: PERIOD }), p),
        ),
      ),
      graph(
        'Oldest message (s)',
        mainQueues.map(([p, q]) =>
          named(q.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum', period: PERIOD }), p),
        ),
      ),
      graph(
        'Dead-letter queues',
        dlqs.map(([p, q]) =>
          named(
            q.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: PERIOD }),
            `${p} DLQ`,
          ),
        ),
      ),
    );
    const byFunction = (metric: (fn: HouseFunction) => cloudwatch.Metric) =>
      each(functions, (fn) => named(metric(fn), functionAlarmName(fn)));
    this.dashboard.addWidgets(
      graph(
        'Lambda invocations',
        byFunction((fn) => fn.metricInvocations({ statistic: 'Sum', period: PERIOD })),
      ),
      graph(
        'Lambda errors',
        byFunction((fn) => fn.metricErrors({ statistic: 'Sum', period: PERIOD })),
      ),
      graph(
        'Lambda throttles',
        byFunction((fn) => fn.metricThrottles({ statistic: 'Sum', period: PERIOD })),
      ),
    );
    this.dashboard.addWidgets(
      graph(
        'Lambda duration (ms, p99)',
        byFunction((fn) => fn.metricDuration({ statistic: 'p99', period: PERIOD })),
      ),
      graph(
        'Lambda concurrency',
        byFunction((fn) => fn.metric('ConcurrentExecutions', { statistic: 'Maximum', period: PERIOD })),
      ),
      graph(
        'WebSocket API',
        ['ConnectCount', 'MessageCount', 'ClientError', 'ExecutionError'].map(
          (metricName) =>
            new cloudwatch.Metric({
              namespace: 'AWS/ApiGateway',
              metricName,
              dimensionsMap: { ApiId: props.webSocketApi.apiId, Stage: props.webSocketStageName },
              statistic: 'Sum',
              period: PERIOD,
              label: metricName,
            }),
        ),
      ),
    );
    this.dashboard.addWidgets(
      graph('Aurora capacity (ACU)', [
        named(cluster.metric('ServerlessDatabaseCapacity', { statistic: 'Maximum', period: PERIOD }), 'ACU'),
      ]),
      graph('Aurora utilization (%)', [
        named(cluster.metric('ACUUtilization', { statistic: 'Maximum', period: PERIOD }), 'ACU utilization'),
        named(cluster.metricCPUUtilization({ statistic: 'Maximum', period: PERIOD }), 'CPU'),
      ]),
      graph('Aurora connections', [
        named(cluster.metricDatabaseConnections({ statistic: 'Maximum', period: PERIOD }), 'connections'),
      ]),
    );
  }
}
