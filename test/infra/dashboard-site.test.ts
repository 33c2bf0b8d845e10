import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type SynthFixture } from './fixture';

let fixture: SynthFixture;
let template: Template;

beforeAll(() => {
  fixture = buildTestApp({}, { bundling: false });
  template = Template.fromStack(fixture.stack);
});

afterAll(() => fixture?.cleanup());

const idOf = (construct: { node: { defaultChild?: unknown } }) =>
  fixture.stack.getLogicalId(construct.node.defaultChild as never);

describe('dashboard site', () => {
  it('keeps the page in a private, encrypted, TLS-only bucket read by CloudFront through OAC only', () => {
    const bucketId = idOf(fixture.stack.site.bucket);
    expect(template.toJSON().Resources[bucketId].Properties).toMatchObject({
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      LoggingConfiguration: { LogFilePrefix: 'dashboard-site/' },
    });
    template.hasResourceProperties('AWS::CloudFront::OriginAccessControl', {
      OriginAccessControlConfig: Match.objectLike({
        OriginAccessControlOriginType: 's3',
        SigningBehavior: 'always',
      }),
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({
            Effect: 'Allow',
            Action: 's3:GetObject',
            Principal: { Service: 'cloudfront.amazonaws.com' },
          }),
        ]),
      },
    });
  });

  /** The distribution's config, and the behaviour (in CloudFront's order) a viewer path gets. */
  function distribution() {
    const [config] = Object.values(template.findResources('AWS::CloudFront::Distribution')).map(
      (resource) =>
        (resource as { Properties: { DistributionConfig: Record<string, unknown> } }).Properties
          .DistributionConfig,
    );
    const behaviors = (config?.CacheBehaviors ?? []) as Record<string, unknown>[];
    // CloudFront patterns: `*` any run of characters, `?` one; the first matching behaviour wins.
    const matches = (pattern: string, path: string) =>
      new RegExp(
        `^${pattern
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replaceAll('*', '.*')
          .replaceAll('?', '.')}$`,
      ).test(path);
    const behaviorOf = (path: string) => behaviors.find((b) => matches(String(b.PathPattern), path));
    return { config, behaviors, behaviorOf };
  }

  it('serves index.html over HTTPS and sends the management API uncached, with every header but Host, to the REST API stage', () => {
    const { config, behaviorOf } = distribution();
    expect(config).toMatchObject({
      DefaultRootObject: 'index.html',
      DefaultCacheBehavior: { ViewerProtocolPolicy: 'redirect-to-https' },
    });
    const origins = config?.Origins as { Id: string; DomainName: unknown; OriginPath?: string }[];
    const api = origins.find((origin) =>
      JSON.stringify(origin.DomainName).includes(
        fixture.stack.resolve(fixture.stack.ingestion.api.restApiId).Ref,
      ),
    );
    // The stage name itself: a Ref to the stage would close a cycle through the sign-in client.
    expect(api?.OriginPath).toBe('/prod');
    for (const path of [
      '/api/webhooks/me',
      '/api/webhooks/configs',
      '/api/webhooks/configs/6f1c2d9e-0b7a-4c1e-9a51-3d2e8f7a6b5c/rotate-secret',
      '/api/webhooks/events',
      '/api/webhooks/rejections',
      '/api/webhooks/openapi.json',
    ])
      expect(behaviorOf(path), path).toMatchObject({
        TargetOriginId: api?.Id,
        ViewerProtocolPolicy: 'https-only',
        AllowedMethods: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'PATCH', 'POST', 'DELETE'],
        // The managed CachingDisabled and AllViewerExceptHostHeader policies.
        CachePolicyId: '4135ea2d-6df8-44a3-9df3-4b5a84be39ad',
        OriginRequestPolicyId: 'b689b0a8-53d0-40ab-baf2-68738e2966ac',
      });
  });

  it('never forwards a webhook ingest route: one door, the regional API and its WAF (issue 16)', () => {
    const { behaviors, behaviorOf } = distribution();
    const notFound = Object.keys(template.findResources('AWS::CloudFront::Function'));
    expect(notFound).toHaveLength(1);
    for (const provider of ['hubspot', 'shopify', 'salesforce']) {
      for (const path of [
        `/api/webhooks/${provider}`,
        `/api/webhooks/${provider}/6f1c2d9e-0b7a-4c1e-9a51-3d2e8f7a6b5c`,
        `/api/webhooks/${provider}/6f1c2d9e-0b7a-4c1e-9a51-3d2e8f7a6b5c/om/token`,
      ]) {
        const behavior = behaviorOf(path);
        expect(behavior?.PathPattern, path).toBe('/api/*');
        expect(behavior?.FunctionAssociations, path).toEqual([
          { EventType: 'viewer-request', FunctionARN: { 'Fn::GetAtt': [notFound[0], 'FunctionARN'] } },
        ]);
      }
    }
    // The catch-all is last, so that it never shadows a management path.
    expect(behaviors.at(-1)?.PathPattern).toBe('/api/*');
    const code = JSON.stringify(template.toJSON().Resources[notFound[0] as string].Properties.FunctionCode);
    expect(code).toContain('statusCode: 404');
  });

  it('sends a Content-Security-Policy that allows the page itself and the WebSocket API only', () => {
    const policies = template.findResources('AWS::CloudFront::ResponseHeadersPolicy');
    const [policy] = Object.values(policies);
    const csp = JSON.stringify(policy);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("connect-src 'self' wss://");
    expect(csp).toContain(fixture.stack.resolve(fixture.stack.realtime.api.apiId).Ref);
    expect(csp).toContain('"FrameOption":"DENY"');
  });

  it('deploys the page, uPlot and a config.json with the WebSocket URL, and invalidates the cache', () => {
    template.hasResourceProperties('Custom::CDKBucketDeployment', {
      DestinationBucketName: { Ref: idOf(fixture.stack.site.bucket) },
      DistributionPaths: ['/*'],
      SourceMarkers: Match.arrayWith([Match.objectLike({})]),
    });
    // Three sources: web/, uPlot's browser files, and config.json, whose markers are the WebSocket URL's parts.
    const [deployment] = Object.values(template.findResources('Custom::CDKBucketDeployment')) as {
      Properties: { SourceObjectKeys: string[]; SourceMarkers: Record<string, unknown>[] };
    }[];
    expect(deployment?.Properties.SourceObjectKeys).toHaveLength(3);
    expect(JSON.stringify(deployment?.Properties.SourceMarkers[2])).toContain(
      JSON.stringify(fixture.stack.resolve(fixture.stack.realtime.api.apiId)),
    );
  });

  it('outputs the dashboard URL', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs.DashboardUrl?.Value).toEqual({
      'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [idOf(fixture.stack.site.distribution), 'DomainName'] }]],
    });
  });
});
