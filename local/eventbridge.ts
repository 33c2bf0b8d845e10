import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** An event the local bus accepted, as a rule target would see it. */
export interface RecordedDomainEvent {
  id: string;
  eventBusName: string;
  source: string;
  detailType: string;
  detail: Record<string, unknown>;
  time: string;
  resources: string[];
}

interface PutEventsEntry {
  EventBusName?: string;
  Source?: string;
  DetailType?: string;
  Detail?: string;
  Resources?: string[];
  Time?: number | string;
}

type EntryResult = { EventId: string } | { ErrorCode: string; ErrorMessage: string };

/** PutEvents limits: 10 entries, 256 KB per request. */
const MAX_ENTRIES = 10;
const MAX_REQUEST_BYTES = 256 * 1024;

/**
 * A local stand-in for an EventBridge custom bus: answers the AWS JSON 1.1 `AWSEvents.PutEvents`
 * call the SDK's EventBridgeClient makes (AWS_ENDPOINT_URL_EVENTBRIDGE points at it), validates the
 * entries the way the service does, and records the accepted events in `events` for tests and tools.
 */
export function createEventBridge(options: {
  busNames: readonly string[];
  /** Called with each accepted event: the rules' targets (local/workflows.ts). */
  onEvent?: (event: RecordedDomainEvent) => void;
}): {
  server: Server;
  events: RecordedDomainEvent[];
} {
  const events: RecordedDomainEvent[] = [];
  const buses = new Set(options.busNames);
  const server = createServer((request, response) => {
    readBody(request)
      .then((body) => {
        const target = request.headers['x-amz-target'];
        if (request.method !== 'POST' || target !== 'AWSEvents.PutEvents')
          return reply(response, 400, {
            __type: 'UnknownOperationException',
            message: `The local bus only serves AWSEvents.PutEvents, not ${String(target)}`,
          });
        let input: { Entries?: PutEventsEntry[] };
        try {
          input = JSON.parse(body.toString('utf8'));
        } catch {
          return reply(response, 400, { __type: 'SerializationException', message: 'Body is not JSON' });
        }
        const entries = input.Entries ?? [];
        if (entries.length < 1 || entries.length > MAX_ENTRIES)
          return reply(response, 400, {
            __type: 'ValidationException',
            message: `Entries must hold 1 to ${MAX_ENTRIES} entries, got ${entries.length}`,
          });
        const size = entries.reduce((sum, entry) => sum + entrySize(entry), 0);
        if (size > MAX_REQUEST_BYTES)
          return reply(response, 400, {
            __type: 'ValidationException',
            message: `Total size of the entries in the request (${size} bytes) is over the limit`,
          });
        const results = entries.map((entry) => accept(entry, buses, events, options.onEvent));
        reply(response, 200, {
          FailedEntryCount: results.filter((result) => 'ErrorCode' in result).length,
          Entries: results,
        });
      })
      .catch(() => reply(response, 500, { __type: 'InternalException', message: 'Request failed' }));
  });
  return { server, events };
}

function accept(
  entry: PutEventsEntry,
  buses: Set<string>,
  events: RecordedDomainEvent[],
  onEvent?: (event: RecordedDomainEvent) => void,
): EntryResult {
  const busName = entry.EventBusName ?? 'default';
  if (!buses.has(busName))
    return { ErrorCode: 'ResourceNotFoundException', ErrorMessage: `Event bus ${busName} does not exist.` };
  if (!entry.Source || !entry.DetailType || entry.Detail === undefined)
    return { ErrorCode: 'InvalidArgument', ErrorMessage: 'Source, DetailType and Detail are required.' };
  let detail: unknown;
  try {
    detail = JSON.parse(entry.Detail);
  } catch {
    return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
  }
  if (typeof detail !== 'object' || detail === null || Array.isArray(detail))
    return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail must be a JSON object.' };
  const event: RecordedDomainEvent = {
    id: randomUUID(),
    eventBusName: busName,
    source: entry.Source,
    detailType: entry.DetailType,
    detail: detail as Record<string, unknown>,
    time: new Date(typeof entry.Time === 'number' ? entry.Time * 1000 : Date.now()).toISOString(),
    resources: entry.Resources ?? [],
  };
  events.push(event);
  onEvent?.(event);
  return { EventId: event.id };
}

/** How EventBridge sizes an entry: source, detail-type, detail and resources, plus 14 bytes of time. */
function entrySize(entry: PutEventsEntry): number {
  return (
    14 +
    Buffer.byteLength(entry.Source ?? '') +
    Buffer.byteLength(entry.DetailType ?? '') +
    Buffer.byteLength(entry.Detail ?? '') +
    (entry.Resources ?? []).reduce((sum, resource) => sum + Buffer.byteLength(resource), 0)
  );
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function reply(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.1' });
  response.end(JSON.stringify(body));
}
