import { type RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as iam from 'aws-cdk-lib/aws-iam';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { ProviderName } from '../../shared/envelope';
import type { Priority, ThrottleConfig, WebhooksConfig } from '../config';
import { PROVIDER_THROTTLED } from '../edge-limits';
import { managedPolicyFinding } from '../nag';
import { type FunctionDefaults, HouseFunction, type TableRef } from './house-function';
import type { PriorityQueue } from './queues';
import type { Realtime } from './realtime';

export interface IngestionProps {
  /** One route, ingest function and signing secret each; the entry is `functions/ingest/{provider}.ts`. */
  readonly providers: readonly ProviderName[];
  readonly queues: Record<Priority, PriorityQueue>;
  /** The claim-check bucket: ingest functions may only put objects into it. */
  readonly payloadBucket: IBucket;
  /** Webhook configurations: ingest functions may only get one by id (CONFIGS_TABLE). */
  readonly configs: TableRef;
  /** Per-config rate-limit counters: ingest functions may only update them (RATE_LIMIT_TABLE). */
  readonly rateLimits: TableRef;
  /**
   * The event log: ingest functions may only update items, to record each acceptance (the
   * ledger's receipts) and to log quarantined deliveries, which they push to dashboards.
   */
  readonly eventLog: TableRef;
  readonly eventLogRetentionDays: number;
  readonly eventLogPayloadMaxBytes: number;
  readonly connections: TableRef;
  readonly realtime: Realtime;
  readonly stageName: string;
  /** Stage-wide limits, for anything without a per-provider override. */
  readonly throttling: ThrottleConfig;
  /** Limits of each provider's routes, `/api/webhooks/{provider}` and `/api/webhooks/{provider}/{configId}`. */
  readonly providerThrottling: Record<ProviderName, ThrottleConfig>;
  readonly tracing: boolean;
  /** Create the API Gateway CloudWatch Logs role and set it on the account. */
  readonly createCloudWatchRole: boolean;
  readonly ingest: WebhooksConfig['ingest'];
  /** Priority overrides (config `priorities`), passed as PRIORITY_OVERRIDES. */
  readonly priorities: WebhooksConfig['priorities'];
  readonly hubspot: WebhooksConfig['hubspot'];
  readonly salesforce: WebhooksConfig['salesforce'];
  /** Of the provider secrets. */
  readonly removalPolicy: RemovalPolicy;
  readonly functionDefaults: FunctionDefaults;
}

/** What each provider's ingest route is made of. */
export interface ProviderIngest {
  readonly function: HouseFunction;
  readonly secret: secretsmanager.Secret;
  readonly method: apigw.Method;
  /** `ANY /api/webhooks/{provider}/{configId}`: deliveries to one registered webhook configuration. */
  readonly configMethod: apigw.Method;
  /** The public URL to register with the provider. */
  readonly url: string;
}

/** Display names, also the prefix of each provider's construct ids and stack outputs. */
export const PROVIDER_TITLES: Record<ProviderName, string> = {
  hubspot: 'HubSpot',
  shopify: 'Shopify',
  salesforce: 'Salesforce',
};

/** How each provider authenticates its deliveries, for descriptions and acknowledgments. */
const PROVIDER_AUTH: Record<ProviderName, { readonly secret: string; readonly request: string }> = {
  hubspot: {
    secret: "The HubSpot app's client secret, the key of its webhook signatures.",
    request:
      'every delivery carries an HMAC-SHA256 signature (X-HubSpot-Signature-v3) over method, URL, body and timestamp.',
  },
  shopify: {
    secret: "The Shopify app's client secret, the key of its webhook signatures.",
    request: 'every delivery carries an HMAC-SHA256 signature of the raw body (X-Shopify-Hmac-Sha256).',
  },
  salesforce: {
    secret: 'The HS256 key Salesforce signs its bearer tokens (JWT) with.',
    request:
      'deliveries carry a JWT signed by the org (HS256 with this secret, or RS256 against the configured public key), and Outbound Messages are accepted only from the configured org id.',
  },
};

/** The error body of API Gateway's own answers, in the API's one error shape. */
function errorTemplate(code: string, message: string): Record<string, string> {
  return { 'application/json': JSON.stringify({ success: false, error: { code, message } }) };
}

/** Gateway response header values are mapping expressions: static values are single-quoted. */
const JSON_HEADERS = { 'Content-Type': "'application/json'", 'Cache-Control': "'no-store'" };

/**
 * The public webhook REST API: `ANY /api/webhooks/{provider}` per configured provider, each served
 * by its own ingest Lambda that verifies the provider's signature over the raw body (all media
 * types arrive base64, byte-exact) and enqueues to the priority FIFO queues; other methods reach
 * the Lambda too, which answers 405 with an Allow header. Regional endpoint, stage and
 * per-provider throttling, access and error logging, and API Gateway's own errors (unknown path,
 * too large, throttled, WAF block, 5xx) answered as JSON in the same error shape.
 */
export class Ingestion extends Construct {
  public readonly api: apigw.RestApi;
  /** `/api/webhooks`, where later management routes attach. */
  public readonly webhooksResource: apigw.Resource;
  /** `https://{api}.execute-api.{region}.{suffix}/{stage}`: what the provider URLs start with. */
  public readonly baseUrl: string;
  public readonly providers: Partial<Record<ProviderName, ProviderIngest>> = {};
  /**
   * The account-wide API Gateway setting naming the CloudWatch Logs role, when this stack creates
   * it: every stage that logs (the WebSocket one too) must be deployed after it.
   */
  public readonly cloudWatchAccount?: apigw.CfnAccount;

  constructor(scope: Construct, id: string, props: IngestionProps) {
    super(scope, id);
    const defaults = props.functionDefaults;

    const accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: defaults.logRetention,
      removalPolicy: defaults.logRemovalPolicy,
    });
    this.api = new apigw.RestApi(this, 'Api', {
      // Unique per stack: the 5xx alarm and the dashboard select the API by its name.
      restApiName: `${Stack.of(this).stackName}-webhooks`,
      description: 'Provider webhooks (HubSpot, Shopify, Salesforce)',
      endpointConfiguration: { types: [apigw.EndpointType.REGIONAL] },
      // Every body reaches the Lambda base64-encoded and byte-exact, as signature checks need.
      binaryMediaTypes: ['*/*'],
      // Execution and access logging need the account's API Gateway CloudWatch role, which a fresh
      // account lacks. The role and the account setting are retained on stack deletion: the
      // setting is account-wide and other APIs may rely on it.
      cloudWatchRole: props.createCloudWatchRole,
      deployOptions: {
        stageName: props.stageName,
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigw.AccessLogFormat.jsonWithStandardFields(),
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        // Never log request or response bodies: they carry customer data.
        dataTraceEnabled: false,
        metricsEnabled: true,
        tracingEnabled: props.tracing,
        throttlingRateLimit: props.throttling.rateLimit,
        throttlingBurstLimit: props.throttling.burstLimit,
        methodOptions: Object.fromEntries(
          props.providers.flatMap((provider) => {
            // A method setting replaces the stage-wide one as a whole, so logging and metrics are
            // repeated next to the limits.
            const options = {
              loggingLevel: apigw.MethodLoggingLevel.ERROR,
              dataTraceEnabled: false,
              metricsEnabled: true,
              throttlingRateLimit: props.providerThrottling[provider].rateLimit,
              throttlingBurstLimit: props.providerThrottling[provider].burstLimit,
            } satisfies apigw.MethodDeploymentOptions;
            // `/{resourcePath}/{httpMethod}`: every method of the provider's resource and of its
            // per-config child (one ANY method each, whatever verb arrives), with the same limits.
            return [
              [`/api/webhooks/${provider}/*`, options],
              [`/api/webhooks/${provider}/{configId}/*`, options],
            ];
          }),
        ),
      },
    });
    const cloudWatchRole = this.api.node.tryFindChild('CloudWatchRole');
    if (cloudWatchRole) {
      Validations.of(cloudWatchRole).acknowledge({
        id: managedPolicyFinding('service-role/AmazonAPIGatewayPushToCloudWatchLogs'),
        reason:
          'AmazonAPIGatewayPushToCloudWatchLogs is the AWS managed policy API Gateway documents for its account-level CloudWatch Logs role; API Gateway creates the log groups of every stage itself, so it cannot be scoped to ours.',
      });
    }
    const account = this.api.node.tryFindChild('Account');
    if (account instanceof apigw.CfnAccount) this.cloudWatchAccount = account;
    // API Gateway writes the stage's execution logs to a group it creates itself, with no
    // retention, unless the group already exists: create it first, with the stack's retention.
    const executionLogs = new LogGroup(this, 'ExecutionLogs', {
      logGroupName: `API-Gateway-Execution-Logs_${this.api.restApiId}/${props.stageName}`,
      retention: defaults.logRetention,
      removalPolicy: defaults.logRemovalPolicy,
    });
    this.api.deploymentStage.node.addDependency(executionLogs);
    this.addGatewayResponses();
    const stack = Stack.of(this);
    // Composed from the API id, not api.url: a function holding the URL of its own API's stage
    // would close the cycle Lambda -> Stage -> Deployment -> Method -> Lambda.
    this.baseUrl = `https://${this.api.restApiId}.execute-api.${stack.region}.${stack.urlSuffix}/${props.stageName}`;

    this.webhooksResource = this.api.root.addResource('api').addResource('webhooks');
    for (const provider of props.providers) this.addProvider(provider, props);

    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-APIG2',
      reason:
        'Webhook bodies are verified over the raw bytes and then parsed and validated with zod schemas in the ingest Lambda; an API Gateway model would duplicate that schema and answer providers differently from the local stack.',
    });
  }

  /** API Gateway's own answers (no Lambda involved), as JSON in the API's one error shape. */
  private addGatewayResponses(): void {
    // An unknown path (e.g. an unconfigured provider) is reported as a missing token by REST APIs.
    this.api.addGatewayResponse('NotFound', {
      type: apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
      statusCode: '404',
      responseHeaders: JSON_HEADERS,
      templates: errorTemplate('not_found', 'No such route'),
    });
    this.api.addGatewayResponse('PayloadTooLarge', {
      type: apigw.ResponseType.REQUEST_TOO_LARGE,
      statusCode: '413',
      responseHeaders: JSON_HEADERS,
      templates: errorTemplate('payload_too_large', 'Request body too large'),
    });
    this.api.addGatewayResponse('Throttled', {
      type: apigw.ResponseType.THROTTLED,
      statusCode: '429',
      responseHeaders: { ...JSON_HEADERS, 'Retry-After': `'${PROVIDER_THROTTLED.retryAfterSeconds}'` },
      templates: errorTemplate(PROVIDER_THROTTLED.error.code, PROVIDER_THROTTLED.error.message),
    });
    this.api.addGatewayResponse('WafFiltered', {
      type: apigw.ResponseType.WAF_FILTERED,
      statusCode: '403',
      responseHeaders: JSON_HEADERS,
      templates: errorTemplate('forbidden', 'Request blocked'),
    });
    // Keeps each 5xx status (502, 504...) and replaces only the body: never a stack trace.
    this.api.addGatewayResponse('Default5xx', {
      type: apigw.ResponseType.DEFAULT_5XX,
      responseHeaders: JSON_HEADERS,
      templates: errorTemplate('internal_error', 'Internal error'),
    });
  }

  private addProvider(provider: ProviderName, props: IngestionProps): void {
    const title = PROVIDER_TITLES[provider];
    const upper = provider.toUpperCase();
    const auth = PROVIDER_AUTH[provider];
    const secret = new secretsmanager.Secret(this, `${title}Secret`, {
      description: `${auth.secret} Created with a random placeholder: replace the value (or store a JSON array of accepted secrets, current first, while rotating).`,
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
      removalPolicy: props.removalPolicy,
    });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: `The value is shared with ${title} and set on its side (${auth.secret}); it is rotated there and pasted here by the operator (the ingest function accepts a list of secrets during the overlap), so no rotation Lambda can generate it.`,
    });

    const fn = new HouseFunction(this, `${title}Function`, {
      entry: `ingest/${provider}.ts`,
      serviceName: `ingest-${provider}`,
      defaults: props.functionDefaults,
      description: `Verifies ${title} webhooks and enqueues them by priority`,
      environment: {
        QUEUE_URL_HIGH: props.queues.high.queue.queueUrl,
        QUEUE_URL_MEDIUM: props.queues.medium.queue.queueUrl,
        QUEUE_URL_LOW: props.queues.low.queue.queueUrl,
        WEBHOOK_BASE_URL: this.baseUrl,
        MAX_BODY_BYTES: String(props.ingest.maxBodyBytes),
        CLAIM_CHECK_BYTES: String(props.ingest.claimCheckBytes),
        PRIORITY_OVERRIDES: JSON.stringify(props.priorities),
        EVENT_LOG_RETENTION_DAYS: String(props.eventLogRetentionDays),
        EVENT_LOG_PAYLOAD_MAX_BYTES: String(props.eventLogPayloadMaxBytes),
        WEBSOCKET_ENDPOINT: props.realtime.callbackUrl,
        ...providerEnvironment(provider, props),
      },
    })
      .bindSecret(`${upper}_SECRET_ARN`, secret)
      .bindBucket('PAYLOAD_BUCKET', props.payloadBucket, 'put')
      .bindTable('CONFIGS_TABLE', props.configs, 'get')
      .bindTable('RATE_LIMIT_TABLE', props.rateLimits, 'update')
      .bindTable('EVENT_LOG_TABLE', props.eventLog, 'update')
      // A quarantined delivery's push reads the subscribed connections, forgets the gone ones.
      .bindTable('CONNECTIONS_TABLE', props.connections, 'readDelete');
    props.realtime.grantPostToConnections(fn);
    grantSourceAccountBinding(fn, props.configs);
    for (const { queue } of Object.values(props.queues)) queue.grant(fn, 'sqs:SendMessage');

    // ANY, so that a wrong method reaches the function and gets its 405 with an Allow header
    // instead of API Gateway's 403 "Missing Authentication Token". The per-config child route
    // (a webhook registered through the management API) reaches the same function.
    const integration = new apigw.LambdaIntegration(fn, { proxy: true, allowTestInvoke: false });
    const providerResource = this.webhooksResource.addResource(provider);
    const method = providerResource.addMethod('ANY', integration);
    const configMethod = providerResource.addResource('{configId}').addMethod('ANY', integration);
    const reason = `${title} cannot use an API Gateway authorizer or Cognito: ${auth.request} The ingest function verifies it before anything is enqueued, with the same code as the local stack.`;
    for (const route of [method, configMethod]) {
      Validations.of(route).acknowledge({ id: 'AwsSolutions-APIG4', reason });
      Validations.of(route).acknowledge({ id: 'AwsSolutions-COG4', reason });
    }

    this.providers[provider] = {
      function: fn,
      secret,
      method,
      configMethod,
      url: `${this.baseUrl}/api/webhooks/${provider}`,
    };
  }
}

