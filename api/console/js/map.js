// The city map: boundaries that change with the zoom level (county -> township -> grid, each
// simplified for the zoom by the API), responders in view coloured by role and status, open
// incidents, the selected place and the lines to its nearest responders (their road routes when
// the road model priced them).

import { api } from './api.js';
import { el } from './dom.js';
import { localName, t } from './i18n.js';

const L = window.L;
const CITY_CENTRE = [24.513, 117.655];
const START_ZOOM = 12;
// Townships from this zoom on, grids from GRID_ZOOM on (fetched for the view only).
const TOWNSHIP_ZOOM = 11;
const GRID_ZOOM = 12;
const RESPONDER_ZOOM = 13;
const RESPONDER_REFRESH_MS = 5000;

export const ROLE_COLOURS = {
  grid_worker: '#1f77b4',
  community_police: '#17365d',
  party_cadre: '#c0392b',
  mediator: '#8e44ad',
  volunteer: '#27ae60',
  police_unit: '#d35400',
};

export function roleColour(role) {
  return ROLE_COLOURS[role] || '#7f8c8d';
}

const STYLES = {
  county: { color: '#34495e', weight: 2.5, fill: false },
  township: { color: '#5d6d7e', weight: 1.5, fill: false, dashArray: '6 4' },
  grid: { color: '#2e86c1', weight: 0.8, fillOpacity: 0.02, fillColor: '#2e86c1' },
};

export class CityMap {
  constructor(node, { tiles, onClick, onResponderClick, onIncidentClick }) {
    this.map = L.map(node, { preferCanvas: true, zoomControl: true }).setView(CITY_CENTRE, START_ZOOM);
    this.renderer = L.canvas({ padding: 0.3 });
    if (tiles) {
      L.tileLayer(tiles, { maxZoom: 19, attribution: 'Base map' }).addTo(this.map);
    }
    L.control.scale({ imperial: false }).addTo(this.map);
    this.layers = {};
    for (const level of ['county', 'township', 'grid']) {
      this.layers[level] = L.geoJSON(null, {
        style: STYLES[level],
        renderer: this.renderer,
        interactive: level === 'grid',
        bubblingMouseEvents: true,
      });
    }
    this.layers.county.addTo(this.map);
    this.highlight = L.geoJSON(null, {
      style: { color: '#e67e22', weight: 3, fillOpacity: 0.08, fillColor: '#e67e22' },
      interactive: false,
    }).addTo(this.map);
    this.lines = L.layerGroup().addTo(this.map);
    // Road routes are few and drawn as SVG (one <path class="road-route"> each) in a pane under
    // the canvas of outlines and markers, so markers stay on top and clickable; the straight
    // lines they replace are kept by responder id.
    this.map.createPane('routes').style.zIndex = '390';
    this.routeRenderer = L.svg({ pane: 'routes' });
    this.straightLines = new Map();
    this.responderLayer = L.layerGroup().addTo(this.map);
    this.incidentLayer = L.layerGroup().addTo(this.map);
    this.placeMarker = null;
    this.loaded = {};
    this.responders = new Map();
    this.roleFilter = null;
    this.focusIds = null;
    this.incidentFilter = null;
    this.onResponderClick = onResponderClick;
    this.onIncidentClick = onIncidentClick;
    this.generation = 0;
    this.boundariesDrawn = null;
    this.map.on('click', (event) => onClick(event.latlng.lng, event.latlng.lat));
    this.map.on('moveend', () => this.refresh());
    this.timer = setInterval(() => this.loadResponders(), RESPONDER_REFRESH_MS);
  }

  bboxParam(pad = 0.25) {
    const b = this.map.getBounds().pad(pad);
    const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
    return [
      clamp(b.getWest(), -180, 180).toFixed(5),
      clamp(b.getSouth(), -90, 90).toFixed(5),
      clamp(b.getEast(), -180, 180).toFixed(5),
      clamp(b.getNorth(), -90, 90).toFixed(5),
    ].join(',');
  }

