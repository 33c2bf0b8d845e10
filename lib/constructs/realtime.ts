import { Stack, Validations } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as iam from 'aws-cdk-lib/aws-iam';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { ThrottleConfig } from '../config';
import { wildcardResourceFinding } from '../nag';
import { type FunctionDefaults, HouseFunction, type TableRef } from './house-function';

export interface RealtimeProps {
  readonly stageName: string;
  /** Stage-wide limits of the messages dashboards send (every route). */
  readonly throttling: ThrottleConfig;
  readonly connections: TableRef;
  /** Token verification of `$connect` (`?token=`) by its authorizer: the user pool's issuer, JWKS and client id. */
  readonly auth: { readonly issuerUrl: string; readonly jwksUrl: string; readonly audience: string };
  readonly functionDefaults: FunctionDefaults;
}

/** The identity source of the `$connect` authorizer: the `?token=` query parameter (functions/ws/authorize.ts). */
export const CONNECT_IDENTITY_SOURCE = 'route.request.querystring.token';

/**
 * The dashboard WebSocket API: a REQUEST authorizer verifies the caller's `?token=` before
 * `$connect`, which stores the connection under the authorizer's user id; `subscribe` (and anything
 * else, via `$default`) changes its subscriptions, `$disconnect` forgets it. Each function may do
 * exactly its own item operation on the connections table. Other functions push to connections
 * through {@link grantPostToConnections} and {@link callbackUrl}.
 */
export class Realtime extends Construct {
  public readonly api: apigwv2.WebSocketApi;
  public readonly stage: apigwv2.WebSocketStage;
  public readonly authorizerFunction: HouseFunction;
  public readonly connectFunction: HouseFunction;
  public readonly disconnectFunction: HouseFunction;
  public readonly messageFunction: HouseFunction;
  /** The @connections management endpoint (`https://…/{stage}`) for ApiGatewayManagementApi clients. */
  public readonly callbackUrl: string;
  /** What dashboards connect to (`wss://…/{stage}`). */
  public readonly webSocketUrl: string;

