// The site map of the dashboard: the site config (areas, aisles, docks) and its occupancy
// grid, with the live robots (position, heading, colour by state), their mission paths and
// goals, and markers of open incidents, on one canvas (smooth with 1,000 robots). Zoom with
// the wheel or the buttons, pan by dragging; a click on a robot opens its popup, with the
// robot controls (pause, resume, return to dock, cancel mission, decommission), each
// confirmed and sent with the operator's name and reason through the API.
//
// It runs beside app.js: it reads the session's token from sessionStorage and works while
// the dashboard (#main) is shown. window.fleetMap exposes what is drawn, in page
// coordinates, and the inverse transform, so a test can read the positions off the page.

const API = '/api/v1';
const TOKEN_KEY = 'fleet.token';
const OPERATOR_KEY = 'fleet.operator';
const POLL_MS = {robots: 1000, missions: 3000, incidents: 5000, site: 60000};
const ROBOT_LIMIT = 1000;
const ROBOT_RADIUS_M = 0.35;
const MIN_RADIUS_PX = 4;
const LABELS_UP_TO = 200; // robots: above that, names only when zoomed in
const ZOOM_STEP = 1.25;
const DRAG_PX = 4; // pointer travel that makes a click a drag
const STATE_COLOURS = {
  offline: '#8a94a3', stale: '#c98a00', error: '#c62828', paused: '#7b3fbf',
  working: '#1f5fbf', charging: '#1d7a3a', idle: '#15808a', unknown: '#5b6675',
  decommissioned: '#4a4f57',
};
const CONTROLS = [
  {command: 'pause', label: 'Pause', ask: 'Pause {id}? It stops where it is until resumed.'},
  {command: 'resume', label: 'Resume', ask: 'Resume {id}? It continues its mission.'},
  {command: 'return_to_dock', label: 'Return to dock', ask: 'Send {id} to its dock?'},
  {command: 'cancel_mission', label: 'Cancel mission',
    ask: 'Cancel the mission {id} is executing?'},
  {command: 'decommission', label: 'Decommission',
    ask: 'Decommission {id}? It takes no new missions until recommissioned.'},
  {command: 'recommission', label: 'Recommission', ask: 'Put {id} back in service?'},
];

const map = {
  site: null, grid: null, robots: [], missions: new Map(), incidents: [],
  view: {cx: 0, cy: 0, scale: 20, fitted: false},
  drawn: [], // [{id, x, y, sx, sy, r}] in canvas CSS pixels
  popup: null, // robot id
  confirm: null, // the control awaiting confirmation
  message: null, // {text, error}
  frame: {last: 0, count: 0, total: 0},
  timers: [], dirty: false, running: false, abort: null,
};

const el = (id) => document.getElementById(id);

function node(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else if (k in e) e[k] = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  e.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return e;
}

