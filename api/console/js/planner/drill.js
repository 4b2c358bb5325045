// The drill-down table city -> county -> township -> grid of one run: sortable, exportable as
// CSV and GeoJSON (the API's own exports), and the map follows it.

import { api } from '../api.js';
import { clear, el } from '../dom.js';
import { t } from '../i18n.js';
import { CITY_PROMISE, pct, people, secs } from './format.js';
import { SortableTable } from './table.js';

const CHILD = { city: 'county', county: 'township', township: 'grid' };

export const AREA_COLUMNS = [
  { key: 'code', label: 'col.code' },
  { key: 'name', label: 'col.name' },
  { key: 'population', label: 'col.population', format: people },
  {
    key: 'population_share_within_target',
    label: 'col.share',
    format: (v) => pct(v),
    className: (r) => (r.population_share_within_target >= CITY_PROMISE ? 'above' : 'below'),
  },
  { key: 'area_share_within_target', label: 'col.areaShare', format: (v) => pct(v) },
  { key: 'eta_mean_s', label: 'col.etaMean', format: secs },
  { key: 'eta_p90_s', label: 'col.etaP90', format: secs },
  { key: 'responders', label: 'col.responders' },
  { key: 'responders_per_10k', label: 'col.per10k', format: (v) => (v === null ? '–' : v.toFixed(2)) },
];

export class DrillDown {
  constructor(node, { runMap, onArea }) {
    this.node = node;
    this.runMap = runMap;
    this.onArea = onArea;
    this.run = null;
    this.path = [];
    this.table = new SortableTable(AREA_COLUMNS, {
      id: 'drill-table',
      sortKey: 'population_share_within_target',
      onRow: (row) => this.open(row),
    });
  }

  get level() {
    return this.path.length ? CHILD[this.path[this.path.length - 1].level] : 'county';
  }

  get parent() {
    return this.path.length ? this.path[this.path.length - 1].code : null;
  }

  async setRun(run) {
    this.run = run;
    this.path = [];
    await this.load();
  }

  async open(row) {
    this.onArea(row);
    if (row.level === 'grid') {
      this.node.dataset.grid = row.code;
      await this.runMap.outline('grid', row.code, row.parent_code);
      return;
    }
    this.path.push({ code: row.code, level: row.level, name: row.name });
    await this.load({ fit: true });
  }

  async up(depth) {
    this.path = this.path.slice(0, depth);
    await this.load({ fit: depth > 0 });
  }

  async load({ fit = false } = {}) {
    const { level, parent } = this;
    const data = await api.get(`/v1/coverage/runs/${this.run.id}/areas`, { level, parent });
    this.render(data.areas);
    this.node.dataset.level = level;
    await this.runMap.showAreaLevel(level, parent, { fit });
  }

  exportUrl(format) {
    const query = new URLSearchParams({ level: this.level, format });
    if (this.parent) query.set('parent', this.parent);
    return `/v1/coverage/runs/${this.run.id}/areas?${query}`;
  }

  render(areas) {
    const crumbs = el(
      'div',
      { class: 'crumbs' },
      el('button', { type: 'button', class: 'crumb', text: t('drill.city'), onclick: () => this.up(0) }),
      this.path.flatMap((step, i) => [
        '›',
        el('button', { type: 'button', class: 'crumb', text: step.name, onclick: () => this.up(i + 1) }),
      ]),
      el('span', { class: 'muted', text: ` ${t(`level.${this.level}`)} · ${areas.length}` }),
      el(
        'span',
        { class: 'exports' },
        el('a', { id: 'export-csv', href: this.exportUrl('csv'), download: '', text: t('drill.csv') }),
        el('a', { id: 'export-geojson', href: this.exportUrl('geojson'), download: '', text: t('drill.geojson') }),
      ),
    );
    clear(this.node).append(crumbs, this.table.setRows(areas));
  }
}
