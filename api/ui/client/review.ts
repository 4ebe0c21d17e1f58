/// <reference lib="dom" />
import { $, api, ApiError, fmt, h, signIn, wireLogout, type Who } from './common.js';

/** The inspector's review page: queue → piece → per-finding decisions, missed-defect boxes, disposition. */

type BBox = [number, number, number, number];
interface QueueItem {
  id: string;
  pieceId: string;
  sku: string;
  profile: string;
  stationId: string;
  tree: string | null;
  verdict: string;
  reasons: string[];
  createdAt: string;
  views: number;
  findings: Record<string, number>;
  disposition: string | null;
}
interface Queue {
  items: QueueItem[];
  facets: { stations: string[]; skus: string[]; profiles: string[]; trees: string[] };
}
interface Tolerance {
  measure: string;
  unit: string;
  review: number;
  fail: number;
}
interface Finding {
  id: string;
  viewN: number;
  family: string;
  kind: string;
  bbox: BBox | null;
  sizeMm: number | null;
  areaMm2: number | null;
  confidence: number | null;
  severity: number | null;
  measurements: Record<string, unknown>;
  tolerance: Tolerance | null;
  decision: 'confirmed' | 'rejected' | null;
}
/** A finding the model discounted (its score stayed below its gate): listed apart, never decided, only added. */
interface BelowGate {
  viewN: number;
  family: string;
  kind: string;
  bbox: BBox;
  sizeMm: number | null;
  areaMm2: number | null;
  confidence: number | null;
  score: number;
  gate: number;
}
interface Added {
  id: string;
  viewN: number;
  family: string;
  kind: string;
  bbox: BBox;
  sizeMm: number | null;
  note: string | null;
}
interface ViewInfo {
  n: number;
  view: string;
  verdict: string | null;
  width: number;
  height: number;
  mmPerPx: number | null;
  photoUrl: string;
  overlayUrl: string | null;
}
interface State {
  inspection: { id: string; pieceId: string; sku: string; profile: string; metal: string; stationId: string; tree: string | null; verdict: string | null; reasons: string[]; createdAt: string; models: Array<{ id: string; version: string }>; profileVersion: string | null };
  views: ViewInfo[];
  findings: Finding[];
  belowGate: BelowGate[];
  added: Added[];
  disposition: { disposition: string; rework: string | null; note: string | null } | null;
  next: string | null;
}
interface Viewer {
  info: ViewInfo;
  fig: HTMLElement;
  port: HTMLElement;
  stage: HTMLElement;
  overlay: HTMLImageElement | null;
  svg: SVGSVGElement;
  zoomLabel: HTMLElement;
  overlayBtn: HTMLButtonElement;
  s: number;
  tx: number;
  ty: number;
}

const PAGE = JSON.parse($('#page-data').textContent ?? '{}') as { kinds: Record<string, string[]> };
const SVGNS = 'http://www.w3.org/2000/svg';
const DISPOSITIONS = ['accept', 'rework:polish', 'rework:re-set', 'rework:recast', 'scrap'];
const MAX_ZOOM = 32;

let who: Who;
let queue: QueueItem[] = [];
let state: State | null = null;
let viewers: Viewer[] = [];
let selected = -1;
let currentView = 0;
let overlayOn = true;
let draft: { viewN: number; box: BBox } | null = null;
let drawing = false;

const piece = $('#piece');
const filters = $<HTMLFormElement>('#filters');

function flash(text: string, error = false): void {
  const line = document.getElementById('status-line');
  if (!line) return;
  line.textContent = text;
  line.className = error ? 'status-line error' : 'status-line';
}

async function call<T>(fn: () => Promise<T>): Promise<T | null> {
  try {
    return await fn();
  } catch (err) {
    flash(err instanceof ApiError ? err.message : String(err), true);
    return null;
  }
}

// ---------------------------------------------------------------- queue

function fillSelect(name: string, values: string[]): void {
  const sel = filters.elements.namedItem(name) as HTMLSelectElement;
  const keep = sel.value;
  sel.replaceChildren(h('option', { value: '' }, 'all'), ...values.map((v) => h('option', { value: v }, v)));
  sel.value = values.includes(keep) ? keep : '';
}

async function loadQueue(): Promise<void> {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(filters)) if (typeof v === 'string' && v !== '') params.set(k, v);
  const q = await call(() => api<Queue>(`/v1/review/queue?${params.toString()}`));
  if (!q) return;
  queue = q.items;
  fillSelect('station', q.facets.stations);
  fillSelect('sku', q.facets.skus);
  fillSelect('profile', q.facets.profiles);
  fillSelect('tree', q.facets.trees);
  const list = $('#queue');
  list.replaceChildren(
    ...queue.map((item) =>
      h(
        'li',
        {},
        h(
          'button',
          { type: 'button', 'data-id': item.id, 'aria-current': state?.inspection.id === item.id ? 'true' : 'false', onclick: () => void openPiece(item.id) },
          h('span', {}, h('span', { class: `badge v-${item.verdict}` }, item.verdict), ' ', h('strong', {}, item.pieceId), item.disposition ? ` · ${item.disposition}` : ''),
          h('span', { class: 'meta' }, `${item.stationId} · ${item.sku} · tree ${item.tree ?? '–'} · ${new Date(item.createdAt).toLocaleString()}`),
          h('span', { class: 'meta' }, Object.entries(item.findings).map(([f, n]) => `${f} ${n}`).join(' · ') || 'no findings'),
        ),
      ),
    ),
  );
  $('#queue-empty').hidden = queue.length > 0;
}

