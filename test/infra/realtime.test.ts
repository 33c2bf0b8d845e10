import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONNECT_IDENTITY_SOURCE } from '../../lib/constructs/realtime';
import { CONNECTIONS_BY_USER_INDEX } from '../../shared/stores/connections';
import { buildTestApp, type SynthFixture } from './fixture';
import { actionsOf, type CfnResource, type Json, resourcesOf, target, templateReader } from './template';

let fixture: SynthFixture;
let resources: Record<string, CfnResource>;

beforeAll(() => {
  // Bundling adds nothing these assertions read (stack.test.ts synthesizes the real bundles).
  fixture = buildTestApp({}, { bundling: false });
  resources = Template.fromStack(fixture.stack).toJSON().Resources as Record<string, CfnResource>;
});

const { ofType, props, env, logicalId, functionOf } = templateReader(
  () => resources,
  () => fixture.stack,
);

afterAll(() => fixture?.cleanup());

/** Every permission of a function's role as `action on resource` (resources flattened to JSON). */
function permissionsOf(functionId: string): string[] {
  const roleId = target(props(functionId).Role);
  return ofType('AWS::IAM::Policy')
    .filter(([id]) => (props(id).Roles as unknown[]).some((role) => target(role) === roleId))
    .flatMap(([id]) => (props(id).PolicyDocument as { Statement: Json[] }).Statement)
    .flatMap((statement) => {
      expect(statement.Effect).toBe('Allow');
      return actionsOf(statement).flatMap((action) =>
        resourcesOf(statement).map((resource) => `${action} on ${JSON.stringify(resource)}`),
      );
    })
    .sort();
}

function routes(): Map<string, Json> {
  return new Map(
    ofType('AWS::ApiGatewayV2::Route').map(([, route]) => [
      route.Properties?.RouteKey as string,
      route.Properties ?? {},
    ]),
  );
}

describe('WebSocket $connect authorizer', () => {
  it('attaches a REQUEST authorizer on the token query parameter to $connect, backed by ws-authorize', () => {
    const authorizers = ofType('AWS::ApiGatewayV2::Authorizer');
    expect(authorizers).toHaveLength(1);
    const [[authorizerId, authorizer] = []] = authorizers;
    expect(authorizer?.Properties).toMatchObject({
      ApiId: { Ref: logicalId(fixture.stack.realtime.api) },
      AuthorizerType: 'REQUEST',
      IdentitySource: ['route.request.querystring.token'],
    });
    expect(CONNECT_IDENTITY_SOURCE).toBe('route.request.querystring.token');
    expect(JSON.stringify(authorizer?.Properties?.AuthorizerUri)).toContain(
      `{"Fn::GetAtt":["${functionOf('ws-authorize')}","Arn"]}`,
    );
    expect(routes().get('$connect')).toMatchObject({
      AuthorizationType: 'CUSTOM',
      AuthorizerId: { Ref: authorizerId },
    });
  });

  it('leaves the other routes without an authorizer (API Gateway allows one on $connect only)', () => {
    for (const routeKey of ['$disconnect', '$default', 'subscribe']) {
      expect(routes().get(routeKey)?.AuthorizationType, routeKey).toBe('NONE');
    }
  });

  it('lets API Gateway invoke the authorizer function through this authorizer only', () => {
    const authorizerFn = functionOf('ws-authorize');
    const permissions = ofType('AWS::Lambda::Permission').filter(
      ([, permission]) => target(permission.Properties?.FunctionName) === authorizerFn,
    );
    expect(permissions).toHaveLength(1);
    const [[, permission] = []] = permissions;
    expect(permission?.Properties).toMatchObject({
      Action: 'lambda:InvokeFunction',
      Principal: 'apigateway.amazonaws.com',
    });
    const [authorizerId] = ofType('AWS::ApiGatewayV2::Authorizer')[0] ?? [];
    expect(JSON.stringify(permission?.Properties?.SourceArn)).toContain(
      `"/authorizers/",{"Ref":"${authorizerId}"}`,
    );
  });

  it('gives the token settings to the authorizer and not to $connect, with the handler wired by name', () => {
    const authorizer = functionOf('ws-authorize');
    expect(Object.keys(env(authorizer))).toEqual(
      expect.arrayContaining(['AUTH_ISSUER', 'AUTH_JWKS_URL', 'AUTH_AUDIENCE']),
    );
    expect(env(authorizer).CONNECTIONS_TABLE).toBeUndefined();
    expect(Object.keys(env(functionOf('ws-connect'))).filter((name) => name.startsWith('AUTH_'))).toEqual([]);
    for (const service of ['ws-authorize', 'ws-connect', 'ws-disconnect', 'ws-message']) {
      expect(props(functionOf(service)).Handler, service).toBe('index.handler');
    }
  });
});

describe('WebSocket function permissions', () => {
  const table = () => JSON.stringify({ 'Fn::GetAtt': [logicalId(fixture.stack.storage.connections), 'Arn'] });
  /** Writing to the function's own log group, which every house function may do. */
  const ownLogs = (functionId: string) => {
    const logGroup = target((props(functionId).LoggingConfig as Json).LogGroup);
    return ['logs:CreateLogStream', 'logs:PutLogEvents'].map(
      (action) => `${action} on {"Fn::GetAtt":["${logGroup}","Arn"]}`,
    );
  };

  it('lets the authorizer write its own logs and nothing else', () => {
    const authorizer = functionOf('ws-authorize');
    expect(permissionsOf(authorizer)).toEqual(ownLogs(authorizer));
  });

  it('lets $connect put, $disconnect delete and the message function read, update and delete connections', () => {
    const [connect, disconnect, messageFn] = ['ws-connect', 'ws-disconnect', 'ws-message'].map(functionOf);
    expect(permissionsOf(connect as string)).toEqual(
      [...ownLogs(connect as string), `dynamodb:PutItem on ${table()}`].sort(),
    );
    expect(permissionsOf(disconnect as string)).toEqual(
      [...ownLogs(disconnect as string), `dynamodb:DeleteItem on ${table()}`].sort(),
    );
    const message = permissionsOf(messageFn as string);
    const manage = message.filter((p) => p.startsWith('execute-api:ManageConnections on '));
    expect(message.filter((p) => !manage.includes(p))).toEqual(
      [
        ...ownLogs(messageFn as string),
        `dynamodb:GetItem on ${table()}`,
        `dynamodb:UpdateItem on ${table()}`,
        `dynamodb:DeleteItem on ${table()}`,
      ].sort(),
    );
    // POST to reply, DELETE to close a connection whose token expired.
    expect(manage).toHaveLength(2);
    expect(manage[0]).toContain(
      `{"Ref":"${logicalId(fixture.stack.realtime.api)}"},"/prod/DELETE/@connections/*"`,
    );
    expect(manage[1]).toContain(
      `{"Ref":"${logicalId(fixture.stack.realtime.api)}"},"/prod/POST/@connections/*"`,
    );
  });

  it('finds a user’s connections through the byUser index, and operators’ through the sparse byRole index', () => {
    expect(props(logicalId(fixture.stack.storage.connections))).toMatchObject({
      KeySchema: [{ AttributeName: 'connectionId', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      GlobalSecondaryIndexes: [
        {
          IndexName: CONNECTIONS_BY_USER_INDEX,
          KeySchema: [{ AttributeName: 'userId', KeyType: 'HASH' }],
          Projection: { ProjectionType: 'ALL' },
        },
        {
          IndexName: 'byRole',
          KeySchema: [{ AttributeName: 'role', KeyType: 'HASH' }],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    });
  });
});
