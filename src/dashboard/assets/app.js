// Strand's dashboard: a small single-page app over the server's own /v1 API (same origin),
// with no build step and no dependencies. Routes:
//   /dashboard/                              server, basins
//   /dashboard/basins/<basin>                its streams
//   /dashboard/basins/<basin>/streams/<s>    tail, recent records, append, live follow

const root = document.getElementById('root');
let follow = null; // the live SSE read of the stream page, if any

const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const c of children.flat()) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
};

const link = (href, text) => el('a', { href, 'data-nav': '' }, text);

// With --auth the server wants a token: the one pasted into the header bar, kept in this
// browser only.
const tokenKey = 'strand-dashboard-token';
const authHeaders = () => {
  const t = localStorage.getItem(tokenKey);
  return t ? { authorization: `Bearer ${t}` } : {};
};

async function api(method, path, { basin, body, headers = {} } = {}) {
  const h = { ...authHeaders(), ...headers };
  if (basin) h['s2-basin'] = basin;
  if (body !== undefined) h['content-type'] = 'application/json';
  const resp = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await resp.text();
  const data = text ? JSON.parse(text) : null;
  if (!resp.ok) throw new Error(data?.message ? `${data.code}: ${data.message}` : `HTTP ${resp.status}`);
  return data;
}

const enc = encodeURIComponent;
const when = (ms) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');

function errorBox(e) {
  return el('p', { class: 'error' }, String(e.message || e));
}

async function showServer() {
  const span = document.getElementById('server');
  try {
    const info = await (await fetch('/dashboard/config.json')).json();
    const store = info.store.kind === 'memory' ? 'in memory' : info.store.kind === 'local' ? `local ${info.store.root}` : `s3 ${info.store.bucket}`;
    span.textContent = `v${info.version} · ${store} · ${info.shards} shards · port ${info.port}${info.tls === 'none' ? '' : ' · TLS'}`;
    return info;
  } catch (e) {
    span.textContent = 'server info unavailable';
    return null;
  }
}

async function basinsPage() {
  const card = el('div', { class: 'card' });
  const list = el('tbody');
  const status = el('div');
  const refresh = async () => {
    status.replaceChildren();
    try {
      const { basins } = await api('GET', '/v1/basins');
      list.replaceChildren(...basins.map((b) => el('tr', { 'data-basin': b.name },
        el('td', {}, link(`/dashboard/basins/${enc(b.name)}`, b.name)),
        el('td', {}, b.state),
        el('td', {}, el('button', { class: 'danger', onclick: async () => {
          if (!confirm(`Delete basin ${b.name}?`)) return;
          try { await api('DELETE', `/v1/basins/${enc(b.name)}`); } catch (e) { status.append(errorBox(e)); }
          refresh();
        } }, 'Delete')))));
      if (!basins.length) list.append(el('tr', {}, el('td', { colspan: 3, class: 'muted' }, 'No basins yet.')));
    } catch (e) { status.append(errorBox(e)); }
  };
  const name = el('input', { placeholder: 'new-basin-name', required: '', minlength: 8, maxlength: 48 });
  const form = el('form', { onsubmit: async (ev) => {
    ev.preventDefault();
    try { await api('POST', '/v1/basins', { body: { basin: name.value } }); name.value = ''; } catch (e) { status.append(errorBox(e)); }
    refresh();
  } }, name, el('button', { type: 'submit' }, 'Create basin'));
  card.append(el('h1', {}, 'Basins'), form, status,
    el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'Name'), el('th', {}, 'State'), el('th', {}, ''))), list));
  root.replaceChildren(card);
  await refresh();
}

