import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { PRIORITIES, type Priority, type WebhooksConfig } from './config';
import { Auth } from './constructs/auth';
import { Database } from './constructs/database';
import { EdgeProtection } from './constructs/edge-protection';
import type { FunctionDefaults } from './constructs/house-function';
import { Ingestion, PROVIDER_TITLES } from './constructs/ingestion';
import { ManagementApi } from './constructs/management-api';
import { PayloadStore } from './constructs/payload-store';
import { Processing } from './constructs/processing';
import { PriorityQueues } from './constructs/queues';
import { Realtime } from './constructs/realtime';
import { Storage } from './constructs/storage';
import { WorkflowEvents } from './constructs/workflow-events';

export interface WebhooksStackProps extends StackProps {
  readonly config: WebhooksConfig;
}

/** The whole system in one stack: one construct per concern, wired together here and nowhere else. */
export class WebhooksStack extends Stack {
  public readonly storage: Storage;
  public readonly payloads: PayloadStore;
  public readonly queues: PriorityQueues;
  public readonly database: Database;
  public readonly auth: Auth;
  public readonly realtime: Realtime;
  public readonly ingestion: Ingestion;
  public readonly management: ManagementApi;
  public readonly edge: EdgeProtection;
  public readonly workflowEvents: WorkflowEvents;
  public readonly processing: Processing;

