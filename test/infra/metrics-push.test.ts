import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type SynthFixture, TEST_REGION } from './fixture';
import { actionsOf, type CfnResource, type Json, resourcesOf, target, templateReader } from './template';

let fixture: SynthFixture;
let resources: Record<string, CfnResource>;

beforeAll(() => {
  // Bundling adds nothing these assertions read (stack.test.ts synthesizes the real bundles).
  fixture = buildTestApp({}, { bundling: false });
  resources = Template.fromStack(fixture.stack).toJSON().Resources as Record<string, CfnResource>;
});

const { ofType, props, logicalId } = templateReader(
  () => resources,
  () => fixture.stack,
);

afterAll(() => fixture?.cleanup());

const fn = () => logicalId(fixture.stack.metricsPush.function);
const arnOf = (id: string) => JSON.stringify({ 'Fn::GetAtt': [id, 'Arn'] });
const indexOf = (id: string, name = 'byUser') =>
  JSON.stringify({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [id, 'Arn'] }, `/index/${name}`]] });

/** Every permission of the function's role as `action on resource` (resources flattened to JSON). */
function permissions(): string[] {
  const roleId = target(props(fn()).Role);
  return ofType('AWS::IAM::Policy')
    .filter(([id]) => (props(id).Roles as unknown[]).some((role) => target(role) === roleId))
    .flatMap(([id]) => (props(id).PolicyDocument as { Statement: Json[] }).Statement)
    .flatMap((statement) => {
      expect(statement.Effect).toBe('Allow');
      return actionsOf(statement).flatMap((action) =>
        resourcesOf(statement).map((resource) => `${action} on ${JSON.stringify(resource)}`),
      );
    })
    .sort();
}

describe('minute metrics push', () => {
  it('runs the metrics-push handler every minute from an EventBridge schedule', () => {
    const rules = ofType('AWS::Events::Rule').filter(([, rule]) =>
      ((rule.Properties?.Targets as Json[] | undefined) ?? []).some(
        (t) => JSON.stringify(t.Arn) === arnOf(fn()),
      ),
    );
    expect(rules).toHaveLength(1);
    expect(rules[0]?.[1].Properties).toMatchObject({
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Targets: [{ RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 } }],
    });
    const invokes = ofType('AWS::Lambda::Permission').filter(
      ([, permission]) => target(permission.Properties?.FunctionName) === fn(),
    );
    expect(invokes.map(([, p]) => [p.Properties?.Principal, target(p.Properties?.SourceArn)])).toEqual([
      ['events.amazonaws.com', rules[0]?.[0]],
    ]);
    expect(props(fn())).toMatchObject({
      Handler: 'index.handler',
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Timeout: 50,
    });
    expect(props(fn()).Environment).toMatchObject({ Variables: { POWERTOOLS_SERVICE_NAME: 'metrics-push' } });
  });

  it('never retries a run: the next minute supersedes it', () => {
    const configs = ofType('AWS::Lambda::EventInvokeConfig').filter(
      ([, config]) => target(config.Properties?.FunctionName) === fn(),
    );
    expect(configs.map(([, config]) => config.Properties)).toEqual([
      {
        FunctionName: { Ref: fn() },
        MaximumRetryAttempts: 0,
        MaximumEventAgeInSeconds: 60,
        Qualifier: '$LATEST',
      },
    ]);
  });

  it('points the handler at the three tables and the WebSocket stage it reads and posts to', () => {
    const { storage, realtime } = fixture.stack;
    const variables = (props(fn()).Environment as { Variables: Json }).Variables;
    expect(variables).toMatchObject({
      CONNECTIONS_TABLE: { Ref: logicalId(storage.connections) },
      CONFIGS_TABLE: { Ref: logicalId(storage.configs) },
      METRICS_TABLE: { Ref: logicalId(storage.metrics) },
      // Operators get the provider-wide endpoints' and every owner's figures for these.
      PROVIDERS: 'hubspot,shopify,salesforce',
    });
    expect(JSON.stringify(variables.WEBSOCKET_ENDPOINT)).toContain(
      `{"Ref":"${logicalId(realtime.api)}"},".execute-api.${TEST_REGION}.",`,
    );
    expect(JSON.stringify(variables.WEBSOCKET_ENDPOINT)).toMatch(/"\/prod"\]\]\}$/);
  });

  it('may only scan and query connections (and delete gone ones), read configs, query counters, write the history and post', () => {
    const { storage, realtime } = fixture.stack;
    const [connections, configs, metrics] = [storage.connections, storage.configs, storage.metrics].map(
      logicalId,
    ) as [string, string, string];
    const logs = target((props(fn()).LoggingConfig as Json).LogGroup);
    const granted = permissions();
    const manage = granted.filter((p) => p.startsWith('execute-api:ManageConnections on '));
    // webhook_metrics through the Data API, with the cluster's secret: nothing else of the database.
    const database = granted.filter((p) => /^(rds-data|secretsmanager):/.test(p));
    const cluster = JSON.stringify(fixture.stack.resolve(fixture.stack.database.cluster.clusterArn));
    const secret = JSON.stringify(fixture.stack.resolve(fixture.stack.database.secret.secretArn));
    expect(database).toEqual(
      [
        ...[
          'BatchExecuteStatement',
          'BeginTransaction',
          'CommitTransaction',
          'ExecuteStatement',
          'RollbackTransaction',
        ].map((action) => `rds-data:${action} on ${cluster}`),
        `secretsmanager:DescribeSecret on ${secret}`,
        `secretsmanager:GetSecretValue on ${secret}`,
      ].sort(),
    );

    expect(granted.filter((p) => !manage.includes(p) && !database.includes(p))).toEqual(
      [
        `logs:CreateLogStream on ${arnOf(logs)}`,
        `logs:PutLogEvents on ${arnOf(logs)}`,
        `dynamodb:Scan on ${arnOf(connections)}`,
        `dynamodb:DeleteItem on ${arnOf(connections)}`,
        `dynamodb:Query on ${indexOf(connections)}`,
        `dynamodb:Query on ${indexOf(connections, 'byRole')}`,
        // Configs listed through byOwner, which projects no secret (nor ciphertext).
        `dynamodb:Query on ${indexOf(configs, 'byOwner')}`,
        // Every config, for the history's per-config series (a projection without secrets).
        `dynamodb:Scan on ${arnOf(configs)}`,
        `dynamodb:Query on ${arnOf(metrics)}`,
        `kms:Decrypt on ${arnOf(logicalId(storage.configsKey))}`,
        `kms:DescribeKey on ${arnOf(logicalId(storage.configsKey))}`,
      ].sort(),
    );
    // POST to push, DELETE to close the connections whose token expired.
    expect(manage).toHaveLength(2);
    expect(manage[0]).toContain(`{"Ref":"${logicalId(realtime.api)}"},"/prod/DELETE/@connections/*"`);
    expect(manage[1]).toContain(`{"Ref":"${logicalId(realtime.api)}"},"/prod/POST/@connections/*"`);
  });
});
