import type { PutMetricAlarmCommandInput } from '@aws-sdk/client-cloudwatch';
import { ArnFormat, Aws, Duration, type RemovalPolicy, SecretValue, Stack, Validations } from 'aws-cdk-lib';
import * as chatbot from 'aws-cdk-lib/aws-chatbot';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { type AlarmTopics, alarmOf } from '../../shared/alerts/alarms';
import { ruleFromBody } from '../../shared/alerts/rules';
import type { AlertingConfig } from '../config';
import { wildcardResourceFinding } from '../nag';
import { globalName } from '../names';
import { bindDatabase, type DatabaseAccess } from './database';
import { type FunctionDefaults, HouseFunction, METRICS_NAMESPACE, type TableRef } from './house-function';
import type { Realtime } from './realtime';

/** What the management API puts on the domain bus when alert rules change (the reconciler's trigger). */
export const ALERT_RULES_CHANGED = {
  source: 'webhooks.management',
  detailType: 'AlertRulesChanged',
} as const;

/** How often the reconciler also runs on its own, repairing drift (an alarm edited or deleted by hand). */
export const RECONCILE_SCHEDULE = Duration.minutes(15);

/**
 * The value of a Slack webhook secret the stack creates: blank (Secrets Manager refuses an empty
 * string), which the recorder reads as "no Slack URL" and only logs the message until it is set.
 */
export const SLACK_SECRET_BLANK = ' ';

/** Every alarm the system owns (CDK's and the reconciler's) is named `${stackName}-...`. */
export function alarmPrefixOf(scope: Construct): string {
  return `${Stack.of(scope).stackName}-`;
}

/** Maps a PutMetricAlarm input (what shared/alerts writes through the API) to CloudFormation properties. */
export function cfnAlarmPropsOf(input: PutMetricAlarmCommandInput): cloudwatch.CfnAlarmProps {
  return {
    alarmName: input.AlarmName,
    alarmDescription: input.AlarmDescription,
    actionsEnabled: input.ActionsEnabled,
    alarmActions: input.AlarmActions,
    okActions: input.OKActions?.length ? input.OKActions : undefined,
    insufficientDataActions: input.InsufficientDataActions?.length
      ? input.InsufficientDataActions
      : undefined,
    comparisonOperator: input.ComparisonOperator as string,
    threshold: input.Threshold,
    evaluationPeriods: input.EvaluationPeriods as number,
    datapointsToAlarm: input.DatapointsToAlarm,
    treatMissingData: input.TreatMissingData,
    metrics: (input.Metrics ?? []).map((query) => ({
      id: query.Id as string,
      expression: query.Expression,
      label: query.Label,
      returnData: query.ReturnData,
      period: query.Period,
      metricStat: query.MetricStat && {
        metric: {
          namespace: query.MetricStat.Metric?.Namespace,
          metricName: query.MetricStat.Metric?.MetricName,
          dimensions: query.MetricStat.Metric?.Dimensions?.map((d) => ({
            name: d.Name as string,
            value: d.Value as string,
          })),
        },
        period: query.MetricStat.Period as number,
        stat: query.MetricStat.Stat as string,
        unit: query.MetricStat.Unit,
      },
    })),
  };
}

export interface AlertingProps {
  readonly config: AlertingConfig;
  /** The domain bus the management API announces rule changes on. */
  readonly eventBus: events.IEventBus;
  readonly database: DatabaseAccess;
  /** The recorder pushes `webhook-alert` to subscribed dashboards (and drops gone connections). */
  readonly connections: TableRef;
  readonly realtime: Realtime;
  /** Of the secrets the stack creates and of the topics' key. */
  readonly removalPolicy: RemovalPolicy;
  readonly functionDefaults: FunctionDefaults;
}

