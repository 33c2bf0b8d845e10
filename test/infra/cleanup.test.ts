import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type SynthFixture } from './fixture';
import { actionsOf, type CfnResource, type Json, target, templateReader } from './template';

let fixture: SynthFixture;
let resources: Record<string, CfnResource>;

beforeAll(() => {
  fixture = buildTestApp({ alertRetentionDays: 120, metricsRetentionDays: 14 }, { bundling: false });
  resources = Template.fromStack(fixture.stack).toJSON().Resources as Record<string, CfnResource>;
});

afterAll(() => fixture?.cleanup());

const { ofType, props, logicalId } = templateReader(
  () => resources,
  () => fixture.stack,
);

describe('cleanup job', () => {
  it('runs every hour with the configured retention and reaches the database through the Data API only', () => {
    const fn = logicalId(fixture.stack.cleanup.function);
    expect(props(fn).Environment).toMatchObject({
      Variables: { ALERT_RETENTION_DAYS: '120', METRICS_RETENTION_DAYS: '14' },
    });
    const rule = props(logicalId(fixture.stack.cleanup.rule));
    expect(rule.ScheduleExpression).toBe('rate(1 hour)');
    const [ruleTarget] = rule.Targets as Json[];
    expect(target(ruleTarget?.Arn)).toBe(fn);
    expect(ruleTarget?.RetryPolicy).toMatchObject({ MaximumRetryAttempts: 0 });

    const roleId = target(props(fn).Role);
    const actions = ofType('AWS::IAM::Policy')
      .filter(([id]) => (props(id).Roles as unknown[]).some((role) => target(role) === roleId))
      .flatMap(([id]) => (props(id).PolicyDocument as { Statement: Json[] }).Statement)
      .flatMap(actionsOf);
    expect(actions).toContain('rds-data:ExecuteStatement');
    expect(actions.filter((action) => !/^(rds-data|secretsmanager|logs):/.test(action))).toEqual([]);
  });
});
