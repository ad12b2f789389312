// pdgate DPO console: plain JavaScript over the admin API, no external assets. The token lives
// in sessionStorage (gone when the tab closes) and goes out only as a bearer header to this origin.
'use strict';

const I18N = {
  en: {
    console: 'DPO console', tab_requests: 'Requests', tab_consents: 'Consents', tab_register: 'Register',
    tab_breaches: 'Breaches', tab_audit: 'Audit log', tab_discovery: 'Discovery', logout: 'Sign out',
    login_title: 'Sign in with a DPO token', login: 'Sign in',
    login_hint: 'Paste an admin-API token with the dpo or admin role (pdgate token issue --role dpo --ttl 8h).',
    login_bad: 'The token was refused', subject_email: "Subject's e-mail", register_request: 'Register request',
    only_open: 'Open only', col_type: 'Type', col_received: 'Received', col_due: 'Due', col_left: 'Time left',
    col_status: 'Status', report_preview: 'Report preview', consents_hint: 'Consent records per purpose over the last 30 days.',
    col_purpose: 'Purpose', col_basis: 'Legal basis', col_granted: 'Granted', col_withdrawn: 'Withdrawn', col_trend: 'Trend',
    view_fz152: '152-FZ Art. 22(3) notification', view_gdpr: 'GDPR Art. 30 record', show: 'Show', export: 'Export:',
    categories: 'Categories (comma-separated ids)', description: 'What happened', open_breach: 'Open breach',
    since: 'Since', until: 'Until', kind: 'Kind', any: 'any', search: 'Search', export_jsonl: 'Export JSONL',
    export_csv: 'Export CSV', col_time: 'Time', col_entry: 'Entry', col_method: 'Method', col_path: 'Path',
    col_kinds: 'Detected', col_count: 'Count', col_first: 'First seen', col_last: 'Last seen',
    fulfil: 'Fulfil', extend: 'Extend', report: 'Report', reason: 'Reason for the extension', overdue: 'overdue',
    unverified: 'calendar not confirmed', unverified_hint: 'The period runs into a year the production calendar does not cover yet; it may end later once that year\'s transfer decree is added.',
    fulfilled: 'fulfilled', extended: 'extended', created: 'Request registered', done: 'Done',
    notice: 'Notice', notice_sent: 'Mark notice sent', notice_due: 'notice to send by', notice_recorded: 'notice sent',
    corrections: 'Corrections: token=new value, one per line', entries: 'entries', no_items: 'Nothing here yet',
    discovery_on: 'Discovery is on: bodies on unmatched routes are scanned.',
    discovery_off: 'Discovery is off (discovery: true in the policies turns it on).',
    estimate: 'Estimated', subjects: 'subjects', records: 'records', notice: 'Notice', next_state: 'Mark',
    note: 'Note (required to close)', clock_met: 'met', clock_late: 'late', left: 'left',
    record_sent: 'Record sent', subjects_pending: 'High risk: tell the subjects without undue delay (GDPR Art. 34)',
    flow_undeclared: 'undeclared', flow_declared: 'declared', flow_blocked: 'blocked',
    discovery_hint: 'Declare a flow with a route and its fields, or close it with `block: true`, in the policies.',
    tab_retention: 'Retention', col_finished: 'Finished', col_subjects_erased: 'Subjects erased',
    col_values_erased: 'Values erased', col_restricted: 'Held, restricted', acts: 'Acts', more: 'More',
    held: 'Held', act_json: 'The act (JSON)', no_acts: 'This sweep destroyed nothing.',
    sweep_running: 'Running', sweep_interrupted: 'Interrupted',
    retention_hint: 'Retention sweeps, newest first, and their destruction acts (Roskomnadzor order No. 179), one per transaction of a sweep.',
    withdrawals: 'Withdrawals: 30 days to destroy (152-FZ Art. 21(5))', col_purpose: 'Purpose', col_withdrawn: 'Withdrawn',
    col_destroy_by: 'Destroy by', col_values_left: 'Values left', col_state: 'State',
    clock_running: 'running', clock_overdue: 'overdue', clock_met: 'met',
    col_subject: 'Subject', by_email: 'by e-mail', by_phone: 'by phone', by_token: 'by token',
    type_access: 'access', type_portability: 'portability', type_rectification: 'rectification',
    type_erasure: 'erasure', type_restriction: 'restriction', type_objection: 'objection',
    type_withdraw_consent: 'consent withdrawal', st_open: 'open', st_fulfilled: 'fulfilled', st_lifted: 'lifted',
    st_refused: 'refused', regime_both: '152-FZ + GDPR', regime_fz152: '152-FZ', regime_gdpr: 'GDPR', repeat: 'repeat',
    bst_open: 'open', 'bst_notified-24h': 'notified (24 h)', 'bst_notified-72h': 'notified (72 h)', bst_closed: 'closed',
    basis_consent: 'consent', basis_contract: 'contract', basis_legal_obligation: 'legal obligation',
    basis_vital_interests: 'vital interests', basis_public_task: 'public task', basis_legitimate_interests: 'legitimate interests',
    sweep_finished: 'Finished', days: ['day', 'days'], hours: 'h', minutes: 'min', seconds: 's',
  },
  ru: {
    console: 'консоль ответственного', tab_requests: 'Запросы', tab_consents: 'Согласия', tab_register: 'Реестр',
    tab_breaches: 'Инциденты', tab_audit: 'Журнал', tab_discovery: 'Обнаружение', logout: 'Выйти',
    login_title: 'Вход по токену ответственного', login: 'Войти',
    login_hint: 'Вставьте токен admin-API с ролью dpo или admin (pdgate token issue --role dpo --ttl 8h).',
    login_bad: 'Токен отклонён', subject_email: 'E-mail субъекта', register_request: 'Зарегистрировать запрос',
    only_open: 'Только открытые', col_type: 'Тип', col_received: 'Получен', col_due: 'Срок', col_left: 'Осталось',
    col_status: 'Статус', report_preview: 'Просмотр отчёта', consents_hint: 'Записи о согласиях по целям за 30 дней.',
    col_purpose: 'Цель', col_basis: 'Основание', col_granted: 'Дано', col_withdrawn: 'Отозвано', col_trend: 'Динамика',
    view_fz152: 'Уведомление по ст. 22 ч. 3 152-ФЗ', view_gdpr: 'Запись по ст. 30 GDPR', show: 'Показать', export: 'Выгрузить:',
    categories: 'Категории (id через запятую)', description: 'Что произошло', open_breach: 'Зарегистрировать инцидент',
    since: 'С', until: 'По', kind: 'Тип', any: 'любой', search: 'Найти', export_jsonl: 'Выгрузить JSONL',
    export_csv: 'Выгрузить CSV', col_time: 'Время', col_entry: 'Запись', col_method: 'Метод', col_path: 'Путь',
    col_kinds: 'Найдено', col_count: 'Число', col_first: 'Впервые', col_last: 'Последний раз',
    fulfil: 'Исполнить', extend: 'Продлить', report: 'Отчёт', reason: 'Причина продления', overdue: 'просрочен',
    unverified: 'календарь не подтверждён', unverified_hint: 'Срок заходит в год, которого ещё нет в производственном календаре; после добавления постановления о переносе выходных он может сдвинуться.',
    fulfilled: 'исполнен', extended: 'продлён', created: 'Запрос зарегистрирован', done: 'Готово',
    notice: 'Уведомление', notice_sent: 'Отметить отправку', notice_due: 'уведомить до', notice_recorded: 'уведомление отправлено',
    corrections: 'Исправления: токен=новое значение, по одному в строке', entries: 'записей', no_items: 'Пока пусто',
    discovery_on: 'Обнаружение включено: тела запросов на необъявленных маршрутах проверяются.',
    discovery_off: 'Обнаружение выключено (discovery: true в политиках включает его).',
    estimate: 'Оценка', subjects: 'субъектов', records: 'записей', notice: 'Уведомление', next_state: 'Отметить',
    note: 'Комментарий (нужен для закрытия)', clock_met: 'выполнено', clock_late: 'с опозданием', left: 'осталось',
    record_sent: 'Отметить отправку', subjects_pending: 'Высокий риск: уведомить субъектов без неоправданной задержки (GDPR ст. 34)',
    flow_undeclared: 'не объявлен', flow_declared: 'объявлен', flow_blocked: 'закрыт',
    discovery_hint: 'Объявите поток маршрутом с полями или закройте его (`block: true`) в политиках.',
    tab_retention: 'Сроки хранения', col_finished: 'Завершён', col_subjects_erased: 'Субъектов уничтожено',
    col_values_erased: 'Значений уничтожено', col_restricted: 'Заблокировано (удержание)', acts: 'Акты', more: 'Ещё',
    held: 'Удерживается', act_json: 'Акт (JSON)', no_acts: 'Этот проход ничего не уничтожил.',
    sweep_running: 'Идёт', sweep_interrupted: 'Прерван',
    retention_hint: 'Проходы по срокам хранения, новые сверху, и их акты об уничтожении (приказ РКН № 179), по одному на транзакцию прохода.',
    withdrawals: 'Отзывы согласия: уничтожить в течение 30 дней (ч. 5 ст. 21 152-ФЗ)', col_purpose: 'Цель', col_withdrawn: 'Отозвано',
    col_destroy_by: 'Уничтожить до', col_values_left: 'Осталось значений', col_state: 'Состояние',
    clock_running: 'идёт', clock_overdue: 'просрочено', clock_met: 'исполнено',
    col_subject: 'Субъект', by_email: 'по e-mail', by_phone: 'по телефону', by_token: 'по токену',
    type_access: 'доступ', type_portability: 'переносимость', type_rectification: 'уточнение',
    type_erasure: 'уничтожение', type_restriction: 'блокирование', type_objection: 'возражение',
    type_withdraw_consent: 'отзыв согласия', st_open: 'открыт', st_fulfilled: 'исполнен', st_lifted: 'снят',
    st_refused: 'отказ', regime_both: '152-ФЗ + GDPR', regime_fz152: '152-ФЗ', regime_gdpr: 'GDPR', repeat: 'повторный',
    bst_open: 'открыт', 'bst_notified-24h': 'уведомлено (24 ч)', 'bst_notified-72h': 'уведомлено (72 ч)', bst_closed: 'закрыт',
    basis_consent: 'согласие', basis_contract: 'договор', basis_legal_obligation: 'обязанность по закону',
    basis_vital_interests: 'жизненно важные интересы', basis_public_task: 'публичная задача', basis_legitimate_interests: 'законные интересы',
    sweep_finished: 'Завершён', days: ['день', 'дня', 'дней'], hours: 'ч', minutes: 'мин', seconds: 'с',
  },
};