function queueIndex(): number {
  return state ? queue.findIndex((q) => q.id === state!.inspection.id) : -1;
}

async function nextPiece(step: 1 | -1): Promise<void> {
  const i = queueIndex();
  const target = i < 0 ? (step === 1 ? (state?.next ?? queue[0]?.id) : queue[queue.length - 1]?.id) : queue[i + step]?.id;
  if (target) await openPiece(target);
}

// ---------------------------------------------------------------- piece

async function openPiece(id: string): Promise<void> {
  const s = await call(() => api<State>(`/v1/inspections/${id}/review`));
  if (!s) return;
  state = s;
  selected = s.findings.length > 0 ? 0 : -1;
  currentView = s.findings[0]?.viewN ?? 0;
  draft = null;
  drawing = false;
  history.replaceState(null, '', `#${id}`);
  renderPiece();
  for (const b of document.querySelectorAll<HTMLButtonElement>('#queue button')) b.setAttribute('aria-current', String(b.dataset.id === id));
  piece.focus({ preventScroll: true });
}

function measurementText(f: Finding): string {
  const m = f.measurements;
  // A flag with nothing outlined: its box is where the score was read, not the defect's outline.
  if (m.unlocated === true) return `nothing outlined · score ${fmt(typeof m.score === 'number' ? m.score : null, 2)} ≥ ${fmt(typeof m.gate === 'number' ? m.gate : null, 2)} · read at the box's centre`;
  if (f.family === 'porosity') return `⌀ ${fmt(f.sizeMm)} mm · ${fmt(f.areaMm2, 4)} mm²`;
  if (f.family === 'stone_spacing') {
    if (typeof m.gapMm === 'number') return `gap ${fmt(m.gapMm)} mm · Δ ${fmt(typeof m.deviationMm === 'number' ? m.deviationMm : null)} mm`;
    return typeof m.message === 'string' ? m.message : f.kind;
  }
  if (f.kind === 'scratch' || f.kind === 'tool_mark') return `length ${fmt(f.sizeMm, 2)} mm`;
  return `area ${fmt(f.areaMm2, 3)} mm²`;
}

function measuredValue(f: Finding): number | null {
  if (!f.tolerance) return null;
  if (f.tolerance.measure === 'area') return f.areaMm2;
  if (f.tolerance.measure === 'deviation') return typeof f.measurements.deviationMm === 'number' ? Math.abs(f.measurements.deviationMm) : f.sizeMm;
  return f.sizeMm;
}

function belowGateMeasure(b: BelowGate): string {
  if (b.family === 'porosity') return `⌀ ${fmt(b.sizeMm)} mm · ${fmt(b.areaMm2, 4)} mm²`;
  if (b.family === 'stone_spacing') return `Δ ${fmt(b.sizeMm)} mm`;
  if (b.kind === 'scratch' || b.kind === 'tool_mark') return `length ${fmt(b.sizeMm, 2)} mm`;
  return `area ${fmt(b.areaMm2, 3)} mm²`;
}

/** The box an added finding gets for a below-gate one: inside the photo (a finding's box may overhang it by a pixel). */
function belowGateBox(b: BelowGate): BBox {
  const v = state?.views.find((x) => x.n === b.viewN);
  const [w, hh] = v ? [v.width, v.height] : [Infinity, Infinity];
  const r = (x: number) => Math.round(x * 10) / 10;
  return [r(Math.max(0, b.bbox[0])), r(Math.max(0, b.bbox[1])), r(Math.min(w, b.bbox[2])), r(Math.min(hh, b.bbox[3]))];
}

function belowGateAdded(b: BelowGate): boolean {
  const box = belowGateBox(b);
  return !!state?.added.some((a) => a.viewN === b.viewN && a.family === b.family && a.kind === b.kind && a.bbox.every((x, i) => Math.abs(x - box[i]!) < 0.05));
}

function toleranceCell(f: Finding): HTMLElement {
  const t = f.tolerance;
  if (!t) return h('td', {}, '–');
  const v = measuredValue(f);
  const cls = v === null ? '' : v >= t.fail ? 'over' : v >= t.review ? 'near' : '';
  return h('td', { class: cls }, `review ≥ ${fmt(t.review)} · fail ≥ ${fmt(t.fail)} ${t.unit}`);
}

