import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebhooksConfigInput } from '../../lib/config';
import { ALERT_RULES_CHANGED, cfnAlarmPropsOf } from '../../lib/constructs/alerting';
import { HouseFunction } from '../../lib/constructs/house-function';
import { alarmOf } from '../../shared/alerts/alarms';
import { alertRuleSchema, ruleFromBody } from '../../shared/alerts/rules';
import { PRIORITIES, PROVIDER_NAMES } from '../../shared/envelope';
import { buildTestApp, type SynthFixture, TEST_REGION } from './fixture';
import { actionsOf, type CfnResource, type Json, resourcesOf, target, templateReader } from './template';

const PREFIX = 'Webhooks-prod-';
const SILENCE_INPUT_PREFIX = 'Webhooks-prod.input.';

const CONFIG: WebhooksConfigInput = {
  alerting: {
    emails: ['oncall@example.com', 'lead@example.com'],
    smsNumbers: ['+15555550100'],
    webhookUrls: ['https://hooks.example.com/alerts'],
    chatbot: { slackWorkspaceId: 'T07EA123LEP', slackChannelId: 'C07EZ1ABC23' },
    defaultRules: [
      {
        name: 'Shopify errors',
        provider: 'shopify',
        metric: 'error_rate',
        threshold: 5,
        comparison: 'greater_than',
        time_window_minutes: 15,
        notification_channels: ['email', 'sms', 'slack'],
      },
      { name: 'Paused', metric: 'event_volume', threshold: 1, comparison: 'less_than', enabled: false },
      { name: 'All slow', metric: 'processing_time', threshold: 2000, comparison: 'greater_than_or_equal' },
    ],
    providerSilentMinutes: 30,
    queueAgeAlarmSeconds: 600,
    api5xxRatePercent: 2,
    wafBlockedRequestsPer5Minutes: 250,
  },
};

let fixture: SynthFixture;
let resources: Record<string, CfnResource>;
let outputs: Record<string, { Value: unknown }>;

beforeAll(() => {
  // Resources and properties only: bundling adds nothing read here (stack.test.ts bundles).
  fixture = buildTestApp(CONFIG, { bundling: false });
  const template = Template.fromStack(fixture.stack).toJSON();
  resources = template.Resources as Record<string, CfnResource>;
  outputs = template.Outputs as Record<string, { Value: unknown }>;
});

const { ofType, props, env, logicalId, functionOf, statementsOf } = templateReader(
  () => resources,
  () => fixture.stack,
);

afterAll(() => fixture?.cleanup());

const ref = (construct: { node: { defaultChild?: unknown } }) => ({ Ref: logicalId(construct) });
const arnOf = (construct: { node: { defaultChild?: unknown } }) => ({
  'Fn::GetAtt': [logicalId(construct), 'Arn'],
});
const json = (value: unknown) => JSON.stringify(value);

/** resource (JSON) -> the sorted actions granted on it, over every statement of the function's role. */
function grantsOf(functionId: string): Map<string, string[]> {
  const on = new Map<string, Set<string>>();
  for (const statement of statementsOf(functionId)) {
    expect(statement.Effect).toBe('Allow');
    // The one conditioned grant: the secrets key, on config secrets only (asserted in stack.test.ts).
    if (statement.Condition !== undefined) {
      expect(resourcesOf(statement)).toEqual([arnOf(fixture.stack.storage.secretsKey)]);
      continue;
    }
    for (const resource of resourcesOf(statement)) {
      const actions = on.get(json(resource)) ?? new Set<string>();
      for (const action of actionsOf(statement)) actions.add(action);
      on.set(json(resource), actions);
    }
  }
  return new Map([...on].map(([resource, actions]) => [resource, [...actions].sort()]));
}

function alarmNamed(name: string): Json {
  const matches = ofType('AWS::CloudWatch::Alarm').filter(
    ([, alarm]) => alarm.Properties?.AlarmName === name,
  );
  expect(matches, name).toHaveLength(1);
  return matches[0]?.[1].Properties as Json;
}