  constructor(scope: Construct, id: string, props: RealtimeProps) {
    super(scope, id);
    const { connections, functionDefaults: defaults, stageName } = props;

    this.authorizerFunction = new HouseFunction(this, 'AuthorizerFunction', {
      entry: 'ws/authorize.ts',
      serviceName: 'ws-authorize',
      defaults,
      description: 'WebSocket $connect REQUEST authorizer: verifies the ?token= JWT against the user pool',
      environment: {
        AUTH_ISSUER: props.auth.issuerUrl,
        AUTH_JWKS_URL: props.auth.jwksUrl,
        AUTH_AUDIENCE: props.auth.audience,
      },
    });
    this.connectFunction = new HouseFunction(this, 'ConnectFunction', {
      entry: 'ws/connect.ts',
      serviceName: 'ws-connect',
      defaults,
      description: 'WebSocket $connect: stores the connection under the user id the authorizer verified',
    });
    bindConnections(this.connectFunction, connections, ['dynamodb:PutItem']);
    this.disconnectFunction = new HouseFunction(this, 'DisconnectFunction', {
      entry: 'ws/disconnect.ts',
      serviceName: 'ws-disconnect',
      defaults,
      description: 'WebSocket $disconnect: deletes the connection',
    });
    bindConnections(this.disconnectFunction, connections, ['dynamodb:DeleteItem']);
    this.messageFunction = new HouseFunction(this, 'MessageFunction', {
      entry: 'ws/message.ts',
      serviceName: 'ws-message',
      defaults,
      description: 'WebSocket subscribe and $default: updates subscriptions and answers the client',
    });
    // Read and compare-and-set the subscription; delete the connection when its reply finds it gone.
    bindConnections(this.messageFunction, connections, [
      'dynamodb:GetItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
    ]);

    this.api = new apigwv2.WebSocketApi(this, 'Api', {
      // Unique per stack: metrics and alarms select an API by its name.
      apiName: `${Stack.of(this).stackName}-realtime`,
      description: 'Live webhook events, alerts and metrics for dashboards',
      routeSelectionExpression: '$request.body.type',
      connectRouteOptions: {
        integration: new WebSocketLambdaIntegration('ConnectIntegration', this.connectFunction),
        // API Gateway refuses the upgrade with 401 when ?token= is missing, without invoking it.
        authorizer: new WebSocketLambdaAuthorizer('ConnectAuthorizer', this.authorizerFunction, {
          identitySource: [CONNECT_IDENTITY_SOURCE],
        }),
      },
      disconnectRouteOptions: {
        integration: new WebSocketLambdaIntegration('DisconnectIntegration', this.disconnectFunction),
      },
      defaultRouteOptions: {
        integration: new WebSocketLambdaIntegration('DefaultIntegration', this.messageFunction),
      },
    });
    this.api.addRoute('subscribe', {
      integration: new WebSocketLambdaIntegration('SubscribeIntegration', this.messageFunction),
    });

    const accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: defaults.logRetention,
      removalPolicy: defaults.logRemovalPolicy,
    });
    this.stage = new apigwv2.WebSocketStage(this, 'Stage', {
      webSocketApi: this.api,
      stageName,
      autoDeploy: true,
      throttle: props.throttling,
      accessLogSettings: { destination: new apigwv2.LogGroupLogDestination(accessLogs) },
    });

    const stack = Stack.of(this);
    // Composed from the API id rather than stage.url so that functions of this API can hold it.
    this.callbackUrl = `https://${this.api.apiId}.execute-api.${stack.region}.${stack.urlSuffix}/${stageName}`;
    this.webSocketUrl = `wss://${this.api.apiId}.execute-api.${stack.region}.${stack.urlSuffix}/${stageName}`;

    this.messageFunction.addEnvironment('WEBSOCKET_ENDPOINT', this.callbackUrl);
    this.grantPostToConnections(this.messageFunction);

    this.acknowledgeRouteAuthorization();
  }

  /**
   * Lets a function push to (POST) any connection of this API's stage and close it (DELETE: a
   * connection whose token expired is closed rather than pushed to), and nothing else.
   */
  grantPostToConnections(fn: HouseFunction): iam.Grant {
    const arns = ['POST', 'DELETE'].map((method) =>
      Stack.of(this).formatArn({
        service: 'execute-api',
        resource: this.api.apiId,
        resourceName: `${this.stage.stageName}/${method}/@connections/*`,
      }),
    );
    const grant = iam.Grant.addToPrincipal({
      grantee: fn,
      actions: ['execute-api:ManageConnections'],
      resourceArns: arns,
    });
    if (fn.role) {
      for (const arn of arns)
        Validations.of(fn.role).acknowledge({
          id: wildcardResourceFinding(this, arn),
          reason:
            'Connection ids are created at runtime, so the grant names the API, the stage and the POST or DELETE @connections route and leaves only the connection id open.',
        });
    }
    return grant;
  }

  private acknowledgeRouteAuthorization(): void {
    const reasons: Record<string, string> = {
      $disconnect:
        'API Gateway WebSocket APIs accept an authorizer only on $connect; $disconnect belongs to a connection authenticated there.',
      $default:
        'API Gateway WebSocket APIs accept an authorizer only on $connect; messages travel on a connection authenticated there.',
      subscribe:
        'API Gateway WebSocket APIs accept an authorizer only on $connect; messages travel on a connection authenticated there.',
    };
    for (const [routeKey, reason] of Object.entries(reasons)) {
      const route = this.api.node.findChild(`${routeKey}-Route`);
      Validations.of(route).acknowledge({ id: 'AwsSolutions-APIG4', reason });
    }
  }
}

/**
 * Sets CONNECTIONS_TABLE and grants exactly the given item actions on the connections table (never
 * its indexes), plus the matching use of the table's customer-managed key if it has one.
 */
function bindConnections(fn: HouseFunction, connections: TableRef, actions: string[]): void {
  fn.addEnvironment('CONNECTIONS_TABLE', connections.table.tableName);
  iam.Grant.addToPrincipal({ grantee: fn, actions, resourceArns: [connections.table.tableArn] });
  const key = connections.table.encryptionKey;
  if (key) {
    const writes = actions.some(
      (action) => action !== 'dynamodb:GetItem' && action !== 'dynamodb:DeleteItem',
    );
    iam.Grant.addToPrincipal({
      grantee: fn,
      actions: ['kms:Decrypt', 'kms:DescribeKey', ...(writes ? ['kms:Encrypt', 'kms:GenerateDataKey'] : [])],
      resourceArns: [key.keyArn],
    });
  }
}
