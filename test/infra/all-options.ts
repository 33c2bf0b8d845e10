import { generateKeyPairSync } from 'node:crypto';
import type { WebhooksConfigInput } from '../../lib/config';

/** A configuration that turns every option on (or away from its default), as a first deploy might. */
export const ALL_OPTIONS = {
  stage: 'staging',
  region: 'eu-central-1',
  removalPolicy: 'retain',
  logRetentionDays: 90,
  eventLogRetentionDays: 14,
  payloadRetentionDays: 30,
  auth: { firstOperatorEmail: 'oncall@example.com', domainPrefix: 'acme-webhooks-staging' },
  providers: ['hubspot', 'shopify', 'salesforce'],
  priorities: { 'shopify:orders/updated': 'high', 'hubspot:contact.*': 'low' },
  ingest: { maxBodyBytes: 2_000_000, claimCheckBytes: 100_000 },
  hubspot: { acceptLegacySignatures: false },
  salesforce: {
    publicKeyPem: generateKeyPairSync('rsa', { modulusLength: 2048 })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString(),
    audience: 'https://hooks.example.com',
    orgId: '00D000000000001AAA',
  },
  lambda: { memorySize: 1024, tracing: true },
  api: {
    throttlingRateLimit: 500,
    throttlingBurstLimit: 1000,
    tracing: true,
    createCloudWatchRole: true,
    webSocketThrottling: { rateLimit: 20, burstLimit: 40 },
    providerThrottling: { shopify: { rateLimit: 300, burstLimit: 600 } },
  },
  waf: { ipRateLimitPerMinute: 1200, blockedCidrs: ['203.0.113.0/24', '198.51.100.7/32', '2001:db8::/32'] },
  queues: { maxReceiveCount: 900, retentionDays: 7 },
  processing: {
    retryBaseDelayMs: 2000,
    maxRetryDelayMs: 1_200_000,
    retryAttempts: 8,
    attemptTimeoutMs: 20_000,
    eventLogPayloadMaxBytes: 32_768,
  },
  management: { secretGraceHours: 48 },
  alerting: {
    emails: ['oncall@example.com'],
    smsNumbers: ['+15555550100'],
    slackWebhookSecretName: 'webhooks/slack-url',
    webhookUrls: ['https://hooks.example.com/alerts'],
    chatbot: { slackWorkspaceId: 'T07EA123LEP', slackChannelId: 'C07EZ1ABC23' },
    defaultRules: [
      {
        name: 'HubSpot success rate',
        provider: 'hubspot',
        metric: 'success_rate',
        threshold: 95,
        comparison: 'less_than',
        time_window_minutes: 15,
        notification_channels: ['email', 'slack', 'sms', 'webhook'],
      },
    ],
    providerSilentMinutes: 30,
    queueAgeAlarmSeconds: 600,
    api5xxRatePercent: 2,
    wafBlockedRequestsPer5Minutes: 500,
  },
  workflowEvents: { archiveDays: 30 },
  processors: { high: { batchSize: 2, maxConcurrency: 50, timeoutSeconds: 20 } },
  database: {
    name: 'hooks',
    minCapacity: 0,
    maxCapacity: 8,
    autoPauseMinutes: 30,
    deletionProtection: true,
    backupRetentionDays: 14,
  },
} satisfies WebhooksConfigInput;
