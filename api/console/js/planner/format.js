// Numbers, colours and legends shared by the planner's views.

import { el } from '../dom.js';
import { t } from '../i18n.js';

export const CITY_PROMISE = 0.9348;

export function pct(value, digits = 1) {
  return value === null || value === undefined ? '–' : `${(value * 100).toFixed(digits)}%`;
}

export function signedPct(value) {
  if (value === null || value === undefined) return '–';
  const text = `${(value * 100).toFixed(2)} pp`;
  return value > 0 ? `+${text}` : text;
}

export function secs(value) {
  return value === null || value === undefined ? '–' : `${Math.round(value)} s`;
}

export function people(value) {
  return value === null || value === undefined ? '–' : Math.round(value).toLocaleString();
}

// ETA classes relative to the target: well inside, inside, late, very late, none.
export function etaClasses(target) {
  return [
    { max: target / 2, colour: '#1a9850', key: 'eta.fast' },
    { max: target, colour: '#91cf60', key: 'eta.within' },
    { max: target * 1.5, colour: '#fee08b', key: 'eta.late' },
    { max: target * 2, colour: '#fc8d59', key: 'eta.later' },
    { max: Infinity, colour: '#d73027', key: 'eta.far' },
  ];
}

export function etaColour(eta, target) {
  if (eta === null || eta === undefined) return '#999999';
  return etaClasses(target).find((c) => eta <= c.max).colour;
}

export const SHARE_CLASSES = [
  { min: CITY_PROMISE, colour: '#1a9850', label: '≥ 93.48%' },
  { min: 0.9, colour: '#a6d96a', label: '90–93.48%' },
  { min: 0.8, colour: '#fee08b', label: '80–90%' },
  { min: 0.6, colour: '#fc8d59', label: '60–80%' },
  { min: -Infinity, colour: '#d73027', label: '< 60%' },
];

export function shareColour(share) {
  if (share === null || share === undefined) return '#999999';
  return SHARE_CLASSES.find((c) => share >= c.min).colour;
}

export function diffColour(diff) {
  if (diff === null || diff === undefined) return '#999999';
  if (diff > 0.05) return '#1a9850';
  if (diff > 0.01) return '#66bd63';
  if (diff > 0.0001) return '#d9ef8b';
  if (diff < -0.0001) return '#d73027';
  return '#e0e0e0';
}

// A legend entry: a colour chip (set through the CSSOM, which the CSP allows) and its words.
export function legendRow(colour, text) {
  const chip = el('i');
  chip.style.backgroundColor = colour;
  return el('span', {}, chip, text);
}

export function etaLegend(node, target) {
  node.append(el('b', { text: t('legend.eta') }));
  let low = 0;
  for (const c of etaClasses(target)) {
    const high = c.max === Infinity ? '' : Math.round(c.max);
    node.append(legendRow(c.colour, `${t(c.key)} ${Math.round(low)}–${high} s`));
    low = c.max;
  }
  node.append(legendRow('#999999', t('eta.none')));
}

export function shareLegend(node) {
  node.append(el('b', { text: t('legend.share') }));
  for (const c of SHARE_CLASSES) node.append(legendRow(c.colour, c.label));
}
