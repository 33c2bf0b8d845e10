import { and, asc, desc, eq, gte, lte, type SQL, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { webhookAlerts as alerts, webhookAlertRules as rules } from '../db/schema';
import type { AlertMetric, AlertRule, Channel, Comparison } from './rules';

export type Severity = 'warning' | 'critical';

/**
 * A row of webhook_alerts. Alerts are the on-call team's: every operator sees, receives and
 * acknowledges every one. `userId` is the operator whose rule raised it (null: a default rule or a
 * built-in ops alarm).
 */
export interface AlertRecord {
  id: string;
  userId: string | null;
  ruleId: string | null;
  /** The rule's provider, `all` for a rule over every provider, `system` for an ops alarm. */
  provider: string;
  metric: string;
  currentValue: number;
  threshold: number;
  severity: Severity;
  message: string;
  acknowledged: boolean;
  acknowledgedBy: string | null;
  acknowledgedAt: string | null;
  createdAt: string;
}

/** The API's (and the push's) snake_case view of an alert: the seed's columns. */
export function toPublicAlert(alert: AlertRecord) {
  return {
    id: alert.id,
    rule_id: alert.ruleId,
    provider: alert.provider,
    metric: alert.metric,
    current_value: alert.currentValue,
    threshold: alert.threshold,
    severity: alert.severity,
    message: alert.message,
    acknowledged: alert.acknowledged,
    acknowledged_by: alert.acknowledgedBy,
    acknowledged_at: alert.acknowledgedAt,
    created_at: alert.createdAt,
  };
}

export interface AlertQuery {
  /** Every alert for an operator; none for anyone else (rules, and so alerts, are the team's). */
  operator: boolean;
  acknowledged?: boolean;
  provider?: string;
  since?: string;
  until?: string;
  limit: number;
}

export type AlertRuleChanges = Partial<Omit<AlertRule, 'id' | 'userId' | 'createdAt'>>;

/*
 * Channels travel as one comma-joined text and are split in SQL: the RDS Data API binds no array
 * parameters, and channel names never contain commas.
 */
const channelsIn = (channels: readonly Channel[]) => sql`string_to_array(${channels.join(',')}, ',')`;

const ruleColumns = {
  id: rules.id,
  userId: rules.userId,
  name: rules.name,
  provider: rules.provider,
  metric: rules.metric,
  threshold: rules.threshold,
  comparison: rules.comparison,
  timeWindowMinutes: rules.timeWindowMinutes,
  channels: sql<string>`array_to_string(${rules.notificationChannels}, ',')`,
  enabled: rules.enabled,
  createdAt: rules.createdAt,
};

type RuleRow = { [K in keyof typeof ruleColumns]: unknown };

function toRule(row: RuleRow): AlertRule {
  const channels = String(row.channels ?? '');
  return {
    id: String(row.id),
    userId: row.userId == null ? null : String(row.userId),
    name: String(row.name),
    provider: (row.provider ?? null) as AlertRule['provider'],
    metric: row.metric as AlertMetric,
    threshold: Number(row.threshold),
    comparison: row.comparison as Comparison,
    timeWindowMinutes: Number(row.timeWindowMinutes),
    notificationChannels: (channels === '' ? [] : channels.split(',')) as Channel[],
    enabled: row.enabled !== false,
    createdAt: iso(row.createdAt),
  };
}

function toAlert(row: typeof alerts.$inferSelect): AlertRecord {
  return {
    id: row.id,
    userId: row.userId,
    ruleId: row.ruleId,
    provider: row.provider,
    metric: row.metric,
    currentValue: Number(row.currentValue),
    threshold: Number(row.threshold),
    severity: row.severity as Severity,
    message: row.message,
    acknowledged: row.acknowledged === true,
    acknowledgedBy: row.acknowledgedBy,
    acknowledgedAt: row.acknowledgedAt ? iso(row.acknowledgedAt) : null,
    createdAt: iso(row.createdAt),
  };
}

function iso(value: unknown): string {
  return value instanceof Date ? value.toISOString() : new Date(String(value)).toISOString();
}

/** decimal(10, 2): two decimals, within its range (a rate of 1e9 ms would not fit). */
export function toDecimal(value: number): string {
  const bounded = Math.max(-99_999_999.99, Math.min(99_999_999.99, Number.isFinite(value) ? value : 0));
  return bounded.toFixed(2);
}

/** webhook_alert_rules and webhook_alerts in Postgres; the API lets operators only at them. */
export class AlertStore {
  constructor(private readonly db: Db) {}

  async createRule(rule: AlertRule): Promise<AlertRule> {
    await this.db.insert(rules).values({
      id: rule.id,
      userId: rule.userId,
      name: rule.name,
      provider: rule.provider,
      metric: rule.metric,
      threshold: toDecimal(rule.threshold),
      comparison: rule.comparison,
      timeWindowMinutes: rule.timeWindowMinutes,
      notificationChannels: channelsIn(rule.notificationChannels),
      enabled: rule.enabled,
      createdAt: new Date(rule.createdAt),
    });
    return rule;
  }

  /** Any owner's rule: for the recorder, which acts for the rule's owner. */
  async getRule(id: string): Promise<AlertRule | undefined> {
    const [row] = await this.db.select(ruleColumns).from(rules).where(eq(rules.id, id));
    return row && toRule(row);
  }

  /** Every rule, oldest first: the team's. */
  async listRules(): Promise<AlertRule[]> {
    const rows = await this.db.select(ruleColumns).from(rules).orderBy(asc(rules.createdAt), asc(rules.id));
    return rows.map(toRule);
  }

  /** Every enabled rule of every user: what the alarms (or the local evaluator) implement. */
  async enabledRules(): Promise<AlertRule[]> {
    const rows = await this.db
      .select(ruleColumns)
      .from(rules)
      .where(sql`${rules.enabled} IS NOT FALSE`)
      .orderBy(asc(rules.id));
    return rows.map(toRule);
  }

  async updateRule(id: string, changes: AlertRuleChanges): Promise<AlertRule | undefined> {
    const set: Record<string, unknown> = {
      name: changes.name,
      provider: changes.provider,
      metric: changes.metric,
      threshold: changes.threshold === undefined ? undefined : toDecimal(changes.threshold),
      comparison: changes.comparison,
      timeWindowMinutes: changes.timeWindowMinutes,
      notificationChannels: changes.notificationChannels && channelsIn(changes.notificationChannels),
      enabled: changes.enabled,
    };
    const defined = Object.fromEntries(Object.entries(set).filter(([, value]) => value !== undefined));
    const [row] = await this.db
      .update(rules)
      .set(defined)
      .where(eq(rules.id, id))
      .returning({ id: rules.id });
    return row ? this.getRule(row.id) : undefined;
  }

  async deleteRule(id: string): Promise<boolean> {
    const deleted = await this.db.delete(rules).where(eq(rules.id, id)).returning({ id: rules.id });
    return deleted.length > 0;
  }

  /** Inserts the alert unless its id exists; true when this call created it. */
  async recordAlert(alert: AlertRecord): Promise<boolean> {
    const inserted = await this.db
      .insert(alerts)
      .values({
        id: alert.id,
        userId: alert.userId,
        ruleId: alert.ruleId,
        provider: alert.provider,
        metric: alert.metric,
        currentValue: toDecimal(alert.currentValue),
        threshold: toDecimal(alert.threshold),
        severity: alert.severity,
        message: alert.message,
        acknowledged: false,
        createdAt: new Date(alert.createdAt),
      })
      .onConflictDoNothing({ target: alerts.id })
      .returning({ id: alerts.id });
    return inserted.length > 0;
  }

  async listAlerts(query: AlertQuery): Promise<AlertRecord[]> {
    if (!query.operator) return [];
    const filters: (SQL | undefined)[] = [
      query.acknowledged === undefined
        ? undefined
        : query.acknowledged
          ? eq(alerts.acknowledged, true)
          : sql`${alerts.acknowledged} IS NOT TRUE`,
      query.provider === undefined ? undefined : eq(alerts.provider, query.provider),
      query.since === undefined ? undefined : gte(alerts.createdAt, new Date(query.since)),
      query.until === undefined ? undefined : lte(alerts.createdAt, new Date(query.until)),
    ];
    const rows = await this.db
      .select()
      .from(alerts)
      .where(and(...filters))
      .orderBy(desc(alerts.createdAt), desc(alerts.id))
      .limit(query.limit);
    return rows.map(toAlert);
  }

  /**
   * Marks the alert acknowledged by the operator `by` at `at`, once: acknowledging it again returns
   * it as the first acknowledgement left it (with who that was). undefined when it is missing.
   */
  async acknowledge(id: string, by: string, at: Date): Promise<AlertRecord | undefined> {
    const [updated] = await this.db
      .update(alerts)
      .set({ acknowledged: true, acknowledgedBy: by, acknowledgedAt: at })
      .where(and(eq(alerts.id, id), sql`${alerts.acknowledged} IS NOT TRUE`))
      .returning();
    if (updated) return toAlert(updated);
    const [current] = await this.db.select().from(alerts).where(eq(alerts.id, id));
    return current && toAlert(current);
  }
}
