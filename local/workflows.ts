import { readFileSync, statSync } from 'node:fs';
import { CreateQueueCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import * as z from 'zod';
import {
  type LocalWorkflows,
  localWorkflowsSchema,
  type Workflow,
  type WorkflowEventPattern,
  workflowEventPattern,
} from '../lib/workflows';
import type { RecordedDomainEvent } from './eventbridge';

/** An event as EventBridge hands it to a target (the default input: the whole event). */
export interface TargetEvent {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, unknown>;
}

/** The event a rule target receives for an event the local bus accepted. */
export function targetEvent(event: RecordedDomainEvent, account: string, region: string): TargetEvent {
  return {
    version: '0',
    id: event.id,
    'detail-type': event.detailType,
    source: event.source,
    account,
    time: event.time,
    region,
    resources: event.resources,
    detail: event.detail,
  };
}

/**
 * Status codes after which an API destination tries again (EventBridge's documented list); any
 * other answer but a 2xx fails the event at once. A timeout or network error is retried too.
 */
const RETRYABLE_STATUS = new Set([401, 407, 409, 429]);
const isRetryable = (status: number) => RETRYABLE_STATUS.has(status) || status >= 500;

/** An API destination gives up on an endpoint that has not answered after 5 s. */
const INVOCATION_TIMEOUT_MS = 5000;

export interface WorkflowDeliveryOptions {
  /** The local workflows file (WORKFLOWS_FILE); read again whenever it changes. */
  file: string;
  sqs: SQSClient;
  account: string;
  region: string;
  /** First retry delay, doubled on each further attempt (WORKFLOW_RETRY_BASE_DELAY_MS). */
  retryBaseDelayMs: number;
  log: (line: string) => void;
}

export interface WorkflowDeliveries {
  /** Sends an event to every workflow whose pattern it matches (retries continue in the background). */
  deliver(event: TargetEvent): void;
  /** The local dead-letter queue of a workflow (created on its first dead letter). */
  deadLetterQueueName(workflow: string): string;
  stop(): Promise<void>;
}

/**
 * The local EventBridge's rule targets: the HTTPS workflows of the local workflows file, called as
 * an API destination calls them (the connection's credentials in a header, the same retryable
 * statuses, the workflow's retry attempts and maximum event age, then its dead-letter queue, here in
 * the local SQS). SQS, Lambda and Step Functions targets exist only in AWS and are skipped.
 */
export function startWorkflowDeliveries(options: WorkflowDeliveryOptions): WorkflowDeliveries {
  const workflows = workflowsFile(options.file, options.log);
  const timers = new Set<NodeJS.Timeout>();
  const inFlight = new Set<Promise<unknown>>();
  const dlqUrls = new Map<string, Promise<string>>();
  let stopped = false;
  const dlqName = (workflow: string) => `workflow-${workflow}-dlq`;

  const track = (work: Promise<unknown>) => {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  };

  const deadLetter = async (workflow: Workflow, event: TargetEvent, failure: Failure, attempts: number) => {
    const name = dlqName(workflow.name);
    let url = dlqUrls.get(name);
    if (!url) {
      url = options.sqs
        .send(new CreateQueueCommand({ QueueName: name }))
        .then((out) => out.QueueUrl as string);
      dlqUrls.set(name, url);
    }
    const text = (value: string) => ({ DataType: 'String', StringValue: value });
    await options.sqs.send(
      new SendMessageCommand({
        QueueUrl: await url,
        MessageBody: JSON.stringify(event),
        // The attributes EventBridge puts on a dead-lettered event.
        MessageAttributes: {
          RULE_ARN: text(`arn:aws:events:${options.region}:${options.account}:rule/${workflow.name}`),
          TARGET_ARN: text(workflow.target.type === 'https' ? workflow.target.endpoint : workflow.name),
          ERROR_CODE: text(failure.code),
          ERROR_MESSAGE: text(failure.message),
          EXHAUSTED_RETRY_CONDITION: text(failure.exhausted),
          RETRY_ATTEMPTS: { DataType: 'Number', StringValue: String(attempts - 1) },
        },
      }),
    );
    options.log(
      `workflow ${workflow.name}: ${event['detail-type']} ${event.id} dead-lettered (${failure.message})`,
    );
  };

  const attempt = (workflow: Workflow, event: TargetEvent, secrets: LocalWorkflows['secrets'], n: number) => {
    const work = call(workflow, event, secrets).then(async (failure) => {
      if (!failure || stopped) return;
      const ageMs = Date.now() - Date.parse(event.time);
      const delayMs = options.retryBaseDelayMs * 2 ** (n - 1);
      const retry = workflow.retry;
      const exhausted = !failure.retryable
        ? undefined
        : n > retry.maximumRetryAttempts
          ? 'MaximumRetryAttemptsExhausted'
          : ageMs + delayMs > retry.maximumEventAgeSeconds * 1000
            ? 'MaximumEventAgeExhausted'
            : 'none';
      if (exhausted === 'none') {
        const timer = setTimeout(() => {
          timers.delete(timer);
          attempt(workflow, event, secrets, n + 1);
        }, delayMs);
        timers.add(timer);
        return;
      }
      await deadLetter(workflow, event, { ...failure, exhausted: exhausted ?? 'NonRetryableError' }, n).catch(
        (error: unknown) =>
          options.log(`workflow ${workflow.name}: dead-lettering failed: ${(error as Error).message}`),
      );
    });
    track(work);
  };

  return {
    deliver(event) {
      const config = workflows();
      for (const workflow of config.workflows) {
        if (workflow.target.type !== 'https') continue;
        if (!matchesPattern(workflowEventPattern(workflow.match), event)) continue;
        attempt(workflow, event, config.secrets, 1);
      }
    },
    deadLetterQueueName: dlqName,
    async stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.allSettled([...inFlight]);
    },
  };
}

