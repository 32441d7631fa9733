// @ts-check
/**
 * Getting the feed and keeping it: the admin session, the EventSource on `/admin/events`, and
 * starting over when either is lost.
 *
 * 1. `GET /admin/session` says whether the proxy needs an admin key and whether this browser
 *    has a session (the HttpOnly cookie). If it needs one and there is none, the sign-in form is
 *    shown. The key typed there is sent once as `Authorization: Bearer` to `POST /admin/session`,
 *    which sets the cookie, and is then forgotten: the page writes it to no storage and keeps it
 *    in no variable, so a script running in the page (an extension, an XSS) finds no admin
 *    credential to take away, only a cookie it cannot read. When the session ends (expired,
 *    signed out, the proxy restarted and forgot it) the page asks for the key again
 *    (test/browser/dashboard.test.ts checks both storages after sign-in).
 * 2. `new EventSource('/admin/events')` (same origin: the cookie goes along). The browser
 *    reconnects by itself after a drop, sending `Last-Event-ID`; the feed replays what it missed.
 * 3. When the EventSource gives up (the proxy answered 401 after a restart forgot the session,
 *    or 503), the page goes back to step 1 with a backoff (0.5 s doubling to 5 s) and opens a new
 *    EventSource with `?lastEventId=` so nothing still in the feed's buffer is missed.
 */
import { onEvent } from './dispatch.js';
import { $ } from './dom.js';
import { FEED_EVENT_NAMES } from './feed-events.js';
import { setStatus } from './header.js';
import { S } from './state.js';

/** @type {EventSource | null} */
var es = null;
/** @type {ReturnType<typeof setTimeout> | null} */
var retryTimer = null;
var backoff = 500, hadSession = false;

/** Step 1: ask for the session, then open the feed or show the sign-in form. */
export function connect() {
  if (retryTimer) clearTimeout(retryTimer);
  retryTimer = null;
  fetch('/admin/session', { credentials: 'same-origin', cache: 'no-store' })
    .then(function (r) { if (!r.ok) throw new Error('session ' + r.status); return r.json(); })
    .then(/** @param {{ authRequired: boolean, authenticated: boolean }} s */ function (s) {
      $('sign-out').hidden = !s.authRequired;
      if (!s.authRequired || s.authenticated) {
        if (s.authRequired) hadSession = true;
        return open();
      }
      showLogin(hadSession ? 'The session has ended (it expired, or the proxy restarted): sign in again.' : '');
      hadSession = false;
    })
    .catch(function () { setStatus('offline'); retryLater(); });
}

// The key lives only in this call's argument and the request built from it; nothing below
// refers to it, so it is gone once the request is sent.
/**
 * @param {string} key
 * @returns {Promise<void>}
 */
export function signIn(key) {
  return fetch('/admin/session', { method: 'POST', credentials: 'same-origin', cache: 'no-store', headers: { authorization: 'Bearer ' + key } })
    .then(function (r) {
      if (r.ok) {
        hadSession = true;
        $('login').hidden = true;
        $('main').hidden = false;
        $('sign-out').hidden = false;
        return open();
      }
      if (r.status === 401 || r.status === 403) {
        return r.json().then(
          /** @param {{ error?: { message?: string } } | null} b */
          function (b) { showLogin(b && b.error && b.error.message ? b.error.message : 'Sign-in failed.'); },
          function () { showLogin('Sign-in failed.'); });
      }
      throw new Error('sign-in ' + r.status);
    });
}

/** End the session (the "sign out" button), then start over from step 1. */
export function signOut() {
  hadSession = false;
  fetch('/admin/session', { method: 'DELETE', credentials: 'same-origin' }).then(connect, connect);
}

/** @param {string} message */
export function showLogin(message) {
  if (es) { es.close(); es = null; }
  setStatus('login');
  $('login').hidden = false;
  $('main').hidden = true;
  $('login-error').textContent = message || '';
  $('login-key').focus();
}

/** Step 2. Events from an EventSource this page has since replaced are ignored. */
function open() {
  if (es) es.close();
  var url = '/admin/events' + (S.lastEventId ? '?lastEventId=' + encodeURIComponent(S.lastEventId) : '');
  var mine = new EventSource(url);
  es = mine;
  if (S.status !== 'live') setStatus(S.opens > 0 ? 'reconnecting' : 'connecting');
  mine.onopen = function () {
    if (es !== mine) return;
    backoff = 500;
    S.opens++;
    setStatus('live');
  };
  mine.onerror = function () {
    if (es !== mine) return;
    if (mine.readyState === EventSource.CLOSED) {
      // The proxy refused the stream (401 after a restart, 503): start over from the session.
      mine.close();
      es = null;
      setStatus('offline');
      retryLater();
    } else {
      setStatus('reconnecting');
    }
  };
  FEED_EVENT_NAMES.forEach(function (n) {
    mine.addEventListener(n, function (e) { if (es === mine) onEvent(n, e); });
  });
}

/** Step 3. */
function retryLater() {
  if (retryTimer) return;
  retryTimer = setTimeout(connect, backoff);
  backoff = Math.min(backoff * 2, 5000);
}
