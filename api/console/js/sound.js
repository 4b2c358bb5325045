// A short two-tone chime for a new call, synthesised (no audio file); mutable, with a volume.

const KEY = 'gridgis.sound';

export class Chime {
  constructor() {
    const saved = JSON.parse(localStorage.getItem(KEY) || '{}');
    this.muted = Boolean(saved.muted);
    this.volume = typeof saved.volume === 'number' ? saved.volume : 0.6;
    this.context = null;
  }

  save() {
    localStorage.setItem(KEY, JSON.stringify({ muted: this.muted, volume: this.volume }));
  }

  toggle() {
    this.muted = !this.muted;
    this.save();
    return this.muted;
  }

  setVolume(volume) {
    this.volume = Math.min(1, Math.max(0, Number(volume)));
    this.save();
  }

  play() {
    if (this.muted || this.volume <= 0 || !window.AudioContext) return;
    this.context = this.context || new AudioContext();
    // Browsers start audio only after a user gesture; until then the chime stays silent.
    if (this.context.state === 'suspended') {
      this.context.resume().catch(() => {});
    }
    const now = this.context.currentTime;
    [880, 660].forEach((frequency, i) => {
      const oscillator = this.context.createOscillator();
      const gain = this.context.createGain();
      oscillator.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, now + i * 0.18);
      gain.gain.exponentialRampToValueAtTime(this.volume * 0.4 + 0.0001, now + i * 0.18 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.18 + 0.16);
      oscillator.connect(gain).connect(this.context.destination);
      oscillator.start(now + i * 0.18);
      oscillator.stop(now + i * 0.18 + 0.17);
    });
    document.body.dataset.chimes = String(Number(document.body.dataset.chimes || 0) + 1);
  }
}