function renderPiece(): void {
  if (!state) return;
  const s = state;
  const i = s.inspection;
  viewers = [];
  const head = h(
    'div',
    { class: 'piece-head' },
    h('h1', {}, `Piece ${i.pieceId}`),
    h('span', { class: `badge v-${i.verdict ?? 'review'}` }, i.verdict ?? '–'),
    h('span', { class: 'reasons-line' }, i.reasons.join(' · ')),
    h('span', { class: 'reasons-line' }, `${i.stationId} · ${i.sku} · ${i.metal} · tree ${i.tree ?? '–'} · models ${i.models.map((m) => `${m.id}@${m.version}`).join(', ') || '–'} · profile ${i.profileVersion ?? '–'}`),
  );
  const views = s.views.map((v) => buildViewer(v));
  const table = h(
    'table',
    { class: 'findings', id: 'findings' },
    h('thead', {}, h('tr', {}, h('th', {}, '#'), h('th', {}, 'photo'), h('th', {}, 'defect'), h('th', {}, 'measured'), h('th', {}, 'tolerance'), h('th', {}, 'conf.'), h('th', {}, 'decision'))),
    h(
      'tbody',
      {},
      ...s.findings.map((f, k) =>
        h(
          'tr',
          { 'data-id': f.id, 'data-decision': f.decision ?? '', class: [k === selected ? 'selected' : '', f.decision ?? ''].join(' ').trim(), onclick: () => select(k) },
          h('td', {}, String(k + 1)),
          h('td', {}, s.views.find((v) => v.n === f.viewN)?.view ?? String(f.viewN)),
          h('td', {}, `${f.family} · ${f.kind}`),
          h('td', {}, measurementText(f)),
          toleranceCell(f),
          h('td', {}, f.confidence === null ? '–' : fmt(f.confidence, 2)),
          h(
            'td',
            { class: 'decision' },
            h('button', { type: 'button', class: 'confirm', 'aria-pressed': String(f.decision === 'confirmed'), onclick: () => void decide(k, 'confirmed') }, 'Confirm'),
            ' ',
            h('button', { type: 'button', class: 'reject', 'aria-pressed': String(f.decision === 'rejected'), onclick: () => void decide(k, 'rejected') }, 'Reject'),
          ),
        ),
      ),
    ),
  );
  const below = h(
    'table',
    { class: 'findings below-gate', id: 'below-gate' },
    h('thead', {}, h('tr', {}, h('th', {}, 'photo'), h('th', {}, 'defect'), h('th', {}, 'measured'), h('th', {}, 'score < gate'), h('th', {}, 'conf.'), h('th', {}, ''))),
    h(
      'tbody',
      {},
      ...s.belowGate.map((b, k) => {
        const done = belowGateAdded(b);
        return h(
          'tr',
          { 'data-k': String(k), class: done ? 'added' : '', onclick: () => showBelowGate(k) },
          h('td', {}, s.views.find((v) => v.n === b.viewN)?.view ?? String(b.viewN)),
          h('td', {}, `${b.family} · ${b.kind}`),
          h('td', {}, belowGateMeasure(b)),
          h('td', {}, `${fmt(b.score, 2)} < ${fmt(b.gate, 2)}`),
          h('td', {}, b.confidence === null ? '–' : fmt(b.confidence, 2)),
          h(
            'td',
            { class: 'decision' },
            done
              ? 'added'
              : h('button', { type: 'button', class: 'add-below', onclick: (ev: Event) => { ev.stopPropagation(); void addBelowGate(k); } }, 'Add as missed'),
          ),
        );
      }),
    ),
  );
  const added = h(
    'ul',
    { class: 'added-list', id: 'added' },
    ...s.added.map((a) =>
      h(
        'li',
        { 'data-id': a.id },
        h('span', {}, `${s.views.find((v) => v.n === a.viewN)?.view ?? a.viewN}: ${a.family} · ${a.kind} [${a.bbox.map((x) => Math.round(x)).join(', ')}]${a.sizeMm ? ` · ${fmt(a.sizeMm)} mm` : ''}${a.note ? ` · ${a.note}` : ''}`),
        h('button', { type: 'button', class: 'quiet', onclick: () => void removeBox(a.id) }, 'Remove'),
      ),
    ),
  );
  const d = s.disposition;
  const current = d ? (d.disposition === 'rework' ? `rework:${d.rework}` : d.disposition) : '';
  const disp = h(
    'form',
    { class: 'disposition', id: 'disposition' },
    h(
      'fieldset',
      {},
      h('legend', { class: 'hint' }, 'Disposition'),
      ...DISPOSITIONS.map((v, k) =>
        h('label', {}, h('input', { type: 'radio', name: 'disposition', value: v, checked: v === current, required: true }), `${k + 1} · ${v.replace('rework:', 'rework: ')}`),
      ),
    ),
    h('label', { class: 'note' }, 'Note', h('input', { name: 'note', id: 'disposition-note', maxlength: 2000, value: d?.note ?? '' })),
    h('button', { type: 'submit' }, 'Record disposition'),
  );
  disp.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void submitDisposition();
  });
  piece.replaceChildren(
    head,
    h('p', { id: 'status-line', class: 'status-line', role: 'status' }),
    ...views,
    boxForm(),
    h('h2', { class: 'section' }, `Findings (${s.findings.length})`),
    s.findings.length ? table : h('p', { class: 'hint' }, 'The model found nothing to list; add a box (b) if it missed a defect.'),
    ...(s.belowGate.length
      ? [
          h('h2', { class: 'section' }, `Below the model's gate, not counted (${s.belowGate.length})`),
          h('p', { class: 'hint' }, 'Outlined, but the score of their kind stayed below its gate, so they did not decide the verdict and are not in the trend reports. Add a real one as a missed defect.'),
          below,
        ]
      : []),
    h('h2', { class: 'section' }, `Missed defects added (${s.added.length})`),
    added,
    disp,
  );
  requestAnimationFrame(() => {
    for (const v of viewers) fit(v);
    markCurrentView();
  });
}

