import { Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import type { IUserPool } from 'aws-cdk-lib/aws-cognito';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { MANAGEMENT_ROUTES } from '../../shared/api/routes';
import { PRIORITIES, type Priority, type ProviderName } from '../../shared/envelope';
import type { ManagementConfig } from '../config';
import { bindDatabase, type DatabaseAccess } from './database';
import { type FunctionDefaults, HouseFunction, type TableRef } from './house-function';

export interface ManagementApiProps {
  /** `/api/webhooks` of the webhook REST API: the management routes are added below it. */
  readonly webhooksResource: apigw.IResource;
  /** The operators' user pool: its tokens are what the routes' authorizer accepts. */
  readonly userPool: IUserPool;
  /** Webhook configurations (read, write, Query on the indexes of the ref, Scan for operators' status). */
  readonly configs: TableRef;
  /** The event log: read (Query its byUser and byDay indexes) for the events API, UpdateItem to note replays. */
  readonly eventLog: TableRef;
  /** The counters the status API reads. */
  readonly metrics: TableRef;
  /** Replays are sent to the queue of their priority; redrives move a DLQ back into its queue. */
  readonly queues: Readonly<Record<Priority, { readonly queue: IQueue; readonly dlq: IQueue }>>;
  /**
   * Claim check for a replayed payload too large for one message; the quarantined requests a
   * replay parses again (read).
   */
  readonly payloadBucket: IBucket;
  /** What ingest applies to a delivery, so a released quarantined one is enqueued alike. */
  readonly priorities: Readonly<Record<string, Priority>>;
  readonly eventLogPayloadMaxBytes: number;
  readonly eventLogRetentionDays: number;
  /** Base of the per-config ingest URLs handed back on registration (WEBHOOK_BASE_URL). */
  readonly webhookBaseUrl: string;
  /** Token verification in the function too: the user pool's issuer, JWKS and client id. */
  readonly auth: { readonly issuerUrl: string; readonly jwksUrl: string; readonly audience: string };
  /** Alert rules and alerts live in Postgres (webhook_alert_rules, webhook_alerts). */
  readonly database: DatabaseAccess;
  /** The domain bus: the function announces alert rule changes on it (AlertRulesChanged). */
  readonly eventBus: IEventBus;
  readonly config: ManagementConfig;
  /** The deployment's providers: each has a provider-wide endpoint in operators' status. */
  readonly providers: readonly ProviderName[];
  readonly functionDefaults: FunctionDefaults;
}

/** The actions a DLQ redrive (an SQS message move task started by the function) needs on the DLQ. */
const REDRIVE_SOURCE_ACTIONS = [
  'sqs:StartMessageMoveTask',
  'sqs:ListMessageMoveTasks',
  'sqs:ReceiveMessage',
  'sqs:DeleteMessage',
  'sqs:GetQueueAttributes',
];

/**
 * The webhook management API on the webhook REST API: webhook configurations (register, list,
 * read, update, delete, rotate the secret), status, the event log with replay, DLQ redrive, alert
 * rules (stored in Postgres and announced on the domain bus for the reconciler) and alerts.
 * Every route but the OpenAPI document is a Lambda proxy to one management function behind a
 * Cognito user pools authorizer (the Authorization header holds the user pool's ID token).
 */
export class ManagementApi extends Construct {
  public readonly function: HouseFunction;
  public readonly authorizer: apigw.CognitoUserPoolsAuthorizer;
  public readonly methods: apigw.Method[] = [];

  constructor(scope: Construct, id: string, props: ManagementApiProps) {
    super(scope, id);

    this.function = new HouseFunction(this, 'Function', {
      entry: 'api/management.ts',
      serviceName: 'api-management',
      defaults: props.functionDefaults,
      description:
        'Webhook management API: configurations, status, events and replay, DLQ redrive, alert rules and alerts',
      environment: {
        WEBHOOK_BASE_URL: props.webhookBaseUrl,
        AUTH_ISSUER: props.auth.issuerUrl,
        AUTH_JWKS_URL: props.auth.jwksUrl,
        AUTH_AUDIENCE: props.auth.audience,
        SECRET_GRACE_HOURS: String(props.config.secretGraceHours),
        PROVIDERS: props.providers.join(','),
        PRIORITY_OVERRIDES: JSON.stringify(props.priorities),
        EVENT_LOG_PAYLOAD_MAX_BYTES: String(props.eventLogPayloadMaxBytes),
        EVENT_LOG_RETENTION_DAYS: String(props.eventLogRetentionDays),
      },
    })
      .bindTable('CONFIGS_TABLE', props.configs, 'readWrite')
      .bindTable('EVENT_LOG_TABLE', props.eventLog, 'read')
      .bindTable('EVENT_LOG_TABLE', props.eventLog, 'update')
      .bindTable('METRICS_TABLE', props.metrics, 'read')
      .bindBucket('PAYLOAD_BUCKET', props.payloadBucket, 'put')
      .bindBucket('PAYLOAD_BUCKET', props.payloadBucket, 'get')
      .bindEventBus('EVENT_BUS_NAME', props.eventBus);
    bindDatabase(this.function, props.database);
    for (const priority of PRIORITIES) {
      const { queue, dlq } = props.queues[priority];
      const suffix = priority.toUpperCase();
      this.function
        .bindQueue(`QUEUE_URL_${suffix}`, queue)
        .addEnvironment(`QUEUE_ARN_${suffix}`, queue.queueArn)
        .addEnvironment(`DLQ_ARN_${suffix}`, dlq.queueArn)
        .addEnvironment(`DLQ_URL_${suffix}`, dlq.queueUrl);
      dlq.grant(this.function, ...REDRIVE_SOURCE_ACTIONS);
      // Its depth, for the queues panel and the on-call CLI.
      queue.grant(this.function, 'sqs:GetQueueAttributes');
    }

    this.authorizer = new apigw.CognitoUserPoolsAuthorizer(this, 'Authorizer', {
      cognitoUserPools: [props.userPool],
      identitySource: apigw.IdentitySource.header('Authorization'),
    });

    const integration = new apigw.LambdaIntegration(this.function, { proxy: true, allowTestInvoke: false });
    for (const [httpMethod, path, access] of MANAGEMENT_ROUTES) {
      const resource = path
        .split('/')
        .reduce<apigw.IResource>(
          (parent, part) => parent.getResource(part) ?? parent.addResource(part),
          props.webhooksResource,
        );
      const method = resource.addMethod(
        httpMethod,
        integration,
        access === 'public'
          ? { authorizationType: apigw.AuthorizationType.NONE }
          : { authorizer: this.authorizer, authorizationType: apigw.AuthorizationType.COGNITO },
      );
      if (access === 'public') {
        const reason =
          'The OpenAPI document describes the API and holds no data; clients and tools fetch it before they have a token.';
        Validations.of(method).acknowledge({ id: 'AwsSolutions-APIG4', reason });
        Validations.of(method).acknowledge({ id: 'AwsSolutions-COG4', reason });
      }
      this.methods.push(method);
    }
  }
}
