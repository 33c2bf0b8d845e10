import { beforeAll, describe, expect, it } from 'vitest';
import { type ManagementDeps, makeManagementHandler } from '../../../../shared/api/handlers';
import { errorBodySchema, responseSchemas } from '../../../../shared/api/openapi';
import { OPERATORS_GROUP, tokenVerifierFromEnv } from '../../../../shared/auth/tokens';
import { alertRecord, alertRule, RULE_ID } from '../../support/alert-rule';
import {
  FakeAlerts,
  FakeConfigs,
  fakePorts,
  managementCaller,
  RecordingBus,
} from '../../support/management-fakes';

const TOKEN_SECRET = 'unit-test-token-secret';
const NOW = new Date('2026-03-01T10:30:00.000Z');
const NEW_ID = '7a7a7a7a-1111-4222-8333-444455556666';
const BOB_RULE = '9e9e9e9e-2222-4333-8444-555566667777';

beforeAll(() => {
  process.env.DEV_TOKEN_SECRET = TOKEN_SECRET;
});

function setup(overrides: Partial<ManagementDeps> = {}) {
  const alerts = new FakeAlerts();
  void alerts.createRule(alertRule());
  void alerts.createRule(alertRule({ id: BOB_RULE, userId: 'bob' }));
  alerts.putAlert(
    alertRecord('00000000-0000-4000-8000-000000000001', {
      createdAt: '2026-03-01T08:00:00.000Z',
      provider: 'shopify',
    }),
    alertRecord('00000000-0000-4000-8000-000000000002', { createdAt: '2026-03-01T10:00:00.000Z' }),
    alertRecord('00000000-0000-4000-8000-000000000003', {
      createdAt: '2026-03-01T10:10:00.000Z',
      acknowledged: true,
      acknowledgedBy: 'alice',
      acknowledgedAt: '2026-03-01T10:20:00.000Z',
    }),
    alertRecord('00000000-0000-4000-8000-000000000004', { userId: 'bob' }),
    alertRecord('00000000-0000-4000-8000-000000000005', {
      userId: null,
      ruleId: null,
      provider: 'system',
      metric: 'dlq-high-not-empty',
      severity: 'critical',
    }),
  );
  const bus = new RecordingBus();
  const deps: ManagementDeps = {
    ...fakePorts(),
    configs: new FakeConfigs(),
    verifier: tokenVerifierFromEnv(),
    webhookBaseUrl: 'https://api.example.com/prod',
    secretGraceHours: 24,
    now: () => NOW,
    newId: () => NEW_ID,
    alerts,
    bus,
    ...overrides,
  };
  const handler = makeManagementHandler(deps);
  // Operators by default: rules and alerts are the on-call team's (plain users pass `groups: []`).
  const call = managementCaller(handler, TOKEN_SECRET, () => [OPERATORS_GROUP]);
  return { call, alerts, bus };
}

const SEED_RULE = {
  name: 'HubSpot Success Rate Alert',
  provider: 'hubspot',
  metric: 'success_rate',
  threshold: 95.0,
  comparison: 'less_than',
  time_window_minutes: 15,
  notification_channels: ['email', 'slack'],
};

