import { Duration, Fn, Stack } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import type { ProviderName } from '../../shared/envelope';
import { type AlertingConfig, PRIORITIES, type Priority } from '../config';
import { type HouseFunction, METRICS_NAMESPACE } from './house-function';
import type { PriorityQueue } from './queues';

export interface OpsAlarmsProps {
  /** `${stackName}-`: the alarms are recorded like rule alarms (alarm state change -> recorder). */
  readonly alarmPrefix: string;
  /** Where every alarm goes (default, email and SMS topics). */
  readonly topics: readonly sns.ITopic[];
  readonly config: Pick<
    AlertingConfig,
    'providerSilentMinutes' | 'queueAgeAlarmSeconds' | 'api5xxRatePercent' | 'wafBlockedRequestsPer5Minutes'
  >;
  readonly queues: Record<Priority, PriorityQueue>;
  /** Every function of the stack: each gets an errors and a throttles alarm. */
  readonly functions: readonly HouseFunction[];
  /** The webhook REST API stage. */
  readonly restStage: apigw.Stage;
  readonly webAcl: wafv2.CfnWebACL;
  /** Providers watched for silence. */
  readonly providers: readonly ProviderName[];
}

/** The name of a web ACL: its own, or the one CloudFormation gave it (its Ref is `name|id|scope`). */
export function webAclNameOf(webAcl: wafv2.CfnWebACL): string {
  return webAcl.name ?? Fn.select(0, Fn.split('|', webAcl.ref));
}

/** A short, stable name of a function for alarm names: its construct path below the stack. */
export function functionAlarmName(fn: HouseFunction): string {
  const stack = Stack.of(fn);
  return fn.node.path.slice(stack.node.path.length + 1).replaceAll('/', '-');
}

/** The WAF metric of one web ACL (all rules) in the stack's region. */
export function wafMetric(
  webAcl: wafv2.CfnWebACL,
  metricName: string,
  options: cloudwatch.MetricOptions = {},
) {
  return new cloudwatch.Metric({
    namespace: 'AWS/WAFV2',
    metricName,
    dimensionsMap: { WebACL: webAclNameOf(webAcl), Rule: 'ALL', Region: Stack.of(webAcl).region },
    statistic: 'Sum',
    period: Duration.minutes(5),
    ...options,
  });
}

/**
 * The built-in ops alarms (issue 7, item 5), each named `${prefix}ops-...` so that the recorder
 * records it like a rule alarm, and each sending to every alarm topic:
 * - `dlq-<priority>`: a dead-letter queue holds a message;
 * - `queue-age-<priority>`: a main queue's oldest message is older than `queueAgeAlarmSeconds`;
 * - `errors-<function>` / `throttles-<function>`: any error or throttle of any function in 5 min;
 * - `api-5xx`: more than `api5xxRatePercent` % of the webhook API's requests answered 5xx in 5 min;
 * - `waf-blocked`: WAF blocked more than `wafBlockedRequestsPer5Minutes` requests in 5 min;
 * - `silent-<provider>`: no event (processed or dead) from a provider for `providerSilentMinutes`,
 *   once it has delivered (see silenceAlarm).
 */
export class OpsAlarms extends Construct {
  public readonly alarms: cloudwatch.AlarmBase[] = [];
  public readonly dlqAlarms: Record<Priority, cloudwatch.Alarm>;
  public readonly queueAgeAlarms: Record<Priority, cloudwatch.Alarm>;
  public readonly functionAlarms = new Map<
    HouseFunction,
    { errors: cloudwatch.Alarm; throttles: cloudwatch.Alarm }
  >();
  public readonly api5xxAlarm: cloudwatch.Alarm;
  public readonly wafBlockedAlarm: cloudwatch.Alarm;
  public readonly silentAlarms: Partial<Record<ProviderName, cloudwatch.CompositeAlarm>> = {};

