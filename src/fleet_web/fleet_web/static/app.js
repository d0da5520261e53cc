// The operator dashboard: a plain ES module over the fleet HTTP API (no framework, no build).
//
// Data flow: a snapshot of each panel is fetched over the API (and polled as a fallback),
// and the event stream (EventSource, opened with a stream ticket) triggers
// refetches: robot.* -> robots, mission.state -> missions, incident.* -> that incident.
// Optional APIs (incidents, SLOs) are used when the server's OpenAPI document lists them;
// otherwise their panel says so instead of calling a missing route.

import {BLOCK, FleetTable} from './fleet_table.js';

const API = '/api/v1';
const TOKEN_KEY = 'fleet.token';
const POLL_MS = {robots: 5000, missions: 5000, incidents: 10000, slos: 30000, health: 30000};
const DEBOUNCE_MS = 400;
const TELEMETRY_WINDOW_S = 15 * 60;
const TELEMETRY_STEP_S = 5;
const SEARCH_DEBOUNCE_MS = 250;  // the fleet table's search waits for a pause in typing
const ROBOT_EVENTS_SHOWN = 15;
const RESOLVED_SHOWN = 10;
const TERMINAL = new Set(['succeeded', 'failed', 'canceled']);
const SEVERITY_RANK = {SEV0: 0, SEV1: 1, SEV2: 2, SEV3: 3};
const STATE_RANK = {triggered: 0, acknowledged: 1, resolved: 2};

// The fleet table is the first thing an operator needs. The browser opens at most six
// connections to the server (one is the event stream), and the other panels' first calls
// wait on the fleet manager, so the site map and the incident tools (map.js,
// incident_ops.js, loaded after this module) hold their first calls until the table has
// been drawn once, or until FIRST_RENDER_WAIT_MS have passed, through this promise.
const FIRST_RENDER_WAIT_MS = 2000;
let fleetShown;
window.fleetFirstRender = Promise.race([
  new Promise((resolve) => { fleetShown = resolve; }),
  new Promise((resolve) => { setTimeout(resolve, FIRST_RENDER_WAIT_MS); }),
]);

const state = {
  token: null,
  session: null, // an AbortController for everything the signed-in session runs
  features: {incidents: false, slos: false},
  detailRobot: null, // the robot shown in the drill-down (read with the table, or alone)
  incidents: new Map(), // id -> incident (summary or detail)
  selected: null, // robot id shown in the drill-down
  robotTotal: undefined, // robots in the whole fleet, once read
  detailEvents: [],
  lastEventId: null,
  timers: [],
  pending: new Map(), // debounce key -> timeout id
};

// -- small helpers ----------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

/** Create an element: h('td', {class: 'x', dataset: {a: 1}, onclick: f}, child, ...). */
function h(tag, attrs = {}, ...children) {
  const svg = ['svg', 'path', 'polyline', 'circle', 'line', 'rect', 'text', 'g', 'title']
    .includes(tag);
  const el = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag)
    : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'style') Object.assign(el.style, value);
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.setAttribute('class', value);
    else if (key in el && !svg) el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Parse an API time (ISO-8601 string or epoch seconds) into ms since the epoch, or null. */
function toMs(value) {
  if (value === null || value === undefined || value === '') return null;
  if (typeof value === 'number') return value < 1e11 ? value * 1000 : value;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

function agoText(ms, now = Date.now()) {
  if (ms === null) return '—';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** A <time> that keeps saying how long ago it was (refreshed by the ticker). */
function ago(value) {
  const ms = toMs(value);
  if (ms === null) return h('span', {class: 'muted'}, '—');
  const iso = new Date(ms).toISOString();
  return h('time', {datetime: iso, title: new Date(ms).toLocaleString(),
    dataset: {rel: String(ms)}}, agoText(ms));
}

const CLOCK = new Intl.DateTimeFormat(undefined,
  {hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23'});

function clockText(value) {
  const ms = toMs(value);
  return ms === null ? '—' : CLOCK.format(ms);
}

function pct(value, digits = 0) {
  return value === null || value === undefined ? '—' : `${(value * 100).toFixed(digits)} %`;
}

function num(value, digits = 1) {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '—';
}

function shortId(id) {
  return id && id.length > 12 ? `${id.slice(0, 12)}…` : (id || '—');
}

function badge(kind, value, label = value) {
  return h('span', {class: `badge ${kind}-${String(value).replace(/[^a-z0-9_-]/gi, '')}`},
    label);
}

function showMsg(el, text, isError = false) {
  el.textContent = text || '';
  el.hidden = !text;
  el.classList.toggle('error', Boolean(isError));
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, {once: true});
  });
}

/** Run fn at most once per DEBOUNCE_MS per key (trailing). */
function debounce(key, fn, ms = DEBOUNCE_MS) {
  if (state.pending.has(key)) return;
  state.pending.set(key, setTimeout(() => { state.pending.delete(key); fn(); }, ms));
}

// -- the API ----------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message, field = null, code = '') {
    super(message);
    this.status = status;
    this.field = field;
    this.code = code;
  }

  describe() {
    return this.field ? `${this.message} (field: ${this.field})` : this.message;
  }
}

async function api(path, {method = 'GET', query = null, body = undefined} = {}) {
  const url = new URL(API + path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== null && v !== undefined && v !== '') url.searchParams.set(k, v);
  }
  const headers = {Accept: 'application/json', Authorization: `Bearer ${state.token}`};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(url, {method, headers, cache: 'no-store', signal: state.session?.signal,
      body: body === undefined ? undefined : JSON.stringify(body)});
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'the fleet API cannot be reached');
  }
  const data = await resp.json().catch(() => null);
  if (resp.ok) return data;
  const e = data?.error || {};
  const error = new ApiError(resp.status, e.message || `HTTP ${resp.status}`, e.field, e.code);
  if (resp.status === 401) signOut('The token was not accepted (401). Sign in again.');
  throw error;
}

