import * as path from 'node:path';
import { Duration, type RemovalPolicy, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import {
  type ICommandHooks,
  LogLevel,
  NodejsFunction,
  type NodejsFunctionProps,
  OutputFormat,
} from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { wildcardResourceFinding } from '../nag';
import { REPO_ROOT } from '../paths';

/** The runtime every function runs on (DESIGN.md: Node.js 22 on arm64). */
export const HOUSE_RUNTIME = Runtime.NODEJS_22_X;

/**
 * POWERTOOLS_METRICS_NAMESPACE of every function: the CloudWatch namespace of the EMF metrics
 * (dimensioned by `provider`) that dashboards and alarms read.
 */
export const METRICS_NAMESPACE = 'Webhooks';

/** Lets esbuild's ESM output load CommonJS dependencies that call require(). */
const ESM_REQUIRE_BANNER =
  "import { createRequire as __houseCreateRequire } from 'module'; const require = __houseCreateRequire(import.meta.url);";

/** A table and the indexes a function may query. */
export interface TableRef {
  readonly table: ITable;
  readonly indexNames?: readonly string[];
}

/**
 * `update` is UpdateItem alone: writers of counters (ADD) that never read, put or delete an item.
 * `get` is GetItem alone: readers of single items by key that never query or scan.
 * `updateBatchGet` is UpdateItem and BatchGetItem: the processors, which read a batch's event-log
 * items by key before updating them one by one.
 */
export type TableAccess = 'read' | 'readWrite' | 'readDelete' | 'update' | 'updateBatchGet' | 'get';

const READ_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:Scan',
  'dynamodb:ConditionCheckItem',
  'dynamodb:DescribeTable',
];
const TABLE_ACTIONS: Record<TableAccess, string[]> = {
  read: READ_ACTIONS,
  readWrite: [
    ...READ_ACTIONS,
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
    'dynamodb:BatchWriteItem',
  ],
  readDelete: [...READ_ACTIONS, 'dynamodb:DeleteItem'],
  update: ['dynamodb:UpdateItem'],
  updateBatchGet: ['dynamodb:UpdateItem', 'dynamodb:BatchGetItem'],
  get: ['dynamodb:GetItem'],
};

/** Item-level actions that never apply to an index: their grants name the table alone. */
const TABLE_ONLY_ACCESS = new Set<TableAccess>(['update', 'updateBatchGet', 'get']);

/**
 * What a table's customer-managed key must allow each access (DynamoDB uses the key on the caller's
 * behalf): decrypting for reads, encrypting and new data keys for writes too. Named actions only.
 */
const KEY_READ_ACTIONS = ['kms:Decrypt', 'kms:DescribeKey'];
const KEY_ACTIONS: Record<TableAccess, string[]> = {
  read: KEY_READ_ACTIONS,
  get: KEY_READ_ACTIONS,
  readDelete: KEY_READ_ACTIONS,
  readWrite: [...KEY_READ_ACTIONS, 'kms:Encrypt', 'kms:GenerateDataKey'],
  update: [...KEY_READ_ACTIONS, 'kms:Encrypt', 'kms:GenerateDataKey'],
  updateBatchGet: [...KEY_READ_ACTIONS, 'kms:Encrypt', 'kms:GenerateDataKey'],
};

/** Object-level access to a bucket: write new objects, or read them. Never list, delete or bucket-level. */
export type ObjectAccess = 'put' | 'get';

const OBJECT_ACTIONS: Record<ObjectAccess, string> = {
  put: 's3:PutObject',
  get: 's3:GetObject',
};

/** Settings shared by every function of the stack, derived once from the typed config. */
export interface FunctionDefaults {
  readonly logRetention: RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
  readonly memorySize: number;
  readonly tracing: boolean;
}

export interface HouseFunctionProps
  extends Omit<
    NodejsFunctionProps,
    | 'entry'
    | 'handler'
    | 'runtime'
    | 'architecture'
    | 'logGroup'
    | 'logRetention'
    | 'role'
    | 'bundling'
    | 'tracing'
  > {
  /** Entry file relative to `functions/`, e.g. `ingest/shopify.ts`; it must export `handler`. */
  readonly entry: string;
  /** POWERTOOLS_SERVICE_NAME: the `service` field of every log line and metric. */
  readonly serviceName: string;
  readonly defaults: FunctionDefaults;
  /** Extra shell commands run after esbuild, e.g. to copy data files next to the bundle. */
  readonly afterBundling?: (inputDir: string, outputDir: string) => string[];
}

/**
 * The one Lambda function shape of this project: Node.js 22 on arm64, an ESM bundle built by the
 * local esbuild (never Docker) with every dependency inlined, source maps on, its own log group with
 * retention, and a role that may write only to that log group until bind helpers add more.
 */
export class HouseFunction extends NodejsFunction {
  /** The function's own log group (also the only one its role may write to). */
  public readonly functionLogGroup: LogGroup;

