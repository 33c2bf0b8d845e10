import { ArnFormat, Aws, Fn, type RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import {
  CONFIG_PATH_PATTERN,
  IP_RATE_WINDOW_SECONDS,
  IP_THROTTLED,
  PATH_THROTTLED,
  PROVIDER_RATE_THROTTLED,
  providerPathPattern,
  type ThrottledAnswer,
} from '../edge-limits';

export interface EdgeProtectionProps {
  /** The REST API stage the web ACL guards. */
  readonly stage: apigw.Stage;
  /** Requests one IP may send in a 60 s window before it is answered 429. */
  readonly ipRateLimitPerMinute: number;
  /** Requests one IP may send to one path in a 60 s window. */
  readonly sourcePathRateLimitPerMinute: number;
  /** Requests one per-config endpoint may receive in a 60 s window, from every source together. */
  readonly configRateLimitPerMinute: number;
  /** Requests each provider's routes may take in a 60 s window, from every source together. */
  readonly providerRateLimitPerMinute: Readonly<Record<string, number>>;
  /** CIDR blocks (IPv4 and IPv6 mixed) refused outright. */
  readonly blockedCidrs: readonly string[];
  readonly logRetention: RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
}

/** Name of the rate-based rule (also its metric). */
export const IP_RATE_RULE = 'PerIpRateLimit';
/** Per source IP and URI path: one source's share of one route. */
export const SOURCE_PATH_RATE_RULE = 'PerSourceAndPathRateLimit';
/** Per per-config URI path, every source together: one tenant's share of the per-config route. */
export const CONFIG_RATE_RULE = 'PerConfigRateLimit';
/** Per provider, every source and endpoint together: the seed's per-provider one-minute window. */
export const providerRateRule = (provider: string) => `PerProviderRateLimit-${provider}`;

/** The AWS managed rule groups, in evaluation order, with the rules that only count. */
export const MANAGED_RULE_GROUPS: readonly {
  readonly name: string;
  readonly countOnly: readonly string[];
}[] = [
  // Known malicious sources (bots, scanners, reconnaissance); inspects nothing but the source IP.
  { name: 'AWSManagedRulesAmazonIpReputationList', countOnly: [] },
  // Exploit signatures. The header, path and query rules block: providers send fixed headers to
  // our fixed URLs. The body rules only count: a webhook body is customer data, and CRM records
  // really do carry `${jndi:...}` strings that attackers once sprayed into web forms. Our handlers
  // run on Node.js, never on Log4j or Java deserialization.
  {
    name: 'AWSManagedRulesKnownBadInputsRuleSet',
    countOnly: ['Log4JRCE_BODY', 'JavaDeserializationRCE_BODY'],
  },
  // OWASP-style core rules. Every *_BODY rule only counts: legitimate signed deliveries can trip
  // them, and a WAF block is a failed delivery that the provider retries and eventually drops
  // (Shopify even removes subscriptions that keep failing), often a whole batch of events at once:
  // - SizeRestrictions_BODY blocks bodies above 8 KB; orders and HubSpot batches are larger (the
  //   ingest function enforces its own limit, MAX_BODY_BYTES).
  // - CrossSiteScripting_BODY: Shopify product `body_html`, order notes and HubSpot rich-text
  //   properties are HTML (iframes, scripts in embeds).
  // - GenericLFI_BODY / GenericRFI_BODY: `../` paths and URLs with IP addresses appear in notes,
  //   landing-site and referrer fields.
  // - EC2MetaDataSSRF_BODY: nothing here fetches a URL taken from a payload.
  // The body is never rendered, executed, fetched or used as a path; it is authenticated by the
  // provider's signature in the ingest function. Counting keeps the matches visible in metrics and
  // in the WAF log.
  {
    name: 'AWSManagedRulesCommonRuleSet',
    countOnly: [
      'SizeRestrictions_BODY',
      'CrossSiteScripting_BODY',
      'GenericLFI_BODY',
      'GenericRFI_BODY',
      'EC2MetaDataSSRF_BODY',
    ],
  },
];

/** WAF's answers to a rate rule, in the API's one error shape. */
const THROTTLED_BODY_KEY = 'throttled';
const PATH_THROTTLED_BODY_KEY = 'pathThrottled';
const PROVIDER_THROTTLED_BODY_KEY = 'providerThrottled';

function blockWith(answer: ThrottledAnswer, bodyKey: string): wafv2.CfnWebACL.RuleActionProperty {
  return {
    block: {
      customResponse: {
        responseCode: 429,
        customResponseBodyKey: bodyKey,
        responseHeaders: [{ name: 'Retry-After', value: String(answer.retryAfterSeconds) }],
      },
    },
  };
}

/**
 * The AWS WAF web ACL in front of the webhook REST API stage (DESIGN.md section 2): rate-based
 * rules over a 60 s window (429) per IP, per IP and webhook path, and per per-config endpoint; an
 * optional IP block list; and the AWS managed rule groups with body inspection reduced to counting. Blocked and counted requests are logged to
 * CloudWatch Logs with the Authorization header redacted.
 */
export class EdgeProtection extends Construct {
  public readonly webAcl: wafv2.CfnWebACL;
  public readonly association: wafv2.CfnWebACLAssociation;
  public readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: EdgeProtectionProps) {
    super(scope, id);
    const stack = Stack.of(this);

    const rules: wafv2.CfnWebACL.RuleProperty[] = [];
    const addRule = (rule: Omit<wafv2.CfnWebACL.RuleProperty, 'priority' | 'visibilityConfig'>) => {
      rules.push({ ...rule, priority: rules.length, visibilityConfig: visibility(rule.name) });
    };

    addRule({
      name: IP_RATE_RULE,
      statement: {
        rateBasedStatement: {
          aggregateKeyType: 'IP',
          evaluationWindowSec: IP_RATE_WINDOW_SECONDS,
          limit: props.ipRateLimitPerMinute,
        },
      },
      action: blockWith(IP_THROTTLED, THROTTLED_BODY_KEY),
    });
    // The stage throttle is shared by every tenant: these two keep one source (per path) and one
    // config (whatever its sources) within a share of it, as local/edge-limits.ts does locally.
    const path = { uriPath: { textTransformations: [{ priority: 0, type: 'NONE' }] } };
    addRule({
      name: SOURCE_PATH_RATE_RULE,
      statement: {
        rateBasedStatement: {
          aggregateKeyType: 'CUSTOM_KEYS',
          customKeys: [{ ip: {} }, path],
          evaluationWindowSec: IP_RATE_WINDOW_SECONDS,
          limit: props.sourcePathRateLimitPerMinute,
          scopeDownStatement: webhookPaths('/api/webhooks/'),
        },
      },
      action: blockWith(PATH_THROTTLED, PATH_THROTTLED_BODY_KEY),
    });
    addRule({
      name: CONFIG_RATE_RULE,
      statement: {
        rateBasedStatement: {
          aggregateKeyType: 'CUSTOM_KEYS',
          customKeys: [path],
          evaluationWindowSec: IP_RATE_WINDOW_SECONDS,
          limit: props.configRateLimitPerMinute,
          scopeDownStatement: {
            regexMatchStatement: {
              regexString: CONFIG_PATH_PATTERN,
              fieldToMatch: { uriPath: {} },
              textTransformations: [{ priority: 0, type: 'NONE' }],
            },
          },
        },
      },
      action: blockWith(PATH_THROTTLED, PATH_THROTTLED_BODY_KEY),
    });

    for (const [provider, limit] of Object.entries(props.providerRateLimitPerMinute))
      addRule({
        name: providerRateRule(provider),
        statement: {
          rateBasedStatement: {
            aggregateKeyType: 'CONSTANT',
            evaluationWindowSec: IP_RATE_WINDOW_SECONDS,
            limit,
            scopeDownStatement: {
              regexMatchStatement: {
                regexString: providerPathPattern(provider),
                fieldToMatch: { uriPath: {} },
                textTransformations: [{ priority: 0, type: 'NONE' }],
              },
            },
          },
        },
        action: blockWith(PROVIDER_RATE_THROTTLED, PROVIDER_THROTTLED_BODY_KEY),
      });

    for (const version of ['IPV4', 'IPV6'] as const) {
      const addresses = props.blockedCidrs.filter((cidr) => cidr.includes(':') === (version === 'IPV6'));
      if (addresses.length === 0) continue;
      const suffix = version === 'IPV4' ? 'Ipv4' : 'Ipv6';
      const ipSet = new wafv2.CfnIPSet(this, `Blocked${suffix}`, {
        // WAF descriptions allow no parentheses (config WAF_DESCRIPTION).
        description: `Blocked ${version} ranges of the webhook API, config waf.blockedCidrs`,
        scope: 'REGIONAL',
        ipAddressVersion: version,
        addresses: [...addresses],
      });
      addRule({
        name: `Blocked${suffix}`,
        statement: { ipSetReferenceStatement: { arn: ipSet.attrArn } },
        action: { block: {} },
      });
    }

    for (const group of MANAGED_RULE_GROUPS) {
      addRule({
        name: group.name,
        statement: {
          managedRuleGroupStatement: {
            vendorName: 'AWS',
            name: group.name,
            ...(group.countOnly.length > 0 && {
              ruleActionOverrides: group.countOnly.map((name) => ({ name, actionToUse: { count: {} } })),
            }),
          },
        },
        overrideAction: { none: {} },
      });
    }

    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      description: 'Webhook REST API: per-IP rate limit, IP block list, AWS managed rules',
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      customResponseBodies: {
        [THROTTLED_BODY_KEY]: {
          contentType: 'APPLICATION_JSON',
          content: JSON.stringify({ success: false, error: IP_THROTTLED.error }),
        },
        [PROVIDER_THROTTLED_BODY_KEY]: {
          contentType: 'APPLICATION_JSON',
          content: JSON.stringify({ success: false, error: PROVIDER_RATE_THROTTLED.error }),
        },
        [PATH_THROTTLED_BODY_KEY]: {
          contentType: 'APPLICATION_JSON',
          content: JSON.stringify({ success: false, error: PATH_THROTTLED.error }),
        },
      },
      rules,
      visibilityConfig: visibility('WebhooksWebAcl'),
    });

    const stageArn = `arn:${Aws.PARTITION}:apigateway:${stack.region}::/restapis/${props.stage.restApi.restApiId}/stages/${props.stage.stageName}`;
    this.association = new wafv2.CfnWebACLAssociation(this, 'StageAssociation', {
      resourceArn: stageArn,
      webAclArn: this.webAcl.attrArn,
    });

    this.logGroup = new LogGroup(this, 'Logs', {
      // WAF delivers only to log groups whose name starts with aws-waf-logs-. The stack id's UUID
      // keeps the name free for a re-created stack when a retained group is left behind.
      logGroupName: `aws-waf-logs-${stack.stackName}-${Fn.select(2, Fn.split('/', Aws.STACK_ID))}`,
      retention: props.logRetention,
      removalPolicy: props.logRemovalPolicy,
    });
    new wafv2.CfnLoggingConfiguration(this, 'Logging', {
      resourceArn: this.webAcl.attrArn,
      // The ARN without the `:*` suffix that the log group's Arn attribute carries.
      logDestinationConfigs: [
        stack.formatArn({
          service: 'logs',
          resource: 'log-group',
          resourceName: this.logGroup.logGroupName,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      ],
      // Salesforce sends a bearer token, and an Outbound Message its endpoint token in the query
      // string; signatures of the other providers are not secrets.
      redactedFields: [{ singleHeader: { Name: 'authorization' } }, { queryString: {} }],
      // Only what a rule blocked or counted: API Gateway's access log already records every
      // request, and logging each allowed delivery would cost more than the WAF itself.
      loggingFilter: {
        DefaultBehavior: 'DROP',
        Filters: [
          {
            Behavior: 'KEEP',
            Requirement: 'MEETS_ANY',
            Conditions: ['BLOCK', 'COUNT', 'EXCLUDED_AS_COUNT'].map((action) => ({
              ActionCondition: { Action: action },
            })),
          },
        ],
      },
    });
  }
}

/** Requests whose URI path contains `/api/webhooks/` (behind any stage prefix). */
function webhookPaths(fragment: string): wafv2.CfnWebACL.StatementProperty {
  return {
    byteMatchStatement: {
      searchString: fragment,
      fieldToMatch: { uriPath: {} },
      positionalConstraint: 'CONTAINS',
      textTransformations: [{ priority: 0, type: 'NONE' }],
    },
  };
}

function visibility(metricName: string): wafv2.CfnWebACL.VisibilityConfigProperty {
  return { cloudWatchMetricsEnabled: true, metricName, sampledRequestsEnabled: true };
}
