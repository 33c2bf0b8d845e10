import { Aws, DefaultStackSynthesizer, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { Construct } from 'constructs';
import { MANAGEMENT_ROUTES } from '../../shared/api/routes';
import { contentSecurityPolicy } from '../dashboard-csp';
import { managedPolicyFinding, wildcardResourceFinding } from '../nag';
import { globalName } from '../names';
import { UPLOT_DIST_DIR, WEB_DIR } from '../paths';

export interface DashboardSiteProps {
  /** The REST API's execute-api domain and stage: CloudFront sends `/api/*` there. */
  readonly apiDomainName: string;
  readonly apiStageName: string;
  /** `wss://...` of the WebSocket API stage, written into the page's config.json. */
  readonly websocketUrl: string;
  /** `wss://<api id>.execute-api.<region>.<suffix>`: what the page's CSP lets it connect to. */
  readonly websocketOrigin: string;
  /** Cognito managed login (base URL) and the public client the page signs in with (web/sign-in.js). */
  readonly signIn: { readonly url: string; readonly clientId: string };
  /** Where the bucket's S3 server access logs go (the stack's access-log bucket). */
  readonly accessLogsBucket: s3.IBucket;
  readonly removalPolicy: RemovalPolicy;
  readonly logRetention: RetentionDays;
}

/**
 * The CloudFront path patterns of the management API (from MANAGEMENT_ROUTES): each route's first
 * segment, and its children where it has any. Nothing else under /api/ reaches the REST API through
 * CloudFront: the webhook ingest routes have one door, the regional API with its WAF.
 */
export function managementPathPatterns(): string[] {
  const patterns = new Set<string>();
  for (const [, path] of MANAGEMENT_ROUTES) {
    const [first, ...rest] = path.split('/');
    patterns.add(`/api/webhooks/${first}`);
    if (rest.length > 0) patterns.add(`/api/webhooks/${first}/*`);
  }
  return [...patterns];
}

/** What CloudFront answers any other /api/ path with, in the API's one error shape. */
const NOT_FOUND_FUNCTION = `function handler() {
  return {
    statusCode: 404,
    statusDescription: 'Not Found',
    headers: { 'content-type': { value: 'application/json' }, 'cache-control': { value: 'no-store' } },
    body: { encoding: 'text', data: '{"success":false,"error":{"code":"not_found","message":"No such route"}}' },
  };
}`;

/**
 * The dashboard page on S3 behind CloudFront. The distribution also forwards the management API's
 * paths (and only those) to the REST API, so the page calls it on its own origin (no CORS) with the
 * same relative URLs as on the local stack; any other /api/ path, the webhook ingest routes
 * included, is answered 404 by CloudFront itself. Only the WebSocket URL comes from config.json.
 */
export class DashboardSite extends Construct {
  public readonly bucket: s3.Bucket;
  public readonly distribution: cloudfront.Distribution;
  public readonly url: string;

  constructor(scope: Construct, id: string, props: DashboardSiteProps) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      serverAccessLogsBucket: props.accessLogsBucket,
      serverAccessLogsPrefix: 'dashboard-site/',
      removalPolicy: props.removalPolicy,
      // A bucket that still holds the page cannot be deleted: emptied first when data is destroyed.
      autoDeleteObjects: props.removalPolicy === RemovalPolicy.DESTROY,
    });

    const headers = new cloudfront.ResponseHeadersPolicy(this, 'Headers', {
      responseHeadersPolicyName: globalName(this, 'site-headers', 128),
      securityHeadersBehavior: {
        contentSecurityPolicy: {
          contentSecurityPolicy: contentSecurityPolicy(props.websocketOrigin, props.signIn.url),
          override: true,
        },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.NO_REFERRER, override: true },
        strictTransportSecurity: {
          accessControlMaxAge: Duration.days(365),
          includeSubdomains: true,
          override: true,
        },
      },
    });

    // CloudFront names are account-wide: the stage (in the stack name) and the region keep two
    // copies of the stack apart.
    const originAccessControl = new cloudfront.S3OriginAccessControl(this, 'OriginAccess', {
      originAccessControlName: globalName(this, 'site', 64),
      description: 'The dashboard distribution reads the site bucket',
    });
    const api: cloudfront.BehaviorOptions = {
      origin: new origins.HttpOrigin(props.apiDomainName, {
        originPath: `/${props.apiStageName}`,
        protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
      }),
      viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
      allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
      // API answers are per user (Authorization) and live: never cached.
      cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
      originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
    };
    const site = origins.S3BucketOrigin.withOriginAccessControl(this.bucket, { originAccessControl });
    const notFound = new cloudfront.Function(this, 'ApiNotFound', {
      functionName: globalName(this, 'api-not-found', 64),
      comment: 'Answers 404 to /api/ paths that are not the management API',
      runtime: cloudfront.FunctionRuntime.JS_2_0,
      code: cloudfront.FunctionCode.fromInline(NOT_FOUND_FUNCTION),
    });
    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: 'Webhooks dashboard (and the management API under /api/webhooks)',
      defaultRootObject: 'index.html',
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
      defaultBehavior: {
        origin: site,
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        responseHeadersPolicy: headers,
      },
      // In this order: the management paths first, then every other /api/ path to the 404 function.
      additionalBehaviors: {
        ...Object.fromEntries(managementPathPatterns().map((pattern) => [pattern, api])),
        '/api/*': {
          origin: site,
          viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
          allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
          cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
          functionAssociations: [
            { function: notFound, eventType: cloudfront.FunctionEventType.VIEWER_REQUEST },
          ],
        },
      },
    });
    this.url = `https://${this.distribution.distributionDomainName}`;

    new s3deploy.BucketDeployment(this, 'Deploy', {
      destinationBucket: this.bucket,
      sources: [
        // The page's files; sign-in.d.ts only types sign-in.js for the CLI and the tests.
        s3deploy.Source.asset(WEB_DIR, { exclude: ['*.d.ts'] }),
        // uPlot's browser build only (the CommonJS, IIFE and type files are not served).
        s3deploy.Source.asset(UPLOT_DIST_DIR, {
          exclude: ['*.cjs.js', '*.iife.js', '*.iife.min.js', '*.d.ts'],
        }),
        s3deploy.Source.jsonData('config.json', {
          apiBaseUrl: '',
          websocketUrl: props.websocketUrl,
          signIn: { url: props.signIn.url, clientId: props.signIn.clientId },
        }),
      ],
      distribution: this.distribution,
      distributionPaths: ['/*'],
      memoryLimit: 256,
      // Its own group with the stack's retention: otherwise Lambda creates one that never expires.
      logGroup: new LogGroup(this, 'DeployLogs', {
        retention: props.logRetention,
        removalPolicy: props.removalPolicy,
      }),
    });
    this.acknowledgeDeploymentFunction();

    const reason = (text: string) => ({ reason: text });
    Validations.of(this.distribution).acknowledge({
      id: 'AwsSolutions-CFR1',
      ...reason('Operators sign in from anywhere; the page holds no data and the API needs a token.'),
    });
    Validations.of(this.distribution).acknowledge({
      id: 'AwsSolutions-CFR2',
      ...reason(
        "The distribution serves the static page and forwards the management API's paths only (never the webhook ingest routes), to the REST API stage whose regional WAF web ACL inspects every request it forwards; the page needs none. A CloudFront WAF would be a second, us-east-1 web ACL.",
      ),
    });
    Validations.of(this.distribution).acknowledge({
      id: 'AwsSolutions-CFR3',
      ...reason(
        'Standard logging needs an ACL-enabled bucket; the REST API behind /api/* keeps its own access logs and the bucket has S3 server access logs.',
      ),
    });
    Validations.of(this.distribution).acknowledge({
      id: 'AwsSolutions-CFR4',
      ...reason(
        'The default *.cloudfront.net certificate cannot pin a minimum TLS version; a custom domain with its own certificate can (TLSv1.2_2021).',
      ),
    });
  }

  /**
   * BucketDeployment runs a singleton Lambda of aws-cdk-lib (Python and the AWS CLI layer) at deploy
   * time only; its runtime and role are aws-cdk-lib's to choose, and it touches this bucket and the
   * CDK asset bucket alone.
   */
  private acknowledgeDeploymentFunction(): void {
    const stack = Stack.of(this);
    const singleton = stack.node.children.find((child) =>
      child.node.id.startsWith('Custom::CDKBucketDeployment'),
    );
    if (!singleton) return;
    const reason =
      'The deploy-time function of aws-cdk-lib s3-deployment (BucketDeployment): it copies the page from the CDK asset bucket into the site bucket; its runtime and grants are set by aws-cdk-lib.';
    for (const id of [
      'AwsSolutions-L1',
      managedPolicyFinding('service-role/AWSLambdaBasicExecutionRole'),
      'AwsSolutions-IAM5[Action::s3:Abort*]',
      'AwsSolutions-IAM5[Action::s3:DeleteObject*]',
      'AwsSolutions-IAM5[Action::s3:GetBucket*]',
      'AwsSolutions-IAM5[Action::s3:GetObject*]',
      'AwsSolutions-IAM5[Action::s3:List*]',
      'AwsSolutions-IAM5[Resource::*]',
      wildcardResourceFinding(this, this.bucket.arnForObjects('*')),
      // The CDK asset bucket, named after the stack's account and region (literal when the stack has them).
      wildcardResourceFinding(
        this,
        `arn:${Aws.PARTITION}:s3:::cdk-${DefaultStackSynthesizer.DEFAULT_QUALIFIER}-assets-${stack.account}-${stack.region}/*`,
      ),
    ])
      Validations.of(singleton).acknowledge({ id, reason });
  }
}
