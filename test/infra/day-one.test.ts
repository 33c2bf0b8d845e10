import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebhooksConfigInput } from '../../lib/config';
import { buildTestApp, type SynthFixture, TEST_REGION } from './fixture';
import { type CfnResource, type Json, target } from './template';

/**
 * What a first deploy meets: names that let stages and regions live side by side, a retention on
 * every log group, throttling on both APIs, and what `cdk destroy` removes or keeps per stage.
 * Bundling off: it adds no resource or property read here (stack.test.ts bundles).
 */
interface Synth {
  readonly fixture: SynthFixture;
  readonly resources: Record<string, CfnResource>;
}

const synths: Synth[] = [];

function synth(config: WebhooksConfigInput, region = TEST_REGION): Synth {
  const fixture = buildTestApp(config, { bundling: false, env: { region } });
  const made = {
    fixture,
    resources: Template.fromStack(fixture.stack).toJSON().Resources as Record<string, CfnResource>,
  };
  synths.push(made);
  return made;
}

const ofType = (synth: Synth, type: string) =>
  Object.entries(synth.resources).filter(([, resource]) => resource.Type === type);
const only = (synth: Synth, type: string): Json => {
  const matches = ofType(synth, type);
  expect(matches, type).toHaveLength(1);
  return matches[0]?.[1].Properties ?? {};
};

/** The names CloudFront, CloudWatch dashboards and AWS Chatbot require unique in the whole account. */
function accountWideNames(synth: Synth): string[] {
  return [
    (only(synth, 'AWS::CloudFront::OriginAccessControl').OriginAccessControlConfig as Json).Name,
    (only(synth, 'AWS::CloudFront::ResponseHeadersPolicy').ResponseHeadersPolicyConfig as Json).Name,
    only(synth, 'AWS::CloudWatch::Dashboard').DashboardName,
    only(synth, 'AWS::Chatbot::SlackChannelConfiguration').ConfigurationName,
  ] as string[];
}

const CHATBOT = { chatbot: { slackWorkspaceId: 'T07EA123LEP', slackChannelId: 'C07EZ1ABC23' } };

let prod: Synth;
let dev: Synth;

beforeAll(() => {
  prod = synth({ alerting: CHATBOT });
  dev = synth({ stage: 'dev', alerting: CHATBOT });
});

afterAll(() => {
  for (const { fixture } of synths) fixture.cleanup();
});

describe('names', () => {
  it('names the stack after its stage', () => {
    expect(prod.fixture.stack.stackName).toBe('Webhooks-prod');
    expect(dev.fixture.stack.stackName).toBe('Webhooks-dev');
  });

  it('names both APIs after the stack, so metrics and alarms select only its own', () => {
    expect(only(prod, 'AWS::ApiGateway::RestApi').Name).toBe('Webhooks-prod-webhooks');
    expect(only(prod, 'AWS::ApiGatewayV2::Api').Name).toBe('Webhooks-prod-realtime');
    const [, api5xx] = ofType(prod, 'AWS::CloudWatch::Alarm').find(
      ([, alarm]) => alarm.Properties?.AlarmName === 'Webhooks-prod-ops-api-5xx',
    ) ?? ['', {}];
    expect(JSON.stringify(api5xx)).toContain('{"Name":"ApiName","Value":"Webhooks-prod-webhooks"}');
  });

  it('gives account-wide resources names of their stage and region, all within their limits', () => {
    const names = accountWideNames(prod);
    for (const name of names) expect(name).toMatch(/^Webhooks-prod-eu-west-1-/);
    expect(names[0]?.length).toBeLessThanOrEqual(64); // an origin access control's limit
  });

  it('lets another stage, and the same stage in another region, deploy beside it', () => {
    const otherRegion = synth({ alerting: CHATBOT }, 'us-east-1');
    const taken = new Set(accountWideNames(prod));
    for (const other of [dev, otherRegion]) {
      for (const name of accountWideNames(other)) expect(taken.has(name), name).toBe(false);
    }
    expect(otherRegion.fixture.stack.region).toBe('us-east-1');
  });
});

describe('logs', () => {
  it.each([
    ['prod', () => prod],
    ['dev', () => dev],
  ])('gives every log group of the %s stage a retention, and every function one of them', (_, of) => {
    const synth = of();
    const groups = ofType(synth, 'AWS::Logs::LogGroup');
    for (const [id, group] of groups) expect(group.Properties?.RetentionInDays, id).toBe(30);
    const groupIds = new Set(groups.map(([id]) => id));
    for (const [id, fn] of ofType(synth, 'AWS::Lambda::Function')) {
      const logGroup = (fn.Properties?.LoggingConfig as Json | undefined)?.LogGroup;
      expect(logGroup, `${id} logs to a group of the stack`).toBeDefined();
      expect(groupIds.has(target(logGroup)), id).toBe(true);
    }
  });

  it('creates the REST stage execution log group before API Gateway would create one without retention', () => {
    const [[stageId, stage] = []] = ofType(prod, 'AWS::ApiGateway::Stage');
    const [[groupId, group] = []] = ofType(prod, 'AWS::Logs::LogGroup').filter(([, g]) =>
      JSON.stringify(g.Properties?.LogGroupName ?? '').includes('API-Gateway-Execution-Logs_'),
    );
    expect(stage?.DependsOn, stageId).toContain(groupId);
    expect(JSON.stringify(group?.Properties?.LogGroupName)).toContain('"/prod"');
  });
});

