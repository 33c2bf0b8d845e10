import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { CustomResource, Duration, RemovalPolicies, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { WebhooksConfig } from '../config';
import { REPO_ROOT } from '../paths';
import { deployTimeProvider } from './deploy-provider';
import { type FunctionDefaults, HouseFunction } from './house-function';

/** Committed SQL migrations, applied in file-name order by `functions/migrate.ts`. */
export const MIGRATIONS_DIR = path.join(REPO_ROOT, 'shared', 'db', 'migrations');

export interface DatabaseProps {
  readonly config: WebhooksConfig['database'];
  readonly removalPolicy: RemovalPolicy;
  readonly functionDefaults: FunctionDefaults;
}

/** A digest of every migration file's name and content: a changed or added migration re-runs the migrator. */
export function migrationsHash(dir: string = MIGRATIONS_DIR): string {
  const hash = createHash('sha256');
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.sql'))
    .sort();
  if (files.length === 0) throw new Error(`No SQL migrations found in ${dir}`);
  for (const name of files) {
    hash
      .update(name)
      .update('\0')
      .update(readFileSync(path.join(dir, name)))
      .update('\0');
  }
  return hash.digest('hex');
}

/** What a function needs to reach the database through the Data API. */
export interface DatabaseAccess {
  readonly cluster: rds.DatabaseCluster;
  readonly secret: ISecret;
  readonly databaseName: string;
}

/**
 * Gives a function the database as the processors have it: DB_CLUSTER_ARN, DB_SECRET_ARN and
 * DB_NAME (read by shared/db/client.ts) and the Data API on the cluster with its secret.
 */
export function bindDatabase(fn: HouseFunction, database: DatabaseAccess): void {
  fn.addEnvironment('DB_CLUSTER_ARN', database.cluster.clusterArn)
    .addEnvironment('DB_SECRET_ARN', database.secret.secretArn)
    .addEnvironment('DB_NAME', database.databaseName);
  database.cluster.grantDataApiAccess(fn);
}

/**
 * Aurora PostgreSQL Serverless v2 reached only through the RDS Data API: no Lambda joins the VPC,
 * so the VPC has isolated subnets only (no NAT, no internet gateway) and the cluster's security
 * group admits nothing. A custom resource applies the committed SQL migrations on every deploy
 * that changes them.
 */
export class Database extends Construct {
  public readonly cluster: rds.DatabaseCluster;
  public readonly secret: ISecret;
  public readonly databaseName: string;
  public readonly vpc: ec2.Vpc;
  public readonly migrateFunction: HouseFunction;

  constructor(scope: Construct, id: string, props: DatabaseProps) {
    super(scope, id);
    const { config } = props;
    this.databaseName = config.name;

    const flowLogs = new LogGroup(this, 'VpcFlowLogs', {
      retention: props.functionDefaults.logRetention,
      removalPolicy: props.functionDefaults.logRemovalPolicy,
    });
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
      // Nothing runs in this VPC besides Aurora; the default group is left as is rather than
      // adding a custom-resource Lambda to empty it.
      restrictDefaultSecurityGroup: false,
      flowLogs: {
        all: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs),
          trafficType: ec2.FlowLogTrafficType.ALL,
        },
      },
    });

    this.cluster = new rds.DatabaseCluster(this, 'Cluster', {
      engine: rds.DatabaseClusterEngine.auroraPostgres({
        version: rds.AuroraPostgresEngineVersion.VER_16_13,
      }),
      writer: rds.ClusterInstance.serverlessV2('Writer', { publiclyAccessible: false }),
      serverlessV2MinCapacity: config.minCapacity,
      serverlessV2MaxCapacity: config.maxCapacity,
      ...(config.autoPauseMinutes !== undefined && {
        serverlessV2AutoPauseDuration: Duration.minutes(config.autoPauseMinutes),
      }),
      vpc: this.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      credentials: rds.Credentials.fromGeneratedSecret('webhooks_admin'),
      defaultDatabaseName: config.name,
      enableDataApi: true,
      storageEncrypted: true,
      iamAuthentication: true,
      deletionProtection: config.deletionProtection,
      backup: { retention: Duration.days(config.backupRetentionDays) },
      copyTagsToSnapshot: true,
      // Retained, not snapshotted: a snapshot policy needs deletion protection off, and with it on
      // `cdk destroy` would fail at the cluster. A retained cluster keeps its network interfaces
      // in the VPC's subnets, so the whole network stays with it (below).
      removalPolicy: props.removalPolicy,
    });
    if (props.removalPolicy === RemovalPolicy.RETAIN) {
      // The flow log and its role go: a retained network without traffic needs no logging.
      RemovalPolicies.of(this.vpc).retain({
        excludeResourceTypes: ['AWS::EC2::FlowLog', 'AWS::IAM::Role', 'AWS::IAM::Policy'],
      });
      RemovalPolicies.of(this.cluster).retain();
    }
    const secret = this.cluster.secret;
    if (!secret) throw new Error('The database cluster has no generated secret');
    this.secret = secret;

    Validations.of(this.cluster).acknowledge({
      id: 'AwsSolutions-RDS11',
      reason:
        'The cluster has no network path at all (isolated subnets, no ingress rule); it is reached only through the RDS Data API, so port obfuscation adds nothing.',
    });
    if (!config.deletionProtection) {
      Validations.of(this.cluster).acknowledge({
        id: 'AwsSolutions-RDS10',
        reason:
          'Deletion protection was turned off in the stack configuration (database.deletionProtection) for a disposable stage.',
      });
    }
    const secretResource = this.cluster.node.findChild('Secret');
    // Keep the credentials with the final snapshot when data is retained.
    if (secretResource instanceof Secret) secretResource.applyRemovalPolicy(props.removalPolicy);
    Validations.of(secretResource).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Single-user rotation needs a rotation Lambda inside the VPC plus a Secrets Manager endpoint; the Data API callers read the secret per call, so rotation can be added later without code changes.',
    });

    this.migrateFunction = new HouseFunction(this, 'MigrateFunction', {
      entry: 'migrate.ts',
      serviceName: 'migrate',
      defaults: props.functionDefaults,
      description: 'Applies the committed SQL migrations through the RDS Data API',
      // A paused or cold Serverless v2 writer takes tens of seconds to resume.
      timeout: Duration.minutes(5),
      environment: {
        DB_CLUSTER_ARN: this.cluster.clusterArn,
        DB_SECRET_ARN: secret.secretArn,
        DB_NAME: config.name,
      },
      afterBundling: (inputDir, outputDir) => [
        `mkdir -p "${outputDir}/migrations"`,
        `cp "${inputDir}/shared/db/migrations/"*.sql "${outputDir}/migrations/"`,
      ],
    });
    this.cluster.grantDataApiAccess(this.migrateFunction);

    const provider = deployTimeProvider(
      this,
      'MigrationsProvider',
      this.migrateFunction,
      props.functionDefaults,
      'the migrate function',
    );

    const migrations = new CustomResource(this, 'Migrations', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::DatabaseMigrations',
      properties: { migrationsHash: migrationsHash(), database: config.name },
    });
    // The writer instance must be up before the Data API can run a statement.
    migrations.node.addDependency(this.cluster);
  }
}
