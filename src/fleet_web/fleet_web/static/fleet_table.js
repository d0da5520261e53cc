// The fleet table: a window over the whole fleet, however large.
//
// Only the rows that can be scrolled into view are in the page: those of the scroller's
// height (its CSS max-height) plus OVERSCAN above and below; one spacer row above and one
// below stand for the others, so scrolling stays true to the whole fleet. With
// `table-layout: fixed` and rows of one height (app.css), the table's layout costs the same
// at 10 robots as at 10,000.
//
// The rows come from the API a block of BLOCK robots at a time, in the server's (natural)
// order and, when the operator picks one, of one connectivity; only the blocks in view are
// asked for, and a refresh (poll or event) asks again for those alone. A search by robot id
// reads the matches (the server filters: `id_contains`) in the API's largest pages, at most
// once per SEARCH_REFRESH_MS, and windows them the same way.

export const BLOCK = 100; // robots per API request of the table
const OVERSCAN = 8; // rows drawn beyond each edge of the view
const ROW_PX = 33; // a row's height until one has been measured (app.css sets it)
const SEARCH_PAGE = 1000; // the API's largest page
const SEARCH_REFRESH_MS = 5000; // a search reads the fleet again at most this often
const SCROLL_FETCH_MS = 120; // blocks scrolled into view are asked for once scrolling pauses

export class FleetTable {
  /**
   * api(path, {query}) -> Promise of the JSON answer; rowOf(robot) -> its <tr>;
   * scroller: the element that scrolls the table; tbody: where the rows go;
   * columns: the table's column count; emptyText(filtered) -> the text of an empty table.
   */
  constructor({api, rowOf, scroller, tbody, columns, emptyText}) {
    Object.assign(this, {api, rowOf, scroller, tbody, columns, emptyText});
    this.connectivity = '';
    this.search = '';
    this.count = 0; // rows of the current view (all robots, or those that match)
    this.known = false; // count has been read at least once for the current filter
    this.blocks = new Map(); // block index -> robots (server-paged view)
    this.matches = null; // robots that match the search (search view)
    this.searchedAt = 0;
    this.filterGen = 0; // bumped when the filter changes: answers for an older one are dropped
    this.blockGen = 0; // bumped by each refresh: older blocks are not put back
    this.inFlight = new Set();
    this.rowPx = ROW_PX;
    this.measured = false;
    this.scrollTimer = null;
    this.frame = 0;
    scroller.addEventListener('scroll', () => this.onScroll(), {passive: true});
    tbody.addEventListener('keydown', (ev) => this.onKey(ev));
    window.addEventListener('resize', () => this.onScroll());
  }

  get filtered() {
    return Boolean(this.connectivity || this.search);
  }

  /** Show only robots of `connectivity` ('' for all) whose id contains `search`. True when
   * the filter changed: the caller then refreshes the table. */
  setFilter({connectivity = this.connectivity, search = this.search} = {}) {
    search = search.trim();
    if (connectivity === this.connectivity && search === this.search) return null;
    Object.assign(this, {connectivity, search, matches: null, known: false, count: 0});
    this.filterGen += 1;
    this.blocks = new Map();
    this.scroller.scrollTop = 0;
    return true;
  }

  /** Read the rows in view (or the search's matches) again and draw them. Resolves to the
   * number of rows of the view; rejects with the API's error. */
  async refresh() {
    const gen = this.filterGen;
    if (this.search) {
      if (this.matches === null || Date.now() - this.searchedAt >= SEARCH_REFRESH_MS) {
        const matches = await this.readMatches();
        if (gen !== this.filterGen) return this.count;
        Object.assign(this, {matches, count: matches.length, known: true,
          searchedAt: Date.now()});
      }
      this.render();
      return this.count;
    }
    const [first, last] = this.blockRange();
    const blockGen = ++this.blockGen;
    const pages = await Promise.all(range(first, last + 1).map((b) => this.readBlock(b)));
    if (gen !== this.filterGen) return this.count;
    this.count = pages[0].total ?? pages[0].items.length;
    this.known = true;
    if (blockGen === this.blockGen) {
      this.blocks = new Map(pages.map((p, k) => [first + k, p.items || []]));
    }
    this.render();
    return this.count;
  }

