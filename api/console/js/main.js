// The dispatchers' console: wires the map, the queue, the place and incident panels, the live
// channel, the header and the keyboard together. Only the public /v1 API is used.

import { api, ApiError, setCsrf } from './api.js';
import { $, clear, el, parseLonLat } from './dom.js';
import { applyTranslations, loadLang, localName, switchLang, t } from './i18n.js';
import { IncidentPanel } from './incident.js';
import { LiveChannel } from './live.js';
import { CityMap, roleColour } from './map.js';
import { PlacePanel } from './place.js';
import { Queue } from './queue.js';
import { Chime } from './sound.js';

const base = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
const LOG_LIMIT = 200;

const state = {
  me: null,
  canDispatch: false,
  categories: new Map(),
  roles: [],
  names: new Map(),
  selectedIncident: null,
};

function logActivity(text, kind = '') {
  const list = $('#activity-log');
  list.prepend(el('li', { class: kind }, el('time', { text: new Date().toLocaleTimeString() }), ` ${text}`));
  while (list.children.length > LOG_LIMIT) list.lastChild.remove();
}

// A colour chip for a role (CSSOM, which the page's CSP allows, unlike style attributes).
function swatch(role) {
  const chip = el('i', { class: 'swatch' });
  chip.style.backgroundColor = roleColour(role);
  return chip;
}

function responderName(id) {
  return state.names.get(id) || `#${id}`;
}

function rememberNames(items) {
  for (const r of items) state.names.set(r.responder_id ?? r.id, r.name);
}

async function refreshSummary() {
  const summary = await api.get('/v1/summary');
  $('#count-open').textContent = String(summary.open_incidents);
  state.roles = summary.responders;
  const box = clear($('#count-roles'));
  for (const role of summary.responders) {
    box.append(
      el(
        'span',
        { class: 'count role', title: localName(role), dataset: { role: role.role } },
        swatch(role.role),
        `${localName(role)} `,
        el('b', { text: String(role.available) }),
      ),
    );
  }
}

function fillRoleFilter() {
  const select = $('#role-filter');
  const current = select.value;
  while (select.options.length > 1) select.remove(1);
  for (const role of state.roles) select.append(el('option', { value: role.role, text: localName(role) }));
  select.value = current;
}

function renderLegend() {
  const legend = clear($('#legend'));
  for (const role of state.roles) {
    legend.append(el('span', {}, swatch(role.role), localName(role)));
  }
  legend.append(
    el('span', {}, el('i', { class: 'swatch live' }), t('source.live')),
    el('span', {}, el('i', { class: 'swatch home' }), t('source.home')),
    el('span', {}, el('i', { class: 'swatch busy' }), t('status.busy')),
    el('span', {}, el('i', { class: 'swatch incident' }), t('legend.incident')),
  );
}

async function loadCategories() {
  const data = await api.get('/v1/incident-categories');
  const select = $('#call-category');
  clear(select);
  for (const category of data.categories) {
    state.categories.set(category.code, category);
    select.append(el('option', { value: category.code, text: localName(category) }));
  }
}

function tick() {
  $('#clock').textContent = new Date().toLocaleTimeString(undefined, { hour12: false });
}

function setLiveState(live) {
  const node = $('#live-state');
  node.className = `live-state ${live}`;
  $('#live-text').textContent = t(`live.${live}`);
  document.body.dataset.live = live;
}

