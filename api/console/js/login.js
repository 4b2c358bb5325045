// The login page: a user account (not an API key) opens a session cookie.

import { api, ApiError } from './api.js';
import { $ } from './dom.js';
import { applyTranslations, loadLang, switchLang, t } from './i18n.js';

const base = new URL('..', import.meta.url).pathname.replace(/\/$/, '');

async function start() {
  await loadLang(base);
  applyTranslations();
  $('#lang-toggle').addEventListener('click', () => switchLang(base));
  $('#login-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const error = $('#login-error');
    error.textContent = '';
    $('#login-submit').disabled = true;
    try {
      await api.login($('#username').value.trim(), $('#password').value);
      window.location.assign('/console/');
    } catch (exc) {
      if (exc instanceof ApiError && exc.status === 401) error.textContent = t('login.invalid');
      else if (exc instanceof ApiError && exc.status === 429) error.textContent = t('login.locked');
      else error.textContent = exc.message;
    } finally {
      $('#login-submit').disabled = false;
    }
  });
}

start();
