import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRIORITIES } from '../../lib/config';
import { MIGRATIONS_DIR, migrationsHash } from '../../lib/constructs/database';
import { PROVIDER_NAMES } from '../../shared/envelope';
import { buildTestApp, type SynthFixture } from './fixture';
import { actionsOf, type CfnResource, type Json, resourcesOf, target, templateReader } from './template';

let fixture: SynthFixture;
let template: Template;
let resources: Record<string, CfnResource>;

beforeAll(() => {
  fixture = buildTestApp();
  template = Template.fromStack(fixture.stack);
  resources = template.toJSON().Resources as Record<string, CfnResource>;
  // esbuild bundles every function (fourteen of them): minutes on two busy cores.
}, 240_000);

const { ofType, props, env, logicalId, functionOf, statementsOf } = templateReader(
  () => resources,
  () => fixture.stack,
);

/** The logical id of the one resource of a type. */
function only(type: string): string {
  const matches = ofType(type);
  expect(matches, type).toHaveLength(1);
  return matches[0]?.[0] as string;
}

afterAll(() => fixture?.cleanup());

/** House functions by POWERTOOLS_SERVICE_NAME (the three processors share one). */
function functionsByService(): Map<string, string[]> {
  const byService = new Map<string, string[]>();
  for (const [id] of ofType('AWS::Lambda::Function')) {
    const service = env(id).POWERTOOLS_SERVICE_NAME;
    if (typeof service !== 'string') continue;
    byService.set(service, [...(byService.get(service) ?? []), id]);
  }
  return byService;
}

const INGEST_SERVICES = PROVIDER_NAMES.map((provider) => `ingest-${provider}`);
const SERVICES = [
  ...INGEST_SERVICES,
  'process',
  'ws-authorize',
  'ws-connect',
  'ws-disconnect',
  'ws-message',
  'migrate',
  'api-management',
  'metrics-push',
  'alerts-reconcile',
  'alerts-record',
  'cleanup',
  'dead-letter-sweep',
];

/** The path of an API Gateway resource, from its PathPart and parents. */
function pathOf(resourceId: string): string {
  const resource = props(resourceId);
  const parent = resource.ParentId as { Ref?: string };
  return `${parent.Ref ? pathOf(parent.Ref) : ''}/${resource.PathPart as string}`;
}

/** Statements of a function's role that grant something on S3. */
function s3StatementsOf(functionId: string): Json[] {
  return statementsOf(functionId).filter((s) => actionsOf(s).some((action) => action.startsWith('s3:')));
}

describe('priority queues', () => {
  const mainQueues = () =>
    ofType('AWS::SQS::Queue').filter(([, q]) => q.Properties?.RedrivePolicy !== undefined);
  const dlqs = () => ofType('AWS::SQS::Queue').filter(([, q]) => q.Properties?.RedrivePolicy === undefined);

  it('creates three high-throughput FIFO queues that deduplicate per message group', () => {
    expect(mainQueues()).toHaveLength(3);
    for (const [, queue] of mainQueues()) {
      expect(queue.Properties).toMatchObject({
        FifoQueue: true,
        ContentBasedDeduplication: false,
        DeduplicationScope: 'messageGroup',
        FifoThroughputLimit: 'perMessageGroupId',
        SqsManagedSseEnabled: true,
      });
    }
  });

  it('gives every queue its own FIFO dead-letter queue after 5 receives', () => {
    expect(dlqs()).toHaveLength(3);
    const targets = mainQueues().map(([, queue]) => {
      const redrive = queue.Properties?.RedrivePolicy as {
        deadLetterTargetArn: unknown;
        maxReceiveCount: number;
      };
      expect(redrive.maxReceiveCount).toBe(1000);
      return target(redrive.deadLetterTargetArn);
    });
    expect(new Set(targets)).toEqual(new Set(dlqs().map(([id]) => id)));
    for (const [, dlq] of dlqs()) {
      expect(dlq.Properties).toMatchObject({
        FifoQueue: true,
        SqsManagedSseEnabled: true,
        MessageRetentionPeriod: 1_209_600,
      });
    }
  });

  it('denies every request to every queue that is not over TLS', () => {
    const queueIds = ofType('AWS::SQS::Queue').map(([id]) => id);
    const protectedIds = ofType('AWS::SQS::QueuePolicy')
      .filter(([id]) =>
        (props(id).PolicyDocument as { Statement: Json[] }).Statement.some(
          (s) =>
            s.Effect === 'Deny' && JSON.stringify(s.Condition) === '{"Bool":{"aws:SecureTransport":"false"}}',
        ),
      )
      .flatMap(([id]) => (props(id).Queues as unknown[]).map(target));
    expect(new Set(protectedIds)).toEqual(new Set(queueIds));
  });

  it('keeps each queue invisible for more than six times its processor timeout', () => {
    const mappings = ofType('AWS::Lambda::EventSourceMapping');
    expect(mappings).toHaveLength(3);
    for (const [, mapping] of mappings) {
      const queue = props(target(mapping.Properties?.EventSourceArn));
      const fn = props(target(mapping.Properties?.FunctionName));
      expect(queue.VisibilityTimeout as number).toBeGreaterThan(6 * (fn.Timeout as number));
    }
  });
});

