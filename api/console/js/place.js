// A place on the map: its grid, the grid's hierarchy and "2+N" team, and the nearest available
// responders with ETA, distance, within_target and live/home (also drawn on the map). When the
// road model priced the answer, each responder's road route comes from /v1/routes and is drawn
// instead of the straight line, and the table says which model priced each ETA.

import { api, ApiError } from './api.js';
import { clear, el, formatDistance, formatDuration } from './dom.js';
import { t } from './i18n.js';

const TEAM_NAMES = 4;

export class PlacePanel {
  constructor(node, { map, canDispatch, onDispatch, log }) {
    this.node = node;
    this.map = map;
    this.canDispatch = canDispatch;
    this.onDispatch = onDispatch;
    this.log = log;
    this.place = null;
    this.roles = null;
    this.preferTeam = false;
    this.incident = null;
    this.seq = 0;
  }

  // Which incident, if any, the dispatch buttons act for.
  setIncident(incident) {
    this.incident = incident;
  }

  async show(lon, lat, crs = 'wgs84', options = {}) {
    this.place = { lon, lat, crs };
    if (options.roles !== undefined) this.roles = options.roles;
    if (options.preferTeam !== undefined) this.preferTeam = options.preferTeam;
    return this.reload(options);
  }

  async reload({ pan = false } = {}) {
    if (!this.place) return;
    const seq = ++this.seq;
    const { lon, lat, crs } = this.place;
    const started = performance.now();
    try {
      const nearestCall = api.get('/v1/responders/nearest', {
        lon,
        lat,
        crs,
        n: 5,
        roles: this.roles,
        prefer: this.preferTeam ? 'team' : 'nearest',
      });
      // WGS84 points are located at once; others wait for nearest's WGS84 answer.
      const locateCall = (point) =>
        api
          .get('/v1/locate', point)
          .then(async (located) => [
            located,
            this.map.gridFeature(located.grid.code) ||
              (await api.get(`/v1/areas/${encodeURIComponent(located.grid.code)}`)),
          ])
          .catch((exc) => {
            if (exc instanceof ApiError && exc.status === 404) return [null, null];
            throw exc;
          });
      const early = crs === 'wgs84' ? locateCall({ lon, lat }) : null;
      if (early) early.catch(() => {}); // awaited below; never an unhandled rejection meanwhile
      const nearest = await nearestCall;
      const origin = { lon: nearest.query.lon, lat: nearest.query.lat };
      const [located, grid] = await (early || locateCall(origin));
      if (seq !== this.seq) return;
      this.map.showPlace(origin.lon, origin.lat, { pan });
      this.map.showGrid(grid);
      this.map.showNearest(origin, nearest.results);
      this.render(origin, located, nearest);
      document.body.dataset.placeMs = String(performance.now() - started);
      if (byRoad(nearest)) await this.loadRoutes(seq, origin, nearest);
    } catch (exc) {
      if (seq !== this.seq) return;
      clear(this.node).append(el('p', { class: 'error', role: 'alert', text: exc.message }));
    }
    document.body.dataset.placeSeq = String(Number(document.body.dataset.placeSeq || 0) + 1);
  }

  // The road routes of the responders the road model priced (the straight lines stay for the
  // others). A failure leaves the straight lines and says so in the panel.
  async loadRoutes(seq, origin, nearest) {
    const ids = nearest.results.filter((r) => r.priced_by === nearest.query.eta_model.name);
    if (!ids.length) {
      document.body.dataset.routesDrawn = '0';
      return;
    }
    try {
      const routes = await api.get('/v1/routes', {
        lon: origin.lon,
        lat: origin.lat,
        responder_ids: ids.map((r) => r.responder_id).join(','),
      });
      if (seq !== this.seq) return;
      for (const feature of routes.features) {
        const p = feature.properties;
        const cell = this.node.querySelector(`tr[data-responder="${p.responder_id}"] td.priced-road`);
        if (cell && p.path === 'road') cell.textContent = t('route.byRoad', { length: formatDistance(p.length_m) });
      }
      document.body.dataset.routesDrawn = String(this.map.showRoutes(routes.features));
    } catch (exc) {
      if (seq !== this.seq) return;
      this.node.append(el('p', { class: 'error', role: 'alert', text: exc.message }));
    }
  }