let lang = localStorage.getItem('pdgate.lang') || ((navigator.language || 'en').startsWith('ru') ? 'ru' : 'en');
const t = (k) => (I18N[lang] && I18N[lang][k]) || I18N.en[k] || k;
// A value the API names (a state, a type): its translation under `prefix`, else the value itself.
const tv = (prefix, v) => { const k = prefix + v; return (I18N[lang] && I18N[lang][k]) || I18N.en[k] || v; };
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children.flat()) e.append(c instanceof Node ? c : document.createTextNode(c ?? ''));
  return e;
}

function applyLang() {
  document.documentElement.lang = lang;
  $('#lang').value = lang;
  $$('[data-i18n]').forEach((n) => { n.textContent = t(n.dataset.i18n); });
  $$('[data-i18n-placeholder]').forEach((n) => { n.placeholder = t(n.dataset.i18nPlaceholder); });
}

// ---- API ----------------------------------------------------------------------------------
const token = () => sessionStorage.getItem('pdgate.token') || '';

async function api(method, path, body, accept) {
  const headers = { Authorization: 'Bearer ' + token(), 'Accept-Language': lang };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (accept) headers.Accept = accept;
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status === 401) { logout(); throw new Error(t('login_bad')); }
  if (!r.ok) {
    let msg = r.status + '';
    try { const j = await r.json(); msg = j.error.code + ': ' + j.error.message; } catch (_) { /* not JSON */ }
    throw new Error(msg);
  }
  return r;
}
const getJson = async (path) => (await api('GET', path)).json();

