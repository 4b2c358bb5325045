// The incident queue: everything not yet closed, oldest first, with a running timer coloured
// against the response target. Arrow keys move, Enter opens.

import { api } from './api.js';
import { clear, el, formatDuration } from './dom.js';
import { localName, t } from './i18n.js';

export class Queue {
  constructor(node, { targetS, onOpen, onNew }) {
    this.node = node;
    this.targetS = targetS;
    this.onOpen = onOpen;
    this.onNew = onNew;
    this.items = [];
    this.known = null;
    this.selected = null;
    this.loading = null;
    node.addEventListener('keydown', (event) => this.onKey(event));
    setInterval(() => this.tick(), 1000);
  }

  async load() {
    // One read at a time; a change arriving meanwhile asks for one more read after it.
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = (async () => {
      do {
        this.again = false;
        const data = await api.get('/v1/incidents/queue', { limit: 200 });
        this.apply(data);
      } while (this.again);
    })();
    try {
      await this.loading;
    } finally {
      this.loading = null;
    }
  }

  apply(data) {
    const fresh = [];
    if (this.known !== null) {
      for (const item of data.incidents) if (!this.known.has(item.id)) fresh.push(item.id);
    }
    this.known = new Set(data.incidents.map((i) => i.id));
    this.items = data.incidents;
    this.total = data.total;
    this.render(new Set(fresh));
    if (fresh.length) this.onNew(fresh);
  }

  render(fresh = new Set()) {
    clear(this.node);
    document.getElementById('queue-total').textContent = `(${this.total ?? 0})`;
    if (!this.items.length) {
      this.node.append(el('li', { class: 'muted empty', text: t('queue.empty') }));
    }
    for (const item of this.items) {
      const top = item.top;
      const li = el(
        'li',
        {
          class: `incident status-${item.status}${item.id === this.selected ? ' selected' : ''}${fresh.has(item.id) ? ' flash' : ''}`,
          dataset: { id: item.id, reported: item.reported_at },
          tabindex: -1,
          onclick: () => this.open(item.id),
        },
        el(
          'div',
          { class: 'row' },
          el('b', { class: 'category', text: localName(item.category) }),
          el('span', { class: 'timer', text: '' }),
        ),
        el(
          'div',
          { class: 'row muted' },
          el('span', { text: `#${item.id} · ${item.grid ? item.grid.name : t('place.outside')}` }),
          el('span', { class: 'status', text: t(`incident.${item.status}`) }),
        ),
        top
          ? el('div', {
              class: 'row recommendation',
              text: `→ ${top.name} (${t(`role.${top.role}`)}, ${formatDuration(top.eta_s)})`,
            })
          : null,
      );
      this.node.append(li);
    }
    this.tick();
  }

  tick() {
    const now = Date.now();
    for (const li of this.node.querySelectorAll('li.incident')) {
      const age = (now - Date.parse(li.dataset.reported)) / 1000;
      const timer = li.querySelector('.timer');
      timer.textContent = formatDuration(age);
      timer.className = `timer ${age >= this.targetS ? 'late' : age >= this.targetS * 0.8 ? 'warn' : 'ok'}`;
    }
  }

  select(id, { focus = true } = {}) {
    this.selected = id;
    for (const li of this.node.querySelectorAll('li.incident')) {
      const on = Number(li.dataset.id) === id;
      li.classList.toggle('selected', on);
      if (on && focus) li.scrollIntoView({ block: 'nearest' });
    }
  }

  open(id) {
    this.select(id);
    this.onOpen(id);
  }

  onKey(event) {
    if (!this.items.length) return;
    const index = this.items.findIndex((i) => i.id === this.selected);
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      const step = event.key === 'ArrowDown' ? 1 : -1;
      const next = Math.min(this.items.length - 1, Math.max(0, index < 0 ? 0 : index + step));
      this.select(this.items[next].id);
    } else if (event.key === 'Enter' && index >= 0) {
      event.preventDefault();
      this.open(this.items[index].id);
    }
  }
}
