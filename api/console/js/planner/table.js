// A sortable table of rows: columns name a key, a header and how to show the value.

import { el } from '../dom.js';
import { t } from '../i18n.js';

export class SortableTable {
  // columns: [{key, label, format?, className?(row)}]; onRow(row) when a row is clicked.
  constructor(columns, { onRow = null, sortKey = null, descending = false, id = null } = {}) {
    this.columns = columns;
    this.onRow = onRow;
    this.sortKey = sortKey;
    this.descending = descending;
    this.rows = [];
    this.node = el('table', { class: 'data', id });
  }

  setRows(rows) {
    this.rows = rows;
    this.render();
    return this.node;
  }

  sortBy(key) {
    if (this.sortKey === key) this.descending = !this.descending;
    else {
      this.sortKey = key;
      this.descending = false;
    }
    this.render();
  }

  sorted() {
    if (!this.sortKey) return this.rows;
    const key = this.sortKey;
    const sign = this.descending ? -1 : 1;
    return [...this.rows].sort((a, b) => {
      const x = a[key];
      const y = b[key];
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * sign;
    });
  }

  render() {
    while (this.node.firstChild) this.node.firstChild.remove();
    const head = el('tr');
    for (const column of this.columns) {
      const sorted = column.key === this.sortKey;
      head.append(
        el('th', {
          text: t(column.label),
          class: sorted ? `sorted${this.descending ? '' : ' asc'}` : null,
          dataset: { key: column.key },
          onclick: () => this.sortBy(column.key),
        }),
      );
    }
    const body = el('tbody');
    for (const row of this.sorted()) {
      const tr = el('tr', { dataset: { code: row.code ?? '' } });
      for (const column of this.columns) {
        const value = row[column.key];
        tr.append(
          el('td', {
            text: column.format ? column.format(value, row) : value ?? '–',
            class: column.className ? column.className(row) : null,
          }),
        );
      }
      if (this.onRow) tr.addEventListener('click', () => this.onRow(row));
      body.append(tr);
    }
    this.node.append(el('thead', {}, head), body);
  }
}
