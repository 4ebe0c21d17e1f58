/// <reference lib="dom" />
import { $, api, ApiError, h, signIn, wireLogout } from './common.js';

/**
 * The photo station: pick the station, fill the piece, take or pick one photo per view, and see a large verdict.
 * Everything but the piece id is remembered in localStorage, since consecutive pieces usually share the tree.
 */

interface Inspection {
  id: string;
  pieceId: string;
  status: 'queued' | 'processing' | 'done' | 'failed';
  verdict: 'pass' | 'review' | 'fail' | 'retake' | null;
  reasons: string[];
  failureReason: string | null;
}

const PAGE = JSON.parse($('#page-data').textContent ?? '{}') as { requiredViews: Record<string, string[]>; metals: string[] };
const STORE_KEY = 'loupe.station.v1';
const REMEMBERED = ['stationId', 'profile', 'sku', 'metal', 'expectedStones', 'tree', 'flask', 'caster', 'castDate', 'mmPerPx'];
const POLL_MS = 700;
const POLL_LIMIT_MS = 120_000;

const form = $<HTMLFormElement>('#upload');
const field = (name: string) => form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement;
const views = $('#views');
const error = $('#upload-error');

function remember(): void {
  const saved: Record<string, string> = {};
  for (const n of REMEMBERED) saved[n] = field(n).value;
  localStorage.setItem(STORE_KEY, JSON.stringify(saved));
}

function restore(): void {
  try {
    const saved = JSON.parse(localStorage.getItem(STORE_KEY) ?? '{}') as Record<string, string>;
    for (const n of REMEMBERED) if (typeof saved[n] === 'string' && !(field(n) as HTMLInputElement).readOnly) field(n).value = saved[n];
  } catch {
    localStorage.removeItem(STORE_KEY);
  }
}

/** One file input per view the profile requires (camera capture on a tablet), plus any extra views the operator adds. */
function renderViews(): void {
  // A profile that requires no view (the demo's) still needs one photo field to upload into.
  const required = PAGE.requiredViews[field('profile').value] ?? [];
  const names = required.length ? required : ['top'];
  views.replaceChildren(h('legend', {}, 'Photos'), ...names.map((v) => viewRow(v)), h('button', { type: 'button', class: 'quiet', onclick: () => addExtraView() }, 'Add another view'));
}

function viewRow(name: string, editable = false): HTMLElement {
  const preview = h('img', { alt: '', hidden: true });
  const file = h('input', { type: 'file', name: `photo-${name}`, accept: 'image/jpeg,image/png,image/tiff,image/webp', capture: 'environment', 'data-view': name, 'aria-label': `${name} photo` });
  file.addEventListener('change', () => {
    const f = file.files?.[0];
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.hidden = !f || f.type === 'image/tiff';
    if (f && f.type !== 'image/tiff') preview.src = URL.createObjectURL(f);
  });
  const label = editable
    ? h('input', { class: 'view-name', value: name, pattern: '[a-z][a-z0-9_-]{0,31}', 'aria-label': 'view name', required: true })
    : h('strong', { class: 'view-name', 'data-view': name }, name);
  if (editable) label.addEventListener('input', () => (file.dataset.view = (label as HTMLInputElement).value));
  return h('div', { class: 'view-row' }, label, file, preview);
}

function addExtraView(): void {
  const row = viewRow(`view${views.querySelectorAll('.view-row').length + 1}`, true);
  views.insertBefore(row, views.lastElementChild);
}

function metadata(): Record<string, unknown> {
  const v = (n: string) => field(n).value.trim();
  const files = [...views.querySelectorAll<HTMLInputElement>('input[type=file]')].filter((f) => f.files && f.files.length > 0);
  const mm = Number(v('mmPerPx'));
  const casting = v('tree')
    ? { tree: v('tree'), ...(v('flask') ? { flask: v('flask') } : {}), ...(v('caster') ? { caster: v('caster') } : {}), ...(v('castDate') ? { castDate: v('castDate') } : {}) }
    : undefined;
  return {
    pieceId: v('pieceId'),
    profile: v('profile'),
    ...(v('sku') ? { sku: v('sku') } : {}),
    metal: v('metal'),
    stationId: v('stationId'),
    ...(casting ? { casting } : {}),
    ...(v('expectedStones') ? { expectedStones: Number(v('expectedStones')) } : {}),
    views: files.map((f) => ({ view: f.dataset.view!, ...(mm > 0 ? { mmPerPx: mm } : {}) })),
  };
}