  // The "2+N" team by duty: the few named duties by name, a big duty (volunteers) as a count
  // with its available members.
  teamList(team) {
    const list = el('ul', { id: 'place-team', class: 'team' });
    if (!team.length) {
      list.append(el('li', { class: 'muted', text: t('place.noTeam') }));
      return list;
    }
    const byDuty = new Map();
    for (const member of team) {
      if (!byDuty.has(member.duty)) byDuty.set(member.duty, []);
      byDuty.get(member.duty).push(member);
    }
    for (const [duty, members] of byDuty) {
      const available = members.filter((m) => m.status === 'available').length;
      const item = el(
        'li',
        { dataset: { duty } },
        el('b', { text: t(`role.${duty}`) }),
        el('span', { class: 'muted', text: ` ${available}/${members.length} ${t('status.available')}: ` }),
      );
      const shown = members.slice(0, TEAM_NAMES);
      shown.forEach((m, i) => {
        item.append(el('span', { class: `status-${m.status}`, title: t(`status.${m.status}`), text: m.name }));
        if (i < shown.length - 1) item.append('、');
      });
      if (members.length > shown.length) item.append(` +${members.length - shown.length}`);
      list.append(item);
    }
    return list;
  }

  render(origin, located, nearest) {
    clear(this.node);
    this.node.append(
      el('h2', { text: t('place.title') }),
      el('p', { class: 'muted', text: `${origin.lon.toFixed(6)}, ${origin.lat.toFixed(6)} (WGS84)` }),
    );
    if (!located) {
      this.node.append(el('p', { class: 'warning', id: 'place-grid', text: t('place.outside') }));
    } else {
      const path = located.hierarchy.map((a) => a.name).join(' › ');
      this.node.append(
        el(
          'p',
          { id: 'place-grid', class: 'grid-name' },
          el('b', { text: located.grid.name }),
          ` ${located.grid.code}`,
        ),
        el('p', { class: 'muted hierarchy', text: path }),
        el('h3', { text: t('place.team') }),
        this.teamList(located.team),
      );
    }
    this.node.append(el('h3', { text: t('place.nearest') }));
    const table = el('table', { id: 'nearest', class: 'nearest' });
    const road = byRoad(nearest);
    const columns = ['nearest.name', 'nearest.role', 'nearest.eta', 'nearest.distance', 'nearest.target', 'nearest.source'];
    if (road) columns.push('nearest.pricedBy');
    columns.push('');
    table.append(el('tr', {}, columns.map((key) => el('th', { text: key ? t(key) : '' }))));
    if (!nearest.results.length) {
      table.append(el('tr', {}, el('td', { colspan: columns.length, class: 'muted', text: t('nearest.none') })));
    }
    for (const r of nearest.results) {
      const action =
        this.canDispatch && this.incident && this.incident.status !== 'closed'
          ? el('button', {
              type: 'button',
              class: 'small',
              text: t('action.dispatch'),
              onclick: () => this.onDispatch(r.responder_id),
            })
          : null;
      table.append(
        el(
          'tr',
          { dataset: { responder: r.responder_id }, class: r.team ? 'team-member' : '' },
          el('td', { text: r.name }),
          el('td', { text: t(`role.${r.role}`) }),
          el('td', { text: formatDuration(r.eta_s) }),
          el('td', { text: formatDistance(r.distance_m) }),
          el('td', { class: r.within_target ? 'ok' : 'late', text: r.within_target ? '✓' : '✗' }),
          el('td', { text: t(`source.${r.position.source}`) }),
          road ? pricedByCell(r, nearest.query.eta_model.name) : null,
          el('td', {}, action),
        ),
      );
    }
    this.node.append(table);
  }
}

// The road model in force: its parameters name the network it routes on.
function byRoad(nearest) {
  const model = nearest.query.eta_model;
  return Boolean(model && model.network_id !== undefined && model.network_id !== null);
}

function pricedByCell(result, roadModel) {
  const road = result.priced_by === roadModel;
  return el('td', {
    class: road ? 'priced-road' : 'priced-straight',
    title: result.priced_by,
    dataset: { pricedBy: result.priced_by },
    text: t(road ? 'pricedBy.road' : 'pricedBy.straight'),
  });
}
