/**
 * On-call tasks against the management API of the local stack (default) or a deployed one:
 *   npm run oncall -- dead [--owner O] [--provider P] [--limit N]   dead events of every owner, newest first
 *   npm run oncall -- events [--owner O] [--status S] [--provider P] [--type T] [--range 1h|24h|7d] [--limit N]
 *   npm run oncall -- quarantined [--owner O] [--provider P] [--limit N]   quarantined events
 *   npm run oncall -- replay <event-id>                   enqueue a stored event again (a quarantined one: parse it again)
 *   npm run oncall -- ledger [--range 1h|24h|7d | --since T --until T] [--owner O]   how the deliveries ended
 *   npm run oncall -- dlq                                 DLQ depth and redrive tasks per priority
 *   npm run oncall -- redrive <high|medium|low> [--rate N] move a DLQ back to its queue
 *   npm run oncall -- login --url <DashboardUrl>           sign in (managed login), cache the tokens
 * Options: --url (or WEBHOOKS_API_URL; default http://localhost:$PORT; in AWS the DashboardUrl,
 * which serves the API under /api), --token (or WEBHOOKS_TOKEN; else the tokens `login` cached;
 * locally a dev token for --user, default `oncall`, in the operators group is minted).
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { cachedToken, type LoginIo, login, type TokenStore } from './oncall-login';

export interface OncallIo {
  fetch: typeof fetch;
  out: (line: string) => void;
  env: Record<string, string | undefined>;
  /** Mints a local dev token (only used when no token is given and the URL is local). */
  devToken?: (userId: string) => Promise<string>;
  /** Tokens cached by `login`, per dashboard. */
  store?: TokenStore;
  /** Where `login` waits for the redirect (tests). */
  callbackUrl?: LoginIo['callbackUrl'];
}

const USAGE = `Usage: npm run oncall -- <login|dead|quarantined|events|replay <id>|ledger|dlq|redrive <priority>> [options]
  --url URL        the stack's DashboardUrl, or the local stack (WEBHOOKS_API_URL; default http://localhost:3000)
  --token JWT      bearer token (WEBHOOKS_TOKEN; else the tokens of \`login\`; minted for the local stack)
  --user ID        user of the minted local token (default oncall)
  --owner O --provider P --status S --type T --range 1h|24h|7d --limit N   filters of dead/quarantined/events
                   (operators see every owner; --owner system: the provider-wide endpoints)
  --since T --until T   the ledger's window (ISO 8601; default the last 24 hours, or --range)
  --rate N         redrive messages per second`;

