import { describe, expect, it } from 'vitest';
import { alarmNameOf, alarmOf, RULE_TAG, ruleIdOfAlarm } from '../../../../shared/alerts/alarms';
import { ALERT_METRICS, COMPARISONS } from '../../../../shared/alerts/rules';
import { alertRule, RULE_ID } from '../../support/alert-rule';

const SETTINGS = {
  prefix: 'WebhooksStack-',
  namespace: 'Webhooks',
  topics: {
    default: 'arn:aws:sns:eu-west-1:1:alarms',
    email: 'arn:aws:sns:eu-west-1:1:email',
    sms: 'arn:aws:sns:eu-west-1:1:sms',
  },
};

const EXPRESSIONS = {
  success_rate:
    'IF((FILL(processed_hubspot, 0)) + (FILL(dead_hubspot, 0)) > 0, 100 * (FILL(processed_hubspot, 0)) / ((FILL(processed_hubspot, 0)) + (FILL(dead_hubspot, 0))))',
  error_rate:
    'IF((FILL(processed_hubspot, 0)) + (FILL(dead_hubspot, 0)) > 0, 100 * (FILL(dead_hubspot, 0)) / ((FILL(processed_hubspot, 0)) + (FILL(dead_hubspot, 0))))',
  processing_time: 'IF((FILL(count_hubspot, 0)) > 0, (FILL(time_hubspot, 0)) / (FILL(count_hubspot, 0)))',
  event_volume: '(FILL(processed_hubspot, 0)) + (FILL(dead_hubspot, 0))',
  // Refused deliveries per minute over the 15-minute window.
  rejection_rate: '(FILL(rejected_hubspot, 0)) / 15',
} as const;

const SERIES = {
  success_rate: [
    ['processed_hubspot', 'EventsProcessed', 'Sum'],
    ['dead_hubspot', 'EventsDead', 'Sum'],
  ],
  error_rate: [
    ['processed_hubspot', 'EventsProcessed', 'Sum'],
    ['dead_hubspot', 'EventsDead', 'Sum'],
  ],
  processing_time: [
    ['time_hubspot', 'ProcessingTime', 'Sum'],
    ['count_hubspot', 'ProcessingTime', 'SampleCount'],
  ],
  rejection_rate: [['rejected_hubspot', 'DeliveriesRejected', 'Sum']],
  event_volume: [
    ['processed_hubspot', 'EventsProcessed', 'Sum'],
    ['dead_hubspot', 'EventsDead', 'Sum'],
  ],
} as const;

const OPERATORS = {
  less_than: 'LessThanThreshold',
  less_than_or_equal: 'LessThanOrEqualToThreshold',
  greater_than: 'GreaterThanThreshold',
  greater_than_or_equal: 'GreaterThanOrEqualToThreshold',
} as const;

/** An idle window: rates and means have no value (never breach), a volume and a rejection rate are 0. */
const zeroBreaches = (comparison: string) =>
  comparison.startsWith('less_than') ? 'breaching' : 'notBreaching';
const MISSING_DATA = {
  success_rate: () => 'notBreaching',
  error_rate: () => 'notBreaching',
  processing_time: () => 'notBreaching',
  event_volume: zeroBreaches,
  rejection_rate: zeroBreaches,
} as const;

describe('alert rule -> CloudWatch alarm', () => {
  for (const metric of ALERT_METRICS) {
    for (const comparison of COMPARISONS) {
      it(`maps ${metric} ${comparison} to a metric-math alarm over the rule's window`, () => {
        const alarm = alarmOf(
          alertRule({ metric, comparison, threshold: 10, timeWindowMinutes: 15 }),
          SETTINGS,
        );

        expect(alarm).toMatchObject({
          AlarmName: `WebhooksStack-rule-${RULE_ID}`,
          ComparisonOperator: OPERATORS[comparison],
          Threshold: 10,
          EvaluationPeriods: 1,
          DatapointsToAlarm: 1,
          TreatMissingData: MISSING_DATA[metric](comparison),
          Tags: [{ Key: RULE_TAG, Value: RULE_ID }],
        });
        const queries = alarm.Metrics ?? [];
        expect(queries.filter((query) => query.ReturnData)).toEqual([
          { Id: 'result', Expression: EXPRESSIONS[metric], Label: metric, ReturnData: true },
        ]);
        expect(
          queries
            .filter((query) => query.MetricStat)
            .map((query) => [
              query.Id,
              query.MetricStat?.Metric?.MetricName,
              query.MetricStat?.Stat,
              query.MetricStat?.Period,
              query.MetricStat?.Metric?.Namespace,
              query.MetricStat?.Metric?.Dimensions,
            ]),
        ).toEqual(
          SERIES[metric].map(([id, name, stat]) => [
            id,
            name,
            stat,
            900,
            'Webhooks',
            [{ Name: 'provider', Value: 'hubspot' }],
          ]),
        );
      });
    }
  }

  it('adds up the three providers for a rule without a provider', () => {
    const alarm = alarmOf(alertRule({ provider: null, metric: 'error_rate' }), SETTINGS);
    const stats = (alarm.Metrics ?? []).filter((query) => query.MetricStat);
    expect(stats.map((query) => query.Id)).toEqual([
      'processed_hubspot',
      'processed_shopify',
      'processed_salesforce',
      'dead_hubspot',
      'dead_shopify',
      'dead_salesforce',
    ]);
    // PutMetricAlarm takes at most 10 queries; an expression at most 1024 characters.
    expect(alarm.Metrics?.length).toBeLessThanOrEqual(10);
    expect(alarm.Metrics?.at(-1)?.Expression?.length).toBeLessThan(1024);
    expect(alarm.AlarmDescription).toContain('all providers');
  });

  it('keeps processing_time over every provider within the query limits too', () => {
    const alarm = alarmOf(alertRule({ provider: null, metric: 'processing_time' }), SETTINGS);
    expect(alarm.Metrics).toHaveLength(7);
    expect(alarm.Metrics?.at(-1)?.Expression?.length).toBeLessThan(1024);
  });

  it('sends email and SMS rules to their SNS topics, and every rule to the default topic', () => {
    const actions = (channels: ('email' | 'sms' | 'slack' | 'webhook')[]) =>
      alarmOf(alertRule({ notificationChannels: channels }), SETTINGS).AlarmActions;
    expect(actions(['slack', 'webhook'])).toEqual([SETTINGS.topics.default]);
    expect(actions(['email', 'sms'])).toEqual([
      SETTINGS.topics.default,
      SETTINGS.topics.email,
      SETTINGS.topics.sms,
    ]);
    const noSms = { ...SETTINGS, topics: { default: SETTINGS.topics.default } };
    expect(alarmOf(alertRule({ notificationChannels: ['sms'] }), noSms).AlarmActions).toEqual([
      SETTINGS.topics.default,
    ]);
  });

  it('uses the window as the period: a day-long window is one 86,400 s datapoint', () => {
    const alarm = alarmOf(alertRule({ timeWindowMinutes: 1440 }), SETTINGS);
    expect(alarm.Metrics?.[0]?.MetricStat?.Period).toBe(86_400);
  });

  it('reads the rule id back from a rule alarm name and nothing from an ops alarm', () => {
    expect(ruleIdOfAlarm('WebhooksStack-', alarmNameOf('WebhooksStack-', RULE_ID))).toBe(RULE_ID);
    expect(ruleIdOfAlarm('WebhooksStack-', 'WebhooksStack-dlq-high-not-empty')).toBeUndefined();
  });
});