  /** The robots of the first block read (all of a small fleet), for counts. */
  firstBlock() {
    return this.search ? null : this.blocks.get(0) || null;
  }

  /** A robot that is drawn or was read for the view, by id (undefined if not among them). */
  find(id) {
    if (this.matches) return this.matches.find((r) => r.id === id);
    for (const items of this.blocks.values()) {
      const robot = items.find((r) => r.id === id);
      if (robot) return robot;
    }
    return undefined;
  }

  /** Draw the rows in view from what has been read; ask for blocks not read yet. */
  render() {
    const [start, end] = this.rowRange();
    // Focus stays on its robot, or else on its place (a row that was still being read).
    const active = document.activeElement;
    const focused = this.tbody.contains(active) ? active.dataset.robotId : undefined;
    const focusedRow = this.tbody.contains(active) ? active.dataset.row : undefined;
    const rows = [];
    if (start > 0) rows.push(this.spacer(start));
    for (let i = start; i < end; i += 1) {
      const robot = this.rowAt(i);
      const row = robot ? this.rowOf(robot) : this.placeholder();
      row.dataset.row = String(i);
      rows.push(row);
    }
    if (end < this.count) rows.push(this.spacer(this.count - end));
    if (this.known && this.count === 0) {
      const td = document.createElement('td');
      td.colSpan = this.columns;
      td.className = 'empty muted';
      td.textContent = this.emptyText(this.filtered);
      const tr = document.createElement('tr');
      tr.append(td);
      rows.push(tr);
    }
    this.tbody.replaceChildren(...rows);
    const refocus = (focused && this.tbody.querySelector(
      `tr[data-robot-id="${CSS.escape(focused)}"]`))
      || (focusedRow && this.tbody.querySelector(`tr[data-row="${focusedRow}"]`));
    refocus?.focus({preventScroll: true});
    if (!this.search) this.scheduleBlocks(0);
  }

  /** Move the focus to row `i` (of the view), scrolling it into view below the header. */
  focusRow(i) {
    const s = this.scroller;
    const head = this.tbody.parentElement.tHead?.offsetHeight || 0;
    const top = i * this.rowPx;
    if (top < s.scrollTop) s.scrollTop = top;
    else if (head + top + this.rowPx > s.scrollTop + s.clientHeight) {
      s.scrollTop = head + top + this.rowPx - s.clientHeight;
    }
    this.render();
    this.tbody.querySelector(`tr[data-row="${i}"]`)?.focus({preventScroll: true});
  }

  // -- inside -------------------------------------------------------------------------------

  rowAt(i) {
    if (this.search) return this.matches?.[i];
    return this.blocks.get(Math.floor(i / BLOCK))?.[i % BLOCK];
  }

  /** The view's height: the scroller's max-height (it shows at most that much). */
  viewPx() {
    const max = parseFloat(getComputedStyle(this.scroller).maxHeight);
    return Number.isFinite(max) && max > 0 ? max : window.innerHeight;
  }

  /** First and one-past-last row to draw. */
  rowRange() {
    const top = this.scroller.scrollTop;
    const start = Math.max(0, Math.floor(top / this.rowPx) - OVERSCAN);
    const rows = Math.ceil(this.viewPx() / this.rowPx);
    const end = Math.floor(top / this.rowPx) + rows + OVERSCAN;
    return [start, this.known ? Math.min(this.count, end) : end];
  }

  /** First and last block of the rows to draw (block 0 before the fleet's size is known:
   * the first request then goes out before anything asks the page for its layout). */
  blockRange() {
    if (!this.known) return [0, 0];
    const [start, end] = this.rowRange();
    if (end <= start) return [0, 0];
    return [Math.floor(start / BLOCK), Math.floor((end - 1) / BLOCK)];
  }

