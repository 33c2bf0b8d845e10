import { generateKeyPairSync } from 'node:crypto';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WAF_DESCRIPTION, type WebhooksConfigInput } from '../../lib/config';
import {
  CONFIG_RATE_RULE,
  IP_RATE_RULE,
  MANAGED_RULE_GROUPS,
  providerRateRule,
  SOURCE_PATH_RATE_RULE,
} from '../../lib/constructs/edge-protection';
import { CONFIG_PATH_PATTERN, providerPathPattern } from '../../lib/edge-limits';
import { buildTestApp, type SynthFixture, TEST_REGION } from './fixture';
import type { CfnResource, Json } from './template';

/**
 * The edge of the webhook API under a configuration that differs from every default it touches:
 * stack.test.ts covers the defaults with the real bundles, this file the wiring of each setting
 * (bundling off: it adds no resource and no property read here).
 */
const PUBLIC_KEY_PEM = generateKeyPairSync('rsa', { modulusLength: 2048 })
  .publicKey.export({ type: 'spki', format: 'pem' })
  .toString();

const CONFIG = {
  removalPolicy: 'destroy',
  payloadRetentionDays: 45,
  eventLogRetentionDays: 45,
  priorities: { 'shopify:orders/updated': 'high', 'hubspot:contact.*': 'low' },
  ingest: { maxBodyBytes: 2_000_000, claimCheckBytes: 100_000 },
  hubspot: { acceptLegacySignatures: false },
  salesforce: {
    publicKeyPem: PUBLIC_KEY_PEM,
    audience: 'https://hooks.example.com',
    orgId: '00D000000000001AAA',
  },
  api: { createCloudWatchRole: false, providerThrottling: { shopify: { rateLimit: 300 } } },
  waf: {
    ipRateLimitPerMinute: 1200,
    sourcePathRateLimitPerMinute: 300,
    configRateLimitPerMinute: 900,
    providerRateLimitPerMinute: { shopify: 9000 },
    blockedCidrs: ['203.0.113.0/24', '2001:db8::/32', '198.51.100.7/32'],
  },
} satisfies WebhooksConfigInput;

let fixture: SynthFixture;
let resources: Record<string, CfnResource>;

beforeAll(() => {
  fixture = buildTestApp(CONFIG, { bundling: false });
  resources = Template.fromStack(fixture.stack).toJSON().Resources as Record<string, CfnResource>;
});

afterAll(() => fixture?.cleanup());

function ofType(type: string): [string, CfnResource][] {
  return Object.entries(resources).filter(([, resource]) => resource.Type === type);
}

function only(type: string): [string, Json] {
  const matches = ofType(type);
  expect(matches, type).toHaveLength(1);
  const [[id, resource]] = matches as [[string, CfnResource]];
  return [id, resource.Properties ?? {}];
}

function logicalId(construct: { node: { defaultChild?: unknown } }): string {
  return fixture.stack.getLogicalId(construct.node.defaultChild as never);
}

function envOf(service: string): Record<string, unknown> {
  const matches = ofType('AWS::Lambda::Function').filter(
    ([, fn]) =>
      (fn.Properties?.Environment as { Variables?: Json } | undefined)?.Variables?.POWERTOOLS_SERVICE_NAME ===
      service,
  );
  expect(matches, service).toHaveLength(1);
  return ((matches[0]?.[1].Properties?.Environment as { Variables: Json }) ?? { Variables: {} }).Variables;
}

function rules(): Json[] {
  return only('AWS::WAFv2::WebACL')[1].Rules as Json[];
}

function rule(name: string): Json {
  const found = rules().find((r) => r.Name === name);
  if (!found) throw new Error(`No WAF rule ${name}`);
  return found;
}

/** The parsed error body of a JSON template (gateway response or WAF custom response). */
function errorBody(text: unknown): { success: boolean; error: { code: string; message: string } } {
  return JSON.parse(text as string);
}

