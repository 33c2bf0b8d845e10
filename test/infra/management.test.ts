import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MANAGEMENT_ROUTES } from '../../shared/api/routes';
import { PRIORITIES, PROVIDER_NAMES } from '../../shared/envelope';
import { buildTestApp, type SynthFixture } from './fixture';
import { actionsOf, type CfnResource, type Json, resourcesOf, target, templateReader } from './template';

let fixture: SynthFixture;
let resources: Record<string, CfnResource>;
let outputs: Record<string, { Value: unknown }>;

beforeAll(() => {
  // Resources and properties only: bundling adds nothing read here (stack.test.ts bundles).
  fixture = buildTestApp({ management: { secretGraceHours: 48 } }, { bundling: false });
  const template = Template.fromStack(fixture.stack).toJSON();
  resources = template.Resources as Record<string, CfnResource>;
  outputs = template.Outputs as Record<string, { Value: unknown }>;
});

const { ofType, props, env, logicalId, functionOf, statementsOf } = templateReader(
  () => resources,
  () => fixture.stack,
);

afterAll(() => fixture?.cleanup());

/** The path of an API Gateway resource, from its PathPart and parents. */
function pathOf(resourceId: string): string {
  const resource = props(resourceId);
  const parent = resource.ParentId as { Ref?: string };
  return `${parent.Ref ? pathOf(parent.Ref) : ''}/${resource.PathPart as string}`;
}

/** `METHOD /path` -> the method's properties, for every method of the REST API. */
function routes(): Map<string, Json> {
  return new Map(
    ofType('AWS::ApiGateway::Method').map(([, method]) => {
      const p = method.Properties ?? {};
      return [`${p.HttpMethod as string} ${pathOf(target(p.ResourceId))}`, p];
    }),
  );
}

/** Whether a method's proxy integration invokes the given function. */
function invokes(method: Json, functionId: string): boolean {
  const integration = method.Integration as Json;
  return integration.Type === 'AWS_PROXY' && JSON.stringify(integration.Uri).includes(`"${functionId}"`);
}

const configsArn = () => ({ 'Fn::GetAtt': [logicalId(fixture.stack.storage.configs), 'Arn'] });
const configsKeyArn = () => ({ 'Fn::GetAtt': [logicalId(fixture.stack.storage.configsKey), 'Arn'] });
const rateLimitsArn = () => ({ 'Fn::GetAtt': [logicalId(fixture.stack.storage.rateLimits), 'Arn'] });

describe('configs and rate-limit tables', () => {
  it('keys configurations by id, indexes them by user and creation time, and keeps PITR', () => {
    const table = props(logicalId(fixture.stack.storage.configs));
    expect(table).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      AttributeDefinitions: expect.arrayContaining([
        { AttributeName: 'id', AttributeType: 'S' },
        { AttributeName: 'userId', AttributeType: 'S' },
        { AttributeName: 'createdAt', AttributeType: 'S' },
      ]),
      GlobalSecondaryIndexes: [
        {
          IndexName: 'byUser',
          KeySchema: [
            { AttributeName: 'userId', KeyType: 'HASH' },
            { AttributeName: 'createdAt', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
    expect(table.TimeToLiveSpecification).toBeUndefined();
  });

  it('encrypts configurations (signing secrets) with their own rotating customer-managed key', () => {
    const keyId = logicalId(fixture.stack.storage.configsKey);
    expect(props(keyId).EnableKeyRotation).toBe(true);
    expect(props(logicalId(fixture.stack.storage.configs)).SSESpecification).toEqual({
      SSEEnabled: true,
      SSEType: 'KMS',
      KMSMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] },
    });
  });

  it('keys rate-limit counters by pk, on demand, expiring on expiresAt', () => {
    expect(props(logicalId(fixture.stack.storage.rateLimits))).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      SSESpecification: { SSEEnabled: true },
    });
  });
});

