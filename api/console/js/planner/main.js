// The planners' console: coverage runs (list, start with progress, summary), the run's map and
// drill-down, run comparison, the "where to add" plan and the KPI dashboard. Public /v1 API only.

import { api, ApiError, setCsrf } from '../api.js';
import { $, clear, el } from '../dom.js';
import { applyTranslations, loadLang, localName, switchLang, t } from '../i18n.js';
import { CompareView, runLabel } from './compare.js';
import { DrillDown } from './drill.js';
import { CITY_PROMISE, pct, people, secs } from './format.js';
import { KpiView } from './kpi.js';
import { PlanView } from './plan.js';
import { RunMap } from './runmap.js';

const base = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
const STATUSES = ['available', 'busy', 'off_duty'];
const PROGRESS_EVERY_MS = 400;

const state = { runs: [], run: null, roles: [], view: 'runs' };
let runMap;
let drill;
let compare;
let plan;
let kpi;

function figures(rows) {
  return el(
    'dl',
    {},
    rows.flatMap(([label, value]) => [el('dt', { text: t(label) }), el('dd', { text: value })]),
  );
}

function showSummary(run) {
  const s = run.summary;
  const p = run.parameters;
  clear($('#run-summary')).append(
    el('h2', { text: t('summary.title', { id: run.id }) }),
    figures([
      ['summary.roles', p.roles ? p.roles.join(', ') : t('runs.allRoles')],
      ['summary.params', `${p.target_s} s · k=${p.k} · r${p.resolution}`],
      ['summary.share', pct(s.population_share_within_target, 2)],
      ['summary.promise', `${pct(CITY_PROMISE, 2)} ${s.population_share_within_target >= CITY_PROMISE ? '✓' : '✗'}`],
      ['summary.people', `${people(s.population_within_target)} / ${people(s.population)}`],
      ['summary.eta', `${secs(s.eta_mean_s)} · p90 ${secs(s.eta_p90_s)}`],
      ['summary.responders', people(s.responders_counted)],
      ['summary.cells', people(s.cells)],
      ['summary.duration', `${run.duration_s} s`],
    ]),
  );
  $('#run-summary').dataset.run = String(run.id);
}

// What the info panel shows ({kind, item}), to show it again in another language.
let shownInfo = null;

function showArea(area) {
  shownInfo = { kind: 'area', item: area };
  const panel = $('#area-info');
  panel.hidden = false;
  clear(panel).append(
    el('h2', { text: `${area.name} ${area.code}` }),
    figures([
      ['col.population', people(area.population)],
      ['col.share', pct(area.population_share_within_target, 2)],
      ['col.areaShare', pct(area.area_share_within_target, 2)],
      ['col.etaMean', secs(area.eta_mean_s)],
      ['col.etaP90', secs(area.eta_p90_s)],
      ['col.responders', String(area.responders)],
      ['col.per10k', area.responders_per_10k === null ? '–' : area.responders_per_10k.toFixed(2)],
    ]),
  );
  panel.dataset.code = area.code;
}

function showHexagon(cell) {
  shownInfo = { kind: 'hexagon', item: cell };
  const panel = $('#area-info');
  panel.hidden = false;
  clear(panel).append(
    el('h2', { text: `H3 ${cell.h3}` }),
    figures([
      ['hex.resolution', String(cell.resolution)],
      ['hex.cells', String(cell.cells)],
      ['col.population', people(cell.population)],
      ['hex.within', people(cell.population_within_target)],
      ['hex.eta', `${secs(cell.eta_s)} (${secs(cell.eta_min_s)}–${secs(cell.eta_max_s)})`],
      ['col.grid', cell.grid_code || '–'],
    ]),
  );
  panel.dataset.code = cell.h3;
}

function renderRunList() {
  const list = clear($('#run-list'));
  for (const run of state.runs) {
    list.append(
      el('li', {
        text: runLabel(run),
        class: state.run && run.id === state.run.id ? 'selected' : null,
        dataset: { run: String(run.id) },
        onclick: () => selectRun(run),
      }),
    );
  }
  compare.setRuns(state.runs, state.run);
}

