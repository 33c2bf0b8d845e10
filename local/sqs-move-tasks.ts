import { randomUUID } from 'node:crypto';
import {
  Agent,
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ListQueuesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';

/**
 * A wire-level stand-in for SQS's message move tasks (DLQ redrive), which fauxqs does not implement.
 *
 * It listens in front of fauxqs and forwards every request byte for byte (method, path, headers
 * including Host, body, streamed response), except the AWS JSON protocol actions
 * `AmazonSQS.StartMessageMoveTask`, `AmazonSQS.ListMessageMoveTasks` and
 * `AmazonSQS.CancelMessageMoveTask`, which it answers itself with SQS's response and error shapes.
 * A task moves messages with ordinary SQS calls against fauxqs: ReceiveMessage from the source
 * DLQ, SendMessage to the destination (body, message attributes, AWSTraceHeader and, for FIFO
 * queues, MessageGroupId kept), then DeleteMessage.
 *
 * Because the Host header is forwarded unchanged, queues created through the proxy get URLs with the
 * proxy's port (fauxqs builds them from the Host), so SDK clients that route by QueueUrl keep
 * coming through here.
 *
 * FIFO deduplication: a moved message is sent with MessageDeduplicationId = its DLQ MessageId, not
 * its original deduplication id. The original id may still sit in the destination's 5-minute
 * deduplication window (a message that failed fast), and SQS would silently drop the redriven copy.
 * The DLQ MessageId is what SQS itself substitutes when it dead-letters a FIFO message; it is unique
 * per dead-lettered message, and stable, so a move interrupted between SendMessage and DeleteMessage
 * and retried within 5 minutes does not enqueue the message twice.
 *
 * Stand-in limits: with no DestinationArn, real SQS sends each message back to the queue it came
 * from; fauxqs does not record that (no DeadLetterQueueSourceArn), so the destination is the one
 * queue whose RedrivePolicy names the DLQ, and Start is refused when several do. A task moves at most
 * the number of messages visible when it started (ApproximateNumberOfMessagesToMove) and ends early
 * when the DLQ has nothing visible left.
 */
export interface SqsMoveTaskProxyOptions {
  fauxqsPort: number;
  /** Where fauxqs listens; 127.0.0.1 by default. */
  fauxqsHost?: string;
  /** The proxy's port; 0 (the default) picks a free one. */
  port?: number;
  /** Region of the returned endpoint (`http://sqs.<region>.localhost:<port>`); us-east-1 by default. */
  region?: string;
  /**
   * The client tasks move messages with. It must reach fauxqs (or this proxy) through an explicit
   * `endpoint`, so that it sends to that endpoint whatever host the queue URLs name. By default one
   * is made for `http://<fauxqsHost>:<fauxqsPort>` and destroyed on stop().
   */
  sqs?: SQSClient;
  log?: (line: string) => void;
}

export interface SqsMoveTaskProxy {
  /** The SQS endpoint to give clients: `http://sqs.<region>.localhost:<port>`, like fauxqs's own. */
  endpoint: string;
  port: number;
  /** The listener clients reach (the fault runs take it down: local/outage.ts). */
  server: Server;
  /** Cancels running tasks, waits for them and closes the server. */
  stop(): Promise<void>;
}

const ACTIONS = {
  'AmazonSQS.StartMessageMoveTask': startTask,
  'AmazonSQS.ListMessageMoveTasks': listTasks,
  'AmazonSQS.CancelMessageMoveTask': cancelTask,
} as const;

type Status = 'RUNNING' | 'COMPLETED' | 'CANCELLING' | 'CANCELLED' | 'FAILED';

interface MoveTask {
  taskId: string;
  handle: string;
  sourceArn: string;
  sourceUrl: string;
  /** As given to Start; absent means "back to the source queue". */
  destinationArn?: string;
  destinationUrl: string;
  fifo: boolean;
  maxPerSecond?: number;
  status: Status;
  moved: number;
  toMove: number;
  startedAt: number;
  failureReason?: string;
  abort: AbortController;
  done?: Promise<void>;
}

interface QueueInfo {
  url: string;
  arn: string;
  fifo: boolean;
  deadLetterTargetArn?: string;
}

interface Context {
  sqs: SQSClient;
  /** Newest first, per source ARN; the last 10 are kept. */
  tasks: Map<string, MoveTask[]>;
  log: (line: string) => void;
  stopping: boolean;
}

/** An SQS error, sent as the AWS JSON protocol does: `{__type, message}` plus x-amzn-query-error. */
class SqsFault extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly statusCode = 400,
  ) {
    super(message);
  }
}