describe('management routes', () => {
  it('sends every management route to the management function behind the user pool authorizer', () => {
    const managementFn = functionOf('api-management');
    const [[authorizerId, authorizer] = []] = ofType('AWS::ApiGateway::Authorizer');
    expect(ofType('AWS::ApiGateway::Authorizer')).toHaveLength(1);
    expect(authorizer?.Properties).toMatchObject({
      Type: 'COGNITO_USER_POOLS',
      IdentitySource: 'method.request.header.Authorization',
      RestApiId: { Ref: logicalId(fixture.stack.ingestion.api) },
      ProviderARNs: [{ 'Fn::GetAtt': [logicalId(fixture.stack.auth.userPool), 'Arn'] }],
    });
    const all = routes();
    expect(MANAGEMENT_ROUTES.map(([method, path]) => `${method} /api/webhooks/${path}`).sort()).toEqual([
      'DELETE /api/webhooks/alert-rules/{id}',
      'DELETE /api/webhooks/configs/{id}',
      'GET /api/webhooks/alert-rules',
      'GET /api/webhooks/alert-rules/{id}',
      'GET /api/webhooks/alerts',
      'GET /api/webhooks/configs',
      'GET /api/webhooks/configs/{id}',
      'GET /api/webhooks/dlq',
      'GET /api/webhooks/events',
      'GET /api/webhooks/events/{id}',
      'GET /api/webhooks/ledger',
      'GET /api/webhooks/me',
      'GET /api/webhooks/metrics',
      'GET /api/webhooks/openapi.json',
      'GET /api/webhooks/status',
      'PATCH /api/webhooks/alert-rules/{id}',
      'PATCH /api/webhooks/configs/{id}',
      'POST /api/webhooks/alert-rules',
      'POST /api/webhooks/alerts/{id}/acknowledge',
      'POST /api/webhooks/configs/{id}/rotate-secret',
      'POST /api/webhooks/dlq/redrive',
      'POST /api/webhooks/events/{id}/replay',
      'POST /api/webhooks/register',
    ]);
    for (const [method, path, access] of MANAGEMENT_ROUTES) {
      const route = all.get(`${method} /api/webhooks/${path}`);
      if (access === 'public') {
        expect(route, `${method} ${path}`).toMatchObject({ AuthorizationType: 'NONE' });
        expect(route?.AuthorizerId).toBeUndefined();
      } else {
        expect(route, `${method} ${path}`).toMatchObject({
          AuthorizationType: 'COGNITO_USER_POOLS',
          AuthorizerId: { Ref: authorizerId },
        });
      }
      expect(invokes(route ?? {}, managementFn), `${method} ${path}`).toBe(true);
    }
    // Nothing else reaches the management function; only its token routes have an authorizer.
    const managed = [...all].filter(([, p]) => invokes(p, managementFn)).map(([key]) => key);
    expect(managed).toHaveLength(MANAGEMENT_ROUTES.length);
    const authorized = [...all].filter(([, p]) => p.AuthorizationType !== 'NONE').map(([key]) => key);
    expect(authorized.sort()).toEqual(
      MANAGEMENT_ROUTES.filter(([, , access]) => access === 'token')
        .map(([method, path]) => `${method} /api/webhooks/${path}`)
        .sort(),
    );
  });

  it('lets API Gateway invoke the management function from its routes only', () => {
    const managementFn = functionOf('api-management');
    const sources = ofType('AWS::Lambda::Permission')
      .filter(([, p]) => target(p.Properties?.FunctionName) === managementFn)
      .map(([, p]) => JSON.stringify(p.Properties?.SourceArn));
    // Each scoped to its method and path (path parameters as `*`) on the API's stage.
    const expected = MANAGEMENT_ROUTES.map(
      ([method, path]) => `/${method}/api/webhooks/${path.replace(/\{[^}]+\}/g, '*')}"`,
    );
    expect(sources).toHaveLength(expected.length);
    for (const suffix of expected)
      expect(sources.filter((arn) => arn.endsWith(`${suffix}]]}`))).toHaveLength(1);
  });

  it('routes ANY /api/webhooks/{provider}/{configId} to the provider ingest function without an authorizer', () => {
    const all = routes();
    for (const provider of PROVIDER_NAMES) {
      const route = all.get(`ANY /api/webhooks/${provider}/{configId}`);
      expect(route, provider).toMatchObject({ AuthorizationType: 'NONE' });
      expect(route?.AuthorizerId).toBeUndefined();
      expect(invokes(route ?? {}, functionOf(`ingest-${provider}`)), provider).toBe(true);
    }
  });
});