// ---------------------------------------------------------------- photo viewer: overlay, zoom, pan, boxes

function buildViewer(info: ViewInfo): HTMLElement {
  const photo = h('img', { class: 'photo', src: info.photoUrl, alt: `${info.view} photo`, draggable: 'false' });
  const overlay = info.overlayUrl ? h('img', { class: 'overlay', src: info.overlayUrl, alt: `${info.view} overlay`, draggable: 'false' }) : null;
  const svg = document.createElementNS(SVGNS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${info.width} ${info.height}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  const stage = h('div', { class: 'stage' }, photo, overlay, svg);
  stage.style.width = `${info.width}px`;
  stage.style.height = `${info.height}px`;
  const port = h('div', { class: 'viewport', tabindex: '0', 'aria-label': `${info.view} photo, ${info.width}×${info.height} px` }, stage);
  const zoomLabel = h('span', { class: 'zoom' }, '');
  const v: Viewer = { info, fig: null as unknown as HTMLElement, port, stage, overlay, svg: svg as SVGSVGElement, zoomLabel, overlayBtn: null as unknown as HTMLButtonElement, s: 1, tx: 0, ty: 0 };
  v.overlayBtn = h('button', { type: 'button', 'aria-pressed': String(overlayOn && !!overlay), disabled: !overlay, onclick: () => toggleOverlay() }, 'Overlay (o)');
  const bar = h(
    'div',
    { class: 'view-bar' },
    h('strong', {}, info.view),
    h('span', { class: `badge v-${info.verdict ?? 'review'}` }, info.verdict ?? '–'),
    v.overlayBtn,
    h('button', { type: 'button', onclick: () => zoomBy(v, 1.5) }, 'Zoom + '),
    h('button', { type: 'button', onclick: () => zoomBy(v, 1 / 1.5) }, 'Zoom −'),
    h('button', { type: 'button', onclick: () => fit(v) }, 'Fit (0)'),
    h('button', { type: 'button', onclick: () => setZoom(v, 1) }, '1:1'),
    h('button', { type: 'button', class: 'draw', onclick: () => startDraw(info.n) }, 'Add box (b)'),
    zoomLabel,
  );
  v.fig = h('figure', { class: 'view', 'data-n': info.n }, bar, port);
  if (overlay) overlay.hidden = !overlayOn;
  wirePointer(v);
  viewers.push(v);
  drawBoxes(v);
  return v.fig;
}

function apply(v: Viewer): void {
  v.stage.style.transform = `translate(${v.tx}px, ${v.ty}px) scale(${v.s})`;
  v.stage.classList.toggle('pixels', v.s >= 2);
  v.zoomLabel.textContent = `${Math.round(v.s * 100)} %`;
  v.port.dataset.zoom = String(v.s);
}

function fitScale(v: Viewer): number {
  return Math.min(v.port.clientWidth / v.info.width, v.port.clientHeight / v.info.height) || 1;
}

function fit(v: Viewer): void {
  v.s = fitScale(v);
  v.tx = (v.port.clientWidth - v.info.width * v.s) / 2;
  v.ty = (v.port.clientHeight - v.info.height * v.s) / 2;
  apply(v);
}

function zoomAt(v: Viewer, s: number, cx: number, cy: number): void {
  const next = Math.min(MAX_ZOOM, Math.max(fitScale(v) / 2, s));
  v.tx = cx - (cx - v.tx) * (next / v.s);
  v.ty = cy - (cy - v.ty) * (next / v.s);
  v.s = next;
  apply(v);
}

const zoomBy = (v: Viewer, f: number) => zoomAt(v, v.s * f, v.port.clientWidth / 2, v.port.clientHeight / 2);
const setZoom = (v: Viewer, s: number) => zoomAt(v, s, v.port.clientWidth / 2, v.port.clientHeight / 2);

function centreOn(v: Viewer, box: BBox, s: number): void {
  v.s = Math.min(MAX_ZOOM, s);
  v.tx = v.port.clientWidth / 2 - ((box[0] + box[2]) / 2) * v.s;
  v.ty = v.port.clientHeight / 2 - ((box[1] + box[3]) / 2) * v.s;
  apply(v);
}

function toPhoto(v: Viewer, clientX: number, clientY: number): [number, number] {
  const r = v.port.getBoundingClientRect();
  const x = (clientX - r.left - v.tx) / v.s;
  const y = (clientY - r.top - v.ty) / v.s;
  return [Math.min(v.info.width, Math.max(0, x)), Math.min(v.info.height, Math.max(0, y))];
}

function wirePointer(v: Viewer): void {
  let drag: { x: number; y: number; tx: number; ty: number; start?: [number, number] } | null = null;
  // Two fingers on a tablet: pinch to zoom about their midpoint.
  const touches = new Map<number, { x: number; y: number }>();
  let pinch: { d: number; s: number } | null = null;
  const spread = () => {
    const [a, b] = [...touches.values()];
    return a && b ? { d: Math.hypot(a.x - b.x, a.y - b.y), mx: (a.x + b.x) / 2, my: (a.y + b.y) / 2 } : null;
  };
  v.port.addEventListener('pointerdown', (e) => {
    if (e.pointerType !== 'touch') return;
    touches.set(e.pointerId, { x: e.clientX, y: e.clientY });
    const sp = spread();
    if (sp) {
      pinch = { d: sp.d, s: v.s };
      drag = null;
    }
  });
  v.port.addEventListener('pointermove', (e) => {
    if (!touches.has(e.pointerId)) return;
    touches.set(e.pointerId, { x: e.clientX, y: e.clientY });
    const sp = spread();
    if (pinch && sp && pinch.d > 0) {
      const r = v.port.getBoundingClientRect();
      zoomAt(v, pinch.s * (sp.d / pinch.d), sp.mx - r.left, sp.my - r.top);
    }
  });
  const lift = (e: PointerEvent) => {
    touches.delete(e.pointerId);
    if (touches.size < 2) pinch = null;
  };
  v.port.addEventListener('pointerup', lift);
  v.port.addEventListener('pointercancel', lift);
  v.port.addEventListener('wheel', (e) => {
    e.preventDefault();
    const r = v.port.getBoundingClientRect();
    zoomAt(v, v.s * (e.deltaY < 0 ? 1.25 : 0.8), e.clientX - r.left, e.clientY - r.top);
  }, { passive: false });
  v.port.addEventListener('pointerdown', (e) => {
    currentView = v.info.n;
    markCurrentView();
    if (pinch) return;
    v.port.setPointerCapture(e.pointerId);
    drag = { x: e.clientX, y: e.clientY, tx: v.tx, ty: v.ty };
    if (drawing && draft?.viewN === v.info.n) {
      drag.start = toPhoto(v, e.clientX, e.clientY);
      draft.box = [...drag.start, ...drag.start] as BBox;
    }
  });
  v.port.addEventListener('pointermove', (e) => {
    if (!drag || pinch) return;
    if (drag.start && draft) {
      const [x, y] = toPhoto(v, e.clientX, e.clientY);
      draft.box = [Math.min(drag.start[0], x), Math.min(drag.start[1], y), Math.max(drag.start[0], x), Math.max(drag.start[1], y)];
      drawBoxes(v);
    } else {
      v.tx = drag.tx + e.clientX - drag.x;
      v.ty = drag.ty + e.clientY - drag.y;
      apply(v);
    }
  });
  v.port.addEventListener('pointerup', () => {
    const wasDrawing = !!drag?.start;
    drag = null;
    if (wasDrawing && draft && draft.box[2] - draft.box[0] >= 1 && draft.box[3] - draft.box[1] >= 1) finishDraft();
  });
}

function rect(box: BBox, cls: string, id?: string): SVGRectElement {
  const r = document.createElementNS(SVGNS, 'rect');
  r.setAttribute('x', String(box[0]));
  r.setAttribute('y', String(box[1]));
  r.setAttribute('width', String(Math.max(1, box[2] - box[0])));
  r.setAttribute('height', String(Math.max(1, box[3] - box[1])));
  r.setAttribute('class', cls);
  if (id) r.setAttribute('data-id', id);
  return r;
}

function drawBoxes(v: Viewer): void {
  if (!state) return;
  const rects: SVGRectElement[] = [];
  state.findings.forEach((f, k) => {
    if (f.viewN === v.info.n && f.bbox) rects.push(rect(f.bbox, `f ${f.decision ?? ''} ${k === selected ? 'selected' : ''}`, f.id));
  });
  for (const b of state.belowGate) if (b.viewN === v.info.n) rects.push(rect(b.bbox, 'below'));
  for (const a of state.added) if (a.viewN === v.info.n) rects.push(rect(a.bbox, 'added', a.id));
  if (draft && draft.viewN === v.info.n) rects.push(rect(draft.box, 'draft'));
  v.svg.replaceChildren(...rects);
}

function toggleOverlay(): void {
  overlayOn = !overlayOn;
  for (const v of viewers) {
    if (v.overlay) v.overlay.hidden = !overlayOn;
    v.overlayBtn.setAttribute('aria-pressed', String(overlayOn && !!v.overlay));
  }
  flash(overlayOn ? 'Overlay on' : 'Overlay off');
}

function viewer(n = currentView): Viewer | undefined {
  return viewers.find((v) => v.info.n === n);
}

function markCurrentView(): void {
  for (const v of viewers) v.fig.classList.toggle('current', v.info.n === currentView);
}

// ---------------------------------------------------------------- findings

function select(k: number): void {
  if (!state || k < 0 || k >= state.findings.length) return;
  selected = k;
  const f = state.findings[k]!;
  currentView = f.viewN;
  for (const tr of document.querySelectorAll<HTMLTableRowElement>('#findings tbody tr')) tr.classList.toggle('selected', tr.dataset.id === f.id);
  document.querySelector('#findings tr.selected')?.scrollIntoView({ block: 'nearest' });
  for (const v of viewers) drawBoxes(v);
  markCurrentView();
}

async function decide(k: number, decision: 'confirmed' | 'rejected'): Promise<void> {
  if (!state) return;
  const f = state.findings[k];
  if (!f) return;
  const id = state.inspection.id;
  const ok = await call(() => api(`/v1/inspections/${id}/review`, { method: 'POST', body: JSON.stringify({ findings: [{ findingId: f.id, decision }] }) }));
  if (!ok || state?.inspection.id !== id) return;
  f.decision = decision;
  const tr = document.querySelector<HTMLTableRowElement>(`#findings tr[data-id="${CSS.escape(f.id)}"]`);
  if (tr) {
    tr.dataset.decision = decision;
    tr.classList.toggle('confirmed', decision === 'confirmed');
    tr.classList.toggle('rejected', decision === 'rejected');
    tr.querySelector('button.confirm')?.setAttribute('aria-pressed', String(decision === 'confirmed'));
    tr.querySelector('button.reject')?.setAttribute('aria-pressed', String(decision === 'rejected'));
  }
  flash(`Finding ${k + 1} ${decision}`);
  // On to the next finding nobody has decided yet.
  const nextOpen = state.findings.findIndex((x, j) => j > k && x.decision === null);
  select(nextOpen >= 0 ? nextOpen : k);
}

function showBelowGate(k: number): void {
  const b = state?.belowGate[k];
  const v = b ? viewer(b.viewN) : undefined;
  if (!b || !v) return;
  currentView = b.viewN;
  markCurrentView();
  for (const tr of document.querySelectorAll<HTMLTableRowElement>('#below-gate tbody tr')) tr.classList.toggle('selected', tr.dataset.k === String(k));
  centreOn(v, b.bbox, Math.max(fitScale(v), Math.min(8, 0.4 * Math.min(v.port.clientWidth / (b.bbox[2] - b.bbox[0] || 1), v.port.clientHeight / (b.bbox[3] - b.bbox[1] || 1)))));
}

/** An inspector who sees a real defect in a below-gate finding records it as a missed one, with the model's box. */
async function addBelowGate(k: number): Promise<void> {
  const b = state?.belowGate[k];
  if (!state || !b) return;
  const size = b.sizeMm === null ? 0 : Math.abs(b.sizeMm);
  const add = {
    viewN: b.viewN,
    family: b.family,
    kind: b.kind,
    bbox: belowGateBox(b),
    ...(size > 0 ? { sizeMm: size } : {}),
    note: `below the model's gate (score ${fmt(b.score, 2)} < ${fmt(b.gate, 2)})`,
  };
  const id = state.inspection.id;
  const ok = await call(() => api(`/v1/inspections/${id}/review`, { method: 'POST', body: JSON.stringify({ add: [add] }) }));
  if (!ok) return;
  await reloadKeepingView(`Added ${add.family} · ${add.kind} (below gate)`);
}

// ---------------------------------------------------------------- missed-defect boxes

function boxForm(): HTMLFormElement {
  const family = h('select', { name: 'family', id: 'box-family' }, ...Object.keys(PAGE.kinds).map((f) => h('option', { value: f }, f)));
  const kind = h('select', { name: 'kind', id: 'box-kind' });
  const fillKinds = () => kind.replaceChildren(...(PAGE.kinds[family.value] ?? []).map((k) => h('option', { value: k }, k)));
  family.addEventListener('change', fillKinds);
  fillKinds();
  const form = h(
    'form',
    { class: 'box-form', id: 'box-form', hidden: true },
    h('strong', {}, 'Missed defect'),
    h('label', {}, 'Family', family),
    h('label', {}, 'Kind', kind),
    h('label', {}, 'Size mm (optional)', h('input', { name: 'sizeMm', type: 'number', step: 'any', min: '0', inputmode: 'decimal' })),
    h('label', {}, 'Note', h('input', { name: 'note', maxlength: 2000 })),
    h('button', { type: 'submit' }, 'Save box'),
    h('button', { type: 'button', class: 'quiet', onclick: () => cancelDraw() }, 'Cancel'),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void saveDraft(form);
  });
  return form;
}

