// The live dashboard: one WebSocket for pushes (events, alerts, minute metrics) and the management
// API for what is listed or acted on (alerts, dead and quarantined events, queues). No framework:
// the page is small.
import { currentToken, renderSignIn } from './sign-in.js';
import uPlot from './uPlot.esm.js';

const PROVIDERS = ['hubspot', 'shopify', 'salesforce'];
const COLORS = { hubspot: '#ff7a59', shopify: '#5e8e3e', salesforce: '#00a1e0' };
const FEED_LIMIT = 200;
const CHART_POINTS = 60;
const REFRESH_MS = 15_000;
const MAX_BACKOFF_MS = 30_000;

const $ = (id) => document.getElementById(id);
const state = {
  config: undefined,
  token: undefined,
  /** `{ user_id, operator }` from GET /api/webhooks/me: operators see every owner's data. */
  me: undefined,
  socket: undefined,
  attempts: 0,
  everOpened: false,
  feed: [],
  filter: '',
  series: { minutes: new Map() },
  charts: {},
  timer: undefined,
};

main().catch((error) => setConnection('closed', `Could not start: ${error.message}`));

async function main() {
  state.config = await (await fetch('config.json', { cache: 'no-store' })).json();
  // Managed login in AWS (web/sign-in.js); a pasted or linked token on the local stack.
  state.token =
    (await currentToken(state.config)) ?? tokenFromLocation() ?? sessionStorage.getItem('token') ?? undefined;
  $('sign-in').addEventListener('submit', (event) => {
    event.preventDefault();
    signIn($('token-input').value.trim());
  });
  $('feed-provider').addEventListener('change', (event) => {
    state.filter = event.target.value;
    renderFeed();
  });
  if (state.token) signIn(state.token);
  else showSignIn();
}

/** `?token=` or `#token=`: kept for the session, then taken out of the address bar and history. */
function tokenFromLocation() {
  const url = new URL(location.href);
  const hash = new URLSearchParams(url.hash.slice(1));
  const token = url.searchParams.get('token') ?? hash.get('token');
  if (!token) return undefined;
  url.searchParams.delete('token');
  // Without the fragment too: the token should not stay in the address bar or the history.
  history.replaceState(null, '', url.pathname + url.search);
  return token;
}

function showSignIn(message = '') {
  $('panels').hidden = true;
  $('sign-in').hidden = false;
  $('sign-in-error').textContent = message;
  renderSignIn(state.config);
  if (!state.config.signIn) $('token-input').focus();
  setConnection('closed', 'Signed out');
}

async function signIn(token) {
  state.token = token;
  const me = await api('/api/webhooks/me').catch((error) => error);
  if (me instanceof Error) {
    sessionStorage.removeItem('token');
    return showSignIn(me.status === 401 ? 'That token is not valid (or has expired).' : me.message);
  }
  state.me = me;
  // The page asks only for what its user may see: the alerts and queues panels are operators'.
  document.body.toggleAttribute('data-operator', me.operator);
  sessionStorage.setItem('token', token);
  $('sign-in').hidden = true;
  $('panels').hidden = false;
  setupCharts();
  connect();
  refresh();
  loadRecentEvents();
  loadMetricsHistory();
  clearInterval(state.timer);
  state.timer = setInterval(refresh, REFRESH_MS);
}

// --- WebSocket: subscribe, reconnect with backoff -------------------------------------------------

function connect() {
  const url = `${state.config.websocketUrl}?token=${encodeURIComponent(state.token)}`;
  setConnection('connecting', 'Connecting…');
  const socket = new WebSocket(url);
  state.socket = socket;
  socket.addEventListener('open', () => {
    state.attempts = 0;
    state.everOpened = true;
    socket.send(
      JSON.stringify({
        type: 'subscribe',
        // batch: the pushes of one processor batch arrive as one `batch` message.
        data: { events: ['webhook-event', 'webhook-alert', 'webhook-metrics-update'], batch: true },
      }),
    );
    setConnection('open', 'Live');
  });
  socket.addEventListener('message', (message) => onMessage(message.data));
  socket.addEventListener('close', () => {
    if (state.socket !== socket) return;
    reconnectLater();
  });
}

/** Exponential backoff with jitter, 1 s doubling up to 30 s; a refused token goes back to sign-in. */
async function reconnectLater() {
  if (!state.everOpened && state.attempts === 0) {
    const check = await api('/api/webhooks/me').catch((error) => error);
    if (check instanceof Error && check.status === 401) return showSignIn('The token was refused.');
  }
  const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** state.attempts) * (0.5 + Math.random() / 2);
  state.attempts++;
  setConnection('retrying', `Reconnecting in ${Math.ceil(delay / 1000)} s…`);
  setTimeout(connect, delay);
}