describe('processors', () => {
  it('consumes each priority with partial batch responses and its configured batch size and concurrency', () => {
    const processors = functionsByService().get('process') ?? [];
    expect(processors).toHaveLength(3);
    const { queues } = fixture.stack.queues;
    for (const priority of PRIORITIES) {
      const queueId = fixture.stack.getLogicalId(queues[priority].queue.node.defaultChild as never);
      const config = fixture.config.processors[priority];
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        BatchSize: config.batchSize,
        ScalingConfig: { MaximumConcurrency: config.maxConcurrency },
      });
    }
  });

  it('lets processors post to WebSocket connections of their stage only', () => {
    for (const id of functionsByService().get('process') ?? []) {
      const manage = statementsOf(id).filter((s) => actionsOf(s).includes('execute-api:ManageConnections'));
      expect(manage).toHaveLength(1);
      expect(JSON.stringify(resourcesOf(manage[0] as Json))).toMatch(/\/prod\/POST\/@connections\/\*"/);
    }
  });

  it('lets processors read and delete connections but not write them', () => {
    const connectionsId = fixture.stack.getLogicalId(
      fixture.stack.storage.connections.node.defaultChild as never,
    );
    for (const id of functionsByService().get('process') ?? []) {
      const onConnections = statementsOf(id).filter((s) =>
        JSON.stringify(s.Resource).includes(connectionsId),
      );
      const actions = onConnections.flatMap(actionsOf);
      expect(actions).toEqual(
        expect.arrayContaining(['dynamodb:Scan', 'dynamodb:Query', 'dynamodb:DeleteItem']),
      );
      expect(actions).not.toContain('dynamodb:PutItem');
      expect(actions).not.toContain('dynamodb:UpdateItem');
    }
  });
});