/** Which optional routes the server has, from its OpenAPI document (a public route). */
async function detectFeatures() {
  const features = {incidents: false, slos: false};
  try {
    const resp = await fetch(`${API}/openapi.json`, {cache: 'no-store'});
    const doc = await resp.json();
    const paths = Object.keys(doc.paths || {});
    features.incidents = paths.includes(`${API}/incidents`);
    features.slos = paths.includes(`${API}/slos`);
  } catch {
    // Without the document, leave the optional panels off rather than call missing routes.
  }
  return features;
}

// -- the event stream (EventSource) --------------------------------------------------------------

function setLive(status, text) {
  $('live').dataset.status = status;
  $('live-text').textContent = text;
}

// EventSource cannot send the Authorization header: the page asks for a stream ticket (a
// short-lived credential for the stream only) and puts it in the URL. The browser reconnects
// on its own with Last-Event-ID while the ticket is valid; once the source gives up (the
// ticket expired during a long outage), a new ticket reopens it after the last id seen.
async function openStream(signal) {
  let backoff = 1000;
  while (!signal.aborted) {
    let ticket;
    try {
      ticket = await api('/events/stream-ticket', {method: 'POST'});
    } catch (err) {
      if (err.status === 401 || err.name === 'AbortError') return;
      setLive('off', 'Reconnecting…');
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, 15000);
      continue;
    }
    const url = new URL(ticket.url, location.origin);
    if (state.lastEventId !== null) url.searchParams.set('after', String(state.lastEventId));
    const source = new EventSource(url);
    state.source = source;
    source.onopen = () => { setLive('on', 'Live'); backoff = 1000; };
    source.onmessage = (msg) => {
      const id = Number(msg.lastEventId);
      if (Number.isFinite(id) && msg.lastEventId !== '') state.lastEventId = id;
      let event;
      try {
        event = JSON.parse(msg.data);
      } catch {
        return;
      }
      onEvent(event);
    };
    await new Promise((resolve) => {
      signal.addEventListener('abort', resolve, {once: true});
      source.onerror = () => {
        setLive('off', 'Reconnecting…');
        if (source.readyState === EventSource.CLOSED) resolve();
        else refreshAll(); // the browser reconnects: catch up on what polling would show
      };
    });
    source.close();
    if (signal.aborted) return;
    await sleep(backoff, signal);
    backoff = Math.min(backoff * 2, 15000);
    refreshAll();
  }
}

function onEvent(event) {
  const kind = event.kind || '';
  if (kind.startsWith('robot.')) {
    debounce('robots', loadRobots);
    if (event.robot_id && event.robot_id === state.selected) addDetailEvent(event);
  } else if (kind === 'mission.state') {
    debounce('missions', loadMissions);
    debounce('robots', loadRobots);
    if (event.robot_id && event.robot_id === state.selected) addDetailEvent(event);
  } else if (kind.startsWith('incident.')) {
    const summary = event.payload || {};
    if (summary.id) {
      mergeIncident(summary, false);
      renderIncidents();
      if (state.features.incidents) {
        debounce(`incident:${summary.id}`, () => loadIncident(summary.id));
      }
    }
    if (event.robot_id && event.robot_id === state.selected) addDetailEvent(event);
  }
}

// -- fleet table ------------------------------------------------------------------------------

// The table (fleet_table.js) draws only the rows in view and reads only those; the count
// above it is of the whole fleet, whatever the table is filtered to.
let table = null;

/** How many robots the whole fleet has (`total`, when asked for), online and stale. */
async function fleetCounts(withTotal) {
  const kinds = withTotal ? ['', 'online', 'stale'] : ['online', 'stale'];
  const totals = await Promise.all(kinds.map(async (c) =>
    (await api('/robots', {query: {limit: 1, connectivity: c}})).total));
  return Object.fromEntries(kinds.map((c, k) => [c || 'total', totals[k]]));
}

function countRows(robots) {
  const of = (c) => robots.filter((r) => r.connectivity === c).length;
  return {total: robots.length, online: of('online'), stale: of('stale')};
}

async function loadRobots() {
  try {
    // The counts are asked for with the rows (not after them), unless the whole fleet is
    // known to fit in the table's first block, where the rows count themselves.
    const fits = !table.filtered && state.robotTotal !== undefined && state.robotTotal <= BLOCK;
    const early = fits ? null : fleetCounts(table.filtered);
    early?.catch(() => {}); // awaited below when needed; its rejection is not lost there
    await table.refresh();
    const first = table.firstBlock();
    const counts = early ? await early
      : first && table.count <= first.length ? countRows(first) : await fleetCounts(false);
    state.robotTotal = counts.total ?? table.count;
    showMsg($('fleet-error'), '');
    renderCounts(counts);
    if (state.selected) refreshDetailRobot();
  } catch (err) {
    if (err.name !== 'AbortError' && err.status !== 401) {
      showMsg($('fleet-error'), `Robots could not be loaded: ${err.message}`, true);
    }
  }
}

function renderCounts({online, stale}) {
  const n = state.robotTotal;
  $('robot-count').textContent = `${n} robot${n === 1 ? '' : 's'} · ${online} online`
    + (stale ? ` · ${stale} stale` : '');
  const match = $('robot-match');
  match.hidden = !table.filtered;
  match.textContent = table.filtered ? `${table.count} of ${n} match` : '';
  fleetShown();
}

/** Filter the table to what the search box and the link filter say. */
function applyFilter() {
  const changed = table.setFilter({search: $('robot-search').value,
    connectivity: $('robot-filter').value});
  if (changed) loadRobots();
}

function batteryCell(value) {
  if (value === null || value === undefined) return h('span', {class: 'muted'}, '—');
  const level = value < 0.15 ? 'low' : value < 0.4 ? 'mid' : 'ok';
  return h('span', {class: 'battery'},
    h('span', {class: 'bar', 'aria-hidden': 'true'},
      h('span', {class: `fill ${level}`, style: {width: `${Math.round(value * 100)}%`}})),
    h('span', {class: 'value'}, pct(value)));
}

