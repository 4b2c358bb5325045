// The message catalogues (i18n/zh-CN.json, i18n/en.json): Chinese by default, English on demand.

const STORAGE_KEY = 'gridgis.lang';
const LANGS = ['zh-CN', 'en'];
let messages = {};
let lang = 'zh-CN';

export function currentLang() {
  return lang;
}

export async function loadLang(base, wanted) {
  const stored = wanted || localStorage.getItem(STORAGE_KEY) || 'zh-CN';
  lang = LANGS.includes(stored) ? stored : 'zh-CN';
  const response = await fetch(`${base}/i18n/${lang}.json`, { credentials: 'same-origin' });
  messages = await response.json();
  document.documentElement.lang = lang;
  return lang;
}

export async function switchLang(base) {
  const next = lang === 'zh-CN' ? 'en' : 'zh-CN';
  localStorage.setItem(STORAGE_KEY, next);
  await loadLang(base, next);
  applyTranslations();
}

// t('queue.age', {n: 3}) -> the message with {n} filled in (keys shown as-is when missing).
export function t(key, vars = {}) {
  const text = messages[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

// A name that exists in both languages (roles, categories): name_zh or name_en.
export function localName(item) {
  if (!item) return '';
  return lang === 'en' ? item.name_en || item.name_zh || '' : item.name_zh || item.name_en || '';
}

export function applyTranslations(root = document) {
  root.querySelectorAll('[data-i18n]').forEach((node) => {
    node.textContent = t(node.dataset.i18n);
  });
  root.querySelectorAll('[data-i18n-placeholder]').forEach((node) => {
    node.setAttribute('placeholder', t(node.dataset.i18nPlaceholder));
  });
  root.querySelectorAll('[data-i18n-title]').forEach((node) => {
    node.setAttribute('title', t(node.dataset.i18nTitle));
  });
  document.title = t('app.title');
}
