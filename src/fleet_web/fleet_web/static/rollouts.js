// The rollout view: rollouts with their progress and gate results, operator actions, and
// configuration drift per robot. A plain ES module over the fleet HTTP API; it uses the
// token the dashboard keeps in this tab (or ?token=), and polls while it is open.

const API = '/api/v1';
const TOKEN_KEY = 'fleet.token';
const POLL_MS = 2000;
const ACTIONS = {
  promote: {label: 'Promote', states: ['progressing', 'paused'],
    confirm: 'Skip the rest of this step\'s bake and gate?'},
  pause: {label: 'Pause', states: ['progressing']},
  resume: {label: 'Resume', states: ['paused']},
  abort: {label: 'Abort', states: ['progressing', 'paused'],
    confirm: 'Abort and take the updated robots back to their versions?'},
};

const state = {token: null, rollouts: [], selected: null, busy: false};
const $ = (id) => document.getElementById(id);

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (key === 'style') Object.assign(el.style, value); // CSSOM: allowed by the CSP
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

class ApiError extends Error {
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field;
  }
}

async function api(path, {method = 'GET', body = undefined} = {}) {
  const headers = {Accept: 'application/json', Authorization: `Bearer ${state.token}`};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(API + path, {method, headers, cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body)});
  } catch {
    throw new ApiError(0, 'the fleet API cannot be reached');
  }
  const data = await resp.json().catch(() => null);
  if (resp.ok) return data;
  const e = data?.error || {};
  throw new ApiError(resp.status, e.message || `HTTP ${resp.status}`, e.field);
}

function show(el, text, isError = false) {
  el.hidden = !text;
  el.textContent = text || '';
  el.classList.toggle('error', isError);
}

function when(value) {
  const ms = value ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) return h('span', {class: 'muted'}, '—');
  return h('time', {datetime: value, title: value}, new Date(ms).toLocaleString());
}

function badge(kind, value) {
  return h('span', {class: `badge ${kind}-${value}`}, String(value).replace('_', ' '));
}

function num(value) {
  return value === null || value === undefined ? '—' : Number(value).toFixed(3).replace(/\.?0+$/, '');
}

function progress(r) {
  const updated = (r.phases || {}).updated || 0;
  const pct = r.scope ? Math.round(100 * updated / r.scope) : 0;
  return h('span', {}, h('span', {class: 'progress', role: 'img',
    'aria-label': `${updated} of ${r.scope} robots updated`},
  h('span', {style: {width: `${pct}%`}})), `${updated}/${r.scope}`);
}

// -- the list -------------------------------------------------------------------------------

function renderList() {
  const rows = state.rollouts.map((r) => h('tr', {
    class: r.id === state.selected ? 'selected' : '', dataset: {id: r.id, testid: 'rollout-row'},
    tabindex: 0, onclick: () => select(r.id),
    onkeydown: (ev) => { if (ev.key === 'Enter') select(r.id); },
  }, h('th', {scope: 'row'}, r.id), h('td', {}, r.release), h('td', {}, badge('ro', r.state)),
  h('td', {}, `${r.step + 1}/${r.steps} ${r.step_name || ''}`), h('td', {}, progress(r)),
  h('td', {}, r.created_by || '—'), h('td', {}, when(r.created_at))));
  $('rollout-rows').replaceChildren(...rows);
  const active = state.rollouts.filter((r) => ['progressing', 'paused', 'rolling_back']
    .includes(r.state)).length;
  $('rollout-count').textContent = `${state.rollouts.length} rollouts, ${active} active`;
}

async function loadList() {
  try {
    const page = await api('/rollouts?limit=50');
    state.rollouts = page.items || [];
    show($('list-error'), '');
    renderList();
    if (!state.selected && state.rollouts.length) state.selected = state.rollouts[0].id;
  } catch (err) {
    show($('list-error'), `Rollouts cannot be listed: ${err.message}`, true);
  }
}

// -- one rollout ----------------------------------------------------------------------------

function select(id) {
  state.selected = id;
  renderList();
  loadDetail();
}

function gateTable(gate, title) {
  const checks = (gate.checks || []).map((c) => h('tr', {},
    h('th', {scope: 'row'}, c.metric), h('td', {class: 'num'}, num(c.canary)),
    h('td', {class: 'num'}, num(c.baseline)), h('td', {}, c.limit || ''),
    h('td', {}, badge('gate', c.verdict)), h('td', {class: 'small'}, c.detail || '')));
  return h('div', {class: 'gate', dataset: {testid: 'gate'}},
    h('h3', {}, title, ' ', badge('gate', gate.verdict)),
    h('p', {class: 'small muted'}, `${gate.canary_missions} missions updated, `
      + `${gate.baseline_missions} baseline (${gate.baseline_scope || 'window'})`
      + (gate.detail ? ` — ${gate.detail}` : '')),
    checks.length ? h('table', {},
      h('thead', {}, h('tr', {}, ...['Metric', 'Updated', 'Baseline', 'Limit', 'Verdict', '']
        .map((t) => h('th', {scope: 'col'}, t)))),
      h('tbody', {}, ...checks)) : null);
}

