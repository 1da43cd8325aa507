// dongbo dashboard: the Schedules panel on the jobs page. It lists the durable schedules
// (/api/schedules) with their cron expression, zone, job and next firing, and offers Pause,
// Resume and Run now. A pipeline's children are listed under it on the job's own page through
// /api/jobs/{id}/children. It re-reads the schedules every 15 s while the jobs page is shown.
'use strict';

// Built by app.js, which hands over its own helpers (`$`, `el`, and `api`, which carries the
// token and unwraps the envelope), as for the console and the locations panel.
window.dongboSchedules = ({ $, el, api }) => {
  const REFRESH_MS = 15000;
  let timer = 0;

  const when = (iso) => (iso ? new Date(iso).toLocaleString([], { hour12: false }) : '—');

  function row(s) {
    const act = (label, path, cls) => {
      const b = el('button', { type: 'button', class: cls, text: label, 'data-schedule-action': label.toLowerCase() });
      b.addEventListener('click', () => act_(b, path));
      return b;
    };
    const last = s.lastFiring;
    const lastCell = last && last.jobId
      ? el('a', { href: `#/jobs/${last.jobId}`, text: `${when(last.at)} (${last.kind})` })
      : document.createTextNode('—');
    const base = `/api/schedules/${encodeURIComponent(s.id)}`;
    return el('tr', { 'data-schedule': s.id },
      el('td', {}, el('b', { text: s.id })),
      el('td', {}, el('code', { text: s.cron })),
      el('td', { text: s.timeZone }),
      el('td', { text: s.jobType }),
      el('td', { text: s.paused ? 'paused' : 'active', class: s.paused ? 'muted' : '' }),
      el('td', { text: s.paused ? '—' : when(s.nextRunAt), 'data-next': s.nextRunAt || '' }),
      el('td', {}, lastCell),
      el('td', {},
        s.paused ? act('Resume', `${base}/resume`) : act('Pause', `${base}/pause`, 'minor'),
        ' ', act('Run now', `${base}/run`)));
  }

  async function act_(button, path) {
    button.disabled = true;
    try {
      const data = await api(path, { method: 'POST', body: {} });
      if (data && data.jobId) location.hash = `#/jobs/${data.jobId}`;
      await load();
    } catch (e) {
      $('#schedules-state').textContent = `${button.textContent} failed: ${e.message}`;
      button.disabled = false;
    }
  }

  async function load() {
    clearTimeout(timer);
    const card = $('#schedules-card');
    if (!card || card.closest('.view').hidden) {
      timer = setTimeout(load, REFRESH_MS);
      return;
    }
    try {
      const list = await api('/api/schedules');
      $('#schedules tbody').replaceChildren(...list.map(row));
      $('#schedules-empty').hidden = list.length > 0;
      $('#schedules-state').textContent = `updated ${new Date().toLocaleTimeString([], { hour12: false })}`;
    } catch (e) {
      $('#schedules-state').textContent = `could not load: ${e.message}`;
    }
    timer = setTimeout(load, REFRESH_MS);
  }

  /** On a pipeline's own page: its children, under the job's header. */
  async function showChildren() {
    const m = location.hash.match(/^#\/jobs\/([0-9a-fA-F-]{36})$/);
    const box = $('#job-children');
    if (!box) return;
    box.hidden = true;
    if (!m) return;
    try {
      const family = await api(`/api/jobs/${m[1]}/children`);
      const items = family.children.map((c) => el('li', {},
        `${c.stage}: `, el('a', { href: `#/jobs/${c.job.id}`, text: `${c.job.type} …${String(c.job.id).slice(-8)}` }),
        ` ${c.job.status}`));
      const parent = family.parentJobId
        ? el('p', { class: 'small' }, 'Requested by pipeline ', el('a', { href: `#/jobs/${family.parentJobId}`, text: `…${family.parentJobId.slice(-8)}` }))
        : null;
      box.replaceChildren(...[items.length ? el('h3', { text: 'Child jobs' }) : null,
        items.length ? el('ul', {}, ...items) : null, parent].filter(Boolean));
      box.hidden = !items.length && !parent;
    } catch (_) { /* the job page shows its own errors */ }
  }

  window.addEventListener('hashchange', () => { load(); showChildren(); });
  $('#schedules-reload').addEventListener('click', () => load());
  load();
  showChildren();
};