function robotRow(r) {
  const pose = r.pose || {};
  const row = h('tr', {
    class: `robot-row${r.id === state.selected ? ' selected' : ''}`,
    tabIndex: 0, dataset: {testid: 'robot-row', robotId: r.id},
    'aria-current': r.id === state.selected ? 'true' : null,
    title: `Show ${r.id}`,
    onclick: () => selectRobot(r.id),
    onkeydown: (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); selectRobot(r.id); }
    },
  },
  h('th', {scope: 'row'}, r.id, r.decommissioned ? h('span', {class: 'tag'}, 'out of service')
    : null),
  h('td', {}, badge('conn', r.connectivity)),
  h('td', {}, badge('mode', r.mode)),
  h('td', {}, batteryCell(r.battery)),
  h('td', {class: 'num'}, r.last_seen === null ? '—'
    : `${num(pose.x)}, ${num(pose.y)}, ${num(pose.theta, 2)}`),
  h('td', {}, r.software_version || '—'),
  h('td', {class: 'mono'}, r.current_mission_id ? shortId(r.current_mission_id) : '—'),
  h('td', {}, ago(r.last_seen)));
  return row;
}

function renderRobots() {
  table.render();
}

// -- robot drill-down -------------------------------------------------------------------------

function selectRobot(id) {
  state.selected = id;
  state.detailRobot = table.find(id) || null;
  state.detailEvents = [];
  renderRobots();
  const panel = $('robot-detail');
  panel.hidden = false;
  $('detail-title').textContent = `Robot ${id}`;
  $('detail-body').replaceChildren(
    h('div', {id: 'detail-status', class: 'detail-status'}),
    h('div', {class: 'charts'},
      h('figure', {class: 'chart'}, h('figcaption', {}, 'Battery'),
        h('div', {id: 'chart-battery', class: 'chart-box'})),
      h('figure', {class: 'chart'}, h('figcaption', {}, 'Path (x, y in m)'),
        h('div', {id: 'chart-path', class: 'chart-box'}))),
    h('p', {id: 'telemetry-source', class: 'muted small'}),
    h('div', {class: 'detail-cols'},
      h('div', {}, h('h3', {}, 'Current mission'), h('div', {id: 'detail-mission'})),
      h('div', {}, h('h3', {}, 'Recent events'),
        h('ol', {id: 'detail-events', class: 'events'}))));
  renderDetailStatus();
  loadDetail(id);
  panel.scrollIntoView({block: 'nearest'});
}

function closeDetail() {
  const id = state.selected;
  state.selected = null;
  $('robot-detail').hidden = true;
  renderRobots();
  if (id) $('robot-rows').querySelector(`tr[data-robot-id="${CSS.escape(id)}"]`)?.focus();
}

function renderDetailStatus() {
  const r = state.detailRobot;
  const box = $('detail-status');
  if (!box) return;
  if (!r) {
    box.replaceChildren(h('p', {class: 'muted'}, 'This robot is not in the registry.'));
    return;
  }
  box.replaceChildren(h('dl', {class: 'facts'},
    h('dt', {}, 'Link'), h('dd', {}, badge('conn', r.connectivity)),
    h('dt', {}, 'Mode'), h('dd', {}, badge('mode', r.mode)),
    h('dt', {}, 'Battery'), h('dd', {}, pct(r.battery)),
    h('dt', {}, 'Software'), h('dd', {}, r.software_version || '—'),
    h('dt', {}, 'Capabilities'), h('dd', {}, (r.capabilities || []).join(', ') || '—'),
    h('dt', {}, 'Last seen'), h('dd', {}, ago(r.last_seen))));
}

/** Read the selected robot again: from the table's rows, or alone when it is not among them
 * (scrolled away or filtered out). */
async function refreshDetailRobot() {
  const id = state.selected;
  let robot = table.find(id);
  if (!robot) {
    try {
      robot = await api(`/robots/${encodeURIComponent(id)}`);
    } catch (err) {
      if (err.status !== 404) return;
      robot = null;
    }
  }
  if (id !== state.selected) return;
  state.detailRobot = robot;
  renderDetailStatus();
}

async function loadDetail(id) {
  await Promise.all([loadTelemetry(id), loadDetailMission(id), loadDetailEvents(id)]);
}

async function loadTelemetry(id) {
  const since = new Date(Date.now() - TELEMETRY_WINDOW_S * 1000).toISOString();
  try {
    const data = await api(`/robots/${encodeURIComponent(id)}/telemetry`,
      {query: {since, step: TELEMETRY_STEP_S}});
    if (id !== state.selected) return;
    const samples = (data.items || []).map((s) => ({...s, t: toMs(s.time)}))
      .filter((s) => s.t !== null);
    renderCharts(samples);
  } catch (err) {
    if (err.name === 'AbortError' || id !== state.selected) return;
    renderCharts([], err.message);
  }
}

function renderCharts(samples, error = '') {
  const battery = $('chart-battery');
  const path = $('chart-path');
  if (!battery || !path) return;
  battery.replaceChildren(lineChart(samples.filter((s) => typeof s.battery === 'number')
    .map((s) => [s.t, s.battery])));
  path.replaceChildren(pathChart(samples.filter((s) => typeof s.x === 'number')));
  const span = `Telemetry of the last ${TELEMETRY_WINDOW_S / 60} min`;
  $('telemetry-source').textContent = error ? `${span} is unavailable: ${error}.`
    : samples.length ? `${span}.` : `${span}: no samples.`;
}

async function loadDetailMission(id) {
  const box = $('detail-mission');
  const robot = state.detailRobot;
  const missionId = robot?.current_mission_id;
  if (!missionId) {
    box.replaceChildren(h('p', {class: 'muted'}, 'No mission.'));
    return;
  }
  try {
    const m = await api(`/missions/${encodeURIComponent(missionId)}`);
    if (id !== state.selected) return;
    box.replaceChildren(h('dl', {class: 'facts'},
      h('dt', {}, 'Mission'), h('dd', {class: 'mono'}, m.id),
      h('dt', {}, 'State'), h('dd', {}, badge('mission', m.state)),
      h('dt', {}, 'Stops'), h('dd', {}, (m.waypoints || [])
        .map((w) => `(${num(w.x)}, ${num(w.y)})`).join(' → ') || '—'),
      h('dt', {}, 'Attempt'), h('dd', {}, String(m.attempts ?? '—')),
      h('dt', {}, 'Reference'), h('dd', {}, m.client_ref || '—'),
      h('dt', {}, 'Created'), h('dd', {}, ago(m.created_at))));
  } catch (err) {
    if (err.name !== 'AbortError') {
      box.replaceChildren(h('p', {class: 'error'}, `Mission ${missionId}: ${err.message}`));
    }
  }
}

