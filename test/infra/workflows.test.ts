import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type WebhooksConfigInput } from '../../lib/config';
import { buildTestApp, type SynthFixture } from './fixture';
import { type CfnResource, type Json, target } from './template';

const WORKFLOWS: WebhooksConfigInput['workflows'] = [
  {
    name: 'fulfillment',
    match: { provider: 'shopify', eventType: 'orders/create' },
    target: {
      type: 'https',
      endpoint: 'https://fulfillment.example.com/hooks/orders',
      authorization: { type: 'apiKey', headerName: 'X-Api-Key', secretName: 'workflows/fulfillment' },
    },
    retry: { maximumRetryAttempts: 3, maximumEventAgeSeconds: 600 },
  },
  {
    name: 'contact-update',
    match: { provider: 'hubspot', eventType: 'contact.*' },
    target: {
      type: 'sqs',
      queueArn: 'arn:aws:sqs:eu-west-1:123456789012:contact-updates.fifo',
      messageGroupId: 'contacts',
    },
  },
  {
    name: 'follow-up',
    match: {
      provider: 'salesforce',
      eventType: 'OpportunityChangeEvent',
      changeType: ['updated', 'created'],
    },
    target: { type: 'lambda', functionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:follow-up' },
  },
  {
    name: 'knowledge-base',
    match: {},
    target: {
      type: 'stepFunctions',
      stateMachineArn: 'arn:aws:states:eu-west-1:123456789012:stateMachine:refresh-knowledge-base',
    },
  },
];

let fixture: SynthFixture;
let resources: Record<string, CfnResource>;

beforeAll(() => {
  // With CloudFormation's schema validation on, as `cdk synth` does.
  fixture = buildTestApp({ workflows: WORKFLOWS }, { bundling: false });
  resources = Template.fromStack(fixture.stack).toJSON().Resources as Record<string, CfnResource>;
});

afterAll(() => fixture?.cleanup());

const ofType = (type: string) => Object.entries(resources).filter(([, resource]) => resource.Type === type);
const idOf = (construct: { node: { defaultChild?: unknown } } | unknown) =>
  fixture.stack.getLogicalId(
    ((construct as { node: { defaultChild?: unknown } }).node.defaultChild ?? construct) as never,
  );

function ruleOf(name: string): { pattern: Json; target: Json } {
  const workflow = fixture.stack.workflowTargets.workflows[name];
  if (!workflow) throw new Error(`no workflow ${name}`);
  const rule = resources[idOf(workflow.rule)]?.Properties as Json;
  const targets = rule.Targets as Json[];
  expect(targets).toHaveLength(1);
  expect(target(rule.EventBusName)).toBe(idOf(fixture.stack.workflowEvents.bus));
  return { pattern: rule.EventPattern as Json, target: targets[0] as Json };
}

describe('workflow targets', () => {
  it('matches each workflow on provider, event type or prefix, and change type', () => {
    expect(ruleOf('fulfillment').pattern).toEqual({
      source: ['webhooks.shopify'],
      detail: { eventType: ['orders/create'] },
    });
    expect(ruleOf('contact-update').pattern).toEqual({
      source: ['webhooks.hubspot'],
      detail: { eventType: [{ prefix: 'contact.' }] },
    });
    expect(ruleOf('follow-up').pattern).toEqual({
      source: ['webhooks.salesforce'],
      detail: { eventType: ['OpportunityChangeEvent'], changeType: ['updated', 'created'] },
    });
    expect(ruleOf('knowledge-base').pattern).toEqual({ source: [{ prefix: 'webhooks.' }] });
  });

  it('gives every target its retry policy and its own encrypted dead-letter queue', () => {
    for (const workflow of WORKFLOWS ?? []) {
      const { target: ruleTarget } = ruleOf(workflow.name);
      const parsed = parseConfig({ workflows: [workflow] }).workflows[0];
      expect(ruleTarget.RetryPolicy).toEqual({
        MaximumRetryAttempts: parsed?.retry.maximumRetryAttempts,
        MaximumEventAgeInSeconds: parsed?.retry.maximumEventAgeSeconds,
      });
      const dlq = fixture.stack.workflowTargets.workflows[workflow.name]?.deadLetterQueue;
      expect(target((ruleTarget.DeadLetterConfig as Json).Arn)).toBe(idOf(dlq));
      expect(resources[idOf(dlq)]?.Properties).toMatchObject({ SqsManagedSseEnabled: true });
    }
    expect(ofType('AWS::SQS::QueuePolicy').length).toBeGreaterThanOrEqual(WORKFLOWS?.length ?? 0);
  });

  it('calls an HTTPS endpoint through an API destination whose connection reads the key from Secrets Manager', () => {
    const [[connectionId, connection]] = ofType('AWS::Events::Connection') as [[string, CfnResource]];
    expect(connection.Properties).toMatchObject({
      AuthorizationType: 'API_KEY',
      AuthParameters: {
        ApiKeyAuthParameters: {
          ApiKeyName: 'X-Api-Key',
          ApiKeyValue: '{{resolve:secretsmanager:workflows/fulfillment:SecretString:::}}',
        },
      },
    });
    const [[destinationId, destination]] = ofType('AWS::Events::ApiDestination') as [[string, CfnResource]];
    expect(destination.Properties).toMatchObject({
      InvocationEndpoint: 'https://fulfillment.example.com/hooks/orders',
      HttpMethod: 'POST',
      InvocationRateLimitPerSecond: 300,
    });
    expect(target(destination.Properties?.ConnectionArn)).toBe(connectionId);
    expect(target(ruleOf('fulfillment').target.Arn)).toBe(destinationId);
  });

  it('sends to a FIFO queue with its group, invokes the function and starts the state machine', () => {
    expect(ruleOf('contact-update').target).toMatchObject({
      Arn: 'arn:aws:sqs:eu-west-1:123456789012:contact-updates.fifo',
      SqsParameters: { MessageGroupId: 'contacts' },
    });
    expect(ruleOf('follow-up').target.Arn).toBe('arn:aws:lambda:eu-west-1:123456789012:function:follow-up');
    expect(
      ofType('AWS::Lambda::Permission').some(([, p]) => p.Properties?.Principal === 'events.amazonaws.com'),
    ).toBe(true);
    expect(ruleOf('knowledge-base').target.Arn).toBe(
      'arn:aws:states:eu-west-1:123456789012:stateMachine:refresh-knowledge-base',
    );
  });

  it('stays clean under cdk-nag', () => {
    const result = new AwsSolutionsChecks().validateScope(fixture.app);
    expect(
      result.violations.map((v) => `${v.ruleName} ${v.violatingResources.map((r) => r.constructPath)}`),
    ).toEqual([]);
  });
});

describe('workflow configuration', () => {
  it('refuses plain http endpoints, FIFO queues without a group, repeated names and unknown providers', () => {
    const invalid = (workflows: unknown) => () => parseConfig({ workflows });
    const https = WORKFLOWS?.[0] as Record<string, unknown>;
    expect(
      invalid([{ ...https, target: { ...(https.target as Json), endpoint: 'http://x.example.com' } }]),
    ).toThrow(/must be an https URL[\s\S]*workflows\[0\]\.target\.endpoint/);
    expect(
      invalid([
        { name: 'q', target: { type: 'sqs', queueArn: 'arn:aws:sqs:eu-west-1:123456789012:q.fifo' } },
      ]),
    ).toThrow(/messageGroupId/);
    expect(invalid([https, { ...https, name: 'Fulfillment' }])).toThrow(/must not repeat a workflow name/);
    expect(invalid([{ ...https, match: { provider: 'stripe' } }])).toThrow(/workflows\[0\]\.match\.provider/);
  });
});