  async refresh() {
    const zoom = this.map.getZoom();
    const jobs = [this.loadLevel('county', Math.min(zoom, 12), null)];
    if (zoom >= TOWNSHIP_ZOOM) jobs.push(this.loadLevel('township', Math.min(zoom, 14), null));
    else this.map.removeLayer(this.layers.township);
    if (zoom >= GRID_ZOOM) jobs.push(this.loadLevel('grid', Math.min(zoom, 16), this.bboxParam()));
    else this.map.removeLayer(this.layers.grid);
    this.loadResponders();
    const hint = document.getElementById('map-hint');
    if (hint) hint.textContent = zoom < RESPONDER_ZOOM ? t('map.zoomForResponders') : '';
    await Promise.all(jobs);
    this.boundariesDrawn = performance.now();
    document.body.dataset.mapReady = String(zoom >= GRID_ZOOM ? 'grid' : 'county');
  }

  async loadLevel(level, zoom, bbox) {
    const key = `${zoom}|${bbox || ''}`;
    const layer = this.layers[level];
    if (!this.map.hasLayer(layer)) layer.addTo(this.map);
    if (this.loaded[level] === key) return;
    this.loaded[level] = key;
    const data = await api.get('/v1/areas/outlines', { level, zoom, bbox });
    if (this.loaded[level] !== key) return; // a newer view asked meanwhile
    layer.clearLayers();
    layer.addData(data);
    if (level === 'grid') {
      layer.eachLayer((shape) => {
        const p = shape.feature.properties;
        shape.bindTooltip(el('span', { text: `${p.name} ${p.code}` }), { sticky: true });
      });
    }
    layer.bringToBack();
  }

  // The drawn outline of a grid, when the grid layer holds it (saves fetching its geometry).
  gridFeature(code) {
    if (!this.map.hasLayer(this.layers.grid)) return null;
    let found = null;
    this.layers.grid.eachLayer((shape) => {
      if (shape.feature.properties.code === code) found = shape.feature;
    });
    return found;
  }

  setRoleFilter(role) {
    this.roleFilter = role || null;
    this.loadResponders();
  }

  // Clicking an incident narrows the map to it: only its responders stand out.
  setFocus(ids, incidentId) {
    this.focusIds = ids ? new Set(ids) : null;
    this.incidentFilter = incidentId ?? null;
    this.drawResponders();
    this.drawIncidents(this.lastIncidents || []);
  }

  async loadResponders() {
    if (this.map.getZoom() < RESPONDER_ZOOM) {
      this.responders.clear();
      this.drawResponders();
      return;
    }
    const bbox = this.bboxParam(0.1);
    const data = await api.get('/v1/responders/in-view', {
      bbox,
      roles: this.roleFilter,
      limit: 3000,
    });
    this.responders = new Map(data.responders.map((r) => [r.id, r]));
    this.truncated = data.truncated;
    this.drawResponders();
  }

  updateResponderStatus(id, status) {
    const known = this.responders.get(id);
    if (known) {
      known.status = status;
      this.drawResponders();
    }
  }

  drawResponders() {
    this.responderLayer.clearLayers();
    for (const r of this.responders.values()) {
      const focused = this.focusIds && this.focusIds.has(r.id);
      if (this.focusIds && !focused && r.status !== 'available') continue;
      const live = r.position.source === 'live';
      const busy = r.status === 'busy';
      const off = r.status === 'off_duty';
      const marker = L.circleMarker([r.position.lat, r.position.lon], {
        renderer: this.renderer,
        radius: focused ? 9 : live ? 6 : 5,
        color: busy ? '#c0392b' : off ? '#95a5a6' : '#ffffff',
        weight: busy || focused ? 3 : 1.5,
        dashArray: live ? null : '3 2',
        fillColor: roleColour(r.role),
        fillOpacity: off ? 0.25 : this.focusIds && !focused ? 0.35 : 0.9,
      });
      marker.bindTooltip(
        el(
          'span',
          {},
          el('b', { text: r.name }),
          ` ${t(`role.${r.role}`)} · ${t(`status.${r.status}`)} · ${t(`source.${r.position.source}`)}`,
        ),
      );
      marker.on('click', (event) => {
        L.DomEvent.stopPropagation(event);
        this.onResponderClick(r);
      });
      marker.addTo(this.responderLayer);
    }
  }