async function loadDetailEvents(id) {
  try {
    const head = await api('/events', {query: {after: '4611686018427387904', limit: 1}});
    const after = Math.max(0, (head.last_id || 0) - 2000);
    const page = await api('/events', {query: {after, limit: 1000, robot_id: id}});
    if (id !== state.selected) return;
    const items = (page.items || []).filter((e) => !e.robot_id || e.robot_id === id);
    const seen = new Set(state.detailEvents.map((e) => e.id));
    state.detailEvents = [...state.detailEvents,
      ...items.filter((e) => !seen.has(e.id))].sort((a, b) => b.id - a.id)
      .slice(0, ROBOT_EVENTS_SHOWN);
    renderDetailEvents();
  } catch (err) {
    if (err.name !== 'AbortError' && id === state.selected) {
      $('detail-events').replaceChildren(h('li', {class: 'error'}, err.message));
    }
  }
}

function addDetailEvent(event) {
  if (state.detailEvents.some((e) => e.id === event.id)) return;
  state.detailEvents = [event, ...state.detailEvents].slice(0, ROBOT_EVENTS_SHOWN);
  renderDetailEvents();
  if (event.kind === 'mission.state') debounce('detail-mission',
    () => state.selected && loadDetailMission(state.selected), 800);
}

function eventText(e) {
  const p = e.payload || {};
  switch (e.kind) {
    case 'robot.connectivity':
      return `${p.from || '?'} → ${p.to || '?'}${p.reason ? ` (${p.reason})` : ''}`;
    case 'mission.state':
      return `${shortId(p.mission_id)} ${p.from || '—'} → ${p.state}`
        + `${p.reason ? `: ${p.reason}` : ''}`;
    case 'robot.event':
      return `${p.type || ''}: ${p.message || ''}`;
    case 'robot.registered':
      return 'registered';
    default:
      if (e.kind.startsWith('incident.')) return `${p.id || ''} ${p.title || ''} (${p.state})`;
      return JSON.stringify(p).slice(0, 120);
  }
}

function renderDetailEvents() {
  const list = $('detail-events');
  if (!list) return;
  if (!state.detailEvents.length) {
    list.replaceChildren(h('li', {class: 'muted'}, 'No recent events.'));
    return;
  }
  list.replaceChildren(...state.detailEvents.map((e) => h('li', {},
    h('span', {class: 'when'}, clockText(e.time)),
    h('span', {class: 'kind'}, e.kind),
    h('span', {class: 'what'}, eventText(e)))));
}

// -- charts (inline SVG) ----------------------------------------------------------------------

const CHART_W = 320;
const CHART_H = 140;
const PAD = {l: 38, r: 8, t: 8, b: 20};

function emptyChart(text) {
  return h('p', {class: 'chart-empty muted'}, text);
}

/** A line chart of [time ms, value 0..1] points with a 0–100 % axis. */
function lineChart(points) {
  if (points.length < 2) return emptyChart('Not enough samples yet.');
  const t0 = points[0][0];
  const t1 = Math.max(points[points.length - 1][0], t0 + 1);
  const x = (t) => PAD.l + (t - t0) / (t1 - t0) * (CHART_W - PAD.l - PAD.r);
  const y = (v) => PAD.t + (1 - Math.min(1, Math.max(0, v))) * (CHART_H - PAD.t - PAD.b);
  const grid = [0, 0.5, 1].map((v) => h('g', {},
    h('line', {x1: PAD.l, x2: CHART_W - PAD.r, y1: y(v), y2: y(v), class: 'grid'}),
    h('text', {x: PAD.l - 4, y: y(v) + 4, class: 'axis', 'text-anchor': 'end'},
      `${v * 100}%`)));
  const d = points.map(([t, v], i) => `${i ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)}`)
    .join('');
  const last = points[points.length - 1];
  const label = `Battery from ${pct(points[0][1])} to ${pct(last[1])} over `
    + `${Math.round((t1 - t0) / 60000)} min`;
  return h('svg', {viewBox: `0 0 ${CHART_W} ${CHART_H}`, role: 'img', 'aria-label': label,
    class: 'chart-svg'},
  h('title', {}, label), ...grid,
  h('text', {x: PAD.l, y: CHART_H - 4, class: 'axis'}, clockText(t0)),
  h('text', {x: CHART_W - PAD.r, y: CHART_H - 4, class: 'axis', 'text-anchor': 'end'},
    clockText(t1)),
  h('path', {d, class: 'line battery-line'}),
  h('circle', {cx: x(last[0]), cy: y(last[1]), r: 3, class: 'dot-now'}));
}

/** Fit points {x, y} into a box keeping the aspect ratio; returns the projection. */
function fitBox(points, w, hgt, pad = 10, minSpan = 2) {
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const span = Math.max(x1 - x0, y1 - y0, minSpan);
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  const scale = Math.min(w - 2 * pad, hgt - 2 * pad) / span;
  return {
    x: (v) => w / 2 + (v - cx) * scale,
    y: (v) => hgt / 2 - (v - cy) * scale, // y up
    scale,
  };
}