async function streamsPage(basin) {
  const card = el('div', { class: 'card' });
  const list = el('tbody');
  const status = el('div');
  const config = el('pre', { class: 'mono muted' });
  const usage = el('div', {}, el('p', { class: 'muted' }, 'Loading…'));
  const refresh = async () => {
    status.replaceChildren();
    // A token without the basin-metrics operation still sees the rest of the page.
    const shown = usageOf(basin).then((u) => usage.replaceChildren(usageList(u)),
      () => usage.replaceChildren(el('p', { class: 'muted' }, 'Usage unavailable.')));
    try {
      const { streams } = await api('GET', '/v1/streams', { basin });
      list.replaceChildren(...streams.map((s) => el('tr', { 'data-stream': s.name },
        el('td', {}, link(`/dashboard/basins/${enc(basin)}/streams/${enc(s.name)}`, s.name)),
        el('td', {}, when(Date.parse(s.created_at))),
        el('td', {}, s.deleted_at ? 'deleting' : ''),
        el('td', {}, el('button', { class: 'danger', onclick: async () => {
          if (!confirm(`Delete stream ${s.name}?`)) return;
          try { await api('DELETE', `/v1/streams/${enc(s.name)}`, { basin }); } catch (e) { status.append(errorBox(e)); }
          refresh();
        } }, 'Delete')))));
      if (!streams.length) list.append(el('tr', {}, el('td', { colspan: 4, class: 'muted' }, 'No streams yet.')));
      config.textContent = JSON.stringify(await api('GET', `/v1/basins/${enc(basin)}`), null, 2);
    } catch (e) { status.append(errorBox(e)); }
    await shown;
  };
  const name = el('input', { placeholder: 'stream name', required: '' });
  const form = el('form', { onsubmit: async (ev) => {
    ev.preventDefault();
    try { await api('POST', '/v1/streams', { basin, body: { stream: name.value } }); name.value = ''; } catch (e) { status.append(errorBox(e)); }
    refresh();
  } }, name, el('button', { type: 'submit' }, 'Create stream'));
  card.append(el('div', { class: 'crumbs' }, link('/dashboard/', 'Basins'), ' / ', basin),
    el('h1', {}, basin), form, status,
    el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'Stream'), el('th', {}, 'Created'), el('th', {}, ''), el('th', {}, ''))), list),
    el('h2', {}, 'Usage, last hour'), usage,
    el('h2', {}, 'Configuration'), config);
  root.replaceChildren(card);
  await refresh();
}

// The basin's usage over the last hour (`/v1/metrics`): sums of its accumulations, and the
// latest stored bytes.
async function usageOf(basin) {
  const end = Math.floor(Date.now() / 1000) + 1;
  const range = `start=${end - 3600}&end=${end}`;
  const set = (name) => api('GET', `/v1/metrics/${enc(basin)}?set=${name}&${range}`);
  const sum = (m) => m.values.reduce((t, v) => t + (v.accumulation?.values || []).reduce((s, [, x]) => s + x, 0), 0);
  const [appended, read, appends, reads, storage] = await Promise.all(
    ['append-throughput', 'read-throughput', 'append-ops', 'read-ops', 'storage'].map(set));
  const points = storage.values[0]?.gauge?.values || [];
  return {
    appended: sum(appended), read: sum(read), appends: sum(appends), reads: sum(reads),
    stored: points.length ? points[points.length - 1][1] : 0,
  };
}

function usageList(u) {
  const row = (id, label, value) => [el('dt', {}, label), el('dd', { id }, value)];
  return el('dl', { class: 'usage' },
    row('usage-appended', 'Appended bytes', u.appended), row('usage-append-ops', 'Append ops', u.appends),
    row('usage-read', 'Read bytes', u.read), row('usage-read-ops', 'Read ops', u.reads),
    row('usage-stored', 'Stored bytes', u.stored));
}

function recordRow(r) {
  const headers = (r.headers || []).map(([k, v]) => `${k || '(command)'}: ${v}`).join('\n');
  return el('tr', {}, el('td', { class: 'mono' }, r.seq_num), el('td', { class: 'mono' }, when(r.timestamp)),
    el('td', { class: 'mono' }, headers), el('td', { class: 'mono' }, r.body));
}