describe('functions', () => {
  it('builds exactly the expected functions, plus the custom-resource framework and the site deployment', () => {
    const byService = functionsByService();
    expect([...byService.keys()].sort()).toEqual([...SERVICES].sort());
    const others = ofType('AWS::Lambda::Function').filter(
      ([id]) => ![...byService.values()].flat().includes(id),
    );
    // aws-cdk-lib's own: the migrations provider framework and BucketDeployment's copier (Python).
    expect(others.map(([, fn]) => fn.Properties?.Handler).sort()).toEqual([
      'framework.onEvent',
      'index.handler',
    ]);
    expect(others.map(([, fn]) => String(fn.Properties?.Runtime)).sort()).toEqual([
      expect.stringMatching(/^nodejs/),
      expect.stringMatching(/^python3/),
    ]);
  });

  it('runs every function on Node.js 22, arm64, handler index.handler, with source maps', () => {
    for (const id of [...functionsByService().values()].flat()) {
      expect(props(id)).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        MemorySize: 512,
      });
      expect(env(id)).toMatchObject({
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_METRICS_NAMESPACE: 'Webhooks',
      });
    }
  });

  it('logs every function to its own log group with 30 days retention', () => {
    const logGroups = new Set<string>();
    for (const id of [...functionsByService().values()].flat()) {
      const logGroupId = target((props(id).LoggingConfig as Json).LogGroup);
      logGroups.add(logGroupId);
      expect(props(logGroupId).RetentionInDays).toBe(30);
    }
    expect(logGroups.size).toBe(17);
  });

  it('gives no function role an AWS managed policy', () => {
    for (const id of [...functionsByService().values()].flat()) {
      expect(props(target(props(id).Role)).ManagedPolicyArns).toBeUndefined();
    }
  });

  const INGEST_ENV = [
    'QUEUE_URL_HIGH',
    'QUEUE_URL_MEDIUM',
    'QUEUE_URL_LOW',
    'WEBHOOK_BASE_URL',
    'PAYLOAD_BUCKET',
    'MAX_BODY_BYTES',
    'CLAIM_CHECK_BYTES',
    'PRIORITY_OVERRIDES',
    'CONFIGS_TABLE',
    'RATE_LIMIT_TABLE',
  ];
  it.each([
    ['ingest-shopify', [...INGEST_ENV, 'SHOPIFY_SECRET_ARN']],
    ['ingest-hubspot', [...INGEST_ENV, 'HUBSPOT_SECRET_ARN', 'HUBSPOT_ACCEPT_LEGACY_SIGNATURES']],
    ['ingest-salesforce', [...INGEST_ENV, 'SALESFORCE_SECRET_ARN']],
    [
      'process',
      [
        'PAYLOAD_BUCKET',
        'EVENT_LOG_TABLE',
        'CONNECTIONS_TABLE',
        'DB_CLUSTER_ARN',
        'DB_SECRET_ARN',
        'DB_NAME',
        'WEBSOCKET_ENDPOINT',
        'EVENT_LOG_RETENTION_DAYS',
        'EVENT_LOG_PAYLOAD_MAX_BYTES',
        'METRICS_TABLE',
        'EVENT_BUS_NAME',
        'DLQ_URL',
        'MAX_RECEIVE_COUNT',
        'RETRY_BASE_DELAY_MS',
      ],
    ],
    ['ws-authorize', ['AUTH_ISSUER', 'AUTH_JWKS_URL', 'AUTH_AUDIENCE']],
    ['ws-connect', ['CONNECTIONS_TABLE']],
    ['ws-disconnect', ['CONNECTIONS_TABLE']],
    ['ws-message', ['CONNECTIONS_TABLE', 'WEBSOCKET_ENDPOINT']],
    ['metrics-push', ['CONNECTIONS_TABLE', 'CONFIGS_TABLE', 'METRICS_TABLE', 'WEBSOCKET_ENDPOINT']],
    ['migrate', ['DB_CLUSTER_ARN', 'DB_SECRET_ARN', 'DB_NAME']],
    [
      'api-management',
      [
        'CONFIGS_TABLE',
        'WEBHOOK_BASE_URL',
        'AUTH_JWKS_URL',
        'AUTH_ISSUER',
        'AUTH_AUDIENCE',
        'SECRET_GRACE_HOURS',
        'DB_CLUSTER_ARN',
        'DB_SECRET_ARN',
        'DB_NAME',
        'EVENT_BUS_NAME',
      ],
    ],
    [
      'alerts-reconcile',
      [
        'DB_CLUSTER_ARN',
        'DB_SECRET_ARN',
        'DB_NAME',
        'ALARM_PREFIX',
        'METRICS_NAMESPACE',
        'ALARM_TOPIC_ARNS_JSON',
      ],
    ],
    [
      'alerts-record',
      [
        'DB_CLUSTER_ARN',
        'DB_SECRET_ARN',
        'DB_NAME',
        'CONNECTIONS_TABLE',
        'WEBSOCKET_ENDPOINT',
        'SLACK_WEBHOOK_SECRET_ARN',
        'ALERT_WEBHOOK_URLS_JSON',
        'DASHBOARD_URL',
      ],
    ],
  ])('gives %s the environment its handler reads', (service, names) => {
    for (const id of functionsByService().get(service) ?? []) {
      expect(Object.keys(env(id))).toEqual(expect.arrayContaining(names));
    }
  });

  it.each(INGEST_SERVICES)(
    'points %s at the three main queues and its own API stage without referencing the stage',
    (service) => {
      const variables = env(functionOf(service));
      const { queues } = fixture.stack.queues;
      for (const priority of PRIORITIES) {
        expect(variables[`QUEUE_URL_${priority.toUpperCase()}`]).toEqual({
          Ref: logicalId(queues[priority].queue),
        });
      }
      const restApiId = ofType('AWS::ApiGateway::RestApi')[0]?.[0];
      const baseUrl = JSON.stringify(variables.WEBHOOK_BASE_URL);
      expect(baseUrl).toContain(`{"Ref":"${restApiId}"}`);
      expect(baseUrl).toMatch(/\/prod"\]\]\}$/);
      for (const [id] of [...ofType('AWS::ApiGateway::Stage'), ...ofType('AWS::ApiGateway::Deployment')]) {
        expect(baseUrl).not.toContain(id);
      }
    },
  );

  it('gives every ingest function the body limits, claim-check bucket and priority overrides of the config', () => {
    const bucketId = logicalId(fixture.stack.payloads.bucket);
    for (const service of INGEST_SERVICES) {
      expect(env(functionOf(service))).toMatchObject({
        MAX_BODY_BYTES: '4194304',
        CLAIM_CHECK_BYTES: '196608',
        PRIORITY_OVERRIDES: '{}',
        PAYLOAD_BUCKET: { Ref: bucketId },
      });
    }
  });

  it('passes provider settings only to their provider, and optional Salesforce ones only when configured', () => {
    const names = (service: string) => Object.keys(env(functionOf(service)));
    expect(env(functionOf('ingest-hubspot')).HUBSPOT_ACCEPT_LEGACY_SIGNATURES).toBe('true');
    for (const service of ['ingest-shopify', 'ingest-salesforce']) {
      expect(names(service)).not.toContain('HUBSPOT_ACCEPT_LEGACY_SIGNATURES');
    }
    for (const service of INGEST_SERVICES) {
      expect(names(service).filter((name) => /^SALESFORCE_(PUBLIC_KEY|AUDIENCE|ORG_ID)$/.test(name))).toEqual(
        [],
      );
    }
  });

  it('passes the event log retention to the processors', () => {
    for (const id of functionsByService().get('process') ?? []) {
      expect(env(id).EVENT_LOG_RETENTION_DAYS).toBe('30');
    }
  });
});