const alarmArns = {
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      `:cloudwatch:${TEST_REGION}:`,
      { Ref: 'AWS::AccountId' },
      `:alarm:${PREFIX}*`,
    ],
  ],
};

const clusterArn = () => fixture.stack.resolve(fixture.stack.database.cluster.clusterArn);
const dbSecret = () => fixture.stack.resolve(fixture.stack.database.secret.secretArn);
const logGroupOf = (fn: string) => ({
  'Fn::GetAtt': [target((props(fn).LoggingConfig as Json).LogGroup), 'Arn'],
});
const DATA_API = [
  'rds-data:BatchExecuteStatement',
  'rds-data:BeginTransaction',
  'rds-data:CommitTransaction',
  'rds-data:ExecuteStatement',
  'rds-data:RollbackTransaction',
];
const SECRET_READ = ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'];
const LOG_WRITE = ['logs:CreateLogStream', 'logs:PutLogEvents'];

describe('alarm topics', () => {
  it('encrypts the default, email and SMS topics with a rotating key CloudWatch may use', () => {
    const { alerting } = fixture.stack;
    const keyId = logicalId(alerting.topicsKey);
    expect(props(keyId).EnableKeyRotation).toBe(true);
    const keyStatements = (props(keyId).KeyPolicy as { Statement: Json[] }).Statement;
    expect(keyStatements).toContainEqual(
      expect.objectContaining({
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      }),
    );
    expect(ofType('AWS::SNS::Topic')).toHaveLength(3);
    for (const topic of [alerting.defaultTopic, alerting.emailTopic, alerting.smsTopic]) {
      expect(props(logicalId(topic)).KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
    }
  });

  it('refuses publishing without TLS and lets only CloudWatch alarms of the stack publish', () => {
    const policies = ofType('AWS::SNS::TopicPolicy');
    expect(policies).toHaveLength(3);
    for (const [id] of policies) {
      const [topicRef] = props(id).Topics as unknown[];
      const statements = (props(id).PolicyDocument as { Statement: Json[] }).Statement;
      expect(statements).toContainEqual({
        Sid: 'AllowPublishThroughSSLOnly',
        Effect: 'Deny',
        Principal: '*',
        Action: 'sns:Publish',
        Resource: topicRef,
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      });
      expect(statements).toContainEqual({
        Sid: 'AllowStackAlarmsToPublish',
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: 'sns:Publish',
        Resource: topicRef,
        Condition: {
          StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
          ArnLike: { 'aws:SourceArn': alarmArns },
        },
      });
    }
  });

  it('subscribes the configured addresses to the email topic and the numbers to the SMS topic', () => {
    const subscriptions = ofType('AWS::SNS::Subscription').map(([, s]) => s.Properties);
    const { alerting } = fixture.stack;
    expect(subscriptions).toHaveLength(3);
    expect(subscriptions).toEqual(
      expect.arrayContaining([
        { Protocol: 'email', Endpoint: 'oncall@example.com', TopicArn: ref(alerting.emailTopic) },
        { Protocol: 'email', Endpoint: 'lead@example.com', TopicArn: ref(alerting.emailTopic) },
        { Protocol: 'sms', Endpoint: '+15555550100', TopicArn: ref(alerting.smsTopic) },
      ]),
    );
  });

  it('posts the default topic to the configured Slack channel through AWS Chatbot', () => {
    const [[, channel] = []] = ofType('AWS::Chatbot::SlackChannelConfiguration');
    expect(channel?.Properties).toMatchObject({
      // Account-wide names carry the region too.
      ConfigurationName: `${PREFIX}${TEST_REGION}-alarms`,
      LoggingLevel: 'NONE',
      SlackWorkspaceId: 'T07EA123LEP',
      SlackChannelId: 'C07EZ1ABC23',
      SnsTopicArns: [ref(fixture.stack.alerting.defaultTopic)],
    });
    // The channel role may do nothing itself.
    const roleId = target(channel?.Properties?.IamRoleArn);
    expect(props(roleId).ManagedPolicyArns).toBeUndefined();
    expect(ofType('AWS::IAM::Policy').filter(([id]) => json(props(id).Roles).includes(roleId))).toEqual([]);
  });
});

describe('default rules', () => {
  it('become exactly the alarms the reconciler writes for the same rules, named default-<index>', () => {
    const { alerting } = fixture.stack;
    const topics = {
      default: alerting.defaultTopic.topicArn,
      email: alerting.emailTopic.topicArn,
      sms: alerting.smsTopic.topicArn,
    };
    for (const index of [0, 2]) {
      const body = alertRuleSchema.parse(CONFIG.alerting?.defaultRules?.[index]);
      const expected = alarmOf(ruleFromBody(body, `default-${index}`, null, ''), {
        prefix: PREFIX,
        namespace: 'Webhooks',
        topics,
      });
      expected.AlarmName = `${PREFIX}default-${index}`;
      // CloudFormation spells the alarm as PutMetricAlarm does; empty action lists and tags are left out.
      const { Tags, OKActions, InsufficientDataActions, ...fields } = expected;
      expect(Tags).toEqual([{ Key: 'webhooks:rule-id', Value: `default-${index}` }]);
      expect([OKActions, InsufficientDataActions]).toEqual([[], []]);
      expect(alarmNamed(`${PREFIX}default-${index}`)).toEqual(fixture.stack.resolve(fields));
      expect(fixture.stack.resolve(cfnAlarmPropsOf(expected))).toMatchObject({
        alarmName: expected.AlarmName,
      });
    }
  });

  it('watches the error rate of one provider over its window and notifies the rule channels', () => {
    const alarm = alarmNamed(`${PREFIX}default-0`);
    const { alerting } = fixture.stack;
    expect(alarm).toMatchObject({
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 5,
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [ref(alerting.defaultTopic), ref(alerting.emailTopic), ref(alerting.smsTopic)],
    });
    const metrics = alarm.Metrics as Json[];
    const stats = metrics.filter((m) => m.MetricStat).map((m) => m.MetricStat as Json);
    expect(stats.map((s) => [(s.Metric as Json).MetricName, s.Period, s.Stat])).toEqual([
      ['EventsProcessed', 900, 'Sum'],
      ['EventsDead', 900, 'Sum'],
    ]);
    for (const stat of stats) {
      expect(stat.Metric).toMatchObject({
        Namespace: 'Webhooks',
        Dimensions: [{ Name: 'provider', Value: 'shopify' }],
      });
    }
    expect(metrics.find((m) => m.ReturnData === true)?.Expression).toMatch(
      /100 \* \(FILL\(dead_shopify, 0\)\)/,
    );
  });

  it('adds up every provider for a rule without one, and sends a rule without channels to the default topic only', () => {
    const alarm = alarmNamed(`${PREFIX}default-2`);
    expect(alarm.AlarmActions).toEqual([ref(fixture.stack.alerting.defaultTopic)]);
    expect(alarm.ComparisonOperator).toBe('GreaterThanOrEqualToThreshold');
    const providers = (alarm.Metrics as Json[])
      .filter((m) => m.MetricStat)
      .map((m) => ((m.MetricStat as Json).Metric as { Dimensions: Json[] }).Dimensions[0]?.Value);
    expect(new Set(providers)).toEqual(new Set(PROVIDER_NAMES));
  });

  it('creates no alarm for a disabled rule', () => {
    const names = ofType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties?.AlarmName as string);
    expect(names.filter((name) => name.startsWith(`${PREFIX}default-`)).sort()).toEqual([
      `${PREFIX}default-0`,
      `${PREFIX}default-2`,
    ]);
  });
});

