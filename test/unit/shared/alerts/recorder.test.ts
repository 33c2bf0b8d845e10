import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AlertRecorder, alertIdOf, severityOf, stateChangeOf } from '../../../../shared/alerts/recorder';
import { AlertStore } from '../../../../shared/alerts/store';
import type { ServerMessage } from '../../../../shared/realtime/messages';
import { alertRule, RULE_ID } from '../../support/alert-rule';
import { type TestDatabase, testDatabase } from '../process/entities/database';

const PREFIX = 'WebhooksStack-';
let database: TestDatabase;
let store: AlertStore;

beforeAll(async () => {
  database = await testDatabase();
  store = new AlertStore(database.db);
});

afterAll(async () => {
  await database?.close();
});

beforeEach(async () => {
  await database.truncate(['webhook_alerts', 'webhook_alert_rules']);
  await store.createRule(
    alertRule({
      metric: 'error_rate',
      comparison: 'greater_than',
      threshold: 5,
      provider: null,
      notificationChannels: ['slack', 'webhook'],
    }),
  );
});

/** The EventBridge event CloudWatch sends when the rule's alarm goes into ALARM. */
function alarmEvent(
  overrides: { alarmName?: string; state?: string; previous?: string; timestamp?: string } = {},
) {
  return {
    version: '0',
    id: 'c4c1c1c9-6542-e61b-6ef0-8c4d36933a92',
    'detail-type': 'CloudWatch Alarm State Change',
    source: 'aws.cloudwatch',
    account: '123456789012',
    time: '2026-03-01T10:30:00Z',
    region: 'eu-west-1',
    resources: [
      `arn:aws:cloudwatch:eu-west-1:123456789012:alarm:${overrides.alarmName ?? `${PREFIX}rule-${RULE_ID}`}`,
    ],
    detail: {
      alarmName: overrides.alarmName ?? `${PREFIX}rule-${RULE_ID}`,
      state: {
        value: overrides.state ?? 'ALARM',
        reason:
          'Threshold Crossed: 1 datapoint [100.0 (01/03/26 10:15:00)] was greater than the threshold (5.0).',
        reasonData:
          '{"version":"1.0","queryDate":"2026-03-01T10:30:00.000+0000","startDate":"2026-03-01T10:15:00.000+0000","period":900,"recentDatapoints":[100.0],"threshold":5.0,"evaluatedDatapoints":[{"timestamp":"2026-03-01T10:15:00.000+0000","value":100.0}]}',
        timestamp: overrides.timestamp ?? '2026-03-01T10:30:00.123+0000',
      },
      previousState: { value: overrides.previous ?? 'OK', timestamp: '2026-03-01T09:00:00.000+0000' },
      configuration: { metrics: [] },
    },
  };
}

function recorder() {
  const pushes: ServerMessage[] = [];
  const notified: { channels: readonly string[]; title: string }[] = [];
  const instance = new AlertRecorder({
    store,
    broadcaster: { broadcast: async (message) => pushes.push(message) },
    notifier: { notify: async (channels, notice) => void notified.push({ channels, title: notice.title }) },
    prefix: PREFIX,
    dashboardUrl: 'https://dash.example.com/',
    log: () => {},
  });
  return { instance, pushes, notified };
}

describe(`recording alarm state changes (${process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite'})`, () => {
  it("writes one webhook_alerts row naming the rule's creator, pushes it to the team and notifies the rule's channels", async () => {
    const { instance, pushes, notified } = recorder();

    const alert = await instance.record(stateChangeOf(alarmEvent()));

    expect(alert).toMatchObject({
      userId: 'alice',
      ruleId: RULE_ID,
      provider: 'all',
      metric: 'error_rate',
      currentValue: 100,
      threshold: 5,
      severity: 'critical',
      message: 'error_rate is 100% (rule: > 5%) over the last 15 min for all providers',
      createdAt: '2026-03-01T10:30:00.123Z',
    });
    const [stored] = await store.listAlerts({ operator: true, limit: 10 });
    expect(stored).toEqual(alert);
    expect(pushes).toEqual([
      expect.objectContaining({
        type: 'webhook-alert',
        data: expect.objectContaining({ id: alert?.id, rule_id: RULE_ID, current_value: 100 }),
      }),
    ]);
    // Naming no owner, the push reaches every operator's connections and nobody else's.
    expect(pushes[0]?.data).not.toHaveProperty('ownerId');
    expect(pushes[0]?.data).not.toHaveProperty('userId');
    expect(notified).toEqual([{ channels: ['slack', 'webhook'], title: 'HubSpot Success Rate Alert' }]);
  });

  it('records, pushes and notifies a state change delivered twice only once', async () => {
    const { instance, pushes, notified } = recorder();

    await instance.record(stateChangeOf(alarmEvent()));
    const again = await instance.record(stateChangeOf(alarmEvent()));
    await Promise.all([1, 2, 3].map(() => instance.record(stateChangeOf(alarmEvent()))));

    expect(again).toBeUndefined();
    expect(await store.listAlerts({ operator: true, limit: 10 })).toHaveLength(1);
    expect(pushes).toHaveLength(1);
    expect(notified).toHaveLength(1);
  });

  it('records the next breach of the same alarm as a new alert', async () => {
    const { instance } = recorder();
    await instance.record(stateChangeOf(alarmEvent()));
    await instance.record(stateChangeOf(alarmEvent({ timestamp: '2026-03-01T11:45:00.000+0000' })));
    expect(await store.listAlerts({ operator: true, limit: 10 })).toHaveLength(2);
  });

  it('records nothing for a return to OK, insufficient data, or an ALARM that was already ALARM', async () => {
    const { instance, pushes } = recorder();
    await instance.record(stateChangeOf(alarmEvent({ state: 'OK', previous: 'ALARM' })));
    await instance.record(stateChangeOf(alarmEvent({ state: 'INSUFFICIENT_DATA' })));
    await instance.record(stateChangeOf(alarmEvent({ previous: 'ALARM' })));
    expect(await store.listAlerts({ operator: true, limit: 10 })).toHaveLength(0);
    expect(pushes).toHaveLength(0);
  });

  it('ignores the alarm of a deleted rule', async () => {
    await store.deleteRule(RULE_ID);
    const { instance } = recorder();
    expect(await instance.record(stateChangeOf(alarmEvent()))).toBeUndefined();
  });

  it('records a built-in ops alarm as a critical system alert that operators list', async () => {
    const { instance, notified } = recorder();
    const alert = await instance.record(
      stateChangeOf(alarmEvent({ alarmName: `${PREFIX}dlq-high-not-empty` })),
    );

    expect(alert).toMatchObject({
      userId: null,
      ruleId: null,
      provider: 'system',
      metric: 'dlq-high-not-empty',
      severity: 'critical',
    });
    expect(notified).toEqual([{ channels: ['slack'], title: 'dlq-high-not-empty' }]);
    expect(await store.listAlerts({ operator: false, limit: 10 })).toHaveLength(0);
    expect(await store.listAlerts({ operator: true, limit: 10 })).toHaveLength(1);
  });
});

