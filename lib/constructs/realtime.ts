import { Stack, Validations } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as iam from 'aws-cdk-lib/aws-iam';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { wildcardResourceFinding } from '../nag';
import { type FunctionDefaults, HouseFunction, type TableRef } from './house-function';

export interface RealtimeProps {
  readonly stageName: string;
  readonly connections: TableRef;
  /** Token verification of `$connect` (`?token=`): the user pool's issuer, JWKS and client id. */
  readonly auth: { readonly issuerUrl: string; readonly jwksUrl: string; readonly audience: string };
  readonly functionDefaults: FunctionDefaults;
}

/**
 * The dashboard WebSocket API: `$connect` verifies the caller's token and stores the connection,
 * `subscribe` (and anything else, via `$default`) updates its subscriptions, `$disconnect` forgets
 * it. Other functions push to connections through {@link grantPostToConnections} and
 * {@link callbackUrl}.
 */
export class Realtime extends Construct {
  public readonly api: apigwv2.WebSocketApi;
  public readonly stage: apigwv2.WebSocketStage;
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

    this.connectFunction = new HouseFunction(this, 'ConnectFunction', {
      entry: 'ws/connect.ts',
      serviceName: 'ws-connect',
      defaults,
      description: 'WebSocket $connect: verifies the token and stores the connection',
      environment: {
        AUTH_ISSUER: props.auth.issuerUrl,
        AUTH_JWKS_URL: props.auth.jwksUrl,
        AUTH_AUDIENCE: props.auth.audience,
      },
    }).bindTable('CONNECTIONS_TABLE', connections, 'readWrite');
    this.disconnectFunction = new HouseFunction(this, 'DisconnectFunction', {
      entry: 'ws/disconnect.ts',
      serviceName: 'ws-disconnect',
      defaults,
      description: 'WebSocket $disconnect: deletes the connection',
    }).bindTable('CONNECTIONS_TABLE', connections, 'readWrite');
    this.messageFunction = new HouseFunction(this, 'MessageFunction', {
      entry: 'ws/message.ts',
      serviceName: 'ws-message',
      defaults,
      description: 'WebSocket subscribe and $default: updates subscriptions and answers the client',
    }).bindTable('CONNECTIONS_TABLE', connections, 'readWrite');

    this.api = new apigwv2.WebSocketApi(this, 'Api', {
      description: 'Live webhook events, alerts and metrics for dashboards',
      routeSelectionExpression: '$request.body.type',
      connectRouteOptions: {
        integration: new WebSocketLambdaIntegration('ConnectIntegration', this.connectFunction),
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

  /** Lets a function push to (POST) any connection of this API's stage, and nothing else. */
  grantPostToConnections(fn: HouseFunction): iam.Grant {
    const arn = Stack.of(this).formatArn({
      service: 'execute-api',
      resource: this.api.apiId,
      resourceName: `${this.stage.stageName}/POST/@connections/*`,
    });
    const grant = iam.Grant.addToPrincipal({
      grantee: fn,
      actions: ['execute-api:ManageConnections'],
      resourceArns: [arn],
    });
    if (fn.role) {
      Validations.of(fn.role).acknowledge({
        id: wildcardResourceFinding(this, arn),
        reason:
          'Connection ids are created at runtime, so the grant names the API, the stage and the POST @connections route and leaves only the connection id open.',
      });
    }
    return grant;
  }

  private acknowledgeRouteAuthorization(): void {
    const reasons: Record<string, string> = {
      $connect:
        'The $connect handler verifies the ?token= JWT (issuer, audience, signature against the user pool JWKS) and refuses with 401 before storing the connection; a REQUEST authorizer replaces this in a later issue.',
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
