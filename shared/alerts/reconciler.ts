import {
  type CloudWatchClient,
  DeleteAlarmsCommand,
  DescribeAlarmsCommand,
  type MetricAlarm,
  type MetricDataQuery,
  PutMetricAlarmCommand,
  type PutMetricAlarmCommandInput,
} from '@aws-sdk/client-cloudwatch';
import { type AlarmSettings, alarmOf } from './alarms';
import type { AlertRule } from './rules';

export interface ReconcileResult {
  created: string[];
  updated: string[];
  deleted: string[];
  unchanged: number;
}

/** DeleteAlarms takes at most 100 names per call. */
const DELETE_BATCH = 100;

/**
 * Makes the rule alarms (`${prefix}rule-<id>`) exactly the enabled rules: missing alarms are created
 * (tagged with the rule id), changed ones rewritten, alarms of deleted or disabled rules (and any
 * other alarm under the rule prefix) deleted. An alarm that already matches is not written: a
 * rewrite would cost an API call and nothing else. Other alarms of the stack (its default rules and
 * ops alarms, which the CDK owns) do not start with `${prefix}rule-` and are never touched.
 */
export async function reconcileAlarms(
  rules: readonly AlertRule[],
  cloudwatch: Pick<CloudWatchClient, 'send'>,
  settings: AlarmSettings,
): Promise<ReconcileResult> {
  const desired = new Map(
    rules
      .filter((rule) => rule.enabled)
      .map((rule) => {
        const alarm = alarmOf(rule, settings);
        return [alarm.AlarmName as string, alarm];
      }),
  );
  const existing = await describeRuleAlarms(cloudwatch, `${settings.prefix}rule-`);
  const result: ReconcileResult = { created: [], updated: [], deleted: [], unchanged: 0 };

  for (const [name, alarm] of desired) {
    const current = existing.get(name);
    if (current && sameAlarm(current, alarm)) {
      result.unchanged++;
      continue;
    }
    await cloudwatch.send(new PutMetricAlarmCommand(alarm));
    (current ? result.updated : result.created).push(name);
  }

  const orphans = [...existing.keys()].filter((name) => !desired.has(name));
  for (let start = 0; start < orphans.length; start += DELETE_BATCH) {
    const names = orphans.slice(start, start + DELETE_BATCH);
    await cloudwatch.send(new DeleteAlarmsCommand({ AlarmNames: names }));
    result.deleted.push(...names);
  }
  return result;
}

async function describeRuleAlarms(
  cloudwatch: Pick<CloudWatchClient, 'send'>,
  prefix: string,
): Promise<Map<string, MetricAlarm>> {
  const alarms = new Map<string, MetricAlarm>();
  let token: string | undefined;
  do {
    const page = await cloudwatch.send(
      new DescribeAlarmsCommand({
        AlarmNamePrefix: prefix,
        AlarmTypes: ['MetricAlarm'],
        MaxRecords: 100,
        NextToken: token,
      }),
    );
    for (const alarm of page.MetricAlarms ?? []) if (alarm.AlarmName) alarms.set(alarm.AlarmName, alarm);
    token = page.NextToken;
  } while (token);
  return alarms;
}

/** Whether the alarm CloudWatch has is the one we would write (tags are set on creation only). */
export function sameAlarm(current: MetricAlarm, desired: PutMetricAlarmCommandInput): boolean {
  return JSON.stringify(comparable(current)) === JSON.stringify(comparable(desired));
}

function comparable(alarm: MetricAlarm | PutMetricAlarmCommandInput) {
  const sorted = (list: string[] | undefined) => [...(list ?? [])].sort();
  return {
    description: alarm.AlarmDescription ?? '',
    actionsEnabled: alarm.ActionsEnabled ?? true,
    alarmActions: sorted(alarm.AlarmActions),
    okActions: sorted(alarm.OKActions),
    insufficientDataActions: sorted(alarm.InsufficientDataActions),
    operator: alarm.ComparisonOperator,
    threshold: alarm.Threshold,
    evaluationPeriods: alarm.EvaluationPeriods,
    datapointsToAlarm: alarm.DatapointsToAlarm ?? alarm.EvaluationPeriods,
    treatMissingData: alarm.TreatMissingData ?? 'missing',
    metrics: (alarm.Metrics ?? []).map(comparableQuery),
  };
}

function comparableQuery(query: MetricDataQuery) {
  const stat = query.MetricStat;
  return {
    id: query.Id,
    expression: query.Expression ?? null,
    label: query.Label ?? null,
    returnData: query.ReturnData ?? true,
    metric: stat
      ? {
          namespace: stat.Metric?.Namespace,
          name: stat.Metric?.MetricName,
          dimensions: (stat.Metric?.Dimensions ?? []).map((d) => `${d.Name}=${d.Value}`).sort(),
          period: stat.Period,
          stat: stat.Stat,
        }
      : null,
  };
}