function status(msg, error) {
  const s = $('#status');
  s.textContent = msg;
  s.className = error ? 'error' : 'ok';
}
const guard = (fn) => async (...args) => {
  try { await fn(...args); } catch (e) { status(e.message, true); }
};

async function download(path, filename) {
  const blob = await (await api('GET', path)).blob();
  const a = el('a', { href: URL.createObjectURL(blob), download: filename });
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

// ---- time ---------------------------------------------------------------------------------
// Times read in the operator's legal zone (`[legal] timezone`, which the page names), whatever the
// browser's own zone: deadlines end at 24:00 there. Named, to the minute: "6 Dec 2026, 14:01 MSK".
const legalZone = document.querySelector('meta[name="pdgate-legal-timezone"]')?.content || 'Europe/Moscow';
const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString(lang === 'ru' ? 'ru-RU' : 'en-GB', {
  day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', timeZoneName: 'short',
  timeZone: legalZone,
}) : '—');
// Today's date (YYYY-MM-DD) on the operator's calendar.
const legalToday = () => new Intl.DateTimeFormat('en-CA', { timeZone: legalZone }).format(new Date());
// "1 день", "2 дня", "5 дней"; English "1 day", "2 days".
function plural(n, forms) {
  if (forms.length === 2) return n === 1 ? forms[0] : forms[1];
  const m10 = n % 10, m100 = n % 100;
  if (m10 === 1 && m100 !== 11) return forms[0];
  if (m10 >= 2 && m10 <= 4 && (m100 < 12 || m100 > 14)) return forms[1];
  return forms[2];
}
// Time left as a person says it: "12 days 9 h", "9 h 58 min", "58 min 12 s"; "−" once overdue.
function fmtLeft(ms) {
  const neg = ms < 0;
  let s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  const parts = d ? [d + ' ' + plural(d, t('days')), h + ' ' + t('hours')]
    : h ? [h + ' ' + t('hours'), m + ' ' + t('minutes')]
      : [m + ' ' + t('minutes'), s + ' ' + t('seconds')];
  return (neg ? '−' : '') + parts.join(' ');
}
function tick() {
  const now = Date.now();
  $$('[data-due]').forEach((n) => {
    const left = Date.parse(n.dataset.due) - now;
    n.textContent = fmtLeft(left) + (left < 0 ? ' (' + t('overdue') + ')' : '');
    n.classList.toggle('overdue', left < 0);
    const row = n.closest('tr');
    if (row) row.classList.toggle('overdue', left < 0);
  });
}

