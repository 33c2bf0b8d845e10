import { createHash } from 'node:crypto';
import * as z from 'zod';
import type { PushType, ServerMessage } from '../realtime/messages';
import { serverMessage } from '../realtime/messages';
import { ruleIdOfAlarm } from './alarms';
import type { AlertNotice, Notifier } from './notifier';
import {
  type AlertRule,
  type AlertRuleBody,
  type Channel,
  COMPARISON_TEXT,
  type Comparison,
  idleValue,
  METRIC_UNIT,
  ruleFromBody,
} from './rules';
import { type AlertRecord, type AlertStore, type Severity, toPublicAlert } from './store';

/** An alarm's state change, as CloudWatch reports it (or the local evaluator synthesizes it). */
export interface AlarmStateChange {
  alarmName: string;
  state: string;
  previousState?: string;
  /** When the state changed: with the alarm name, the identity of this change. */
  timestamp: string;
  /** The evaluated value, when the alarm had one. */
  value?: number;
  /** The threshold CloudWatch compared against (ops alarms have no rule to read it from). */
  threshold?: number;
  reason?: string;
}

/** EventBridge's "CloudWatch Alarm State Change" event, the fields the recorder reads. */
const alarmEventSchema = z.object({
  'detail-type': z.literal('CloudWatch Alarm State Change'),
  time: z.string().optional(),
  detail: z.object({
    alarmName: z.string().min(1),
    state: z.object({
      value: z.string(),
      reason: z.string().optional(),
      reasonData: z.string().optional(),
      timestamp: z.string().optional(),
    }),
    previousState: z.object({ value: z.string() }).optional(),
  }),
});

/** reasonData is a JSON string; metric alarms put the evaluated datapoints and threshold in it. */
const reasonDataSchema = z.object({
  threshold: z.number().optional(),
  recentDatapoints: z.array(z.number()).optional(),
  evaluatedDatapoints: z.array(z.object({ value: z.number().optional() })).optional(),
});

export function stateChangeOf(event: unknown): AlarmStateChange {
  const { detail, time } = alarmEventSchema.parse(event);
  let reasonData: z.output<typeof reasonDataSchema> = {};
  try {
    reasonData = reasonDataSchema.parse(JSON.parse(detail.state.reasonData ?? '{}'));
  } catch {
    // A composite alarm or an unexpected reason: no value, the alert still records the breach.
  }
  const value = reasonData.evaluatedDatapoints?.[0]?.value ?? reasonData.recentDatapoints?.at(-1);
  return {
    alarmName: detail.alarmName,
    state: detail.state.value,
    previousState: detail.previousState?.value,
    timestamp: detail.state.timestamp ?? time ?? new Date().toISOString(),
    ...(value !== undefined && { value }),
    ...(reasonData.threshold !== undefined && { threshold: reasonData.threshold }),
    ...(detail.state.reason !== undefined && { reason: detail.state.reason }),
  };
}

/** Past the threshold by this fraction of it (or with a threshold of 0), an alert is critical. */
const CRITICAL_OVERSHOOT = 0.25;

export function severityOf(threshold: number, value: number): Severity {
  const overshoot = Math.abs(value - threshold);
  if (threshold === 0) return overshoot > 0 ? 'critical' : 'warning';
  return overshoot / Math.abs(threshold) >= CRITICAL_OVERSHOOT ? 'critical' : 'warning';
}

