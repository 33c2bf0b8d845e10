import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRIORITIES, type Priority, type WebhooksConfigInput } from '../../lib/config';
import { buildTestApp, type SynthFixture } from './fixture';
import { actionsOf, type CfnResource, type Json, resourcesOf, target } from './template';

/**
 * Retries, dead letters, metric counters and domain events of the processors, under the defaults
 * and under a configuration that differs from every default they read (bundling off: it adds no
 * resource and no property read here; stack.test.ts synthesizes with the real bundles).
 */
const CONFIGURED = {
  queues: { maxReceiveCount: 300, retentionDays: 2 },
  processing: {
    retryBaseDelayMs: 2000,
    maxRetryDelayMs: 600_000,
    retryAttempts: 2,
    attemptTimeoutMs: 10_000,
    eventLogPayloadMaxBytes: 1024,
  },
  workflowEvents: { archiveDays: 30 },
} satisfies WebhooksConfigInput;

/** One synthesized stack and lookups into its template. */
class Synth {
  readonly fixture: SynthFixture;
  readonly resources: Record<string, CfnResource>;
  readonly outputs: Record<string, Json>;

  constructor(config: WebhooksConfigInput) {
    this.fixture = buildTestApp(config, { bundling: false });
    const template = Template.fromStack(this.fixture.stack).toJSON();
    this.resources = template.Resources as Record<string, CfnResource>;
    this.outputs = template.Outputs as Record<string, Json>;
  }

  ofType(type: string): [string, CfnResource][] {
    return Object.entries(this.resources).filter(([, resource]) => resource.Type === type);
  }

  props(id: string): Json {
    const resource = this.resources[id];
    if (!resource) throw new Error(`No resource ${id}`);
    return resource.Properties ?? {};
  }

  logicalId(construct: { node: { defaultChild?: unknown } }): string {
    return this.fixture.stack.getLogicalId(construct.node.defaultChild as never);
  }

  env(functionId: string): Json {
    return ((this.props(functionId).Environment as Json | undefined)?.Variables ?? {}) as Json;
  }

  /** Every function of the stack that has a role (the house functions and the custom-resource framework). */
  functions(): string[] {
    return this.ofType('AWS::Lambda::Function').map(([id]) => id);
  }

  /** The processor consuming a priority's queue, found through its event source mapping. */
  processorOf(priority: Priority): string {
    const queueId = this.logicalId(this.fixture.stack.queues.queues[priority].queue);
    const mappings = this.ofType('AWS::Lambda::EventSourceMapping').filter(
      ([, m]) => target(m.Properties?.EventSourceArn) === queueId,
    );
    expect(mappings, `event source of the ${priority} queue`).toHaveLength(1);
    return target(mappings[0]?.[1].Properties?.FunctionName);
  }

  /** Statements of every policy attached to the role of a function. */
  statementsOf(functionId: string): Json[] {
    const roleId = target(this.props(functionId).Role);
    return this.ofType('AWS::IAM::Policy')
      .filter(([id]) => (this.props(id).Roles as unknown[]).some((role) => target(role) === roleId))
      .flatMap(([id]) => (this.props(id).PolicyDocument as { Statement: Json[] }).Statement);
  }

  /** Statements of a function's role that allow an action of the service or exactly the action. */
  grantsOf(functionId: string, action: string): Json[] {
    return this.statementsOf(functionId).filter((s) =>
      actionsOf(s).some((a) => (action.endsWith(':') ? a.startsWith(action) : a === action)),
    );
  }

  /** Statements of a function's role naming a resource (by logical id) anywhere in their Resource. */
  grantsOn(functionId: string, resourceId: string): Json[] {
    return this.statementsOf(functionId).filter((s) =>
      JSON.stringify(s.Resource).includes(`"${resourceId}"`),
    );
  }
}

const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });

let defaults: Synth;
let configured: Synth;

beforeAll(() => {
  defaults = new Synth({});
  configured = new Synth(CONFIGURED);
});

afterAll(() => {
  defaults?.fixture.cleanup();
  configured?.fixture.cleanup();
});