  drawIncidents(incidents) {
    this.lastIncidents = incidents;
    this.incidentLayer.clearLayers();
    for (const incident of incidents) {
      if (this.incidentFilter !== null && incident.id !== this.incidentFilter) continue;
      const marker = L.circleMarker([incident.lat, incident.lon], {
        radius: 10,
        color: '#7b241c',
        weight: 2,
        fillColor: incident.status === 'open' ? '#e74c3c' : '#f5b041',
        fillOpacity: 0.85,
      });
      marker.bindTooltip(
        el('span', {}, el('b', { text: `#${incident.id}` }), ` ${localName(incident.category)}`),
      );
      marker.on('click', (event) => {
        L.DomEvent.stopPropagation(event);
        this.onIncidentClick(incident.id);
      });
      marker.addTo(this.incidentLayer);
    }
  }

  showPlace(lon, lat, { pan = false } = {}) {
    if (this.placeMarker) this.placeMarker.remove();
    this.placeMarker = L.circleMarker([lat, lon], {
      radius: 7,
      color: '#000',
      weight: 2,
      fillColor: '#f1c40f',
      fillOpacity: 1,
      interactive: false,
    }).addTo(this.map);
    if (pan) this.map.setView([lat, lon], Math.max(this.map.getZoom(), 14));
  }

  showGrid(feature) {
    this.highlight.clearLayers();
    if (feature) this.highlight.addData(feature);
  }

  fitBbox(bbox) {
    const [w, s, e, n] = bbox;
    this.map.fitBounds([
      [s, w],
      [n, e],
    ]);
  }

  showNearest(origin, results) {
    this.lines.clearLayers();
    this.straightLines.clear();
    delete document.body.dataset.routesDrawn;
    for (const r of results) {
      const line = L.polyline(
        [
          [origin.lat, origin.lon],
          [r.position.lat, r.position.lon],
        ],
        { color: roleColour(r.role), weight: 2, opacity: 0.8, dashArray: r.within_target ? null : '6 6', interactive: false },
      ).addTo(this.lines);
      this.straightLines.set(r.responder_id, line);
      L.circleMarker([r.position.lat, r.position.lon], {
        radius: 8,
        color: r.status === 'busy' ? '#c0392b' : '#000',
        weight: 2,
        dashArray: r.position.source === 'live' ? null : '3 2',
        fillColor: roleColour(r.role),
        fillOpacity: 0.95,
      })
        .bindTooltip(el('span', { text: `${r.name} · ${t(`role.${r.role}`)}` }))
        .on('click', (event) => {
          L.DomEvent.stopPropagation(event);
          this.onResponderClick({ id: r.responder_id, name: r.name, role: r.role, status: r.status });
        })
        .addTo(this.lines);
    }
    document.body.dataset.nearestDrawn = String(results.length);
  }

  // GeoJSON LineStrings from /v1/routes: a road path replaces its straight line (solid, wider);
  // a straight_line feature leaves the straight line. Returns how many road routes were drawn.
  showRoutes(features) {
    let drawn = 0;
    for (const feature of features) {
      const p = feature.properties;
      if (p.path !== 'road') continue;
      const straight = this.straightLines.get(p.responder_id);
      if (straight) this.lines.removeLayer(straight);
      const latlngs = feature.geometry.coordinates.map(([lon, lat]) => [lat, lon]);
      L.polyline(latlngs, {
        pane: 'routes',
        renderer: this.routeRenderer,
        className: 'road-route',
        color: roleColour(p.role),
        weight: 4,
        opacity: 0.85,
        interactive: false,
      }).addTo(this.lines);
      drawn += 1;
    }
    return drawn;
  }
}