/** The robot's path in the plane (equal axes), with its last position and heading. */
function pathChart(samples, {w = CHART_W, hgt = CHART_H, mark = null, label = ''} = {}) {
  if (!samples.length) return emptyChart('No positions yet.');
  const pts = mark ? [...samples, mark] : samples;
  const f = fitBox(pts, w, hgt);
  const d = samples.map((s, i) => `${i ? 'L' : 'M'}${f.x(s.x).toFixed(1)},${f.y(s.y).toFixed(1)}`)
    .join('');
  const last = samples[samples.length - 1];
  const th = typeof last.theta === 'number' ? last.theta : 0;
  const hx = f.x(last.x) + Math.cos(th) * 10;
  const hy = f.y(last.y) - Math.sin(th) * 10;
  const text = label || `Path of ${samples.length} samples, now at (${num(last.x)}, `
    + `${num(last.y)})`;
  const first = samples[0];
  return h('svg', {viewBox: `0 0 ${w} ${hgt}`, role: 'img', 'aria-label': text,
    class: 'chart-svg path-svg'},
  h('title', {}, text),
  h('rect', {x: 0.5, y: 0.5, width: w - 1, height: hgt - 1, class: 'frame'}),
  h('path', {d, class: 'line path-line'}),
  h('circle', {cx: f.x(first.x), cy: f.y(first.y), r: 2.5, class: 'dot-start'}),
  h('line', {x1: f.x(last.x), y1: f.y(last.y), x2: hx, y2: hy, class: 'heading'}),
  h('circle', {cx: f.x(last.x), cy: f.y(last.y), r: 4, class: 'dot-now'}),
  mark ? h('g', {class: 'mark'},
    h('line', {x1: f.x(mark.x) - 5, y1: f.y(mark.y) - 5, x2: f.x(mark.x) + 5,
      y2: f.y(mark.y) + 5}),
    h('line', {x1: f.x(mark.x) - 5, y1: f.y(mark.y) + 5, x2: f.x(mark.x) + 5,
      y2: f.y(mark.y) - 5})) : null,
  h('text', {x: 4, y: hgt - 4, class: 'axis'}, `${(80 / f.scale).toFixed(1)} m`),
  h('line', {x1: 40, x2: 120, y1: hgt - 8, y2: hgt - 8, class: 'scale'}));
}

// -- missions ---------------------------------------------------------------------------------

async function loadMissions() {
  try {
    const [queued, assigned, active, recent] = await Promise.all(
      ['queued', 'assigned', 'active', ''].map((s) => api('/missions',
        {query: {state: s, limit: s ? 100 : 25}})));
    const open = [...active.items, ...assigned.items, ...queued.items];
    const done = (recent.items || []).filter((m) => TERMINAL.has(m.state));
    showMsg($('missions-error'), '');
    renderMissions(open, done, queued.total + assigned.total + active.total);
  } catch (err) {
    if (err.name !== 'AbortError' && err.status !== 401) {
      showMsg($('missions-error'), `Missions could not be loaded: ${err.message}`, true);
    }
  }
}

function missionRow(m) {
  const cancel = TERMINAL.has(m.state) ? null : h('button', {
    type: 'button', class: 'small danger-ghost',
    'aria-label': `Cancel mission ${m.id}`,
    onclick: (ev) => cancelMission(m, ev.currentTarget),
  }, 'Cancel');
  return h('tr', {class: TERMINAL.has(m.state) ? 'done' : '', dataset: {missionId: m.id}},
    h('th', {scope: 'row', class: 'mono', title: m.id}, shortId(m.id)),
    h('td', {}, badge('mission', m.state),
      m.failure_reason ? h('span', {class: 'reason', title: m.failure_reason},
        ` ${m.failure_reason}`) : null,
      m.waiting_on ? h('span', {class: 'reason waiting', dataset: {testid: 'mission-waiting'}},
        ` ${m.waiting_on}`) : null),
    h('td', {}, m.robot_id || '—'),
    h('td', {class: 'num'}, String(m.priority ?? 0)),
    h('td', {class: 'num'}, String((m.waypoints || []).length)),
    h('td', {class: 'num'}, String(m.attempts ?? 0)),
    h('td', {}, ago(m.created_at)),
    h('td', {class: 'ref'}, m.client_ref || '—'),
    h('td', {class: 'actions'}, cancel));
}

function renderMissions(open, done, openTotal) {
  const rows = [...open.map(missionRow)];
  if (done.length) {
    rows.push(h('tr', {class: 'divider'}, h('th', {colSpan: 9, scope: 'rowgroup'},
      'Recently finished')));
    rows.push(...done.map(missionRow));
  }
  if (!rows.length) rows.push(h('tr', {}, h('td', {colSpan: 9, class: 'muted'}, 'No missions.')));
  $('mission-rows').replaceChildren(...rows);
  $('mission-count').textContent = `${openTotal} open`;
}

async function cancelMission(m, button) {
  if (button.dataset.confirm !== 'yes') {
    button.dataset.confirm = 'yes';
    button.textContent = 'Confirm cancel';
    setTimeout(() => {
      if (button.isConnected) { button.dataset.confirm = ''; button.textContent = 'Cancel'; }
    }, 4000);
    return;
  }
  button.disabled = true;
  try {
    await api(`/missions/${encodeURIComponent(m.id)}/cancel`,
      {method: 'POST', body: {reason: 'canceled from the dashboard'}});
    showMsg($('missions-error'), '');
  } catch (err) {
    if (err.name !== 'AbortError') {
      showMsg($('missions-error'), `Mission ${m.id} was not canceled: ${err.describe?.()
        || err.message}`, true);
    }
  }
  loadMissions();
}

// -- incidents --------------------------------------------------------------------------------

function recurrenceText(inc) {
  const r = inc.recurrence;
  return typeof r === 'string' ? r : (r && r.text) || '';
}

/** Keep the richer copy: a summary (from an event) never replaces a detail's context. */
function mergeIncident(inc, isDetail) {
  const old = state.incidents.get(inc.id);
  const merged = {...(old || {}), ...inc, _detail: isDetail || Boolean(old?._detail)};
  if (!isDetail && old?._detail) {
    for (const key of ['context', 'runbook', 'timeline', 'escalation', 'recurrence']) {
      merged[key] = old[key];
    }
  }
  if (!isDetail && typeof inc.runbook === 'string' && !old?._detail) merged.runbook = null;
  state.incidents.set(inc.id, merged);
}

async function loadIncidents() {
  if (!state.features.incidents) {
    showMsg($('incidents-msg'), 'This server has no incidents API yet '
      + '(GET /api/v1/incidents is not in its OpenAPI document).');
    return;
  }
  try {
    const page = await api('/incidents', {query: {limit: 100}});
    const items = page.items || [];
    const ids = new Set(items.map((i) => i.id));
    for (const inc of items) mergeIncident(inc, Boolean(inc.context || inc.timeline?.length));
    for (const id of [...state.incidents.keys()]) {
      if (!ids.has(id) && state.incidents.get(id).state === 'resolved') state.incidents.delete(id);
    }
    showMsg($('incidents-msg'), '');
    renderIncidents();
    for (const inc of items) {
      if (inc.state !== 'resolved' && !state.incidents.get(inc.id)._detail) loadIncident(inc.id);
    }
  } catch (err) {
    if (err.name !== 'AbortError' && err.status !== 401) {
      showMsg($('incidents-msg'), `Incidents could not be loaded: ${err.message}`, true);
    }
  }
}