async function loadRuns() {
  const data = await api.get('/v1/coverage/runs', { limit: 50 });
  state.runs = data.runs;
  renderRunList();
}

async function selectRun(run) {
  state.run = run;
  renderRunList();
  showSummary(run);
  plan.setRun(run);
  $('#area-info').hidden = true;
  await Promise.all([runMap.setRun(run), drill.setRun(run)]);
}

function checked(container) {
  return [...container.querySelectorAll('input:checked')].map((input) => input.value);
}

// A random id sent with the POST: the progress poll tells this tab's run from others'.
function clientToken() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

// Runs started by others (other planners, other tabs) while this one computes.
function showOthers(runs) {
  const list = clear($('#run-others'));
  list.hidden = runs.length === 0;
  for (const run of runs) {
    const who = run.mine ? t('progress.otherTab') : run.started_by;
    list.append(
      el('li', {
        text: t('progress.other', { who, stage: t(`stage.${run.stage}`), pct: Math.round(run.fraction * 100) }),
        dataset: { token: String(run.token) },
      }),
    );
  }
}

// The run is computed while the POST is open; meanwhile its stage comes from /progress (any
// server process answers it: the stages are kept in the database).
async function startRun(event) {
  event.preventDefault();
  const button = $('#run-start');
  const box = $('#run-progress');
  $('#run-error').textContent = '';
  const roles = checked($('#run-roles'));
  const token = clientToken();
  const body = {
    roles: roles.length === state.roles.length ? null : roles,
    statuses: checked($('#run-statuses')),
    target_s: Number($('#run-target').value),
    k: Number($('#run-k').value),
    resolution: Number($('#run-resolution').value),
    client_token: token,
  };
  button.disabled = true;
  box.hidden = false;
  box.dataset.token = token;
  $('#run-progress-bar').value = 0;
  $('#run-progress-text').textContent = t('progress.queued');
  const started = performance.now();
  let finished = false;
  const poll = setInterval(async () => {
    const now = await api.get('/v1/coverage/progress').catch(() => null);
    // A poll answered after the run came back must not show it (or others) again.
    if (!now || finished) return;
    const mine = now.runs.find((run) => run.client_token === token);
    const elapsed = ((performance.now() - started) / 1000).toFixed(1);
    if (mine) {
      $('#run-progress-bar').value = mine.fraction;
      $('#run-progress-text').textContent = `${t(`stage.${mine.stage}`)} · ${elapsed} s`;
      box.dataset.stage = mine.stage;
    }
    showOthers(now.runs.filter((run) => run !== mine));
  }, PROGRESS_EVERY_MS);
  try {
    const run = await api.post('/v1/coverage/runs', body);
    $('#run-progress-bar').value = 1;
    $('#run-progress-text').textContent = t('progress.done', { id: run.id, s: run.duration_s });
    await loadRuns();
    await selectRun(run);
  } catch (exc) {
    $('#run-error').textContent = exc.field ? `${exc.field}: ${exc.message}` : exc.message;
  } finally {
    finished = true;
    clearInterval(poll);
    showOthers([]);
    button.disabled = false;
  }
}

function showView(view) {
  state.view = view;
  for (const tab of document.querySelectorAll('.tab')) tab.classList.toggle('active', tab.dataset.view === view);
  for (const name of ['runs', 'compare', 'plan', 'kpi']) $(`#view-${name}`).hidden = name !== view;
  document.body.dataset.view = view;
  if (view === 'runs') runMap.map.invalidateSize();
  if (view === 'compare') compare.ensureMap();
  if (view === 'plan') plan.ensureMap();
  if (view === 'kpi') kpi.load().catch((exc) => ($('#kpi-error').textContent = exc.message));
}