describe('management function', () => {
  it('gets the configs table, its own base URL, the token settings and the secret grace period', () => {
    const { auth, ingestion } = fixture.stack;
    const variables = env(functionOf('api-management'));
    expect(variables).toMatchObject({
      CONFIGS_TABLE: { Ref: logicalId(fixture.stack.storage.configs) },
      SECRET_GRACE_HOURS: '48',
      POWERTOOLS_SERVICE_NAME: 'api-management',
    });
    const resolve = (value: string) => JSON.stringify(fixture.stack.resolve(value));
    expect(JSON.stringify(variables.WEBHOOK_BASE_URL)).toBe(resolve(ingestion.baseUrl));
    expect(JSON.stringify(variables.AUTH_ISSUER)).toBe(resolve(auth.issuerUrl));
    expect(JSON.stringify(variables.AUTH_JWKS_URL)).toBe(resolve(auth.jwksUrl));
    expect(JSON.stringify(variables.AUTH_AUDIENCE)).toBe(resolve(auth.audience));
  });

  it('gets the event log, counters, queues and DLQs it serves the events, status and redrive routes from', () => {
    const variables = env(functionOf('api-management'));
    const { storage, queues } = fixture.stack;
    expect(variables).toMatchObject({
      EVENT_LOG_TABLE: { Ref: logicalId(storage.eventLog) },
      METRICS_TABLE: { Ref: logicalId(storage.metrics) },
      PAYLOAD_BUCKET: { Ref: logicalId(fixture.stack.payloads.bucket) },
    });
    for (const priority of PRIORITIES) {
      const suffix = priority.toUpperCase();
      const { queue, dlq } = queues.queues[priority];
      expect(variables[`QUEUE_URL_${suffix}`]).toEqual({ Ref: logicalId(queue) });
      expect(variables[`QUEUE_ARN_${suffix}`]).toEqual({ 'Fn::GetAtt': [logicalId(queue), 'Arn'] });
      expect(variables[`DLQ_URL_${suffix}`]).toEqual({ Ref: logicalId(dlq) });
      expect(variables[`DLQ_ARN_${suffix}`]).toEqual({ 'Fn::GetAtt': [logicalId(dlq), 'Arn'] });
    }
  });

  it('has exactly the access its routes need, resource by resource', () => {
    const fn = functionOf('api-management');
    const statements = statementsOf(fn);
    const actionsOn = new Map<string, Set<string>>();
    for (const statement of statements)
      for (const resource of resourcesOf(statement)) {
        const key = JSON.stringify(resource);
        const actions = actionsOn.get(key) ?? new Set<string>();
        for (const action of actionsOf(statement)) actions.add(action);
        actionsOn.set(key, actions);
      }
    const arnOf = (construct: { node: { defaultChild?: unknown } }) => ({
      'Fn::GetAtt': [logicalId(construct), 'Arn'],
    });
    const index = (table: unknown, name: string) => ({ 'Fn::Join': ['', [table, `/index/${name}`]] });
    const { storage, queues, payloads } = fixture.stack;
    const logGroup = target((props(fn).LoggingConfig as Json).LogGroup);
    const read = [
      'dynamodb:BatchGetItem',
      'dynamodb:ConditionCheckItem',
      'dynamodb:DescribeTable',
      'dynamodb:GetItem',
      'dynamodb:Query',
      'dynamodb:Scan',
    ];
    const redrive = [
      'sqs:DeleteMessage',
      'sqs:GetQueueAttributes',
      'sqs:ListMessageMoveTasks',
      'sqs:ReceiveMessage',
      'sqs:StartMessageMoveTask',
    ];
    const expected = new Map<string, string[]>([
      [
        JSON.stringify(configsArn()),
        expect.arrayContaining([
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:DeleteItem',
          'dynamodb:Query',
        ]),
      ],
      [JSON.stringify(index(configsArn(), 'byUser')), expect.arrayContaining(['dynamodb:Query'])],
      [JSON.stringify(configsKeyArn()), expect.arrayContaining(['kms:Decrypt', 'kms:Encrypt'])],
      // The event log: read and list (one owner: byUser; every owner: byDay), and UpdateItem to note a
      // replay. No writes of payloads.
      [JSON.stringify(arnOf(storage.eventLog)), [...read, 'dynamodb:UpdateItem'].sort()],
      [JSON.stringify(index(arnOf(storage.eventLog), 'byUser')), read],
      [JSON.stringify(index(arnOf(storage.eventLog), 'byDay')), read],
      [JSON.stringify(arnOf(storage.metrics)), read],
      // Replays go through the claim check; quarantined requests are read to be parsed again.
      [
        JSON.stringify({ 'Fn::Join': ['', [arnOf(payloads.bucket), '/*']] }),
        ['s3:GetObject', 's3:PutObject'],
      ],
      [JSON.stringify(arnOf(payloads.bucket)), ['s3:ListBucket']],
      [JSON.stringify({ 'Fn::GetAtt': [logGroup, 'Arn'] }), expect.arrayContaining(['logs:PutLogEvents'])],
      // Alert rules and alerts (Postgres through the Data API), rule changes announced on the domain bus.
      [
        JSON.stringify(fixture.stack.resolve(fixture.stack.database.cluster.clusterArn)),
        [
          'rds-data:BatchExecuteStatement',
          'rds-data:BeginTransaction',
          'rds-data:CommitTransaction',
          'rds-data:ExecuteStatement',
          'rds-data:RollbackTransaction',
        ],
      ],
      [
        JSON.stringify(fixture.stack.resolve(fixture.stack.database.secret.secretArn)),
        ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
      ],
      [JSON.stringify(arnOf(fixture.stack.workflowEvents.bus)), ['events:PutEvents']],
      ...PRIORITIES.flatMap((priority): [string, string[]][] => [
        [JSON.stringify(arnOf(queues.queues[priority].queue)), ['sqs:GetQueueAttributes', 'sqs:SendMessage']],
        [JSON.stringify(arnOf(queues.queues[priority].dlq)), redrive],
      ]),
    ]);
    expect(new Set(actionsOn.keys())).toEqual(new Set(expected.keys()));
    for (const [resource, actions] of expected)
      expect([...(actionsOn.get(resource) ?? [])].sort(), resource).toEqual(actions);
    const prefixes = new Set(statements.flatMap(actionsOf).map((action) => action.split(':')[0]));
    expect([...prefixes].sort()).toEqual([
      'dynamodb',
      'events',
      'kms',
      'logs',
      'rds-data',
      's3',
      'secretsmanager',
      'sqs',
    ]);
    expect(statements.flatMap(actionsOf).every((action) => !action.includes('*'))).toBe(true);
  });
});

