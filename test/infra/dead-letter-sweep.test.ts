import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRIORITIES } from '../../lib/config';
import { buildTestApp, type SynthFixture } from './fixture';
import { actionsOf, type CfnResource, type Json, resourcesOf, target, templateReader } from './template';

let fixture: SynthFixture;
let resources: Record<string, CfnResource>;

beforeAll(() => {
  fixture = buildTestApp({ eventLogRetentionDays: 20 }, { bundling: false });
  resources = Template.fromStack(fixture.stack).toJSON().Resources as Record<string, CfnResource>;
});

afterAll(() => fixture?.cleanup());

const { ofType, props, logicalId } = templateReader(
  () => resources,
  () => fixture.stack,
);

describe('DLQ sweep', () => {
  it('runs every minute, one run at a time, never retried', () => {
    const fn = logicalId(fixture.stack.deadLetterSweep.function);
    expect(props(fn).ReservedConcurrentExecutions).toBe(1);
    const rule = props(logicalId(fixture.stack.deadLetterSweep.rule));
    expect(rule.ScheduleExpression).toBe('rate(1 minute)');
    const [ruleTarget] = rule.Targets as Json[];
    expect(target(ruleTarget?.Arn)).toBe(fn);
    expect(ruleTarget?.RetryPolicy).toMatchObject({ MaximumRetryAttempts: 0 });
  });

  it('reads and releases the DLQs only, and may only update event log items and push to dashboards', () => {
    const fn = logicalId(fixture.stack.deadLetterSweep.function);
    const variables = (props(fn).Environment as { Variables: Record<string, Json> }).Variables;
    expect(variables.EVENT_LOG_RETENTION_DAYS).toBe('20');
    const dlqs = PRIORITIES.map((priority) => logicalId(fixture.stack.queues.queues[priority].dlq));
    for (const [index, priority] of PRIORITIES.entries())
      expect(target(variables[`DLQ_URL_${priority.toUpperCase()}`])).toBe(dlqs[index]);

    const roleId = target(props(fn).Role);
    const statements = ofType('AWS::IAM::Policy')
      .filter(([id]) => (props(id).Roles as unknown[]).some((role) => target(role) === roleId))
      .flatMap(([id]) => (props(id).PolicyDocument as { Statement: Json[] }).Statement);
    const sqs = statements.filter((statement) =>
      actionsOf(statement).some((action) => action.startsWith('sqs:')),
    );
    expect(new Set(sqs.flatMap(actionsOf))).toEqual(
      new Set([
        'sqs:ReceiveMessage',
        'sqs:ChangeMessageVisibility',
        'sqs:GetQueueAttributes',
        'sqs:ListMessageMoveTasks',
      ]),
    );
    expect(new Set(sqs.flatMap(resourcesOf).map(target))).toEqual(new Set(dlqs));
    const eventLog = logicalId(fixture.stack.storage.eventLog);
    const onEventLog = statements.filter((statement) =>
      resourcesOf(statement).some((resource) => JSON.stringify(resource).includes(`"${eventLog}"`)),
    );
    expect(onEventLog.flatMap(actionsOf)).toEqual(['dynamodb:UpdateItem']);
  });
});