describe('ops alarms', () => {
  const allTopics = () => {
    const { alerting } = fixture.stack;
    return [ref(alerting.defaultTopic), ref(alerting.emailTopic), ref(alerting.smsTopic)];
  };

  it('names every alarm of the stack with the prefix the recorder listens for and notifies the default topic', () => {
    const alarms = [...ofType('AWS::CloudWatch::Alarm'), ...ofType('AWS::CloudWatch::CompositeAlarm')];
    expect(alarms.length).toBeGreaterThan(0);
    for (const [, alarm] of alarms) {
      const name = alarm.Properties?.AlarmName as string;
      if (name.startsWith(SILENCE_INPUT_PREFIX)) {
        // The inputs of the silence alarms: outside the recorded prefix, and notifying nobody.
        expect(alarm.Properties?.AlarmActions).toBeUndefined();
        continue;
      }
      expect(name).toMatch(new RegExp(`^${PREFIX}(ops|default)-`));
      expect(alarm.Properties?.AlarmActions).toContainEqual(ref(fixture.stack.alerting.defaultTopic));
    }
  });

  it.each(PRIORITIES)('alarms as soon as the %s DLQ holds a message', (priority) => {
    const { dlq } = fixture.stack.queues.queues[priority];
    expect(alarmNamed(`${PREFIX}ops-dlq-${priority}`)).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(dlq), 'QueueName'] } }],
      Statistic: 'Maximum',
      Period: 60,
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: allTopics(),
    });
  });

  it.each(PRIORITIES)(
    'alarms when the oldest message of the %s queue is older than configured',
    (priority) => {
      const { queue } = fixture.stack.queues.queues[priority];
      expect(alarmNamed(`${PREFIX}ops-queue-age-${priority}`)).toMatchObject({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(queue), 'QueueName'] } }],
        Statistic: 'Maximum',
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 600,
        AlarmActions: allTopics(),
      });
    },
  );

  it('alarms on any error and any throttle of every function of the stack', () => {
    const houseFunctions = fixture.stack.node.findAll().filter((node) => node instanceof HouseFunction);
    const functionIds = houseFunctions.map((fn) => logicalId(fn));
    expect(functionIds.length).toBe(
      ofType('AWS::Lambda::Function').filter(([id]) => env(id).POWERTOOLS_SERVICE_NAME !== undefined).length,
    );
    const alarms = ofType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties as Json);
    for (const id of functionIds) {
      for (const metric of ['Errors', 'Throttles']) {
        const matching = alarms.filter(
          (a) =>
            a.Namespace === 'AWS/Lambda' &&
            a.MetricName === metric &&
            json(a.Dimensions) === json([{ Name: 'FunctionName', Value: { Ref: id } }]),
        );
        expect(matching, `${metric} of ${id}`).toHaveLength(1);
        expect(matching[0]).toMatchObject({
          Statistic: 'Sum',
          Period: 300,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          Threshold: 1,
          TreatMissingData: 'notBreaching',
          AlarmActions: allTopics(),
        });
      }
    }
    expect(alarmNamed(`${PREFIX}ops-errors-Alerting-RecordFunction`).MetricName).toBe('Errors');
  });

  it('alarms on the share of 5xx answers of the webhook API stage', () => {
    const alarm = alarmNamed(`${PREFIX}ops-api-5xx`);
    expect(alarm).toMatchObject({ ComparisonOperator: 'GreaterThanThreshold', Threshold: 2 });
    const metrics = alarm.Metrics as Json[];
    expect(metrics.find((m) => m.ReturnData !== false)?.Expression).toBe(
      'IF(requests > 0, 100 * errors / requests)',
    );
    const stage = { Ref: logicalId(fixture.stack.ingestion.api.deploymentStage) };
    for (const [id, name] of [
      ['errors', '5XXError'],
      ['requests', 'Count'],
    ]) {
      expect(metrics.find((m) => m.Id === id)?.MetricStat).toMatchObject({
        Metric: {
          Namespace: 'AWS/ApiGateway',
          MetricName: name,
          Dimensions: expect.arrayContaining([{ Name: 'Stage', Value: stage }]),
        },
        Stat: 'Sum',
        Period: 300,
      });
    }
  });

  it('alarms on a spike of requests blocked by the web ACL', () => {
    expect(alarmNamed(`${PREFIX}ops-waf-blocked`)).toMatchObject({
      Namespace: 'AWS/WAFV2',
      MetricName: 'BlockedRequests',
      Dimensions: expect.arrayContaining([
        { Name: 'Rule', Value: 'ALL' },
        {
          Name: 'WebACL',
          Value: {
            'Fn::Select': [0, { 'Fn::Split': ['|', fixture.stack.resolve(fixture.stack.edge.webAcl.ref)] }],
          },
        },
      ]),
      Statistic: 'Sum',
      Period: 300,
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 250,
    });
  });

  it.each(PROVIDER_NAMES)(
    'pages when %s sends nothing for the configured time, only once it has delivered in the last 7 days',
    (provider) => {
      const [[, composite] = []] = ofType('AWS::CloudWatch::CompositeAlarm').filter(
        ([, alarm]) => alarm.Properties?.AlarmName === `${PREFIX}ops-silent-${provider}`,
      );
      const idOf = (name: string) =>
        ofType('AWS::CloudWatch::Alarm').find(([, alarm]) => alarm.Properties?.AlarmName === name)?.[0];
      const arn = (name: string) => ({ 'Fn::GetAtt': [idOf(name), 'Arn'] });
      expect(composite?.Properties).toMatchObject({
        AlarmRule: {
          'Fn::Join': [
            '',
            [
              '(ALARM("',
              arn(`${SILENCE_INPUT_PREFIX}silent-${provider}-30m`),
              '") AND OK("',
              arn(`${SILENCE_INPUT_PREFIX}silent-${provider}-7d`),
              '"))',
            ],
          ],
        },
        AlarmActions: allTopics(),
      });
      // 30 minutes: six 5-minute datapoints, every one empty; no data at all is silence.
      const recent = alarmNamed(`${SILENCE_INPUT_PREFIX}silent-${provider}-30m`);
      expect(recent).toMatchObject({
        ComparisonOperator: 'LessThanThreshold',
        Threshold: 1,
        EvaluationPeriods: 6,
        DatapointsToAlarm: 6,
        TreatMissingData: 'breaching',
      });
      // Before the first delivery (no data in 7 days) this one is in ALARM, not OK: the composite
      // cannot page on day one.
      const week = alarmNamed(`${SILENCE_INPUT_PREFIX}silent-${provider}-7d`);
      expect(week).toMatchObject({
        ComparisonOperator: 'LessThanThreshold',
        Threshold: 1,
        EvaluationPeriods: 168,
        DatapointsToAlarm: 168,
        TreatMissingData: 'breaching',
      });
      for (const [alarm, period] of [
        [recent, 300],
        [week, 3600],
      ] as const) {
        const stats = (alarm.Metrics as Json[]).filter((m) => m.MetricStat).map((m) => m.MetricStat as Json);
        expect(stats.map((s) => (s.Metric as Json).MetricName).sort()).toEqual([
          'EventsDead',
          'EventsProcessed',
        ]);
        for (const stat of stats) {
          expect(stat).toMatchObject({
            Metric: { Namespace: 'Webhooks', Dimensions: [{ Name: 'provider', Value: provider }] },
            Stat: 'Sum',
            Period: period,
          });
        }
      }
    },
  );

  it('pages on day one only for what is broken: every other alarm treats missing data as fine', () => {
    for (const [, alarm] of ofType('AWS::CloudWatch::Alarm')) {
      const name = alarm.Properties?.AlarmName as string;
      if (name.startsWith(SILENCE_INPUT_PREFIX)) continue;
      // Rule alarms: a window without events never breaches a rate or time rule (README, Alerting).
      expect(alarm.Properties?.TreatMissingData, name).toBe('notBreaching');
    }
  });
});