const MAX_BODY_BYTES = 1024 * 1024;
const KEEP_TASKS = 10;
const RECEIVE_VISIBILITY_SECONDS = 60;

export async function startSqsMoveTaskProxy(options: SqsMoveTaskProxyOptions): Promise<SqsMoveTaskProxy> {
  const fauxqsHost = options.fauxqsHost ?? '127.0.0.1';
  const region = options.region ?? 'us-east-1';
  const ownClient = !options.sqs;
  const sqs =
    options.sqs ??
    new SQSClient({
      region,
      endpoint: `http://${fauxqsHost}:${options.fauxqsPort}`,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
  const context: Context = { sqs, tasks: new Map(), log: options.log ?? (() => undefined), stopping: false };
  const agent = new Agent({ keepAlive: true });

  const server = createServer((req, res) => {
    const target = req.headers['x-amz-target'];
    const action = typeof target === 'string' ? ACTIONS[target as keyof typeof ACTIONS] : undefined;
    if (req.method === 'POST' && action) {
      answer(req, res, (input) => action(context, input)).catch((error: unknown) => {
        context.log(`sqs-move-tasks: ${(error as Error).message}`);
        res.destroy();
      });
    } else {
      forward(req, res, { host: fauxqsHost, port: options.fauxqsPort, agent });
    }
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });

  return {
    endpoint: `http://sqs.${region}.localhost:${port}`,
    port,
    server,
    stop: async () => {
      context.stopping = true;
      const tasks = [...context.tasks.values()].flat();
      for (const task of tasks) if (task.status === 'RUNNING') task.abort.abort();
      await Promise.allSettled(tasks.map((task) => task.done));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      agent.destroy();
      if (ownClient) sqs.destroy();
    },
  };
}

/** Streams the request to fauxqs and its answer back, untouched. */
function forward(
  req: IncomingMessage,
  res: ServerResponse,
  upstream: { host: string; port: number; agent: Agent },
): void {
  const outgoing = request(
    {
      host: upstream.host,
      port: upstream.port,
      agent: upstream.agent,
      method: req.method,
      path: req.url,
      headers: req.headers,
    },
    (incoming) => {
      res.writeHead(incoming.statusCode ?? 502, incoming.rawHeaders);
      incoming.pipe(res);
    },
  );
  outgoing.on('error', () => {
    if (!res.headersSent) res.writeHead(502).end();
    else res.destroy();
  });
  // A client that gives up (an aborted long poll) takes the upstream request with it.
  res.on('close', () => {
    if (!res.writableFinished) outgoing.destroy();
  });
  req.pipe(outgoing);
}

async function answer(
  req: IncomingMessage,
  res: ServerResponse,
  handle: (input: Record<string, unknown>) => Promise<unknown>,
): Promise<void> {
  const requestId = randomUUID();
  const send = (statusCode: number, body: unknown, headers: Record<string, string> = {}) => {
    const json = JSON.stringify(body);
    res.writeHead(statusCode, {
      'Content-Type': 'application/x-amz-json-1.0',
      'Content-Length': Buffer.byteLength(json),
      'x-amzn-RequestId': requestId,
      ...headers,
    });
    res.end(json);
  };
  try {
    const input = await readJson(req);
    send(200, await handle(input));
  } catch (cause) {
    // Anything unplanned (fauxqs unreachable, say) is SQS's own 500, not a dropped connection.
    const error =
      cause instanceof SqsFault ? cause : new SqsFault('InternalError', (cause as Error).message, 500);
    send(
      error.statusCode,
      { __type: `com.amazonaws.sqs#${error.code}`, message: error.message },
      { 'x-amzn-query-error': `${error.code};${error.statusCode >= 500 ? 'Receiver' : 'Sender'}` },
    );
  }
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new SqsFault('SerializationException', 'Request body too large');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    const parsed: unknown = text ? JSON.parse(text) : {};
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
      return parsed as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new SqsFault('SerializationException', 'Request body is not a JSON object');
}

// --- The three actions -------------------------------------------------------------------------

const sourceNotFound = () =>
  new SqsFault(
    'ResourceNotFoundException',
    "The resource that you specified for the SourceArn parameter doesn't exist.",
    404,
  );

async function startTask(context: Context, input: Record<string, unknown>) {
  if (context.stopping) throw new SqsFault('ServiceUnavailable', 'The stand-in is stopping', 503);
  const sourceArn = requiredString(input, 'SourceArn');
  const destinationArn = optionalString(input, 'DestinationArn');
  const maxPerSecond = input.MaxNumberOfMessagesPerSecond;
  if (
    maxPerSecond !== undefined &&
    maxPerSecond !== null &&
    !(Number.isInteger(maxPerSecond) && (maxPerSecond as number) >= 1 && (maxPerSecond as number) <= 500)
  ) {
    throw new SqsFault(
      'InvalidParameterValue',
      'Value for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: Must be between 1 and 500.',
    );
  }

  const queues = await listQueues(context.sqs);
  const source = queues.get(sourceArn);
  if (!source) throw sourceNotFound();
  const sourcesOfDlq = [...queues.values()].filter((q) => q.deadLetterTargetArn === sourceArn);
  if (sourcesOfDlq.length === 0) {
    throw new SqsFault('InvalidParameterValue', 'Source queue must be configured as a Dead Letter Queue.');
  }
  let destination: QueueInfo | undefined;
  if (destinationArn) {
    destination = queues.get(destinationArn);
    if (!destination) {
      throw new SqsFault(
        'ResourceNotFoundException',
        "The resource that you specified for the DestinationArn parameter doesn't exist.",
        404,
      );
    }
    if (destinationArn === sourceArn) {
      throw new SqsFault(
        'InvalidParameterValue',
        'Source queue arn and destination queue arn cannot be the same.',
      );
    }
  } else if (sourcesOfDlq.length === 1) {
    destination = sourcesOfDlq[0];
  } else {
    throw new SqsFault(
      'UnsupportedOperation',
      `This local stand-in cannot tell which of the ${sourcesOfDlq.length} source queues of this dead-letter ` +
        'queue each message came from; give a DestinationArn.',
    );
  }
  if (!destination) throw sourceNotFound();
  if (destination.fifo !== source.fifo) {
    throw new SqsFault(
      'InvalidParameterValue',
      'The source queue and destination queue must be of the same type.',
    );
  }

  const { Attributes } = await context.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: source.url, AttributeNames: ['ApproximateNumberOfMessages'] }),
  );
  // The checks and the registration share one tick, so two concurrent Starts cannot both pass.
  if (context.stopping) throw new SqsFault('ServiceUnavailable', 'The stand-in is stopping', 503);
  const history = context.tasks.get(sourceArn) ?? [];
  if (history.some((task) => task.status === 'RUNNING' || task.status === 'CANCELLING')) {
    throw new SqsFault(
      'InvalidParameterValue',
      'There is already a task running. Only one active task is allowed for a source queue arn at a given time.',
    );
  }
  const taskId = randomUUID();
  const task: MoveTask = {
    taskId,
    handle: Buffer.from(JSON.stringify({ taskId, sourceArn })).toString('base64'),
    sourceArn,
    sourceUrl: source.url,
    ...(destinationArn && { destinationArn }),
    destinationUrl: destination.url,
    fifo: source.fifo,
    ...(typeof maxPerSecond === 'number' && { maxPerSecond }),
    status: 'RUNNING',
    moved: 0,
    toMove: Number(Attributes?.ApproximateNumberOfMessages ?? 0),
    startedAt: Date.now(),
    abort: new AbortController(),
  };
  context.tasks.set(sourceArn, [task, ...history].slice(0, KEEP_TASKS));
  task.done = run(context, task);
  return { TaskHandle: task.handle };
}