function startDraw(n = currentView): void {
  const v = viewer(n);
  if (!v) return;
  currentView = n;
  markCurrentView();
  drawing = true;
  v.port.classList.add('drawing');
  // A starting box in the middle of what is visible: drag a new one, or move/resize this one with the keyboard.
  const [cx, cy] = [(v.port.clientWidth / 2 - v.tx) / v.s, (v.port.clientHeight / 2 - v.ty) / v.s];
  const half = Math.max(2, 30 / v.s);
  draft = { viewN: n, box: clampBox(v, [cx - half, cy - half, cx + half, cy + half]) };
  drawBoxes(v);
  v.port.focus({ preventScroll: true });
  flash('Box mode: drag on the photo, or arrows to move, Shift+arrows to resize, Enter to keep, Esc to cancel');
}

function clampBox(v: Viewer, b: BBox): BBox {
  const w = Math.min(b[2] - b[0], v.info.width);
  const hh = Math.min(b[3] - b[1], v.info.height);
  const x0 = Math.min(Math.max(0, b[0]), v.info.width - w);
  const y0 = Math.min(Math.max(0, b[1]), v.info.height - hh);
  return [x0, y0, x0 + w, y0 + hh];
}

function nudgeDraft(dx: number, dy: number, resize: boolean): void {
  const v = viewer(draft?.viewN);
  if (!draft || !v) return;
  const [x0, y0, x1, y1] = draft.box;
  draft.box = resize ? clampBox(v, [x0, y0, Math.max(x0 + 1, x1 + dx), Math.max(y0 + 1, y1 + dy)]) : clampBox(v, [x0 + dx, y0 + dy, x1 + dx, y1 + dy]);
  drawBoxes(v);
}