// ---- requests -----------------------------------------------------------------------------
async function loadRequests() {
  const q = $('#only-open').checked ? '?status=open' : '';
  const { requests } = await getJson('/admin/v1/requests' + q);
  const body = $('#request-table tbody');
  body.replaceChildren();
  if (!requests.length) body.append(el('tr', {}, el('td', { colspan: 7, class: 'muted' }, t('no_items'))));
  for (const r of requests) {
    const open = r.status === 'open';
    const actions = el('td', { class: 'actions' });
    if (open) {
      actions.append(el('button', { 'data-action': 'fulfil', 'data-id': r.id, onclick: guard(() => fulfil(r)) }, t('fulfil')));
      if (!r.extended_at) {
        const reason = el('input', { placeholder: t('reason'), 'data-reason': r.id, size: 18 });
        actions.append(' ', reason, el('button', { 'data-action': 'extend', 'data-id': r.id, onclick: guard(() => extend(r.id, reason.value)) }, t('extend')));
      }
    }
    const notice = r.extension_notice;
    if (notice) {
      // The extension is lawful only with its notice to the subject, sent by the original due time.
      actions.append(' ', el('button', { 'data-action': 'notice', 'data-id': r.id, onclick: guard(() => showNotice(r.id)) }, t('notice')));
      if (!notice.sent_at) {
        actions.append(' ', el('button', { 'data-action': 'notice-sent', 'data-id': r.id, onclick: guard(() => noticeSent(r.id)) }, t('notice_sent')));
      }
    }
    actions.append(' ', el('button', { 'data-action': 'report', 'data-id': r.id, onclick: guard(() => preview(r.id)) }, t('report')));
    // Who the request is about: pdgate keeps no identifier in clear, so the kind it was found by
    // and the DPO's note (e.g. the letter's reference).
    const subject = el('td', { class: 'subject' }, tv('by_', r.subject_identifier),
      r.note ? el('div', { class: 'muted' }, r.note) : '');
    body.append(el('tr', { 'data-request': r.id, class: r.overdue ? 'overdue' : '' },
      el('td', {}, tv('type_', r.type), el('div', { class: 'muted' }, tv('regime_', r.regime) + (r.repeat_of ? ' · ' + t('repeat') : ''))),
      subject,
      el('td', {}, fmtTime(r.received_at)),
      el('td', {}, fmtTime(r.due_at), r.extended_at ? el('div', { class: 'muted' }, t('extended')) : '',
        notice ? el('div', { class: notice.sent_at ? 'muted' : (notice.late ? 'overdue' : 'unverified'), 'data-notice': notice.sent_at ? 'sent' : 'due' },
          notice.sent_at ? t('notice_recorded') + ' ' + fmtTime(notice.sent_at) : t('notice_due') + ' ' + fmtTime(notice.send_by)) : '',
        r.calendar_unverified ? el('div', { class: 'unverified', title: t('unverified_hint') }, t('unverified')) : ''),
      open ? el('td', { class: 'countdown', 'data-due': r.due_at }) : el('td', { class: r.fulfilled_on_time === false ? 'overdue' : 'ok' }, fmtTime(r.fulfilled_at)),
      el('td', { class: 'status' }, tv('st_', r.status)),
      actions));
  }
  tick();
}

