// dongbo dashboard. Plain browser JavaScript, no build step, no dependency: it reads the public
// /api routes (JSON envelope {success, data} / {success: false, error}) and follows running jobs
// with server-sent events from /api/jobs/{id}/stream.
'use strict';

(() => {
  const REFRESH_MS = 3000; // How often the job list (and an unfinished job's timeline) is re-read.
  // Browsers allow six HTTP/1.1 connections per origin and every live stream holds one; keep
  // enough free for the page's own requests. Jobs beyond this are updated by the list refresh.
  const MAX_STREAMS = 4;
  const SPEED_WINDOW_MS = 20000; // Speed is measured over the updates of the last 20 s.
  const TOKEN_KEY = 'dongbo.apiToken';
  const FINISHED = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);
  const JOB_TYPES = [
    'PULL_NHANH_PRODUCTS', 'PULL_SHOPIFY_PRODUCTS', 'PULL_NHANH_CUSTOMERS', 'PULL_SHOPIFY_CUSTOMERS',
    'AUTO_MATCH_PRODUCTS', 'AUTO_MATCH_CUSTOMERS', 'PRODUCT_SYNC', 'CUSTOMER_SYNC', 'RETRY_FAILED_SYNC',
    'EXAMPLE_COUNT',
  ];
  const LISTINGS = {
    conflicts: {
      title: 'Conflicts', path: '/api/conflicts',
      about: 'A key on one side that matches several records on the other: recorded by the matches, never matched silently.',
    },
    failures: {
      title: 'Failed items', path: '/api/failures',
      about: 'Items whose last sync failed; "Retry failed syncs" re-drives them.',
    },
    mappings: {
      title: 'Mappings', path: '/api/mappings',
      about: 'Nhanh records mapped to Shopify records, with how they were matched and their sync state.',
    },
  };

  // ---- Small DOM and formatting helpers -------------------------------------------------------

  const $ = (selector, root = document) => root.querySelector(selector);

  /** An element; `props` sets attributes (`class`, `text`, `data-*`, …); children are nodes or text. */
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') node.textContent = v;
      else if (k === 'class') node.className = v;
      else node.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  const nf = new Intl.NumberFormat();
  const num = (n) => (n === null || n === undefined ? '—' : nf.format(n));
  // Job ids are UUIDv7: the leading digits are a timestamp shared by jobs made close together,
  // the trailing ones are random, so those tell jobs apart.
  const shortId = (id) => String(id).slice(-8);
  const ms = (iso) => (iso ? Date.parse(iso) : NaN);

  function fmtTime(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    const sameDay = d.toDateString() === new Date().toDateString();
    return sameDay ? d.toLocaleTimeString([], { hour12: false }) : d.toLocaleString([], { hour12: false });
  }

  function fmtDuration(seconds) {
    if (!Number.isFinite(seconds) || seconds < 0) return '—';
    if (seconds < 1) return '< 1 s';
    const s = Math.round(seconds);
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${s % 60} s`;
    return `${Math.floor(m / 60)} h ${m % 60} min`;
  }

  function fmtSpeed(perSecond) {
    if (!Number.isFinite(perSecond) || perSecond <= 0) return '—';
    const digits = perSecond < 10 ? 1 : 0;
    return `${perSecond.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: digits })}/s`;
  }

  /** Percent done, or null when the total is not known yet. Finished-and-completed is 100. */
  function percent(job) {
    if (job.status === 'COMPLETED') return 100;
    if (!job.total) return job.total === 0 ? 0 : null;
    return Math.min(100, (100 * job.processed) / job.total);
  }

  function progressBar(job) {
    const p = percent(job);
    const unknown = p === null && !FINISHED.has(job.status);
    const meter = el('div', { class: `meter ${job.status}${unknown ? ' unknown' : ''}`, role: 'progressbar',
      'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': p === null ? null : p.toFixed(0) }, el('span'));
    meter.firstChild.style.width = `${p === null ? 0 : p}%`;
    const label = p === null ? '…' : `${p >= 99.95 || p === 0 ? p.toFixed(0) : p.toFixed(1)} %`;
    return el('div', { class: 'progress' }, meter, el('span', { class: 'pct', text: label }));
  }

  const statusBadge = (status, error) => el('span', { class: `status ${status}`, text: status, title: error || null });

  // ---- Notices ---------------------------------------------------------------------------------

  let noticeTimer = 0;
  function notify(content, { error = false, sticky = false } = {}) {
    const box = $('#notice');
    box.replaceChildren(...(Array.isArray(content) ? content : [content]));
    box.classList.toggle('error', error);
    box.hidden = false;
    clearTimeout(noticeTimer);
    if (!sticky) noticeTimer = setTimeout(() => { box.hidden = true; }, error ? 12000 : 6000);
  }

  // ---- Banners: the server's notices (/healthz), e.g. an upstream version or token expiring ------

  const BANNER_MS = 30000; // How often /healthz is re-read for notices.

  async function refreshBanners() {
    const box = $('#banners');
    let notices = [];
    try {
      const response = await fetch('/healthz', { headers: { Accept: 'application/json' } });
      if (response.ok) notices = (await response.json()).notices || [];
      else notices = [{ key: 'server', level: 'error', message: `The server is unhealthy (HTTP ${response.status}).` }];
    } catch (e) {
      notices = [{ key: 'server', level: 'error', message: 'The server does not answer.' }];
    }
    box.replaceChildren(...notices.map((n) => el('div', { class: `banner ${n.level}`, role: 'alert', 'data-notice': n.key },
      el('strong', { text: n.level === 'error' ? 'Action needed: ' : 'Heads-up: ' }), n.message)));
    box.hidden = notices.length === 0;
  }

  // ---- The API -----------------------------------------------------------------------------------

  let token = localStorage.getItem(TOKEN_KEY) || '';

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  /** Calls the API and unwraps the envelope; throws ApiError with the server's message. */
  async function api(path, { method = 'GET', body } = {}) {
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    // Every state-changing request is sent as JSON, even with no body: the server refuses any
    // other (so other web sites cannot send one through the browser).
    if (body !== undefined || method !== 'GET') headers['Content-Type'] = 'application/json';
    let response;
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw new ApiError(0, `the server does not answer (${e.message})`);
    }
    let json = null;
    try { json = await response.json(); } catch (_) { /* not JSON: reported below */ }
    if (!response.ok || !json || json.success !== true) {
      const message = (json && json.error) || `${response.status} ${response.statusText}`;
      if (response.status === 401) showTokenNeeded();
      throw new ApiError(response.status, message);
    }
    return json.data;
  }

  function showTokenNeeded() {
    notify('This server needs an API token: enter it at the top right and press Save.', { error: true });
    $('#token').focus();
  }

  // ---- Live progress: server-sent events -----------------------------------------------------------

  /**
   * Follows a job's stream: `onRow(job)` for every `progress` event, `onEnd()` once after `end`
   * (or when the stream cannot be followed). Without a token it is a plain EventSource; with one it
   * reads the same stream with fetch, because EventSource cannot send an Authorization header.
   */
  function followJob(id, onRow, onEnd) {
    const url = `/api/jobs/${encodeURIComponent(id)}/stream`;
    let done = false;
    let stop = () => {};
    const finish = () => {
      if (done) return;
      done = true;
      stop();
      onEnd();
    };
    if (!token) {
      const source = new EventSource(url);
      source.addEventListener('progress', (e) => onRow(JSON.parse(e.data)));
      // The server ends the stream after a finished job; without close() EventSource would reconnect.
      source.addEventListener('end', () => { source.close(); finish(); });
      source.addEventListener('error', (e) => {
        // A server-sent `error` event (it carries data), or a refusal (the source gives up): stop.
        // A dropped connection leaves the source CONNECTING: it reconnects and resends the row.
        if (e.data !== undefined || source.readyState === EventSource.CLOSED) finish();
      });
      stop = () => source.close();
    } else {
      const abort = new AbortController();
      stop = () => abort.abort();
      readStream(url, abort.signal, (event, data) => {
        if (event === 'progress') onRow(JSON.parse(data));
        else if (event === 'end' || event === 'error') finish();
      }).catch(() => {}).finally(finish);
    }
    return { close: () => { done = true; stop(); } };
  }

  /** Reads a text/event-stream with fetch, calling `dispatch(eventName, data)` per event. */
  async function readStream(url, signal, dispatch) {
    const response = await fetch(url, { headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' }, signal });
    if (response.status === 401) showTokenNeeded();
    if (!response.ok || !response.body) throw new ApiError(response.status, 'stream refused');
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, '\n');
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let event = 'message';
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') event = text;
          else if (field === 'data') data.push(text);
        }
        if (data.length) dispatch(event, data.join('\n'));
      }
    }
  }

  // ---- Job rows, their speed and ETA ----------------------------------------------------------------

  /** The newest row seen for each job, from the list or a stream, and its progress samples. */
  const known = new Map(); // id -> { job, samples: [[serverMs, processed]] }

  /** Records a row unless an older one arrives after a newer one; returns whether it was taken. */
  function remember(job) {
    let entry = known.get(job.id);
    if (!entry) {
      entry = { job, samples: [] };
      known.set(job.id, entry);
    } else if (ms(job.updatedAt) < ms(entry.job.updatedAt)) {
      return false;
    }
    entry.job = job;
    const t = ms(job.updatedAt);
    const last = entry.samples[entry.samples.length - 1];
    if (!last || job.processed !== last[1]) entry.samples.push([t, job.processed]);
    while (entry.samples.length > 2 && t - entry.samples[0][0] > SPEED_WINDOW_MS) entry.samples.shift();
    return true;
  }

  /** Items per second: over the recent updates while running, on average once finished. */
  function speedOf(job) {
    const entry = known.get(job.id);
    if (!FINISHED.has(job.status) && entry && entry.samples.length >= 2) {
      const [t0, p0] = entry.samples[0];
      const [t1, p1] = entry.samples[entry.samples.length - 1];
      if (t1 > t0) return (1000 * (p1 - p0)) / (t1 - t0);
    }
    const start = ms(job.startedAt);
    const end = FINISHED.has(job.status) ? ms(job.completedAt || job.updatedAt) : ms(job.updatedAt);
    return end > start ? (1000 * job.processed) / (end - start) : NaN;
  }

  function etaOf(job, speed) {
    if (FINISHED.has(job.status)) return job.status === 'COMPLETED' ? 'done' : '—';
    if (!job.total || !(speed > 0)) return '—';
    return fmtDuration(Math.max(0, job.total - job.processed) / speed);
  }

  // ---- Streams the page keeps open -------------------------------------------------------------------

  const streams = new Map(); // id -> handle

  /** Opens streams for `ids` (up to MAX_STREAMS, in order) and closes the others. */
  function followOnly(ids) {
    const wanted = new Set(ids.slice(0, MAX_STREAMS));
    for (const [id, handle] of streams) {
      if (!wanted.has(id)) {
        handle.close();
        streams.delete(id);
        markLive(id, false);
      }
    }
    for (const id of wanted) {
      if (streams.has(id)) continue;
      const handle = followJob(id, (job) => {
        if (remember(job)) showRow(job);
      }, () => {
        streams.delete(id);
        markLive(id, false);
      });
      streams.set(id, handle);
      markLive(id, true);
    }
  }

  function markLive(id, on) {
    const tr = document.querySelector(`#jobs tr[data-job-id="${CSS.escape(id)}"]`);
    if (tr) tr.classList.toggle('live', on);
  }

  /** A row from a stream: update the table, and the job page when it shows that job. */
  function showRow(job) {
    const tr = document.querySelector(`#jobs tr[data-job-id="${CSS.escape(job.id)}"]`);
    if (tr) fillRow(tr, job);
    if (page.jobId === job.id) showJobPage(job);
  }

  // ---- The jobs table -----------------------------------------------------------------------------

  const list = { timer: 0, seq: 0, ids: [] };

  function fillRow(tr, job) {
    const speed = speedOf(job);
    const link = el('a', { href: `#/jobs/${job.id}`, class: 'mono', title: job.id, text: shortId(job.id) });
    const cells = [
      link,
      el('span', { text: job.type }),
      statusBadge(job.status, job.error),
      progressBar(job),
      `${num(job.processed)} / ${num(job.total)}`,
      num(job.successful),
      num(job.failed),
      fmtSpeed(speed),
      etaOf(job, speed),
      el('span', { title: job.createdAt, text: fmtTime(job.createdAt) }),
      el('span', { title: job.updatedAt, text: fmtTime(job.updatedAt) }),
      FINISHED.has(job.status) ? '' : cancelButton(job.id),
    ];
    const classes = ['', '', 'status-cell', 'progress-cell', 'num counts', 'num', 'num', 'num speed', 'num eta', '', '', ''];
    tr.dataset.status = job.status;
    tr.replaceChildren(...cells.map((c, i) => el('td', { class: classes[i] || null }, c)));
    if (streams.has(job.id)) tr.classList.add('live');
  }

  function cancelButton(id) {
    const b = el('button', { type: 'button', class: 'danger', text: 'Cancel', 'data-cancel': id });
    b.addEventListener('click', () => cancelJob(id, b));
    return b;
  }

  async function cancelJob(id, button) {
    if (!window.confirm(`Cancel job ${shortId(id)}? A running job stops at its next step boundary.`)) return;
    button.disabled = true;
    try {
      const job = await api(`/api/jobs/${id}/cancel`, { method: 'POST' });
      if (remember(job)) showRow(job);
      notify(`Cancel requested for ${job.type} ${shortId(id)} (${job.status}).`);
    } catch (e) {
      notify(`Cancelling ${shortId(id)} failed: ${e.message}`, { error: true });
    } finally {
      button.disabled = false;
    }
  }

  function listQuery() {
    const q = new URLSearchParams({ limit: '50' });
    const type = $('#filter-type').value;
    const status = $('#filter-status').value;
    if (type) q.set('type', type);
    if (status) q.set('status', status);
    return q;
  }

  /** Re-reads the list, keeps row elements of jobs still shown, and follows the unfinished ones. */
  async function refreshList() {
    clearTimeout(list.timer);
    const seq = ++list.seq;
    try {
      const data = await api(`/api/jobs?${listQuery()}`);
      if (seq !== list.seq) return; // The filters changed meanwhile: a newer read is on its way.
      const tbody = $('#jobs tbody');
      const old = new Map([...tbody.rows].map((tr) => [tr.dataset.jobId, tr]));
      const rows = data.items.map((row) => {
        remember(row);
        const job = known.get(row.id).job; // A stream may already have a newer row.
        const tr = old.get(job.id) || el('tr', { 'data-job-id': job.id });
        fillRow(tr, job);
        return tr;
      });
      tbody.replaceChildren(...rows);
      $('#jobs-empty').hidden = rows.length > 0;
      list.ids = data.items.map((j) => j.id);
      $('#list-state').textContent = `updated ${new Date().toLocaleTimeString([], { hour12: false })}`;
      followWanted();
      document.body.dataset.ready = 'true';
    } catch (e) {
      $('#list-state').textContent = `could not refresh: ${e.message}`;
    } finally {
      if (seq === list.seq && page.view === 'jobs') list.timer = setTimeout(refreshList, REFRESH_MS);
    }
  }

  /** The job page's job first, then the unfinished jobs of the list, newest first. */
  function followWanted() {
    const ids = [];
    if (page.jobId && !FINISHED.has((known.get(page.jobId) || {}).job?.status)) ids.push(page.jobId);
    if (page.view === 'jobs') {
      for (const id of list.ids) {
        const job = known.get(id).job;
        if (!FINISHED.has(job.status) && !ids.includes(id)) ids.push(id);
      }
    }
    followOnly(ids);
  }

  // ---- Starting jobs ------------------------------------------------------------------------------

  function triggerOptions(kind) {
    switch (kind) {
      case 'match': return { dryRun: $('#opt-dry-run').checked };
      case 'sync': return { forceSync: $('#opt-force-sync').checked };
      case 'retry': {
        const limit = $('#opt-retry-limit').value.trim();
        return limit ? { limit: Number(limit) } : {};
      }
      case 'example': {
        const items = $('#opt-example-items').value.trim();
        return items ? { items: Number(items) } : {};
      }
      default: return {};
    }
  }

  async function startJob(button) {
    const path = button.dataset.trigger;
    button.disabled = true;
    try {
      const reply = await api(path, { method: 'POST', body: triggerOptions(button.dataset.options) });
      const link = el('a', { href: `#/jobs/${reply.jobId}`, class: 'mono', text: shortId(reply.jobId) });
      const what = {
        alreadyRunning: 'Already running, nothing new started: ',
        idempotencyKey: 'Returned the job this key started: ',
      }[reply.existing] || 'Started ';
      notify([what, `${reply.type} `, link, ` (${reply.status}).`]);
      await refreshList();
    } catch (e) {
      const hint = e.status === 503 ? ' This server has no workflow registered for it.' : '';
      notify(`${button.textContent}: ${e.message}.${hint}`, { error: true });
    } finally {
      button.disabled = false;
    }
  }

  // ---- The job page ---------------------------------------------------------------------------------

  const page = { view: '', jobId: null, lastSeq: 0, loading: false, again: false, timer: 0 };

  function field(dl, name, value) {
    dl.append(el('dt', { text: name }), el('dd', {}, value));
  }

  function json(value) {
    return el('pre', { class: 'json mono', text: JSON.stringify(value, null, 2) });
  }

  function showJobPage(job) {
    $('#job-title').textContent = `${job.type} `;
    $('#job-title').append(el('span', { class: 'mono muted small', text: job.id }));
    $('#job-status').replaceChildren(statusBadge(job.status));
    $('#job-progress').replaceChildren(progressBar(job));
    const cancel = $('#job-cancel');
    cancel.hidden = FINISHED.has(job.status);
    cancel.dataset.cancel = job.id;
    consolePanel.jobShown(job);
    const speed = speedOf(job);
    const dl = $('#job-fields');
    dl.replaceChildren();
    field(dl, 'Processed / total', `${num(job.processed)} / ${num(job.total)}`);
    field(dl, 'Successful', num(job.successful));
    field(dl, 'Failed', num(job.failed));
    field(dl, 'Speed', fmtSpeed(speed));
    field(dl, 'ETA', etaOf(job, speed));
    field(dl, 'Attempts', num(job.attempts));
    field(dl, 'Created', el('span', { title: job.createdAt, text: fmtTime(job.createdAt) }));
    field(dl, 'Started', el('span', { title: job.startedAt || '', text: fmtTime(job.startedAt) }));
    field(dl, 'Updated', el('span', { title: job.updatedAt, text: fmtTime(job.updatedAt) }));
    field(dl, 'Finished', el('span', { title: job.completedAt || '', text: fmtTime(job.completedAt) }));
    if (job.startedAt) {
      const end = FINISHED.has(job.status) ? ms(job.completedAt || job.updatedAt) : Date.now();
      field(dl, 'Duration', fmtDuration((end - ms(job.startedAt)) / 1000));
    }
    if (job.error) field(dl, 'Error', el('span', { class: 'tag bad', text: job.error }));
    if (job.metadata && Object.keys(job.metadata).length) field(dl, 'Metadata', json(job.metadata));
    // A new row may mean new events: read them (one read at a time, coalesced).
    loadEvents();
  }

  async function openJob(id) {
    page.jobId = id;
    page.lastSeq = 0;
    $('#timeline').replaceChildren();
    $('#timeline-state').textContent = 'loading…';
    $('#job-fields').replaceChildren();
    $('#job-progress').replaceChildren();
    try {
      const job = await api(`/api/jobs/${encodeURIComponent(id)}`);
      if (page.jobId !== id) return;
      remember(job);
      showJobPage(known.get(id).job);
      followWanted();
    } catch (e) {
      $('#job-title').textContent = 'Job not found';
      $('#job-status').replaceChildren();
      $('#timeline-state').textContent = e.message;
    }
  }

  /** Reads the events after the last one shown, page by page, and appends them. */
  async function loadEvents() {
    if (page.loading) { page.again = true; return; }
    const id = page.jobId;
    if (!id) return;
    page.loading = true;
    clearTimeout(page.timer);
    try {
      do {
        page.again = false;
        for (;;) {
          const data = await api(`/api/jobs/${encodeURIComponent(id)}/events?after=${page.lastSeq}&limit=1000`);
          if (page.jobId !== id) return;
          const items = data.items.filter((e) => e.seq > page.lastSeq);
          if (items.length) {
            const fragment = document.createDocumentFragment();
            for (const e of items) fragment.append(timelineItem(e));
            $('#timeline').append(fragment);
            page.lastSeq = items[items.length - 1].seq;
          }
          if (data.nextAfter === null || data.nextAfter === undefined) break;
        }
      } while (page.again);
      const n = $('#timeline').children.length;
      $('#timeline-state').textContent = `${n} event${n === 1 ? '' : 's'}`;
    } catch (e) {
      $('#timeline-state').textContent = `could not read the events: ${e.message}`;
    } finally {
      page.loading = false;
      // Events that change no job row (a failed step waiting for its retry) are picked up here.
      const job = (known.get(id) || {}).job;
      const over = job && FINISHED.has(job.status) && $('#timeline .ev-Job' + job.status.charAt(0) + job.status.slice(1).toLowerCase());
      if (page.jobId === id && page.view === 'job' && !over) page.timer = setTimeout(loadEvents, REFRESH_MS);
    }
  }

  function progressNote(p) {
    if (!p) return '';
    const parts = [];
    if (p.processed) parts.push(`+${num(p.processed)} processed`);
    if (p.successful) parts.push(`${num(p.successful)} ok`);
    if (p.failed) parts.push(`${num(p.failed)} failed`);
    if (p.total !== undefined && p.total !== null) parts.push(`total ${num(p.total)}`);
    return parts.join(', ');
  }

  /** One event of the audit trail, as a line a person can read. */
  function timelineItem(e) {
    const p = e.payload || {};
    const what = el('div', { class: 'what' });
    const detail = [];
    const tag = (text, kind = '') => el('span', { class: `tag ${kind}`, text });
    switch (e.type) {
      case 'JobRequested':
        what.append(el('b', { text: 'Requested' }), ` by ${p.requestedBy || e.actor}`);
        if (p.idempotencyKey) what.append(tag(`idempotency key ${p.idempotencyKey}`));
        if (p.concurrencyKey) what.append(tag(`one at a time: ${p.concurrencyKey}`));
        if (p.input && Object.keys(p.input).length) detail.push(`input ${JSON.stringify(p.input)}`);
        break;
      case 'JobClaimed':
        what.append(el('b', { text: p.resumedFrom ? 'Resumed' : 'Claimed' }), ` by ${p.worker}`, tag(`attempt ${p.attempt}`));
        if (p.resumedFrom) what.append(tag(`resumedFrom #${p.resumedFrom}`));
        if (p.afterLostLease) what.append(tag('afterLostLease: the previous worker lost its lease', 'warn'));
        break;
      case 'StepCompleted': {
        what.append('Step ', el('b', { class: 'step', text: p.step }));
        if (p.note) what.append(` — ${p.note}`);
        const progress = progressNote(p.progress);
        if (progress) detail.push(progress);
        // The payload lists at most 1,000 of the records a step touched; touchedCount says how many when it touched more.
        const touched = p.touchedCount || (p.touched ? p.touched.length : 0);
        if (touched) detail.push(`touched ${num(touched)} record${touched === 1 ? '' : 's'}`);
        break;
      }
      case 'StepFailed':
        what.append('Step ', el('b', { class: 'step', text: p.step }), ' failed', tag(`attempt ${p.attempt}`, 'bad'));
        detail.push(p.error || '');
        if (p.retryable && p.nextRetryAt) {
          const wait = (ms(p.nextRetryAt) - ms(e.recordedAt)) / 1000;
          detail.push(`retry at ${fmtTime(p.nextRetryAt)} (after ${fmtDuration(wait)})`);
        } else if (!p.retryable) {
          detail.push('not retryable');
        }
        break;
      case 'CancelRequested':
        what.append(el('b', { text: 'Cancel requested' }), ` by ${p.requestedBy || e.actor}`);
        break;
      case 'JobCompleted':
        what.append(el('b', { text: 'Completed' }));
        if (p.summary && Object.keys(p.summary).length) detail.push(JSON.stringify(p.summary));
        break;
      case 'JobFailed':
        what.append(el('b', { text: 'Failed' }));
        detail.push(p.error || '');
        break;
      case 'JobCancelled':
        what.append(el('b', { text: 'Cancelled' }), ` by ${p.requestedBy || e.actor}`);
        break;
      default:
        what.append(el('b', { text: e.type }));
        detail.push(JSON.stringify(p));
    }
    const body = el('div', {}, what);
    if (detail.length) body.append(el('div', { class: 'detail', text: detail.filter(Boolean).join(' · ') }));
    return el('li', { class: `ev-${e.type}`, 'data-seq': e.seq, 'data-event-type': e.type },
      el('span', { class: 'seq', text: `#${e.seq}` }),
      el('span', { class: 'when', title: `${e.recordedAt} by ${e.actor}`, text: fmtTime(e.recordedAt) }),
      body);
  }

  // ---- Conflicts, failed items, mappings ----------------------------------------------------------

  const listing = { key: '', cursor: null, columns: null };

  function cellText(v) {
    if (v === null || v === undefined) return '—';
    if (typeof v === 'object') return JSON.stringify(v);
    return String(v);
  }

  async function loadListing(key, more = false) {
    const spec = LISTINGS[key];
    if (!more) {
      listing.key = key;
      listing.cursor = null;
      listing.columns = null;
      $('#listing-title').textContent = spec.title;
      $('#listing-about').textContent = spec.about;
      $('#listing thead').replaceChildren();
      $('#listing tbody').replaceChildren();
      $('#listing-empty').hidden = true;
      $('#listing-more').hidden = true;
    }
    $('#listing-state').textContent = 'loading…';
    const q = new URLSearchParams({ limit: '100' });
    if (listing.cursor) q.set('cursor', listing.cursor);
    try {
      const data = await api(`${spec.path}?${q}`);
      if (listing.key !== key) return;
      const items = Array.isArray(data) ? data : data.items || [];
      listing.cursor = Array.isArray(data) ? null : data.nextCursor ?? null;
      if (!listing.columns && items.length) {
        listing.columns = [...new Set(items.slice(0, 20).flatMap((i) => Object.keys(i)))];
        $('#listing thead').replaceChildren(el('tr', {}, ...listing.columns.map((c) => el('th', { text: c }))));
      }
      const rows = items.map((item) => el('tr', {}, ...listing.columns.map((c) => {
        const v = item[c];
        if (/jobId$/i.test(c) && v) return el('td', {}, el('a', { href: `#/jobs/${v}`, class: 'mono', text: shortId(v) }));
        if (/At$/.test(c) && typeof v === 'string') return el('td', { title: v, text: fmtTime(v) });
        if (Array.isArray(v)) return el('td', { class: 'wrap', text: v.join(', ') });
        return el('td', { class: typeof v === 'number' ? 'num' : 'wrap', text: cellText(v) });
      })));
      $('#listing tbody').append(...rows);
      const shown = $('#listing tbody').rows.length;
      $('#listing-empty').hidden = shown > 0;
      $('#listing-empty').textContent = `No ${spec.title.toLowerCase()}.`;
      $('#listing-more').hidden = !listing.cursor;
      $('#listing-state').textContent = `${num(shown)} shown`;
    } catch (e) {
      if (listing.key !== key) return;
      $('#listing-state').textContent = '';
      if (e.status === 404) {
        $('#listing-empty').hidden = true;
        $('#listing tbody').replaceChildren(el('tr', {}, el('td', {},
          el('div', { class: 'unavailable', 'data-unavailable': spec.path },
            el('b', { text: 'Not available on this server. ' }),
            `GET ${spec.path} answered 404: this build has no ${spec.title.toLowerCase()} listing yet.`))));
      } else {
        $('#listing-state').textContent = `could not load: ${e.message}`;
      }
    }
  }

  // ---- Locations (api/assets/locations.js) ----------------------------------------------------------

  const locations = window.dongboLocations({
    $, el, api, notify, refreshMs: REFRESH_MS, isOpen: () => page.view === 'locations',
  });

  // ---- The operator's console (api/assets/console.js) -----------------------------------------------

  const consolePanel = window.dongboConsole({
    $, el, api, notify, refreshMs: REFRESH_MS, token: () => token, isOpen: () => page.view === 'console',
    onJobChanged: (job) => {
      if (remember(job)) showRow(job);
      if (page.jobId === job.id) openJob(job.id);
    },
  });

  // ---- Webhook deliveries and the uninstalled stop (api/assets/webhooks.js) -----------------------

  window.dongboWebhooks({ $, el, api });

  // ---- Schedules (api/assets/schedules.js) -------------------------------------------------------

  window.dongboSchedules({ $, el, api });

  // ---- The Nhanh token: where it stands ------------------------------------------------------------

  /** Shows where the Nhanh token stands (never the token: the server does not send it). */
  async function showNhanhToken() {
    const line = $('#nhanh-token-state');
    try {
      const t = await api('/api/nhanh/token');
      const expires = t.expiresAt ? `, expires ${new Date(t.expiresAt * 1000).toISOString().slice(0, 10)}` : '';
      const business = t.businessId ? ` for business ${t.businessId}` : '';
      line.textContent = t.source ? `Token: ${t.source}${business}${expires}.` : 'No Nhanh token yet.';
      if (t.warning) line.textContent += ` ${t.warning}`;
    } catch (e) {
      line.textContent = `Token state unknown: ${e.message}`;
    }
  }

  /** Asks for Nhanh's login link and goes there; Nhanh sends the browser back to dongbo. */
  async function authorizeNhanh(button) {
    button.disabled = true;
    try {
      const link = await api('/api/nhanh/authorize', { method: 'POST' });
      window.location.assign(link.loginUrl);
    } catch (e) {
      notify(`Authorising Nhanh failed: ${e.message}`, { error: true });
      button.disabled = false;
    }
  }

  // ---- Routing -----------------------------------------------------------------------------------------

  function route() {
    const hash = location.hash.replace(/^#/, '') || '/';
    const job = hash.match(/^\/jobs\/([0-9a-fA-F-]{36})$/);
    const key = hash.replace(/^\//, '');
    const view = job ? 'job' : LISTINGS[key] ? 'listing' : ['locations', 'console'].includes(key) ? key : 'jobs';
    page.view = view;
    clearTimeout(page.timer);
    clearTimeout(list.timer);
    locations.close();
    consolePanel.close();
    for (const s of document.querySelectorAll('.view')) s.hidden = s.id !== `view-${view}`;
    for (const a of document.querySelectorAll('[data-nav]')) {
      a.classList.toggle('active', a.dataset.nav === (['listing', 'locations', 'console'].includes(view) ? key : 'jobs'));
    }
    if (view === 'job') {
      openJob(job[1].toLowerCase());
    } else {
      page.jobId = null;
      if (view === 'jobs') refreshList();
      else if (view === 'locations') { followOnly([]); locations.open(); }
      else if (view === 'console') { followOnly([]); consolePanel.open(); }
      else { followOnly([]); loadListing(key); }
    }
    window.scrollTo(0, 0);
  }

  function init() {
    const typeSelect = $('#filter-type');
    for (const t of JOB_TYPES) typeSelect.append(el('option', { text: t }));
    $('#filters').addEventListener('change', () => refreshList());
    $('#filters').addEventListener('submit', (e) => e.preventDefault());
    for (const b of document.querySelectorAll('[data-trigger]')) b.addEventListener('click', () => startJob(b));
    $('#job-cancel').addEventListener('click', (e) => cancelJob(e.currentTarget.dataset.cancel, e.currentTarget));
    $('#listing-more').addEventListener('click', () => loadListing(listing.key, true));
    $('#nhanh-authorize').addEventListener('click', (e) => authorizeNhanh(e.currentTarget));
    showNhanhToken();
    const tokenInput = $('#token');
    tokenInput.value = token;
    $('#token-form').addEventListener('submit', (e) => {
      e.preventDefault();
      token = tokenInput.value.trim();
      if (token) localStorage.setItem(TOKEN_KEY, token);
      else localStorage.removeItem(TOKEN_KEY);
      // Streams opened with the old credentials are reopened with the new ones.
      followOnly([]);
      notify(token ? 'Token saved in this browser.' : 'Token cleared.');
      route();
    });
    window.addEventListener('hashchange', route);
    route();
    refreshBanners();
    setInterval(refreshBanners, BANNER_MS);
  }

  init();
})();
