// Shared by every page: language (中文 first, English switch), the signed-in person,
// calls to the services through the portal, live updates, and small helpers.
"use strict";

const I18N = {
  zh: {
    app: "基层社会治理平台", signin: "登录", signout: "退出", lang: "English",
    pick_identity: "选择演示身份登录", signed_in_as: "当前用户",
    nav_report: "网格上报", nav_hotline: "12345热线", nav_inbox: "部门待办",
    nav_review: "疑似重复", nav_casefile: "案件档案", nav_dashboard: "领导驾驶舱",
    category: "问题类别", title: "标题", description: "问题描述", place: "位置",
    pick_on_map: "在网格地图上点击选择位置", picked: "已选位置", photos: "现场照片",
    submit: "提交", submitted: "已提交", case_id: "案件编号", status: "状态",
    caller_phone: "来电号码", caller_name: "来电人", work_order: "工单编号",
    address: "地址描述", hotline_title: "12345热线转办登记", report_title: "网格员上报",
    inbox_title: "部门待办", sign_for: "签收", return: "退单", extension: "申请延期",
    handle: "办结", reason: "理由", days: "工作日", result: "处置结果", due: "期限",
    review_title: "疑似重复件审核", merge: "合并", keep_separate: "不是重复",
    no_items: "暂无数据", casefile_title: "案件档案（一件一档）", timeline: "时间线",
    time_travel: "时间回溯", as_of: "截至", verify: "校验档案", verified_ok: "档案完整，校验通过",
    verified_bad: "档案校验失败", dashboard_title: "领导驾驶舱", total: "案件总数",
    open: "在办", overdue: "超期", closed: "已结案", satisfaction: "满意度",
    density: "网格案件密度", trend: "趋势", by_day: "按日", by_week: "按周",
    category_rank: "类别排行", department_board: "部门评分", department: "部门",
    closure_rate: "结案率", on_time_rate: "按期结案率", hotspots: "热点预警",
    observed: "本期", expected: "预期", suggested_action: "建议措施", live: "实时",
    overdue_list: "超期案件", reported: "上报", search_case: "输入案件编号",
    open_case: "打开", cases: "案件列表", area: "区域", channel: "渠道", urgency: "紧急程度",
    refresh: "刷新", error: "出错了", required: "必填", now: "现在",
    children: "下级区域", days_window: "近7天", none_found: "未发现异常聚集",
    nav_evaluation: "跟踪问效",
    merged_cases: "已合并来件的案件", show_reports: "查看来件", hide_reports: "收起",
    first_report: "首报", split: "拆分为独立案件", split_remark: "拆分理由（选填）",
    split_done: "已拆分为独立案件", now_case: "现为案件",
    notices: "督办", issue_notice: "发出督办", notice_reason: "督办事项（要求部门回复）",
    respond_by: "回复期限", respond_by_hint: "不填则默认8个工作小时",
    notice_waiting: "待回复", notice_answered: "已回复", notice_overdue: "逾期未复",
    notice_late: "逾期回复", notice_issued: "已发出督办", response: "回复", no_notices: "暂无督办",
    answer_notice: "回复督办", notices_answered: "最近已回复",
    archive_export: "档案导出", print_html: "打印版（HTML）", download_pdf: "下载PDF",
    no_photos: "无现场照片",
    evaluation_title: "跟踪问效（解决质量评价）", by_department: "按部门", by_area: "按区域",
    level: "层级", lvl_2: "区县", lvl_3: "镇街", lvl_4: "村社区", lvl_5: "网格",
    score: "质量得分", response_rate: "响应率", on_time_closure_rate: "按期结案率",
    resolution_rate: "解决率", satisfaction_rate: "满意率", reopen_rate: "重办率",
    misrouted_return_rate: "退单率", overdue_count: "超期数", average_overrun_hours: "平均超时(工时)",
    volume_cases: "案件数（不计分）",
    eval_note: "只评价解决质量，不考核上报数量。",
  },
  en: {
    app: "Grassroots Governance Platform", signin: "Sign in", signout: "Sign out", lang: "中文",
    pick_identity: "Pick a demo identity", signed_in_as: "Signed in as",
    nav_report: "Grid report", nav_hotline: "12345 hotline", nav_inbox: "Dept. inbox",
    nav_review: "Duplicates", nav_casefile: "Case file", nav_dashboard: "Dashboard",
    category: "Category", title: "Title", description: "Description", place: "Place",
    pick_on_map: "Tap the grid map to pick the place", picked: "Picked", photos: "Photos",
    submit: "Submit", submitted: "Submitted", case_id: "Case id", status: "Status",
    caller_phone: "Caller's phone", caller_name: "Caller", work_order: "Work order no.",
    address: "Address", hotline_title: "12345 hotline transfer", report_title: "Grid worker's report",
    inbox_title: "Department inbox", sign_for: "Sign for", return: "Return", extension: "Extension",
    handle: "Handled", reason: "Reason", days: "Working days", result: "Result", due: "Due",
    review_title: "Possible duplicates", merge: "Merge", keep_separate: "Not a duplicate",
    no_items: "Nothing here", casefile_title: "Case file", timeline: "Timeline",
    time_travel: "Time travel", as_of: "As of", verify: "Verify file", verified_ok: "File intact: verified",
    verified_bad: "File verification failed", dashboard_title: "Leaders' dashboard", total: "Cases",
    open: "Open", overdue: "Overdue", closed: "Closed", satisfaction: "Satisfaction",
    density: "Case density by grid", trend: "Trend", by_day: "Daily", by_week: "Weekly",
    category_rank: "Top categories", department_board: "Department scoreboard", department: "Department",
    closure_rate: "Closure rate", on_time_rate: "On-time rate", hotspots: "Hotspots",
    observed: "Observed", expected: "Expected", suggested_action: "Suggested action", live: "Live",
    overdue_list: "Overdue cases", reported: "Reported", search_case: "Case id",
    open_case: "Open", cases: "Cases", area: "Area", channel: "Channel", urgency: "Urgency",
    refresh: "Refresh", error: "Error", required: "required", now: "Now",
    children: "Areas below", days_window: "last 7 days", none_found: "No unusual concentration",
    nav_evaluation: "Evaluation",
    merged_cases: "Cases with merged reports", show_reports: "Show reports", hide_reports: "Hide",
    first_report: "First report", split: "Split out", split_remark: "Why (optional)",
    split_done: "Split out as a case of its own", now_case: "now case",
    notices: "Supervision notices", issue_notice: "Issue notice", notice_reason: "What the department must answer",
    respond_by: "Respond by", respond_by_hint: "Empty: 8 working hours",
    notice_waiting: "Awaiting response", notice_answered: "Answered", notice_overdue: "Overdue, unanswered",
    notice_late: "Answered late", notice_issued: "Notice issued", response: "Response", no_notices: "No notices",
    answer_notice: "Answer notice", notices_answered: "Recently answered",
    archive_export: "Archive export", print_html: "Printable (HTML)", download_pdf: "Download PDF",
    no_photos: "No photos",
    evaluation_title: "Evaluation by quality", by_department: "By department", by_area: "By area",
    level: "Level", lvl_2: "District", lvl_3: "Town", lvl_4: "Village", lvl_5: "Grid",
    score: "Quality score", response_rate: "Response rate", on_time_closure_rate: "On-time closure",
    resolution_rate: "Resolution rate", satisfaction_rate: "Satisfaction rate", reopen_rate: "Reopen rate",
    misrouted_return_rate: "Return rate", overdue_count: "Overdue", average_overrun_hours: "Avg. overrun (working h)",
    volume_cases: "Cases (not scored)",
    eval_note: "Scored on the quality of resolution, never on the number of reports.",
  },
};