async function fulfil(r) {
  let body = {};
  if (r.type === 'rectification') {
    const text = window.prompt(t('corrections')) || '';
    body = { corrections: text.split('\n').filter((l) => l.includes('=')).map((l) => {
      const i = l.indexOf('=');
      return { token: l.slice(0, i).trim(), value: l.slice(i + 1).trim() };
    }) };
  }
  await api('POST', '/admin/v1/requests/' + encodeURIComponent(r.id) + '/fulfil', body);
  status(t('fulfilled') + ': ' + r.id);
  await loadRequests();
  await preview(r.id);
}

async function extend(id, reason) {
  await api('POST', '/admin/v1/requests/' + encodeURIComponent(id) + '/extend', { reason });
  status(t('extended') + ': ' + id);
  await loadRequests();
}

async function showNotice(id) {
  const html = await (await api('GET', '/admin/v1/requests/' + encodeURIComponent(id) + '/extension-notice')).text();
  $('#report-box').hidden = false;
  $('#report-frame').srcdoc = html;
}

async function noticeSent(id) {
  await api('POST', '/admin/v1/requests/' + encodeURIComponent(id) + '/extension-notice');
  status(t('notice_recorded') + ': ' + id);
  await loadRequests();
}

async function preview(id) {
  const html = await (await api('GET', '/admin/v1/requests/' + encodeURIComponent(id) + '/report?format=html')).text();
  $('#report-box').hidden = false;
  $('#report-frame').srcdoc = html;
}

async function newRequest(ev) {
  ev.preventDefault();
  const r = await (await api('POST', '/admin/v1/requests', {
    type: $('#nr-type').value, regime: $('#nr-regime').value, subject: { email: $('#nr-email').value },
  })).json();
  status(t('created') + ': ' + r.id);
  $('#nr-email').value = '';
  await loadRequests();
}

// ---- consents -----------------------------------------------------------------------------
function sparkline(daily) {
  const w = 180, h = 36, n = daily.length;
  const max = Math.max(1, ...daily.map((d) => Math.max(d.granted, d.withdrawn + d.objected)));
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('class', 'trend'); svg.setAttribute('width', w); svg.setAttribute('height', h);
  const bw = w / n;
  daily.forEach((d, i) => {
    const bar = (v, color, dx) => {
      if (!v) return;
      const r = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
      const bh = Math.max(1, (v / max) * (h - 2));
      r.setAttribute('x', i * bw + dx); r.setAttribute('y', h - bh);
      r.setAttribute('width', Math.max(1, bw / 2 - 0.5)); r.setAttribute('height', bh);
      r.setAttribute('fill', color);
      const title = document.createElementNS('http://www.w3.org/2000/svg', 'title');
      title.textContent = d.date + ': ' + v;
      r.append(title);
      svg.append(r);
    };
    bar(d.granted, '#1b7f3b', 0);
    bar(d.withdrawn + d.objected, '#b00020', bw / 2);
  });
  return svg;
}

async function loadConsents() {
  const { purposes } = await getJson('/admin/v1/consents?days=30');
  const body = $('#consent-table tbody');
  body.replaceChildren();
  for (const p of purposes) {
    body.append(el('tr', { 'data-purpose': p.purpose },
      el('td', {}, p.purpose), el('td', {}, tv('basis_', p.legal_basis)), el('td', { class: 'ok' }, String(p.granted)),
      el('td', { class: p.withdrawn + p.objected ? 'error' : '' }, String(p.withdrawn + p.objected)),
      el('td', {}, sparkline(p.daily))));
  }
}