/**
 * Alert delivery (issue 7): the alarm topics (default, email, SMS; one customer-managed key that
 * CloudWatch may use), the Slack and webhook-channel secrets, optional AWS Chatbot, the stack's
 * default rules as CDK-owned alarms, and the two functions of the alert lifecycle: the reconciler,
 * which turns the rules stored through the API into alarms (on every rule change and every 15
 * minutes), and the recorder, which records every state change of the system's alarms, pushes it
 * to dashboards and posts it to Slack and the webhook channel.
 */
export class Alerting extends Construct {
  /** `${stackName}-`: the name prefix of every alarm the recorder records. */
  public readonly alarmPrefix: string;
  public readonly topicsKey: kms.Key;
  /** Every alarm's action; what AWS Chatbot (when configured) and extra subscribers listen to. */
  public readonly defaultTopic: sns.Topic;
  public readonly emailTopic: sns.Topic;
  public readonly smsTopic: sns.Topic;
  /** Holds the Slack incoming-webhook URL. */
  public readonly slackWebhookSecret: secretsmanager.ISecret;
  /** HMAC key of the `webhook` channel's POSTs; only with `webhookUrls`. */
  public readonly webhookSigningSecret?: secretsmanager.Secret;
  public readonly chatbotChannel?: chatbot.SlackChannelConfiguration;
  public readonly reconciler: HouseFunction;
  public readonly recorder: HouseFunction;
  /** Rule changes on the domain bus -> reconciler. */
  public readonly rulesChangedRule: events.Rule;
  public readonly reconcileSchedule: events.Rule;
  /** Alarm state changes of the system's alarms (default bus) -> recorder. */
  public readonly alarmStateRule: events.Rule;
  /** The enabled default rules of the config, by index in `alerting.defaultRules`. */
  public readonly defaultRuleAlarms: cloudwatch.CfnAlarm[] = [];
  /** The same alarms as IAlarm, for dashboards. */
  public readonly defaultRuleAlarmRefs: cloudwatch.IAlarm[] = [];