function onMessage(text) {
  let message;
  try {
    message = JSON.parse(text);
  } catch {
    return;
  }
  if (message.type === 'batch' && Array.isArray(message.data)) message.data.forEach(onPush);
  else onPush(message);
}

function onPush(message) {
  if (message.type === 'webhook-event') addEvent(message.data, message.timestamp);
  else if (message.type === 'webhook-alert' && state.me?.operator) refreshAlerts();
  else if (message.type === 'webhook-metrics-update') addMetrics(message.data);
}

function setConnection(stateName, text) {
  const element = $('connection');
  element.dataset.state = stateName;
  element.textContent = text;
}

// --- Live events -----------------------------------------------------------------------------------

/**
 * A push of a delivery: it goes to the top of the feed, replacing what the feed said of it (a
 * failed attempt, then processed). The dead and quarantined lists follow: a push that is one of
 * theirs, or that changes one of their items (a replayed dead event processed), refreshes them.
 */
function addEvent(data, timestamp) {
  state.feed = [
    { ...data, at: data.processedAt ?? timestamp },
    ...state.feed.filter((event) => event.id !== data.id),
  ];
  state.feed.length = Math.min(state.feed.length, FEED_LIMIT);
  renderFeed();
  if (data.status === 'dead' || listed('dead', data.id)) refreshDead();
  if (data.status === 'quarantined' || listed('quarantined', data.id)) refreshQuarantined();
}

/** Whether a list of the page shows the delivery. */
function listed(list, id) {
  return [...$(list).children].some((element) => element.dataset.id === id);
}

/** The feed starts with the latest deliveries the user may see from the event log; pushes add to it. */
async function loadRecentEvents() {
  const result = await api(`/api/webhooks/events?limit=${FEED_LIMIT}`).catch(() => undefined);
  if (!result) return;
  const known = new Set(state.feed.map((event) => event.id));
  const history = result.events
    .filter((event) => !known.has(event.id))
    .map((event) => ({
      id: event.id,
      ownerId: event.owner_id,
      provider: event.provider,
      eventType: event.event_type,
      objectType: event.object_type,
      objectId: event.object_id,
      deliveryId: event.delivery_id,
      status: event.status,
      receivedAt: event.received_at,
      processedAt: event.processed_at ?? undefined,
      at: event.processed_at ?? event.received_at,
    }));
  state.feed = [...state.feed, ...history].slice(0, FEED_LIMIT);
  renderFeed();
}

function renderFeed() {
  const rows = state.feed.filter((event) => !state.filter || event.provider === state.filter);
  const body = $('feed').tBodies[0];
  body.replaceChildren(
    ...rows.map((event) => {
      const latency =
        event.receivedAt && event.processedAt
          ? Date.parse(event.processedAt) - Date.parse(event.receivedAt)
          : undefined;
      return row([
        time(event.at),
        event.provider,
        event.eventType,
        `${event.objectType ?? ''} ${event.objectId ?? ''}`.trim(),
        [event.ownerId ?? '', 'operator-only'],
        [event.status, `status-${event.status}`],
        [latency === undefined ? '' : `${latency} ms`, 'num'],
      ]);
    }),
  );
  $('feed-empty').hidden = rows.length > 0;
}

// --- Minute metrics --------------------------------------------------------------------------------

function setupCharts() {
  if (state.charts.volume) return;
  const make = (id, key) => {
    const element = $(id);
    const chart = new uPlot(
      {
        width: Math.max(240, element.clientWidth),
        height: 180,
        series: [
          {},
          ...PROVIDERS.map((provider) => ({ label: provider, stroke: COLORS[provider], width: 2 })),
        ],
        axes: [{}, { size: 48 }],
        legend: { live: false },
      },
      [[], ...PROVIDERS.map(() => [])],
      element,
    );
    state.charts[key] = chart;
  };
  make('chart-volume', 'volume');
  make('chart-success', 'success');
  make('chart-time', 'processing');
  new ResizeObserver(() => {
    for (const [key, chart] of Object.entries(state.charts)) {
      const element = chart.root.parentElement;
      if (element) state.charts[key].setSize({ width: Math.max(240, element.clientWidth), height: 180 });
    }
  }).observe($('chart-volume').parentElement.parentElement);
}