/** One alert per alarm and state change: a redelivered change maps to the same row. */
export function alertIdOf(change: Pick<AlarmStateChange, 'alarmName' | 'timestamp'>): string {
  const hex = createHash('sha256').update(`${change.alarmName}\n${change.timestamp}`).digest('hex');
  // Shaped as an RFC 9562 version 8 (custom) UUID, as the uuid column wants.
  const variant = ((Number.parseInt(hex[16] as string, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function alertMessage(rule: AlertRule, value: number): string {
  const shown = Math.round(value * 100) / 100;
  return `${rule.metric} is ${shown}${METRIC_UNIT[rule.metric]} (rule: ${COMPARISON_TEXT[rule.comparison as Comparison]} ${rule.threshold}${METRIC_UNIT[rule.metric]}) over the last ${rule.timeWindowMinutes} min for ${rule.provider ?? 'all providers'}`;
}

export interface RecorderDeps {
  store: Pick<AlertStore, 'getRule' | 'recordAlert'>;
  broadcaster: { broadcast(message: ServerMessage<PushType>): Promise<unknown> };
  notifier: Pick<Notifier, 'notify'>;
  /** ALARM_PREFIX: rule alarms are `${prefix}rule-<id>`, every other alarm is a built-in ops alarm. */
  prefix: string;
  /** The stack's default rules (config `alerting.defaultRules`), whose alarms are `${prefix}default-<index>`. */
  defaultRules?: readonly AlertRuleBody[];
  /** Where ops alarms are announced (they have no rule to name channels). */
  opsChannels?: readonly Channel[];
  dashboardUrl?: string;
  log: (message: string, detail?: Record<string, unknown>) => void;
}

/**
 * Turns an alarm's transition into ALARM into one webhook_alerts row, a `webhook-alert` push and the
 * rule's notifications. The row's id comes from the alarm and the change's timestamp, so a change
 * delivered twice (EventBridge is at least once) is recorded, pushed and notified once. Other
 * transitions (back to OK, insufficient data) record nothing.
 */
export class AlertRecorder {
  constructor(private readonly deps: RecorderDeps) {}

  async record(change: AlarmStateChange): Promise<AlertRecord | undefined> {
    if (change.state !== 'ALARM' || change.previousState === 'ALARM') return undefined;
    const ruleId = ruleIdOfAlarm(this.deps.prefix, change.alarmName);
    const rule =
      ruleId === undefined ? this.defaultRule(change.alarmName) : await this.deps.store.getRule(ruleId);
    if (ruleId !== undefined && !rule) {
      // The rule was deleted after its alarm fired; the reconciler is deleting the alarm.
      this.deps.log('alarm of a deleted rule ignored', { alarmName: change.alarmName });
      return undefined;
    }
    const { alert, title, channels } = rule ? this.ruleAlert(rule, ruleId, change) : this.opsAlert(change);
    if (!(await this.deps.store.recordAlert(alert))) return undefined;

    const notice: AlertNotice = {
      alert,
      title,
      ...(this.deps.dashboardUrl && { link: this.deps.dashboardUrl }),
    };
    // Names no owner: the team's alert reaches every operator's connections (shared/realtime audienceOf).
    const data = { ...toPublicAlert(alert), name: title };
    await Promise.all([
      this.deps.broadcaster
        .broadcast(serverMessage('webhook-alert', data))
        .catch((error: unknown) =>
          this.deps.log('alert push failed', { alertId: alert.id, error: String(error) }),
        ),
      this.deps.notifier.notify(channels, notice),
    ]);
    return alert;
  }

  /** A default rule of the stack: no owner (operators see its alerts), no row in webhook_alert_rules. */
  private defaultRule(alarmName: string): AlertRule | undefined {
    const index = alarmName.match(/-default-(\d+)$/)?.[1];
    const body = index === undefined ? undefined : this.deps.defaultRules?.[Number(index)];
    return body && alarmName === `${this.deps.prefix}default-${index}`
      ? ruleFromBody(body, `default-${index}`, null, '')
      : undefined;
  }

  private ruleAlert(rule: AlertRule, ruleId: string | undefined, change: AlarmStateChange) {
    const value = change.value ?? idleValue(rule.metric) ?? rule.threshold;
    const alert: AlertRecord = {
      ...this.common(change),
      userId: rule.userId,
      ruleId: ruleId ?? null,
      provider: rule.provider ?? 'all',
      metric: rule.metric,
      currentValue: value,
      threshold: rule.threshold,
      severity: severityOf(rule.threshold, value),
      message: alertMessage(rule, value),
    };
    return { alert, title: rule.name, channels: rule.notificationChannels };
  }

  /** A built-in ops alarm (DLQ depth, Lambda errors...): for operators, always critical. */
  private opsAlert(change: AlarmStateChange) {
    const title = change.alarmName.startsWith(this.deps.prefix)
      ? change.alarmName.slice(this.deps.prefix.length)
      : change.alarmName;
    const alert: AlertRecord = {
      ...this.common(change),
      userId: null,
      ruleId: null,
      provider: 'system',
      metric: title,
      currentValue: change.value ?? 0,
      threshold: change.threshold ?? 0,
      severity: 'critical',
      message: change.reason ?? `${title} is in ALARM`,
    };
    return { alert, title, channels: this.deps.opsChannels ?? ['slack'] };
  }

  private common(change: AlarmStateChange) {
    return {
      id: alertIdOf(change),
      acknowledged: false,
      acknowledgedBy: null,
      acknowledgedAt: null,
      createdAt: new Date(change.timestamp).toISOString(),
    };
  }
}