describe('domain event bus', () => {
  const busId = (synth: Synth) => synth.logicalId(synth.fixture.stack.workflowEvents.bus);

  it('is a custom bus of the stack, named after it, without a resource policy', () => {
    const buses = defaults.ofType('AWS::Events::EventBus');
    expect(buses.map(([id]) => id)).toEqual([busId(defaults)]);
    expect(defaults.props(busId(defaults)).Name).toBe(`${defaults.fixture.stack.stackName}-workflow-events`);
    expect(defaults.ofType('AWS::Events::EventBusPolicy')).toEqual([]);
  });

  it('archives every webhooks.* event of the bus for 7 days, or archiveDays', () => {
    for (const [synth, days] of [
      [defaults, 7],
      [configured, 30],
    ] as const) {
      const archives = synth.ofType('AWS::Events::Archive');
      expect(archives).toHaveLength(1);
      expect(archives[0]?.[1].Properties).toMatchObject({
        SourceArn: arnOf(busId(synth)),
        EventPattern: { source: [{ prefix: 'webhooks.' }] },
        RetentionDays: days,
      });
    }
  });

  it('gives each processor the bus name and PutEvents on that bus alone', () => {
    for (const priority of PRIORITIES) {
      const fn = defaults.processorOf(priority);
      expect(defaults.env(fn).EVENT_BUS_NAME).toEqual({ Ref: busId(defaults) });
      const grants = defaults.grantsOf(fn, 'events:');
      expect(grants.flatMap(actionsOf)).toEqual(['events:PutEvents']);
      expect(grants.flatMap(resourcesOf)).toEqual([arnOf(busId(defaults))]);
    }
  });

  it('lets no other function put events but the management function (alert rule changes), on that bus alone', () => {
    const processors = new Set(PRIORITIES.map((p) => defaults.processorOf(p)));
    for (const fn of defaults.functions().filter((id) => !processors.has(id))) {
      const grants = defaults.grantsOf(fn, 'events:');
      if (defaults.env(fn).POWERTOOLS_SERVICE_NAME === 'api-management') {
        expect(grants.flatMap(actionsOf)).toEqual(['events:PutEvents']);
        expect(grants.flatMap(resourcesOf)).toEqual([arnOf(busId(defaults))]);
      } else expect(grants, fn).toEqual([]);
    }
  });

  it('outputs the bus name and ARN', () => {
    expect(defaults.outputs.EventBusName?.Value).toEqual({ Ref: busId(defaults) });
    expect(defaults.outputs.EventBusArn?.Value).toEqual(arnOf(busId(defaults)));
  });
});

describe('metric counters', () => {
  const tableId = () => defaults.logicalId(defaults.fixture.stack.storage.metrics);

  it('gives each processor the table name and UpdateItem on the table alone', () => {
    for (const priority of PRIORITIES) {
      const fn = defaults.processorOf(priority);
      expect(defaults.env(fn).METRICS_TABLE).toEqual({ Ref: tableId() });
      const grants = defaults.grantsOn(fn, tableId());
      expect(grants.flatMap(actionsOf)).toEqual(['dynamodb:UpdateItem']);
      // The table itself, no index (the statement may name the event log too: UpdateItem alone as well).
      const resources = grants.flatMap(resourcesOf).map((resource) => JSON.stringify(resource));
      expect(resources).toContain(JSON.stringify(arnOf(tableId())));
      expect(resources.join()).not.toContain('/index/');
    }
  });

  it('is written by the processors (and the DLQ sweep, counting what it marks dead) only; the status API and the metrics push may only read it', () => {
    const sweep = defaults
      .functions()
      .filter((id) => defaults.env(id).POWERTOOLS_SERVICE_NAME === 'dead-letter-sweep');
    expect(sweep).toHaveLength(1);
    for (const fn of sweep)
      expect(defaults.grantsOn(fn, tableId()).flatMap(actionsOf)).toEqual(['dynamodb:UpdateItem']);
    const processors = new Set([...PRIORITIES.map((p) => defaults.processorOf(p)), ...sweep]);
    const readers = defaults
      .functions()
      .filter((id) =>
        ['api-management', 'metrics-push'].includes(String(defaults.env(id).POWERTOOLS_SERVICE_NAME)),
      );
    expect(readers).toHaveLength(2);
    for (const fn of defaults.functions().filter((id) => !processors.has(id))) {
      const actions = defaults.grantsOn(fn, tableId()).flatMap(actionsOf);
      if (readers.includes(fn)) {
        expect(actions, fn).toContain('dynamodb:Query');
        expect(
          actions.filter((action) => /Put|Update|Delete|Write/.test(action)),
          fn,
        ).toEqual([]);
      } else expect(actions, fn).toEqual([]);
    }
  });
});