interface Failure {
  code: string;
  message: string;
  retryable: boolean;
  exhausted: string;
}

/** One invocation: undefined when the endpoint answered 2xx. */
async function call(
  workflow: Workflow,
  event: TargetEvent,
  secrets: LocalWorkflows['secrets'],
): Promise<Failure | undefined> {
  const target = workflow.target;
  if (target.type !== 'https') return undefined;
  const secret = secrets[target.authorization.secretName] ?? '';
  const credentials: Record<string, string> =
    target.authorization.type === 'apiKey'
      ? { [target.authorization.headerName]: secret }
      : {
          Authorization: `Basic ${Buffer.from(`${target.authorization.username}:${secret}`).toString('base64')}`,
        };
  try {
    const response = await fetch(target.endpoint, {
      method: target.method,
      headers: {
        'Content-Type': 'application/json; charset=utf-8',
        'User-Agent': 'Amazon/EventBridge/ApiDestinations',
        ...credentials,
      },
      body: JSON.stringify(event),
      signal: AbortSignal.timeout(INVOCATION_TIMEOUT_MS),
    });
    await response.arrayBuffer().catch(() => undefined);
    if (response.ok) return undefined;
    return {
      code: `${response.status}`,
      message: `${target.endpoint} answered ${response.status}`,
      retryable: isRetryable(response.status),
      exhausted: '',
    };
  } catch (error) {
    return { code: 'SDK_CLIENT_ERROR', message: (error as Error).message, retryable: true, exhausted: '' };
  }
}

/**
 * The workflows file, read again when its modification time changes (so an edit applies to the
 * next event); absent means no workflows. An invalid file is reported once and the previous
 * content kept.
 */
function workflowsFile(file: string, log: (line: string) => void): () => LocalWorkflows {
  let current: LocalWorkflows = { workflows: [], secrets: {} };
  let loadedAt: number | undefined;
  return () => {
    let mtime: number | undefined;
    try {
      mtime = statSync(file).mtimeMs;
    } catch {
      mtime = undefined;
    }
    if (mtime === loadedAt) return current;
    loadedAt = mtime;
    if (mtime === undefined) {
      current = { workflows: [], secrets: {} };
      return current;
    }
    try {
      current = parseLocalWorkflows(JSON.parse(readFileSync(file, 'utf8')));
      const names = current.workflows.map((w) => `${w.name} (${w.target.type})`).join(', ');
      log(`workflows from ${file}: ${names || 'none'}`);
    } catch (error) {
      log(`workflows file ${file} ignored: ${(error as Error).message}`);
    }
    return current;
  };
}

/** Validates a local workflows file: every HTTPS target's secret needs a stand-in value. */
export function parseLocalWorkflows(raw: unknown): LocalWorkflows {
  const result = localWorkflowsSchema
    .superRefine((config, ctx) => {
      config.workflows.forEach((workflow, index) => {
        if (workflow.target.type !== 'https') return;
        const { secretName } = workflow.target.authorization;
        if (!Object.hasOwn(config.secrets, secretName))
          ctx.addIssue({
            code: 'custom',
            path: ['workflows', index, 'target', 'authorization', 'secretName'],
            message: `"secrets" must hold a value for ${secretName}`,
          });
      });
    })
    .safeParse(raw);
  if (!result.success) throw new Error(z.prettifyError(result.error));
  return result.data;
}

/**
 * EventBridge's matching for the patterns workflows produce: every field of the pattern must
 * match; a field's values are ORed (an exact string or a `{prefix}`); nested objects match the
 * event's nested fields.
 */
export function matchesPattern(
  pattern: WorkflowEventPattern | Record<string, unknown>,
  event: unknown,
): boolean {
  if (typeof event !== 'object' || event === null) return false;
  return Object.entries(pattern).every(([field, expected]) => {
    const actual = (event as Record<string, unknown>)[field];
    if (!Array.isArray(expected)) return matchesPattern(expected as Record<string, unknown>, actual);
    const candidates = Array.isArray(actual) ? actual : [actual];
    return candidates.some((value) =>
      expected.some((option: unknown) =>
        typeof option === 'string'
          ? value === option
          : typeof value === 'string' && value.startsWith((option as { prefix: string }).prefix),
      ),
    );
  });
}
