import { hmacSha256, safeEqual } from '../crypto';
import type { Channel } from './rules';
import { type AlertRecord, toPublicAlert } from './store';

/** What a notification says about an alert besides the stored row. */
export interface AlertNotice {
  alert: AlertRecord;
  /** The rule's name, or the ops alarm's name. */
  title: string;
  /** Where on-call looks next (the dashboard), when configured. */
  link?: string;
}

export const SIGNATURE_HEADER = 'X-Webhooks-Signature';
export const TIMESTAMP_HEADER = 'X-Webhooks-Timestamp';

/** A Slack incoming-webhook body: a plain `text` fallback (notifications) and readable blocks. */
export function slackMessage({ alert, title, link }: AlertNotice) {
  const icon = alert.severity === 'critical' ? ':rotating_light:' : ':warning:';
  const headline = `${icon} ${alert.severity.toUpperCase()}: ${title}`;
  const fields = [
    ['Provider', alert.provider],
    ['Metric', alert.metric],
    ['Value', String(alert.currentValue)],
    ['Threshold', String(alert.threshold)],
  ].map(([name, value]) => ({ type: 'mrkdwn', text: `*${name}*\n${value}` }));
  return {
    text: `${headline}\n${alert.message}${link ? `\n${link}` : ''}`,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: headline.slice(0, 150), emoji: true } },
      { type: 'section', text: { type: 'mrkdwn', text: alert.message } },
      { type: 'section', fields },
      ...(link ? [{ type: 'section', text: { type: 'mrkdwn', text: `<${link}|Open the dashboard>` } }] : []),
      {
        type: 'context',
        elements: [{ type: 'mrkdwn', text: `Alert ${alert.id} at ${alert.createdAt}` }],
      },
    ],
  };
}

/**
 * The `webhook` channel's JSON body: the alert as the API shows it, named after its rule; a new
 * alert has no acknowledgement to report.
 */
export function webhookPayload({ alert, title, link }: AlertNotice) {
  const { acknowledged, acknowledged_by, acknowledged_at, ...view } = toPublicAlert(alert);
  return {
    type: 'webhook-alert',
    alert: { ...view, name: title },
    ...(link ? { link } : {}),
  };
}

/**
 * `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`: the timestamp is signed with the body, so a
 * receiver can refuse a replayed old request (as Stripe and Slack signatures do).
 */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `sha256=${hmacSha256(secret, `${timestamp}.${body}`).toString('hex')}`;
}

/** What a receiver does: recompute, compare in constant time, and bound the timestamp's age. */
export function verifyWebhookSignature(
  secret: string,
  headers: { signature: string; timestamp: string },
  body: string,
  nowSeconds: number,
  toleranceSeconds = 300,
): boolean {
  const at = Number(headers.timestamp);
  if (!Number.isInteger(at) || Math.abs(nowSeconds - at) > toleranceSeconds) return false;
  return safeEqual(Buffer.from(signWebhook(secret, headers.timestamp, body)), Buffer.from(headers.signature));
}

export interface NotifierDeps {
  fetch: typeof fetch;
  /** The Slack incoming-webhook URL (Secrets Manager in AWS); none: Slack alerts are only logged. */
  slackWebhookUrl: () => Promise<string | undefined>;
  /** Receivers of the `webhook` channel. */
  webhookUrls: readonly string[];
  /** The HMAC key of the `webhook` channel; none: nothing is posted (an alert is never sent unsigned). */
  signingSecret: () => Promise<string | undefined>;
  /** Email and SMS: SNS alarm actions deliver them in AWS; the local stack logs them here. */
  otherChannel?: (channel: Channel, notice: AlertNotice) => void;
  log: (message: string, detail?: Record<string, unknown>) => void;
  timeoutMs?: number;
  now?: () => Date;
}

/**
 * Delivers an alert to the rule's Slack and webhook channels. A channel that fails is logged, not
 * thrown: the alert is already recorded and pushed, and one bad receiver must not silence the others.
 */
export class Notifier {
  constructor(private readonly deps: NotifierDeps) {}

  async notify(channels: readonly Channel[], notice: AlertNotice): Promise<void> {
    await Promise.all(
      channels.map(async (channel) => {
        try {
          if (channel === 'slack') await this.slack(notice);
          else if (channel === 'webhook') await this.webhooks(notice);
          else this.deps.otherChannel?.(channel, notice);
        } catch (error) {
          this.deps.log('alert notification failed', {
            channel,
            alertId: notice.alert.id,
            error: String(error),
          });
        }
      }),
    );
  }

  private async slack(notice: AlertNotice): Promise<void> {
    const url = await this.deps.slackWebhookUrl();
    if (!url) {
      this.deps.log('slack alert (no webhook URL configured)', { text: slackMessage(notice).text });
      return;
    }
    await this.post(url, JSON.stringify(slackMessage(notice)), {});
  }

  private async webhooks(notice: AlertNotice): Promise<void> {
    if (this.deps.webhookUrls.length === 0) {
      this.deps.log('webhook alert (no webhook URLs configured)', { alertId: notice.alert.id });
      return;
    }
    const body = JSON.stringify(webhookPayload(notice));
    const timestamp = String(Math.floor((this.deps.now?.() ?? new Date()).getTime() / 1000));
    const secret = await this.deps.signingSecret();
    // A receiver cannot tell an unsigned alert from a forged one: without a key nothing goes out.
    if (!secret) throw new Error('No signing secret for the webhook channel: alert not sent');
    const headers = {
      [TIMESTAMP_HEADER]: timestamp,
      [SIGNATURE_HEADER]: signWebhook(secret, timestamp, body),
    };
    const results = await Promise.allSettled(
      this.deps.webhookUrls.map((url) => this.post(url, body, headers)),
    );
    const failed = results.filter((result) => result.status === 'rejected');
    if (failed.length > 0) throw new Error(`${failed.length} of ${results.length} webhook receivers failed`);
  }

  private async post(url: string, body: string, headers: Record<string, string>): Promise<void> {
    const response = await this.deps.fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body,
      signal: AbortSignal.timeout(this.deps.timeoutMs ?? 5000),
    });
    if (!response.ok) throw new Error(`POST ${new URL(url).host} answered ${response.status}`);
  }
}