// ---- register -----------------------------------------------------------------------------
async function showRegister() {
  const view = $('#reg-view').value;
  const html = await (await api('GET', '/admin/v1/register?format=html&view=' + view)).text();
  $('#register-frame').srcdoc = html;
}
async function exportRegister(format) {
  const view = $('#reg-view').value;
  const day = legalToday();
  await download('/admin/v1/register?view=' + view + '&format=' + format, 'register-' + view + '-' + day + '.' + format);
  status(t('done'));
}

// ---- breaches -----------------------------------------------------------------------------
const NEXT = { open: ['notified-24h', 'notified-72h', 'closed'], 'notified-24h': ['notified-72h', 'closed'], 'notified-72h': ['closed'], closed: [] };

async function loadBreaches() {
  const { items } = await getJson('/admin/v1/breaches');
  const list = $('#breach-list');
  list.replaceChildren();
  if (!items.length) list.append(el('p', { class: 'muted' }, t('no_items')));
  for (const b of items) {
    const clocks = b.clocks.map((c) => {
      const cls = c.met_at ? (c.late ? 'clock late' : 'clock met') : (c.overdue ? 'clock overdue' : 'clock');
      const label = c.id.replace('_', ' ') + ' · ' + fmtTime(c.due_at) + ' · ';
      const state = c.met_at ? el('span', {}, c.late ? t('clock_late') : t('clock_met'))
        : (b.state === 'closed' ? el('span', {}, '—') : el('span', { 'data-due': c.due_at }));
      return el('span', { class: cls, 'data-clock': c.id, title: c.law }, label, state);
    });
    const note = el('input', { placeholder: t('note'), size: 24 });
    const moves = NEXT[b.state].map((s) => el('button', { 'data-breach-state': s, onclick: guard(async () => {
      await api('POST', '/admin/v1/breaches/' + encodeURIComponent(b.id) + '/state', note.value ? { state: s, note: note.value } : { state: s });
      await loadBreaches();
    }) }, t('next_state') + ': ' + tv('bst_', s)));
    const has = (prefix) => b.clocks.some((c) => c.id.startsWith(prefix));
    const notices = [['fz152', '24h', 'fz152_'], ['fz152', '72h', 'fz152_'], ['gossopka', '24h', 'gossopka_'], ['gossopka', '72h', 'gossopka_'], ['gdpr', '72h', 'gdpr_']]
      .filter(([, , prefix]) => has(prefix))
      .concat(b.subjects_notice.required ? [['gdpr', 'subjects']] : [])
      .map(([r, s]) => el('button', { onclick: guard(async () => {
        const html = await (await api('GET', '/admin/v1/breaches/' + encodeURIComponent(b.id) + '/notice?format=html&regime=' + r + '&stage=' + s)).text();
        const f = $('#notice-frame'); f.hidden = false; f.srcdoc = html;
      }) }, t('notice') + ' ' + r + ' ' + s));
    // GosSOPKA's notices and the subjects' letter are recorded apart from the state moves.
    const unsent = b.clocks.filter((c) => c.id.startsWith('gossopka_') && !c.met_at).map((c) => c.id)
      .concat(b.subjects_notice.pending ? ['subjects'] : []);
    const sends = unsent.map((n) => el('button', { 'data-breach-sent': n, onclick: guard(async () => {
      await api('POST', '/admin/v1/breaches/' + encodeURIComponent(b.id) + '/sent', { notice: n });
      await loadBreaches();
    }) }, t('record_sent') + ': ' + n.replace('_', ' ')));
    list.append(el('div', { class: 'card', 'data-breach': b.id },
      el('b', { class: 'state' }, tv('bst_', b.state)), ' · ', fmtTime(b.detected_at), ' · ', b.categories.join(', '),
      el('div', {}, b.description),
      el('div', { class: 'muted' }, t('estimate') + ': ' + b.estimate.subjects + ' ' + t('subjects') + ', ' + b.estimate.records + ' ' + t('records')),
      el('div', {}, clocks),
      b.subjects_notice.pending ? el('div', { class: 'clock overdue' }, t('subjects_pending')) : '',
      b.state === 'closed' ? '' : el('div', { class: 'inline' }, note, moves),
      el('div', { class: 'inline' }, notices, sends)));
  }
  tick();
}

async function newBreach(ev) {
  ev.preventDefault();
  const detected = $('#nb-detected').value;
  await api('POST', '/admin/v1/breaches', {
    categories: $('#nb-categories').value.split(',').map((s) => s.trim()).filter(Boolean),
    description: $('#nb-description').value,
    detected_at: detected ? new Date(detected).toISOString() : undefined,
  });
  $('#nb-description').value = '';
  await loadBreaches();
}

