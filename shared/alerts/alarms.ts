import type {
  ComparisonOperator,
  MetricDataQuery,
  PutMetricAlarmCommandInput,
} from '@aws-sdk/client-cloudwatch';
import { PROVIDER_NAMES } from '../envelope';
import {
  type AlertMetric,
  type AlertRule,
  type Channel,
  COMPARISON_TEXT,
  type Comparison,
  compare,
  idleValue,
  METRIC_UNIT,
} from './rules';

/** The refused deliveries per provider (Sum), published by a metric filter on the ingest logs. */
export const REJECTIONS_METRIC = 'DeliveriesRejected';

/** The tag that names the rule an alarm implements (the reconciler's and the recorder's key). */
export const RULE_TAG = 'webhooks:rule-id';

/** Where a rule's alarm sends its state changes: SNS topics per channel; `default` always. */
export interface AlarmTopics {
  default: string;
  email?: string;
  sms?: string;
}

export interface AlarmSettings {
  /** `${stackName}-`: every alarm the system owns starts with it. */
  prefix: string;
  /** The EMF namespace the processors write (POWERTOOLS_METRICS_NAMESPACE). */
  namespace: string;
  topics: AlarmTopics;
}

export const alarmNameOf = (prefix: string, ruleId: string) => `${prefix}rule-${ruleId}`;

/** The rule id in a rule alarm's name, or undefined for any other alarm (the built-in ops alarms). */
export function ruleIdOfAlarm(prefix: string, alarmName: string): string | undefined {
  const start = `${prefix}rule-`;
  return alarmName.startsWith(start) ? alarmName.slice(start.length) : undefined;
}

const OPERATORS: Record<Comparison, ComparisonOperator> = {
  less_than: 'LessThanThreshold',
  less_than_or_equal: 'LessThanOrEqualToThreshold',
  greater_than: 'GreaterThanThreshold',
  greater_than_or_equal: 'GreaterThanOrEqualToThreshold',
};

/**
 * One rule as a CloudWatch metric-math alarm over the processors' EMF metrics (dimension
 * `provider`; a rule for every provider adds up the three providers' series explicitly, since an
 * alarm cannot use SEARCH). Each series is summed over the whole window: the period is the rule's
 * window and the alarm evaluates one datapoint, with CloudWatch's default sliding evaluation window,
 * so every minute it judges exactly the last `time_window_minutes` minutes. (A 60 s period would
 * judge minutes one by one: a volume threshold is a total per window, and a rate over few events
 * per minute would be noise.) The expressions are those of shared/metrics/outcomes.ts:
 *
 * - success_rate: 100 * processed / (processed + dead)   (EventsProcessed, EventsDead; Sum)
 * - error_rate: 100 * dead / (processed + dead)          ("failed" attempts are retries, not events)
 * - processing_time: sum(ProcessingTime) / count(ProcessingTime), a mean over processed events
 * - event_volume: processed + dead
 * - rejection_rate: DeliveriesRejected (Sum) / window minutes: refused deliveries per minute, from
 *   the metric filter on the ingest functions' "webhook rejected" log lines (lib/constructs/ingestion.ts)
 *
 * Missing data is what the metric means for an idle window (see idleValue): a rate or a mean of no
 * events has no value and never breaches (notBreaching), while a volume is 0, which breaches a
 * `less_than` rule: a provider gone silent alarms (breaching), as the local evaluator does.
 */
export function alarmOf(rule: AlertRule, settings: AlarmSettings): PutMetricAlarmCommandInput {
  const idle = idleValue(rule.metric);
  return {
    AlarmName: alarmNameOf(settings.prefix, rule.id),
    AlarmDescription: describeRule(rule),
    ActionsEnabled: true,
    AlarmActions: actionsOf(rule.notificationChannels, settings.topics),
    OKActions: [],
    InsufficientDataActions: [],
    ComparisonOperator: OPERATORS[rule.comparison],
    Threshold: rule.threshold,
    EvaluationPeriods: 1,
    DatapointsToAlarm: 1,
    TreatMissingData:
      idle !== undefined && compare(rule.comparison, idle, rule.threshold) ? 'breaching' : 'notBreaching',
    Metrics: queriesOf(rule.metric, rule.provider, rule.timeWindowMinutes * 60, settings.namespace),
    Tags: [{ Key: RULE_TAG, Value: rule.id }],
  };
}

/** "HubSpot success: success_rate < 95% over 15 min (hubspot)" */
export function describeRule(
  rule: Pick<AlertRule, 'name' | 'metric' | 'comparison' | 'threshold' | 'timeWindowMinutes' | 'provider'>,
) {
  return `${rule.name}: ${rule.metric} ${COMPARISON_TEXT[rule.comparison]} ${rule.threshold}${METRIC_UNIT[rule.metric]} over ${rule.timeWindowMinutes} min (${rule.provider ?? 'all providers'})`;
}

function actionsOf(channels: readonly Channel[], topics: AlarmTopics): string[] {
  const actions = [topics.default];
  if (channels.includes('email') && topics.email) actions.push(topics.email);
  if (channels.includes('sms') && topics.sms) actions.push(topics.sms);
  return actions;
}

/** The alarm's metric math: one summed series per (metric, provider), the result with id `result`. */
function queriesOf(metric: AlertMetric, provider: string | null, period: number, namespace: string) {
  const providers = provider === null ? [...PROVIDER_NAMES] : [provider];
  const queries: MetricDataQuery[] = [];
  /** Adds the series of one EMF metric per provider and returns the expression of their sum. */
  const summed = (name: string, stat: 'Sum' | 'SampleCount', id: string) => {
    const terms = providers.map((p) => {
      const queryId = `${id}_${p}`;
      queries.push({
        Id: queryId,
        MetricStat: {
          Metric: { Namespace: namespace, MetricName: name, Dimensions: [{ Name: 'provider', Value: p }] },
          Period: period,
          Stat: stat,
        },
        ReturnData: false,
      });
      // A provider without data in the window contributes 0, not a gap.
      return `FILL(${queryId}, 0)`;
    });
    return terms.join(' + ');
  };
  let expression: string;
  if (metric === 'rejection_rate') {
    const rejected = summed(REJECTIONS_METRIC, 'Sum', 'rejected');
    expression = `(${rejected}) / ${period / 60}`;
  } else if (metric === 'processing_time') {
    const total = summed('ProcessingTime', 'Sum', 'time');
    const count = summed('ProcessingTime', 'SampleCount', 'count');
    // Two-argument IF: no datapoint when nothing was processed (missing data, see alarmOf).
    expression = `IF((${count}) > 0, (${total}) / (${count}))`;
  } else {
    const processed = summed('EventsProcessed', 'Sum', 'processed');
    const dead = summed('EventsDead', 'Sum', 'dead');
    const events = `(${processed}) + (${dead})`;
    expression =
      metric === 'event_volume'
        ? events
        : `IF(${events} > 0, 100 * (${metric === 'success_rate' ? processed : dead}) / (${events}))`;
  }
  queries.push({ Id: 'result', Expression: expression, Label: metric, ReturnData: true });
  return queries;
}