async function listTasks(context: Context, input: Record<string, unknown>) {
  const sourceArn = requiredString(input, 'SourceArn');
  const maxResults = input.MaxResults ?? 1;
  if (!Number.isInteger(maxResults) || (maxResults as number) < 1 || (maxResults as number) > 10) {
    throw new SqsFault(
      'InvalidParameterValue',
      'Value for parameter MaxResults is invalid. Reason: Must be between 1 and 10.',
    );
  }
  if (!(await listQueues(context.sqs)).has(sourceArn)) throw sourceNotFound();
  const tasks = (context.tasks.get(sourceArn) ?? []).slice(0, maxResults as number);
  return { Results: tasks.map(toEntry) };
}

async function cancelTask(context: Context, input: Record<string, unknown>) {
  const handle = requiredString(input, 'TaskHandle');
  const decoded = decodeHandle(handle);
  if (!decoded) throw new SqsFault('InvalidParameterValue', 'Value for parameter TaskHandle is invalid.');
  if (!(await listQueues(context.sqs)).has(decoded.sourceArn)) throw sourceNotFound();
  const task = context.tasks.get(decoded.sourceArn)?.find((t) => t.taskId === decoded.taskId);
  if (!task) throw new SqsFault('ResourceNotFoundException', 'Task does not exist.', 404);
  if (task.status !== 'RUNNING') {
    throw new SqsFault('UnsupportedOperation', 'Only a task with status RUNNING can be cancelled.');
  }
  task.status = 'CANCELLING';
  task.abort.abort();
  return { ApproximateNumberOfMessagesMoved: task.moved };
}