describe('alert severity and identity', () => {
  it('is critical from 25% past the threshold (or any breach of a 0 threshold), else a warning', () => {
    expect(severityOf(95, 90)).toBe('warning');
    expect(severityOf(95, 70)).toBe('critical');
    expect(severityOf(5, 6)).toBe('warning');
    expect(severityOf(5, 100)).toBe('critical');
    expect(severityOf(0, 1)).toBe('critical');
  });

  it('derives a stable UUID from the alarm and the time of its change', () => {
    const id = alertIdOf({ alarmName: 'a', timestamp: 't' });
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(alertIdOf({ alarmName: 'a', timestamp: 't' })).toBe(id);
    expect(alertIdOf({ alarmName: 'a', timestamp: 'u' })).not.toBe(id);
  });
});

describe('the alert store', () => {
  it('acknowledges once, by any operator: who and when are those of the first acknowledgement', async () => {
    const { instance } = recorder();
    const alert = await instance.record(stateChangeOf(alarmEvent()));
    const id = alert?.id ?? '';

    // Alice's rule raised it; Bob, on call too, acknowledges it first.
    const first = await store.acknowledge(id, 'bob', new Date('2026-03-01T10:40:00Z'));
    const second = await store.acknowledge(id, 'alice', new Date('2026-03-01T10:50:00Z'));

    expect(first).toMatchObject({
      userId: 'alice',
      acknowledged: true,
      acknowledgedBy: 'bob',
      acknowledgedAt: '2026-03-01T10:40:00.000Z',
    });
    expect(second).toEqual(first);
    expect(
      await store.acknowledge('00000000-0000-4000-8000-00000000dead', 'bob', new Date()),
    ).toBeUndefined();
    expect(await store.listAlerts({ operator: true, acknowledged: false, limit: 10 })).toEqual([]);
  });

  it("stores the team's rules with their channels and lists only the enabled ones for the alarms", async () => {
    await store.createRule(
      alertRule({
        id: '00000000-0000-4000-8000-000000000001',
        userId: 'bob',
        enabled: false,
        notificationChannels: [],
      }),
    );
    expect((await store.enabledRules()).map((rule) => rule.id)).toEqual([RULE_ID]);
    const listed = (await store.listRules()).map((rule) => [rule.id, rule.userId]);
    expect(listed.sort()).toEqual([
      ['00000000-0000-4000-8000-000000000001', 'bob'],
      [RULE_ID, 'alice'],
    ]);
    // Bob changes Alice's rule: rules are the team's; it still names Alice as its creator.
    const updated = await store.updateRule(RULE_ID, {
      threshold: 12.5,
      notificationChannels: ['email', 'sms'],
    });
    expect(updated).toMatchObject({
      userId: 'alice',
      threshold: 12.5,
      notificationChannels: ['email', 'sms'],
      metric: 'error_rate',
    });
    expect(await store.getRule('00000000-0000-4000-8000-000000000001')).toMatchObject({
      notificationChannels: [],
      enabled: false,
    });
  });
});

describe('alarms of the default rules of the stack', () => {
  it("records them with the rule's provider, figures and channels, for operators", async () => {
    const pushes: ServerMessage[] = [];
    const notified: (readonly string[])[] = [];
    const instance = new AlertRecorder({
      store,
      broadcaster: { broadcast: async (message) => pushes.push(message) },
      notifier: { notify: async (channels) => void notified.push(channels) },
      prefix: PREFIX,
      defaultRules: [
        {
          name: 'Shopify silent',
          provider: 'shopify',
          metric: 'event_volume',
          threshold: 1,
          comparison: 'less_than',
          time_window_minutes: 60,
          notification_channels: ['webhook'],
          enabled: true,
        },
      ],
      log: () => {},
    });

    const alert = await instance.record(stateChangeOf(alarmEvent({ alarmName: `${PREFIX}default-0` })));

    expect(alert).toMatchObject({
      userId: null,
      ruleId: null,
      provider: 'shopify',
      metric: 'event_volume',
      threshold: 1,
    });
    expect(notified).toEqual([['webhook']]);
    expect(await store.listAlerts({ operator: true, limit: 10 })).toHaveLength(1);
    expect(
      await instance.record(stateChangeOf(alarmEvent({ alarmName: `${PREFIX}default-7` }))),
    ).toMatchObject({
      provider: 'system',
    });
  });
});