describe('ingest permissions', () => {
  it.each(INGEST_SERVICES)('lets %s send to the three main queues and nothing else on SQS', (service) => {
    const sqsStatements = statementsOf(functionOf(service)).filter((s) =>
      actionsOf(s).some((action) => action.startsWith('sqs:')),
    );
    expect(new Set(sqsStatements.flatMap(actionsOf))).toEqual(new Set(['sqs:SendMessage']));
    const mainQueueIds = PRIORITIES.map((p) => logicalId(fixture.stack.queues.queues[p].queue));
    expect(new Set(sqsStatements.flatMap(resourcesOf).map(target))).toEqual(new Set(mainQueueIds));
  });

  it('lets each ingest role read its own provider secret and no other', () => {
    const secretIds = new Set<string>();
    for (const provider of PROVIDER_NAMES) {
      const fn = functionOf(`ingest-${provider}`);
      const secretRef = env(fn)[`${provider.toUpperCase()}_SECRET_ARN`];
      const reads = statementsOf(fn).filter((s) => actionsOf(s).includes('secretsmanager:GetSecretValue'));
      expect(reads.flatMap(resourcesOf)).toEqual([secretRef]);
      secretIds.add(target(secretRef));
    }
    expect(secretIds.size).toBe(PROVIDER_NAMES.length);
  });

  it('lets ingest roles only put objects into the payload bucket, replays put and get them, and processors only get (and list) them', () => {
    const bucketId = logicalId(fixture.stack.payloads.bucket);
    const bucket = { 'Fn::GetAtt': [bucketId, 'Arn'] };
    const objects = { 'Fn::Join': ['', [bucket, '/*']] };
    const expectOnly = (functionId: string, grants: [string, unknown][]) => {
      const statements = s3StatementsOf(functionId);
      expect(statements.map((s) => [actionsOf(s).join(), resourcesOf(s)[0]])).toEqual(grants);
    };
    for (const service of INGEST_SERVICES) expectOnly(functionOf(service), [['s3:PutObject', objects]]);
    // The management function replays deliveries through the same claim check as ingest, and
    // reads the quarantined requests it replays.
    expectOnly(functionOf('api-management'), [
      ['s3:GetObject,s3:PutObject', objects],
      ['s3:ListBucket', bucket],
    ]);
    const processors = functionsByService().get('process') ?? [];
    expect(processors).toHaveLength(3);
    // ListBucket only so a missing claim-check object reads as NoSuchKey, not AccessDenied.
    for (const id of processors) {
      expectOnly(id, [
        ['s3:GetObject', objects],
        ['s3:ListBucket', bucket],
      ]);
    }
    for (const service of [
      'ws-authorize',
      'ws-connect',
      'ws-disconnect',
      'ws-message',
      'migrate',
      'metrics-push',
      'alerts-reconcile',
      'alerts-record',
    ]) {
      expect(s3StatementsOf(functionOf(service))).toEqual([]);
    }
  });
});