describe('alert lifecycle functions', () => {
  it('runs the reconciler on rule changes from the management API on the domain bus and every 15 minutes', () => {
    const reconciler = functionOf('alerts-reconcile');
    const rules = ofType('AWS::Events::Rule').filter(([, rule]) =>
      json(rule.Properties?.Targets).includes(`"${reconciler}"`),
    );
    expect(rules.map(([, r]) => r.Properties?.ScheduleExpression ?? r.Properties?.EventPattern)).toEqual(
      expect.arrayContaining([
        'rate(15 minutes)',
        { source: [ALERT_RULES_CHANGED.source], 'detail-type': [ALERT_RULES_CHANGED.detailType] },
      ]),
    );
    expect(rules).toHaveLength(2);
    const onBus = rules.find(([, r]) => r.Properties?.EventPattern);
    expect(onBus?.[1].Properties?.EventBusName).toEqual(ref(fixture.stack.workflowEvents.bus));
  });

  it("runs the recorder on state changes of the system's alarms on the default bus", () => {
    const recorder = functionOf('alerts-record');
    const rules = ofType('AWS::Events::Rule').filter(([, rule]) =>
      json(rule.Properties?.Targets).includes(`"${recorder}"`),
    );
    expect(rules).toHaveLength(1);
    expect(rules[0]?.[1].Properties).toMatchObject({
      EventPattern: {
        source: ['aws.cloudwatch'],
        'detail-type': ['CloudWatch Alarm State Change'],
        detail: { alarmName: [{ prefix: PREFIX }] },
      },
    });
    expect(rules[0]?.[1].Properties?.EventBusName).toBeUndefined();
  });

  it('lets each rule invoke its function and nothing else invoke them', () => {
    for (const service of ['alerts-reconcile', 'alerts-record']) {
      const fn = functionOf(service);
      const permissions = ofType('AWS::Lambda::Permission').filter(
        ([, p]) => target(p.Properties?.FunctionName) === fn,
      );
      expect(permissions.length, service).toBe(service === 'alerts-reconcile' ? 2 : 1);
      for (const [, p] of permissions) {
        expect(p.Properties).toMatchObject({ Principal: 'events.amazonaws.com' });
        expect(resources[target(p.Properties?.SourceArn)]?.Type).toBe('AWS::Events::Rule');
      }
    }
  });

  it('gives the reconciler the database, the alarm prefix, the namespace and the topics per channel', () => {
    const { alerting } = fixture.stack;
    const variables = env(functionOf('alerts-reconcile'));
    expect(variables).toMatchObject({
      ALARM_PREFIX: PREFIX,
      METRICS_NAMESPACE: 'Webhooks',
      DB_CLUSTER_ARN: clusterArn(),
      DB_SECRET_ARN: dbSecret(),
      DB_NAME: 'webhooks',
    });
    expect(json(variables.ALARM_TOPIC_ARNS_JSON)).toBe(
      json(
        fixture.stack.resolve(
          fixture.stack.toJsonString({
            default: alerting.defaultTopic.topicArn,
            email: alerting.emailTopic.topicArn,
            sms: alerting.smsTopic.topicArn,
          }),
        ),
      ),
    );
  });

  it('lets the reconciler manage alarms under the prefix and read the database, nothing else', () => {
    const fn = functionOf('alerts-reconcile');
    expect(grantsOf(fn)).toEqual(
      new Map([
        [json(logGroupOf(fn)), LOG_WRITE],
        [json(clusterArn()), DATA_API],
        [json(dbSecret()), SECRET_READ],
        [
          json(alarmArns),
          [
            'cloudwatch:DeleteAlarms',
            'cloudwatch:DescribeAlarms',
            'cloudwatch:ListTagsForResource',
            'cloudwatch:PutMetricAlarm',
            'cloudwatch:TagResource',
          ],
        ],
      ]),
    );
  });

  it('gives the recorder the database, the connections, the WebSocket endpoint, the channels and the dashboard link', () => {
    const { alerting, storage, realtime } = fixture.stack;
    const variables = env(functionOf('alerts-record'));
    expect(variables).toMatchObject({
      ALARM_PREFIX: PREFIX,
      DB_CLUSTER_ARN: clusterArn(),
      DB_SECRET_ARN: dbSecret(),
      DB_NAME: 'webhooks',
      CONNECTIONS_TABLE: ref(storage.connections),
      SLACK_WEBHOOK_SECRET_ARN: ref(alerting.slackWebhookSecret as never),
      ALERT_WEBHOOK_SIGNING_SECRET_ARN: ref(alerting.webhookSigningSecret as never),
      ALERT_WEBHOOK_URLS_JSON: '["https://hooks.example.com/alerts"]',
    });
    // Every default rule, the disabled one too, so that default-<index> finds its rule.
    const rules = JSON.parse(variables.DEFAULT_ALERT_RULES_JSON as string) as { name: string }[];
    expect(rules.map((rule) => rule.name)).toEqual(['Shopify errors', 'Paused', 'All slow']);
    expect(json(variables.WEBSOCKET_ENDPOINT)).toBe(json(fixture.stack.resolve(realtime.callbackUrl)));
    expect(json(variables.DASHBOARD_URL)).toBe(json(fixture.stack.resolve(fixture.stack.dashboard.url)));
  });

  it('lets the recorder read the database and its secrets, fan out to connections and push, nothing else', () => {
    const fn = functionOf('alerts-record');
    const { alerting, storage, realtime } = fixture.stack;
    const connections = arnOf(storage.connections);
    const read = [
      'dynamodb:BatchGetItem',
      'dynamodb:ConditionCheckItem',
      'dynamodb:DescribeTable',
      'dynamodb:GetItem',
      'dynamodb:Query',
      'dynamodb:Scan',
    ];
    // POST to push, DELETE to close a connection whose token expired.
    const [postToConnections, deleteConnections] = ['POST', 'DELETE'].map((method) =>
      fixture.stack.resolve(
        fixture.stack.formatArn({
          service: 'execute-api',
          resource: realtime.api.apiId,
          resourceName: `${realtime.stage.stageName}/${method}/@connections/*`,
        }),
      ),
    );
    expect(grantsOf(fn)).toEqual(
      new Map([
        [json(logGroupOf(fn)), LOG_WRITE],
        [json(clusterArn()), DATA_API],
        [json(dbSecret()), SECRET_READ],
        [json(ref(alerting.slackWebhookSecret as never)), SECRET_READ],
        [json(ref(alerting.webhookSigningSecret as never)), SECRET_READ],
        [json(connections), [...read, 'dynamodb:DeleteItem'].sort()],
        [json({ 'Fn::Join': ['', [connections, '/index/byUser']] }), [...read, 'dynamodb:DeleteItem'].sort()],
        // Alerts are the team's: pushed to operators, found through the byRole index.
        [json({ 'Fn::Join': ['', [connections, '/index/byRole']] }), [...read, 'dynamodb:DeleteItem'].sort()],
        [json(postToConnections), ['execute-api:ManageConnections']],
        [json(deleteConnections), ['execute-api:ManageConnections']],
      ]),
    );
  });

  it('creates the Slack secret blank (no Slack post until it is set) and the webhook signing key random', () => {
    const { alerting } = fixture.stack;
    expect(props(logicalId(alerting.slackWebhookSecret as never))).toMatchObject({ SecretString: ' ' });
    expect(props(logicalId(alerting.webhookSigningSecret as never))).toMatchObject({
      GenerateSecretString: { PasswordLength: 48, ExcludePunctuation: true },
    });
  });
});

