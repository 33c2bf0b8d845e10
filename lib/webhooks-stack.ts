import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { PRIORITIES, type Priority, type WebhooksConfig } from './config';
import { Alerting } from './constructs/alerting';
import { Auth } from './constructs/auth';
import { Cleanup } from './constructs/cleanup';
import { ConfigSecretsMigration } from './constructs/config-secrets';
import { SystemDashboard } from './constructs/dashboard';
import { DashboardSite } from './constructs/dashboard-site';
import { Database } from './constructs/database';
import { DeadLetterSweep } from './constructs/dead-letter-sweep';
import { EdgeProtection } from './constructs/edge-protection';
import { type FunctionDefaults, HouseFunction } from './constructs/house-function';
import { Ingestion, PROVIDER_TITLES } from './constructs/ingestion';
import { ManagementApi } from './constructs/management-api';
import { MetricsPush } from './constructs/metrics-push';
import { OpsAlarms } from './constructs/ops-alarms';
import { PayloadStore } from './constructs/payload-store';
import { Processing } from './constructs/processing';
import { PriorityQueues } from './constructs/queues';
import { Realtime } from './constructs/realtime';
import { Storage } from './constructs/storage';
import { WorkflowEvents } from './constructs/workflow-events';
import { WorkflowTargets } from './constructs/workflow-targets';
import { giveProviderLogGroups } from './provider-logs';

export interface WebhooksStackProps extends StackProps {
  readonly config: WebhooksConfig;
}

/** The whole system in one stack: one construct per concern, wired together here and nowhere else. */
export class WebhooksStack extends Stack {
  public readonly storage: Storage;
  public readonly configSecrets: ConfigSecretsMigration;
  public readonly payloads: PayloadStore;
  public readonly queues: PriorityQueues;
  public readonly database: Database;
  public readonly auth: Auth;
  public readonly realtime: Realtime;
  public readonly ingestion: Ingestion;
  public readonly management: ManagementApi;
  /** The dashboard page on S3 and CloudFront. */
  public readonly site: DashboardSite;
  public readonly edge: EdgeProtection;
  public readonly workflowEvents: WorkflowEvents;
  public readonly workflowTargets: WorkflowTargets;
  public readonly processing: Processing;
  public readonly deadLetterSweep: DeadLetterSweep;
  public readonly metricsPush: MetricsPush;
  public readonly cleanup: Cleanup;
  public readonly alerting: Alerting;
  public readonly opsAlarms: OpsAlarms;
  public readonly dashboard: SystemDashboard;

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