const STATUS = {
  reported: ["已上报", "Reported"], registered: ["已立案", "Registered"],
  dispatched: ["已派单", "Dispatched"], signed_for: ["已签收", "Signed for"],
  returned: ["已退单", "Returned"], handled: ["已办结", "Handled"],
  verified: ["已核查", "Verified"], closed: ["已结案", "Closed"], evaluated: ["已评价", "Evaluated"],
};
const CHANNELS = {
  grid_app: ["网格上报", "Grid app"], inspection: ["部门巡查", "Inspection"],
  hotline_12345: ["12345热线", "12345 hotline"], police: ["公安警情", "Police"],
  petition: ["信访转办", "Petition"], open311: ["Open311", "Open311"], import: ["导入", "Import"],
};

const G = {
  lang: localStorage.getItem("gov.lang") || "zh",
  categories: {}, departments: {}, renderers: [],
};

function t(key) { return (I18N[G.lang] || I18N.zh)[key] || key; }
function pick(pair) { return pair ? pair[G.lang === "zh" ? 0 : 1] : ""; }
function statusName(s) { return pick(STATUS[s]) || s || ""; }
function channelName(c) { return pick(CHANNELS[c]) || c || ""; }
function categoryName(code) {
  const c = G.categories[code];
  return c ? (G.lang === "zh" ? c.name_zh : c.name_en) : (code || "");
}
function departmentName(code) {
  const d = G.departments[code];
  return d ? (G.lang === "zh" ? d.name_zh : d.name_en) : (code || "");
}
function placeName(p) { return p ? (G.lang === "zh" ? p.name_zh : p.name_en) || p.code : ""; }

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString(G.lang === "zh" ? "zh-CN" : "en-GB", { hour12: false,
    timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit" });
}
function pct(x) { return x === null || x === undefined ? "–" : (x * 100).toFixed(1) + "%"; }

// -- the signed-in person ------------------------------------------------------------------
function session() {
  try { return JSON.parse(localStorage.getItem("gov.session") || "null"); } catch { return null; }
}
function requireSession() {
  const s = session();
  if (!s) { location.href = "index.html"; throw new Error("not signed in"); }
  return s;
}
function signOut() { localStorage.removeItem("gov.session"); location.href = "index.html"; }

// -- the services, through the portal ------------------------------------------------------
class ApiError extends Error {
  constructor(status, detail) { super(typeof detail === "string" ? detail : JSON.stringify(detail)); this.status = status; this.detail = detail; }
}

async function api(service, path, { method = "GET", body, form } = {}) {
  const s = session();
  const headers = {};
  if (s) headers.Authorization = "Bearer " + s.token;
  let payload;
  if (form) payload = form;
  else if (body !== undefined) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
  const r = await fetch(`/api/${service}${path}`, { method, headers, body: payload });
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (r.status === 401) { signOut(); }
  if (!r.ok) throw new ApiError(r.status, (data && (data.detail || data)) || r.statusText);
  return data;
}

// A file from a service (photo, printed archive): the token goes in a header, so a plain
// link cannot fetch it; the page gets it as a blob and hands the browser an object URL.
async function apiBlob(service, path) {
  const s = session();
  const r = await fetch(`/api/${service}${path}`, { headers: s ? { Authorization: "Bearer " + s.token } : {} });
  if (r.status === 401) signOut();
  if (!r.ok) {
    const text = await r.text();
    let detail = text;
    try { detail = JSON.parse(text).detail || text; } catch { /* not JSON */ }
    throw new ApiError(r.status, detail);
  }
  return r.blob();
}

function describeError(e) {
  if (!(e instanceof ApiError)) return String(e);
  const d = e.detail;
  if (Array.isArray(d)) return d.map((x) => `${(x.loc || []).slice(1).join(".")}: ${x.msg}`).join("; ");
  if (d && d.rule) return `${d.rule}: ${d.detail}`;
  return `${e.status}: ${e.message}`;
}

// Server-sent events from the projections, read with fetch so the token goes in a header.
function live(onChange) {
  const s = session();
  if (!s) return;
  let stopped = false;
  const dot = document.querySelector("#live");
  async function connect() {
    while (!stopped) {
      try {
        const r = await fetch("/api/projections/stream", {
          headers: { Authorization: "Bearer " + s.token, Accept: "text/event-stream" } });
        if (!r.ok || !r.body) throw new Error("stream " + r.status);
        if (dot) dot.classList.add("on");
        const reader = r.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        let subscribed = false;
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            // The server's first block says the subscription is open: what changed before it
            // (between the page's first load and now, or while reconnecting) is fetched again.
            if (!subscribed) { subscribed = true; onChange([]); }
            const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
            if (data) { try { onChange(JSON.parse(data).changes || []); } catch (e) { console.warn(e); } }
          }
        }
      } catch (e) { console.warn("live updates:", e.message); }
      if (dot) dot.classList.remove("on");
      await new Promise((ok) => setTimeout(ok, 2000));
    }
  }
  connect();
  return () => { stopped = true; };
}

