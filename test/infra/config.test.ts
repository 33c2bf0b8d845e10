import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseConfig, SQS_MAX_VISIBILITY_MS } from '../../lib/config';

function publicKeyPem(type: 'rsa' | 'ed25519'): string {
  const { publicKey } =
    type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 1024 }) : generateKeyPairSync('ed25519');
  return publicKey.export({ type: 'spki', format: 'pem' }).toString();
}

describe('stack configuration', () => {
  it('fills every default from an empty context', () => {
    const config = parseConfig(undefined);
    expect(config).toMatchObject({
      stage: 'prod',
      removalPolicy: 'retain',
      logRetentionDays: 30,
      eventLogRetentionDays: 30,
      payloadRetentionDays: 30,
      providers: ['hubspot', 'shopify', 'salesforce'],
      priorities: {},
      ingest: { maxBodyBytes: 4_194_304, claimCheckBytes: 196_608, maxEventsPerRequest: 1000 },
      // Whatever loosens a check is off in a deployed stack (issue 16).
      hubspot: { acceptLegacySignatures: false },
      salesforce: { acceptOutboundMessages: false, maxTokenLifetimeSeconds: 300 },
      auth: { allowPasswordAuth: false },
      storage: { legacyConfigsIndex: true },
      api: {
        createCloudWatchRole: true,
        providerThrottling: {
          hubspot: { rateLimit: 100, burstLimit: 200 },
          shopify: { rateLimit: 200, burstLimit: 400 },
          salesforce: { rateLimit: 50, burstLimit: 100 },
        },
      },
      waf: {
        ipRateLimitPerMinute: 3000,
        sourcePathRateLimitPerMinute: 600,
        configRateLimitPerMinute: 1200,
        providerRateLimitPerMinute: { hubspot: 6000, shopify: 12_000, salesforce: 3000 },
        blockedCidrs: [],
      },
      queues: { maxReceiveCount: 1000, retentionDays: 4 },
      processing: {
        retryBaseDelayMs: 5000,
        maxRetryDelayMs: 900_000,
        retryAttempts: 5,
        attemptTimeoutMs: 30_000,
        eventLogPayloadMaxBytes: 65_536,
      },
      workflowEvents: { archiveDays: 7 },
      management: { secretGraceHours: 24 },
      alerting: {
        emails: [],
        smsNumbers: [],
        webhookUrls: [],
        defaultRules: [],
        providerSilentMinutes: 60,
        queueAgeAlarmSeconds: 900,
        api5xxRatePercent: 5,
        wafBlockedRequestsPer5Minutes: 1000,
      },
      database: { name: 'webhooks', minCapacity: 0.5, maxCapacity: 4, deletionProtection: true },
      processors: {
        high: { timeoutSeconds: 30 },
        medium: { timeoutSeconds: 30 },
        low: { timeoutSeconds: 60 },
      },
    });
  });

  it('merges a partial processor override with the defaults of that priority', () => {
    const config = parseConfig({ processors: { high: { batchSize: 2 } } });
    expect(config.processors.high).toEqual({ batchSize: 2, maxConcurrency: 20, timeoutSeconds: 30 });
  });

  it('accepts exact and prefix priority keys, CIDR blocks of both families and Salesforce settings', () => {
    const pem = publicKeyPem('rsa');
    const config = parseConfig({
      priorities: { 'shopify:orders/updated': 'high', 'hubspot:contact.*': 'low', 'salesforce:*': 'medium' },
      waf: { blockedCidrs: ['203.0.113.0/24', '2001:db8::/32'] },
      salesforce: { publicKeyPem: pem, audience: 'https://hooks.example.com', orgId: '00D000000000001' },
      api: { providerThrottling: { hubspot: { burstLimit: 500 } } },
    });
    expect(config.priorities['salesforce:*']).toBe('medium');
    expect(config.salesforce.publicKeyPem).toBe(pem);
    expect(config.api.providerThrottling.hubspot).toEqual({ rateLimit: 100, burstLimit: 500 });
  });

  it('accepts processing and archive settings within their ranges', () => {
    const config = parseConfig({
      processing: { retryBaseDelayMs: 0, eventLogPayloadMaxBytes: 0 },
      workflowEvents: { archiveDays: 3650 },
    });
    expect(config.processing).toMatchObject({ retryBaseDelayMs: 0, eventLogPayloadMaxBytes: 0 });
    expect(config.workflowEvents.archiveDays).toBe(3650);
    expect(parseConfig({ processing: { retryBaseDelayMs: 1000 } }).processing.eventLogPayloadMaxBytes).toBe(
      65_536,
    );
  });

  it("takes a retry policy whose longest attempts fit the queue's receives and retention", () => {
    const config = parseConfig({
      queues: { maxReceiveCount: 11, retentionDays: 1 },
      processing: { retryBaseDelayMs: 1000, maxRetryDelayMs: 60_000, retryAttempts: 10 },
    });
    expect(config.processing).toMatchObject({ maxRetryDelayMs: 60_000, retryAttempts: 10 });
  });

  it('accepts a secret grace period from none to 30 days', () => {
    expect(parseConfig({ management: { secretGraceHours: 0 } }).management.secretGraceHours).toBe(0);
    expect(parseConfig({ management: { secretGraceHours: 720 } }).management.secretGraceHours).toBe(720);
  });

  it('reads default alert rules with the API body rules and defaults, and the alert channels', () => {
    const config = parseConfig({
      alerting: {
        emails: ['oncall@example.com'],
        smsNumbers: ['+15555550100'],
        webhookUrls: ['https://hooks.example.com/alerts'],
        slackWebhookSecretName: 'ops/slack-webhook',
        chatbot: { slackWorkspaceId: 'T07EA123LEP', slackChannelId: 'C07EZ1ABC23' },
        defaultRules: [{ name: 'Errors', metric: 'error_rate', threshold: 5, comparison: 'greater_than' }],
        providerSilentMinutes: 0,
      },
    });
    expect(config.alerting.defaultRules).toEqual([
      {
        name: 'Errors',
        provider: null,
        metric: 'error_rate',
        threshold: 5,
        comparison: 'greater_than',
        time_window_minutes: 5,
        notification_channels: [],
        enabled: true,
      },
    ]);
    expect(config.alerting).toMatchObject({
      slackWebhookSecretName: 'ops/slack-webhook',
      chatbot: { slackWorkspaceId: 'T07EA123LEP' },
      providerSilentMinutes: 0,
    });
  });

  it('accepts the JSON text that `cdk -c webhooks=...` passes', () => {
    expect(parseConfig('{"stage":"dev","database":{"minCapacity":0,"autoPauseMinutes":15}}')).toMatchObject({
      stage: 'dev',
      database: { minCapacity: 0, autoPauseMinutes: 15 },
    });
  });

  it.each([
    ['a FIFO batch above 10', { processors: { low: { batchSize: 11 } } }, /batchSize/],
    [
      'auto-pause without a zero minimum',
      { database: { autoPauseMinutes: 10 } },
      /autoPauseMinutes requires minCapacity 0/,
    ],
    ['a capacity that is not a multiple of 0.5 ACU', { database: { maxCapacity: 2.25 } }, /multiple of 0.5/],
    ['a log retention CloudWatch does not offer', { logRetentionDays: 31 }, /logRetentionDays/],
    ['an unknown provider', { providers: ['stripe'] }, /providers/],
    ['a misspelt key', { stge: 'dev' }, /stge/],
    ['a stage name API Gateway refuses', { stage: 'prod/v1' }, /stage/],
    ['a stage with "-", which would blur stack and alarm names', { stage: 'prod-eu' }, /letters and digits/],
    ['a stage longer than 24 characters', { stage: 'a'.repeat(25) }, /stage/],
    ['a stage Cognito refuses in a domain', { stage: 'awsdemo' }, /aws, amazon or cognito/],
    ['a domain prefix Cognito refuses', { auth: { domainPrefix: 'my-cognito' } }, /aws, amazon or cognito/],
    ['a domain prefix in capitals', { auth: { domainPrefix: 'Hooks' } }, /domainPrefix/],
    [
      'a first operator that is not an email address',
      { auth: { firstOperatorEmail: 'me' } },
      /firstOperatorEmail/,
    ],
    ['a region that is not one', { region: 'Frankfurt' }, /region/],
    ['a database name Aurora reserves', { database: { name: 'rdsadmin' } }, /reserves/],
    [
      'a block listed twice in two spellings',
      { waf: { blockedCidrs: ['2001:db8::/32', '2001:DB8::/32'] } },
      /repeat/,
    ],
    [
      'payloads expiring before their event log entries',
      { eventLogRetentionDays: 60, payloadRetentionDays: 30 },
      /payloadRetentionDays must not be below eventLogRetentionDays/,
    ],
    [
      'payloads expiring before a dead letter can be redriven',
      { payloadRetentionDays: 7 },
      /payloadRetentionDays/,
    ],
    [
      'a claim-check threshold above one SQS message',
      { ingest: { claimCheckBytes: 262_145 } },
      /claimCheckBytes/,
    ],
    ['a body limit above what Lambda accepts', { ingest: { maxBodyBytes: 6_000_000 } }, /maxBodyBytes/],
    ['an unknown priority', { priorities: { 'shopify:orders/create': 'urgent' } }, /priorities/],
    [
      'a priority key of an unknown provider',
      { priorities: { 'stripe:charge.succeeded': 'high' } },
      /priorities/,
    ],
    ['a priority key without provider', { priorities: { 'orders/create': 'high' } }, /provider:eventType/],
    ['a wildcard inside a priority key', { priorities: { 'shopify:*/create': 'high' } }, /priorities/],
    [
      'priority overrides too large for the Lambda environment',
      {
        priorities: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`shopify:topic/${i}`, 'low'])),
      },
      /4 KB/,
    ],
    ['a CIDR block that is not one', { waf: { blockedCidrs: ['203.0.113.7'] } }, /blockedCidrs/],
    ['a /0 block list entry', { waf: { blockedCidrs: ['0.0.0.0/0'] } }, /\/0/],
    ['a WAF rate limit below its minimum', { waf: { ipRateLimitPerMinute: 5 } }, /ipRateLimitPerMinute/],
    [
      'throttling for an unknown provider',
      { api: { providerThrottling: { stripe: { rateLimit: 1 } } } },
      /stripe/,
    ],
    ['a Salesforce key that is not PEM', { salesforce: { publicKeyPem: 'abc' } }, /PUBLIC KEY/],
    ['a Salesforce key that is not RSA', { salesforce: { publicKeyPem: publicKeyPem('ed25519') } }, /RSA/],
    ['a Salesforce org id of the wrong shape', { salesforce: { orgId: '001000000000001' } }, /orgId/],
    ['a negative retry delay', { processing: { retryBaseDelayMs: -1 } }, /retryBaseDelayMs/],
    ['a fractional retry delay', { processing: { retryBaseDelayMs: 1.5 } }, /retryBaseDelayMs/],
    [
      'a retry delay above the 12 hours SQS allows',
      { processing: { retryBaseDelayMs: SQS_MAX_VISIBILITY_MS + 1 } },
      /retryBaseDelayMs/,
    ],
    [
      'retries outlasting the queue retention',
      {
        queues: { retentionDays: 1 },
        processing: { retryBaseDelayMs: 3_600_000, maxRetryDelayMs: SQS_MAX_VISIBILITY_MS },
      },
      /end well within queues.retentionDays/,
    ],
    [
      "SQS's redrive cutting a config's attempts short (the old default of 5 receives)",
      { queues: { maxReceiveCount: 5 } },
      /fit within queues.maxReceiveCount/,
    ],
    [
      'a retry cap below the first retry delay',
      { processing: { retryBaseDelayMs: 60_000, maxRetryDelayMs: 10_000 } },
      /maxRetryDelayMs must not be below/,
    ],
    [
      'a retry cap above the 12 hours SQS allows',
      { processing: { maxRetryDelayMs: SQS_MAX_VISIBILITY_MS + 1 } },
      /maxRetryDelayMs/,
    ],
    ['a negative retry budget', { processing: { retryAttempts: -1 } }, /retryAttempts/],
    [
      'an attempt timeout above 15 minutes',
      { processing: { attemptTimeoutMs: 900_001 } },
      /attemptTimeoutMs/,
    ],
    ['an archive of zero days', { workflowEvents: { archiveDays: 0 } }, /archiveDays/],
    ['an archive above ten years', { workflowEvents: { archiveDays: 3651 } }, /archiveDays/],
    ['a misspelt workflow events key', { workflowEvents: { archiveDay: 7 } }, /archiveDay/],
    [
      'an inline payload limit that does not fit a DynamoDB item',
      { processing: { eventLogPayloadMaxBytes: 400_000 } },
      /eventLogPayloadMaxBytes/,
    ],
    [
      'a negative inline payload limit',
      { processing: { eventLogPayloadMaxBytes: -1 } },
      /eventLogPayloadMaxBytes/,
    ],
    ['a negative secret grace period', { management: { secretGraceHours: -1 } }, /secretGraceHours/],
    ['a fractional secret grace period', { management: { secretGraceHours: 1.5 } }, /secretGraceHours/],
    ['a secret grace period above 30 days', { management: { secretGraceHours: 721 } }, /secretGraceHours/],
    ['a misspelt management key', { management: { graceHours: 24 } }, /graceHours/],
    ['an alert email that is not one', { alerting: { emails: ['oncall'] } }, /emails/],
    ['an SMS number without country code', { alerting: { smsNumbers: ['5555550100'] } }, /E\.164/],
    [
      'a plain HTTP alert webhook',
      { alerting: { webhookUrls: ['http://hooks.example.com/a'] } },
      /webhookUrls/,
    ],
    [
      'a rate rule above 100%',
      {
        alerting: {
          defaultRules: [{ name: 'x', metric: 'success_rate', threshold: 101, comparison: 'less_than' }],
        },
      },
      /percentage/,
    ],
    [
      'a rule window longer than a day',
      {
        alerting: {
          defaultRules: [
            {
              name: 'x',
              metric: 'event_volume',
              threshold: 1,
              comparison: 'less_than',
              time_window_minutes: 1441,
            },
          ],
        },
      },
      /time_window_minutes/,
    ],
    [
      'an unknown rule channel',
      {
        alerting: {
          defaultRules: [
            {
              name: 'x',
              metric: 'event_volume',
              threshold: 1,
              comparison: 'less_than',
              notification_channels: ['pager'],
            },
          ],
        },
      },
      /notification_channels/,
    ],
    [
      'default rules too large for the recorder environment',
      {
        alerting: {
          defaultRules: Array.from({ length: 30 }, (_, i) => ({
            name: `A rather long default rule name number ${i}`,
            metric: 'event_volume',
            threshold: 1,
            comparison: 'less_than',
          })),
        },
      },
      /4 KB/,
    ],
    ['a silence window below 5 minutes', { alerting: { providerSilentMinutes: 3 } }, /providerSilentMinutes/],
    [
      'a Slack channel id of the wrong shape',
      { alerting: { chatbot: { slackWorkspaceId: 'T07EA123LEP', slackChannelId: '#alerts' } } },
      /slackChannelId/,
    ],
    ['a misspelt alerting key', { alerting: { email: ['a@example.com'] } }, /email/],
    [
      'Outbound Messages on the provider-wide endpoint without the org they come from',
      { salesforce: { acceptOutboundMessages: true } },
      /acceptOutboundMessages needs orgId/,
    ],
    [
      'a Salesforce token lifetime over an hour',
      { salesforce: { maxTokenLifetimeSeconds: 86_400 } },
      /maxTokenLifetimeSeconds/,
    ],
  ])('rejects %s', (_, raw, message) => {
    expect(() => parseConfig(raw)).toThrow(message);
  });

  it('retains data on the production stages and destroys it on others, unless told otherwise', () => {
    expect(parseConfig({})).toMatchObject({
      removalPolicy: 'retain',
      database: { deletionProtection: true },
    });
    expect(parseConfig({ stage: 'production' }).removalPolicy).toBe('retain');
    expect(parseConfig({ stage: 'dev' })).toMatchObject({
      removalPolicy: 'destroy',
      database: { deletionProtection: false },
    });
    expect(parseConfig({ stage: 'dev', removalPolicy: 'retain' })).toMatchObject({
      removalPolicy: 'retain',
      database: { deletionProtection: true },
    });
    expect(
      parseConfig({ removalPolicy: 'destroy', database: { deletionProtection: true } }).database,
    ).toMatchObject({ deletionProtection: true });
  });

  it('takes a region, a first operator and a sign-in domain prefix', () => {
    expect(
      parseConfig({
        region: 'eu-central-2',
        auth: { firstOperatorEmail: 'oncall@example.com', domainPrefix: 'acme-hooks' },
      }),
    ).toMatchObject({
      region: 'eu-central-2',
      auth: { firstOperatorEmail: 'oncall@example.com', domainPrefix: 'acme-hooks' },
    });
    expect(parseConfig({ region: 'us-gov-west-1' }).region).toBe('us-gov-west-1');
  });

  it.each([
    ['an IPv4 block with host bits set', '10.0.0.1/8', /write 10\.0\.0\.0\/8 .* or 10\.0\.0\.1\/32/],
    ['an IPv6 block with host bits set', '2001:db8::1/32', /write 2001:db8::\/32 .* or 2001:db8::1\/128/],
  ])('refuses %s, naming the network and the single address it may mean', (_, cidr, message) => {
    expect(() => parseConfig({ waf: { blockedCidrs: [cidr] } })).toThrow(message);
  });

  it('rejects context text that is not JSON', () => {
    expect(() => parseConfig('{stage:dev}')).toThrow(/not valid JSON/);
  });
});