async function loadIncident(id) {
  try {
    const inc = await api(`/incidents/${encodeURIComponent(id)}`);
    mergeIncident(inc, true);
    renderIncidents();
  } catch (err) {
    if (err.name !== 'AbortError' && err.status !== 401) {
      console.warn(`incident ${id}: ${err.message}`);
    }
  }
}

function incidentOrder(a, b) {
  return (STATE_RANK[a.state] ?? 3) - (STATE_RANK[b.state] ?? 3)
    || (SEVERITY_RANK[a.severity] ?? 9) - (SEVERITY_RANK[b.severity] ?? 9)
    || (toMs(b.opened_at) ?? 0) - (toMs(a.opened_at) ?? 0);
}

function renderIncidents() {
  if (!state.features.incidents && !state.incidents.size) return;
  const all = [...state.incidents.values()].sort(incidentOrder);
  const open = all.filter((i) => i.state !== 'resolved');
  const resolved = all.filter((i) => i.state === 'resolved')
    .sort((a, b) => (toMs(b.last_seen) ?? 0) - (toMs(a.last_seen) ?? 0))
    .slice(0, RESOLVED_SHOWN);
  syncCards($('incident-list'), open);
  syncCards($('resolved-list'), resolved);
  $('resolved-wrap').hidden = !resolved.length;
  $('resolved-summary').textContent = `Recently resolved (${resolved.length})`;
  const triggered = open.filter((i) => i.state === 'triggered').length;
  $('incident-count').textContent = open.length
    ? `${open.length} open · ${triggered} unacknowledged` : 'None open';
  if (!open.length && !$('incident-list').querySelector('.empty')) {
    $('incident-list').append(h('p', {class: 'empty muted'}, 'No open incidents.'));
  }
}

/** Reuse each incident's card (keeping a note being typed); re-render its body on change. */
function syncCards(container, incidents) {
  const existing = new Map([...container.querySelectorAll('[data-testid="incident-card"]')]
    .map((el) => [el.dataset.incidentId, el]));
  const cards = incidents.map((inc) => {
    let card = existing.get(inc.id);
    if (!card) card = findCardElsewhere(inc.id) || createCard(inc);
    updateCard(card, inc);
    return card;
  });
  container.replaceChildren(...cards);
}

function findCardElsewhere(id) {
  return document.querySelector(`[data-testid="incident-card"][data-incident-id="${
    CSS.escape(id)}"]`);
}

function createCard(inc) {
  const note = h('textarea', {id: `note-${inc.id}`, rows: 2, maxLength: 4000,
    placeholder: 'What you see or did (kept on the timeline)'});
  const ack = h('button', {type: 'button', class: 'primary',
    onclick: () => incidentAction(card, 'ack')}, 'Acknowledge');
  ack.setAttribute('data-testid', 'ack-button');
  const resolve = h('button', {type: 'button',
    onclick: () => incidentAction(card, 'resolve')}, 'Resolve');
  resolve.setAttribute('data-testid', 'resolve-button');
  const card = h('article', {class: 'incident', 'aria-labelledby': `inc-title-${inc.id}`},
    h('div', {class: 'incident-body'}),
    h('form', {class: 'incident-actions', onsubmit: (ev) => ev.preventDefault()},
      h('label', {for: `note-${inc.id}`}, 'Note'), note,
      h('div', {class: 'buttons'}, ack, resolve,
        h('p', {class: 'form-msg', role: 'status', 'aria-live': 'polite'}))),
    h('div', {class: 'incident-more'}));
  card.setAttribute('data-testid', 'incident-card');
  card.setAttribute('data-incident-id', inc.id);
  return card;
}

function updateCard(card, inc) {
  const signature = JSON.stringify(inc);
  card.setAttribute('data-state', inc.state);
  card.className = `incident severity-${inc.severity} state-${inc.state}`;
  const ack = card.querySelector('[data-testid="ack-button"]');
  const resolve = card.querySelector('[data-testid="resolve-button"]');
  if (card.dataset.busy !== 'yes') {
    ack.disabled = inc.state !== 'triggered';
    resolve.disabled = inc.state === 'resolved';
  }
  card.querySelector('.incident-actions').hidden = inc.state === 'resolved';
  if (card.dataset.signature === signature) return;
  card.dataset.signature = signature;
  const body = card.querySelector('.incident-body');
  const more = card.querySelector('.incident-more');
  // Keep what the operator opened or closed; a part shown for the first time gets its default.
  const before = new Map([...more.querySelectorAll('details')].map((d) => [d.dataset.part,
    d.open]));
  body.replaceChildren(...incidentSummary(inc));
  more.replaceChildren(...incidentMore(inc));
  for (const d of more.querySelectorAll('details')) {
    if (before.has(d.dataset.part)) d.open = before.get(d.dataset.part);
  }
}