describe('management function and alert rules', () => {
  it('gets the database and may put events on the domain bus only', () => {
    const fn = functionOf('api-management');
    expect(env(fn)).toMatchObject({
      DB_CLUSTER_ARN: clusterArn(),
      DB_SECRET_ARN: dbSecret(),
      DB_NAME: 'webhooks',
      EVENT_BUS_NAME: ref(fixture.stack.workflowEvents.bus),
    });
    const grants = grantsOf(fn);
    expect(grants.get(json(arnOf(fixture.stack.workflowEvents.bus)))).toEqual(['events:PutEvents']);
    expect(grants.get(json(clusterArn()))).toEqual(DATA_API);
    expect(grants.get(json(dbSecret()))).toEqual(SECRET_READ);
    const events = statementsOf(fn).filter((s) => actionsOf(s).some((a) => a.startsWith('events:')));
    expect(events.flatMap(resourcesOf)).toEqual([arnOf(fixture.stack.workflowEvents.bus)]);
  });
});

describe('dashboard and outputs', () => {
  it('draws the whole system on one dashboard', () => {
    const dashboards = ofType('AWS::CloudWatch::Dashboard');
    expect(dashboards).toHaveLength(1);
    const dashboard = dashboards[0]?.[1].Properties as Json;
    expect(dashboard.DashboardName).toBe(`${PREFIX}${TEST_REGION}-overview`);
    const body = json(dashboard.DashboardBody);
    for (const namespace of ['AWS/ApiGateway', 'AWS/WAFV2', 'Webhooks', 'AWS/SQS', 'AWS/Lambda', 'AWS/RDS']) {
      expect(body, namespace).toContain(namespace);
    }
    for (const metric of [
      'EventsProcessed',
      'EventsDead',
      'ProcessingTime',
      'BlockedRequests',
      'ServerlessDatabaseCapacity',
    ]) {
      expect(body, metric).toContain(metric);
    }
    expect(body).toContain('"type\\":\\"alarm\\"');
  });

  it('outputs the dashboard URL, the alarm topic and the channel secrets', () => {
    const { alerting, dashboard } = fixture.stack;
    expect(json(outputs.MonitoringDashboardUrl?.Value)).toBe(json(fixture.stack.resolve(dashboard.url)));
    expect(json(outputs.MonitoringDashboardUrl?.Value)).toContain(
      `#dashboards:name=${PREFIX}${TEST_REGION}-overview`,
    );
    expect(outputs.AlarmTopicArn?.Value).toEqual(ref(alerting.defaultTopic));
    expect(outputs.SlackWebhookSecretArn?.Value).toEqual(ref(alerting.slackWebhookSecret as never));
    expect(outputs.AlertWebhookSigningSecretArn?.Value).toEqual(ref(alerting.webhookSigningSecret as never));
  });
});