describe('ingest functions and webhook configurations', () => {
  it.each(PROVIDER_NAMES)(
    "lets ingest-%s only get configs (decrypting), set a config's source account, and update rate limits",
    (provider) => {
      const fn = functionOf(`ingest-${provider}`);
      expect(env(fn)).toMatchObject({
        CONFIGS_TABLE: { Ref: logicalId(fixture.stack.storage.configs) },
        RATE_LIMIT_TABLE: { Ref: logicalId(fixture.stack.storage.rateLimits) },
      });
      const on = (arn: unknown) =>
        statementsOf(fn)
          .filter((s) => resourcesOf(s).some((r) => JSON.stringify(r) === JSON.stringify(arn)))
          .flatMap(actionsOf);
      expect(on(configsArn()).sort()).toEqual(['dynamodb:GetItem', 'dynamodb:UpdateItem']);
      // The update may touch the key and `sourceAccount`, nothing else (the binding of shared/ingest.ts).
      const binding = statementsOf(fn).find(
        (s) =>
          actionsOf(s).includes('dynamodb:UpdateItem') &&
          resourcesOf(s).some((r) => JSON.stringify(r) === JSON.stringify(configsArn())),
      );
      expect(binding?.Condition).toEqual({
        'ForAllValues:StringEquals': { 'dynamodb:Attributes': ['id', 'sourceAccount'] },
        StringEqualsIfExists: { 'dynamodb:ReturnValues': 'NONE' },
      });
      expect(on(rateLimitsArn())).toEqual(['dynamodb:UpdateItem']);
      expect(on(configsKeyArn()).sort()).toEqual([
        'kms:Decrypt',
        'kms:DescribeKey',
        'kms:Encrypt',
        'kms:GenerateDataKey',
      ]);
      // No index of the configs table: ingest reads one config by id and never lists them.
      const granted = JSON.stringify(statementsOf(fn).flatMap(resourcesOf));
      expect(granted).not.toContain(`${JSON.stringify(configsArn())},"/index/`);
    },
  );

  it('throttles each per-config route with its provider limits', () => {
    const [[, stage] = []] = ofType('AWS::ApiGateway::Stage');
    const settings = stage?.Properties?.MethodSettings as Json[];
    for (const provider of PROVIDER_NAMES) {
      const limits = fixture.config.api.providerThrottling[provider];
      expect(settings).toContainEqual(
        expect.objectContaining({
          ResourcePath: `/~1api~1webhooks~1${provider}~1{configId}`,
          HttpMethod: '*',
          ThrottlingRateLimit: limits.rateLimit,
          ThrottlingBurstLimit: limits.burstLimit,
          LoggingLevel: 'ERROR',
          DataTraceEnabled: false,
        }),
      );
    }
  });
});

describe('outputs', () => {
  it('outputs the management API URL below the webhook base URL', () => {
    expect(JSON.stringify(outputs.ManagementApiUrl?.Value)).toBe(
      JSON.stringify(fixture.stack.resolve(`${fixture.stack.ingestion.baseUrl}/api/webhooks`)),
    );
  });
});