/** Settings only one provider's verifier reads; optional ones are set only when configured. */
function providerEnvironment(provider: ProviderName, props: IngestionProps): Record<string, string> {
  switch (provider) {
    case 'hubspot':
      return { HUBSPOT_ACCEPT_LEGACY_SIGNATURES: String(props.hubspot.acceptLegacySignatures) };
    case 'salesforce': {
      const { publicKeyPem, audience, orgId } = props.salesforce;
      return {
        ...(publicKeyPem !== undefined && { SALESFORCE_PUBLIC_KEY: publicKeyPem }),
        ...(audience !== undefined && { SALESFORCE_AUDIENCE: audience }),
        ...(orgId !== undefined && { SALESFORCE_ORG_ID: orgId }),
      };
    }
    case 'shopify':
      return {};
  }
}

/**
 * A config learns its provider account from its first verified delivery (shared/ingest.ts): the
 * ingest function may set that one attribute of a config item, nothing else (`dynamodb:Attributes`
 * names the key and it alone), and encrypt what it writes with the table's key.
 */
function grantSourceAccountBinding(fn: HouseFunction, configs: TableRef): void {
  iam.Grant.addToPrincipal({
    grantee: fn,
    actions: ['dynamodb:UpdateItem'],
    resourceArns: [configs.table.tableArn],
    conditions: {
      'ForAllValues:StringEquals': { 'dynamodb:Attributes': ['id', 'sourceAccount'] },
      StringEqualsIfExists: { 'dynamodb:ReturnValues': 'NONE' },
    },
  });
  const key = configs.table.encryptionKey;
  if (key)
    iam.Grant.addToPrincipal({
      grantee: fn,
      actions: ['kms:Encrypt', 'kms:GenerateDataKey'],
      resourceArns: [key.keyArn],
    });
}