describe('with an existing Slack secret, no webhook channel and no silence alarm', () => {
  let variant: SynthFixture;
  let variantResources: Record<string, CfnResource>;

  beforeAll(() => {
    variant = buildTestApp(
      { alerting: { slackWebhookSecretName: 'ops/slack-webhook', providerSilentMinutes: 0 } },
      { bundling: false },
    );
    variantResources = Template.fromStack(variant.stack).toJSON().Resources as Record<string, CfnResource>;
  });

  afterAll(() => variant?.cleanup());

  it('reads the named secret and creates neither secret nor silence alarms nor a Chatbot channel', () => {
    const types = Object.values(variantResources).map((r) => r.Type);
    expect(types).not.toContain('AWS::Chatbot::SlackChannelConfiguration');
    const secrets = Object.entries(variantResources).filter(
      ([, r]) => r.Type === 'AWS::SecretsManager::Secret',
    );
    expect(secrets.map(([id]) => id).filter((id) => id.startsWith('Alerting'))).toEqual([]);
    const names = Object.values(variantResources)
      .filter((r) => r.Type === 'AWS::CloudWatch::Alarm' || r.Type === 'AWS::CloudWatch::CompositeAlarm')
      .map((r) => r.Properties?.AlarmName as string);
    expect(names.filter((name) => name.includes('silent'))).toEqual([]);
    expect(names.filter((name) => name.includes('default-'))).toEqual([]);
    const variablesOf = (r: CfnResource) =>
      ((r.Properties?.Environment as { Variables?: Json } | undefined)?.Variables ?? {}) as Json;
    const recorders = Object.values(variantResources).filter(
      (r) => r.Type === 'AWS::Lambda::Function' && variablesOf(r).POWERTOOLS_SERVICE_NAME === 'alerts-record',
    );
    expect(recorders).toHaveLength(1);
    const variables = variablesOf(recorders[0] as CfnResource);
    expect(json(variables.SLACK_WEBHOOK_SECRET_ARN)).toContain(':secret:ops/slack-webhook');
    expect(variables.ALERT_WEBHOOK_SIGNING_SECRET_ARN).toBeUndefined();
    expect(variables.ALERT_WEBHOOK_URLS_JSON).toBe('[]');
  });

  it('stays free of cdk-nag findings, as does the fully configured stack', () => {
    for (const app of [variant.app, fixture.app]) {
      const result = new AwsSolutionsChecks().validateScope(app);
      expect(
        result.violations.map((v) => `${v.ruleName} ${v.violatingResources.map((r) => r.constructPath)}`),
      ).toEqual([]);
    }
  });
});