describe('payload store', () => {
  const bucketId = () => logicalId(fixture.stack.payloads.bucket);
  const logsBucketId = () => logicalId(fixture.stack.payloads.accessLogsBucket);

  it('keeps claim-check payloads private, SSE-S3 encrypted, unversioned and expiring with the config', () => {
    expect(props(bucketId())).toMatchObject({
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      LifecycleConfiguration: {
        Rules: [{ Status: 'Enabled', ExpirationInDays: fixture.config.payloadRetentionDays }],
      },
      LoggingConfiguration: { DestinationBucketName: { Ref: logsBucketId() } },
    });
    expect(props(bucketId()).VersioningConfiguration).toBeUndefined();
    expect(fixture.config.payloadRetentionDays).toBe(30);
  });

  it('denies every request that is not over TLS, on every bucket', () => {
    const protectedIds = ofType('AWS::S3::BucketPolicy')
      .filter(([id]) =>
        (props(id).PolicyDocument as { Statement: Json[] }).Statement.some(
          (s) =>
            s.Effect === 'Deny' &&
            JSON.stringify(s.Principal) === '{"AWS":"*"}' &&
            JSON.stringify(s.Condition) === '{"Bool":{"aws:SecureTransport":"false"}}',
        ),
      )
      .map(([id]) => target(props(id).Bucket));
    const siteBucketId = fixture.stack.getLogicalId(fixture.stack.site.bucket.node.defaultChild as never);
    expect(new Set(protectedIds)).toEqual(new Set([bucketId(), logsBucketId(), siteBucketId]));
  });

  it('retains the buckets without an auto-delete custom resource when data is retained', () => {
    expect(resources[bucketId()]).toMatchObject({ DeletionPolicy: 'Retain' });
    expect(ofType('Custom::S3AutoDeleteObjects')).toEqual([]);
  });
});

describe('storage', () => {
  it('creates the event log, metric counter and connections tables on demand with PITR, encryption and TTL', () => {
    const { eventLog, metrics, connections } = fixture.stack.storage;
    expect(ofType('AWS::DynamoDB::Table')).toHaveLength(5);
    for (const table of [eventLog, metrics, connections]) {
      expect(props(logicalId(table))).toMatchObject({
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      });
    }
    // The event log: one owner's deliveries (byUser) and every owner's by day (byDay), list attributes only.
    expect(props(logicalId(eventLog))).toMatchObject({
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        expect.objectContaining({
          IndexName: 'byUser',
          KeySchema: [
            { AttributeName: 'userId', KeyType: 'HASH' },
            { AttributeName: 'receivedAt', KeyType: 'RANGE' },
          ],
          Projection: expect.objectContaining({ ProjectionType: 'INCLUDE' }),
        }),
        expect.objectContaining({
          IndexName: 'byDay',
          KeySchema: [
            { AttributeName: 'receivedDay', KeyType: 'HASH' },
            { AttributeName: 'receivedAt', KeyType: 'RANGE' },
          ],
          Projection: {
            ProjectionType: 'INCLUDE',
            NonKeyAttributes: expect.arrayContaining(['userId', 'status', 'provider']),
          },
        }),
      ],
    });
    expect(JSON.stringify(props(logicalId(eventLog)))).not.toContain('"payload"');
    expect(props(logicalId(fixture.stack.storage.metrics))).toMatchObject({
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'minute', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: expect.arrayContaining([
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'minute', AttributeType: 'S' },
      ]),
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'connectionId', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        Match.objectLike({ IndexName: 'byUser', KeySchema: [{ AttributeName: 'userId', KeyType: 'HASH' }] }),
        Match.objectLike({ IndexName: 'byRole', KeySchema: [{ AttributeName: 'role', KeyType: 'HASH' }] }),
      ],
    });
  });
});