function finishDraft(): void {
  const form = document.getElementById('box-form') as HTMLFormElement | null;
  if (!form || !draft) return;
  form.hidden = false;
  (form.elements.namedItem('family') as HTMLSelectElement).focus();
}

function cancelDraw(): void {
  const v = viewer(draft?.viewN);
  draft = null;
  drawing = false;
  for (const x of viewers) x.port.classList.remove('drawing');
  const form = document.getElementById('box-form') as HTMLFormElement | null;
  if (form) {
    form.hidden = true;
    form.reset();
  }
  if (v) {
    drawBoxes(v);
    v.port.focus({ preventScroll: true });
  }
}

async function saveDraft(form: HTMLFormElement): Promise<void> {
  if (!state || !draft) return;
  const data = new FormData(form);
  const size = Number(data.get('sizeMm'));
  const note = String(data.get('note') ?? '').trim();
  const box = draft.box.map((x) => Math.round(x * 10) / 10) as BBox;
  const add = { viewN: draft.viewN, family: String(data.get('family')), kind: String(data.get('kind')), bbox: box, ...(size > 0 ? { sizeMm: size } : {}), ...(note ? { note } : {}) };
  const id = state.inspection.id;
  const ok = await call(() => api(`/v1/inspections/${id}/review`, { method: 'POST', body: JSON.stringify({ add: [add] }) }));
  if (!ok) return;
  await reloadKeepingView(`Added ${add.family} · ${add.kind}`);
}