describe('alert rules', () => {
  it('are for operators only: anyone else gets 403 on every rule route and nothing is stored', async () => {
    const { call, alerts, bus } = setup();
    const before = await alerts.listRules();
    for (const [method, path, body] of [
      ['POST', '/api/webhooks/alert-rules', SEED_RULE],
      ['GET', '/api/webhooks/alert-rules'],
      ['GET', `/api/webhooks/alert-rules/${RULE_ID}`],
      ['PATCH', `/api/webhooks/alert-rules/${RULE_ID}`, { enabled: false }],
      ['DELETE', `/api/webhooks/alert-rules/${RULE_ID}`],
    ] as const) {
      const response = await call(method, path, { groups: [], body });
      expect(response.statusCode, `${method} ${path}`).toBe(403);
    }
    expect(await alerts.listRules()).toEqual(before);
    expect(bus.published).toEqual([]);
  });

  it("creates the seed's rule, naming its creator, and announces it to the reconciler", async () => {
    const { call, alerts, bus } = setup();

    const response = await call('POST', '/api/webhooks/alert-rules', { body: SEED_RULE });

    expect(response.statusCode).toBe(201);
    expect(responseSchemas.alertRule.parse(response.json).rule).toEqual({
      id: NEW_ID,
      ...SEED_RULE,
      enabled: true,
      created_by: 'alice',
      created_at: NOW.toISOString(),
    });
    expect(alerts.rules.get(NEW_ID)?.userId).toBe('alice');
    expect(bus.published).toEqual([
      {
        source: 'webhooks.management',
        detailType: 'AlertRulesChanged',
        detail: { ruleId: NEW_ID, userId: 'alice', change: 'created' },
      },
    ]);
  });

  it('watches every provider when provider is null or absent, with the documented defaults', async () => {
    const { call } = setup();
    const { provider: _, time_window_minutes: __, notification_channels: ___, ...minimal } = SEED_RULE;
    const response = await call('POST', '/api/webhooks/alert-rules', { body: minimal });
    expect(response.statusCode).toBe(201);
    expect(response.json.rule).toMatchObject({
      provider: null,
      time_window_minutes: 5,
      notification_channels: [],
    });
  });

  it('refuses an invalid rule with one message per field', async () => {
    const { call, alerts, bus } = setup();
    const response = await call('POST', '/api/webhooks/alert-rules', {
      body: {
        ...SEED_RULE,
        metric: 'latency',
        comparison: 'equals',
        time_window_minutes: 0,
        notification_channels: ['pager'],
        colour: 'red',
      },
    });
    expect(response.statusCode).toBe(400);
    expect(Object.keys(errorBodySchema.parse(response.json).error.fields ?? {}).sort()).toEqual([
      'colour',
      'comparison',
      'metric',
      'notification_channels.0',
      'time_window_minutes',
    ]);
    expect(alerts.rules.size).toBe(2);
    expect(bus.published).toEqual([]);
  });

  it('refuses a rate threshold above 100 percent', async () => {
    const { call } = setup();
    const response = await call('POST', '/api/webhooks/alert-rules', {
      body: { ...SEED_RULE, metric: 'error_rate', threshold: 150 },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json.error.fields).toEqual({ threshold: 'A rate threshold is a percentage (0-100)' });
  });

  it("lists, reads, changes and deletes every operator's rules: they are the team's", async () => {
    const { call, bus } = setup();
    const list = await call('GET', '/api/webhooks/alert-rules');
    expect(
      responseSchemas.alertRules.parse(list.json).rules.map((rule) => [rule.id, rule.created_by]),
    ).toEqual([
      [RULE_ID, 'alice'],
      [BOB_RULE, 'bob'],
    ]);
    expect((await call('GET', `/api/webhooks/alert-rules/${BOB_RULE}`)).statusCode).toBe(200);
    const changed = await call('PATCH', `/api/webhooks/alert-rules/${BOB_RULE}`, { body: { threshold: 90 } });
    expect(changed.json.rule).toMatchObject({ threshold: 90, created_by: 'bob' });
    expect((await call('DELETE', `/api/webhooks/alert-rules/${BOB_RULE}`)).statusCode).toBe(204);
    expect(bus.published.map((event) => (event.detail as { change: string }).change)).toEqual([
      'updated',
      'deleted',
    ]);
    for (const [method, body] of [['GET'], ['PATCH', { threshold: 90 }], ['DELETE']] as const) {
      const response = await call(method, `/api/webhooks/alert-rules/${BOB_RULE}`, { body });
      expect(response.statusCode, method).toBe(404);
      expect(response.json.error.code).toBe('not_found');
    }
    expect((await call('GET', '/api/webhooks/alert-rules/not-a-uuid')).statusCode).toBe(404);
  });

  it('changes a rule, checking the changed rule as a whole, and announces it', async () => {
    const { call, bus } = setup();
    const changed = await call('PATCH', `/api/webhooks/alert-rules/${RULE_ID}`, {
      body: { threshold: 90, enabled: false },
    });
    expect(changed.statusCode).toBe(200);
    expect(responseSchemas.alertRule.parse(changed.json).rule).toMatchObject({
      threshold: 90,
      enabled: false,
      metric: 'success_rate',
    });
    expect(bus.published.map((event) => (event.detail as { change: string }).change)).toEqual(['updated']);

    await call('PATCH', `/api/webhooks/alert-rules/${RULE_ID}`, {
      body: { metric: 'event_volume', threshold: 500 },
    });
    const invalid = await call('PATCH', `/api/webhooks/alert-rules/${RULE_ID}`, {
      body: { metric: 'error_rate' },
    });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json.error.fields).toEqual({ threshold: 'A rate threshold is a percentage (0-100)' });
    expect((await call('PATCH', `/api/webhooks/alert-rules/${RULE_ID}`, { body: {} })).statusCode).toBe(400);
  });

  it('deletes a rule (204) and announces it', async () => {
    const { call, alerts, bus } = setup();
    const response = await call('DELETE', `/api/webhooks/alert-rules/${RULE_ID}`);
    expect(response.statusCode).toBe(204);
    expect(alerts.rules.has(RULE_ID)).toBe(false);
    expect(bus.published[0]?.detail).toEqual({ ruleId: RULE_ID, userId: 'alice', change: 'deleted' });
    expect((await call('DELETE', `/api/webhooks/alert-rules/${RULE_ID}`)).statusCode).toBe(404);
  });

  it('keeps the rule when the bus refuses the announcement (the reconcile schedule catches up)', async () => {
    const bus = new RecordingBus();
    bus.failing = true;
    const { call, alerts } = setup({ bus });
    const response = await call('POST', '/api/webhooks/alert-rules', { body: SEED_RULE });
    expect(response.statusCode).toBe(201);
    expect(alerts.rules.has(NEW_ID)).toBe(true);
  });

  it('needs a bearer token on every alerting route', async () => {
    const { call } = setup();
    for (const [method, path] of [
      ['POST', '/api/webhooks/alert-rules'],
      ['GET', '/api/webhooks/alert-rules'],
      ['GET', `/api/webhooks/alert-rules/${RULE_ID}`],
      ['GET', '/api/webhooks/alerts'],
      ['POST', `/api/webhooks/alerts/${RULE_ID}/acknowledge`],
    ]) {
      const response = await call(method as string, path as string, { user: null, body: SEED_RULE });
      expect(response.statusCode, `${method} ${path}`).toBe(401);
    }
  });
});