describe('database', () => {
  it('runs Aurora PostgreSQL Serverless v2 with the Data API, encryption and a generated secret', () => {
    template.hasResourceProperties('AWS::RDS::DBCluster', {
      Engine: 'aurora-postgresql',
      EngineVersion: Match.stringLikeRegexp('^16\\.'),
      EnableHttpEndpoint: true,
      StorageEncrypted: true,
      DeletionProtection: true,
      DatabaseName: 'webhooks',
      ServerlessV2ScalingConfiguration: { MinCapacity: 0.5, MaxCapacity: 4 },
      MasterUserPassword: Match.objectLike({ 'Fn::Join': Match.anyValue() }),
    });
    template.hasResourceProperties('AWS::RDS::DBInstance', { DBInstanceClass: 'db.serverless' });
    template.resourceCountIs('AWS::SecretsManager::SecretTargetAttachment', 1);
  });

  it('keeps the database in a VPC without any route to the internet', () => {
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.resourceCountIs('AWS::EC2::InternetGateway', 0);
    for (const [, subnet] of ofType('AWS::EC2::Subnet'))
      expect(subnet.Properties?.MapPublicIpOnLaunch).toBe(false);
  });

  it('applies the migrations through a custom resource that waits for the writer and re-runs when they change', () => {
    const [[, migrations] = []] = ofType('Custom::DatabaseMigrations');
    expect(migrations?.Properties?.migrationsHash).toBe(migrationsHash());
    const writerId = ofType('AWS::RDS::DBInstance')[0]?.[0];
    expect(migrations?.DependsOn).toContain(writerId);
  });

  it('bundles the SQL migrations next to the migrate handler', () => {
    const code = props(functionOf('migrate')).Code as { S3Key: string };
    const assetDir = path.join(fixture.outdir, `asset.${code.S3Key.replace(/\.zip$/, '')}`);
    expect(existsSync(path.join(assetDir, 'index.mjs'))).toBe(true);
    const expected = readdirSync(MIGRATIONS_DIR).filter((name) => name.endsWith('.sql'));
    expect(expected.length).toBeGreaterThan(0);
    expect(readdirSync(path.join(assetDir, 'migrations')).sort()).toEqual(expected.sort());
  });
});