/** ListMessageMoveTasks shows the handle of running tasks only, and optional fields only when set. */
function toEntry(task: MoveTask) {
  return {
    ...(task.status === 'RUNNING' && { TaskHandle: task.handle }),
    Status: task.status,
    SourceArn: task.sourceArn,
    ...(task.destinationArn && { DestinationArn: task.destinationArn }),
    ...(task.maxPerSecond !== undefined && { MaxNumberOfMessagesPerSecond: task.maxPerSecond }),
    ApproximateNumberOfMessagesMoved: task.moved,
    ApproximateNumberOfMessagesToMove: task.toMove,
    ...(task.failureReason && { FailureReason: task.failureReason }),
    StartedTimestamp: task.startedAt,
  };
}

// --- Moving ------------------------------------------------------------------------------------

async function run(context: Context, task: MoveTask): Promise<void> {
  const signal = task.abort.signal;
  const interval = task.maxPerSecond ? 1000 / task.maxPerSecond : 0;
  const batchSize = Math.min(10, task.maxPerSecond ?? 10);
  let pending: Message[] = [];
  try {
    while (!signal.aborted && task.moved < task.toMove) {
      const { Messages } = await context.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: task.sourceUrl,
          MaxNumberOfMessages: Math.min(batchSize, task.toMove - task.moved),
          WaitTimeSeconds: 0,
          VisibilityTimeout: RECEIVE_VISIBILITY_SECONDS,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['All'],
        }),
        { abortSignal: signal },
      );
      if (!Messages?.length) break;
      pending = [...Messages];
      // In receive order: a FIFO group's messages keep their order in the destination.
      while (pending.length > 0) {
        if (interval > 0) await sleep(task.startedAt + task.moved * interval - Date.now(), signal);
        if (signal.aborted) break;
        const message = pending[0] as Message;
        // Once a message is sent, its delete goes through even if the task is being cancelled.
        await context.sqs.send(new SendMessageCommand(toSend(task, message)));
        await context.sqs.send(
          new DeleteMessageCommand({ QueueUrl: task.sourceUrl, ReceiptHandle: message.ReceiptHandle }),
        );
        pending.shift();
        task.moved++;
      }
    }
    task.status = signal.aborted ? 'CANCELLED' : 'COMPLETED';
  } catch (error) {
    if (signal.aborted) task.status = 'CANCELLED';
    else {
      task.status = 'FAILED';
      task.failureReason = failureReason(error);
      context.log(`sqs-move-tasks: task ${task.taskId} failed: ${(error as Error).message}`);
    }
  } finally {
    // Received but not moved (cancelled mid-batch): back to the DLQ at once, not after the timeout.
    await Promise.allSettled(
      pending.map((message) =>
        context.sqs.send(
          new ChangeMessageVisibilityCommand({
            QueueUrl: task.sourceUrl,
            ReceiptHandle: message.ReceiptHandle,
            VisibilityTimeout: 0,
          }),
        ),
      ),
    );
  }
}

