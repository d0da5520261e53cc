// Incident operations in the dashboard: silences and maintenance windows (create with
// matchers and a duration, list with their state, expire early) and postmortems (list,
// edit the Markdown draft, save it back, download it).
//
// It runs beside app.js, like map.js: it reads the session's token from sessionStorage,
// adds its two panels after the incidents panel and works while the dashboard (#main) is
// shown. Who acts is the operator's name (shared with the map's controls), sent with the
// token; a per-person token names its person by itself.

const API = '/api/v1';
const TOKEN_KEY = 'fleet.token';
const OPERATOR_KEY = 'fleet.operator';
const POLL_MS = 2000;
const UNITS = {s: 1, m: 60, h: 3600, d: 86400};

const ops = {silences: [], postmortems: [], editing: null, timer: null};

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'class') node.className = v;
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

async function call(path, {method = 'GET', body, markdown, query} = {}) {
  const url = new URL(API + path, location.origin);
  for (const [k, v] of Object.entries(query || {})) if (v) url.searchParams.set(k, v);
  const headers = {Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}`,
    Accept: 'application/json'};
  let payload;
  if (markdown !== undefined) {
    headers['Content-Type'] = 'text/markdown';
    payload = markdown;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const resp = await fetch(url, {method, headers, body: payload, cache: 'no-store'});
  const data = await resp.json().catch(() => null);
  if (!resp.ok) {
    const e = data?.error || {};
    const where = e.field ? ` (field: ${e.field})` : '';
    throw new Error(`${e.message || `HTTP ${resp.status}`}${where}`);
  }
  return data;
}

function operator() {
  const name = document.getElementById('ops-operator').value.trim();
  if (name) localStorage.setItem(OPERATOR_KEY, name);
  return name;
}

function when(iso) {
  if (!iso) return '–';
  return new Date(iso).toLocaleTimeString(undefined, {hour12: false});
}

function left(iso) {
  const s = Math.round((Date.parse(iso) - Date.now()) / 1000);
  if (s <= 0) return '';
  return s < 120 ? `${s} s left` : s < 7200 ? `${Math.round(s / 60)} min left`
    : `${Math.round(s / 3600)} h left`;
}

/** Parse 90, 90s, 30m, 2h or 1d as seconds; NaN when it is none of those. */
function seconds(text) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$/.exec(text);
  return m ? Number(m[1]) * UNITS[m[2] || 's'] : NaN;
}

function msg(id, text, isError = false) {
  const p = document.getElementById(id);
  p.textContent = text;
  p.hidden = !text;
  p.classList.toggle('error', isError);
}

// -- silences --------------------------------------------------------------------------

function silencePanel() {
  const form = el('form', {id: 'silence-form', class: 'ops-form', 'data-testid': 'silence-form',
    onsubmit: (ev) => { ev.preventDefault(); createSilence(); }},
  el('label', {}, 'Matchers (one per line: label=value, !=, =~ regex, !~)',
    el('textarea', {id: 'silence-matchers', 'data-testid': 'silence-matchers', rows: 2,
      placeholder: 'type=robot_offline\narea=~aisle_.*', required: true})),
  el('div', {class: 'ops-row'},
    el('label', {}, 'For', el('input', {id: 'silence-duration', 'data-testid':
      'silence-duration', value: '1h', size: 6, required: true})),
    el('label', {class: 'grow'}, 'Why', el('input', {id: 'silence-comment', 'data-testid':
      'silence-comment', required: true, placeholder: 'maintenance in aisle B'})),
    el('label', {}, 'Repeat', el('select', {id: 'silence-repeat'},
      el('option', {value: ''}, 'no'), el('option', {value: 'daily'}, 'daily'),
      el('option', {value: 'weekly'}, 'weekly')))),
  el('div', {class: 'ops-row'},
    el('label', {class: 'grow'}, 'Your name', el('input', {id: 'ops-operator',
      'data-testid': 'ops-operator', value: localStorage.getItem(OPERATOR_KEY) || '',
      placeholder: 'who asks (audited)'})),
    el('button', {type: 'submit', class: 'primary', 'data-testid': 'silence-create'},
      'Create silence')));
  return el('section', {id: 'silences-panel', class: 'panel', 'aria-labelledby':
    'silences-title'},
  el('div', {class: 'panel-head'}, el('h2', {id: 'silences-title'}, 'Silences'),
    el('p', {id: 'silence-count', class: 'count', 'aria-live': 'polite'})),
  el('p', {id: 'silences-msg', class: 'panel-msg', role: 'status', hidden: true}),
  form,
  el('div', {class: 'ops-scroll'}, el('table', {class: 'ops-table'}, el('thead', {},
    el('tr', {}, ...['ID', 'State', 'Matchers', 'Ends', 'By', 'Muted', 'Why', ''].map(
      (t) => el('th', {scope: 'col'}, t)))),
  el('tbody', {id: 'silence-rows'}))));
}

async function createSilence() {
  const duration = seconds(document.getElementById('silence-duration').value);
  if (!(duration > 0)) {
    msg('silences-msg', 'For: a duration such as 90s, 30m, 2h or 1d', true);
    return;
  }
  const matchers = document.getElementById('silence-matchers').value.split('\n')
    .map((s) => s.trim()).filter(Boolean);
  const body = {matchers, duration, comment: document.getElementById('silence-comment').value};
  const repeat = document.getElementById('silence-repeat').value;
  if (repeat) body.repeat = repeat;
  const who = operator();
  if (who) body.who = who;
  try {
    const s = await call('/silences', {method: 'POST', body});
    msg('silences-msg', `${s.id} created: ${s.state} until ${when(s.ends_at)}`);
    document.getElementById('silence-form').reset();
    document.getElementById('ops-operator').value = who;
    await loadSilences();
  } catch (err) {
    msg('silences-msg', `Not created: ${err.message}`, true);
  }
}

async function expireSilence(s) {
  if (!confirm(`Expire ${s.id} now? Matching notifications go out again.`)) return;
  const body = {reason: 'expired in the dashboard'};
  const who = operator();
  if (who) body.who = who;
  try {
    await call(`/silences/${encodeURIComponent(s.id)}`, {method: 'DELETE', body});
    await loadSilences();
  } catch (err) {
    msg('silences-msg', `Not expired: ${err.message}`, true);
  }
}

function silenceRow(s) {
  const matchers = s.matchers.map((m) => `${m.label}${m.op}${m.value}`).join(', ');
  const ends = `${when(s.ends_at)}${s.repeat ? ` (${s.repeat})` : ''}`;
  return el('tr', {'data-testid': 'silence-row', 'data-silence-id': s.id, 'data-state': s.state},
    el('td', {}, s.id), el('td', {}, el('span', {class: `badge state-${s.state}`,
      'data-testid': 'silence-state'}, s.state)),
    el('td', {class: 'mono'}, matchers),
    el('td', {}, ends, s.state === 'active' ? el('small', {}, ` ${left(s.ends_at)}`) : null),
    el('td', {}, s.expired_by ? `${s.created_by} (expired by ${s.expired_by})` : s.created_by),
    el('td', {'data-testid': 'silence-muted'}, s.muted), el('td', {}, s.comment),
    el('td', {}, s.state === 'expired' ? '' : el('button', {type: 'button',
      class: 'small ghost', 'data-testid': 'silence-expire', onclick: () => expireSilence(s)},
    'Expire')));
}

async function loadSilences() {
  try {
    const page = await call('/silences', {query: {limit: 100}});
    ops.silences = page.items;
  } catch (err) {
    msg('silences-msg', `Silences: ${err.message}`, true);
    return;
  }
  const active = ops.silences.filter((s) => s.state === 'active').length;
  document.getElementById('silence-count').textContent =
    `${active} active · ${ops.silences.length} in all`;
  document.getElementById('silence-rows').replaceChildren(...ops.silences.map(silenceRow));
}

// -- postmortems -----------------------------------------------------------------------

function postmortemPanel() {
  return el('section', {id: 'postmortems-panel', class: 'panel', 'aria-labelledby':
    'postmortems-title'},
  el('div', {class: 'panel-head'}, el('h2', {id: 'postmortems-title'}, 'Postmortems'),
    el('p', {id: 'postmortem-count', class: 'count'})),
  el('p', {id: 'postmortems-msg', class: 'panel-msg', role: 'status', hidden: true}),
  el('ul', {id: 'postmortem-list', class: 'ops-list'}),
  el('div', {id: 'postmortem-editor-wrap', hidden: true},
    el('h3', {id: 'postmortem-editing'}),
    el('textarea', {id: 'postmortem-editor', 'data-testid': 'postmortem-editor', rows: 18,
      spellcheck: 'true', class: 'mono'}),
    el('div', {class: 'ops-row'},
      el('button', {type: 'button', class: 'primary', 'data-testid': 'postmortem-save',
        onclick: savePostmortem}, 'Save'),
      el('a', {id: 'postmortem-download', class: 'button ghost', 'data-testid':
        'postmortem-download'}, 'Download Markdown'))));
}

async function loadPostmortems() {
  try {
    ops.postmortems = (await call('/postmortems', {query: {limit: 50}})).items;
  } catch (err) {
    msg('postmortems-msg', `Postmortems: ${err.message}`, true);
    return;
  }
  document.getElementById('postmortem-count').textContent = `${ops.postmortems.length}`;
  document.getElementById('postmortem-list').replaceChildren(...ops.postmortems.map((p) =>
    el('li', {'data-testid': 'postmortem-row', 'data-incident-id': p.incident_id},
      el('button', {type: 'button', class: 'link', onclick: () => openPostmortem(p.incident_id)},
        `${p.incident_id} · ${p.severity} · ${p.title}`),
      el('span', {class: `badge state-${p.status}`}, p.status))));
}

async function openPostmortem(id) {
  try {
    const pm = await call(`/incidents/${encodeURIComponent(id)}/postmortem`);
    ops.editing = id;
    document.getElementById('postmortem-editing').textContent = `Postmortem of ${id}`;
    document.getElementById('postmortem-editor').value = pm.markdown;
    const link = document.getElementById('postmortem-download');
    link.href = URL.createObjectURL(new Blob([pm.markdown], {type: 'text/markdown'}));
    link.download = `postmortem-${id}.md`;
    document.getElementById('postmortem-editor-wrap').hidden = false;
  } catch (err) {
    msg('postmortems-msg', `Cannot open ${id}: ${err.message}`, true);
  }
}

async function savePostmortem() {
  const id = ops.editing;
  if (!id) return;
  try {
    const pm = await call(`/incidents/${encodeURIComponent(id)}/postmortem.md`, {
      method: 'PUT', markdown: document.getElementById('postmortem-editor').value,
      query: {who: operator(), reason: 'edited in the dashboard'}});
    msg('postmortems-msg', `Saved ${id} (${pm.status})`);
    document.getElementById('postmortem-editor').value = pm.markdown;
    await loadPostmortems();
  } catch (err) {
    msg('postmortems-msg', `Not saved: ${err.message}`, true);
  }
}

// -- life cycle ------------------------------------------------------------------------

function refresh() {
  const main = document.getElementById('main');
  if (!main || main.hidden || document.hidden || !sessionStorage.getItem(TOKEN_KEY)) return;
  loadSilences();
  loadPostmortems();
}

function install() {
  const anchor = document.getElementById('incidents-panel');
  if (!anchor || document.getElementById('silences-panel')) return;
  anchor.after(silencePanel(), postmortemPanel());
  // First calls after the fleet table's first drawing (app.js), which needs the connections.
  (window.fleetFirstRender || Promise.resolve()).then(() => {
    refresh();
    ops.timer = setInterval(refresh, POLL_MS);
    new MutationObserver(refresh).observe(document.getElementById('main'),
      {attributes: true, attributeFilter: ['hidden']});
  });
}

window.fleetIncidentOps = {refresh, seconds};
install();