/**
 * One push per provider and minute (`lastMinute`: the last complete minute). A user charts their own
 * figures; an operator the all-owners ones (the other owners' pushes they also get are not charted).
 * The charts keep the latest CHART_POINTS minutes, a series per provider.
 */
function addMetrics(data) {
  if (!data?.minute || !PROVIDERS.includes(data.provider)) return;
  const charted = state.me?.operator
    ? data.scope === 'all'
    : data.scope === 'owner' && data.ownerId === state.me?.user_id;
  if (charted) chartMinute(data.minute, data.provider, data.lastMinute);
}

/**
 * The charts start from the minute history (webhook_metrics, GET /api/webhooks/metrics): the last
 * hour of the user's own figures, or for an operator every owner's together. Pushes add to it.
 */
async function loadMetricsHistory() {
  const result = await api('/api/webhooks/metrics?time_range=1h').catch(() => undefined);
  for (const row of result?.metrics ?? []) {
    if (!PROVIDERS.includes(row.provider)) continue;
    chartMinute(row.minute.slice(0, 16), row.provider, {
      total_events: row.total_events,
      success_rate: row.success_rate,
      average_processing_time_ms: row.average_processing_time,
    });
  }
}

function chartMinute(minute, provider, figures) {
  const minutes = state.series.minutes;
  const ofMinute = minutes.get(minute) ?? {};
  ofMinute[provider] = figures;
  minutes.set(minute, ofMinute);
  const keys = [...minutes.keys()].sort().slice(-CHART_POINTS);
  for (const key of [...minutes.keys()]) if (!keys.includes(key)) minutes.delete(key);
  const x = keys.map((key) => Date.parse(`${key}:00Z`) / 1000);
  const column = (field) =>
    PROVIDERS.map((name) => keys.map((key) => minutes.get(key)?.[name]?.[field] ?? null));
  state.charts.volume?.setData([x, ...column('total_events')]);
  state.charts.success?.setData([x, ...column('success_rate')]);
  state.charts.processing?.setData([x, ...column('average_processing_time_ms')]);
  $('metrics-empty').hidden = true;
}

// --- Alerts, dead events, queues (management API) ---------------------------------------------------

function refresh() {
  refreshDead();
  refreshRejections();
  refreshQuarantined();
  if (!state.me?.operator) return;
  refreshAlerts();
  refreshQueues();
}

async function refreshAlerts() {
  const result = await api('/api/webhooks/alerts?acknowledged=false&limit=20').catch((error) => error);
  const list = $('alerts');
  if (result instanceof Error) return note(list, $('alerts-empty'), `Alerts unavailable: ${result.message}`);
  list.replaceChildren(
    ...result.alerts.map((alert) =>
      item(
        [alert.message, `severity-${alert.severity}`],
        `${alert.provider} · ${alert.metric} ${alert.current_value} (threshold ${alert.threshold}) · ${time(alert.created_at)}`,
        button('Acknowledge', `Acknowledge alert: ${alert.message}`, async () => {
          await api(`/api/webhooks/alerts/${encodeURIComponent(alert.id)}/acknowledge`, { method: 'POST' });
          await refreshAlerts();
        }),
      ),
    ),
  );
  $('alerts-empty').textContent = 'No open alerts.';
  $('alerts-empty').hidden = result.alerts.length > 0;
}

async function refreshDead() {
  await refreshList('dead', 'Dead events', (event) =>
    item(
      `${event.provider} ${event.event_type} · ${event.object_type} ${event.object_id}`,
      `${event.error_category ?? ''}: ${event.error_message ?? ''} · ${event.attempts} attempts · ${time(event.received_at)}`,
      button('Replay', `Replay ${event.event_type} ${event.object_id}`, async () => {
        await api(`/api/webhooks/events/${encodeURIComponent(event.id)}/replay`, { method: 'POST' });
        await refreshDead();
      }),
    ),
  );
}

/** Verified deliveries the parser refused: Replay parses them again (once the parser is fixed). */
async function refreshQuarantined() {
  await refreshList('quarantined', 'Quarantined events', (event) =>
    item(
      `${event.provider} ${event.event_type ?? '(no event type)'} · ${event.payload_bytes ?? 0} bytes`,
      `${event.error_message ?? ''} · ${event.receipts} received · ${time(event.received_at)}`,
      button('Replay', `Parse again and replay quarantined ${event.provider} delivery`, async () => {
        await api(`/api/webhooks/events/${encodeURIComponent(event.id)}/replay`, { method: 'POST' });
        await refreshQuarantined();
      }),
    ),
  );
}