    this.storage = new Storage(this, 'Storage', {
      removalPolicy,
      legacyConfigsIndex: config.storage.legacyConfigsIndex,
    });
    this.configSecrets = new ConfigSecretsMigration(this, 'ConfigSecrets', {
      storage: this.storage,
      functionDefaults,
    });
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
    this.auth = new Auth(this, 'Auth', {
      removalPolicy,
      stage: config.stage,
      firstOperatorEmail: config.auth.firstOperatorEmail,
      domainPrefix: config.auth.domainPrefix,
      allowPasswordAuth: config.auth.allowPasswordAuth,
    });
    this.realtime = new Realtime(this, 'Realtime', {
      stageName: config.stage,
      throttling: config.api.webSocketThrottling,
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
      rejections: this.storage.rejectionsRef,
      configSecrets: this.storage,
      eventLog: this.storage.eventLogRef,
      eventLogRetentionDays: config.eventLogRetentionDays,
      eventLogPayloadMaxBytes: config.processing.eventLogPayloadMaxBytes,
      connections: this.storage.connectionsRef,
      realtime: this.realtime,
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
    this.workflowEvents = new WorkflowEvents(this, 'WorkflowEvents', {
      archiveRetention: Duration.days(config.workflowEvents.archiveDays),
    });
    this.workflowTargets = new WorkflowTargets(this, 'Workflows', {
      bus: this.workflowEvents.bus,
      workflows: config.workflows,
    });
    this.management = new ManagementApi(this, 'Management', {
      webhooksResource: this.ingestion.webhooksResource,
      userPool: this.auth.userPool,
      configs: this.storage.configsRef,
      eventLog: this.storage.eventLogRef,
      metrics: this.storage.metricsRef,
      rejections: this.storage.rejectionsRef,
      configSecrets: this.storage,
      queues: this.queues.queues,
      payloadBucket: this.payloads.bucket,
      priorities: config.priorities,
      eventLogPayloadMaxBytes: config.processing.eventLogPayloadMaxBytes,
      eventLogRetentionDays: config.eventLogRetentionDays,
      webhookBaseUrl: this.ingestion.baseUrl,
      auth: { issuerUrl: this.auth.issuerUrl, jwksUrl: this.auth.jwksUrl, audience: this.auth.audience },
      database: this.database,
      eventBus: this.workflowEvents.bus,
      config: config.management,
      providers: config.providers,
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
      sourcePathRateLimitPerMinute: config.waf.sourcePathRateLimitPerMinute,
      configRateLimitPerMinute: config.waf.configRateLimitPerMinute,
      providerRateLimitPerMinute: config.waf.providerRateLimitPerMinute,
      blockedCidrs: config.waf.blockedCidrs,
      logRetention: config.logRetentionDays,
      logRemovalPolicy: removalPolicy,
    });
    this.processing = new Processing(this, 'Processing', {
      queues: this.queues.queues,
      processors: config.processors,
      processing: config.processing,
      queueRetentionDays: config.queues.retentionDays,
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
    this.deadLetterSweep = new DeadLetterSweep(this, 'DeadLetterSweep', {
      queues: this.queues.queues,
      eventLog: this.storage.eventLogRef,
      eventLogRetentionDays: config.eventLogRetentionDays,
      metrics: this.storage.metricsRef,
      connections: this.storage.connectionsRef,
      realtime: this.realtime,
      functionDefaults,
    });
    this.metricsPush = new MetricsPush(this, 'MetricsPush', {
      connections: this.storage.connectionsRef,
      configs: this.storage.configsRef,
      metrics: this.storage.metricsRef,
      realtime: this.realtime,
      providers: config.providers,
      database: this.database,
      functionDefaults,
    });

    this.cleanup = new Cleanup(this, 'Cleanup', {
      database: this.database,
      alertRetentionDays: config.alertRetentionDays,
      metricsRetentionDays: config.metricsRetentionDays,
      functionDefaults,
    });

    this.site = new DashboardSite(this, 'Site', {
      apiDomainName: `${this.ingestion.api.restApiId}.execute-api.${this.region}.${this.urlSuffix}`,
      // The name, not the stage's Ref: the distribution must not depend on the stage (its methods'
      // functions take the sign-in client's id, and the client takes the distribution's URL).
      apiStageName: config.stage,
      websocketUrl: this.realtime.webSocketUrl,
      websocketOrigin: `wss://${this.realtime.api.apiId}.execute-api.${this.region}.${this.urlSuffix}`,
      accessLogsBucket: this.payloads.accessLogsBucket,
      signIn: { url: this.auth.signInUrl, clientId: this.auth.client.userPoolClientId },
      removalPolicy,
      logRetention: config.logRetentionDays,
    });
    this.auth.allowPage(`${this.site.url}/`);

    // Alerting last: its ops alarms and dashboard cover every function created above.
    this.alerting = new Alerting(this, 'Alerting', {
      config: config.alerting,
      eventBus: this.workflowEvents.bus,
      database: this.database,
      connections: this.storage.connectionsRef,
      realtime: this.realtime,
      removalPolicy,
      functionDefaults,
    });
    const functions = this.node
      .findAll()
      .filter((node): node is HouseFunction => node instanceof HouseFunction);
    this.opsAlarms = new OpsAlarms(this, 'OpsAlarms', {
      alarmPrefix: this.alerting.alarmPrefix,
      topics: this.alerting.alarmTopics,
      config: config.alerting,
      queues: this.queues.queues,
      functions,
      restStage: this.ingestion.api.deploymentStage,
      webAcl: this.edge.webAcl,
      providers: config.providers,
    });
    this.dashboard = new SystemDashboard(this, 'Dashboard', {
      providers: config.providers,
      restStage: this.ingestion.api.deploymentStage,
      webSocketApi: this.realtime.api,
      webSocketStageName: this.realtime.stage.stageName,
      webAcl: this.edge.webAcl,
      queues: this.queues.queues,
      functions,
      cluster: this.database.cluster,
      alarms: [...this.opsAlarms.alarms, ...this.alerting.defaultRuleAlarmRefs],
    });
    this.alerting.recorder.addEnvironment('DASHBOARD_URL', this.dashboard.url);
    giveProviderLogGroups(this, config.logRetentionDays, removalPolicy);

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
    new CfnOutput(this, 'AlarmTopicArn', {
      description: 'SNS topic every alarm notifies (add HTTPS or chat subscriptions here)',
      value: this.alerting.defaultTopic.topicArn,
    });
    new CfnOutput(this, 'SlackWebhookSecretArn', {
      description: 'Secret holding the Slack incoming-webhook URL the alert recorder posts to',
      value: this.alerting.slackWebhookSecret.secretArn,
    });
    if (this.alerting.webhookSigningSecret) {
      new CfnOutput(this, 'AlertWebhookSigningSecretArn', {
        description: 'HMAC key the alert webhook channel signs its POSTs with (share it with the receivers)',
        value: this.alerting.webhookSigningSecret.secretArn,
      });
    }
    new CfnOutput(this, 'MonitoringDashboardUrl', {
      description: 'CloudWatch dashboard of the whole system',
      value: this.dashboard.url,
    });
    new CfnOutput(this, 'DashboardUrl', {
      description: 'The live dashboard page (sign in with an operator of the user pool)',
      value: this.site.url,
    });
    new CfnOutput(this, 'UserPoolId', { value: this.auth.userPool.userPoolId });
    new CfnOutput(this, 'UserPoolClientId', { value: this.auth.client.userPoolClientId });
    new CfnOutput(this, 'SignInUrl', {
      description: 'Cognito managed login of the dashboard and `npm run oncall -- login`',
      value: this.auth.signInUrl,
    });
    new CfnOutput(this, 'DbClusterArn', { value: this.database.cluster.clusterArn });
    new CfnOutput(this, 'DbSecretArn', { value: this.database.secret.secretArn });
  }
}