describe('webhook REST API', () => {
  it('is regional and passes every media type through as binary', () => {
    template.hasResourceProperties('AWS::ApiGateway::RestApi', {
      EndpointConfiguration: { Types: ['REGIONAL'] },
      BinaryMediaTypes: ['*/*'],
    });
  });

  it('routes ANY /api/webhooks/{provider} and its {configId} child to the provider ingest function', () => {
    // The management routes (management.test.ts) are the methods with an authorizer, and the
    // public OpenAPI document, which is a GET.
    const methods = ofType('AWS::ApiGateway::Method').filter(
      ([, method]) =>
        method.Properties?.AuthorizationType === 'NONE' && method.Properties?.HttpMethod === 'ANY',
    );
    expect(methods).toHaveLength(2 * PROVIDER_NAMES.length);
    const routes = Object.fromEntries(
      methods.map(([, method]) => {
        const p = method.Properties ?? {};
        expect(p).toMatchObject({ HttpMethod: 'ANY', Integration: { Type: 'AWS_PROXY' } });
        const uri = JSON.stringify((p.Integration as Json).Uri);
        const fn = INGEST_SERVICES.map(functionOf).find((id) => uri.includes(`"${id}"`));
        return [pathOf(target(p.ResourceId)), env(fn ?? '').POWERTOOLS_SERVICE_NAME];
      }),
    );
    expect(routes).toEqual(
      Object.fromEntries(
        PROVIDER_NAMES.flatMap((provider) => [
          [`/api/webhooks/${provider}`, `ingest-${provider}`],
          [`/api/webhooks/${provider}/{configId}`, `ingest-${provider}`],
        ]),
      ),
    );
  });

  it('lets API Gateway invoke each ingest function from its own routes, any method', () => {
    for (const provider of PROVIDER_NAMES) {
      const fn = functionOf(`ingest-${provider}`);
      const sources = ofType('AWS::Lambda::Permission')
        .filter(([, p]) => target(p.Properties?.FunctionName) === fn)
        .map(([, p]) => JSON.stringify(p.Properties?.SourceArn));
      expect(sources).toHaveLength(2);
      expect(sources.some((arn) => arn.includes(`/*/api/webhooks/${provider}"`))).toBe(true);
      expect(sources.some((arn) => arn.includes(`/*/api/webhooks/${provider}/*"`))).toBe(true);
    }
  });

  it('logs access and throttles the stage, and each provider route with its own limits', () => {
    const common = { DataTraceEnabled: false, LoggingLevel: 'ERROR', MetricsEnabled: true, HttpMethod: '*' };
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'prod',
      AccessLogSetting: { DestinationArn: Match.anyValue(), Format: Match.anyValue() },
      MethodSettings: Match.arrayEquals([
        { ...common, ResourcePath: '/*', ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 },
        {
          ...common,
          ResourcePath: '/~1api~1webhooks~1hubspot',
          ThrottlingRateLimit: 100,
          ThrottlingBurstLimit: 200,
        },
        {
          ...common,
          ResourcePath: '/~1api~1webhooks~1hubspot~1{configId}',
          ThrottlingRateLimit: 100,
          ThrottlingBurstLimit: 200,
        },
        {
          ...common,
          ResourcePath: '/~1api~1webhooks~1shopify',
          ThrottlingRateLimit: 200,
          ThrottlingBurstLimit: 400,
        },
        {
          ...common,
          ResourcePath: '/~1api~1webhooks~1shopify~1{configId}',
          ThrottlingRateLimit: 200,
          ThrottlingBurstLimit: 400,
        },
        {
          ...common,
          ResourcePath: '/~1api~1webhooks~1salesforce',
          ThrottlingRateLimit: 50,
          ThrottlingBurstLimit: 100,
        },
        {
          ...common,
          ResourcePath: '/~1api~1webhooks~1salesforce~1{configId}',
          ThrottlingRateLimit: 50,
          ThrottlingBurstLimit: 100,
        },
      ]),
    });
  });

  it('sets the API Gateway CloudWatch role on the account before any stage deploys', () => {
    const [[accountId, account] = []] = ofType('AWS::ApiGateway::Account');
    expect(accountId).toBeDefined();
    const roleId = target(account?.Properties?.CloudWatchRoleArn);
    expect(JSON.stringify(props(roleId).ManagedPolicyArns)).toContain(
      'service-role/AmazonAPIGatewayPushToCloudWatchLogs',
    );
    expect(JSON.stringify(props(roleId).AssumeRolePolicyDocument)).toContain('apigateway.amazonaws.com');
    expect(account).toMatchObject({ DeletionPolicy: 'Retain' });
    for (const [, stage] of [...ofType('AWS::ApiGateway::Stage'), ...ofType('AWS::ApiGatewayV2::Stage')]) {
      expect(stage.DependsOn).toContain(accountId);
    }
  });

  it('puts the default WAF web ACL in front of the stage', () => {
    const [[, acl] = []] = ofType('AWS::WAFv2::WebACL');
    const rules = acl?.Properties?.Rules as Json[];
    expect(rules[0]).toMatchObject({
      Name: 'PerIpRateLimit',
      Statement: { RateBasedStatement: { AggregateKeyType: 'IP', EvaluationWindowSec: 60, Limit: 3000 } },
    });
    expect(ofType('AWS::WAFv2::IPSet')).toEqual([]);
    const stageId = ofType('AWS::ApiGateway::Stage')[0]?.[0];
    const [[, association] = []] = ofType('AWS::WAFv2::WebACLAssociation');
    expect(JSON.stringify(association?.Properties?.ResourceArn)).toContain(`{"Ref":"${stageId}"}`);
  });
});

describe('WebSocket API', () => {
  it('selects routes on the message type and serves $connect, $disconnect, subscribe and $default', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'WEBSOCKET',
      RouteSelectionExpression: '$request.body.type',
    });
    const routes = ofType('AWS::ApiGatewayV2::Route').map(([, route]) => route.Properties?.RouteKey);
    expect(routes.sort()).toEqual(['$connect', '$default', '$disconnect', 'subscribe']);
  });

  it('sends subscribe and $default to the message function', () => {
    const functionOfRoute = (routeKey: string): string => {
      const route = ofType('AWS::ApiGatewayV2::Route').find(
        ([, r]) => r.Properties?.RouteKey === routeKey,
      )?.[1];
      const integrationId = JSON.stringify(route?.Properties?.Target).match(/"Ref":"([^"]+)"/)?.[1] ?? '';
      const uri = JSON.stringify(props(integrationId).IntegrationUri);
      const fn = [...functionsByService().values()].flat().find((id) => uri.includes(`"${id}"`));
      return env(fn ?? '').POWERTOOLS_SERVICE_NAME as string;
    };
    expect(functionOfRoute('$connect')).toBe('ws-connect');
    expect(functionOfRoute('$disconnect')).toBe('ws-disconnect');
    expect(functionOfRoute('subscribe')).toBe('ws-message');
    expect(functionOfRoute('$default')).toBe('ws-message');
  });

  it('deploys a stage with access logs', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: 'prod',
      AutoDeploy: true,
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.anyValue() },
    });
  });
});

