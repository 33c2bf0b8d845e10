import { Duration, SecretValue, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { type PatternValues, type Workflow, workflowEventPattern } from '../workflows';

export interface WorkflowTargetsProps {
  /** The domain event bus the rules listen on. */
  readonly bus: events.IEventBus;
  /** The stack config's `workflows`. */
  readonly workflows: readonly Workflow[];
}

/** One workflow's rule and the queue its undeliverable events land in. */
export interface WorkflowResources {
  readonly rule: events.Rule;
  readonly deadLetterQueue: sqs.Queue;
}

/**
 * The workflows of the stack config: per workflow, an EventBridge rule on the domain event bus
 * matching its provider, event type and change type, with one target (an HTTPS endpoint through an
 * API destination and a connection holding its credentials, an SQS queue, a Lambda function or a
 * Step Functions state machine), the workflow's retry policy, and a dead-letter queue for the events
 * it could not deliver. Targets receive the whole EventBridge event (`detail` as published).
 */
export class WorkflowTargets extends Construct {
  public readonly workflows: Record<string, WorkflowResources> = {};

  constructor(scope: Construct, id: string, props: WorkflowTargetsProps) {
    super(scope, id);
    for (const workflow of props.workflows) {
      const at = new Construct(this, workflow.name);
      const deadLetterQueue = new sqs.Queue(at, 'Dlq', {
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(14),
      });
      Validations.of(deadLetterQueue).acknowledge({
        id: 'AwsSolutions-SQS3',
        reason: `This queue is the dead-letter queue of the "${workflow.name}" workflow's EventBridge target; a dead-letter queue has none of its own.`,
      });
      const rule = new events.Rule(at, 'Rule', {
        eventBus: props.bus,
        description: workflow.description ?? `Workflow ${workflow.name}: domain events to its target`,
        eventPattern: cdkPattern(workflowEventPattern(workflow.match)),
      });
      rule.addTarget(
        ruleTarget(at, workflow, {
          deadLetterQueue,
          retryAttempts: workflow.retry.maximumRetryAttempts,
          maxEventAge: Duration.seconds(workflow.retry.maximumEventAgeSeconds),
        }),
      );
      this.workflows[workflow.name] = { rule, deadLetterQueue };
    }
  }
}

type TargetBase = Pick<targets.TargetBaseProps, 'deadLetterQueue' | 'retryAttempts' | 'maxEventAge'>;

function ruleTarget(scope: Construct, workflow: Workflow, base: TargetBase): events.IRuleTarget {
  const target = workflow.target;
  switch (target.type) {
    case 'https': {
      const secret = SecretValue.secretsManager(target.authorization.secretName);
      const connection = new events.Connection(scope, 'Connection', {
        description: `Credentials of the "${workflow.name}" workflow's endpoint`,
        authorization:
          target.authorization.type === 'apiKey'
            ? events.Authorization.apiKey(target.authorization.headerName, secret)
            : events.Authorization.basic(target.authorization.username, secret),
      });
      const destination = new events.ApiDestination(scope, 'Destination', {
        description: `Endpoint of the "${workflow.name}" workflow`,
        connection,
        endpoint: target.endpoint,
        httpMethod: events.HttpMethod[target.method],
        rateLimitPerSecond: target.rateLimitPerSecond,
      });
      return new targets.ApiDestination(destination, base);
    }
    case 'sqs': {
      const queue = sqs.Queue.fromQueueArn(scope, 'Queue', target.queueArn);
      return new targets.SqsQueue(queue, { ...base, messageGroupId: target.messageGroupId });
    }
    case 'lambda': {
      // Same account and region as the stack: the rule's invoke permission is added to the function.
      const fn = lambda.Function.fromFunctionAttributes(scope, 'Function', {
        functionArn: target.functionArn,
        sameEnvironment: true,
      });
      return new targets.LambdaFunction(fn, base);
    }
    case 'stepFunctions': {
      const machine = sfn.StateMachine.fromStateMachineArn(scope, 'StateMachine', target.stateMachineArn);
      return new targets.SfnStateMachine(machine, base);
    }
  }
}

/** Our pattern in CDK's types: `{prefix}` values through events.Match. */
function cdkPattern(pattern: ReturnType<typeof workflowEventPattern>): events.EventPattern {
  const values = (list: PatternValues): string[] =>
    list.every((value) => typeof value === 'string')
      ? (list as string[])
      : events.Match.anyOf(
          ...list.map((value) =>
            typeof value === 'string' ? events.Match.exactString(value) : events.Match.prefix(value.prefix),
          ),
        );
  return {
    source: values(pattern.source),
    ...(pattern.detail && {
      detail: Object.fromEntries(
        Object.entries(pattern.detail).map(([field, list]) => [field, values(list)]),
      ),
    }),
  };
}
