// dongbo dashboard: the Webhooks panel on the jobs page. It lists the deliveries Nhanh and Shopify
// sent (/api/webhook-deliveries), newest first, with their source, topic, arrival, state and the
// job each caused (a link to its page), and shows whether pushes to Shopify are stopped because
// Shopify said the app was uninstalled (/api/shopify/app), with the button that lets them resume
// once it is installed again (POST /api/shopify/app/reinstalled). It re-reads every 15 s while the
// jobs page is shown.
'use strict';

// Built by app.js, which hands over its own helpers (`$`, `el`, and `api`, which carries the
// token and unwraps the envelope), as for the console and the locations panel.
window.dongboWebhooks = ({ $, el, api }) => {
  const REFRESH_MS = 15000;
  const PAGE = 50;
  let timer = 0;

  const when = (iso) => (iso ? new Date(iso).toLocaleString([], { hour12: false }) : '—');
  const jobLink = (id, label) => el('a', { href: `#/jobs/${id}`, text: label || `…${String(id).slice(-8)}`, 'data-job': id });

  /** What a delivery's touches name, shortly: "3 items" or the one item ("nhanhProduct 6"). */
  function about(touches) {
    if (!Array.isArray(touches) || touches.length === 0) return '—';
    if (touches.length > 1) return `${touches.length} items`;
    const t = touches[0];
    const ids = Object.entries(t).filter(([k]) => /id$/i.test(k)).map(([, v]) => v).join(' ');
    return `${t.kind || ''} ${ids}`.trim();
  }

  function row(d) {
    const job = d.jobId
      ? jobLink(d.jobId)
      : d.pullJobId ? el('span', {}, 'pull ', jobLink(d.pullJobId)) : document.createTextNode('—');
    return el('tr', { 'data-delivery': d.id, 'data-state': d.state },
      el('td', { class: 'num', text: String(d.id) }),
      el('td', { text: d.source }),
      el('td', {}, el('code', { text: d.topic })),
      el('td', { text: when(d.receivedAt), title: d.triggeredAt ? `sent ${when(d.triggeredAt)}` : null }),
      el('td', {}, el('span', { class: `delivery ${d.state}`, text: d.state })),
      el('td', { class: 'delivery-job' }, job),
      el('td', { class: 'small', text: d.note || about(d.touches) }));
  }

  function showApp(app) {
    const line = $('#shopify-app-state');
    const button = $('#shopify-reinstalled');
    line.replaceChildren();
    line.classList.toggle('error', app.pushesStopped);
    line.dataset.pushesStopped = String(app.pushesStopped);
    if (app.pushesStopped) {
      line.append(el('strong', { text: 'Pushes to Shopify are stopped' }),
        ` since ${when(app.uninstalledAt)}: ${app.detail || 'the app was uninstalled'}. Reinstall the app in Shopify, then press the button.`);
    } else {
      line.append('Pushes to Shopify: on.');
    }
    button.hidden = !app.pushesStopped;
    button.disabled = false;
  }

  async function reinstalled(button) {
    button.disabled = true;
    try {
      showApp(await api('/api/shopify/app/reinstalled', { method: 'POST' }));
      $('#webhooks-state').textContent = 'pushes to Shopify may resume';
    } catch (e) {
      $('#webhooks-state').textContent = `could not resume pushes: ${e.message}`;
      button.disabled = false;
      await load();
    }
  }

  async function load() {
    clearTimeout(timer);
    const card = $('#webhooks-card');
    if (!card || card.closest('.view').hidden) {
      timer = setTimeout(load, REFRESH_MS);
      return;
    }
    try {
      const [app, list] = await Promise.all([api('/api/shopify/app'), api(`/api/webhook-deliveries?limit=${PAGE}`)]);
      showApp(app);
      $('#deliveries tbody').replaceChildren(...list.map(row));
      $('#deliveries-empty').hidden = list.length > 0;
      $('#webhooks-state').textContent = `updated ${new Date().toLocaleTimeString([], { hour12: false })}`;
    } catch (e) {
      $('#webhooks-state').textContent = `could not load: ${e.message}`;
    }
    timer = setTimeout(load, REFRESH_MS);
  }

  window.addEventListener('hashchange', () => load());
  $('#webhooks-reload').addEventListener('click', () => load());
  $('#shopify-reinstalled').addEventListener('click', (e) => reinstalled(e.currentTarget));
  load();
};