/** The card's top: title, badges, recurrence and the context captured when it opened. */
function incidentSummary(inc) {
  const rec = recurrenceText(inc);
  const ctx = inc.context || {};
  const robot = ctx.robot || {};
  const facts = [
    ['Robot', inc.robot_id || '—'], ['Area', inc.area || '—'],
    ['Opened', ago(inc.opened_at)], ['Last seen', ago(inc.last_seen)],
    ['Count', String(inc.count ?? 1)],
  ];
  if (inc.mission_id) facts.push(['Mission', h('span', {class: 'mono'}, shortId(inc.mission_id))]);
  if (ctx.software_version) facts.push(['Software', ctx.software_version]);
  if (typeof robot.battery === 'number') facts.push(['Battery', pct(robot.battery)]);
  if (inc.escalation && inc.escalation.level) {
    facts.push(['Escalation', `level ${inc.escalation.level}`
      + (inc.escalation.repeat ? `, repeat ${inc.escalation.repeat}` : '')]);
  }
  const diag = ctx.last_diagnostics || ctx.diagnostics;
  if (diag) facts.push(['Diagnostics', diagnosticsText(diag)]);
  const trajectory = (ctx.trajectory || []).filter((s) => typeof s.x === 'number');
  return [
    h('header', {class: 'incident-head'},
      badge('sev', inc.severity || 'SEV?'),
      h('h3', {id: `inc-title-${inc.id}`}, inc.title || inc.type || 'Incident'),
      badge('inc', inc.state)),
    h('p', {class: 'incident-id muted'}, `${inc.id} · ${inc.type || ''}`),
    rec ? h('p', {class: 'recurrence'}, rec) : null,
    h('div', {class: 'incident-context'},
      trajectory.length ? h('div', {class: 'sketch'}, pathChart(trajectory.map((s) => ({
        ...s, t: toMs(s.time)})), {w: 150, hgt: 110, mark: inc.pose || null,
      label: `Trajectory before the incident (${trajectory.length} samples)`})) : null,
      h('dl', {class: 'facts'}, ...facts.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))),
  ];
}

/** The card's bottom: runbook steps and timeline. */
function incidentMore(inc) {
  const parts = [];
  const runbook = inc.runbook && typeof inc.runbook === 'object' ? inc.runbook : null;
  if (runbook && (runbook.steps || []).length) {
    parts.push(h('details', {class: 'runbook', dataset: {part: 'runbook'},
      open: inc.state === 'triggered'},
    h('summary', {}, `Runbook: ${runbook.title || inc.type}`),
    h('ol', {}, ...runbook.steps.map((s) => h('li', {}, s.text,
      s.detail ? h('p', {class: 'muted small'}, s.detail) : null)))));
  } else if (!inc._detail) {
    parts.push(h('p', {class: 'muted small'}, 'Loading context and runbook…'));
  }
  const timeline = inc.timeline || [];
  if (timeline.length) {
    parts.push(h('details', {class: 'timeline', dataset: {part: 'timeline'}},
      h('summary', {}, `Timeline (${timeline.length})`),
      h('ol', {class: 'events'}, ...timeline.slice().reverse().map((e) => h('li', {},
        h('span', {class: 'when'}, clockText(e.time)),
        h('span', {class: 'kind'}, e.kind),
        h('span', {class: 'what'}, [e.who, e.note].filter(Boolean).join(': ')))))));
  }
  return parts;
}

function diagnosticsText(diag) {
  if (typeof diag !== 'object') return String(diag);
  const p = diag.payload || diag;
  const level = p.level ?? p.data?.level;
  const message = p.message || p.data?.message || '';
  return [level !== undefined ? `level ${level}` : '', message].filter(Boolean).join(': ')
    || '—';
}

async function incidentAction(card, action) {
  const id = card.dataset.incidentId;
  const note = card.querySelector('textarea');
  const msg = card.querySelector('.form-msg');
  msg.classList.remove('error');
  if (action === 'resolve' && !note.value.trim()) {
    msg.textContent = 'Add a note saying what was done, then resolve.';
    msg.classList.add('error');
    note.focus();
    return;
  }
  const buttons = card.querySelectorAll('button');
  card.dataset.busy = 'yes';
  buttons.forEach((b) => { b.disabled = true; });
  msg.textContent = action === 'ack' ? 'Acknowledging…' : 'Resolving…';
  try {
    const inc = await api(`/incidents/${encodeURIComponent(id)}/${action}`,
      {method: 'POST', body: {note: note.value}});
    note.value = '';
    msg.textContent = inc.state === 'resolved' ? 'Resolved.' : `Now ${inc.state}.`;
    card.dataset.busy = '';
    mergeIncident(inc, true);
    renderIncidents();
  } catch (err) {
    if (err.name === 'AbortError') return;
    card.dataset.busy = '';
    msg.textContent = err.status === 403
      ? 'This token may not change incidents (needs the incidents:write scope).'
      : `Not done: ${err.describe?.() || err.message}`;
    msg.classList.add('error');
    const inc = state.incidents.get(id);
    if (inc) updateCard(card, inc);
    loadIncident(id);
  }
}

// -- SLOs -------------------------------------------------------------------------------------

async function loadSlos() {
  const msg = $('slo-msg');
  if (!state.features.slos) {
    showMsg(msg, 'Service levels are not available on this server.');
    $('slo-list').replaceChildren();
    return;
  }
  try {
    const data = await api('/slos');
    const items = Array.isArray(data) ? data : (data?.items || []);
    showMsg(msg, items.length ? '' : 'No service levels are configured.');
    $('slo-list').replaceChildren(...items.map(sloCard));
  } catch (err) {
    if (err.name === 'AbortError' || err.status === 401) return;
    showMsg(msg, `Service levels are not available: ${err.message}`);
    $('slo-list').replaceChildren();
  }
}

function sloCard(s) {
  const remaining = Math.max(0, Math.min(1, Number(s.error_budget_remaining ?? 0)));
  const level = remaining < 0.25 ? 'low' : remaining < 0.5 ? 'mid' : 'ok';
  const burns = Object.entries(s.burn_rates || {});
  const maxBurn = Math.max(2, ...burns.map(([, v]) => Number(v) || 0));
  const firing = (s.alerts || []).filter((a) => a.firing);
  const objective = typeof s.objective === 'number' ? `${(s.objective * 100).toFixed(2)} %`
    : String(s.objective ?? '—');
  const sli = typeof s.sli === 'number' ? `${(s.sli * 100).toFixed(2)} %` : 'no data yet';
  return h('article', {class: `slo${firing.length ? ' firing' : ''}`},
    h('header', {}, h('h3', {}, s.slo || s.name || 'SLO'),
      firing.length ? firing.map((a) => badge('alert', 'firing', a.alert || a.name || 'alert'))
        : h('span', {class: 'muted small'}, 'no alert firing')),
    h('p', {class: 'small'}, `Objective ${objective} · current ${sli}`),
    h('div', {class: 'meter-row'},
      h('span', {class: 'meter-label'}, 'Budget left'),
      h('span', {class: 'bar wide', role: 'img',
        'aria-label': `${pct(remaining)} of the error budget left`},
      h('span', {class: `fill ${level}`, style: {width: `${(remaining * 100).toFixed(1)}%`}})),
      h('span', {class: 'value'}, pct(remaining))),
    ...burns.map(([window, v]) => {
      const value = Number(v) || 0;
      const cls = value >= 6 ? 'low' : value >= 1 ? 'mid' : 'ok';
      return h('div', {class: 'meter-row'},
        h('span', {class: 'meter-label'}, `Burn ${window}`),
        h('span', {class: 'bar wide burn', role: 'img',
          'aria-label': `burn rate over ${window}: ${value.toFixed(2)} times the budget rate`},
        h('span', {class: `fill ${cls}`,
          style: {width: `${Math.min(100, value / maxBurn * 100)}%`}}),
        h('span', {class: 'one', style: {left: `${100 / maxBurn}%`}, title: '1× budget rate'})),
        h('span', {class: 'value'}, `${value.toFixed(2)}×`));
    }));
}

