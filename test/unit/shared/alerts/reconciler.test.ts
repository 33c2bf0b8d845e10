import {
  CloudWatchClient,
  DeleteAlarmsCommand,
  DescribeAlarmsCommand,
  type MetricAlarm,
  PutMetricAlarmCommand,
} from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { alarmOf } from '../../../../shared/alerts/alarms';
import { reconcileAlarms } from '../../../../shared/alerts/reconciler';
import { alertRule } from '../../support/alert-rule';

const cloudwatch = mockClient(CloudWatchClient);
const client = new CloudWatchClient({ region: 'eu-west-1' });
const SETTINGS = {
  prefix: 'WebhooksStack-',
  namespace: 'Webhooks',
  topics: { default: 'arn:aws:sns:eu-west-1:1:alarms' },
};

const KEPT = alertRule({ id: '11111111-1111-4111-8111-111111111111' });
const CHANGED = alertRule({
  id: '22222222-2222-4222-8222-222222222222',
  metric: 'error_rate',
  comparison: 'greater_than',
  threshold: 5,
});
const NEW = alertRule({ id: '33333333-3333-4333-8333-333333333333', provider: null });
const DISABLED = alertRule({ id: '44444444-4444-4444-8444-444444444444', enabled: false });

/** What DescribeAlarms returns for an alarm we wrote: the input's fields, as CloudWatch echoes them. */
function described(input: ReturnType<typeof alarmOf>): MetricAlarm {
  const { Tags: _tags, ...fields } = input;
  return { ...fields, AlarmArn: `arn:aws:cloudwatch:eu-west-1:1:alarm:${input.AlarmName}`, StateValue: 'OK' };
}

afterEach(() => {
  cloudwatch.reset();
});

describe('reconciling alert rules into alarms', () => {
  it('creates missing alarms, rewrites changed ones, deletes orphans and leaves matching ones alone', async () => {
    const stale = described(alarmOf({ ...CHANGED, threshold: 10 }, SETTINGS));
    cloudwatch.on(DescribeAlarmsCommand).resolves({
      MetricAlarms: [
        described(alarmOf(KEPT, SETTINGS)),
        stale,
        described(alarmOf(DISABLED, SETTINGS)),
        { AlarmName: 'WebhooksStack-rule-55555555-5555-4555-8555-555555555555' },
      ],
    });
    cloudwatch.on(PutMetricAlarmCommand).resolves({}).on(DeleteAlarmsCommand).resolves({});

    const result = await reconcileAlarms([KEPT, CHANGED, NEW, DISABLED], client, SETTINGS);

    expect(result).toEqual({
      created: [`WebhooksStack-rule-${NEW.id}`],
      updated: [`WebhooksStack-rule-${CHANGED.id}`],
      deleted: [
        `WebhooksStack-rule-${DISABLED.id}`,
        'WebhooksStack-rule-55555555-5555-4555-8555-555555555555',
      ],
      unchanged: 1,
    });
    const puts = cloudwatch.commandCalls(PutMetricAlarmCommand).map((call) => call.args[0].input);
    expect(puts).toEqual([alarmOf(CHANGED, SETTINGS), alarmOf(NEW, SETTINGS)]);
    expect(puts[1]?.Tags).toEqual([{ Key: 'webhooks:rule-id', Value: NEW.id }]);
    expect(cloudwatch.commandCalls(DeleteAlarmsCommand)[0]?.args[0].input).toEqual({
      AlarmNames: result.deleted,
    });
  });

  it('only ever lists alarms under the rule prefix, so the stack-owned alarms are never touched', async () => {
    cloudwatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [] });
    cloudwatch.on(PutMetricAlarmCommand).resolves({});

    await reconcileAlarms([KEPT], client, SETTINGS);

    expect(cloudwatch.commandCalls(DescribeAlarmsCommand)[0]?.args[0].input).toMatchObject({
      AlarmNamePrefix: 'WebhooksStack-rule-',
      AlarmTypes: ['MetricAlarm'],
    });
    expect(cloudwatch.commandCalls(DeleteAlarmsCommand)).toHaveLength(0);
  });

  it('follows DescribeAlarms pages and deletes orphans 100 names at a time', async () => {
    const orphans = Array.from({ length: 150 }, (_, index) => ({
      AlarmName: `WebhooksStack-rule-orphan-${index}`,
    }));
    cloudwatch
      .on(DescribeAlarmsCommand)
      .resolvesOnce({ MetricAlarms: orphans.slice(0, 100), NextToken: 'page-2' })
      .resolvesOnce({ MetricAlarms: orphans.slice(100) });
    cloudwatch.on(DeleteAlarmsCommand).resolves({});

    const result = await reconcileAlarms([], client, SETTINGS);

    expect(cloudwatch.commandCalls(DescribeAlarmsCommand)[1]?.args[0].input.NextToken).toBe('page-2');
    expect(
      cloudwatch.commandCalls(DeleteAlarmsCommand).map((call) => call.args[0].input.AlarmNames?.length),
    ).toEqual([100, 50]);
    expect(result.deleted).toHaveLength(150);
  });

  it('writes nothing when every alarm already matches its rule', async () => {
    cloudwatch.on(DescribeAlarmsCommand).resolves({
      MetricAlarms: [described(alarmOf(KEPT, SETTINGS)), described(alarmOf(NEW, SETTINGS))],
    });

    const result = await reconcileAlarms([KEPT, NEW], client, SETTINGS);

    expect(result).toEqual({ created: [], updated: [], deleted: [], unchanged: 2 });
    expect(cloudwatch.commandCalls(PutMetricAlarmCommand)).toHaveLength(0);
  });
});