async function removeBox(addedId: string): Promise<void> {
  if (!state) return;
  const ok = await call(() => api(`/v1/inspections/${state!.inspection.id}/review`, { method: 'POST', body: JSON.stringify({ remove: [addedId] }) }));
  if (ok) await reloadKeepingView('Box removed');
}

/** Re-reads the review state after a change, keeping zoom, selection and the current photo. */
async function reloadKeepingView(message: string): Promise<void> {
  if (!state) return;
  const keep = viewers.map((v) => ({ n: v.info.n, s: v.s, tx: v.tx, ty: v.ty }));
  const sel = selected;
  const view = currentView;
  const s = await call(() => api<State>(`/v1/inspections/${state!.inspection.id}/review`));
  if (!s) return;
  state = s;
  draft = null;
  drawing = false;
  selected = Math.min(sel, s.findings.length - 1);
  currentView = view;
  renderPiece();
  requestAnimationFrame(() => {
    for (const k of keep) {
      const v = viewer(k.n);
      if (!v) continue;
      v.s = k.s;
      v.tx = k.tx;
      v.ty = k.ty;
      apply(v);
    }
    markCurrentView();
    flash(message);
    piece.focus({ preventScroll: true });
  });
}

// ---------------------------------------------------------------- disposition

function chooseDisposition(k: number): void {
  const radio = document.querySelector<HTMLInputElement>(`#disposition input[value="${DISPOSITIONS[k]}"]`);
  if (!radio) return;
  radio.checked = true;
  document.getElementById('disposition-note')?.focus();
  flash(`Disposition ${DISPOSITIONS[k]}: add a note, Enter to record`);
}