describe('alerts', () => {
  it("lists every alert to any operator, newest first, with the seed's snake_case columns", async () => {
    const { call } = setup();
    const response = await call('GET', '/api/webhooks/alerts', { user: 'carol' });
    expect(response.statusCode).toBe(200);
    const { alerts } = responseSchemas.alerts.parse(response.json);
    // Alice's and Bob's rules' alerts and the ops alarm's (4 and 5 share 2's time: by id then).
    expect(alerts.map((a) => a.id.slice(-1))).toEqual(['3', '5', '4', '2', '1']);
    expect(alerts.find((a) => a.id.endsWith('3'))).toEqual({
      id: '00000000-0000-4000-8000-000000000003',
      rule_id: RULE_ID,
      provider: 'hubspot',
      metric: 'success_rate',
      current_value: 80,
      threshold: 95,
      severity: 'warning',
      message: 'success_rate is 80% (rule: < 95%) over the last 15 min for hubspot',
      acknowledged: true,
      acknowledged_by: 'alice',
      acknowledged_at: '2026-03-01T10:20:00.000Z',
      created_at: '2026-03-01T10:10:00.000Z',
    });
  });

  it('filters by acknowledged, provider and time, and limits', async () => {
    const { call } = setup();
    const ids = async (query: Record<string, string>) =>
      (await call('GET', '/api/webhooks/alerts', { query })).json.alerts.map((a: { id: string }) =>
        a.id.slice(-1),
      );
    expect(await ids({ acknowledged: 'false' })).toEqual(['5', '4', '2', '1']);
    expect(await ids({ provider: 'shopify' })).toEqual(['1']);
    expect(await ids({ time_range: '1h' })).toEqual(['3', '5', '4', '2']);
    expect(await ids({ since: '2026-03-01T09:00:00Z', until: '2026-03-01T10:05:00Z' })).toEqual([
      '5',
      '4',
      '2',
    ]);
    expect(await ids({ limit: '1' })).toEqual(['3']);
    const invalid = await call('GET', '/api/webhooks/alerts', {
      query: { acknowledged: 'maybe', limit: '0' },
    });
    expect(invalid.statusCode).toBe(400);
    expect(Object.keys(invalid.json.error.fields).sort()).toEqual(['acknowledged', 'limit']);
  });

  it('shows a user outside the operators group no alert at all', async () => {
    const { call } = setup();
    const response = await call('GET', '/api/webhooks/alerts', { user: 'alice', groups: [] });
    expect(responseSchemas.alerts.parse(response.json).alerts).toEqual([]);
  });

  it("lets any operator acknowledge another operator's alert, once, recording who", async () => {
    const { call } = setup();
    // Alice's rule raised it; Bob acknowledges.
    const path = '/api/webhooks/alerts/00000000-0000-4000-8000-000000000002/acknowledge';

    const first = await call('POST', path, { user: 'bob' });
    expect(first.statusCode).toBe(200);
    expect(responseSchemas.alert.parse(first.json).alert).toMatchObject({
      acknowledged: true,
      acknowledged_by: 'bob',
      acknowledged_at: NOW.toISOString(),
    });
    const again = await call('POST', path, { user: 'alice' });
    expect(again.json).toEqual(first.json);

    const system = '/api/webhooks/alerts/00000000-0000-4000-8000-000000000005/acknowledge';
    expect((await call('POST', system, { user: 'carol', groups: [] })).statusCode).toBe(404);
    expect((await call('POST', system, { user: 'carol' })).statusCode).toBe(200);
    expect((await call('POST', '/api/webhooks/alerts/nope/acknowledge')).statusCode).toBe(404);
  });
});
