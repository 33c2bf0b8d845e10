import * as z from 'zod';
import { PROVIDER_NAMES, type ProviderName } from '../envelope';
import { averageProcessingMs, errorRate, eventCount, type Outcomes, successRate } from '../metrics/outcomes';

export const ALERT_METRICS = [
  'success_rate',
  'error_rate',
  'processing_time',
  'event_volume',
  'rejection_rate',
] as const;
export const COMPARISONS = [
  'less_than',
  'less_than_or_equal',
  'greater_than',
  'greater_than_or_equal',
] as const;
export const CHANNELS = ['email', 'slack', 'webhook', 'sms'] as const;

export type AlertMetric = (typeof ALERT_METRICS)[number];
export type Comparison = (typeof COMPARISONS)[number];
export type Channel = (typeof CHANNELS)[number];

/** A CloudWatch alarm covers at most a day (Period x EvaluationPeriods <= 86,400 s below an hour). */
export const MAX_WINDOW_MINUTES = 1440;
/** webhook_alert_rules.threshold is decimal(10, 2). */
const MAX_THRESHOLD = 99_999_999.99;

const ruleFields = {
  name: z.string().trim().min(1, 'Must not be empty').max(200),
  /** null or absent: the rule watches every provider together. */
  provider: z.enum(PROVIDER_NAMES).nullable(),
  metric: z.enum(ALERT_METRICS),
  threshold: z.number().min(0).max(MAX_THRESHOLD),
  comparison: z.enum(COMPARISONS),
  time_window_minutes: z.int('Must be an integer').min(1).max(MAX_WINDOW_MINUTES),
  notification_channels: z
    .array(z.enum(CHANNELS))
    .max(CHANNELS.length)
    .transform((list) => [...new Set(list)]),
  enabled: z.boolean(),
};

/** Rates are percentages: a threshold above 100 could never (or always) be crossed. */
function percentThreshold(rule: { metric?: AlertMetric; threshold?: number }, ctx: z.RefinementCtx) {
  if ((rule.metric === 'success_rate' || rule.metric === 'error_rate') && (rule.threshold ?? 0) > 100)
    ctx.addIssue({
      code: 'custom',
      message: 'A rate threshold is a percentage (0-100)',
      path: ['threshold'],
    });
}

/** The seed's alert rule body (`POST /api/webhooks/alert-rules`); unknown fields are refused. */
export const alertRuleSchema = z
  .strictObject({
    ...ruleFields,
    provider: ruleFields.provider.default(null),
    time_window_minutes: ruleFields.time_window_minutes.default(5),
    notification_channels: ruleFields.notification_channels.default([]),
    enabled: ruleFields.enabled.default(true),
  })
  .superRefine(percentThreshold);

export type AlertRuleBody = z.output<typeof alertRuleSchema>;

/** `PATCH /api/webhooks/alert-rules/{id}`: any of the fields, at least one (the merged rule is checked again). */
export const alertRuleUpdateSchema = z
  .strictObject({
    name: ruleFields.name.optional(),
    provider: ruleFields.provider.optional(),
    metric: ruleFields.metric.optional(),
    threshold: ruleFields.threshold.optional(),
    comparison: ruleFields.comparison.optional(),
    time_window_minutes: ruleFields.time_window_minutes.optional(),
    notification_channels: ruleFields.notification_channels.optional(),
    enabled: ruleFields.enabled.optional(),
  })
  .refine((body) => Object.values(body).some((value) => value !== undefined), {
    message: 'Nothing to update',
  })
  .superRefine(percentThreshold);

/**
 * A stored rule. Rules are the on-call team's: any operator reads, changes and deletes any of them,
 * and their alerts reach every operator. `userId` is the operator who created it (null for the
 * stack's default rules).
 */
export interface AlertRule {
  id: string;
  userId: string | null;
  name: string;
  provider: ProviderName | null;
  metric: AlertMetric;
  threshold: number;
  comparison: Comparison;
  timeWindowMinutes: number;
  notificationChannels: Channel[];
  enabled: boolean;
  createdAt: string;
}