  constructor(scope: Construct, id: string, props: OpsAlarmsProps) {
    super(scope, id);
    const { config } = props;
    const alarm = (alarmId: string, name: string, alarmProps: Omit<cloudwatch.AlarmProps, 'alarmName'>) => {
      const created = new cloudwatch.Alarm(this, alarmId, {
        alarmName: `${props.alarmPrefix}ops-${name}`,
        ...alarmProps,
      });
      for (const topic of props.topics) created.addAlarmAction(new SnsAction(topic));
      this.alarms.push(created);
      return created;
    };
    const above = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD;
    const atLeast = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD;
    const notBreaching = cloudwatch.TreatMissingData.NOT_BREACHING;

    const dlq = {} as Record<Priority, cloudwatch.Alarm>;
    const age = {} as Record<Priority, cloudwatch.Alarm>;
    for (const priority of PRIORITIES) {
      const title = priority.charAt(0).toUpperCase() + priority.slice(1);
      const { queue, dlq: deadLetters } = props.queues[priority];
      dlq[priority] = alarm(`${title}DlqNotEmpty`, `dlq-${priority}`, {
        alarmDescription: `The ${priority}-priority DLQ holds dead events: inspect them (GET /api/webhooks/dlq) and redrive or replay.`,
        metric: deadLetters.metricApproximateNumberOfMessagesVisible({
          statistic: 'Maximum',
          period: Duration.minutes(1),
        }),
        threshold: 0,
        comparisonOperator: above,
        evaluationPeriods: 1,
        treatMissingData: notBreaching,
      });
      age[priority] = alarm(`${title}QueueAge`, `queue-age-${priority}`, {
        alarmDescription: `The oldest message of the ${priority}-priority queue waits longer than ${config.queueAgeAlarmSeconds} s: its processor is failing, throttled or too slow.`,
        metric: queue.metricApproximateAgeOfOldestMessage({
          statistic: 'Maximum',
          period: Duration.minutes(1),
        }),
        threshold: config.queueAgeAlarmSeconds,
        comparisonOperator: above,
        evaluationPeriods: 1,
        treatMissingData: notBreaching,
      });
    }
    this.dlqAlarms = dlq;
    this.queueAgeAlarms = age;

    for (const fn of props.functions) {
      const name = functionAlarmName(fn);
      const id5 = name.replaceAll('-', '');
      const period = Duration.minutes(5);
      this.functionAlarms.set(fn, {
        errors: alarm(`${id5}Errors`, `errors-${name}`, {
          alarmDescription: `The function ${name} failed (threw or timed out) in the last 5 minutes.`,
          metric: fn.metricErrors({ statistic: 'Sum', period }),
          threshold: 1,
          comparisonOperator: atLeast,
          evaluationPeriods: 1,
          treatMissingData: notBreaching,
        }),
        throttles: alarm(`${id5}Throttles`, `throttles-${name}`, {
          alarmDescription: `Lambda throttled the function ${name} in the last 5 minutes (concurrency exhausted).`,
          metric: fn.metricThrottles({ statistic: 'Sum', period }),
          threshold: 1,
          comparisonOperator: atLeast,
          evaluationPeriods: 1,
          treatMissingData: notBreaching,
        }),
      });
    }

    const fiveMinutes = Duration.minutes(5);
    this.api5xxAlarm = alarm('Api5xxRate', 'api-5xx', {
      alarmDescription: `More than ${config.api5xxRatePercent}% of the webhook API's requests answered 5xx in 5 minutes: providers are retrying (or dropping) deliveries.`,
      metric: new cloudwatch.MathExpression({
        // Two-argument IF: no datapoint without requests (missing, not breaching).
        expression: 'IF(requests > 0, 100 * errors / requests)',
        usingMetrics: {
          errors: props.restStage.metricServerError({ statistic: 'Sum', period: fiveMinutes }),
          requests: props.restStage.metricCount({ statistic: 'Sum', period: fiveMinutes }),
        },
        label: 'api_5xx_rate',
        period: fiveMinutes,
      }),
      threshold: config.api5xxRatePercent,
      comparisonOperator: above,
      evaluationPeriods: 1,
      treatMissingData: notBreaching,
    });

    this.wafBlockedAlarm = alarm('WafBlocked', 'waf-blocked', {
      alarmDescription: `AWS WAF blocked more than ${config.wafBlockedRequestsPer5Minutes} requests in 5 minutes: a flood, a scanner, or a provider caught by a rule (see the WAF log group).`,
      metric: wafMetric(props.webAcl, 'BlockedRequests', { period: fiveMinutes }),
      threshold: config.wafBlockedRequestsPer5Minutes,
      comparisonOperator: above,
      evaluationPeriods: 1,
      treatMissingData: notBreaching,
    });

    if (config.providerSilentMinutes > 0) {
      for (const provider of props.providers) {
        this.silentAlarms[provider] = this.silenceAlarm(provider, config.providerSilentMinutes, props);
      }
    }
  }

