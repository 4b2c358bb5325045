// Two runs side by side: the per-area differences (b - a) as a table and as a map.

import { api } from '../api.js';
import { clear, el } from '../dom.js';
import { t } from '../i18n.js';
import { baseMap } from './runmap.js';
import { diffColour, legendRow, pct, people, secs, signedPct } from './format.js';
import { SortableTable } from './table.js';

const L = window.L;

const COLUMNS = [
  { key: 'code', label: 'col.code' },
  { key: 'name', label: 'col.name' },
  { key: 'population', label: 'col.population', format: people },
  { key: 'population_share_within_target_a', label: 'col.shareA', format: (v) => pct(v) },
  { key: 'population_share_within_target_b', label: 'col.shareB', format: (v) => pct(v) },
  {
    key: 'population_share_within_target_diff',
    label: 'col.shareDiff',
    format: signedPct,
    className: (r) => (r.population_share_within_target_diff > 0 ? 'gain' : r.population_share_within_target_diff < 0 ? 'loss' : null),
  },
  { key: 'population_within_target_diff', label: 'col.peopleDiff', format: people },
  { key: 'eta_mean_s_a', label: 'col.etaA', format: secs },
  { key: 'eta_mean_s_b', label: 'col.etaB', format: secs },
  { key: 'responders_diff', label: 'col.respondersDiff' },
];

export class CompareView {
  constructor({ form, selectA, selectB, level, mapNode, tableNode, errorNode, tiles }) {
    this.selectA = selectA;
    this.selectB = selectB;
    this.level = level;
    this.tableNode = tableNode;
    this.errorNode = errorNode;
    this.mapNode = mapNode;
    this.tiles = tiles;
    this.map = null;
    this.layer = null;
    this.legend = null;
    this.last = null; // {a, b, areas} of the comparison shown
    this.table = new SortableTable(COLUMNS, {
      id: 'compare-rows',
      sortKey: 'population_share_within_target_diff',
      descending: true,
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.compare().catch((exc) => {
        this.errorNode.textContent = exc.message;
      });
    });
  }

  // The map is made when the view is first shown (Leaflet needs a visible box).
  ensureMap() {
    if (this.map) {
      this.map.invalidateSize();
      return;
    }
    this.map = baseMap(this.mapNode, this.tiles);
    this.layer = L.geoJSON(null, {
      style: (f) => ({
        color: '#34495e',
        weight: 0.8,
        fillOpacity: 0.7,
        fillColor: diffColour(f.properties.population_share_within_target_diff),
      }),
      // A node, not a string: Leaflet would parse a string as HTML, and names are data.
      onEachFeature: (f, layer) =>
        layer.bindTooltip(
          el('span', {
            text: `${f.properties.name}: ${signedPct(f.properties.population_share_within_target_diff)}`,
          }),
        ),
    }).addTo(this.map);
    this.legend = L.control({ position: 'bottomleft' });
    this.legend.onAdd = () => {
      this.legendNode = el('div', { class: 'legend static', id: 'compare-legend' });
      this.renderLegend();
      return this.legendNode;
    };
    this.legend.addTo(this.map);
  }

  renderLegend() {
    if (!this.legendNode) return;
    clear(this.legendNode).append(
      el('b', { text: t('compare.legend') }),
      legendRow(diffColour(0.1), '> +5 pp'),
      legendRow(diffColour(0.02), '+1…+5 pp'),
      legendRow(diffColour(0.005), '0…+1 pp'),
      legendRow(diffColour(0), '0'),
      legendRow(diffColour(-0.01), '< 0'),
    );
  }

  // The table, its caption and the legend again in the current language.
  relabel() {
    this.renderLegend();
    if (this.last) this.renderTable();
  }

  renderTable() {
    const { a, b, areas } = this.last;
    clear(this.tableNode).append(
      el('p', { class: 'muted', text: t('compare.caption', { a, b }) }),
      this.table.setRows(areas),
    );
  }

  setRuns(runs, current) {
    for (const select of [this.selectA, this.selectB]) {
      const value = select.value;
      clear(select);
      for (const run of runs) select.append(el('option', { value: String(run.id), text: runLabel(run) }));
      if (value) select.value = value;
    }
    if (!this.selectA.value || !this.selectB.value || this.selectA.value === this.selectB.value) {
      if (runs.length > 1) this.selectA.value = String(runs[1].id);
      if (current) this.selectB.value = String(current.id);
    }
  }

  async compare() {
    this.ensureMap();
    this.errorNode.textContent = '';
    const a = this.selectA.value;
    const b = this.selectB.value;
    const level = this.level.value;
    const url = `/v1/coverage/runs/${a}/compare/${b}`;
    const [rows, shapes] = await Promise.all([
      api.get(url, { level }),
      api.get(url, { level, format: 'geojson' }),
    ]);
    this.last = { a, b, areas: rows.areas };
    this.renderTable();
    this.layer.clearLayers();
    this.layer.addData(shapes);
    if (this.layer.getLayers().length) this.map.fitBounds(this.layer.getBounds());
    this.tableNode.dataset.compared = `${a}:${b}`;
  }
}

export function runLabel(run) {
  const roles = run.parameters.roles ? run.parameters.roles.join('+') : t('runs.allRoles');
  const share = run.summary.population_share_within_target;
  return `#${run.id} · ${roles} · r${run.parameters.resolution} k${run.parameters.k} · ${pct(share)}`;
}