/** Runs one command; returns the process exit code (0 ok, 1 API error, 2 usage). */
export async function runOncall(argv: string[], io: OncallIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    io.out(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, argument] = positionals;
  const base = (values.url ?? io.env.WEBHOOKS_API_URL ?? `http://localhost:${io.env.PORT ?? 3000}`).replace(
    /\/+$/,
    '',
  );
  if (command === 'login') {
    if (!io.store) {
      io.out('No token cache to sign in to.');
      return 2;
    }
    try {
      const session = await login(base, {
        fetch: io.fetch,
        out: io.out,
        store: io.store,
        callbackUrl: io.callbackUrl,
      });
      io.out(`Signed in until ${new Date(session.expiresAt).toISOString()} (renewed for up to 12 hours).`);
      return 0;
    } catch (error) {
      io.out((error as Error).message);
      return 1;
    }
  }
  const token =
    values.token ??
    io.env.WEBHOOKS_TOKEN ??
    (await localToken(base, values.user ?? 'oncall', io)) ??
    (io.store && (await cachedToken(base, { fetch: io.fetch, store: io.store })));
  if (!token) {
    io.out(
      `Not signed in to ${base}: npm run oncall -- login --url ${base} (or --token with a Cognito ID token).`,
    );
    return 2;
  }
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await io.fetch(`${base}/api/webhooks${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    if (!response.ok) {
      const error = json.error as { code?: string; message?: string } | undefined;
      throw new Error(`HTTP ${response.status} ${error?.code ?? ''}: ${error?.message ?? 'request failed'}`);
    }
    return json;
  };

  try {
    switch (command) {
      case 'dead':
      case 'quarantined':
      case 'events': {
        const query = new URLSearchParams();
        const status = command === 'events' ? values.status : command;
        for (const [name, value] of [
          ['owner', values.owner],
          ['status', status],
          ['provider', values.provider],
          ['event_type', values.type],
          ['time_range', values.range],
          ['limit', values.limit],
        ] as const)
          if (value) query.set(name, value);
        const { events } = (await call('GET', `/events?${query}`)) as { events: Record<string, unknown>[] };
        if (events.length === 0) io.out(command === 'events' ? 'No events.' : `No ${command} events.`);
        for (const event of events) io.out(eventLine(event));
        return 0;
      }
      case 'replay': {
        if (!argument) break;
        const { replay } = (await call('POST', `/events/${encodeURIComponent(argument)}/replay`)) as {
          replay: { replay_id: string };
        };
        io.out(`Queued replay ${replay.replay_id} of ${argument}`);
        return 0;
      }
      case 'ledger': {
        const query = new URLSearchParams();
        for (const [name, value] of [
          ['owner', values.owner],
          ['time_range', values.range],
          ['since', values.since],
          ['until', values.until],
        ] as const)
          if (value) query.set(name, value);
        for (const line of ledgerLines(await call('GET', `/ledger?${query}`))) io.out(line);
        return 0;
      }
      case 'dlq': {
        const { queues } = (await call('GET', '/dlq')) as { queues: Record<string, unknown>[] };
        for (const queue of queues) io.out(queueLine(queue));
        return 0;
      }
      case 'redrive': {
        if (!argument) break;
        const rate = values.rate === undefined ? undefined : Number(values.rate);
        const { task } = (await call('POST', '/dlq/redrive', {
          priority: argument,
          ...(rate === undefined ? {} : { max_messages_per_second: rate }),
        })) as { task: Record<string, unknown> };
        io.out(
          `Redrive of the ${argument} DLQ: ${String(task.status)} (task ${String(task.task_handle ?? '-')})`,
        );
        io.out('Follow it with: npm run oncall -- dlq');
        return 0;
      }
    }
  } catch (error) {
    io.out((error as Error).message);
    return 1;
  }
  io.out(USAGE);
  return 2;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      user: { type: 'string' },
      owner: { type: 'string' },
      provider: { type: 'string' },
      status: { type: 'string' },
      type: { type: 'string' },
      range: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      limit: { type: 'string' },
      rate: { type: 'string' },
    },
    allowPositionals: true,
  });
}

/** Only a local stack trusts dev tokens; a deployed API needs a real one. */
async function localToken(base: string, user: string, io: OncallIo): Promise<string | undefined> {
  const { hostname } = new URL(base);
  if (!['localhost', '127.0.0.1', '::1', '[::1]'].includes(hostname) || !io.devToken) return undefined;
  return io.devToken(user);
}

function eventLine(event: Record<string, unknown>): string {
  const error = event.error_message
    ? `  ${String(event.error_category)}: ${String(event.error_message)}`
    : '';
  return [
    event.received_at,
    event.status,
    `x${String(event.attempts)}`,
    event.provider,
    event.event_type,
    `${String(event.object_type)}/${String(event.object_id)}`,
    `owner ${String(event.owner_id)}`,
    event.id,
  ]
    .map(String)
    .join('  ')
    .concat(error);
}

/** The ledger as a small table: every receipt, and how it ended. */
function ledgerLines(ledger: Record<string, unknown>): string[] {
  const outcomes = (ledger.processed_outcomes ?? {}) as Record<string, unknown>;
  const row = (label: string, value: unknown, note = '') =>
    `${label.padEnd(12)}${String(value).padStart(8)}${note && `  ${note}`}`;
  const inFlight = ledger.oldest_in_flight_at ? `oldest received ${String(ledger.oldest_in_flight_at)}` : '';
  return [
    `Ledger ${String(ledger.since)} .. ${String(ledger.until)} (${ledger.owner === null ? 'every owner' : `owner ${String(ledger.owner)}`})`,
    row('received', ledger.received),
    row(
      'processed',
      ledger.processed,
      `applied ${outcomes.applied}, stale ${outcomes.stale}, ignored ${outcomes.ignored}`,
    ),
    row('duplicate', ledger.duplicate),
    row(
      'quarantined',
      ledger.quarantined,
      Number(ledger.quarantined) > 0 ? 'npm run oncall -- quarantined' : '',
    ),
    row('dead', ledger.dead, Number(ledger.dead) > 0 ? 'npm run oncall -- dead' : ''),
    row('in flight', ledger.in_flight, inFlight),
    ledger.balanced
      ? 'Balanced: received = processed + duplicate + quarantined + dead + in flight.'
      : `NOT balanced: ${String(ledger.unreceipted)} entries without a receipt (received before receipts were kept, or not enqueued by ingest).`,
  ];
}

function queueLine(queue: Record<string, unknown>): string {
  const tasks = (queue.tasks as Record<string, unknown>[]) ?? [];
  const latest = tasks[0];
  const task = latest
    ? `last redrive ${String(latest.status)} ${String(latest.messages_moved)}/${String(latest.messages_to_move ?? '?')} moved`
    : 'no redrive yet';
  const waiting = `queue ${String(queue.queue_depth)} (+${String(queue.queue_in_flight)} in flight)`;
  return `${String(queue.priority).padEnd(6)}  ${waiting}  dlq depth ${String(queue.dlq_depth)}  ${task}`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { devTokenSecret } = await import('../local/dev-secret');
  const { OPERATORS_GROUP, signDevToken } = await import('../shared/auth/tokens');
  const { fileTokenStore } = await import('./oncall-login');
  process.exitCode = await runOncall(process.argv.slice(2), {
    fetch,
    out: (line) => console.log(line),
    env: process.env,
    devToken: (user) => signDevToken(devTokenSecret(), user, 3600, [OPERATORS_GROUP]),
    store: fileTokenStore(),
  });
}