export function ruleFromBody(
  body: AlertRuleBody,
  id: string,
  userId: string | null,
  createdAt: string,
): AlertRule {
  return {
    id,
    userId,
    name: body.name,
    provider: body.provider,
    metric: body.metric,
    threshold: body.threshold,
    comparison: body.comparison,
    timeWindowMinutes: body.time_window_minutes,
    notificationChannels: body.notification_channels,
    enabled: body.enabled,
    createdAt,
  };
}

export function bodyOfRule(rule: AlertRule): AlertRuleBody {
  return {
    name: rule.name,
    provider: rule.provider,
    metric: rule.metric,
    threshold: rule.threshold,
    comparison: rule.comparison,
    time_window_minutes: rule.timeWindowMinutes,
    notification_channels: rule.notificationChannels,
    enabled: rule.enabled,
  };
}

/** The API's snake_case view of a rule: the seed's columns, and the operator who created it. */
export function toPublicRule(rule: AlertRule) {
  return {
    id: rule.id,
    ...bodyOfRule(rule),
    created_by: rule.userId,
    created_at: rule.createdAt,
  };
}

/** The refused deliveries (401, 403, 413, 415, 429) counted over a rule's window. */
export interface WindowRejections {
  rejected: number;
  minutes: number;
}

/**
 * A rule's metric over some counter buckets' outcomes (and, for `rejection_rate`, the rejections of
 * the window). undefined means "no data": with no events a rate or a mean has nothing to judge (an
 * idle provider is neither failing nor slow), while the volume of an idle window is a real 0, and so
 * is its rejection rate. CloudWatch sees the same through TreatMissingData.
 */
export function metricValue(
  metric: AlertMetric,
  outcomes: Outcomes,
  rejections: WindowRejections = { rejected: 0, minutes: 1 },
): number | undefined {
  switch (metric) {
    case 'rejection_rate':
      return rejectionRate(rejections);
    case 'success_rate':
      return successRate(outcomes);
    case 'error_rate':
      return errorRate(outcomes);
    case 'processing_time':
      return averageProcessingMs(outcomes);
    case 'event_volume':
      return eventCount(outcomes);
  }
}

export function compare(comparison: Comparison, value: number, threshold: number): boolean {
  switch (comparison) {
    case 'less_than':
      return value < threshold;
    case 'less_than_or_equal':
      return value <= threshold;
    case 'greater_than':
      return value > threshold;
    case 'greater_than_or_equal':
      return value >= threshold;
  }
}

/** Refused deliveries per minute over the window: what `rejection_rate` compares with its threshold. */
export function rejectionRate({ rejected, minutes }: WindowRejections): number {
  return rejected / Math.max(1, minutes);
}

/** Whether a value (undefined: no data) breaches the rule; no data never does, as in CloudWatch. */
export function breaches(
  rule: Pick<AlertRule, 'comparison' | 'threshold'>,
  value: number | undefined,
): boolean {
  return value !== undefined && compare(rule.comparison, value, rule.threshold);
}

/**
 * What a window without events is for the metric: a rate or mean has no value, a volume is 0, and
 * so is the rejection rate (a window without refused deliveries is a real 0 per minute).
 */
export function idleValue(metric: AlertMetric): number | undefined {
  return metric === 'event_volume' || metric === 'rejection_rate' ? 0 : undefined;
}

export const COMPARISON_TEXT: Record<Comparison, string> = {
  less_than: '<',
  less_than_or_equal: '<=',
  greater_than: '>',
  greater_than_or_equal: '>=',
};

export const METRIC_UNIT: Record<AlertMetric, string> = {
  success_rate: '%',
  error_rate: '%',
  processing_time: ' ms',
  event_volume: ' events',
  rejection_rate: ' rejected deliveries per minute',
};

/** What the management API puts on the bus after a rule change; the reconciler's trigger. */
export const RULES_CHANGED_SOURCE = 'webhooks.management';
export const RULES_CHANGED_DETAIL_TYPE = 'AlertRulesChanged';

export function rulesChanged(ruleId: string, userId: string, change: 'created' | 'updated' | 'deleted') {
  return {
    source: RULES_CHANGED_SOURCE,
    detailType: RULES_CHANGED_DETAIL_TYPE,
    detail: { ruleId, userId, change },
  };
}