async function streamPage(basin, stream) {
  const card = el('div', { class: 'card' });
  const tail = el('dl');
  const rows = el('tbody');
  const status = el('div');
  const path = `/v1/streams/${enc(stream)}`;
  const refresh = async () => {
    status.replaceChildren();
    try {
      const t = await api('GET', `${path}/records/tail`, { basin });
      tail.replaceChildren(el('dt', {}, 'Next seq_num'), el('dd', { id: 'tail-seq' }, t.tail.seq_num),
        el('dt', {}, 'Last timestamp'), el('dd', {}, t.tail.timestamp ? when(t.tail.timestamp) : '—'));
      if (t.tail.seq_num > 0) {
        const batch = await api('GET', `${path}/records?tail_offset=20&count=20`, { basin });
        rows.replaceChildren(...batch.records.map(recordRow));
      } else {
        rows.replaceChildren(el('tr', {}, el('td', { colspan: 4, class: 'muted' }, 'No records yet.')));
      }
    } catch (e) { status.append(errorBox(e)); }
  };
  const body = el('textarea', { placeholder: 'record body (UTF-8)' });
  const append = el('form', { onsubmit: async (ev) => {
    ev.preventDefault();
    try { await api('POST', `${path}/records`, { basin, body: { records: [{ body: body.value }] } }); body.value = ''; } catch (e) { status.append(errorBox(e)); }
    if (!follow) refresh();
  } }, body, el('button', { type: 'submit' }, 'Append'));
  const followButton = el('button', { class: 'secondary', onclick: () => (follow ? stopFollow() : startFollow()) }, 'Follow live');
  const stopFollow = () => { follow?.abort(); follow = null; followButton.textContent = 'Follow live'; };
  const startFollow = async () => {
    follow = new AbortController();
    followButton.textContent = 'Stop following';
    try {
      const resp = await fetch(`${path}/records?tail_offset=0`, { headers: { ...authHeaders(), 's2-basin': basin, accept: 'text/event-stream' }, signal: follow.signal });
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const event = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const kind = /^event: (.*)$/m.exec(event)?.[1];
          const data = /^data: (.*)$/m.exec(event)?.[1];
          if (kind === 'batch' && data) {
            const batch = JSON.parse(data);
            if (rows.querySelector('td[colspan]')) rows.replaceChildren();
            for (const r of batch.records) rows.append(recordRow(r));
            if (batch.tail) document.getElementById('tail-seq').textContent = batch.tail.seq_num;
          } else if (kind === 'error' && data) {
            status.append(errorBox(new Error(data)));
          }
        }
      }
    } catch (e) {
      if (e.name !== 'AbortError') status.append(errorBox(e));
    }
    stopFollow();
  };
  card.append(el('div', { class: 'crumbs' }, link('/dashboard/', 'Basins'), ' / ', link(`/dashboard/basins/${enc(basin)}`, basin), ' / ', stream),
    el('h1', {}, stream), tail, status, el('h2', {}, 'Append'), append,
    el('h2', {}, 'Recent records ', followButton),
    el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'seq'), el('th', {}, 'timestamp'), el('th', {}, 'headers'), el('th', {}, 'body'))), rows));
  root.replaceChildren(card);
  await refresh();
}

async function route() {
  if (follow) { follow.abort(); follow = null; }
  const parts = location.pathname.replace(/^\/dashboard\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  try {
    if (parts[0] === 'basins' && parts.length === 2) await streamsPage(parts[1]);
    else if (parts[0] === 'basins' && parts[2] === 'streams' && parts.length >= 4) await streamPage(parts[1], parts.slice(3).join('/'));
    else await basinsPage();
    document.body.dataset.ready = 'true';
  } catch (e) {
    root.replaceChildren(errorBox(e));
  }
}

document.addEventListener('click', (ev) => {
  const a = ev.target.closest('a[data-nav]');
  if (!a || ev.metaKey || ev.ctrlKey) return;
  ev.preventDefault();
  history.pushState(null, '', a.getAttribute('href'));
  route();
});
window.addEventListener('popstate', route);

function tokenField() {
  const input = el('input', { type: 'password', placeholder: 'access token (with --auth)', value: localStorage.getItem(tokenKey) || '' });
  const form = el('form', { class: 'token', onsubmit: (ev) => {
    ev.preventDefault();
    if (input.value) localStorage.setItem(tokenKey, input.value); else localStorage.removeItem(tokenKey);
    route();
  } }, input, el('button', { type: 'submit', class: 'secondary' }, 'Use token'));
  document.querySelector('header').append(form);
}

tokenField();
showServer();
route();