// ---- audit --------------------------------------------------------------------------------
function auditQuery(format) {
  const q = new URLSearchParams({ format });
  const since = $('#audit-since').value, until = $('#audit-until').value;
  if (since) q.set('since', new Date(since).toISOString());
  if (until) q.set('until', new Date(until).toISOString());
  return '/admin/v1/audit?' + q;
}

async function searchAudit(ev) {
  if (ev) ev.preventDefault();
  const text = await (await api('GET', auditQuery('jsonl'))).text();
  const rows = text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const kinds = [...new Set(rows.map((r) => r.kind))].sort();
  const sel = $('#audit-kind');
  const keep = sel.value;
  sel.replaceChildren(el('option', { value: '' }, t('any')), ...kinds.map((k) => el('option', { value: k }, k)));
  sel.value = kinds.includes(keep) ? keep : '';
  const shown = rows.filter((r) => !sel.value || r.kind === sel.value).reverse().slice(0, 500);
  const body = $('#audit-table tbody');
  body.replaceChildren(...shown.map((r) => {
    const ev = Object.assign({}, r.entry.event);
    delete ev.type;
    return el('tr', { 'data-kind': r.kind }, el('td', {}, fmtTime(new Date(r.at).toISOString())), el('td', {}, r.kind),
      el('td', {}, el('code', {}, JSON.stringify(ev))));
  }));
  $('#audit-count').textContent = shown.length + ' / ' + rows.length + ' ' + t('entries');
}

// ---- discovery ----------------------------------------------------------------------------
async function loadDiscovery() {
  const d = await getJson('/admin/v1/discovery');
  $('#discovery-state').textContent = d.enabled ? t('discovery_on') : t('discovery_off');
  $('#discovery-table tbody').replaceChildren(...d.items.map((f) => el('tr', {},
    el('td', {}, f.method), el('td', {}, el('code', {}, f.path)), el('td', {}, f.kinds.join(', ')),
    el('td', {}, String(f.count)), el('td', {}, fmtTime(f.first_seen)), el('td', {}, fmtTime(f.last_seen)),
    el('td', { class: f.status === 'undeclared' ? 'error' : 'ok' }, t('flow_' + f.status)))));
}

// ---- retention ----------------------------------------------------------------------------
let acts = { sweep: null, next: null };

async function loadSweeps() {
  const { sweeps } = await getJson('/admin/v1/sweeps');
  const body = $('#sweep-table tbody');
  body.replaceChildren();
  if (!sweeps.length) body.append(el('tr', {}, el('td', { colspan: 5, class: 'muted' }, t('no_items'))));
  for (const s of sweeps) {
    body.append(el('tr', { 'data-sweep': s.id },
      el('td', {}, s.finished_at ? fmtTime(s.finished_at) : t('sweep_' + s.status), el('div', { class: 'muted' }, s.id)),
      el('td', {}, String(s.subjects_erased)), el('td', {}, String(s.values_erased)),
      el('td', {}, String(s.subjects_restricted)),
      el('td', { class: 'actions' }, el('button', { 'data-action': 'acts', onclick: guard(() => loadActs(s.id, false)) }, t('acts')))));
  }
  $('#act-list').replaceChildren();
  $('#acts-more').hidden = true;
  await loadWithdrawals();
}

// The thirty-day clocks withdrawals started: overdue first.
async function loadWithdrawals() {
  const { clocks } = await getJson('/admin/v1/withdrawals');
  const body = $('#withdrawal-table tbody');
  body.replaceChildren();
  if (!clocks.length) body.append(el('tr', {}, el('td', { colspan: 6, class: 'muted' }, t('no_items'))));
  for (const c of clocks) {
    body.append(el('tr', { 'data-clock': c.state },
      el('td', {}, c.subject), el('td', {}, c.purpose), el('td', {}, fmtTime(c.ended_at)),
      el('td', {}, fmtTime(c.due_at)), el('td', {}, String(c.values_left)),
      el('td', { class: c.state === 'overdue' ? 'overdue' : 'ok' }, t('clock_' + c.state))));
  }
}