  /**
   * "Provider went silent", armed only once the provider has delivered: a composite alarm that
   * pages when nothing came for `minutes` (input one) while something came in the last 7 days
   * (input two is OK). Right after a deploy, before the first delivery, input two is in ALARM (or
   * has no state yet), so nothing pages; after a week of complete silence it stops paging too (the
   * provider is taken to be gone; input one still shows it). The inputs are named outside the
   * recorded prefix and have no actions: only the composite is recorded and notified.
   */
  private silenceAlarm(
    provider: ProviderName,
    minutes: number,
    props: OpsAlarmsProps,
  ): cloudwatch.CompositeAlarm {
    const events = (period: Duration) => {
      const series = (metricName: string) =>
        new cloudwatch.Metric({
          namespace: METRICS_NAMESPACE,
          metricName,
          dimensionsMap: { provider },
          statistic: 'Sum',
          period,
        });
      return new cloudwatch.MathExpression({
        expression: 'FILL(processed, 0) + FILL(dead, 0)',
        usingMetrics: { processed: series('EventsProcessed'), dead: series('EventsDead') },
        label: `${provider}_events`,
        period,
      });
    };
    // Every datapoint of the window empty; no metric at all is exactly what silence looks like.
    const nothingFor = (id: string, name: string, period: Duration, periods: number, description: string) =>
      new cloudwatch.Alarm(this, id, {
        alarmName: `${Stack.of(this).stackName}.input.silent-${provider}-${name}`,
        alarmDescription: description,
        metric: events(period),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: periods,
        datapointsToAlarm: periods,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
    // One datapoint per 5 minutes when the window allows it, else per minute.
    const periodMinutes = minutes % 5 === 0 ? 5 : 1;
    const recent = nothingFor(
      `Silent${provider}Recent`,
      `${minutes}m`,
      Duration.minutes(periodMinutes),
      minutes / periodMinutes,
      `Input of ${props.alarmPrefix}ops-silent-${provider}: no ${provider} event for ${minutes} minutes.`,
    );
    // CloudWatch evaluates at most 7 days (hourly periods) for one alarm.
    const week = nothingFor(
      `Silent${provider}Week`,
      '7d',
      Duration.hours(1),
      7 * 24,
      `Input of ${props.alarmPrefix}ops-silent-${provider}: no ${provider} event for 7 days (never delivered, or gone).`,
    );
    const composite = new cloudwatch.CompositeAlarm(this, `Silent${provider}`, {
      compositeAlarmName: `${props.alarmPrefix}ops-silent-${provider}`,
      alarmDescription: `No ${provider} event was processed or dead-lettered for ${minutes} minutes, after deliveries in the last 7 days: they stopped (subscription removed, secret or URL changed, provider outage).`,
      alarmRule: cloudwatch.AlarmRule.allOf(
        cloudwatch.AlarmRule.fromAlarm(recent, cloudwatch.AlarmState.ALARM),
        cloudwatch.AlarmRule.fromAlarm(week, cloudwatch.AlarmState.OK),
      ),
    });
    for (const topic of props.topics) composite.addAlarmAction(new SnsAction(topic));
    this.alarms.push(composite);
    return composite;
  }
}