describe('WAF web ACL', () => {
  it('is regional, allows by default and is associated with the REST API stage', () => {
    const [aclId, acl] = only('AWS::WAFv2::WebACL');
    expect(acl).toMatchObject({ Scope: 'REGIONAL', DefaultAction: { Allow: {} } });

    const [, association] = only('AWS::WAFv2::WebACLAssociation');
    expect(association.WebACLArn).toEqual({ 'Fn::GetAtt': [aclId, 'Arn'] });
    const api = fixture.stack.ingestion.api;
    expect(association.ResourceArn).toEqual({
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          `:apigateway:${TEST_REGION}::/restapis/`,
          { Ref: logicalId(api) },
          '/stages/',
          { Ref: logicalId(api.deploymentStage) },
        ],
      ],
    });
  });

  it('rate-limits each IP over a 60 s window first, answering 429 in the API error shape', () => {
    const rate = rule(IP_RATE_RULE);
    expect(rate).toMatchObject({
      Priority: 0,
      Statement: { RateBasedStatement: { AggregateKeyType: 'IP', EvaluationWindowSec: 60, Limit: 1200 } },
      Action: {
        Block: {
          CustomResponse: {
            ResponseCode: 429,
            ResponseHeaders: [{ Name: 'Retry-After', Value: '60' }],
          },
        },
      },
    });
    const key = (rate.Action as { Block: { CustomResponse: { CustomResponseBodyKey: string } } }).Block
      .CustomResponse.CustomResponseBodyKey;
    const bodies = only('AWS::WAFv2::WebACL')[1].CustomResponseBodies as Record<
      string,
      { ContentType: string; Content: string }
    >;
    expect(bodies[key]?.ContentType).toBe('APPLICATION_JSON');
    expect(errorBody(bodies[key]?.Content)).toMatchObject({ success: false, error: { code: 'throttled' } });
  });

  it('keeps one source within a share of a webhook route, and one config within a share of the per-config route (issue 16)', () => {
    const bodies = only('AWS::WAFv2::WebACL')[1].CustomResponseBodies as Record<string, { Content: string }>;
    const path = { UriPath: { TextTransformations: [{ Priority: 0, Type: 'NONE' }] } };
    const sourcePath = rule(SOURCE_PATH_RATE_RULE);
    expect(sourcePath).toMatchObject({
      Statement: {
        RateBasedStatement: {
          AggregateKeyType: 'CUSTOM_KEYS',
          CustomKeys: [{ IP: {} }, path],
          EvaluationWindowSec: 60,
          Limit: 300,
          ScopeDownStatement: {
            ByteMatchStatement: { SearchString: '/api/webhooks/', PositionalConstraint: 'CONTAINS' },
          },
        },
      },
      Action: {
        Block: {
          CustomResponse: { ResponseCode: 429, ResponseHeaders: [{ Name: 'Retry-After', Value: '60' }] },
        },
      },
    });
    const perConfig = rule(CONFIG_RATE_RULE);
    expect(perConfig).toMatchObject({
      Statement: {
        RateBasedStatement: {
          AggregateKeyType: 'CUSTOM_KEYS',
          CustomKeys: [path],
          Limit: 900,
          ScopeDownStatement: { RegexMatchStatement: { RegexString: CONFIG_PATH_PATTERN } },
        },
      },
      Action: { Block: { CustomResponse: { ResponseCode: 429 } } },
    });
    // The seed's per-provider one-minute window: every source and endpoint of the provider together.
    const providerRules = Object.fromEntries(
      (['hubspot', 'shopify', 'salesforce'] as const).map((provider) => [
        provider,
        rule(providerRateRule(provider)),
      ]),
    );
    for (const [provider, limit] of [
      ['hubspot', 6000],
      ['shopify', 9000],
      ['salesforce', 3000],
    ] as const) {
      expect(providerRules[provider]).toMatchObject({
        Statement: {
          RateBasedStatement: {
            AggregateKeyType: 'CONSTANT',
            EvaluationWindowSec: 60,
            Limit: limit,
            ScopeDownStatement: { RegexMatchStatement: { RegexString: providerPathPattern(provider) } },
          },
        },
        Action: { Block: { CustomResponse: { ResponseCode: 429 } } },
      });
    }
    const shopifyPaths = new RegExp(providerPathPattern('shopify'));
    expect(
      ['/prod/api/webhooks/shopify', '/prod/api/webhooks/shopify/0f8fad5b-d9cb-469f-a165-70867728950e'].every(
        (p) => shopifyPaths.test(p),
      ),
    ).toBe(true);
    expect(
      ['/prod/api/webhooks/shopifyx', '/prod/api/webhooks/hubspot'].some((p) => shopifyPaths.test(p)),
    ).toBe(false);
    for (const limited of [sourcePath, perConfig, ...Object.values(providerRules)]) {
      const key = (limited.Action as { Block: { CustomResponse: { CustomResponseBodyKey: string } } }).Block
        .CustomResponse.CustomResponseBodyKey;
      expect(errorBody(bodies[key]?.Content)).toMatchObject({ success: false, error: { code: 'throttled' } });
    }
    // The per-config pattern: per-config paths behind the stage, never the provider-wide ones.
    const pattern = new RegExp(CONFIG_PATH_PATTERN);
    expect(pattern.test('/prod/api/webhooks/hubspot/6f1c2d9e-0b7a-4c1e-9a51-3d2e8f7a6b5c')).toBe(true);
    expect(pattern.test('/prod/api/webhooks/hubspot')).toBe(false);
  });

  it('blocks the configured CIDR blocks through one IP set per address family', () => {
    const sets = Object.fromEntries(
      ofType('AWS::WAFv2::IPSet').map(([id, set]) => [
        set.Properties?.IPAddressVersion,
        { id, ...set.Properties },
      ]),
    );
    expect(sets.IPV4).toMatchObject({ Scope: 'REGIONAL', Addresses: ['203.0.113.0/24', '198.51.100.7/32'] });
    expect(sets.IPV6).toMatchObject({ Scope: 'REGIONAL', Addresses: ['2001:db8::/32'] });
    for (const [name, version] of [
      ['BlockedIpv4', 'IPV4'],
      ['BlockedIpv6', 'IPV6'],
    ] as const) {
      expect(rule(name)).toMatchObject({
        Action: { Block: {} },
        Statement: { IPSetReferenceStatement: { Arn: { 'Fn::GetAtt': [sets[version]?.id, 'Arn'] } } },
      });
      // WAF refuses a description outside its pattern (parentheses, for one) at deploy time.
      expect(sets[version]?.Description).toMatch(WAF_DESCRIPTION);
    }
    expect(only('AWS::WAFv2::WebACL')[1].Description).toMatch(WAF_DESCRIPTION);
  });

  it('runs the AWS managed rule groups last, with the body-inspecting rules only counting', () => {
    const managed = rules().filter(
      (r) => r.Statement && 'ManagedRuleGroupStatement' in (r.Statement as Json),
    );
    expect(managed.map((r) => r.Name)).toEqual([
      'AWSManagedRulesAmazonIpReputationList',
      'AWSManagedRulesKnownBadInputsRuleSet',
      'AWSManagedRulesCommonRuleSet',
    ]);
    const overrides = (name: string) =>
      (
        (
          (rule(name).Statement as Json).ManagedRuleGroupStatement as {
            RuleActionOverrides?: { Name: string; ActionToUse: Json }[];
          }
        ).RuleActionOverrides ?? []
      ).map((o) => {
        expect(o.ActionToUse).toEqual({ Count: {} });
        return o.Name;
      });
    for (const group of managed) {
      expect(group).toMatchObject({
        OverrideAction: { None: {} },
        Statement: { ManagedRuleGroupStatement: { VendorName: 'AWS' } },
      });
      // Only body rules are relaxed: headers, paths and query strings keep blocking.
      for (const name of overrides(group.Name as string)) expect(name).toMatch(/_BODY$/);
    }
    expect(overrides('AWSManagedRulesCommonRuleSet')).toEqual(
      expect.arrayContaining(['SizeRestrictions_BODY', 'CrossSiteScripting_BODY', 'GenericLFI_BODY']),
    );
    expect(MANAGED_RULE_GROUPS.map((g) => g.name)).toEqual(managed.map((r) => r.Name));
  });

  it('orders rules by unique priorities: rate limit, block list, managed groups', () => {
    const names = [...rules()]
      .sort((a, b) => (a.Priority as number) - (b.Priority as number))
      .map((r) => r.Name);
    expect(names).toEqual([
      IP_RATE_RULE,
      SOURCE_PATH_RATE_RULE,
      CONFIG_RATE_RULE,
      ...['hubspot', 'shopify', 'salesforce'].map(providerRateRule),
      'BlockedIpv4',
      'BlockedIpv6',
      ...MANAGED_RULE_GROUPS.map((g) => g.name),
    ]);
    expect(new Set(rules().map((r) => r.Priority)).size).toBe(rules().length);
  });

  it('publishes metrics and samples for the ACL and every rule', () => {
    const configs = [
      only('AWS::WAFv2::WebACL')[1].VisibilityConfig,
      ...rules().map((r) => r.VisibilityConfig),
    ] as Json[];
    for (const config of configs) {
      expect(config).toMatchObject({ CloudWatchMetricsEnabled: true, SampledRequestsEnabled: true });
      expect(config.MetricName).toMatch(/^[\w#:.\-/]+$/);
    }
  });

  it('logs blocked and counted requests to an aws-waf-logs- group, with the Authorization header and the query string (an Outbound Message token) redacted', () => {
    const [aclId] = only('AWS::WAFv2::WebACL');
    const [, logging] = only('AWS::WAFv2::LoggingConfiguration');
    const logGroupId = logicalId(fixture.stack.edge.logGroup);
    expect(logging.ResourceArn).toEqual({ 'Fn::GetAtt': [aclId, 'Arn'] });
    expect(logging.RedactedFields).toEqual([
      { SingleHeader: { Name: 'authorization' } },
      { QueryString: {} },
    ]);
    expect(logging.LoggingFilter).toMatchObject({ DefaultBehavior: 'DROP' });
    const destination = JSON.stringify(logging.LogDestinationConfigs);
    expect(destination).toContain(`{"Ref":"${logGroupId}"}`);
    expect(destination).toContain(':log-group:');
    expect(destination).not.toContain(':*');

    const group = resources[logGroupId]?.Properties ?? {};
    expect(JSON.stringify(group.LogGroupName)).toMatch(/^\{"Fn::Join":\["",\["aws-waf-logs-/);
    expect(group.RetentionInDays).toBe(30);
  });
});

describe('gateway responses', () => {
  const responses = () =>
    Object.fromEntries(
      ofType('AWS::ApiGateway::GatewayResponse').map(([, r]) => [r.Properties?.ResponseType, r.Properties]),
    );

  it.each([
    ['MISSING_AUTHENTICATION_TOKEN', '404', 'not_found'],
    ['REQUEST_TOO_LARGE', '413', 'payload_too_large'],
    ['THROTTLED', '429', 'throttled'],
    ['WAF_FILTERED', '403', 'forbidden'],
    ['DEFAULT_5XX', undefined, 'internal_error'],
  ])('answers %s with %s and a JSON %s error', (type, status, code) => {
    const response = responses()[type] as Json;
    expect(response).toBeDefined();
    expect(response.StatusCode).toBe(status);
    expect(response.ResponseParameters).toMatchObject({
      'gatewayresponse.header.Content-Type': "'application/json'",
    });
    const body = errorBody((response.ResponseTemplates as Json)['application/json']);
    expect(body).toEqual({ success: false, error: { code, message: expect.any(String) } });
  });

  it('tells throttled callers when to retry', () => {
    expect((responses().THROTTLED as Json).ResponseParameters).toMatchObject({
      'gatewayresponse.header.Retry-After': "'1'",
    });
  });

  it('belongs to the webhook API and is part of its deployment', () => {
    const apiId = logicalId(fixture.stack.ingestion.api);
    const [[deploymentId, deployment] = []] = ofType('AWS::ApiGateway::Deployment');
    for (const [id, response] of ofType('AWS::ApiGateway::GatewayResponse')) {
      expect(response.Properties?.RestApiId).toEqual({ Ref: apiId });
      expect(deployment?.DependsOn, `${deploymentId} after ${id}`).toContain(id);
    }
  });
});

describe('configured stage', () => {
  it('applies a partial per-provider throttling override over the defaults of that provider', () => {
    const [, stage] = only('AWS::ApiGateway::Stage');
    expect(stage.MethodSettings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          ResourcePath: '/~1api~1webhooks~1shopify',
          HttpMethod: '*',
          ThrottlingRateLimit: 300,
          ThrottlingBurstLimit: 400,
        }),
      ]),
    );
  });

  it('leaves the account-wide CloudWatch role alone when asked to', () => {
    expect(ofType('AWS::ApiGateway::Account')).toEqual([]);
    expect(fixture.stack.ingestion.cloudWatchAccount).toBeUndefined();
    for (const [, stage] of [...ofType('AWS::ApiGateway::Stage'), ...ofType('AWS::ApiGatewayV2::Stage')]) {
      // Only the execution log group the stage logs into, created before API Gateway would.
      expect((stage.DependsOn ?? []).filter((id) => !id.startsWith('IngestionExecutionLogs'))).toEqual([]);
    }
  });
});