  constructor(scope: Construct, id: string, props: WebhooksStackProps) {
    super(scope, id, props);
    const { config } = props;
    const removalPolicy = config.removalPolicy === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const functionDefaults: FunctionDefaults = {
      logRetention: config.logRetentionDays,
      logRemovalPolicy: removalPolicy,
      memorySize: config.lambda.memorySize,
      tracing: config.lambda.tracing,
    };

    this.storage = new Storage(this, 'Storage', { removalPolicy });
    this.payloads = new PayloadStore(this, 'Payloads', {
      payloadRetention: Duration.days(config.payloadRetentionDays),
      accessLogRetention: Duration.days(config.logRetentionDays),
      removalPolicy,
    });
    this.queues = new PriorityQueues(this, 'Queues', {
      processorTimeouts: Object.fromEntries(
        PRIORITIES.map((priority) => [
          priority,
          Duration.seconds(config.processors[priority].timeoutSeconds),
        ]),
      ) as Record<Priority, Duration>,
      maxReceiveCount: config.queues.maxReceiveCount,
      retention: Duration.days(config.queues.retentionDays),
      removalPolicy,
    });
    this.database = new Database(this, 'Database', {
      config: config.database,
      removalPolicy,
      functionDefaults,
    });
    this.auth = new Auth(this, 'Auth', { removalPolicy });
    this.realtime = new Realtime(this, 'Realtime', {
      stageName: config.stage,
      connections: this.storage.connectionsRef,
      auth: { issuerUrl: this.auth.issuerUrl, jwksUrl: this.auth.jwksUrl, audience: this.auth.audience },
      functionDefaults,
    });
    this.ingestion = new Ingestion(this, 'Ingestion', {
      providers: config.providers,
      queues: this.queues.queues,
      payloadBucket: this.payloads.bucket,
      configs: this.storage.configsRef,
      rateLimits: this.storage.rateLimitsRef,
      stageName: config.stage,
      throttling: { rateLimit: config.api.throttlingRateLimit, burstLimit: config.api.throttlingBurstLimit },
      providerThrottling: config.api.providerThrottling,
      tracing: config.api.tracing,
      createCloudWatchRole: config.api.createCloudWatchRole,
      ingest: config.ingest,
      priorities: config.priorities,
      hubspot: config.hubspot,
      salesforce: config.salesforce,
      removalPolicy,
      functionDefaults,
    });
    this.management = new ManagementApi(this, 'Management', {
      webhooksResource: this.ingestion.webhooksResource,
      userPool: this.auth.userPool,
      configs: this.storage.configsRef,
      eventLog: this.storage.eventLogRef,
      metrics: this.storage.metricsRef,
      queues: this.queues.queues,
      payloadBucket: this.payloads.bucket,
      webhookBaseUrl: this.ingestion.baseUrl,
      auth: { issuerUrl: this.auth.issuerUrl, jwksUrl: this.auth.jwksUrl, audience: this.auth.audience },
      config: config.management,
      functionDefaults,
    });
    // The WebSocket stage's access logs use the same account-level role: on a fresh account its
    // first deployment must wait for the setting (the REST stage waits by itself).
    if (this.ingestion.cloudWatchAccount) {
      this.realtime.stage.node.addDependency(this.ingestion.cloudWatchAccount);
    }
    this.edge = new EdgeProtection(this, 'Edge', {
      stage: this.ingestion.api.deploymentStage,
      ipRateLimitPerMinute: config.waf.ipRateLimitPerMinute,
      blockedCidrs: config.waf.blockedCidrs,
      logRetention: config.logRetentionDays,
      logRemovalPolicy: removalPolicy,
    });
    this.workflowEvents = new WorkflowEvents(this, 'WorkflowEvents', {
      archiveRetention: Duration.days(config.workflowEvents.archiveDays),
    });
    this.processing = new Processing(this, 'Processing', {
      queues: this.queues.queues,
      processors: config.processors,
      processing: config.processing,
      eventLog: this.storage.eventLogRef,
      metrics: this.storage.metricsRef,
      eventBus: this.workflowEvents.bus,
      connections: this.storage.connectionsRef,
      payloadBucket: this.payloads.bucket,
      database: this.database,
      realtime: this.realtime,
      eventLogRetentionDays: config.eventLogRetentionDays,
      functionDefaults,
    });

    new CfnOutput(this, 'WebhookBaseUrl', {
      description: 'Base of every provider webhook URL (REST API stage)',
      value: this.ingestion.baseUrl,
    });
    for (const provider of config.providers) {
      const ingest = this.ingestion.providers[provider];
      if (!ingest) continue;
      const title = PROVIDER_TITLES[provider];
      new CfnOutput(this, `${title}WebhookUrl`, {
        description: `Register this URL with ${title}`,
        value: ingest.url,
      });
      new CfnOutput(this, `${title}SecretArn`, {
        description: `Secret to set to the ${title} signing secret`,
        value: ingest.secret.secretArn,
      });
    }
    new CfnOutput(this, 'ManagementApiUrl', {
      description: 'Webhook management API (Cognito ID token in the Authorization header)',
      value: `${this.ingestion.baseUrl}/api/webhooks`,
    });
    new CfnOutput(this, 'WebAclArn', {
      description: 'WAF web ACL in front of the webhook API',
      value: this.edge.webAcl.attrArn,
    });
    new CfnOutput(this, 'PayloadBucketName', {
      description: 'Claim-check bucket of payloads too large for SQS',
      value: this.payloads.bucket.bucketName,
    });
    new CfnOutput(this, 'WebSocketUrl', {
      description: 'Dashboard WebSocket URL',
      value: this.realtime.webSocketUrl,
    });
    new CfnOutput(this, 'EventBusName', {
      description: 'EventBridge bus of the domain events (source webhooks.{provider}) for workflow rules',
      value: this.workflowEvents.bus.eventBusName,
    });
    new CfnOutput(this, 'EventBusArn', {
      description: 'ARN of the domain event bus (its archive replays onto it)',
      value: this.workflowEvents.bus.eventBusArn,
    });
    new CfnOutput(this, 'UserPoolId', { value: this.auth.userPool.userPoolId });
    new CfnOutput(this, 'UserPoolClientId', { value: this.auth.client.userPoolClientId });
    new CfnOutput(this, 'DbClusterArn', { value: this.database.cluster.clusterArn });
    new CfnOutput(this, 'DbSecretArn', { value: this.database.secret.secretArn });
  }
}