  async readBlock(b) {
    const page = await this.api('/robots', {query: {limit: BLOCK, offset: b * BLOCK || null,
      connectivity: this.connectivity}});
    return {total: page.total, items: page.items || []};
  }

  async readMatches() {
    const query = (offset) => this.api('/robots', {query: {limit: SEARCH_PAGE,
      offset: offset || null, connectivity: this.connectivity, id_contains: this.search}});
    const first = await query(0);
    const rest = [];
    for (let offset = SEARCH_PAGE; offset < (first.total || 0); offset += SEARCH_PAGE) {
      rest.push(query(offset));
    }
    return [first, ...await Promise.all(rest)].flatMap((p) => p.items || []);
  }

  /** Ask (after `delay` ms) for the blocks in view that have not been read. */
  scheduleBlocks(delay) {
    clearTimeout(this.scrollTimer);
    this.scrollTimer = setTimeout(() => this.readMissingBlocks(), delay);
  }

  async readMissingBlocks() {
    if (this.search || !this.known) return;
    const [first, last] = this.blockRange();
    const gen = this.filterGen;
    const blockGen = this.blockGen;
    const missing = range(first, last + 1).filter((b) => !this.blocks.has(b)
      && !this.inFlight.has(`${gen}:${b}`) && b * BLOCK < this.count);
    if (!missing.length) return;
    missing.forEach((b) => this.inFlight.add(`${gen}:${b}`));
    try {
      const pages = await Promise.all(missing.map((b) => this.readBlock(b)));
      if (gen !== this.filterGen || blockGen !== this.blockGen) return;
      pages.forEach((p, k) => this.blocks.set(missing[k], p.items));
      this.render();
    } catch {
      // The next refresh (poll or event) reads the rows in view again.
    } finally {
      missing.forEach((b) => this.inFlight.delete(`${gen}:${b}`));
    }
  }

  /** Arrow keys, Page Up/Down, Home and End move through the whole view, not only the rows
   * drawn (Tab leaves the table after the rows drawn). */
  onKey(ev) {
    const row = ev.target.closest?.('tr[data-row]');
    const page = Math.max(1, Math.floor(this.scroller.clientHeight / this.rowPx) - 1);
    const to = {ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page}[ev.key];
    const jump = ev.key === 'Home' || ev.key === 'End';
    if (!row || this.count === 0 || (to === undefined && !jump)) return;
    ev.preventDefault();
    const i = ev.key === 'Home' ? 0 : ev.key === 'End' ? this.count - 1
      : Math.min(this.count - 1, Math.max(0, Number(row.dataset.row) + to));
    this.focusRow(i);
  }

  onScroll() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      if (!this.measured) this.measure();
      const [start, end] = this.rowRange();
      const drawn = this.tbody.querySelectorAll('tr[data-row]');
      const first = Number(drawn[0]?.dataset.row ?? -1);
      const last = Number(drawn[drawn.length - 1]?.dataset.row ?? -1);
      if (first !== start || last !== end - 1) this.render();
      if (!this.search) this.scheduleBlocks(SCROLL_FETCH_MS);
    });
  }

  /** Take the rows' height from a drawn row (layout is clean in a frame callback). */
  measure() {
    const row = this.tbody.querySelector('tr[data-row]');
    const px = row?.getBoundingClientRect().height;
    if (px) {
      this.rowPx = px;
      this.measured = true;
    }
  }

  spacer(rows) {
    const td = document.createElement('td');
    td.colSpan = this.columns;
    td.style.height = `${rows * this.rowPx}px`;
    const tr = document.createElement('tr');
    tr.className = 'spacer';
    tr.setAttribute('aria-hidden', 'true');
    tr.append(td);
    return tr;
  }

  placeholder() {
    const td = document.createElement('td');
    td.colSpan = this.columns;
    td.className = 'muted';
    td.textContent = '…';
    const tr = document.createElement('tr');
    tr.className = 'placeholder';
    tr.tabIndex = -1;
    tr.append(td);
    return tr;
  }
}

function range(from, to) {
  return Array.from({length: Math.max(0, to - from)}, (_, k) => from + k);
}
