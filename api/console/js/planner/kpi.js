// The KPI dashboard: each county against the city's own 93.48 % line over the chosen weeks
// (a table), and weekly charts drawn by the server as SVG (GET /v1/kpis/series?format=svg).

import { api } from '../api.js';
import { clear, el } from '../dom.js';
import { currentLang, t } from '../i18n.js';
import { CITY_PROMISE, pct, secs } from './format.js';
import { SortableTable } from './table.js';

const WEEK_MS = 7 * 24 * 3600 * 1000;
const CHARTS = [
  'within_target_rate',
  'urban_within_target_rate',
  'median_response_s',
  'p90_response_s',
  'diverted_share',
  'resolved_on_site_share',
];
const against = (key) => (r) => (r[key] === null ? null : r[key] >= CITY_PROMISE ? 'above' : 'below');

const COLUMNS = [
  { key: 'code', label: 'col.code' },
  { key: 'name', label: 'col.name' },
  { key: 'incidents', label: 'col.incidents' },
  { key: 'within_target_rate', label: 'col.within', format: (v) => pct(v), className: against('within_target_rate') },
  {
    key: 'urban_within_target_rate',
    label: 'col.withinUrban',
    format: (v) => pct(v),
    className: against('urban_within_target_rate'),
  },
  { key: 'median_response_s', label: 'col.median', format: secs },
  { key: 'p90_response_s', label: 'col.p90', format: secs },
  { key: 'diverted_share', label: 'col.diverted', format: (v) => pct(v) },
  { key: 'resolved_on_site_share', label: 'col.resolved', format: (v) => pct(v) },
];

export class KpiView {
  constructor({ form, weeks, tableNode, chartsNode, errorNode }) {
    this.weeks = weeks;
    this.tableNode = tableNode;
    this.chartsNode = chartsNode;
    this.errorNode = errorNode;
    this.table = new SortableTable(COLUMNS, { id: 'kpi-rows', sortKey: 'code' });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.load().catch((exc) => {
        this.errorNode.textContent = exc.message;
      });
    });
  }

  range() {
    const weeks = Math.min(52, Math.max(2, Number(this.weeks.value) || 12));
    // Whole weeks ending at the coming midnight UTC: the same URLs all day, so charts cache.
    const end = new Date();
    end.setUTCHours(24, 0, 0, 0);
    const start = new Date(end.getTime() - weeks * WEEK_MS);
    return { from: start.toISOString().replace('.000Z', 'Z'), to: end.toISOString().replace('.000Z', 'Z') };
  }

  async load() {
    this.errorNode.textContent = '';
    const range = this.range();
    const report = await api.get('/v1/kpis', { ...range, level: 'county' });
    const city = (await api.get('/v1/kpis', { ...range, level: 'city' })).areas[0];
    clear(this.tableNode).append(
      el('p', {
        class: 'muted',
        text: t('kpi.caption', { from: range.from.slice(0, 10), to: range.to.slice(0, 10), promise: pct(CITY_PROMISE, 2) }),
      }),
      this.table.setRows([...(city ? [city] : []), ...report.areas]),
    );
    const charts = clear(this.chartsNode);
    for (const metric of CHARTS) {
      const query = new URLSearchParams({ ...range, level: 'county', bucket: 'week', format: 'svg', metric, lang: currentLang() });
      charts.append(
        el(
          'figure',
          {},
          el('img', { src: `/v1/kpis/series?${query}`, alt: t(`chart.${metric}`), dataset: { metric } }),
        ),
      );
    }
    this.tableNode.dataset.counties = String(report.areas.length);
    this.loaded = true;
  }
}
