import { describe, expect, it } from 'vitest';
import {
  type AlertNotice,
  Notifier,
  SIGNATURE_HEADER,
  slackMessage,
  TIMESTAMP_HEADER,
  verifyWebhookSignature,
} from '../../../../shared/alerts/notifier';
import { alertRecord } from '../../support/alert-rule';

const NOW = new Date('2026-03-01T10:30:00.000Z');
const SECRET = 'alert-webhook-signing-secret';

const ALERT = alertRecord('9b2f4a3c-1d2e-8f40-9a1b-2c3d4e5f6a7b', { createdAt: '2026-03-01T10:29:00.000Z' });
const NOTICE: AlertNotice = {
  alert: ALERT,
  title: 'HubSpot Success Rate Alert',
  link: 'https://dash.example.com/',
};

/** A fetch that keeps each request's raw body, so a signature can be checked over the exact bytes. */
function recordingFetch(status = 200) {
  const requests: { url: string; headers: Headers; body: string }[] = [];
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    requests.push({ url: String(input), headers: new Headers(init?.headers), body: String(init?.body) });
    return new Response(null, { status });
  }) as typeof globalThis.fetch;
  return { fetch, requests };
}

function notifier(overrides: Partial<ConstructorParameters<typeof Notifier>[0]> = {}) {
  const logs: string[] = [];
  const fake = recordingFetch();
  const instance = new Notifier({
    fetch: fake.fetch,
    slackWebhookUrl: async () => 'https://hooks.slack.com/services/T0/B0/xyz',
    webhookUrls: ['https://oncall.example.com/hooks/alerts'],
    signingSecret: async () => SECRET,
    log: (message) => logs.push(message),
    now: () => NOW,
    ...overrides,
  });
  return { instance, logs, requests: fake.requests };
}

describe('the Slack message', () => {
  it('names the rule, provider, value, threshold and links the dashboard', () => {
    const message = slackMessage(NOTICE);
    expect(message.text).toBe(
      ':warning: WARNING: HubSpot Success Rate Alert\n' +
        'success_rate is 80% (rule: < 95%) over the last 15 min for hubspot\n' +
        'https://dash.example.com/',
    );
    expect(message.blocks).toEqual([
      {
        type: 'header',
        text: { type: 'plain_text', text: ':warning: WARNING: HubSpot Success Rate Alert', emoji: true },
      },
      { type: 'section', text: { type: 'mrkdwn', text: ALERT.message } },
      {
        type: 'section',
        fields: [
          { type: 'mrkdwn', text: '*Provider*\nhubspot' },
          { type: 'mrkdwn', text: '*Metric*\nsuccess_rate' },
          { type: 'mrkdwn', text: '*Value*\n80' },
          { type: 'mrkdwn', text: '*Threshold*\n95' },
        ],
      },
      { type: 'section', text: { type: 'mrkdwn', text: '<https://dash.example.com/|Open the dashboard>' } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `Alert ${ALERT.id} at ${ALERT.createdAt}` }] },
    ]);
  });

  it('is posted to the incoming webhook URL', async () => {
    const { instance, requests } = notifier();
    await instance.notify(['slack'], NOTICE);
    expect(requests).toHaveLength(1);
    expect(requests[0]?.url).toBe('https://hooks.slack.com/services/T0/B0/xyz');
    expect(JSON.parse(requests[0]?.body ?? '')).toEqual(slackMessage(NOTICE));
  });

  it('is only logged when no Slack URL is configured', async () => {
    const { instance, requests, logs } = notifier({ slackWebhookUrl: async () => undefined });
    await instance.notify(['slack'], NOTICE);
    expect(requests).toHaveLength(0);
    expect(logs).toEqual(['slack alert (no webhook URL configured)']);
  });
});

describe('the webhook channel', () => {
  it('POSTs the alert as JSON with a timestamped HMAC-SHA256 signature the receiver can verify', async () => {
    const { instance, requests } = notifier();
    await instance.notify(['webhook'], NOTICE);

    const [request] = requests;
    expect(request?.url).toBe('https://oncall.example.com/hooks/alerts');
    expect(request?.headers.get('content-type')).toBe('application/json');
    const timestamp = request?.headers.get(TIMESTAMP_HEADER) ?? '';
    const signature = request?.headers.get(SIGNATURE_HEADER) ?? '';
    expect(timestamp).toBe(String(NOW.getTime() / 1000));
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    const nowSeconds = NOW.getTime() / 1000;
    expect(verifyWebhookSignature(SECRET, { signature, timestamp }, request?.body ?? '', nowSeconds)).toBe(
      true,
    );
    expect(JSON.parse(request?.body ?? '')).toEqual({
      type: 'webhook-alert',
      alert: {
        id: ALERT.id,
        rule_id: ALERT.ruleId,
        name: 'HubSpot Success Rate Alert',
        provider: 'hubspot',
        metric: 'success_rate',
        current_value: 80,
        threshold: 95,
        severity: 'warning',
        message: ALERT.message,
        created_at: ALERT.createdAt,
      },
      link: 'https://dash.example.com/',
    });
  });

  it('has a signature that fails for a changed body, another secret or an old timestamp', async () => {
    const { instance, requests } = notifier();
    await instance.notify(['webhook'], NOTICE);
    const body = requests[0]?.body ?? '';
    const headers = {
      signature: requests[0]?.headers.get(SIGNATURE_HEADER) ?? '',
      timestamp: requests[0]?.headers.get(TIMESTAMP_HEADER) ?? '',
    };
    const nowSeconds = NOW.getTime() / 1000;
    expect(verifyWebhookSignature(SECRET, headers, body.replace('80', '81'), nowSeconds)).toBe(false);
    expect(verifyWebhookSignature('another-secret', headers, body, nowSeconds)).toBe(false);
    expect(verifyWebhookSignature(SECRET, headers, body, nowSeconds + 301)).toBe(false);
  });

  it('never posts an alert unsigned: without a signing secret nothing goes out, and the failure is logged', async () => {
    const { instance, logs, requests } = notifier({ signingSecret: async () => undefined });

    await instance.notify(['webhook'], NOTICE);

    expect(requests).toEqual([]);
    expect(logs).toEqual(['alert notification failed']);
  });

  it('posts to every configured receiver, and a failing one neither throws nor stops Slack', async () => {
    const requests: string[] = [];
    const fetch = (async (input: string | URL | Request) => {
      requests.push(String(input));
      return new Response(null, { status: String(input).includes('broken') ? 500 : 200 });
    }) as typeof globalThis.fetch;
    const { instance, logs } = notifier({
      fetch,
      webhookUrls: ['https://broken.example.com/', 'https://ok.example.com/'],
    });
    await instance.notify(['webhook', 'slack'], NOTICE);
    expect(requests.sort()).toEqual([
      'https://broken.example.com/',
      'https://hooks.slack.com/services/T0/B0/xyz',
      'https://ok.example.com/',
    ]);
    expect(logs).toEqual(['alert notification failed']);
  });

  it('leaves email and SMS to the alarm topics (the local stack logs them)', async () => {
    const seen: string[] = [];
    const { instance, requests } = notifier({ otherChannel: (channel) => seen.push(channel) });
    await instance.notify(['email', 'sms'], NOTICE);
    expect(requests).toHaveLength(0);
    expect(seen).toEqual(['email', 'sms']);
  });
});
