// verdict: checks, in this browser, that a log entry is in the log. It
// fetches the entry's receipt (the entry, its RFC 6962 inclusion proof and
// the signed checkpoint) and the log's key, then: hashes the entry as a
// leaf, climbs the proof to a root, compares it with the checkpoint's, and
// checks the checkpoint's Ed25519 signature (C2SP signed note) with
// WebCrypto where the browser supports Ed25519, saying so where it does not.
'use strict';

// On a tenant's records page it also recomputes each private record's
// commitment, SHA-256(salt || record), and compares it with the one the
// public entry carries.
(function () {
  const utf8 = new TextEncoder();

  async function checkCommitment(article) {
    article.removeAttribute('data-committed');
    const result = article.querySelector('.check-result');
    try {
      const salt = new Uint8Array(article.getAttribute('data-salt').match(/../g).map((h) => parseInt(h, 16)));
      const entry = JSON.parse(article.querySelector('[data-part=entry]').textContent);
      const record = utf8.encode(article.querySelector('[data-part=record]').textContent);
      const joined = new Uint8Array(salt.length + record.length);
      joined.set(salt);
      joined.set(record, salt.length);
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', joined));
      const computed = 'sha256:' + Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
      const ok = computed === entry.commitment;
      article.setAttribute('data-committed', ok ? 'yes' : 'no');
      result.className = 'check-result ' + (ok ? 'ok' : 'error');
      result.textContent = ok
        ? 'The public entry commits to this record (' + computed.slice(0, 23) + '\u2026).'
        : 'The public entry commits to ' + entry.commitment + ', not to this record (' + computed + ').';
    } catch (e) {
      article.setAttribute('data-committed', 'no');
      result.className = 'check-result error';
      result.textContent = 'Not checked: ' + e.message;
    }
  }
  document.querySelectorAll('[data-commitment-check]').forEach((article) => {
    // Checked again on request (a test changes what is shown and asks).
    article.addEventListener('verdict:check', () => checkCommitment(article));
    checkCommitment(article);
  });

  const box = document.querySelector('[data-verify-index]');
  if (!box) return;
  const index = BigInt(box.getAttribute('data-verify-index'));
  const list = box.querySelector('ol.checks');
  const button = box.querySelector('button.verify');

  function b64(text) {
    const raw = atob(text.trim());
    const out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }
  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }
  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }
  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  }
  const leafHash = (entry) => sha256(concat(new Uint8Array([0]), entry));
  const nodeHash = (l, r) => sha256(concat(new Uint8Array([1]), l, r));
  function same(a, b) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }

  // RFC 9162 §2.1.3.2: the root an inclusion proof leads to.
  async function rootFrom(leaf, index, size, proof) {
    if (index >= size) throw new Error('index ' + index + ' is not below the tree size ' + size);
    let f = index;
    let s = size - 1n;
    let r = leaf;
    for (const p of proof) {
      if (s === 0n) throw new Error('the proof is longer than the tree is deep');
      if ((f & 1n) === 1n || f === s) {
        r = await nodeHash(p, r);
        while ((f & 1n) === 0n && f !== 0n) { f >>= 1n; s >>= 1n; }
      } else {
        r = await nodeHash(r, p);
      }
      f >>= 1n;
      s >>= 1n;
    }
    if (s !== 0n) throw new Error('the proof is shorter than the tree is deep');
    return r;
  }

  // c2sp.org/tlog-proof: header, "extra <b64>", "index N", proof lines, a
  // blank line, then the signed checkpoint note.
  function parseReceipt(text) {
    const blank = text.indexOf('\n\n');
    if (blank < 0) throw new Error('the receipt has no checkpoint');
    const head = text.slice(0, blank).split('\n');
    const note = text.slice(blank + 2);
    if (head.shift() !== 'c2sp.org/tlog-proof@v1') throw new Error('not a c2sp.org/tlog-proof@v1 receipt');
    let entry = null;
    if (head[0] && head[0].startsWith('extra ')) entry = b64(head.shift().slice(6));
    const indexLine = head.shift() || '';
    if (!indexLine.startsWith('index ')) throw new Error('the receipt names no index');
    return { entry, index: BigInt(indexLine.slice(6)), proof: head.map(b64), note };
  }

  // A signed note: the text up to the blank line, then "— <name> <b64(id||sig)>" lines.
  function parseNote(note) {
    const split = note.indexOf('\n\n');
    if (split < 0) throw new Error('the checkpoint is not a signed note');
    const text = note.slice(0, split + 1);
    const lines = text.split('\n');
    const signatures = note.slice(split + 2).split('\n').filter((l) => l.startsWith('\u2014 ')).map((l) => {
      const [, name, sig] = l.split(' ');
      return { name, blob: b64(sig) };
    });
    return { text, origin: lines[0], size: BigInt(lines[1]), root: b64(lines[2]), signatures };
  }

  function check(name, state, sentence) {
    const li = document.createElement('li');
    li.className = 'check check-' + state;
    li.setAttribute('data-check', name);
    li.setAttribute('data-state', state);
    li.textContent = sentence;
    list.append(li);
  }

  async function verifySignature(cp, vkey) {
    // <name>+<hex id>+<base64 key>: the key's base64 may itself hold '+'.
    const [name, id, ...rest] = vkey.trim().split('+');
    const key = rest.join('+');
    const raw = b64(key);
    if (raw[0] !== 1) return ['fail', 'the log key is not an Ed25519 key'];
    const publicKey = raw.slice(1);
    const expected = (await sha256(concat(utf8.encode(name + '\n'), new Uint8Array([1]), publicKey))).slice(0, 4);
    if (hex(expected) !== id) return ['fail', 'the log key\u2019s id does not match the key'];
    const signature = cp.signatures.find((s) => s.name === name && hex(s.blob.slice(0, 4)) === id);
    if (!signature) return ['fail', 'the checkpoint carries no signature by ' + name];
    let imported;
    try {
      imported = await crypto.subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
    } catch (e) {
      return ['unsupported', 'this browser cannot check Ed25519 signatures (WebCrypto has no Ed25519 here): the root above is the checkpoint\u2019s, but check its signature with verdict log verify-receipt'];
    }
    const ok = await crypto.subtle.verify({ name: 'Ed25519' }, imported, signature.blob.slice(4), utf8.encode(cp.text));
    return ok
      ? ['ok', 'The checkpoint is signed by ' + name + ' (key id ' + id + ')']
      : ['fail', 'the checkpoint\u2019s signature does not verify with the key ' + name];
  }

  async function run() {
    list.replaceChildren();
    box.removeAttribute('data-verified');
    box.setAttribute('aria-busy', 'true');
    let verdict = 'no';
    try {
      const [receiptText, vkey] = await Promise.all([
        fetch('/log/receipt/' + index).then((r) => { if (!r.ok) throw new Error('the receipt could not be fetched (HTTP ' + r.status + ')'); return r.text(); }),
        fetch('/log/key').then((r) => { if (!r.ok) throw new Error('the log key could not be fetched (HTTP ' + r.status + ')'); return r.text(); }),
      ]);
      const receipt = parseReceipt(receiptText);
      const cp = parseNote(receipt.note);
      const shown = box.getAttribute('data-entry-source');
      const pageBytes = shown ? utf8.encode(document.getElementById(shown).textContent) : null;
      if (receipt.index !== index || !receipt.entry) throw new Error('the receipt is for another entry');
      if (pageBytes && !same(pageBytes, receipt.entry)) {
        check('entry', 'fail', 'The entry on this page differs from the one the receipt proves');
        throw new Error('mismatch');
      }
      const leaf = await leafHash(receipt.entry);
      check('leaf', 'ok', 'Leaf hash of the entry: ' + hex(leaf));
      const root = await rootFrom(leaf, index, cp.size, receipt.proof);
      if (!same(root, cp.root)) {
        check('root', 'fail', 'The proof leads to ' + hex(root) + ', not to the checkpoint\u2019s root');
        throw new Error('mismatch');
      }
      check('root', 'ok', 'The ' + receipt.proof.length + '-hash proof leads to the root of the checkpoint of ' + cp.size + ' entries (' + cp.origin + ')');
      const [state, sentence] = await verifySignature(cp, vkey);
      check('signature', state, sentence);
      verdict = state === 'ok' ? 'yes' : state === 'unsupported' ? 'partly' : 'no';
    } catch (e) {
      if (e.message !== 'mismatch') check('error', 'fail', 'Not verified: ' + e.message);
    }
    box.setAttribute('data-verified', verdict);
    box.removeAttribute('aria-busy');
    const summary = box.querySelector('.verdict');
    summary.textContent = {
      yes: 'Verified in this browser: the entry is in the log the signed checkpoint commits to.',
      partly: 'Inclusion verified; the signature could not be checked in this browser.',
      no: 'Not verified.',
    }[verdict];
  }

  button.addEventListener('click', run);
  button.hidden = false;
  run();
})();