  constructor(scope: Construct, id: string, props: AlertingProps) {
    super(scope, id);
    const { config } = props;
    const stack = Stack.of(this);
    this.alarmPrefix = alarmPrefixOf(this);
    const alarmArns = stack.formatArn({
      service: 'cloudwatch',
      resource: 'alarm',
      resourceName: `${this.alarmPrefix}*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    // CloudWatch publishes to an encrypted topic only with a customer-managed key it may use.
    this.topicsKey = new kms.Key(this, 'TopicsKey', {
      description: 'Encrypts the alarm topics; CloudWatch alarms may use it to publish',
      enableKeyRotation: true,
      removalPolicy: props.removalPolicy,
    });
    this.topicsKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        // As AWS documents it: the request reaches KMS through SNS, without the alarm's source context.
        resources: ['*'],
      }),
    );
    const topic = (topicId: string, displayName: string) => {
      const created = new sns.Topic(this, topicId, {
        displayName,
        masterKey: this.topicsKey,
        enforceSSL: true,
      });
      created.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'AllowStackAlarmsToPublish',
          principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['sns:Publish'],
          resources: [created.topicArn],
          conditions: {
            StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
            ArnLike: { 'aws:SourceArn': alarmArns },
          },
        }),
      );
      return created;
    };
    this.defaultTopic = topic('DefaultTopic', 'Webhooks alarms');
    this.emailTopic = topic('EmailTopic', 'Webhooks alarms (email)');
    this.smsTopic = topic('SmsTopic', 'Webhooks alarms');
    for (const email of config.emails)
      this.emailTopic.addSubscription(new subscriptions.EmailSubscription(email));
    for (const number of config.smsNumbers)
      this.smsTopic.addSubscription(new subscriptions.SmsSubscription(number));
    const topics: AlarmTopics = {
      default: this.defaultTopic.topicArn,
      email: this.emailTopic.topicArn,
      sms: this.smsTopic.topicArn,
    };

    if (config.slackWebhookSecretName) {
      this.slackWebhookSecret = secretsmanager.Secret.fromSecretNameV2(
        this,
        'SlackWebhookSecret',
        config.slackWebhookSecretName,
      );
    } else {
      const secret = new secretsmanager.Secret(this, 'SlackWebhookSecret', {
        description:
          'Slack incoming-webhook URL (https://hooks.slack.com/services/...) the alert recorder posts alerts to. Created blank: set the value to the URL.',
        secretStringValue: SecretValue.unsafePlainText(SLACK_SECRET_BLANK),
        removalPolicy: props.removalPolicy,
      });
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'The value is an incoming-webhook URL issued by Slack; it is replaced there and pasted here by the operator, so no rotation Lambda can generate it.',
      });
      this.slackWebhookSecret = secret;
    }
    if (config.webhookUrls.length > 0) {
      this.webhookSigningSecret = new secretsmanager.Secret(this, 'WebhookSigningSecret', {
        description: 'HMAC-SHA256 key of the alert webhook channel: receivers verify each POST with it.',
        generateSecretString: { passwordLength: 48, excludePunctuation: true },
        removalPolicy: props.removalPolicy,
      });
      Validations.of(this.webhookSigningSecret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'The key is shared with the receivers of the alert webhooks, who must switch to a new key together with us; it is rotated by the operator, not on a schedule.',
      });
    }

    if (config.chatbot) {
      this.chatbotChannel = new chatbot.SlackChannelConfiguration(this, 'SlackChannel', {
        // Chatbot channel configurations are account-wide (like CloudFront names).
        slackChannelConfigurationName: globalName(this, 'alarms', 128),
        slackWorkspaceId: config.chatbot.slackWorkspaceId,
        slackChannelId: config.chatbot.slackChannelId,
        notificationTopics: [this.defaultTopic],
        // The channel role has no permissions; the guardrail caps what a Slack user could ever do.
        guardrailPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('CloudWatchReadOnlyAccess')],
        // Chatbot logs to us-east-1, where this stack could give the group a retention only through a
        // custom-resource Lambda of its own: no log group rather than one that never expires.
        loggingLevel: chatbot.LoggingLevel.NONE,
      });
    }

    // Default rules: the alarm the reconciler would write for the same rule, named default-<index>.
    config.defaultRules.forEach((body, index) => {
      if (!body.enabled) return;
      const rule = ruleFromBody(body, `default-${index}`, null, '');
      const alarm = alarmOf(rule, { prefix: this.alarmPrefix, namespace: METRICS_NAMESPACE, topics });
      alarm.AlarmName = `${this.alarmPrefix}default-${index}`;
      const created = new cloudwatch.CfnAlarm(this, `DefaultRule${index}`, cfnAlarmPropsOf(alarm));
      this.defaultRuleAlarms.push(created);
      this.defaultRuleAlarmRefs.push(
        cloudwatch.Alarm.fromAlarmArn(this, `DefaultRule${index}Ref`, created.attrArn),
      );
    });

    this.reconciler = new HouseFunction(this, 'ReconcileFunction', {
      entry: 'alerts/reconcile.ts',
      serviceName: 'alerts-reconcile',
      defaults: props.functionDefaults,
      description: 'Reconciles the alert rules stored through the API into CloudWatch alarms',
      // A paused Serverless v2 writer takes tens of seconds to resume.
      timeout: Duration.minutes(2),
      environment: {
        ALARM_PREFIX: this.alarmPrefix,
        METRICS_NAMESPACE,
        ALARM_TOPIC_ARNS_JSON: stack.toJsonString(topics),
      },
    });
    bindDatabase(this.reconciler, props.database);
    iam.Grant.addToPrincipal({
      grantee: this.reconciler,
      actions: [
        'cloudwatch:PutMetricAlarm',
        'cloudwatch:DeleteAlarms',
        'cloudwatch:DescribeAlarms',
        'cloudwatch:TagResource',
        'cloudwatch:ListTagsForResource',
      ],
      resourceArns: [alarmArns],
    });
    this.acknowledgeAlarmArns(this.reconciler, alarmArns, 'writes, tags and deletes the alarms of the rules');

    this.rulesChangedRule = new events.Rule(this, 'RulesChanged', {
      description: 'Alert rules changed through the management API: reconcile the alarms',
      eventBus: props.eventBus,
      eventPattern: { source: [ALERT_RULES_CHANGED.source], detailType: [ALERT_RULES_CHANGED.detailType] },
      targets: [
        new targets.LambdaFunction(this.reconciler, { retryAttempts: 4, maxEventAge: Duration.hours(1) }),
      ],
    });
    this.reconcileSchedule = new events.Rule(this, 'ReconcileSchedule', {
      description: 'Repairs alarm drift: reconciles every alert rule into its alarm',
      schedule: events.Schedule.rate(RECONCILE_SCHEDULE),
      targets: [
        new targets.LambdaFunction(this.reconciler, { retryAttempts: 0, maxEventAge: RECONCILE_SCHEDULE }),
      ],
    });

    this.recorder = new HouseFunction(this, 'RecordFunction', {
      entry: 'alerts/record.ts',
      serviceName: 'alerts-record',
      defaults: props.functionDefaults,
      description:
        'Records alarm state changes as alerts, pushes them to dashboards and posts to Slack and webhooks',
      timeout: Duration.minutes(1),
      environment: {
        ALARM_PREFIX: this.alarmPrefix,
        WEBSOCKET_ENDPOINT: props.realtime.callbackUrl,
        ALERT_WEBHOOK_URLS_JSON: JSON.stringify(config.webhookUrls),
        // All of them, disabled ones included: the index in the list is the one in the alarm name.
        DEFAULT_ALERT_RULES_JSON: JSON.stringify(config.defaultRules),
      },
    });
    bindDatabase(this.recorder, props.database);
    this.recorder
      .bindTable('CONNECTIONS_TABLE', props.connections, 'readDelete')
      .bindSecret('SLACK_WEBHOOK_SECRET_ARN', this.slackWebhookSecret);
    if (this.webhookSigningSecret) {
      this.recorder.bindSecret('ALERT_WEBHOOK_SIGNING_SECRET_ARN', this.webhookSigningSecret);
    }
    props.realtime.grantPostToConnections(this.recorder);
    if (config.slackWebhookSecretName && this.recorder.role) {
      // An imported secret is named without its random suffix: the grant matches any suffix.
      Validations.of(this.recorder.role).acknowledge({
        id: wildcardResourceFinding(this, `${this.slackWebhookSecret.secretArn}-??????`),
        reason:
          'The Slack secret is referenced by name (config alerting.slackWebhookSecretName); Secrets Manager appends six random characters to its ARN, which the grant leaves open.',
      });
    }

    this.alarmStateRule = new events.Rule(this, 'AlarmStateChanged', {
      description: "State changes of the system's alarms: record, push and notify",
      eventPattern: {
        source: ['aws.cloudwatch'],
        detailType: ['CloudWatch Alarm State Change'],
        detail: { alarmName: events.Match.prefix(this.alarmPrefix) },
      },
      targets: [
        new targets.LambdaFunction(this.recorder, { retryAttempts: 8, maxEventAge: Duration.hours(6) }),
      ],
    });
  }

  /** The topics every built-in alarm notifies: default, email and SMS. */
  get alarmTopics(): sns.ITopic[] {
    return [this.defaultTopic, this.emailTopic, this.smsTopic];
  }

  private acknowledgeAlarmArns(fn: HouseFunction, arn: string, what: string): void {
    if (!fn.role) return;
    Validations.of(fn.role).acknowledge({
      id: wildcardResourceFinding(this, arn),
      reason: `The function ${what}, created at runtime with names under the stack's alarm prefix; the grant names CloudWatch alarms of this account and region whose name starts with it, and nothing else.`,
    });
  }
}
