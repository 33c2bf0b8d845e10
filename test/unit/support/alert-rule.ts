import type { AlertRule } from '../../../shared/alerts/rules';
import type { AlertRecord } from '../../../shared/alerts/store';

export const RULE_ID = '3f0c6a52-5d1e-4b7a-9c1f-2a8e4d6b0c11';

/** The seed's example rule, owned by alice; override what a test is about. */
export function alertRule(overrides: Partial<AlertRule> = {}): AlertRule {
  return {
    id: RULE_ID,
    userId: 'alice',
    name: 'HubSpot Success Rate Alert',
    provider: 'hubspot',
    metric: 'success_rate',
    threshold: 95,
    comparison: 'less_than',
    timeWindowMinutes: 15,
    notificationChannels: ['email', 'slack'],
    enabled: true,
    createdAt: '2026-03-01T09:00:00.000Z',
    ...overrides,
  };
}

/** An open alert raised by that rule for alice; override what a test is about. */
export function alertRecord(id: string, overrides: Partial<AlertRecord> = {}): AlertRecord {
  return {
    id,
    userId: 'alice',
    ruleId: RULE_ID,
    provider: 'hubspot',
    metric: 'success_rate',
    currentValue: 80,
    threshold: 95,
    severity: 'warning',
    message: 'success_rate is 80% (rule: < 95%) over the last 15 min for hubspot',
    acknowledged: false,
    acknowledgedBy: null,
    acknowledgedAt: null,
    createdAt: '2026-03-01T10:00:00.000Z',
    ...overrides,
  };
}