function showVerdict(text: string, cls: string, piece: string, reasons: string[]): void {
  const v = $('#verdict');
  v.textContent = text;
  v.className = `verdict ${cls}`;
  $('#verdict-piece').textContent = piece;
  $('#reasons').replaceChildren(...reasons.map((r) => h('li', {}, r)));
}

async function poll(id: string, pieceId: string): Promise<void> {
  const started = Date.now();
  for (;;) {
    const i = await api<Inspection>(`/v1/inspections/${id}`);
    if (i.status === 'done' && i.verdict) {
      showVerdict(i.verdict.toUpperCase(), `v-${i.verdict}`, `Piece ${pieceId}`, i.verdict === 'pass' ? ['No defect beyond tolerance.'] : i.reasons);
      $('#result').dataset.verdict = i.verdict;
      return;
    }
    if (i.status === 'failed') {
      showVerdict('ERROR', 'v-fail', `Piece ${pieceId}`, [i.failureReason ?? 'the inspection failed; upload again']);
      $('#result').dataset.verdict = 'error';
      return;
    }
    showVerdict(i.status === 'queued' ? 'QUEUED…' : 'CHECKING…', '', `Piece ${pieceId}`, []);
    if (Date.now() - started > POLL_LIMIT_MS) {
      showVerdict('NO ANSWER', 'v-review', `Piece ${pieceId}`, ['No verdict yet; the inspection is still queued. Check the review queue later.']);
      return;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** randomUUID needs a secure context; a station tablet on the workshop LAN may be on plain http. */
function idempotencyKey(): string {
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

async function submit(ev: SubmitEvent): Promise<void> {
  ev.preventDefault();
  error.textContent = '';
  const meta = metadata();
  const files = [...views.querySelectorAll<HTMLInputElement>('input[type=file]')].filter((f) => f.files && f.files.length > 0);
  if (files.length === 0) {
    error.textContent = 'Take or choose at least one photo.';
    return;
  }
  remember();
  const body = new FormData();
  body.append('metadata', JSON.stringify(meta));
  for (const f of files) body.append('photo', f.files![0]!, f.files![0]!.name);
  const button = $<HTMLButtonElement>('#submit');
  button.disabled = true;
  try {
    const accepted = await api<{ id: string }>('/v1/inspections', { method: 'POST', body, headers: { 'idempotency-key': idempotencyKey() } });
    form.hidden = true;
    $('#result').hidden = false;
    $('#result').dataset.verdict = '';
    $('#result').dataset.inspection = accepted.id;
    await poll(accepted.id, String(meta.pieceId));
    $('#next-piece').focus();
  } catch (err) {
    error.textContent = err instanceof ApiError ? err.message : String(err);
  } finally {
    button.disabled = false;
  }
}

function nextPiece(): void {
  $('#result').hidden = true;
  form.hidden = false;
  field('pieceId').value = '';
  renderViews();
  field('pieceId').focus();
}

async function main(): Promise<void> {
  const who = await signIn(['station']);
  $('#who').textContent = who.actor;
  wireLogout();
  restore();
  const station = field('stationId') as HTMLInputElement;
  if (who.stationId) {
    // A station-bound key may only upload for its station.
    station.value = who.stationId;
    station.readOnly = true;
  }
  renderViews();
  field('profile').addEventListener('change', renderViews);
  form.addEventListener('submit', (ev) => void submit(ev));
  $('#next-piece').addEventListener('click', nextPiece);
  field('pieceId').focus();
  document.body.dataset.ready = 'true';
}

void main();
