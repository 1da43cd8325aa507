// dongbo dashboard: the Locations panel, which Nhanh depots feed which Shopify location.
// "Sync product stock" sums the stock of the depots mapped onto each location and refuses to run
// while no depot is mapped, so this is the one piece of configuration an operator must set.
// There is no module system (no build step): this file defines one factory, and app.js, loaded
// after it, calls it with the page's helpers.
'use strict';

/**
 * The panel. `isOpen()` says whether its view is shown; `refreshMs` is how often it re-reads while
 * the pulls it waits for have not run yet.
 */
window.dongboLocations = ({ $, el, api, notify, isOpen, refreshMs }) => {
  const PATH = '/api/location-mappings';
  const state = { seq: 0, timer: 0, notes: new Map() }; // notes: depot id -> { text, error }

  const rowOf = (depotId) => document.querySelector(`#locations tr[data-depot="${CSS.escape(depotId)}"]`);
  const locationNumber = (gid) => String(gid).split('/').pop();

  /**
   * Reads the mappings, the depots and the locations and shows them. `focus` names the element to
   * focus afterwards; `discard` is a depot whose unsaved choice gives way to what the server holds.
   */
  async function load({ focus = null, discard = null, quiet = false } = {}) {
    clearTimeout(state.timer);
    const seq = ++state.seq;
    if (!quiet) $('#locations-state').textContent = 'loading…';
    try {
      const data = await api(PATH);
      if (seq !== state.seq || !isOpen()) return;
      show(data, focus, discard);
      // Until both pulls have run there is nothing (or not everything) to map: watch for them.
      if (!data.depots.length || !data.locations.length) {
        state.timer = setTimeout(() => load({ quiet: true }), refreshMs);
      }
    } catch (e) {
      if (seq === state.seq) $('#locations-state').textContent = `could not load: ${e.message}`;
    }
  }

  function show(data, focus, discard) {
    const tbody = $('#locations tbody');
    // A choice not saved yet survives a re-read (another row's save, the refresh while pulls run).
    const pending = new Map();
    for (const select of tbody.querySelectorAll('select')) {
      if (select.value !== select.dataset.saved && select.dataset.depot !== discard) {
        pending.set(select.dataset.depot, select.value);
      }
    }
    const active = document.activeElement;
    const focusId = focus || (active && tbody.contains(active) ? active.id : null);

    const mapped = new Map(data.mappings.map((m) => [String(m.depotId), m.locationId]));
    const names = new Map(data.depots.map(([id, name]) => [String(id), name]));
    // Null until the token's first check: then a depot not listed is not covered by the token.
    const covered = data.coveredDepots ? new Set(data.coveredDepots.map(String)) : null;
    const depots = [...new Set([...names.keys(), ...mapped.keys()])].sort((a, b) => Number(a) - Number(b));
    const locations = data.locations.map(([id, name]) => ({ id, text: `${name} — ${locationNumber(id)}` }));
    // A mapping may name a location the last Shopify pull did not see: still show it as chosen.
    for (const gid of new Set(mapped.values())) {
      if (!locations.some((l) => l.id === gid)) locations.push({ id: gid, text: `${gid} (not in the last Shopify pull)` });
    }
    tbody.replaceChildren(...depots.map((id) => row(id, names, mapped.get(id) || '', locations, pending.get(id),
      covered && !covered.has(id))));

    $('#locations-table').hidden = depots.length === 0;
    const noDepots = data.depots.length === 0;
    const noLocations = data.locations.length === 0;
    $('#locations-empty').hidden = !noDepots && !noLocations;
    $('#locations-need-depots').hidden = !noDepots;
    $('#locations-need-locations').hidden = !noLocations;
    $('#locations-empty-what').textContent = noDepots && noLocations
      ? 'No Nhanh depot and no Shopify location is known yet.'
      : noDepots ? 'No Nhanh depot is known yet.' : 'No Shopify location is known yet.';
    const onto = new Set(mapped.values()).size;
    const counts = depots.length
      ? `${mapped.size} of ${depots.length} depot${depots.length === 1 ? '' : 's'} mapped onto ${onto} location${onto === 1 ? '' : 's'}`
      : 'nothing to map yet';
    $('#locations-state').textContent = `${counts} · updated ${new Date().toLocaleTimeString([], { hour12: false })}`;

    const target = focusId && document.getElementById(focusId);
    if (target && !target.disabled) target.focus();
  }

  /**
   * One depot's row: its id and name (marked when the Nhanh token does not cover the depot), the
   * location select, its Save button and its note.
   */
  function row(depotId, names, saved, locations, pending, uncovered) {
    const name = names.get(depotId);
    const label = `Shopify location for depot ${depotId}${name ? ` (${name})` : ''}`;
    const select = el('select', { id: `location-of-${depotId}`, 'data-depot': depotId, 'data-saved': saved, 'aria-label': label },
      el('option', { value: '', text: 'not mapped' }),
      ...locations.map((l) => el('option', { value: l.id, text: l.text })));
    const keep = pending !== undefined && [...select.options].some((o) => o.value === pending);
    select.value = keep ? pending : saved;
    const save = el('button', { type: 'button', id: `save-location-${depotId}`, text: 'Save',
      'aria-label': `Save the location of depot ${depotId}` });
    const note = el('span', { class: 'loc-note', id: `location-note-${depotId}`, 'aria-live': 'polite' });
    save.setAttribute('aria-describedby', note.id);
    // A mapping set through the API may name a depot no pull has seen (yet, or any more).
    const nameText = names.has(depotId) ? name || '—' : 'not seen by the last Nhanh pull';
    const tr = el('tr', { 'data-depot': depotId, 'data-name': name || null },
      el('td', { class: 'num mono', text: depotId }),
      el('td', { class: name ? null : 'muted', title: names.has(depotId) && !name ? `The pulls have not seen this depot's name` : null },
        nameText,
        uncovered ? ' ' : null,
        uncovered ? el('span', { class: 'status FAILED', id: `uncovered-${depotId}`, text: 'not covered by the Nhanh token',
          title: 'Nhanh sends no stock for this depot with the current token (absent, not zero): authorise Nhanh again with this depot granted' }) : null),
      el('td', {}, select),
      el('td', {}, save),
      el('td', { class: 'wrap' }, note));
    select.addEventListener('change', () => {
      state.notes.delete(depotId);
      markDirty(tr);
    });
    save.addEventListener('click', () => saveRow(depotId));
    markDirty(tr);
    return tr;
  }

  /** Shows whether the row's choice differs from what is stored, or the note of its last save. */
  function markDirty(tr) {
    const select = $('select', tr);
    const dirty = select.value !== select.dataset.saved;
    tr.classList.toggle('dirty', dirty);
    $('button', tr).disabled = !dirty;
    const note = $('.loc-note', tr);
    // A failed save's reason stays until the choice changes; "not saved yet" hides a success.
    const last = state.notes.get(tr.dataset.depot);
    const shown = last && (last.error || !dirty) ? last : dirty ? { text: 'not saved yet', kind: 'pending' } : null;
    note.className = `loc-note ${shown ? shown.kind || (shown.error ? 'error' : 'ok') : ''}`.trim();
    note.textContent = shown ? shown.text : '';
  }

  /** PUTs the row's location, or DELETEs its mapping for "not mapped", then shows what is stored. */
  async function saveRow(depotId) {
    const tr = rowOf(depotId);
    if (!tr) return;
    const select = $('select', tr);
    const locationId = select.value;
    const chosen = select.selectedOptions[0] ? select.selectedOptions[0].text : locationId;
    const depot = tr.dataset.name ? `${depotId} (${tr.dataset.name})` : depotId;
    select.disabled = true;
    $('button', tr).disabled = true;
    const note = $('.loc-note', tr);
    note.className = 'loc-note';
    note.textContent = 'saving…';
    try {
      if (locationId) await api(PATH, { method: 'PUT', body: { depotId: Number(depotId), locationId } });
      else await api(`${PATH}/${encodeURIComponent(depotId)}`, { method: 'DELETE' });
      select.dataset.saved = locationId;
      state.notes.set(depotId, { text: locationId ? 'saved' : 'saved: not mapped', error: false });
      notify(locationId ? `Depot ${depot} now feeds ${chosen}.` : `Depot ${depot} feeds no location now.`);
    } catch (e) {
      state.notes.set(depotId, { text: e.message, error: true });
      notify(`Saving the location of depot ${depot} failed: ${e.message}`, { error: true });
    }
    // Either way the row then shows what the server holds.
    await load({ focus: select.id, discard: depotId });
    if (tr.isConnected) {
      // The re-read failed: the row is still the one shown, so it must not stay disabled.
      select.disabled = false;
      markDirty(tr);
    }
  }

  $('#locations-reload').addEventListener('click', () => load());

  return {
    /** Shows the panel afresh. */
    open() {
      state.notes.clear();
      load();
    },
    /** Stops watching for the pulls. */
    close() {
      clearTimeout(state.timer);
    },
  };
};
