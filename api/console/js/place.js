// A place on the map: its grid, the grid's hierarchy and "2+N" team, and the nearest available
// responders with ETA, distance, within_target and live/home (also drawn on the map).

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
    } catch (exc) {
      if (seq !== this.seq) return;
      clear(this.node).append(el('p', { class: 'error', role: 'alert', text: exc.message }));
    }
    document.body.dataset.placeSeq = String(Number(document.body.dataset.placeSeq || 0) + 1);
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
    table.append(
      el(
        'tr',
        {},
        ['nearest.name', 'nearest.role', 'nearest.eta', 'nearest.distance', 'nearest.target', 'nearest.source', ''].map(
          (key) => el('th', { text: key ? t(key) : '' }),
        ),
      ),
    );
    if (!nearest.results.length) {
      table.append(el('tr', {}, el('td', { colspan: 7, class: 'muted', text: t('nearest.none') })));
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
          el('td', {}, action),
        ),
      );
    }
    this.node.append(table);
  }
}
