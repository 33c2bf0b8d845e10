import { alarmNameOf } from '../shared/alerts/alarms';
import type { AlarmStateChange, AlertRecorder } from '../shared/alerts/recorder';
import { type AlertRule, breaches, metricValue } from '../shared/alerts/rules';
import type { AlertStore } from '../shared/alerts/store';
import { PROVIDER_NAMES } from '../shared/envelope';
import { outcomesOf } from '../shared/metrics/outcomes';
import { type MetricCounters, minuteOf, providerCounter } from '../shared/stores/metric-counters';
import { type RejectionStore, totalOf } from '../shared/stores/rejections';

export interface AlertEvaluatorDeps {
  store: Pick<AlertStore, 'enabledRules'>;
  counters: Pick<MetricCounters, 'read'>;
  /** Refused deliveries per minute of every owner: what `rejection_rate` rules watch. */
  rejections: Pick<RejectionStore, 'counts'>;
  recorder: Pick<AlertRecorder, 'record'>;
  /** ALARM_PREFIX, so the recorder sees the same alarm names as in AWS. */
  prefix: string;
  now: () => Date;
}

/**
 * What CloudWatch alarms do in AWS, on one machine: every enabled rule's metric over its window,
 * from the per-minute provider counters (the figures the EMF metrics carry), compared with its
 * threshold. A rule entering breach is an OK -> ALARM state change for the same recorder the alarms'
 * EventBridge rule feeds; while it stays in breach nothing more is raised, so one breach is one
 * alert. The states live in memory: a restarted stack raises an ongoing breach once more.
 */
export class AlertEvaluator {
  private readonly alarming = new Set<string>();

  constructor(private readonly deps: AlertEvaluatorDeps) {}

  /** One evaluation of every rule; returns the alarms that went into ALARM. */
  async evaluate(): Promise<string[]> {
    const now = this.deps.now();
    const rules = await this.deps.store.enabledRules();
    const raised: string[] = [];
    const current = new Set<string>();
    for (const rule of rules) {
      const alarmName = alarmNameOf(this.deps.prefix, rule.id);
      current.add(alarmName);
      const value =
        rule.metric === 'rejection_rate'
          ? metricValue(rule.metric, outcomesOf([]), await this.rejected(rule, now))
          : metricValue(rule.metric, outcomesOf(await this.buckets(rule, now)));
      if (!breaches(rule, value)) {
        this.alarming.delete(alarmName);
        continue;
      }
      if (this.alarming.has(alarmName)) continue;
      const change: AlarmStateChange = {
        alarmName,
        state: 'ALARM',
        previousState: 'OK',
        timestamp: now.toISOString(),
        threshold: rule.threshold,
        ...(value !== undefined && { value }),
      };
      // Marked only once recorded: a failed recording is tried again at the next evaluation.
      await this.deps.recorder.record(change);
      this.alarming.add(alarmName);
      raised.push(alarmName);
    }
    for (const name of this.alarming) if (!current.has(name)) this.alarming.delete(name);
    return raised;
  }

  /** The refused deliveries of the rule's providers over its window (this minute included), as an alarm sums them. */
  private async rejected(rule: AlertRule, now: Date) {
    const from = new Date(now.getTime() - (rule.timeWindowMinutes - 1) * 60_000);
    const counts = await this.deps.rejections.counts(undefined, from, now);
    return { rejected: totalOf(counts, rule.provider ?? undefined), minutes: rule.timeWindowMinutes };
  }

  /** The rule's providers' minute buckets of the last `time_window_minutes` minutes (this one included). */
  private async buckets(rule: AlertRule, now: Date) {
    const from = minuteOf(new Date(now.getTime() - (rule.timeWindowMinutes - 1) * 60_000));
    const providers = rule.provider === null ? PROVIDER_NAMES : [rule.provider];
    const read = providers.map((provider) =>
      this.deps.counters.read(providerCounter(provider), from, minuteOf(now)),
    );
    return (await Promise.all(read)).flat();
  }
}

/**
 * The local stack's evaluator with its ports from the environment (DATABASE_URL, METRICS_TABLE,
 * ALARM_PREFIX and the recorder's variables), run every `intervalMs`; returns its stop function.
 * Email and SMS, which SNS delivers in AWS, are logged.
 */
export async function startAlertEvaluator(options: {
  intervalMs: number;
  log: (line: string) => void;
}): Promise<() => Promise<void>> {
  const [
    { recorderFromEnv },
    { AlertStore },
    { dbFromEnv },
    { dynamoDb },
    { MetricCounters },
    { requireEnv },
    { RejectionStore },
  ] = await Promise.all([
    import('../functions/alerts/record'),
    import('../shared/alerts/store'),
    import('../shared/db/client'),
    import('../shared/aws'),
    import('../shared/stores/metric-counters'),
    import('../shared/env'),
    import('../shared/stores/rejections'),
  ]);
  const store = new AlertStore(dbFromEnv());
  const evaluator = new AlertEvaluator({
    store,
    counters: new MetricCounters(dynamoDb, requireEnv('METRICS_TABLE')),
    rejections: new RejectionStore(dynamoDb, requireEnv('REJECTIONS_TABLE')),
    recorder: recorderFromEnv({
      store,
      otherChannel: (channel, { alert, title }) =>
        options.log(`alert ${channel} (local sink): ${title}: ${alert.message}`),
    }),
    prefix: requireEnv('ALARM_PREFIX'),
    now: () => new Date(),
  });
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    running ??= evaluator
      .evaluate()
      .then((raised) => raised.length > 0 && options.log(`alerts raised: ${raised.join(', ')}`))
      .catch((error: unknown) => options.log(`alert evaluation error: ${(error as Error).message}`))
      .finally(() => {
        running = undefined;
      });
  }, options.intervalMs);
  return async () => {
    clearInterval(timer);
    await running;
  };
}