// -- health -----------------------------------------------------------------------------------

async function loadHealth() {
  try {
    const resp = await fetch(`${API}/health`, {cache: 'no-store'});
    const data = await resp.json();
    $('site').textContent = `v${data.version || '?'} · manager ${data.manager || '?'}`;
  } catch {
    $('site').textContent = 'API unreachable';
  }
}

// -- session ----------------------------------------------------------------------------------

function refreshAll() {
  loadRobots();
  loadMissions();
  loadIncidents();
}

function every(ms, fn) {
  state.timers.push(setInterval(() => { if (!document.hidden) fn(); }, ms));
}

async function start() {
  state.session = new AbortController();
  $('sign-in-panel').hidden = true;
  $('main').hidden = false;
  $('sign-out').hidden = false;
  setLive('off', 'Connecting…');
  // The fleet table needs neither the OpenAPI document (which optional panels exist) nor
  // the log's head (where the stream starts), both answered by the fleet manager and slow
  // when it is busy: the three are asked for at once, and the table is drawn first.
  const first = loadRobots();
  const features = detectFeatures();
  // Start the stream at the end of the log: the panels' snapshots cover what came before
  // (the fleet's is read at about the same time as the head; the fleet poll covers a robot
  // event that may fall between the two).
  try {
    const head = await api('/events', {query: {after: '4611686018427387904', limit: 1}});
    state.lastEventId = head.last_id ?? 0;
  } catch (err) {
    if (err.status === 401 || err.name === 'AbortError') return;
    state.lastEventId = null;
  }
  state.features = await features;
  await first;
  loadHealth();
  loadMissions();
  loadIncidents();
  loadSlos();
  openStream(state.session.signal);
  every(POLL_MS.robots, loadRobots);
  every(POLL_MS.missions, loadMissions);
  every(POLL_MS.incidents, loadIncidents);
  every(POLL_MS.slos, loadSlos);
  every(POLL_MS.health, loadHealth);
  every(15000, () => state.selected && loadTelemetry(state.selected));
}

function stop() {
  state.session?.abort();
  state.session = null;
  state.timers.forEach(clearInterval);
  state.timers = [];
  state.pending.forEach(clearTimeout);
  state.pending.clear();
}

function signOut(message = '') {
  stop();
  state.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  state.detailRobot = null;
  state.incidents.clear();
  state.selected = null;
  $('main').hidden = true;
  $('sign-out').hidden = true;
  $('robot-detail').hidden = true;
  $('sign-in-panel').hidden = false;
  setLive('off', 'Not connected');
  showMsg($('sign-in-error'), message, true);
  $('token-input').focus();
}

async function signIn(token) {
  const btn = $('sign-in');
  btn.disabled = true;
  showMsg($('sign-in-error'), '');
  try {
    const resp = await fetch(`${API}/robots?limit=1`, {
      headers: {Authorization: `Bearer ${token}`}, cache: 'no-store'});
    if (!resp.ok) {
      const data = await resp.json().catch(() => null);
      const reason = data?.error?.message || `HTTP ${resp.status}`;
      showMsg($('sign-in-error'), resp.status === 401 ? `That token was not accepted: ${reason}`
        : `Signed in, but the API refused to list robots: ${reason}`, true);
      return;
    }
    state.token = token;
    sessionStorage.setItem(TOKEN_KEY, token);
    $('token-input').value = '';
    start();
  } catch {
    showMsg($('sign-in-error'), 'The fleet API cannot be reached.', true);
  } finally {
    btn.disabled = false;
  }
}

/** Take ?token= from the URL into sessionStorage and remove it from the address bar. */
function tokenFromUrl() {
  const url = new URL(location.href);
  const token = url.searchParams.get('token');
  if (token === null) return null;
  url.searchParams.delete('token');
  history.replaceState(history.state, '', url.pathname + url.search + url.hash);
  return token.trim() || null;
}

function tickTimes() {
  const now = Date.now();
  for (const el of document.querySelectorAll('time[data-rel]')) {
    el.textContent = agoText(Number(el.dataset.rel), now);
  }
}

function init() {
  table = new FleetTable({api, rowOf: robotRow, scroller: $('fleet-scroll'),
    tbody: $('robot-rows'), columns: 8,
    emptyText: (filtered) => (filtered ? 'No robot matches.' : 'No robots yet.')});
  $('robot-search').addEventListener('input', () => {
    clearTimeout(state.pending.get('search'));
    state.pending.set('search', setTimeout(() => {
      state.pending.delete('search');
      applyFilter();
    }, SEARCH_DEBOUNCE_MS));
  });
  $('robot-filter').addEventListener('change', applyFilter);
  $('fleet-tools').addEventListener('submit', (ev) => {
    ev.preventDefault();
    applyFilter();
  });
  $('sign-in-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const token = $('token-input').value.trim();
    if (token) signIn(token);
  });
  $('sign-out').addEventListener('click', () => signOut(''));
  $('detail-close').addEventListener('click', closeDetail);
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && state.selected) closeDetail();
  });
  setInterval(tickTimes, 1000);
  const fromUrl = tokenFromUrl();
  if (fromUrl) sessionStorage.setItem(TOKEN_KEY, fromUrl);
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) {
    state.token = token;
    start();
  } else {
    signOut('');
  }
}

init();
