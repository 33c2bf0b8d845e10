import { describe, expect, it } from 'vitest';
import { AlertEvaluator } from '../../../local/alert-evaluator';
import type { AlarmStateChange } from '../../../shared/alerts/recorder';
import type { AlertRule } from '../../../shared/alerts/rules';
import type { StoredRejection } from '../../../shared/stores/rejections';
import { alertRule, RULE_ID } from '../support/alert-rule';
import { FakeCounters, FakeRejections } from '../support/management-fakes';

function setup(rules: AlertRule[]) {
  let now = new Date('2026-03-01T10:30:30.000Z');
  const counters = new FakeCounters();
  const rejections = new FakeRejections();
  const changes: AlarmStateChange[] = [];
  const evaluator = new AlertEvaluator({
    store: { enabledRules: async () => rules },
    counters,
    rejections,
    recorder: { record: async (change) => void changes.push(change) },
    prefix: 'WebhooksLocal-',
    now: () => now,
  });
  return {
    evaluator,
    counters,
    rejections,
    changes,
    at: (iso: string) => {
      now = new Date(iso);
    },
  };
}

const ERROR_RATE = alertRule({
  metric: 'error_rate',
  comparison: 'greater_than',
  threshold: 5,
  timeWindowMinutes: 5,
  provider: null,
});

describe('the local alert evaluator', () => {
  it('raises one alert when a rule enters breach, none while it stays there, and a new one after recovery', async () => {
    const { evaluator, counters, changes, at } = setup([ERROR_RATE]);
    counters.add('provider#shopify', '2026-03-01T10:29', { succeeded: 1, dead: 3 });

    expect(await evaluator.evaluate()).toEqual([`WebhooksLocal-rule-${RULE_ID}`]);
    expect(changes).toEqual([
      {
        alarmName: `WebhooksLocal-rule-${RULE_ID}`,
        state: 'ALARM',
        previousState: 'OK',
        timestamp: '2026-03-01T10:30:30.000Z',
        threshold: 5,
        value: 75,
      },
    ]);
    expect(await evaluator.evaluate()).toEqual([]);

    // The failures leave the 5-minute window: back to OK; then a new breach is a new alert.
    at('2026-03-01T10:36:00.000Z');
    expect(await evaluator.evaluate()).toEqual([]);
    counters.add('provider#hubspot', '2026-03-01T10:36', { dead: 1 });
    expect(await evaluator.evaluate()).toHaveLength(1);
    expect(changes.map((change) => change.value)).toEqual([75, 100]);
  });

  it("reads exactly the rule's window of its provider's minute counters", async () => {
    const rule = alertRule({ provider: 'hubspot', timeWindowMinutes: 15 });
    const { evaluator, counters } = setup([rule]);
    await evaluator.evaluate();
    expect(counters.reads).toEqual([['provider#hubspot', '2026-03-01T10:16', '2026-03-01T10:30']]);
  });

  it('treats an idle window as no data for rates and as 0 for volume, as the alarms do', async () => {
    const silent = alertRule({
      id: '00000000-0000-4000-8000-00000000000a',
      metric: 'event_volume',
      comparison: 'less_than',
      threshold: 1,
    });
    const success = alertRule({ metric: 'success_rate', comparison: 'less_than', threshold: 95 });
    const { evaluator, changes } = setup([silent, success]);
    await evaluator.evaluate();
    expect(changes).toEqual([
      expect.objectContaining({ alarmName: `WebhooksLocal-rule-${silent.id}`, value: 0 }),
    ]);
  });

  it('watches the rejection rate: refused deliveries per minute over the window, of every owner', async () => {
    const rule = alertRule({
      metric: 'rejection_rate',
      comparison: 'greater_than',
      threshold: 0.5,
      timeWindowMinutes: 10,
      provider: 'shopify',
    });
    const { evaluator, rejections, changes } = setup([rule]);
    const refused = (id: string, overrides: Partial<StoredRejection>): StoredRejection => ({
      id,
      ownerId: 'alice',
      provider: 'shopify',
      status: 401,
      cause: 'signature_mismatch',
      message: 'Invalid signature',
      sourceIp: '203.0.113.9',
      bodyBytes: 10,
      receivedAt: '2026-03-01T10:25:00.000Z',
      ...overrides,
    });
    for (let i = 0; i < 5; i++) rejections.add(refused(`a${i}`, { ownerId: i % 2 ? 'alice' : 'system' }));
    rejections.add(
      refused('h1', { provider: 'hubspot' }),
      refused('old', { receivedAt: '2026-03-01T10:10:00.000Z' }),
    );

    expect(await evaluator.evaluate()).toEqual([]);
    rejections.add(refused('a5', {}));
    expect(await evaluator.evaluate()).toHaveLength(1);
    expect(changes[0]?.value).toBeCloseTo(0.6);
  });

  it('tries a change again at the next evaluation when recording it failed', async () => {
    let fail = true;
    const changes: AlarmStateChange[] = [];
    const counters = new FakeCounters().add('provider#shopify', '2026-03-01T10:30', { dead: 2 });
    const evaluator = new AlertEvaluator({
      store: { enabledRules: async () => [ERROR_RATE] },
      counters,
      rejections: new FakeRejections(),
      recorder: {
        record: async (change) => {
          if (fail) throw new Error('database unavailable');
          changes.push(change);
          return undefined;
        },
      },
      prefix: 'WebhooksLocal-',
      now: () => new Date('2026-03-01T10:30:30.000Z'),
    });
    await expect(evaluator.evaluate()).rejects.toThrow('database unavailable');
    fail = false;
    await evaluator.evaluate();
    expect(changes).toHaveLength(1);
  });
});
