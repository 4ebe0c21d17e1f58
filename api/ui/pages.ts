/** The HTML shells of the inspector and station pages; the scripts in `client/` fill them. */

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function shell(title: string, script: string, body: string, data?: unknown): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · Loupe</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui/ui.css">
<script type="module" src="/ui/${script}"></script>
</head>
<body>
${data === undefined ? '' : `<script type="application/json" id="page-data">${JSON.stringify(data).replace(/</g, '\\u003c')}</script>\n`}${body}
</body>
</html>
`;
}

function loginSection(what: string): string {
  return `<section id="login" class="login" hidden>
  <h1>Loupe · ${esc(what)}</h1>
  <form id="login-form" autocomplete="off">
    <label for="login-key">${esc(what)} key</label>
    <input id="login-key" name="key" type="password" required autofocus spellcheck="false">
    <button type="submit">Sign in</button>
    <p id="login-error" class="error" role="alert"></p>
  </form>
  <p class="hint">The key is exchanged once for a session cookie; the page never stores it.</p>
</section>`;
}

export function reviewPage(data: { kinds: Record<string, readonly string[]> }): string {
  return shell(
    'Review queue',
    'review.js',
    `${loginSection('Inspector')}
<div id="app" class="review" hidden>
<header class="bar">
  <strong>Loupe · Review</strong>
  <span id="who" class="who"></span>
  <button id="logout" type="button" class="quiet">Sign out</button>
</header>
<aside id="queue-pane" aria-label="Review queue">
  <form id="filters" class="filters">
    <label>Station <select name="station"><option value="">all</option></select></label>
    <label>SKU <select name="sku"><option value="">all</option></select></label>
    <label>Profile <select name="profile"><option value="">all</option></select></label>
    <label>Tree <select name="tree"><option value="">all</option></select></label>
    <label>Family <select name="family"><option value="">all</option><option value="porosity">porosity</option><option value="stone_spacing">stone spacing</option><option value="polish">polish</option></select></label>
    <label>Show <select name="state"><option value="pending">pending</option><option value="decided">decided</option><option value="all">all</option></select></label>
  </form>
  <ol id="queue" class="queue"></ol>
  <p id="queue-empty" class="hint" hidden>Nothing flagged with these filters.</p>
</aside>
<main id="piece" class="piece" tabindex="-1" aria-live="polite">
  <p class="hint" id="piece-empty">Pick a piece from the queue (or press <kbd>n</kbd>).</p>
</main>
<aside id="help" class="help" aria-label="Keyboard shortcuts">
  <h2>Shortcuts</h2>
  <dl>
    <dt><kbd>n</kbd> / <kbd>p</kbd></dt><dd>next / previous piece</dd>
    <dt><kbd>j</kbd> / <kbd>k</kbd></dt><dd>next / previous finding</dd>
    <dt><kbd>c</kbd></dt><dd>confirm finding</dd>
    <dt><kbd>r</kbd></dt><dd>reject finding</dd>
    <dt><kbd>o</kbd></dt><dd>toggle overlay</dd>
    <dt><kbd>+</kbd> / <kbd>-</kbd></dt><dd>zoom in / out</dd>
    <dt><kbd>0</kbd></dt><dd>fit photo</dd>
    <dt><kbd>z</kbd></dt><dd>zoom to finding, 1:1 pixels</dd>
    <dt>arrows</dt><dd>pan (in box mode: move box; <kbd>Shift</kbd>: resize)</dd>
    <dt><kbd>v</kbd></dt><dd>next photo</dd>
    <dt><kbd>b</kbd></dt><dd>draw a box for a missed defect (drag, or arrows + <kbd>Enter</kbd>)</dd>
    <dt><kbd>1</kbd>–<kbd>5</kbd></dt><dd>disposition: accept, polish, re-set, recast, scrap</dd>
    <dt><kbd>d</kbd></dt><dd>go to disposition note</dd>
    <dt><kbd>Esc</kbd></dt><dd>cancel box / leave a field</dd>
    <dt><kbd>?</kbd></dt><dd>show / hide this list</dd>
  </dl>
</aside>
</div>`,
    data,
  );
}

export function stationPage(data: { requiredViews: Record<string, string[]>; metals: readonly string[] }): string {
  const profiles = Object.keys(data.requiredViews);
  const opt = (v: string) => `<option value="${esc(v)}">${esc(v)}</option>`;
  return shell(
    'Station',
    'station.js',
    `${loginSection('Station')}
<div id="app" class="station" hidden>
<header class="bar">
  <strong>Loupe · Station</strong>
  <span id="who" class="who"></span>
  <button id="logout" type="button" class="quiet">Sign out</button>
</header>
<main>
<form id="upload" class="upload" autocomplete="off">
  <fieldset>
    <legend>Piece</legend>
    <label>Station <input name="stationId" required pattern="[A-Za-z0-9][A-Za-z0-9._:\\-]*"></label>
    <label>Piece id <input name="pieceId" required pattern="[A-Za-z0-9][A-Za-z0-9._:\\-]*" autofocus></label>
    <label>Profile <select name="profile" required>${profiles.map(opt).join('')}</select></label>
    <label>SKU <input name="sku" pattern="[A-Za-z0-9][A-Za-z0-9._:\\-]*"></label>
    <label>Metal <select name="metal" required>${data.metals.map(opt).join('')}</select></label>
    <label>Stones expected <input name="expectedStones" type="number" min="0" max="1000" inputmode="numeric"></label>
  </fieldset>
  <fieldset>
    <legend>Casting <small>(remembered for the next piece)</small></legend>
    <label>Tree <input name="tree" pattern="[A-Za-z0-9][A-Za-z0-9._:\\-]*"></label>
    <label>Flask <input name="flask" pattern="[A-Za-z0-9][A-Za-z0-9._:\\-]*"></label>
    <label>Caster <input name="caster"></label>
    <label>Cast date <input name="castDate" type="date"></label>
    <label>mm per pixel <input name="mmPerPx" type="number" step="any" min="0" max="1" placeholder="station calibration"></label>
  </fieldset>
  <fieldset id="views">
    <legend>Photos</legend>
  </fieldset>
  <button id="submit" type="submit" class="big">Inspect</button>
  <p id="upload-error" class="error" role="alert"></p>
</form>
<section id="result" class="result" aria-live="assertive" hidden>
  <div id="verdict" class="verdict">…</div>
  <p id="verdict-piece" class="verdict-piece"></p>
  <ul id="reasons" class="reasons"></ul>
  <button id="next-piece" type="button" class="big">Next piece</button>
</section>
</main>
</div>`,
    data,
  );
}
