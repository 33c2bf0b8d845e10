import * as apigw from 'aws-cdk-lib/aws-apigateway';
import type { IUserPool } from 'aws-cdk-lib/aws-cognito';
import { Construct } from 'constructs';
import type { ManagementConfig } from '../config';
import { type FunctionDefaults, HouseFunction, type TableRef } from './house-function';

export interface ManagementApiProps {
  /** `/api/webhooks` of the webhook REST API: the management routes are added below it. */
  readonly webhooksResource: apigw.IResource;
  /** The operators' user pool: its tokens are what the routes' authorizer accepts. */
  readonly userPool: IUserPool;
  /** Webhook configurations (read, write, and Query on the indexes of the ref). */
  readonly configs: TableRef;
  /** Base of the per-config ingest URLs handed back on registration (WEBHOOK_BASE_URL). */
  readonly webhookBaseUrl: string;
  /** Token verification in the function too: the user pool's issuer, JWKS and client id. */
  readonly auth: { readonly issuerUrl: string; readonly jwksUrl: string; readonly audience: string };
  readonly config: ManagementConfig;
  readonly functionDefaults: FunctionDefaults;
}

/** The management routes below `/api/webhooks`: HTTP method and path relative to it. */
export const MANAGEMENT_ROUTES: readonly (readonly [method: string, path: string])[] = [
  ['POST', 'register'],
  ['GET', 'configs'],
  ['GET', 'configs/{id}'],
  ['PATCH', 'configs/{id}'],
  ['DELETE', 'configs/{id}'],
  ['POST', 'configs/{id}/rotate-secret'],
];

/**
 * The webhook management API on the webhook REST API: register a webhook configuration, list,
 * read, update and delete one's own, and rotate a configuration's signing secret. Every route is a
 * Lambda proxy to one management function behind a Cognito user pools authorizer (the Authorization
 * header holds the user pool's ID token); the function may touch the configs table alone.
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
        'Webhook management API: registers, lists, updates and deletes configurations, rotates secrets',
      environment: {
        WEBHOOK_BASE_URL: props.webhookBaseUrl,
        AUTH_ISSUER: props.auth.issuerUrl,
        AUTH_JWKS_URL: props.auth.jwksUrl,
        AUTH_AUDIENCE: props.auth.audience,
        SECRET_GRACE_HOURS: String(props.config.secretGraceHours),
      },
    }).bindTable('CONFIGS_TABLE', props.configs, 'readWrite');

    this.authorizer = new apigw.CognitoUserPoolsAuthorizer(this, 'Authorizer', {
      cognitoUserPools: [props.userPool],
      identitySource: apigw.IdentitySource.header('Authorization'),
    });

    const integration = new apigw.LambdaIntegration(this.function, { proxy: true, allowTestInvoke: false });
    for (const [httpMethod, path] of MANAGEMENT_ROUTES) {
      const resource = path
        .split('/')
        .reduce<apigw.IResource>(
          (parent, part) => parent.getResource(part) ?? parent.addResource(part),
          props.webhooksResource,
        );
      this.methods.push(
        resource.addMethod(httpMethod, integration, {
          authorizer: this.authorizer,
          authorizationType: apigw.AuthorizationType.COGNITO,
        }),
      );
    }
  }
}