async function submitDisposition(): Promise<void> {
  if (!state) return;
  const form = $<HTMLFormElement>('#disposition');
  const data = new FormData(form);
  const choice = String(data.get('disposition') ?? '');
  if (!choice) return flash('Choose a disposition (1–5)', true);
  const [disposition, rework] = choice.split(':');
  const note = String(data.get('note') ?? '').trim();
  const id = state.inspection.id;
  const next = state.next;
  const ok = await call(() =>
    api(`/v1/inspections/${id}/review`, { method: 'POST', body: JSON.stringify({ disposition: { disposition, ...(rework ? { rework } : {}), ...(note ? { note } : {}) } }) }),
  );
  if (!ok) return;
  flash(`Recorded: ${choice}${note ? ` (${note})` : ''}`);
  piece.dataset.recorded = choice;
  await loadQueue();
  if (next) await openPiece(next);
}

// ---------------------------------------------------------------- keyboard

function onKey(e: KeyboardEvent): void {
  const t = e.target as HTMLElement;
  const typing = t instanceof HTMLInputElement || t instanceof HTMLSelectElement || t instanceof HTMLTextAreaElement;
  if (e.key === 'Escape') {
    if (draft) cancelDraw();
    else if (typing) t.blur();
    return;
  }
  if (typing || e.ctrlKey || e.metaKey) return;
  const v = viewer();
  if (draft) {
    const step = e.altKey ? 1 : Math.max(1, 10 / (viewer(draft.viewN)?.s ?? 1));
    const d: Record<string, [number, number]> = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (d[e.key]) {
      e.preventDefault();
      nudgeDraft(d[e.key]![0], d[e.key]![1], e.shiftKey);
      return;
    }
    if (e.key === 'Enter') {
      e.preventDefault();
      finishDraft();
      return;
    }
  }
  if (e.altKey) return;
  const pan: Record<string, [number, number]> = { ArrowLeft: [60, 0], ArrowRight: [-60, 0], ArrowUp: [0, 60], ArrowDown: [0, -60] };
  if (pan[e.key] && v) {
    e.preventDefault();
    v.tx += pan[e.key]![0];
    v.ty += pan[e.key]![1];
    apply(v);
    return;
  }
  const k = e.key;
  const actions: Record<string, () => void> = {
    n: () => void nextPiece(1),
    p: () => void nextPiece(-1),
    j: () => select(selected + 1),
    k: () => select(selected - 1),
    c: () => void decide(selected, 'confirmed'),
    r: () => void decide(selected, 'rejected'),
    o: () => toggleOverlay(),
    '+': () => v && zoomBy(v, 1.5),
    '=': () => v && zoomBy(v, 1.5),
    '-': () => v && zoomBy(v, 1 / 1.5),
    '0': () => v && fit(v),
    z: () => {
      const f = state?.findings[selected];
      const fv = f ? viewer(f.viewN) : undefined;
      if (f?.bbox && fv) centreOn(fv, f.bbox, Math.max(1, Math.min(8, 0.4 * Math.min(fv.port.clientWidth / (f.bbox[2] - f.bbox[0] || 1), fv.port.clientHeight / (f.bbox[3] - f.bbox[1] || 1)))));
    },
    v: () => {
      if (!state || state.views.length === 0) return;
      const i = state.views.findIndex((x) => x.n === currentView);
      currentView = state.views[(i + 1) % state.views.length]!.n;
      markCurrentView();
      viewer()?.fig.scrollIntoView({ block: 'nearest' });
    },
    b: () => startDraw(),
    d: () => document.getElementById('disposition-note')?.focus(),
    '1': () => chooseDisposition(0),
    '2': () => chooseDisposition(1),
    '3': () => chooseDisposition(2),
    '4': () => chooseDisposition(3),
    '5': () => chooseDisposition(4),
    '?': () => {
      const help = $('#help');
      help.hidden = !help.hidden;
    },
  };
  const act = actions[k];
  if (!act) return;
  if (!state && !'np?'.includes(k)) return;
  e.preventDefault();
  act();
}

// ---------------------------------------------------------------- start

async function main(): Promise<void> {
  who = await signIn(['inspector', 'manager']);
  $('#who').textContent = who.actor;
  wireLogout();
  filters.addEventListener('change', () => void loadQueue());
  document.addEventListener('keydown', onKey);
  window.addEventListener('resize', () => viewers.forEach(fit));
  await loadQueue();
  const fromHash = location.hash.slice(1);
  if (/^[0-9a-f-]{36}$/.test(fromHash)) await openPiece(fromHash);
  document.body.dataset.ready = 'true';
}

void main();