function fillForm() {
  const roles = clear($('#run-roles'));
  for (const role of state.roles) {
    roles.append(el('label', {}, el('input', { type: 'checkbox', value: role.role, checked: true }), ` ${localName(role)}`));
  }
  const statuses = clear($('#run-statuses'));
  for (const status of STATUSES) {
    statuses.append(
      el('label', {}, el('input', { type: 'checkbox', value: status, checked: status === 'available' }), ` ${t(`status.${status}`)}`),
    );
  }
  plan.setRoles(state.roles, localName);
}

async function start() {
  await loadLang(base);
  applyTranslations();
  document.title = t('planner.title');
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
  setCsrf(me.csrf_token);
  const showUser = () => {
    $('#user-name').textContent = `${me.user.name} (${t(`userRole.${me.user.role}`)})`;
  };
  showUser();
  $('#logout').addEventListener('click', async () => {
    await api.logout().catch(() => null);
    window.location.assign('/console/login');
  });
  $('#lang-toggle').addEventListener('click', async () => {
    await switchLang(base);
    document.title = t('planner.title');
    showUser();
    $('#run-progress').hidden = true;
    if (!runMap) return;
    fillForm();
    renderRunList();
    runMap.renderLegend();
    compare.relabel();
    plan.relabel();
    if (shownInfo && !$('#area-info').hidden) {
      if (shownInfo.kind === 'area') showArea(shownInfo.item);
      else showHexagon(shownInfo.item);
    }
    if (state.run) {
      showSummary(state.run);
      await drill.load();
    }
    if (state.view === 'kpi' || kpi.loaded) await kpi.load();
  });
  if (!me.permissions.includes('planning')) {
    // Planning is for planners: a dispatcher sees a pointer back to the dispatch console.
    clear($('.planner-layout')).append(el('p', { id: 'no-access', class: 'panel', text: t('planner.noAccess') }));
    document.body.dataset.ready = 'denied';
    return;
  }
  const tiles = document.body.dataset.tiles;
  runMap = new RunMap($('#map'), $('#legend'), { tiles, onHexagon: showHexagon, onArea: showArea });
  drill = new DrillDown($('#drill'), { runMap, onArea: showArea });
  compare = new CompareView({
    form: $('#compare-form'),
    selectA: $('#compare-a'),
    selectB: $('#compare-b'),
    level: $('#compare-level'),
    mapNode: $('#compare-map'),
    tableNode: $('#compare-table'),
    errorNode: $('#compare-error'),
    tiles,
  });
  plan = new PlanView({
    form: $('#plan-form'),
    add: $('#plan-add'),
    role: $('#plan-role'),
    limit: $('#plan-limit'),
    runNote: $('#plan-run'),
    mapNode: $('#plan-map'),
    resultNode: $('#plan-result'),
    errorNode: $('#plan-error'),
    tiles,
  });
  kpi = new KpiView({
    form: $('#kpi-form'),
    weeks: $('#kpi-weeks'),
    tableNode: $('#kpi-table'),
    chartsNode: $('#kpi-charts'),
    errorNode: $('#kpi-error'),
  });
  for (const tab of document.querySelectorAll('.tab')) tab.addEventListener('click', () => showView(tab.dataset.view));
  const layers = () =>
    runMap.setLayers({ hexagons: $('#show-hexagons').checked, areas: $('#show-areas').checked });
  $('#show-hexagons').addEventListener('change', layers);
  $('#show-areas').addEventListener('change', layers);
  $('#choropleth-level').addEventListener('change', (event) => runMap.showAreaLevel(event.target.value));
  $('#run-form').addEventListener('submit', startRun);
  $('#run-target').value = document.body.dataset.target || '300';

  state.roles = (await api.get('/v1/summary')).responders;
  fillForm();
  showView('runs');
  await loadRuns();
  if (state.runs.length) await selectRun(state.runs[0]);
  plan.setRun(state.run);
  document.body.dataset.ready = 'yes';
}

start().catch((exc) => {
  document.body.dataset.ready = 'error';
  throw exc;
});