describe('auth', () => {
  it('requires TOTP MFA, admin-created users and strong passwords', () => {
    template.hasResourceProperties('AWS::Cognito::UserPool', {
      MfaConfiguration: 'ON',
      EnabledMfas: ['SOFTWARE_TOKEN_MFA'],
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
      Policies: {
        PasswordPolicy: Match.objectLike({
          MinimumLength: 12,
          RequireLowercase: true,
          RequireUppercase: true,
          RequireNumbers: true,
          RequireSymbols: true,
        }),
      },
    });
    const clients = ofType('AWS::Cognito::UserPoolClient');
    expect(clients).toHaveLength(1);
  });

  it('creates the operators group the API checks', () => {
    expect(props(only('AWS::Cognito::UserPoolGroup'))).toMatchObject({
      GroupName: 'operators',
      UserPoolId: { Ref: logicalId(fixture.stack.auth.userPool) },
    });
    // No first operator in the default configuration: the README's command creates one.
    expect(ofType('AWS::Cognito::UserPoolUser')).toEqual([]);
  });

  it('signs in through managed login with the authorization code and PKCE, to the page and the CLI only', () => {
    const client = props(only('AWS::Cognito::UserPoolClient'));
    expect(client).toMatchObject({
      GenerateSecret: false,
      AllowedOAuthFlowsUserPoolClient: true,
      AllowedOAuthFlows: ['code'],
      AllowedOAuthScopes: expect.arrayContaining(['openid', 'email', 'profile']),
      SupportedIdentityProviders: ['COGNITO'],
    });
    const siteUrl = {
      'Fn::Join': [
        '',
        ['https://', { 'Fn::GetAtt': [logicalId(fixture.stack.site.distribution), 'DomainName'] }, '/'],
      ],
    };
    expect(client.CallbackURLs).toEqual([siteUrl, 'http://localhost:8976/callback']);
    expect(client.LogoutURLs).toEqual(client.CallbackURLs);
    expect(props(only('AWS::Cognito::UserPoolDomain'))).toMatchObject({ ManagedLoginVersion: 2 });
    expect(props(only('AWS::Cognito::ManagedLoginBranding'))).toMatchObject({
      ClientId: { Ref: only('AWS::Cognito::UserPoolClient') },
      UseCognitoProvidedValues: true,
    });
  });

  it('gives the page the managed login URL and client id, and lets it reach the token endpoint', () => {
    const domain = only('AWS::Cognito::UserPoolDomain');
    const policy = JSON.stringify(props(only('AWS::CloudFront::ResponseHeadersPolicy')));
    expect(policy).toContain(`{"Ref":"${domain}"}`);
    const deployment = JSON.stringify(props(only('Custom::CDKBucketDeployment')));
    expect(deployment).toContain(`{"Ref":"${only('AWS::Cognito::UserPoolClient')}"}`);
  });
});

describe('outputs', () => {
  it('outputs every URL and identifier an operator needs', () => {
    const outputs = Object.keys(template.toJSON().Outputs as Json);
    expect(outputs).toEqual(
      expect.arrayContaining([
        'WebhookBaseUrl',
        'HubSpotWebhookUrl',
        'ShopifyWebhookUrl',
        'SalesforceWebhookUrl',
        'HubSpotSecretArn',
        'ShopifySecretArn',
        'SalesforceSecretArn',
        'WebAclArn',
        'PayloadBucketName',
        'WebSocketUrl',
        'UserPoolId',
        'UserPoolClientId',
        'DbClusterArn',
        'EventBusName',
        'EventBusArn',
        'ManagementApiUrl',
      ]),
    );
  });
});
