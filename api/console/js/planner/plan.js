// "Where would K new responders of role R help most": the chosen sites on the map with the
// people each gains, and the city's and counties' shares before and after.

import { api } from '../api.js';
import { clear, el } from '../dom.js';
import { t } from '../i18n.js';
import { baseMap } from './runmap.js';
import { pct, people, signedPct } from './format.js';
import { SortableTable } from './table.js';

const L = window.L;

const SITE_COLUMNS = [
  { key: 'rank', label: 'col.rank' },
  { key: 'label', label: 'col.site' },
  { key: 'grid_code', label: 'col.grid' },
  { key: 'population_gained', label: 'col.gained', format: people },
];

const AREA_COLUMNS = [
  { key: 'code', label: 'col.code' },
  { key: 'name', label: 'col.name' },
  { key: 'before', label: 'col.before', format: (v) => pct(v) },
  { key: 'after', label: 'col.after', format: (v) => pct(v) },
  { key: 'diff', label: 'col.shareDiff', format: signedPct, className: (r) => (r.diff > 0 ? 'gain' : null) },
];

export class PlanView {
  constructor({ form, add, role, limit, runNote, mapNode, resultNode, errorNode, tiles }) {
    this.add = add;
    this.role = role;
    this.limit = limit;
    this.runNote = runNote;
    this.mapNode = mapNode;
    this.resultNode = resultNode;
    this.errorNode = errorNode;
    this.tiles = tiles;
    this.run = null;
    this.map = null;
    this.sites = null;
    this.result = null; // the plan shown
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.plan(form.querySelector('button[type=submit]')).catch((exc) => {
        this.errorNode.textContent = exc.message;
      });
    });
  }

  ensureMap() {
    if (this.map) {
      this.map.invalidateSize();
      return;
    }
    this.map = baseMap(this.mapNode, this.tiles);
    this.sites = L.featureGroup().addTo(this.map);
  }

  setRoles(roles, label) {
    clear(this.role);
    for (const role of roles) this.role.append(el('option', { value: role.role, text: label(role) }));
    if (roles.some((r) => r.role === 'volunteer')) this.role.value = 'volunteer';
  }

  setRun(run) {
    this.run = run;
    this.runNote.textContent = run ? t('plan.against', { id: run.id }) : t('plan.noRun');
  }

  async plan(button) {
    this.ensureMap();
    this.errorNode.textContent = '';
    if (!this.run) throw new Error(t('plan.noRun'));
    button.disabled = true;
    clear(this.resultNode).append(el('p', { class: 'muted', text: t('plan.working') }));
    try {
      const result = await api.post('/v1/coverage/plan', {
        run_id: this.run.id,
        add: Number(this.add.value),
        role: this.role.value,
        time_limit_s: Number(this.limit.value),
      });
      this.show(result);
    } finally {
      button.disabled = false;
    }
  }

  show(result) {
    this.sites.clearLayers();
    for (const site of result.sites) {
      L.circleMarker([site.lat, site.lon], {
        radius: 8,
        color: '#145a32',
        weight: 2,
        fillColor: '#27ae60',
        fillOpacity: 0.9,
      })
        .bindTooltip(el('span', { text: `#${site.rank} +${people(site.population_gained)}` }), {
          permanent: true,
          direction: 'top',
          className: 'site-label',
        })
        .addTo(this.sites);
    }
    if (result.sites.length) this.map.fitBounds(this.sites.getBounds().pad(0.2));
    this.result = result;
    this.renderResult();
  }

  // The run note, summary and tables again in the current language.
  relabel() {
    this.setRun(this.run);
    if (this.result) this.renderResult();
  }

  renderResult() {
    const result = this.result;
    const change = (area) => ({
      code: area.code,
      name: area.name,
      before: area.before.population_share_within_target,
      after: area.after.population_share_within_target,
      diff: area.after.population_share_within_target - area.before.population_share_within_target,
    });
    const city = result.city ? change(result.city) : null;
    const summary = el(
      'dl',
      { id: 'plan-summary' },
      el('dt', { text: t('plan.gained') }),
      el('dd', { text: people(result.population_gained) }),
      el('dt', { text: t('plan.cityBefore') }),
      el('dd', { text: city ? pct(city.before, 2) : '–' }),
      el('dt', { text: t('plan.cityAfter') }),
      el('dd', { text: city ? pct(city.after, 2) : '–' }),
      el('dt', { text: t('plan.gap') }),
      el('dd', { text: `${pct(result.gap, 2)} (${result.method})` }),
    );
    const sites = new SortableTable(SITE_COLUMNS, { id: 'plan-sites', sortKey: 'rank' });
    const counties = new SortableTable(AREA_COLUMNS, { id: 'plan-counties', sortKey: 'diff', descending: true });
    clear(this.resultNode).append(
      summary,
      el('h3', { text: t('plan.sites') }),
      sites.setRows(result.sites),
      el('h3', { text: t('plan.counties') }),
      counties.setRows(result.counties.map(change)),
    );
    this.resultNode.dataset.sites = String(result.sites.length);
  }
}
