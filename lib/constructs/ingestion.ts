import { type RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { ProviderName } from '../../shared/envelope';
import type { Priority } from '../config';
import { type FunctionDefaults, HouseFunction } from './house-function';
import type { PriorityQueue } from './queues';

export interface IngestionProps {
  /** One route, ingest function and signing secret each; the entry is `functions/ingest/{provider}.ts`. */
  readonly providers: readonly ProviderName[];
  readonly queues: Record<Priority, PriorityQueue>;
  readonly stageName: string;
  readonly throttling: { readonly rateLimit: number; readonly burstLimit: number };
  readonly tracing: boolean;
  /** Of the provider secrets. */
  readonly removalPolicy: RemovalPolicy;
  readonly functionDefaults: FunctionDefaults;
}

/** What each provider's ingest route is made of. */
export interface ProviderIngest {
  readonly function: HouseFunction;
  readonly secret: secretsmanager.Secret;
  readonly method: apigw.Method;
  /** The public URL to register with the provider. */
  readonly url: string;
}

const TITLES: Record<ProviderName, string> = {
  hubspot: 'HubSpot',
  shopify: 'Shopify',
  salesforce: 'Salesforce',
};

/**
 * The public webhook REST API: `POST /api/webhooks/{provider}` per configured provider, each served
 * by its own ingest Lambda that verifies the provider's signature over the raw body (all media
 * types arrive base64, byte-exact) and enqueues to the priority FIFO queues. Regional endpoint,
 * stage throttling, access and error logging.
 */
export class Ingestion extends Construct {
  public readonly api: apigw.RestApi;
  /** `/api/webhooks`, where later management routes attach. */
  public readonly webhooksResource: apigw.Resource;
  /** `https://{api}.execute-api.{region}.{suffix}/{stage}`: what the provider URLs start with. */
  public readonly baseUrl: string;
  public readonly providers: Partial<Record<ProviderName, ProviderIngest>> = {};

  constructor(scope: Construct, id: string, props: IngestionProps) {
    super(scope, id);
    const defaults = props.functionDefaults;

    const accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: defaults.logRetention,
      removalPolicy: defaults.logRemovalPolicy,
    });
    this.api = new apigw.RestApi(this, 'Api', {
      description: 'Provider webhooks (HubSpot, Shopify, Salesforce)',
      endpointConfiguration: { types: [apigw.EndpointType.REGIONAL] },
      // Every body reaches the Lambda base64-encoded and byte-exact, as signature checks need.
      binaryMediaTypes: ['*/*'],
      cloudWatchRole: false,
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
      },
    });
    const stack = Stack.of(this);
    // Composed from the API id, not api.url: a function holding the URL of its own API's stage
    // would close the cycle Lambda -> Stage -> Deployment -> Method -> Lambda.
    this.baseUrl = `https://${this.api.restApiId}.execute-api.${stack.region}.${stack.urlSuffix}/${props.stageName}`;

    this.webhooksResource = this.api.root.addResource('api').addResource('webhooks');
    for (const provider of props.providers) this.addProvider(provider, props);

    Validations.of(this.api.deploymentStage).acknowledge({
      id: 'AwsSolutions-APIG3',
      reason:
        'The WAF web ACL (per-IP rate-based rule, AWS managed rule groups, IP sets) is a planned follow-up issue; until then stage throttling bounds the load.',
    });
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-APIG2',
      reason:
        'Webhook bodies are verified over the raw bytes and then parsed and validated with zod schemas in the ingest Lambda; an API Gateway model would duplicate that schema and answer providers differently from the local stack.',
    });
  }

  private addProvider(provider: ProviderName, props: IngestionProps): void {
    const title = TITLES[provider];
    const upper = provider.toUpperCase();
    const secret = new secretsmanager.Secret(this, `${title}Secret`, {
      description: `${title} webhook signing secret. Created with a random placeholder: replace the value with the ${title} app's secret (or a JSON array of accepted secrets, current first, while rotating).`,
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
      removalPolicy: props.removalPolicy,
    });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: `The value is the ${title} app's signing secret, issued by ${title}; it is rotated there and pasted here by the operator (the ingest function accepts a list of secrets during the overlap), so no rotation Lambda can generate it.`,
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
      },
    }).bindSecret(`${upper}_SECRET_ARN`, secret);
    for (const { queue } of Object.values(props.queues)) queue.grant(fn, 'sqs:SendMessage');

    const method = this.webhooksResource
      .addResource(provider)
      .addMethod('POST', new apigw.LambdaIntegration(fn, { proxy: true, allowTestInvoke: false }));
    const reason = `${title} cannot present a token: every request is authenticated by its HMAC signature, verified over the raw body in the ingest Lambda before anything is enqueued.`;
    Validations.of(method).acknowledge({ id: 'AwsSolutions-APIG4', reason });
    Validations.of(method).acknowledge({ id: 'AwsSolutions-COG4', reason });

    this.providers[provider] = {
      function: fn,
      secret,
      method,
      url: `${this.baseUrl}/api/webhooks/${provider}`,
    };
  }
}
