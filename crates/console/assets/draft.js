// verdict console: redraws an order draft's blast-radius preview as the
// draft changes. The server draws the panel (so every string in it is
// escaped where the rest of the page is); this only asks for it, at most
// one request at a time, and never lets an older answer replace a newer.
'use strict';

(function () {
  const form = document.querySelector('form[data-preview]');
  if (!form) return;
  const url = form.getAttribute('data-preview');
  const quiet = 250; // ms of no typing before the preview is redrawn
  let timer = null;
  let inflight = null;
  let sent = 0; // drafts sent so far; the latest one wins

  const panel = () => document.getElementById('preview-panel');

  function say(text) {
    const p = document.createElement('p');
    p.className = 'error';
    p.setAttribute('role', 'alert');
    p.textContent = text;
    const current = panel();
    current.replaceChildren(current.querySelector('h2') || '', p);
  }

  async function redraw() {
    const mine = ++sent;
    if (inflight) inflight.abort();
    const controller = new AbortController();
    inflight = controller;
    panel().setAttribute('aria-busy', 'true');
    try {
      const response = await fetch(url, {
        method: 'POST',
        body: new URLSearchParams(new FormData(form)),
        credentials: 'same-origin',
        redirect: 'manual',
        signal: controller.signal,
      });
      const text = await response.text();
      if (mine !== sent) return; // a newer draft is on its way
      const fresh = new DOMParser().parseFromString(text, 'text/html').getElementById('preview-panel');
      if (fresh) {
        panel().replaceWith(document.adoptNode(fresh));
      } else if (response.type === 'opaqueredirect' || response.status === 401) {
        say('Your session has ended: sign in again (in another tab keeps this draft), then change a field.');
      } else {
        say('The preview could not be drawn (HTTP ' + response.status + '); change a field to try again.');
      }
    } catch (e) {
      if (e.name !== 'AbortError' && mine === sent) say('The server could not be reached; change a field to try again.');
    } finally {
      if (mine === sent) {
        inflight = null;
        const current = panel();
        current.removeAttribute('aria-busy');
        current.setAttribute('data-drawn', String(mine));
      }
    }
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(redraw, quiet);
  }

  form.addEventListener('input', soon);
  form.addEventListener('change', soon);
  form.setAttribute('data-live', 'on');
  // A draft arriving with services already chosen (an amendment, or a page
  // drawn after a refusal) gets its preview without waiting for a change.
  if (!panel().querySelector('[data-preview-hash]') && form.querySelector('input[name="service"]:checked')) redraw();
})();