// One page of a sweep's acts; `more` appends the next page to the list.
async function loadActs(sweep, more) {
  const q = new URLSearchParams({ limit: '20' });
  if (more && acts.next) q.set('after', acts.next);
  const page = await getJson('/admin/v1/sweeps/' + encodeURIComponent(sweep) + '/acts?' + q);
  acts = { sweep, next: page.next };
  const list = $('#act-list');
  if (!more) list.replaceChildren();
  if (!more && !page.acts.length) list.append(el('p', { class: 'muted' }, t('no_acts')));
  for (const a of page.acts) {
    // Acts stored before one act per slice name a single `subject`.
    const subjects = a.subjects || (a.subject ? [a.subject] : []);
    const held = a.held || [];
    list.append(el('div', { class: 'card', 'data-act': a.act_id },
      el('b', {}, a.act_id), ' · ', fmtTime(a.destroyed_at), ' · ',
      t('col_subjects_erased') + ': ' + subjects.length + ' · ' + t('col_values_erased') + ': ' + a.values_destroyed,
      el('div', {}, (a.categories || []).map((c) => c.name).join(', ')),
      held.length ? el('div', { class: 'muted' }, t('held') + ': ' + held.map((h) => h.category + ' (' + h.basis + ')').join(', ')) : '',
      el('details', {}, el('summary', {}, t('act_json')), el('pre', {}, JSON.stringify(a, null, 2)))));
  }
  $('#acts-more').hidden = !page.next;
}

// ---- shell --------------------------------------------------------------------------------
const LOADERS = { requests: loadRequests, consents: loadConsents, register: showRegister, breaches: loadBreaches, retention: loadSweeps, audit: searchAudit, discovery: loadDiscovery };

async function show(tab) {
  $$('.tab').forEach((s) => { s.hidden = s.id !== tab; });
  $$('#tabs button').forEach((b) => b.classList.toggle('active', b.dataset.tab === tab));
  location.hash = tab;
  status('');
  await guard(LOADERS[tab])();
}

function signedIn(yes) {
  $('#login').hidden = yes;
  $('#tabs').hidden = !yes;
  $('#logout').hidden = !yes;
  if (!yes) $$('.tab').forEach((s) => { s.hidden = true; });
}

function logout() {
  sessionStorage.removeItem('pdgate.token');
  signedIn(false);
}

async function login(ev) {
  ev.preventDefault();
  sessionStorage.setItem('pdgate.token', $('#token').value.trim());
  const r = await fetch('/admin/v1/requests?status=open', { headers: { Authorization: 'Bearer ' + token() } });
  if (!r.ok) {
    sessionStorage.removeItem('pdgate.token');
    $('#login-error').textContent = t('login_bad') + ' (' + r.status + ')';
    return;
  }
  $('#login-error').textContent = '';
  $('#token').value = '';
  signedIn(true);
  await show((location.hash || '#requests').slice(1) in LOADERS ? location.hash.slice(1) || 'requests' : 'requests');
}

document.addEventListener('DOMContentLoaded', () => {
  applyLang();
  $('#lang').addEventListener('change', () => {
    lang = $('#lang').value;
    localStorage.setItem('pdgate.lang', lang);
    applyLang();
    const active = $('#tabs button.active');
    if (active && token()) show(active.dataset.tab);
  });
  $('#login-form').addEventListener('submit', guard(login));
  $('#logout').addEventListener('click', logout);
  $$('#tabs button').forEach((b) => b.addEventListener('click', () => show(b.dataset.tab)));
  $('#new-request').addEventListener('submit', guard(newRequest));
  $('#only-open').addEventListener('change', guard(loadRequests));
  $('#reg-show').addEventListener('click', guard(showRegister));
  $$('.reg-export').forEach((b) => b.addEventListener('click', guard(() => exportRegister(b.dataset.format))));
  $('#new-breach').addEventListener('submit', guard(newBreach));
  $('#acts-more').addEventListener('click', guard(() => loadActs(acts.sweep, true)));
  $('#audit-form').addEventListener('submit', guard(searchAudit));
  $('#audit-kind').addEventListener('change', guard(() => searchAudit()));
  $$('.audit-export').forEach((b) => b.addEventListener('click', guard(() =>
    download(auditQuery(b.dataset.format), 'audit.' + b.dataset.format))));
  setInterval(tick, 1000);
  if (token()) {
    signedIn(true);
    const tab = location.hash.slice(1);
    show(tab in LOADERS ? tab : 'requests');
  } else {
    signedIn(false);
  }
});