describe('processor retries and dead letters', () => {
  const queueIds = (synth: Synth, priority: Priority) => {
    const { queue, dlq } = synth.fixture.stack.queues.queues[priority];
    return { queueId: synth.logicalId(queue), dlqId: synth.logicalId(dlq) };
  };

  it("points each processor at its own queue's DLQ, the one SQS redrives to", () => {
    const dlqUrls = new Set<string>();
    for (const priority of PRIORITIES) {
      const { queueId, dlqId } = queueIds(defaults, priority);
      const redrive = defaults.props(queueId).RedrivePolicy as { deadLetterTargetArn: unknown };
      expect(target(redrive.deadLetterTargetArn)).toBe(dlqId);
      const url = defaults.env(defaults.processorOf(priority)).DLQ_URL;
      expect(url).toEqual({ Ref: dlqId });
      dlqUrls.add(dlqId);
    }
    expect(dlqUrls.size).toBe(PRIORITIES.length);
  });

  it('lets each processor send to its own DLQ and to no other queue', () => {
    for (const priority of PRIORITIES) {
      const fn = defaults.processorOf(priority);
      const sends = defaults.grantsOf(fn, 'sqs:SendMessage');
      expect(sends.flatMap(actionsOf)).toEqual(['sqs:SendMessage']);
      expect(sends.flatMap(resourcesOf)).toEqual([arnOf(queueIds(defaults, priority).dlqId)]);
    }
  });

  it("lets each processor change message visibility on its own queue only (the event source's grant)", () => {
    for (const priority of PRIORITIES) {
      const fn = defaults.processorOf(priority);
      const grants = defaults.grantsOf(fn, 'sqs:ChangeMessageVisibility');
      expect(grants.flatMap(resourcesOf)).toEqual([arnOf(queueIds(defaults, priority).queueId)]);
      // Every SQS grant of a processor: consume its queue, send to its DLQ.
      const sqsResources = defaults.grantsOf(fn, 'sqs:').flatMap(resourcesOf).map(target);
      expect(new Set(sqsResources)).toEqual(new Set(Object.values(queueIds(defaults, priority))));
    }
  });

  it("tells each processor the maxReceiveCount of its queue, SQS's backstop it dead-letters before", () => {
    for (const [synth, count] of [
      [defaults, 1000],
      [configured, 300],
    ] as const) {
      for (const priority of PRIORITIES) {
        const { queueId } = queueIds(synth, priority);
        const redrive = synth.props(queueId).RedrivePolicy as { maxReceiveCount: number };
        expect(redrive.maxReceiveCount).toBe(count);
        expect(synth.env(synth.processorOf(priority)).MAX_RECEIVE_COUNT).toBe(String(count));
      }
    }
  });

  it('gives each processor the retry schedule, the limits of deliveries without a config and its retry window', () => {
    const day = 86_400;
    for (const [synth, settings] of [
      [defaults, { base: '5000', max: '900000', attempts: '5', timeout: '30000', retention: 4 * day }],
      [configured, { base: '2000', max: '600000', attempts: '2', timeout: '10000', retention: 2 * day }],
    ] as const) {
      for (const priority of PRIORITIES) {
        const env = synth.env(synth.processorOf(priority));
        expect(env).toMatchObject({
          RETRY_BASE_DELAY_MS: settings.base,
          MAX_RETRY_DELAY_MS: settings.max,
          RETRY_ATTEMPTS: settings.attempts,
          ATTEMPT_TIMEOUT_MS: settings.timeout,
        });
        // The retention, less the longest wait, the queue's visibility timeout and an hour.
        const visibility = (priority === 'low' ? 60 : 30) * 6 + 30;
        expect(env.RETRY_WINDOW_SECONDS).toBe(
          String(settings.retention - Number(settings.max) / 1000 - visibility - 3600),
        );
      }
    }
  });
});

describe('processor event log and metrics', () => {
  it('keeps payloads up to 64 KiB inline by default, or processing.eventLogPayloadMaxBytes', () => {
    for (const [synth, bytes] of [
      [defaults, '65536'],
      [configured, '1024'],
    ] as const) {
      for (const priority of PRIORITIES) {
        expect(synth.env(synth.processorOf(priority)).EVENT_LOG_PAYLOAD_MAX_BYTES).toBe(bytes);
      }
    }
  });

  it("only updates event log items (every write is a conditional UpdateItem) and reads a batch's items by key, never its index", () => {
    const eventLogId = defaults.logicalId(defaults.fixture.stack.storage.eventLog);
    for (const priority of PRIORITIES) {
      const fn = defaults.processorOf(priority);
      expect(defaults.env(fn).EVENT_LOG_TABLE).toEqual({ Ref: eventLogId });
      expect(defaults.grantsOn(fn, eventLogId).flatMap(actionsOf)).toEqual([
        'dynamodb:BatchGetItem',
        'dynamodb:UpdateItem',
      ]);
    }
  });

  it('emits EMF metrics under the Webhooks namespace', () => {
    for (const priority of PRIORITIES) {
      expect(defaults.env(defaults.processorOf(priority)).POWERTOOLS_METRICS_NAMESPACE).toBe('Webhooks');
    }
  });
});