function debounce(fn, ms) {
  let timer = null;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

function toast(message, kind = "ok") {
  const box = el("div", { class: `toast ${kind}`, role: "status" }, message);
  document.body.append(box);
  setTimeout(() => box.remove(), 6000);
}

// -- page frame ----------------------------------------------------------------------------
const NAV = [
  ["report.html", "nav_report"], ["hotline.html", "nav_hotline"], ["inbox.html", "nav_inbox"],
  ["review.html", "nav_review"], ["casefile.html", "nav_casefile"], ["dashboard.html", "nav_dashboard"],
  ["evaluation.html", "nav_evaluation"],
];

function applyI18n() {
  document.documentElement.lang = G.lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((n) => { n.textContent = t(n.dataset.i18n); });
  document.querySelectorAll("[data-i18n-ph]").forEach((n) => { n.placeholder = t(n.dataset.i18nPh); });
  document.title = `${t(document.body.dataset.title || "app")} · ${t("app")}`;
}

function header() {
  const s = session();
  const here = location.pathname.split("/").pop() || "index.html";
  const bar = el("header", { class: "bar" },
    el("a", { class: "brand", href: s ? s.identity.home : "index.html", "data-i18n": "app" }),
    el("nav", {}, s ? NAV.map(([href, key]) => el("a", { href, class: href === here ? "here" : "", "data-i18n": key })) : []),
    el("div", { class: "who" },
      el("span", { id: "live", title: "live" }),
      s ? el("span", { class: "name" }, s.identity.name) : null,
      el("button", { id: "lang", type: "button", onclick: switchLanguage, "data-i18n": "lang" }),
      s ? el("button", { id: "signout", type: "button", onclick: signOut, "data-i18n": "signout" }) : null));
  document.body.prepend(bar);
}

function switchLanguage() {
  G.lang = G.lang === "zh" ? "en" : "zh";
  localStorage.setItem("gov.lang", G.lang);
  applyI18n();
  G.renderers.forEach((fn) => fn());
}

function onLanguage(fn) { G.renderers.push(fn); }

async function loadReference() {
  const [cats, depts] = await Promise.all([
    fetch("/api/intake/categories").then((r) => (r.ok ? r.json() : [])).catch(() => []),
    fetch("/ref/departments").then((r) => r.json()),
  ]);
  cats.forEach((c) => { G.categories[c.code] = c; });
  depts.forEach((d) => { G.departments[d.code] = d; });
}

async function page(init) {
  header();
  applyI18n();
  await loadReference();
  try { await init(); } catch (e) { console.error(e); toast(describeError(e), "bad"); }
  applyI18n();
  document.body.dataset.ready = "1";
}