describe('configured ingest functions', () => {
  it('pass the body limits and priority overrides to every provider', () => {
    for (const provider of ['hubspot', 'shopify', 'salesforce']) {
      const env = envOf(`ingest-${provider}`);
      expect(env).toMatchObject({ MAX_BODY_BYTES: '2000000', CLAIM_CHECK_BYTES: '100000' });
      expect(JSON.parse(env.PRIORITY_OVERRIDES as string)).toEqual(CONFIG.priorities);
    }
  });

  it('pass the HubSpot and Salesforce verification settings to their function only', () => {
    expect(envOf('ingest-hubspot').HUBSPOT_ACCEPT_LEGACY_SIGNATURES).toBe('false');
    expect(envOf('ingest-salesforce')).toMatchObject({
      SALESFORCE_PUBLIC_KEY: PUBLIC_KEY_PEM,
      SALESFORCE_AUDIENCE: 'https://hooks.example.com',
      SALESFORCE_ORG_ID: '00D000000000001AAA',
      SALESFORCE_SECRET_ARN: expect.anything(),
    });
    expect(
      Object.keys(envOf('ingest-shopify')).filter((name) => /^(SALESFORCE|HUBSPOT)_/.test(name)),
    ).toEqual([]);
  });
});

describe('configured payload store', () => {
  it('expires claim checks after payloadRetentionDays and empties every bucket on destroy', () => {
    const bucket = resources[logicalId(fixture.stack.payloads.bucket)];
    expect(bucket?.Properties?.LifecycleConfiguration).toMatchObject({
      Rules: [{ ExpirationInDays: 45, Status: 'Enabled' }],
    });
    expect(bucket).toMatchObject({ DeletionPolicy: 'Delete' });
    const emptied = ofType('Custom::S3AutoDeleteObjects').map(([, r]) =>
      JSON.stringify(r.Properties?.BucketName),
    );
    expect(emptied.sort()).toEqual(
      [fixture.stack.payloads.bucket, fixture.stack.payloads.accessLogsBucket, fixture.stack.site.bucket]
        .map((b) => JSON.stringify({ Ref: logicalId(b) }))
        .sort(),
    );
  });
});
