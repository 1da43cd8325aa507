// dongbo dashboard: the operator's console — mapping statistics, mapping a pair by hand, the
// records of both sides with search and filters, CSV exports, the job queue, and the job
// controls (resume, rerun, resume every failed job). Like locations.js, this file defines one
// factory that app.js, loaded after it, calls with the page's helpers.
'use strict';

window.dongboConsole = ({ $, el, api, notify, token, isOpen, refreshMs, onJobChanged }) => {
  const state = { timer: 0, seq: 0 };
  const FINISHED_AGAIN = new Set(['FAILED', 'CANCELLED']);
  const short = (id) => String(id).slice(0, 8);

  // ---- Statistics ----------------------------------------------------------------------------------

  async function loadStats() {
    const stats = await api('/api/mappings/stats');
    const cols = ['nhanhRecords', 'shopifyRecords', 'mapped', 'unmapped', 'conflicting', 'failing', 'pending', 'synced', 'manual'];
    $('#console-stats thead').replaceChildren(el('tr', {}, el('th', { text: 'kind' }), ...cols.map((c) => el('th', { class: 'num', text: c }))));
    $('#console-stats tbody').replaceChildren(...['products', 'customers'].map((k) => el('tr', { 'data-kind': k },
      el('td', { text: k }), ...cols.map((c) => el('td', { class: 'num', 'data-stat': c, text: String(stats[k][c]) })))));
  }

  // ---- Map by hand ---------------------------------------------------------------------------------

  async function mapByHand(event) {
    event.preventDefault();
    const button = $('#map-submit');
    button.disabled = true;
    const body = {
      kind: $('#map-kind').value,
      nhanhId: $('#map-nhanh').value.trim(),
      shopifyId: $('#map-shopify').value.trim(),
      replace: $('#map-replace').checked,
      by: 'dashboard',
    };
    try {
      const m = await api('/api/mappings', { method: 'POST', body });
      $('#map-result').textContent = `Mapping ${m.id}: Nhanh ${m.nhanhId} → ${m.shopifyId} (${m.method}, ${m.state}, by ${m.createdBy}).`;
      $('#map-result').dataset.mappingId = m.id;
      $('#map-result').classList.remove('error');
      notify(`Mapped Nhanh ${m.nhanhId} to ${m.shopifyId} by hand.`);
      loadStats().catch(() => {});
      loadRecords();
    } catch (e) {
      $('#map-result').textContent = e.message;
      delete $('#map-result').dataset.mappingId;
      $('#map-result').classList.add('error');
    } finally {
      button.disabled = false;
    }
  }

  // ---- Records -------------------------------------------------------------------------------------

  async function loadRecords() {
    const seq = ++state.seq;
    const q = new URLSearchParams({ side: $('#records-side').value, kind: $('#records-kind').value, limit: '50' });
    const search = $('#records-q').value.trim();
    if (search) q.set('q', search);
    if ($('#records-mapped').value) q.set('mapped', $('#records-mapped').value);
    $('#records-state').textContent = 'loading…';
    try {
      const page = await api(`/api/records?${q}`);
      if (seq !== state.seq) return;
      const rows = page.items.map((r) => {
        const actions = [];
        if (r.mappingId && r.side === 'nhanh' && r.mappedTo) actions.push(mappingButton('Unmap', r, 'unmap'));
        if (r.mappingId && r.side === 'nhanh') actions.push(mappingButton('Delete mapping', r, 'delete'));
        const use = el('button', { type: 'button', class: 'minor', text: 'Use', title: 'Put this id in the form above' });
        use.addEventListener('click', () => {
          $('#map-kind').value = r.kind;
          $(r.side === 'nhanh' ? '#map-nhanh' : '#map-shopify').value = r.id;
        });
        return el('tr', { 'data-record': r.id },
          el('td', { class: 'mono', text: r.id }), el('td', { text: r.name || '—' }),
          el('td', { text: r.sku || r.phone || '—' }), el('td', { text: r.barcode || r.email || '—' }),
          el('td', { class: 'mono', text: r.mappedTo || '—' }), el('td', { text: r.state || 'not mapped' }),
          el('td', { text: r.method || '—' }), el('td', {}, use, ...actions));
      });
      $('#records tbody').replaceChildren(...rows);
      $('#records-state').textContent = `${rows.length} shown${page.nextCursor ? ' (first 50; narrow the search)' : ''}`;
    } catch (e) {
      if (seq === state.seq) $('#records-state').textContent = `could not load: ${e.message}`;
    }
  }

  function mappingButton(text, r, action) {
    const b = el('button', { type: 'button', class: action === 'delete' ? 'danger' : '', text });
    b.addEventListener('click', async () => {
      b.disabled = true;
      try {
        const path = `/api/mappings/${r.kind}/${r.mappingId}${action === 'unmap' ? '/unmap' : ''}`;
        await api(path, { method: action === 'unmap' ? 'POST' : 'DELETE', body: action === 'unmap' ? { by: 'dashboard' } : undefined });
        notify(action === 'unmap' ? `Nhanh ${r.id} unmapped by hand.` : `Mapping ${r.mappingId} deleted.`);
        loadStats().catch(() => {});
        loadRecords();
      } catch (e) {
        notify(e.message, { error: true });
        b.disabled = false;
      }
    });
    return b;
  }

  // ---- Exports: fetched with the token, saved as a file ---------------------------------------------

  async function download(path, name) {
    const headers = token() ? { authorization: `Bearer ${token()}` } : {};
    const reply = await fetch(path, { headers });
    if (!reply.ok) {
      notify(`Export failed: ${reply.status}`, { error: true });
      return;
    }
    const url = URL.createObjectURL(await reply.blob());
    const a = el('a', { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // ---- The queue -----------------------------------------------------------------------------------

  async function loadQueue() {
    const q = await api('/api/queue');
    const jobLink = (id) => el('a', { href: `#/jobs/${id}`, class: 'mono', title: id, text: short(id) });
    const waiting = q.waiting.map((w) => {
      const cancel = el('button', { type: 'button', class: 'danger', text: 'Cancel', 'data-cancel-waiting': w.job.id });
      cancel.addEventListener('click', async () => {
        if (!window.confirm(`Cancel waiting job ${short(w.job.id)}?`)) return;
        cancel.disabled = true;
        try {
          const job = await api(`/api/jobs/${w.job.id}/cancel`, { method: 'POST' });
          notify(`Job ${short(job.id)} ${job.status}.`);
          onJobChanged(job);
          loadQueue();
        } catch (e) {
          notify(e.message, { error: true });
          cancel.disabled = false;
        }
      });
      const behind = w.behind.length ? el('span', {}, ...w.behind.flatMap((id, i) => (i ? [', ', jobLink(id)] : [jobLink(id)]))) : 'a free worker';
      return el('tr', { 'data-job-id': w.job.id },
        el('td', { class: 'num', text: String(w.position) }), el('td', { text: w.priority }),
        el('td', {}, jobLink(w.job.id)), el('td', { text: w.job.type }), el('td', {}, behind),
        el('td', { class: 'mono', text: w.concurrencyKey || '—' }), el('td', {}, cancel));
    });
    $('#queue-waiting tbody').replaceChildren(...waiting);
    $('#queue-running tbody').replaceChildren(...q.running.map((r) => el('tr', { 'data-job-id': r.job.id },
      el('td', {}, jobLink(r.job.id)), el('td', { text: r.job.type }), el('td', { text: r.priority }),
      el('td', { class: 'mono', text: r.concurrencyKey || '—' }), el('td', { class: 'num', text: String(r.job.processed) }))));
    $('#queue-state').textContent = `${q.waiting.length} waiting, ${q.running.length} running`;
  }

  // ---- Job controls --------------------------------------------------------------------------------

  /** The job page shows Resume and Rerun for a FAILED or CANCELLED job. */
  function jobShown(job) {
    for (const id of ['#job-resume', '#job-rerun']) {
      const b = $(id);
      b.hidden = !FINISHED_AGAIN.has(job.status);
      b.dataset.job = job.id;
    }
  }

  async function resume(button) {
    const reason = window.prompt('Why is it resumed? (kept in its timeline)', 'resumed from the dashboard');
    if (reason === null) return;
    button.disabled = true;
    try {
      const job = await api(`/api/jobs/${button.dataset.job}/resume`, { method: 'POST', body: { reason } });
      notify(`Job ${short(job.id)} resumed from its last checkpoint.`);
      onJobChanged(job);
    } catch (e) {
      notify(`Resuming failed: ${e.message}`, { error: true });
    } finally {
      button.disabled = false;
    }
  }

  async function rerun(button) {
    button.disabled = true;
    try {
      const r = await api(`/api/jobs/${button.dataset.job}/rerun`, { method: 'POST' });
      notify(r.existing ? `Not started: job ${short(r.jobId)} of its kind is unfinished.` : `Rerun started: job ${short(r.jobId)}.`);
      window.location.hash = `#/jobs/${r.jobId}`;
    } catch (e) {
      notify(`Rerun failed: ${e.message}`, { error: true });
    } finally {
      button.disabled = false;
    }
  }

  async function resumeFailed(button) {
    if (!window.confirm('Resume every FAILED job from its last checkpoint?')) return;
    button.disabled = true;
    try {
      const r = await api('/api/jobs/resume-failed', { method: 'POST', body: { reason: 'bulk retry from the dashboard' } });
      const skipped = r.skipped.length ? `; ${r.skipped.length} left alone (${r.skipped[0].error})` : '';
      notify(`${r.resumed.length} failed job(s) resumed${skipped}.`);
      r.resumed.forEach(onJobChanged);
    } catch (e) {
      notify(`Retrying failed jobs failed: ${e.message}`, { error: true });
    } finally {
      button.disabled = false;
    }
  }

  // ---- The view ------------------------------------------------------------------------------------

  async function refresh() {
    clearTimeout(state.timer);
    if (!isOpen()) return;
    try {
      await Promise.all([loadStats(), loadQueue()]);
    } catch (e) {
      $('#queue-state').textContent = `could not load: ${e.message}`;
    }
    if (isOpen()) state.timer = setTimeout(refresh, refreshMs);
  }

  function open() {
    refresh();
    loadRecords();
  }

  function close() {
    clearTimeout(state.timer);
  }

  $('#map-form').addEventListener('submit', mapByHand);
  $('#records-form').addEventListener('submit', (e) => { e.preventDefault(); loadRecords(); });
  $('#records-form').addEventListener('change', () => loadRecords());
  $('#export-mappings').addEventListener('click', () => download('/api/exports/mappings.csv', 'mappings.csv'));
  $('#export-failures').addEventListener('click', () => download('/api/exports/failures.csv', 'failures.csv'));
  $('#job-resume').addEventListener('click', (e) => resume(e.currentTarget));
  $('#job-rerun').addEventListener('click', (e) => rerun(e.currentTarget));
  $('#jobs-resume-failed').addEventListener('click', (e) => resumeFailed(e.currentTarget));

  return { open, close, jobShown };
};