/** One of the page's lists of deliveries of a status, newest first, each item tagged with its id. */
async function refreshList(status, title, render) {
  const result = await api(`/api/webhooks/events?status=${status}&limit=20`).catch((error) => error);
  const list = $(status);
  if (result instanceof Error)
    return note(list, $(`${status}-empty`), `${title} unavailable: ${result.message}`);
  list.replaceChildren(
    ...result.events.map((event) => {
      const element = render(event);
      element.dataset.id = event.id;
      return element;
    }),
  );
  $(`${status}-empty`).textContent = `No ${title.toLowerCase()}.`;
  $(`${status}-empty`).hidden = result.events.length > 0;
}

/** Refused deliveries of the last 24 h, counted per cause (README "Reading a rejection"), and the latest few. */
async function refreshRejections() {
  const result = await api('/api/webhooks/rejections?time_range=24h&limit=5').catch((error) => error);
  const body = $('rejections').tBodies[0];
  const list = $('rejections-latest');
  const empty = $('rejections-empty');
  if (result instanceof Error) {
    body.replaceChildren();
    return note(list, empty, `Rejections unavailable: ${result.message}`);
  }
  const causes = Object.entries(result.counts.by_cause).sort(([, a], [, b]) => b - a);
  body.replaceChildren(...causes.map(([cause, count]) => row([cause, [String(count), 'num']])));
  list.replaceChildren(
    ...result.rejections.map((rejection) =>
      item(
        `${rejection.status} ${rejection.cause}`,
        `${rejection.provider} · ${rejection.config_id ?? 'provider-wide'} · from ${rejection.source_ip} · ${time(rejection.received_at)} · ${rejection.message}`,
        document.createTextNode(''),
      ),
    ),
  );
  empty.textContent = 'No rejected deliveries in the last 24 hours.';
  empty.hidden = result.counts.total > 0;
  $('rejections').hidden = result.counts.total === 0;
}

async function refreshQueues() {
  const result = await api('/api/webhooks/dlq').catch((error) => error);
  const body = $('queues').tBodies[0];
  const noteElement = $('queues-note');
  if (result instanceof Error) {
    body.replaceChildren();
    noteElement.hidden = false;
    noteElement.textContent = `Queues unavailable: ${result.message}`;
    return;
  }
  noteElement.hidden = true;
  body.replaceChildren(
    ...result.queues.map((queue) => {
      const task = queue.tasks[0];
      return row([
        queue.priority,
        [
          queue.queue_in_flight
            ? `${queue.queue_depth} (+${queue.queue_in_flight} in flight)`
            : String(queue.queue_depth),
          'num',
        ],
        [String(queue.dlq_depth), 'num'],
        task ? `${task.status} ${task.messages_moved}/${task.messages_to_move ?? '?'}` : 'never',
      ]);
    }),
  );
}

// --- Helpers ---------------------------------------------------------------------------------------

async function api(path, init = {}) {
  const response = await fetch(`${state.config.apiBaseUrl}${path}`, {
    ...init,
    headers: { Authorization: `Bearer ${state.token}`, ...(init.headers ?? {}) },
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.error?.message ?? `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

function row(cells) {
  const tr = document.createElement('tr');
  for (const cell of cells) {
    const [text, className] = Array.isArray(cell) ? cell : [cell];
    const td = document.createElement('td');
    td.textContent = text ?? '';
    if (className) td.className = className;
    tr.append(td);
  }
  return tr;
}

function item(title, meta, action) {
  const li = document.createElement('li');
  const [text, className] = Array.isArray(title) ? title : [title];
  const strong = document.createElement('strong');
  strong.textContent = text;
  if (className) strong.className = className;
  const small = document.createElement('span');
  small.className = 'meta';
  small.textContent = meta;
  li.append(strong, small, action);
  return li;
}

function button(text, label, onClick) {
  const element = document.createElement('button');
  element.type = 'button';
  element.textContent = text;
  element.setAttribute('aria-label', label);
  element.addEventListener('click', async () => {
    element.disabled = true;
    await onClick().catch((error) => {
      element.textContent = `${text} failed: ${error.message}`;
    });
    element.disabled = false;
  });
  return element;
}

function note(list, element, text) {
  list.replaceChildren();
  element.hidden = false;
  element.textContent = text;
}

function time(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? '' : date.toLocaleTimeString();
}