describe('throttling', () => {
  it('throttles every route of the WebSocket stage', () => {
    expect(only(prod, 'AWS::ApiGatewayV2::Stage').DefaultRouteSettings).toMatchObject({
      ThrottlingRateLimit: 50,
      ThrottlingBurstLimit: 100,
    });
    const custom = synth({ api: { webSocketThrottling: { rateLimit: 5, burstLimit: 10 } } });
    expect(only(custom, 'AWS::ApiGatewayV2::Stage').DefaultRouteSettings).toMatchObject({
      ThrottlingRateLimit: 5,
      ThrottlingBurstLimit: 10,
    });
  });
});

/** What `cdk destroy` leaves behind: the types of the resources whose deletion policy is Retain. */
function retainedTypes(synth: Synth): string[] {
  const types = Object.values(synth.resources)
    .filter((resource) => (resource as { DeletionPolicy?: string }).DeletionPolicy === 'Retain')
    .map((resource) => resource.Type);
  return [...new Set(types)].sort();
}

/** The API Gateway CloudWatch Logs role and account setting are account-wide: kept by every stage. */
const ACCOUNT_WIDE = ['AWS::ApiGateway::Account', 'AWS::IAM::Role'];

describe('cdk destroy', () => {
  it('removes everything of a dev stage but the account-wide API Gateway logging role', () => {
    expect(retainedTypes(dev)).toEqual(ACCOUNT_WIDE);
    const retainedRoles = Object.entries(dev.resources).filter(
      ([, r]) =>
        r.Type === 'AWS::IAM::Role' && (r as { DeletionPolicy?: string }).DeletionPolicy === 'Retain',
    );
    expect(retainedRoles.map(([id]) => id)).toEqual([expect.stringMatching(/^IngestionApiCloudWatchRole/)]);
    expect(only(dev, 'AWS::RDS::DBCluster').DeletionProtection).toBe(false);
    expect(only(dev, 'AWS::Cognito::UserPool').DeletionProtection).toBe('INACTIVE');
    // Every bucket is emptied first, or CloudFormation could not delete it.
    expect(ofType(dev, 'Custom::S3AutoDeleteObjects')).toHaveLength(ofType(dev, 'AWS::S3::Bucket').length);
  });

  it('keeps the data of the prod stage, the database with its network, and nothing that would block the deletion', () => {
    // The README's "Teardown" lists these.
    expect(retainedTypes(prod)).toEqual(
      [
        ...ACCOUNT_WIDE,
        'AWS::Cognito::UserPool',
        'AWS::DynamoDB::Table',
        'AWS::EC2::RouteTable',
        'AWS::EC2::SecurityGroup',
        'AWS::EC2::Subnet',
        'AWS::EC2::SubnetRouteTableAssociation',
        'AWS::EC2::VPC',
        'AWS::KMS::Key',
        'AWS::Logs::LogGroup',
        'AWS::RDS::DBCluster',
        'AWS::RDS::DBInstance',
        'AWS::RDS::DBSubnetGroup',
        'AWS::S3::Bucket',
        'AWS::SQS::Queue',
        'AWS::SecretsManager::Secret',
        'AWS::SecretsManager::SecretTargetAttachment',
      ].sort(),
    );
    expect(only(prod, 'AWS::RDS::DBCluster').DeletionProtection).toBe(true);
    // A snapshot policy would fail the deletion of a protected cluster.
    expect(
      ofType(prod, 'AWS::RDS::DBCluster').map(([, r]) => (r as { DeletionPolicy?: string }).DeletionPolicy),
    ).toEqual(['Retain']);
  });
});

describe('first sign-in', () => {
  it('creates the first operator of the config in the operators group, Cognito emailing the password', () => {
    const withOperator = synth({ auth: { firstOperatorEmail: 'oncall@example.com' } });
    expect(only(withOperator, 'AWS::Cognito::UserPoolUser')).toMatchObject({
      Username: 'oncall@example.com',
      DesiredDeliveryMediums: ['EMAIL'],
      UserAttributes: [
        { Name: 'email', Value: 'oncall@example.com' },
        { Name: 'email_verified', Value: 'true' },
      ],
    });
    const [[, membership] = []] = ofType(withOperator, 'AWS::Cognito::UserPoolUserToGroupAttachment');
    expect(membership?.Properties).toMatchObject({ GroupName: 'operators', Username: 'oncall@example.com' });
    const [[groupId] = []] = ofType(withOperator, 'AWS::Cognito::UserPoolGroup');
    const [[userId] = []] = ofType(withOperator, 'AWS::Cognito::UserPoolUser');
    expect(membership?.DependsOn).toEqual(expect.arrayContaining([groupId, userId]));
  });

  it('outputs the sign-in URL and the two commands that make an operator otherwise', () => {
    const outputs = Template.fromStack(prod.fixture.stack).toJSON().Outputs as Record<
      string,
      { Value: unknown }
    >;
    expect(JSON.stringify(outputs.SignInUrl?.Value)).toContain('.auth.eu-west-1.amazoncognito.com');
    const command = JSON.stringify(outputs.CreateOperatorCommand?.Value);
    expect(command).toContain('aws cognito-idp admin-create-user --region eu-west-1 --user-pool-id ');
    expect(command).toContain('admin-add-user-to-group');
    expect(command).toContain('--group-name operators');
  });
});