function renderDetail(r) {
  $('rollout-detail').hidden = false;
  $('detail-title').textContent = `${r.id}: ${r.release}`;
  $('actions').replaceChildren(...Object.entries(ACTIONS).map(([name, a]) => h('button', {
    type: 'button', class: name === 'abort' ? 'small danger-ghost' : 'small',
    dataset: {testid: `action-${name}`}, disabled: !a.states.includes(r.state) || state.busy,
    onclick: () => act(r.id, name),
  }, a.label)));
  const steps = (r.strategy?.steps || []).map((s, i) => h('li', {
    class: i < r.step || r.state === 'completed' ? 'done' : (i === r.step ? 'current' : ''),
  }, `${i + 1}. ${s.name}` + (s.bake_missions ? ` · ${s.bake_missions} missions` : '')
    + (s.bake_seconds ? ` · ${s.bake_seconds} s` : '')));
  $('steps').replaceChildren(...steps);
  const robots = (r.order || []).filter((id) => r.robots[id]).map((id) => h('tr', {},
    h('th', {scope: 'row'}, id), h('td', {}, badge('phase', r.robots[id].phase)),
    h('td', {}, r.robots[id].previous_version || ''), h('td', {class: 'small'},
      r.robots[id].error || '')));
  const gates = [];
  if (r.evaluation) gates.push(gateTable(r.evaluation, 'Gate now'));
  for (const g of (r.gates || []).slice().reverse()) {
    gates.push(gateTable(g, `Gate of step ${(g.step ?? 0) + 1}`));
  }
  $('detail-body').replaceChildren(
    h('p', {class: 'outcome'}, badge('ro', r.state),
      r.pause_cause ? ` (${r.pause_cause.replace('_', ' ')})` : '',
      ` · started by ${r.created_by || '—'}`, r.reason ? ` — ${r.reason}` : '',
      r.outcome ? h('span', {class: 'small'}, ` · ${r.outcome}`) : ''),
    h('div', {class: 'detail-grid'},
      h('div', {}, h('h3', {}, `Robots (${Object.keys(r.robots).length} of ${r.scope} selected)`),
        robots.length ? h('table', {dataset: {testid: 'robot-phases'}},
          h('thead', {}, h('tr', {}, ...['Robot', 'Phase', 'From', ''].map(
            (t) => h('th', {scope: 'col'}, t)))), h('tbody', {}, ...robots))
          : h('p', {class: 'muted'}, 'No robot selected yet.')),
      h('div', {}, ...(gates.length ? gates : [h('p', {class: 'muted'},
        'No gate evaluated yet: the step is still updating its robots.')]))));
}

async function loadDetail() {
  if (!state.selected) return;
  try {
    renderDetail(await api(`/rollouts/${encodeURIComponent(state.selected)}`));
  } catch (err) {
    show($('action-msg'), `Rollout ${state.selected} cannot be read: ${err.message}`, true);
  }
}

async function act(id, name) {
  const a = ACTIONS[name];
  if (a.confirm && !window.confirm(a.confirm)) return;
  state.busy = true;
  try {
    const r = await api(`/rollouts/${encodeURIComponent(id)}/${name}`, {method: 'POST',
      body: {reason: `from the rollout view (${name})`}});
    show($('action-msg'), `${id}: ${name} done; now ${r.state.replace('_', ' ')}.`);
    await refresh();
  } catch (err) {
    show($('action-msg'), `${id}: ${name} refused: ${err.message}`, true);
  } finally {
    state.busy = false;
  }
}

// -- drift and revision ---------------------------------------------------------------------

async function loadDrift() {
  try {
    const data = await api('/config/robots');
    const items = data.items || [];
    const shown = items.filter((r) => r.state !== 'in_sync');
    const rows = shown.map((r) => h('tr', {dataset: {testid: 'drift-row'}},
      h('th', {scope: 'row'}, r.robot_id), h('td', {}, badge('drift', r.state)),
      h('td', {}, r.policy), h('td', {}, (r.groups || []).join(', ') || '—'),
      h('td', {}, r.reported_version || '—'),
      h('td', {class: 'small'}, [...(r.drifted || []).map((d) => `${d.node} ${d.name}: `
        + `${JSON.stringify(d.actual)} (declared ${JSON.stringify(d.declared)})`),
      ...(r.unreachable || []).map((n) => `${n}: not answering`)].join('; '))));
    $('drift-rows').replaceChildren(...rows);
    $('drift-count').textContent = `${items.length - shown.length} of ${items.length} robots `
      + 'in sync';
    $('revision').textContent = data.revision ? `Desired state: revision ${data.revision}`
      : 'No desired state applied yet (fleetctl apply -f DIR)';
    show($('drift-error'), '');
  } catch (err) {
    show($('drift-error'), `Drift cannot be read: ${err.message}`, true);
  }
}

async function refresh() {
  await loadList();
  await Promise.all([loadDetail(), loadDrift()]);
}

function init() {
  const url = new URL(location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl !== null) {
    url.searchParams.delete('token');
    history.replaceState(history.state, '', url.pathname + url.search + url.hash);
    if (fromUrl.trim()) sessionStorage.setItem(TOKEN_KEY, fromUrl.trim());
  }
  state.token = sessionStorage.getItem(TOKEN_KEY);
  if (!state.token) {
    $('signed-out').hidden = false;
    return;
  }
  $('main').hidden = false;
  refresh();
  setInterval(() => { if (!state.busy) refresh(); }, POLL_MS);
}

init();