async function start() {
  await loadLang(base);
  applyTranslations();
  let me;
  try {
    me = await api.me();
  } catch (exc) {
    if (exc instanceof ApiError && exc.status === 401) {
      window.location.assign('/console/login');
      return;
    }
    throw exc;
  }
  state.me = me;
  setCsrf(me.csrf_token);
  state.canDispatch = me.permissions.includes('dispatch');
  document.body.classList.toggle('read-only', !state.canDispatch);
  $('#user-name').textContent = `${me.user.name} (${t(`userRole.${me.user.role}`)})`;
  $('#call-pane').hidden = !state.canDispatch;

  const targetS = Number(document.body.dataset.target) || 300;
  const chime = new Chime();
  const soundButton = $('#sound-toggle');
  const showSound = () => {
    soundButton.textContent = t(chime.muted ? 'sound.off' : 'sound.on');
    soundButton.setAttribute('aria-pressed', String(!chime.muted));
  };
  showSound();
  soundButton.addEventListener('click', () => {
    chime.toggle();
    showSound();
  });
  $('#sound-volume').value = String(chime.volume);
  $('#sound-volume').addEventListener('input', (event) => chime.setVolume(event.target.value));

  let place;
  let incidentPanel;
  const map = new CityMap($('#map'), {
    tiles: document.body.dataset.tiles,
    onClick: (lon, lat) => {
      $('#call-coords').value = `${lon.toFixed(6)},${lat.toFixed(6)}`;
      $('#call-crs').value = 'wgs84';
      place.show(lon, lat, 'wgs84');
    },
    onResponderClick: (responder) => {
      state.names.set(responder.id, responder.name);
      if (state.selectedIncident && state.canDispatch) {
        incidentPanel.pick(responder.id);
        logActivity(t('log.picked', { name: responder.name }));
      }
    },
    onIncidentClick: (id) => queue.open(id),
  });

  const dispatchFromPanel = async (responderId) => {
    if (!state.selectedIncident) return;
    incidentPanel.pick(responderId);
    await incidentPanel.act('dispatched', responderId);
  };
  place = new PlacePanel($('#place-panel'), {
    map,
    canDispatch: state.canDispatch,
    onDispatch: dispatchFromPanel,
    log: logActivity,
  });

  const selectIncident = async (id) => {
    const incident = await incidentPanel.open(id);
    state.selectedIncident = id;
    rememberNames(incident.recommendation.responders || []);
    const category = state.categories.get(incident.category.code);
    const roles = category ? [...category.primary_roles, ...category.fallback_roles].join(',') : null;
    place.setIncident(incident);
    map.setFocus(
      [...(incident.recommendation.responders || []).map((r) => r.responder_id), ...incidentPanel.heldResponders()],
      id,
    );
    await place.show(incident.lon, incident.lat, 'wgs84', {
      roles,
      preferTeam: Boolean(category && category.prefer_team),
      pan: true,
    });
  };
  const unselectIncident = () => {
    state.selectedIncident = null;
    incidentPanel.close();
    place.setIncident(null);
    map.setFocus(null, null);
    queue.select(null, { focus: false });
  };

  incidentPanel = new IncidentPanel($('#incident-panel'), {
    canDispatch: state.canDispatch,
    onChanged: (incident, type, responderId) => {
      incidentPanel.names = state.names;
      const who = responderId ? ` · ${responderName(responderId)}` : '';
      logActivity(`#${incident.id} ${t(`event.${type}`)}${who}`, 'mine');
      place.setIncident(incident);
      map.setFocus(
        [...(incident.recommendation.responders || []).map((r) => r.responder_id), ...incidentPanel.heldResponders()],
        incident.id,
      );
      place.reload();
      queue.load();
    },
    onClose: unselectIncident,
  });
  incidentPanel.names = state.names;

  const queue = new Queue($('#queue'), {
    targetS,
    onOpen: (id) => selectIncident(id),
    onNew: (ids) => {
      chime.play();
      document.body.classList.remove('flash');
      void document.body.offsetWidth; // restart the animation
      document.body.classList.add('flash');
      for (const id of ids) logActivity(t('log.newIncident', { id }), 'new');
    },
  });

  const refreshQueueAndMap = async () => {
    await queue.load();
    map.drawIncidents(queue.items);
  };

  // Many changes in a burst (other dispatchers at work) cost one re-read, not one each.
  let summaryTimer = null;
  const refreshSoon = () => {
    clearTimeout(summaryTimer);
    summaryTimer = setTimeout(() => refreshSummary(), 300);
  };
  let placeTimer = null;
  const reloadPlaceSoon = () => {
    clearTimeout(placeTimer);
    placeTimer = setTimeout(() => place.reload(), 300);
  };

  const live = new LiveChannel({
    onState: setLiveState,
    onReady: () => {
      refreshQueueAndMap();
      refreshSummary();
      map.loadResponders();
    },
    onIncident: (event) => {
      refreshQueueAndMap();
      refreshSoon();
      if (state.selectedIncident === event.id && event.op === 'update') incidentPanel.reload();
    },
    onResponder: (event) => {
      logActivity(
        t('log.responderStatus', {
          name: responderName(event.id),
          before: t(`status.${event.before}`),
          after: t(`status.${event.status}`),
        }),
        `responder status-${event.status}`,
      );
      map.updateResponderStatus(event.id, event.status);
      refreshSoon();
      reloadPlaceSoon();
    },
  });

  // -- search, coordinates, role filter --------------------------------------------------------
  const results = $('#search-results');
  let searchSeq = 0;
  $('#search').addEventListener('input', async (event) => {
    const q = event.target.value.trim();
    const seq = ++searchSeq;
    if (!q) {
      results.hidden = true;
      return;
    }
    const data = await api.get('/v1/areas/search', { q, limit: 10 });
    if (seq !== searchSeq) return;
    clear(results);
    for (const area of data.areas) {
      results.append(
        el(
          'li',
          {
            tabindex: 0,
            dataset: { code: area.code },
            onclick: () => {
              results.hidden = true;
              map.fitBbox(area.bbox);
              place.show(area.point.lon, area.point.lat, 'wgs84');
            },
          },
          el('b', { text: area.name }),
          ` ${area.code} · ${t(`level.${area.level}`)}${area.parent_name ? ` · ${area.parent_name}` : ''}`,
        ),
      );
    }
    if (!data.areas.length) results.append(el('li', { class: 'muted', text: t('search.none') }));
    results.hidden = false;
  });
  $('#search').addEventListener('keydown', (event) => {
    if (event.key === 'Enter') {
      const first = results.querySelector('li[data-code]');
      if (first) first.click();
    } else if (event.key === 'Escape') results.hidden = true;
  });
  $('#coord-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const point = parseLonLat($('#coord-input').value);
    if (!point) {
      $('#coord-input').setCustomValidity(t('coords.invalid'));
      $('#coord-input').reportValidity();
      return;
    }
    $('#coord-input').setCustomValidity('');
    const crs = $('#coord-crs').value;
    $('#call-coords').value = `${point.lon},${point.lat}`;
    $('#call-crs').value = crs;
    place.show(point.lon, point.lat, crs, { pan: true });
  });
  $('#role-filter').addEventListener('change', (event) => {
    map.setRoleFilter(event.target.value);
    place.roles = event.target.value || null;
    place.reload();
  });
  $('#prefer-team').addEventListener('change', (event) => {
    place.preferTeam = event.target.checked;
    place.reload();
  });

  // -- take a call by hand -------------------------------------------------------------------
  const submitCall = async () => {
    const error = $('#call-error');
    error.textContent = '';
    const point = parseLonLat($('#call-coords').value);
    if (!point) {
      error.textContent = t('coords.invalid');
      return;
    }
    const random = Math.random().toString(36).slice(2, 8);
    try {
      const incident = await api.post('/v1/incidents', {
        external_id: `console-${Date.now()}-${random}`,
        category: $('#call-category').value,
        lon: point.lon,
        lat: point.lat,
        crs: $('#call-crs').value,
        reported_at: new Date().toISOString(),
        description: $('#call-description').value.trim(),
      });
      $('#call-description').value = '';
      logActivity(t('log.callTaken', { id: incident.id }), 'mine');
      await refreshQueueAndMap();
      queue.select(incident.id);
      await selectIncident(incident.id);
    } catch (exc) {
      error.textContent = exc.status ? `${exc.status}: ${exc.message}` : exc.message;
    }
  };
  $('#call-form').addEventListener('submit', (event) => {
    event.preventDefault();
    submitCall();
  });

  // -- keyboard ------------------------------------------------------------------------------
  document.addEventListener('keydown', (event) => {
    const typing = event.target.closest('input, textarea, select');
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      if (event.target.closest('#call-form')) {
        event.preventDefault();
        submitCall();
      } else if (event.target.id === 'event-note') {
        event.preventDefault();
        incidentPanel.act('dispatched');
      }
      return;
    }
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    const actions = { d: 'dispatched', a: 'arrived', r: 'resolved', f: 'referred', c: 'closed' };
    const key = event.key.toLowerCase();
    if (state.selectedIncident && state.canDispatch && actions[key]) {
      event.preventDefault();
      incidentPanel.act(actions[key]);
    } else if (key === '/') {
      event.preventDefault();
      $('#search').focus();
    } else if (key === 'n' && state.canDispatch) {
      event.preventDefault();
      $('#call-coords').focus();
    } else if (key === 'q') {
      event.preventDefault();
      $('#queue').focus();
    } else if (event.key === 'Escape' && state.selectedIncident) {
      unselectIncident();
    }
  });

  // -- header ----------------------------------------------------------------------------------
  $('#lang-toggle').addEventListener('click', async () => {
    await switchLang(base);
    setLiveState(live.state);
    showSound();
    fillRoleFilter();
    renderLegend();
    await refreshSummary();
    queue.render();
    if (state.selectedIncident) incidentPanel.render();
    place.reload();
    $('#user-name').textContent = `${me.user.name} (${t(`userRole.${me.user.role}`)})`;
  });
  $('#logout').addEventListener('click', async () => {
    live.close();
    try {
      await api.logout();
    } finally {
      window.location.assign('/console/login');
    }
  });
  tick();
  setInterval(tick, 1000);
  setInterval(refreshSummary, 30000);

  await Promise.all([refreshSummary(), loadCategories()]);
  fillRoleFilter();
  renderLegend();
  await Promise.all([map.refresh(), refreshQueueAndMap()]);
  live.connect();
  document.body.dataset.ready = 'true';
}

start().catch((exc) => {
  document.body.dataset.failed = String(exc && exc.message);
  throw exc;
});
