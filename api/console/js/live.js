// The live channel: server-sent events from /v1/stream (PostgreSQL LISTEN/NOTIFY behind it).
// EventSource reconnects by itself; the state (live / connecting / offline) is always shown,
// and every `ready` means "re-read what you show": changes while away are not replayed.

const RETRY_MS = 3000;

export class LiveChannel {
  constructor({ onState, onReady, onIncident, onResponder }) {
    this.handlers = { onState, onReady, onIncident, onResponder };
    this.source = null;
    this.state = 'connecting';
  }

  setState(state) {
    this.state = state;
    this.handlers.onState(state);
  }

  connect() {
    this.setState('connecting');
    const source = new EventSource('/v1/stream');
    this.source = source;
    source.addEventListener('ready', () => {
      this.setState('live');
      this.handlers.onReady();
    });
    source.addEventListener('offline', () => this.setState('offline'));
    source.addEventListener('incident', (event) => this.handlers.onIncident(JSON.parse(event.data)));
    source.addEventListener('responder', (event) => this.handlers.onResponder(JSON.parse(event.data)));
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        // Refused for good (e.g. the session ended): try again from scratch a little later.
        this.setState('offline');
        setTimeout(() => {
          if (this.source === source) this.connect();
        }, RETRY_MS);
      } else {
        this.setState('connecting');
      }
    };
  }

  close() {
    if (this.source) this.source.close();
    this.source = null;
  }
}
