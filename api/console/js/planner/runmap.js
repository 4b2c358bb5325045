// The map of one coverage run: H3 hexagons coloured by ETA class, fetched for the view and
// gathered by the API to a resolution that suits the zoom (a res-9 city run has ~143,000
// cells: never all at once), and an area choropleth by share of people within target.

import { api } from '../api.js';
import { clear } from '../dom.js';
import { etaColour, etaLegend, shareColour, shareLegend } from './format.js';

const L = window.L;
// Zhangzhou's extent: every map opens on the whole city.
const CITY_BOUNDS = [
  [23.55, 116.9],
  [25.3, 118.35],
];
const MOVE_DELAY_MS = 120;

export function baseMap(node, tiles) {
  // Half zoom steps: the whole city fits a short map box at 8.5, drawn as zoom 9.
  const map = L.map(node, { preferCanvas: true, zoomSnap: 0.5 }).fitBounds(CITY_BOUNDS);
  if (tiles) L.tileLayer(tiles, { maxZoom: 19, attribution: 'Base map' }).addTo(map);
  L.control.scale({ imperial: false }).addTo(map);
  return map;
}

export function bboxOf(map, pad = 0.1) {
  const b = map.getBounds().pad(pad);
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
  return [
    clamp(b.getWest(), -180, 180),
    clamp(b.getSouth(), -90, 90),
    clamp(b.getEast(), -180, 180),
    clamp(b.getNorth(), -90, 90),
  ]
    .map((v) => v.toFixed(5))
    .join(',');
}

export class RunMap {
  constructor(node, legendNode, { tiles, onHexagon, onArea }) {
    this.node = node;
    this.legendNode = legendNode;
    this.map = baseMap(node, tiles);
    this.renderer = L.canvas({ padding: 0.1 });
    this.run = null;
    this.target = 300;
    this.showHexagons = true;
    this.showAreas = false;
    this.areaView = { level: 'county', parent: null };
    this.sequence = 0;
    this.hexagons = L.geoJSON(null, {
      renderer: this.renderer,
      style: (f) => ({
        stroke: false,
        fillOpacity: 0.65,
        fillColor: etaColour(f.properties.eta_s, this.target),
      }),
      onEachFeature: (f, layer) => layer.on('click', () => onHexagon(f.properties)),
    }).addTo(this.map);
    this.areas = L.geoJSON(null, {
      renderer: this.renderer,
      style: (f) => ({
        color: '#34495e',
        weight: f.properties.level === 'grid' ? 0.6 : 1.5,
        fillOpacity: this.showHexagons ? 0.0 : 0.6,
        fillColor: shareColour(f.properties.population_share_within_target),
      }),
      onEachFeature: (f, layer) => layer.on('click', () => onArea(f.properties)),
    });
    // Above the hexagons' canvas: the outline of the area picked in the table.
    this.map.createPane('highlight').style.zIndex = 450;
    this.highlight = L.geoJSON(null, {
      pane: 'highlight',
      renderer: L.svg({ pane: 'highlight' }),
      interactive: false,
      style: { color: '#e67e22', weight: 3, fill: false },
    }).addTo(this.map);
    let timer = null;
    this.map.on('moveend', () => {
      clearTimeout(timer);
      timer = setTimeout(() => this.loadHexagons(), MOVE_DELAY_MS);
    });
  }

  async setRun(run) {
    this.run = run;
    this.target = run.parameters.target_s;
    this.renderLegend();
    await Promise.all([this.loadHexagons(), this.loadAreas()]);
  }

  setLayers({ hexagons, areas }) {
    this.showHexagons = hexagons;
    this.showAreas = areas;
    if (hexagons) this.hexagons.addTo(this.map);
    else this.hexagons.remove();
    if (areas) this.areas.addTo(this.map);
    else this.areas.remove();
    this.areas.setStyle(this.areas.options.style);
    this.renderLegend();
    return Promise.all([this.loadHexagons(), this.loadAreas()]);
  }

  renderLegend() {
    const node = clear(this.legendNode);
    if (this.showHexagons) etaLegend(node, this.target);
    if (this.showAreas) shareLegend(node);
  }

  // Fetches the hexagons of the view at its zoom; a newer view wins over an older answer.
  async loadHexagons() {
    if (!this.run || !this.showHexagons) return;
    const sequence = ++this.sequence;
    const started = performance.now();
    const zoom = Math.round(this.map.getZoom());
    this.node.dataset.loading = 'hexagons';
    const data = await api.get(`/v1/coverage/runs/${this.run.id}/hexagons`, {
      bbox: bboxOf(this.map),
      zoom,
    });
    if (sequence !== this.sequence) return;
    this.hexagons.clearLayers();
    this.hexagons.addData(data);
    // Drawn once the canvas has painted: what a planner waits for (the benchmark reads it).
    await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
    if (sequence !== this.sequence) return;
    Object.assign(this.node.dataset, {
      run: String(this.run.id),
      zoom: String(zoom),
      resolution: String(data.resolution),
      hexagons: String(data.features.length),
      drawMs: String(Math.round(performance.now() - started)),
      loading: '',
    });
  }

  // The choropleth follows the drill-down: the areas of `level` inside `parent`.
  async showAreaLevel(level, parent = null, { fit = false } = {}) {
    this.areaView = { level, parent };
    await this.loadAreas();
    if (fit && this.areas.getLayers().length) this.map.fitBounds(this.areas.getBounds().pad(0.05));
  }

  async loadAreas() {
    if (!this.run || !this.showAreas) return;
    const { level, parent } = this.areaView;
    const data = await api.get(`/v1/coverage/runs/${this.run.id}/areas`, {
      level,
      parent,
      format: 'geojson',
    });
    this.areas.clearLayers();
    this.areas.addData(data);
    this.node.dataset.areas = String(data.features.length);
  }

  // Outlines one area (fetched among its siblings) and zooms to it.
  async outline(level, code, parent) {
    const data = await api.get(`/v1/coverage/runs/${this.run.id}/areas`, {
      level,
      parent,
      format: 'geojson',
    });
    this.highlight.clearLayers();
    const feature = data.features.find((f) => f.id === code);
    if (feature && feature.geometry) {
      this.highlight.addData(feature);
      this.map.fitBounds(this.highlight.getBounds().pad(0.2));
    }
  }
}