  constructor(scope: Construct, id: string, props: HouseFunctionProps) {
    const { entry, serviceName, defaults, afterBundling, environment, ...rest } = props;
    // The log group and the role are created before the function (it takes them as props), so they
    // are siblings named after it rather than children.
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: defaults.logRetention,
      removalPolicy: defaults.logRemovalPolicy,
    });
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of the ${serviceName} function`,
    });
    logGroup.grantWrite(role);

    const commandHooks: ICommandHooks | undefined = afterBundling && {
      beforeBundling: () => [],
      beforeInstall: () => [],
      afterBundling,
    };

    super(scope, id, {
      memorySize: defaults.memorySize,
      timeout: Duration.seconds(10),
      ...rest,
      entry: path.join(REPO_ROOT, 'functions', entry),
      handler: 'handler',
      runtime: HOUSE_RUNTIME,
      architecture: Architecture.ARM_64,
      logGroup,
      role,
      tracing: defaults.tracing ? Tracing.ACTIVE : Tracing.DISABLED,
      projectRoot: REPO_ROOT,
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: serviceName,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        ...environment,
      },
      bundling: {
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: 'node22',
        platform: 'node',
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        logLevel: LogLevel.WARNING,
        // Everything, the AWS SDK included, is bundled so the deployed versions are the pinned ones.
        externalModules: [],
        // Lambda's credentials are in the environment: the SDK's default chain shrinks to that link.
        // Path relative to projectRoot, esbuild's working directory; bench/bundles.ts does the same.
        esbuildArgs: { '--alias': '@aws-sdk/credential-provider-node=./shared/lambda-credentials.ts' },
        ...(commandHooks && { commandHooks }),
      },
    });
    this.functionLogGroup = logGroup;

    Validations.of(this).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Node.js 22 is the runtime pinned by DESIGN.md (LTS; the bundles target node22 and the local stack runs the same code on Node 20/22); moving to nodejs24.x is a deliberate, tested upgrade rather than an automatic one.',
    });
    if (defaults.tracing) {
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'X-Ray PutTraceSegments/PutTelemetryRecords do not support resource-level permissions.',
      });
    }
  }

  /**
   * Sets an environment variable to a table's name and grants the chosen access to the table and
   * to the named indexes only (never `index/*`; none for `get` and `update`), plus the matching use
   * of the table's customer-managed key when it has one.
   */
  bindTable(envName: string, table: TableRef, access: TableAccess): this {
    this.addEnvironment(envName, table.table.tableName);
    const arn = table.table.tableArn;
    const indexNames = TABLE_ONLY_ACCESS.has(access) ? [] : (table.indexNames ?? []);
    iam.Grant.addToPrincipal({
      grantee: this,
      actions: TABLE_ACTIONS[access],
      resourceArns: [arn, ...indexNames.map((index) => `${arn}/index/${index}`)],
    });
    const key = table.table.encryptionKey;
    if (key) {
      iam.Grant.addToPrincipal({ grantee: this, actions: KEY_ACTIONS[access], resourceArns: [key.keyArn] });
    }
    return this;
  }

  /**
   * Sets an environment variable to a bucket's name and grants one object-level action (PutObject
   * or GetObject) on the bucket's objects, nothing on the bucket itself.
   */
  bindBucket(envName: string, bucket: IBucket, access: ObjectAccess): this {
    this.addEnvironment(envName, bucket.bucketName);
    const objects = bucket.arnForObjects('*');
    iam.Grant.addToPrincipal({ grantee: this, actions: [OBJECT_ACTIONS[access]], resourceArns: [objects] });
    if (access === 'get') {
      // Without ListBucket, S3 answers a missing key with AccessDenied instead of NoSuchKey, and the
      // reader could not tell "gone for good" (dead-letter it) from a transient failure.
      iam.Grant.addToPrincipal({
        grantee: this,
        actions: ['s3:ListBucket'],
        resourceArns: [bucket.bucketArn],
      });
    }
    if (this.role) {
      Validations.of(this.role).acknowledge({
        id: wildcardResourceFinding(this, objects),
        reason: `Object keys are derived at runtime from the provider and delivery id; the grant is ${OBJECT_ACTIONS[access]} alone, on the objects of this one bucket.`,
      });
    }
    return this;
  }

  /** Sets an environment variable to a queue's URL and lets the function send to that queue, nothing else. */
  bindQueue(envName: string, queue: IQueue): this {
    this.addEnvironment(envName, queue.queueUrl);
    queue.grant(this, 'sqs:SendMessage');
    return this;
  }

  /** Sets an environment variable to an event bus's name and lets the function put events on that bus only. */
  bindEventBus(envName: string, bus: IEventBus): this {
    this.addEnvironment(envName, bus.eventBusName);
    bus.grantPutEventsTo(this);
    return this;
  }

  /** Sets an environment variable to a secret's ARN and lets the function read that secret. */
  bindSecret(envName: string, secret: ISecret): this {
    this.addEnvironment(envName, secret.secretArn);
    secret.grantRead(this);
    return this;
  }
}