async function call(path, {method = 'GET', body, query} = {}) {
  const url = new URL(API + path, location.origin);
  Object.entries(query || {}).forEach(([k, v]) => url.searchParams.set(k, v));
  const headers = {Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}`,
    Accept: 'application/json'};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const resp = await fetch(url, {method, headers, cache: 'no-store', signal: map.abort?.signal,
    body: body === undefined ? undefined : JSON.stringify(body)});
  const data = await resp.json().catch(() => null);
  if (!resp.ok) {
    const e = data?.error || {};
    const err = new Error(e.message || `HTTP ${resp.status}`);
    err.field = e.field;
    err.status = resp.status;
    throw err;
  }
  return data;
}

// -- the transform --------------------------------------------------------------------------

function canvasSize() {
  const c = el('site-map');
  return {w: c.clientWidth, h: c.clientHeight};
}

/** World (m) -> canvas CSS pixels. */
function toCanvas(x, y) {
  const {w, h} = canvasSize();
  const v = map.view;
  return [w / 2 + (x - v.cx) * v.scale, h / 2 - (y - v.cy) * v.scale];
}

/** Canvas CSS pixels -> world (m). */
function toWorldFromCanvas(sx, sy) {
  const {w, h} = canvasSize();
  const v = map.view;
  return [v.cx + (sx - w / 2) / v.scale, v.cy - (sy - h / 2) / v.scale];
}

/** Page coordinates (as a click has them) -> world (m). */
function pageToWorld(px, py) {
  const box = el('site-map').getBoundingClientRect();
  return toWorldFromCanvas(px - box.left - window.scrollX, py - box.top - window.scrollY);
}

function fit() {
  const b = map.site?.bounds || {x_min: 0, y_min: 0, x_max: 10, y_max: 10};
  const {w, h} = canvasSize();
  const spanX = Math.max(b.x_max - b.x_min, 1);
  const spanY = Math.max(b.y_max - b.y_min, 1);
  map.view = {cx: (b.x_min + b.x_max) / 2, cy: (b.y_min + b.y_max) / 2,
    scale: Math.max(0.5, Math.min((w - 24) / spanX, (h - 24) / spanY)), fitted: true};
  redraw();
}

function zoomAt(factor, sx, sy) {
  const [wx, wy] = toWorldFromCanvas(sx, sy);
  const v = map.view;
  v.scale = Math.min(400, Math.max(0.2, v.scale * factor));
  const [nx, ny] = toWorldFromCanvas(sx, sy);
  v.cx += wx - nx;
  v.cy += wy - ny;
  redraw();
}

// -- drawing ----------------------------------------------------------------------------------

function robotState(r) {
  if (r.decommissioned) return 'decommissioned';
  if (r.connectivity !== 'online') return r.connectivity;
  return STATE_COLOURS[r.mode] ? r.mode : 'unknown';
}

function redraw() {
  if (!map.dirty) {
    map.dirty = true;
    requestAnimationFrame(draw);
  }
}

function drawSite(g) {
  const grid = map.site?.occupancy;
  if (grid && map.grid?.complete) {
    const [x0, y0] = toCanvas(grid.bounds.x_min, grid.bounds.y_max);
    const s = map.view.scale;
    g.imageSmoothingEnabled = false;
    g.drawImage(map.grid, x0, y0, (grid.bounds.x_max - grid.bounds.x_min) * s,
      (grid.bounds.y_max - grid.bounds.y_min) * s);
  }
  g.font = '11px system-ui, sans-serif';
  for (const a of map.site?.areas || []) {
    const [x0, y0] = toCanvas(a.x_min, a.y_max);
    const [x1, y1] = toCanvas(a.x_max, a.y_min);
    g.fillStyle = a.kind === 'aisle' ? 'rgba(31, 95, 191, 0.08)' : 'rgba(29, 122, 58, 0.07)';
    g.strokeStyle = a.kind === 'aisle' ? 'rgba(31, 95, 191, 0.45)' : 'rgba(29, 122, 58, 0.4)';
    g.fillRect(x0, y0, x1 - x0, y1 - y0);
    g.strokeRect(x0 + 0.5, y0 + 0.5, x1 - x0 - 1, y1 - y0 - 1);
    g.fillStyle = '#3c4653';
    g.fillText(a.name, x0 + 4, y0 + 13);
  }
  for (const d of map.site?.docks || []) {
    const [x, y] = toCanvas(d.x, d.y);
    g.fillStyle = '#ffffff';
    g.strokeStyle = '#1d7a3a';
    g.fillRect(x - 6, y - 6, 12, 12);
    g.strokeRect(x - 6, y - 6, 12, 12);
    g.fillStyle = '#1d7a3a';
    g.fillText(d.name, x - 6, y + 18); // below the dock: robot names go above the robots
  }
}

function drawMissions(g, byId) {
  g.save();
  g.setLineDash([6, 4]);
  g.lineWidth = 1.5;
  g.strokeStyle = 'rgba(31, 95, 191, 0.7)';
  g.beginPath();
  const goals = [];
  for (const m of map.missions.values()) {
    const r = byId.get(m.robot_id);
    const pts = (m.waypoints || []).map((w) => toCanvas(w.x, w.y));
    if (!pts.length) continue;
    const start = r ? toCanvas(r.pose.x, r.pose.y) : pts[0];
    g.moveTo(start[0], start[1]);
    pts.forEach(([x, y]) => g.lineTo(x, y));
    goals.push(pts[pts.length - 1]);
  }
  g.stroke();
  g.restore();
  g.fillStyle = '#1f5fbf';
  g.beginPath();
  for (const [x, y] of goals) {
    g.moveTo(x, y - 7);
    g.lineTo(x + 5, y);
    g.lineTo(x, y + 7);
    g.lineTo(x - 5, y);
    g.closePath();
  }
  g.fill();
}

function drawRobots(g, robots) {
  const radius = Math.max(MIN_RADIUS_PX, ROBOT_RADIUS_M * map.view.scale);
  const groups = new Map();
  const drawn = [];
  const {w, h} = canvasSize();
  for (const r of robots) {
    if (!r.pose || r.last_seen === null) continue;
    const [sx, sy] = toCanvas(r.pose.x, r.pose.y);
    drawn.push({id: r.id, x: r.pose.x, y: r.pose.y, theta: r.pose.theta, sx, sy, r: radius,
      state: robotState(r)});
    if (sx < -radius || sy < -radius || sx > w + radius || sy > h + radius) continue;
    const key = robotState(r);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(drawn[drawn.length - 1]);
  }
  // One path per colour: a few fill calls however many robots there are.
  for (const [key, items] of groups) {
    g.fillStyle = STATE_COLOURS[key];
    g.beginPath();
    for (const d of items) {
      g.moveTo(d.sx + radius, d.sy);
      g.arc(d.sx, d.sy, radius, 0, 2 * Math.PI);
    }
    g.fill();
  }
  g.strokeStyle = '#ffffff';
  g.lineWidth = Math.max(1.5, radius / 3);
  g.beginPath();
  for (const d of drawn) {
    g.moveTo(d.sx, d.sy);
    g.lineTo(d.sx + Math.cos(d.theta) * radius, d.sy - Math.sin(d.theta) * radius);
  }
  g.stroke();
  if (robots.length <= LABELS_UP_TO || map.view.scale > 30) {
    g.fillStyle = '#17202b';
    g.font = '11px system-ui, sans-serif';
    for (const d of drawn) g.fillText(d.id, d.sx + radius + 3, d.sy - radius);
  }
  const sel = drawn.find((d) => d.id === map.popup);
  if (sel) {
    g.strokeStyle = '#17202b';
    g.lineWidth = 2;
    g.beginPath();
    g.arc(sel.sx, sel.sy, radius + 4, 0, 2 * Math.PI);
    g.stroke();
  }
  return drawn;
}

function drawIncidents(g, byId) {
  g.fillStyle = '#c62828';
  g.strokeStyle = '#ffffff';
  g.lineWidth = 1.5;
  const radius = Math.max(MIN_RADIUS_PX, ROBOT_RADIUS_M * map.view.scale);
  for (const inc of map.incidents) {
    const r = byId.get(inc.robot_id); // fleet-level incidents (no robot) have no place
    if (!r?.pose || r.last_seen === null) continue;
    const [x, y] = toCanvas(r.pose.x, r.pose.y);
    const top = y - radius - 16;
    g.beginPath();
    g.moveTo(x, top);
    g.lineTo(x + 7, top + 12);
    g.lineTo(x - 7, top + 12);
    g.closePath();
    g.fill();
    g.stroke();
  }
}

function draw(now) {
  map.dirty = false;
  const c = el('site-map');
  if (!c || !c.clientWidth) return;
  const t0 = performance.now();
  const dpr = window.devicePixelRatio || 1;
  const {w, h} = canvasSize();
  if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
    c.width = Math.round(w * dpr);
    c.height = Math.round(h * dpr);
  }
  if (!map.view.fitted && map.site) fit();
  const g = c.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.fillStyle = '#f7f8fa';
  g.fillRect(0, 0, w, h);
  const robots = map.robots;
  const byId = new Map(robots.map((r) => [r.id, r]));
  drawSite(g);
  drawMissions(g, byId);
  map.drawn = drawRobots(g, robots);
  drawIncidents(g, byId);
  const ms = performance.now() - t0;
  map.frame = {last: ms, count: map.frame.count + 1, total: map.frame.total + ms};
  c.dataset.robotsDrawn = String(map.drawn.length);
  c.dataset.frameMs = ms.toFixed(2);
  if (map.popup) positionPopup();
  return now;
}

// -- the popup and the controls -----------------------------------------------------------

function robotAt(sx, sy) {
  let best = null;
  let bestD = Infinity;
  for (const d of map.drawn) {
    const dist = Math.hypot(d.sx - sx, d.sy - sy);
    if (dist <= d.r + 4 && dist < bestD) {
      best = d;
      bestD = dist;
    }
  }
  return best;
}

function openPopup(id) {
  map.popup = id;
  map.confirm = null;
  map.message = null;
  renderPopup();
  redraw();
}

function closePopup() {
  map.popup = null;
  map.confirm = null;
  el('map-popup').hidden = true;
  redraw();
}

function positionPopup() {
  const d = map.drawn.find((x) => x.id === map.popup);
  const pop = el('map-popup');
  if (!d || pop.hidden) return;
  const {w, h} = canvasSize();
  // Beside the robot, kept inside the map (it grows downwards only if the map is too short).
  const left = d.sx + 14 + pop.offsetWidth <= w ? d.sx + 14 : d.sx - 14 - pop.offsetWidth;
  pop.style.left = `${Math.max(4, left)}px`;
  pop.style.top = `${Math.max(4, Math.min(d.sy - 20, h - pop.offsetHeight - 4))}px`;
}

/** The controls that make sense now: pause and cancel need a mission, a paused robot can
 * be resumed, the agent docks only a robot without a mission. */
function controlsFor(r) {
  const paused = r.mode === 'paused';
  const busy = Boolean(r.current_mission_id);
  const when = {
    pause: busy && !paused, resume: paused, cancel_mission: busy, return_to_dock: !busy,
    decommission: !r.decommissioned, recommission: Boolean(r.decommissioned),
  };
  return CONTROLS.filter((c) => when[c.command]);
}

function fact(label, value, testid) {
  return [node('dt', {}, label), node('dd', {dataset: testid ? {testid} : {}}, value ?? '—')];
}

function renderPopup() {
  const pop = el('map-popup');
  const r = map.robots.find((x) => x.id === map.popup);
  if (!r) {
    closePopup();
    return;
  }
  const mission = r.current_mission_id ? map.missions.get(r.current_mission_id) : null;
  const incidents = map.incidents.filter((i) => i.robot_id === r.id);
  const pose = r.pose || {};
  const body = [
    node('div', {class: 'map-popup-head'},
      node('h3', {id: 'map-popup-title'}, `Robot ${r.id}`),
      node('button', {type: 'button', class: 'ghost small', 'aria-label': 'Close',
        onclick: closePopup}, '×')),
    node('dl', {class: 'facts'},
      fact('State', node('span', {class: `badge mode-${robotState(r)}`},
        robotState(r)), 'map-popup-state'),
      fact('Mode', r.mode, 'map-popup-mode'),
      fact('Link', r.connectivity),
      fact('Battery', r.battery === null ? '—' : `${Math.round(r.battery * 100)} %`),
      fact('Pose', `${pose.x?.toFixed(2)}, ${pose.y?.toFixed(2)}, ${pose.theta?.toFixed(2)}`),
      fact('Mission', r.current_mission_id || '—', 'map-popup-mission'),
      mission?.waiting_on ? fact('Waiting', mission.waiting_on, 'map-popup-waiting') : [],
      incidents.length ? fact('Incidents', incidents.map((i) => `${i.id} ${i.title || i.type}`)
        .join(', '), 'map-popup-incidents') : []),
  ];
  if (map.confirm) {
    body.push(confirmForm(r, map.confirm));
  } else {
    body.push(node('div', {class: 'map-actions'}, controlsFor(r).map((c) => node('button', {
      type: 'button', class: c.command === 'decommission' ? 'small danger-ghost' : 'small',
      dataset: {testid: `map-action-${c.command}`},
      onclick: () => { map.confirm = c; map.message = null; renderPopup(); },
    }, c.label))));
  }
  if (map.message) {
    body.push(node('p', {class: `form-msg${map.message.error ? ' error' : ''}`,
      role: 'status', dataset: {testid: 'map-popup-message'}}, map.message.text));
  }
  pop.replaceChildren(...body);
  pop.hidden = false;
  positionPopup();
}

function confirmForm(r, control) {
  const operator = node('input', {id: 'map-operator', name: 'operator', required: true,
    maxLength: 100, autocomplete: 'name', value: localStorage.getItem(OPERATOR_KEY) || '',
    dataset: {testid: 'map-operator'}});
  const reason = node('input', {id: 'map-reason', name: 'reason', required: true,
    maxLength: 1000, dataset: {testid: 'map-reason'}});
  return node('form', {class: 'map-confirm', onsubmit: (ev) => {
    ev.preventDefault();
    send(r.id, control, operator.value.trim(), reason.value.trim(), ev.submitter);
  }},
  node('p', {class: 'ask'}, control.ask.replace('{id}', r.id)),
  node('label', {htmlFor: 'map-operator'}, 'Your name'), operator,
  node('label', {htmlFor: 'map-reason'}, 'Reason'), reason,
  node('div', {class: 'map-actions'},
    node('button', {type: 'submit', class: 'small primary', dataset: {testid: 'map-confirm'}},
      `Confirm: ${control.label.toLowerCase()}`),
    node('button', {type: 'button', class: 'small ghost', onclick: () => {
      map.confirm = null;
      renderPopup();
    }}, 'Back')));
}

async function send(id, control, operator, reason, button) {
  if (button) button.disabled = true;
  localStorage.setItem(OPERATOR_KEY, operator);
  const robot = encodeURIComponent(id);
  try {
    if (control.command === 'decommission' || control.command === 'recommission') {
      await call(`/robots/${robot}/${control.command}`, {method: 'POST',
        body: {operator, reason}});
      map.message = {text: `${id}: ${control.command}ed by ${operator}`};
    } else {
      const answer = await call(`/robots/${robot}/commands`, {method: 'POST',
        body: {command: control.command, args: {}, operator, reason}});
      map.message = {text: `${control.label} sent to ${id} (command ${answer.command_id})`};
    }
    map.confirm = null;
    loadRobots();
  } catch (err) {
    if (err.name === 'AbortError') return;
    map.message = {text: `${control.label} refused: ${err.message}`
      + (err.field ? ` (field: ${err.field})` : ''), error: true};
  }
  renderPopup();
}

// -- data -------------------------------------------------------------------------------------

async function loadSite() {
  try {
    map.site = await call('/site/map');
    const grid = map.site.occupancy;
    if (grid) {
      map.grid = new Image();
      map.grid.onload = redraw;
      map.grid.src = `data:image/png;base64,${grid.image_png}`;
    }
    el('map-status').textContent = map.site.site;
    map.view.fitted = false;
    redraw();
  } catch (err) {
    if (err.name !== 'AbortError') el('map-status').textContent = `No site map: ${err.message}`;
  }
}

async function loadRobots() {
  try {
    const page = await call('/robots', {query: {limit: ROBOT_LIMIT}});
    map.robots = page.items || [];
    redraw();
    if (map.popup && !map.confirm) renderPopup();
  } catch (err) {
    if (err.name !== 'AbortError') el('map-status').textContent = `Robots: ${err.message}`;
  }
}

async function loadMissions() {
  try {
    const [active, assigned] = await Promise.all(['active', 'assigned'].map((state) =>
      call('/missions', {query: {state, limit: ROBOT_LIMIT}})));
    map.missions = new Map([...active.items, ...assigned.items].map((m) => [m.id, m]));
    redraw();
  } catch (err) {
    if (err.name !== 'AbortError') el('map-status').textContent = `Missions: ${err.message}`;
  }
}

async function loadIncidents() {
  try {
    const pages = await Promise.all(['triggered', 'acknowledged'].map((state) =>
      call('/incidents', {query: {state, limit: 200}})));
    map.incidents = pages.flatMap((p) => p.items || []);
    redraw();
  } catch {
    map.incidents = []; // incidents are optional for the map
  }
}

function start() {
  if (map.running) return;
  map.running = true;
  map.abort = new AbortController();
  // The robots (up to 1,000 of them), site, missions and incidents wait for the fleet
  // table's first drawing (app.js): the table's first rows and counts come first.
  (window.fleetFirstRender || Promise.resolve()).then(() => {
    if (!map.running) return;
    loadRobots();
    loadSite();
    loadMissions();
    loadIncidents();
  });
  const every = (ms, fn) => map.timers.push(setInterval(() => {
    if (!document.hidden) fn();
  }, ms));
  every(POLL_MS.robots, loadRobots);
  every(POLL_MS.missions, loadMissions);
  every(POLL_MS.incidents, loadIncidents);
  every(POLL_MS.site, loadSite);
}

function stop() {
  map.running = false;
  map.abort?.abort();
  map.timers.forEach(clearInterval);
  map.timers = [];
}

// -- input ------------------------------------------------------------------------------------

function bindInput() {
  const c = el('site-map');
  let drag = null;
  c.addEventListener('pointerdown', (ev) => {
    drag = {x: ev.offsetX, y: ev.offsetY, cx: map.view.cx, cy: map.view.cy, moved: false};
    c.setPointerCapture(ev.pointerId);
  });
  c.addEventListener('pointermove', (ev) => {
    if (!drag) return;
    const dx = ev.offsetX - drag.x;
    const dy = ev.offsetY - drag.y;
    if (!drag.moved && Math.hypot(dx, dy) < DRAG_PX) return;
    drag.moved = true;
    map.view.cx = drag.cx - dx / map.view.scale;
    map.view.cy = drag.cy + dy / map.view.scale;
    redraw();
  });
  c.addEventListener('pointerup', (ev) => {
    const wasDrag = drag?.moved;
    drag = null;
    if (wasDrag) return;
    const hit = robotAt(ev.offsetX, ev.offsetY);
    if (hit) openPopup(hit.id);
    else closePopup();
  });
  c.addEventListener('wheel', (ev) => {
    ev.preventDefault();
    zoomAt(ev.deltaY < 0 ? ZOOM_STEP : 1 / ZOOM_STEP, ev.offsetX, ev.offsetY);
  }, {passive: false});
  c.addEventListener('keydown', (ev) => {
    const {w, h} = canvasSize();
    const pan = 40 / map.view.scale;
    const keys = {
      '+': () => zoomAt(ZOOM_STEP, w / 2, h / 2), '=': () => zoomAt(ZOOM_STEP, w / 2, h / 2),
      '-': () => zoomAt(1 / ZOOM_STEP, w / 2, h / 2), '0': fit,
      ArrowLeft: () => { map.view.cx -= pan; redraw(); },
      ArrowRight: () => { map.view.cx += pan; redraw(); },
      ArrowUp: () => { map.view.cy += pan; redraw(); },
      ArrowDown: () => { map.view.cy -= pan; redraw(); },
      Escape: closePopup,
    };
    if (keys[ev.key]) {
      ev.preventDefault();
      keys[ev.key]();
    }
  });
  el('map-zoom-in').addEventListener('click', () => zoomAt(ZOOM_STEP, canvasSize().w / 2,
    canvasSize().h / 2));
  el('map-zoom-out').addEventListener('click', () => zoomAt(1 / ZOOM_STEP,
    canvasSize().w / 2, canvasSize().h / 2));
  el('map-fit').addEventListener('click', fit);
  new ResizeObserver(redraw).observe(c);
  el('map-popup').addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') {
      closePopup();
      c.focus();
    }
  });
}

/** Draw ``n`` synthetic robots ``frames`` times (nothing is sent); return ms per frame. */
function benchmark(n = 1000, frames = 60) {
  const saved = map.robots;
  const b = map.site?.bounds || {x_min: 0, y_min: 0, x_max: 30, y_max: 20};
  const modes = ['idle', 'working', 'paused', 'charging', 'error'];
  map.robots = Array.from({length: n}, (_, i) => ({
    id: `bench${i + 1}`, connectivity: i % 37 ? 'online' : 'stale', mode: modes[i % 5],
    pose: {x: b.x_min + ((i * 7.3) % (b.x_max - b.x_min)),
      y: b.y_min + ((i * 3.1) % (b.y_max - b.y_min)), theta: i % 6},
    last_seen: 'now', battery: 0.5}));
  const t0 = performance.now();
  for (let i = 0; i < frames; i += 1) draw(t0);
  const perFrame = (performance.now() - t0) / frames;
  map.robots = saved;
  redraw();
  return perFrame;
}

window.fleetMap = {
  /** The robots as drawn: id, world pose, and the page coordinates of their centres. */
  drawnRobots() {
    const box = el('site-map').getBoundingClientRect();
    return map.drawn.map((d) => ({id: d.id, x: d.x, y: d.y, theta: d.theta, state: d.state,
      clientX: box.left + d.sx, clientY: box.top + d.sy,
      pageX: box.left + window.scrollX + d.sx, pageY: box.top + window.scrollY + d.sy}));
  },
  pageToWorld,
  frameMs: () => ({last: map.frame.last, mean: map.frame.total / (map.frame.count || 1),
    frames: map.frame.count}),
  benchmark,
  openRobot: openPopup,
  refresh: () => Promise.all([loadRobots(), loadMissions(), loadIncidents()]),
};

function init() {
  if (!el('site-map')) return;
  bindInput();
  const main = el('main');
  const follow = () => {
    if (!main.hidden && sessionStorage.getItem(TOKEN_KEY)) start();
    else stop();
  };
  new MutationObserver(follow).observe(main, {attributes: true, attributeFilter: ['hidden']});
  follow();
}

init();