function toSend(task: MoveTask, message: Message) {
  const traceHeader = message.Attributes?.AWSTraceHeader;
  return {
    QueueUrl: task.destinationUrl,
    MessageBody: message.Body,
    ...(message.MessageAttributes && { MessageAttributes: message.MessageAttributes }),
    ...(traceHeader && {
      MessageSystemAttributes: { AWSTraceHeader: { DataType: 'String', StringValue: traceHeader } },
    }),
    ...(task.fifo && {
      MessageGroupId: message.Attributes?.MessageGroupId,
      MessageDeduplicationId: message.MessageId,
    }),
  };
}

/** SQS reports the legacy query error code, e.g. AWS.SimpleQueueService.NonExistentQueue. */
function failureReason(error: unknown): string {
  const name = (error as Error).name;
  return name === 'QueueDoesNotExist' ? 'AWS.SimpleQueueService.NonExistentQueue' : name || 'InternalError';
}

// --- Helpers -----------------------------------------------------------------------------------

/** Every queue fauxqs has, by ARN (fauxqs lists every region's). */
async function listQueues(sqs: SQSClient): Promise<Map<string, QueueInfo>> {
  const urls: string[] = [];
  let NextToken: string | undefined;
  do {
    const page = await sqs.send(new ListQueuesCommand({ ...(NextToken && { NextToken }) }));
    urls.push(...(page.QueueUrls ?? []));
    NextToken = page.NextToken;
  } while (NextToken);
  const queues = await Promise.all(
    urls.map(async (url): Promise<QueueInfo | undefined> => {
      const { Attributes } = await sqs
        .send(
          new GetQueueAttributesCommand({
            QueueUrl: url,
            AttributeNames: ['QueueArn', 'FifoQueue', 'RedrivePolicy'],
          }),
        )
        .catch(() => ({ Attributes: undefined })); // deleted meanwhile
      if (!Attributes?.QueueArn) return undefined;
      return {
        url,
        arn: Attributes.QueueArn,
        fifo: Attributes.FifoQueue === 'true',
        ...deadLetterTarget(Attributes.RedrivePolicy),
      };
    }),
  );
  return new Map(queues.filter((q) => q !== undefined).map((q) => [q.arn, q]));
}

function deadLetterTarget(redrivePolicy: string | undefined): { deadLetterTargetArn?: string } {
  if (!redrivePolicy) return {};
  try {
    const { deadLetterTargetArn } = JSON.parse(redrivePolicy) as { deadLetterTargetArn?: unknown };
    return typeof deadLetterTargetArn === 'string' ? { deadLetterTargetArn } : {};
  } catch {
    return {};
  }
}

function decodeHandle(handle: string): { taskId: string; sourceArn: string } | undefined {
  try {
    const decoded = JSON.parse(Buffer.from(handle, 'base64').toString('utf8')) as Record<string, unknown>;
    return typeof decoded.taskId === 'string' && typeof decoded.sourceArn === 'string'
      ? { taskId: decoded.taskId, sourceArn: decoded.sourceArn }
      : undefined;
  } catch {
    return undefined;
  }
}

function requiredString(input: Record<string, unknown>, name: string): string {
  const value = input[name];
  if (value === undefined || value === null || value === '') {
    throw new SqsFault('MissingParameter', `The request must contain the parameter ${name}.`);
  }
  if (typeof value !== 'string') {
    throw new SqsFault('InvalidParameterValue', `Value for parameter ${name} is invalid.`);
  }
  return value;
}

function optionalString(input: Record<string, unknown>, name: string): string | undefined {
  return input[name] === undefined || input[name] === null ? undefined : requiredString(input, name);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
