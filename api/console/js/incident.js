// One incident: its recommendation, its timeline and the actions that move it along
// (dispatched -> arrived -> resolved / referred -> closed). The API enforces the order and
// who can be dispatched; its 409 message is shown here, in place.

import { api } from './api.js';
import { clear, el, formatDistance, formatDuration } from './dom.js';
import { localName, t } from './i18n.js';

export class IncidentPanel {
  constructor(node, { canDispatch, onChanged, onClose }) {
    this.node = node;
    this.canDispatch = canDispatch;
    this.onChanged = onChanged;
    this.onClose = onClose;
    this.incident = null;
    this.picked = null;
  }

  async open(id) {
    const incident = await api.get(`/v1/incidents/${id}`);
    this.incident = incident;
    const recommended = incident.recommendation.responders || [];
    const held = this.heldResponders();
    if (!this.picked || this.picked.incident !== id) {
      const first = held[0] ?? recommended[0]?.responder_id ?? null;
      this.picked = { incident: id, responder: first };
    }
    this.render();
    this.node.hidden = false;
    return incident;
  }

  async reload() {
    if (this.incident) await this.open(this.incident.id);
  }

  close() {
    this.incident = null;
    this.picked = null;
    this.node.hidden = true;
    clear(this.node);
  }

  // Responders dispatched and not yet released by closing.
  heldResponders() {
    if (!this.incident) return [];
    const ids = [];
    for (const event of this.incident.timeline) {
      if (event.type === 'dispatched' && !ids.includes(event.responder_id)) ids.push(event.responder_id);
    }
    return ids;
  }

  pick(responderId) {
    if (!this.incident) return;
    this.picked = { incident: this.incident.id, responder: responderId };
    this.render();
  }

  async act(type, responderId = undefined) {
    if (!this.incident || !this.canDispatch) return;
    const error = this.node.querySelector('.action-error');
    if (error) error.textContent = '';
    const body = { type, at: new Date().toISOString() };
    if (type === 'dispatched' || type === 'arrived') {
      const chosen = responderId ?? this.picked?.responder;
      if (!chosen) {
        if (error) error.textContent = t('action.pickResponder');
        return;
      }
      body.responder_id = chosen;
    }
    const note = this.node.querySelector('#event-note');
    if (note && note.value.trim()) body.note = note.value.trim();
    try {
      this.incident = await api.post(`/v1/incidents/${this.incident.id}/events`, body);
      this.render();
      this.onChanged(this.incident, type, body.responder_id);
    } catch (exc) {
      const target = this.node.querySelector('.action-error');
      if (target) target.textContent = exc.status ? `${exc.status}: ${exc.message}` : exc.message;
    }
  }

  render() {
    const incident = this.incident;
    clear(this.node);
    if (!incident) return;
    const age = (Date.now() - Date.parse(incident.reported_at)) / 1000;
    this.node.append(
      el(
        'div',
        { class: 'panel-head' },
        el('h2', { text: `#${incident.id} ${localName(incident.category)}` }),
        el('button', { type: 'button', class: 'link', text: '×', title: t('action.unselect'), onclick: () => this.onClose() }),
      ),
      el(
        'p',
        { class: 'muted' },
        `${incident.grid ? `${incident.grid.name} ${incident.grid.code}` : t('place.outside')} · `,
        el('span', { id: 'incident-status', class: `badge status-${incident.status}`, text: t(`incident.${incident.status}`) }),
        ` · ${t('queue.age')} ${formatDuration(age)}`,
      ),
    );
    if (incident.description) {
      this.node.append(el('p', { class: 'description', text: incident.description }));
    }
    const held = new Set(this.heldResponders());
    const list = el('table', { id: 'recommendation', class: 'nearest' });
    list.append(
      el(
        'tr',
        {},
        ['nearest.name', 'nearest.role', 'nearest.eta', 'nearest.distance', 'nearest.target'].map((k) =>
          el('th', { text: t(k) }),
        ),
      ),
    );
    for (const r of incident.recommendation.responders || []) {
      const picked = this.picked?.responder === r.responder_id;
      list.append(
        el(
          'tr',
          {
            class: `${picked ? 'picked' : ''}${held.has(r.responder_id) ? ' held' : ''}`,
            dataset: { responder: r.responder_id },
            onclick: () => this.pick(r.responder_id),
          },
          el('td', { text: `${r.rank}. ${r.name}${r.team ? ' ★' : ''}` }),
          el('td', { text: t(`role.${r.role}`) }),
          el('td', { text: formatDuration(r.eta_s) }),
          el('td', { text: formatDistance(r.distance_m) }),
          el('td', { class: r.within_target ? 'ok' : 'late', text: r.within_target ? '✓' : '✗' }),
        ),
      );
    }
    this.node.append(el('h3', { text: t('incident.recommendation') }), list);
    if (this.canDispatch && incident.status !== 'closed') {
      const pickedName = this.pickedName();
      this.node.append(
        el('p', { class: 'picked-line' }, `${t('action.picked')}: `, el('b', { id: 'picked-name', text: pickedName || '—' })),
        el('input', { id: 'event-note', maxlength: 2000, placeholder: t('action.note') }),
        el(
          'div',
          { class: 'actions' },
          [
            ['dispatched', 'action.dispatch', 'D'],
            ['arrived', 'action.arrived', 'A'],
            ['resolved', 'action.resolved', 'R'],
            ['referred', 'action.referred', 'F'],
            ['closed', 'action.closed', 'C'],
          ].map(([type, key, shortcut]) =>
            el('button', {
              type: 'button',
              id: `act-${type}`,
              text: `${t(key)} (${shortcut})`,
              onclick: () => this.act(type),
            }),
          ),
        ),
        el('p', { class: 'error action-error', role: 'alert' }),
      );
    }
    const timeline = el('ol', { id: 'timeline', class: 'timeline' });
    timeline.append(el('li', { text: `${new Date(incident.reported_at).toLocaleTimeString()} ${t('incident.reported')}` }));
    for (const event of incident.timeline) {
      timeline.append(
        el(
          'li',
          { dataset: { type: event.type } },
          `${new Date(event.at).toLocaleTimeString()} ${t(`event.${event.type}`)}`,
          event.responder_id ? ` · ${this.nameOf(event.responder_id)}` : '',
          event.note ? ` · ${event.note}` : '',
        ),
      );
    }
    this.node.append(el('h3', { text: t('incident.timeline') }), timeline);
  }

  nameOf(id) {
    const found = (this.incident?.recommendation.responders || []).find((r) => r.responder_id === id);
    return found ? found.name : (this.names && this.names.get(id)) || `#${id}`;
  }

  pickedName() {
    const id = this.picked?.responder;
    return id ? this.nameOf(id) : '';
  }
}
