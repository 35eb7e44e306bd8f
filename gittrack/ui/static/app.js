// gittrack ui: runs table, run page, compare view and models, over /ui/api.
// Plain JavaScript, no build step. Every value from a run is inserted as text, never HTML.
"use strict";

const TOKEN = document.querySelector('meta[name="gittrack-token"]').content;
// the charting libraries' addresses name the installed files: cached for good
const UPLOT_URL = document.querySelector('meta[name="gittrack-uplot"]').content;
const PLOTLY_URL = document.querySelector('meta[name="gittrack-plotly"]').content;
const PAGE_SIZE = 50;
const POLL_MS = 3000;
const NOTE_TAG = "mlflow.note.content";
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#17becf"];
let pollTimer = null;
let viewSeq = 0;

// -- helpers ---------------------------------------------------------------------------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(path, options) {
  const opts = Object.assign({headers: {}}, options || {});
  if (opts.method && opts.method !== "GET") {
    opts.headers["X-Gittrack-Token"] = TOKEN;
    opts.headers["Content-Type"] = "application/json";
  }
  const resp = await fetch(path, opts);
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new ApiError(resp.status, data.error_code, data.message || resp.statusText);
  return data;
}

function qs(params) {
  const parts = [];
  for (const [k, v] of Object.entries(params)) {
    for (const item of Array.isArray(v) ? v : [v]) {
      if (item !== undefined && item !== null && item !== "")
        parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(item));
    }
  }
  return parts.join("&");
}

// digits 0: every digit (the shortest text that reads back as the same number)
function fmtNum(v, digits) {
  if (typeof v !== "number") return v === null || v === undefined ? "" : String(v);
  if (Number.isInteger(v) || digits === 0) return String(v);
  const a = Math.abs(v), d = digits || 6;
  return a !== 0 && (a < 1e-4 || a >= 1e6) ? v.toExponential(d - 2) : String(+v.toPrecision(d));
}
// numbers, and text that reads as one (params come as the text logged), align right
function numClass(v) {
  return typeof v === "number" || (typeof v === "string" && v.trim() !== "" && !isNaN(Number(v))) ? "num" : "";
}
function fmtTime(ms) {
  if (!ms) return "";
  const d = new Date(ms), p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
function fmtDuration(start, end, status) {
  if (!start) return "";
  const stop = end || (status === "RUNNING" ? Date.now() : null);
  if (!stop) return "";
  let s = Math.max(0, Math.round((stop - start) / 1000));
  const hrs = Math.floor(s / 3600); s -= hrs * 3600;
  const min = Math.floor(s / 60); s -= min * 60;
  return hrs ? `${hrs}h${String(min).padStart(2, "0")}m` : min ? `${min}m${String(s).padStart(2, "0")}s` : `${s}s`;
}
function fmtSize(n) {
  if (n < 1024) return n + " B";
  const units = ["KiB", "MiB", "GiB"]; let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < units.length - 1);
  return n.toFixed(1) + " " + units[i];
}
function status(text, isError) {
  const el = document.getElementById("status");
  el.textContent = text || "";
  el.className = "status" + (isError ? " error" : "");
}
function badge(s) { return h("span", {class: "badge " + String(s).toLowerCase(), text: s}); }
function runLink(id, label) { return h("a", {href: "#/run/" + id, text: label || id.slice(0, 8)}); }
function quoteKey(key) { return /^[\w.\-\/:]+$/.test(key) ? key : "`" + key.replace(/`/g, "") + "`"; }
function stop() { if (pollTimer) { clearTimeout(pollTimer); pollTimer = null; } }
function store(key, value) {
  if (value === undefined) { try { return JSON.parse(localStorage.getItem("gittrack." + key)); } catch (e) { return null; } }
  localStorage.setItem("gittrack." + key, JSON.stringify(value));
}

// The charting libraries, each loaded once, when a page first draws with it: uPlot (120 KB)
// draws the metric lines, Plotly.js (4.8 MB, about a second to set up on a first visit)
// the parallel coordinates and the scatter, further down the compare page.
const loaded = {};
function library(url, name) {
  if (!loaded[url]) {
    loaded[url] = new Promise((resolve, reject) => {
      const s = h("script", {src: url});
      s.onload = () => resolve(window[name]);
      s.onerror = () => { delete loaded[url]; reject(new Error("the charting library could not be loaded (pip install 'gittrack[ui]')")); };
      document.head.append(s);
    });
  }
  return loaded[url];
}
function uplot() { return library(UPLOT_URL, "uPlot"); }
function plotly() { return library(PLOTLY_URL, "Plotly"); }
const PLOT_CONFIG = {displaylogo: false, responsive: true};
function baseLayout(title) {
  return {title: {text: title, font: {size: 14}}, margin: {l: 55, r: 15, t: 36, b: 40}, height: 300,
    showlegend: false, hovermode: "closest", font: {family: "system-ui, sans-serif", size: 11}};
}

// -- router ------------------------------------------------------------------------------
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query] = raw.split("?");
  const params = new URLSearchParams(query || "");
  return {parts: path.split("/").filter(Boolean).map(decodeURIComponent), params};
}

async function route() {
  stop();
  viewSeq++;
  status("");
  const {parts, params} = parseHash();
  const main = document.getElementById("main");
  main.querySelectorAll(".chart").forEach(d => d.uplot?.destroy());  // their listeners go too
  main.replaceChildren();
  main.removeAttribute("data-ready");
  const nav = parts[0] === "models" ? "models" : "runs";
  document.querySelectorAll("[data-nav]").forEach(a => a.classList.toggle("active", a.dataset.nav === nav));
  try {
    if (parts[0] === "run" && parts[1]) await runPage(main, parts[1], params.get("tab") || "overview");
    else if (parts[0] === "compare") await comparePage(main, (params.get("runs") || "").split(",").filter(Boolean));
    else if (parts[0] === "models") await modelsPage(main);
    else await runsPage(main, params);
  } catch (e) {
    main.append(h("p", {class: "error", text: e.message}));
  }
  main.setAttribute("data-ready", location.hash);  // the page is drawn (tests wait for it)
}
window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", route);

// -- runs page ---------------------------------------------------------------------------
const ATTR_COLUMNS = [
  {id: "name", label: "Run", order: "attributes.run_name"},
  {id: "status", label: "Status", order: "attributes.status"},
  {id: "experiment", label: "Experiment", order: "attributes.experiment"},
  {id: "start_time", label: "Started", order: "attributes.start_time"},
  {id: "duration", label: "Duration", order: null},
  {id: "user", label: "User", order: "attributes.user_id"},
  {id: "code_commit", label: "Commit", order: null},
];

async function runsPage(main, params) {
  const seq = viewSeq;
  const state = {
    experiment: params.get("experiment") || "",
    filter: params.get("filter") || "",
    order: params.get("order") || "",
    offset: parseInt(params.get("offset") || "0", 10) || 0,
    lifecycle: params.get("state") === "deleted" ? "deleted" : "",  // MLflow's "State": active or deleted
    selected: new Set(store("selected") || []),
  };
  const side = h("aside", {class: "experiments"}, h("h3", {text: "Experiments"}));
  const filterBox = h("input", {type: "search", id: "filter", class: "filter", spellcheck: "false",
    placeholder: "metrics.rmse < 0.8 and params.model = 'cnn'", value: state.filter});
  const filterError = h("div", {class: "filter-error", id: "filter-error", role: "alert"});
  const compareBtn = h("button", {type: "button", id: "compare", class: "primary", onclick: () => {
    location.hash = "#/compare?runs=" + [...state.selected].join(",");
  }});
  const clearBtn = h("button", {type: "button", id: "clear-selection", onclick: () => { state.selected.clear(); saveSel(); load(false); }}, "Clear selection");
  // the runs shown as deleted in this view: Restore acts on the selected ones among them
  const deletedSeen = new Set();
  const restorable = () => [...state.selected].filter(id => deletedSeen.has(id));
  const stateBox = h("select", {id: "state", title: "State: active runs, or those deleted (which can be restored)", onchange: () => {
    state.lifecycle = stateBox.value; state.offset = 0; sync(); load(true);
    if (lastExps) drawExperiments(lastExps);
  }}, h("option", {value: "", text: "State: Active"}), h("option", {value: "deleted", text: "State: Deleted"}));
  stateBox.value = state.lifecycle;
  const restoreBtn = h("button", {type: "button", id: "restore", onclick: async () => {
    const ids = restorable();
    if (!ids.length || !confirm(`Restore ${ids.length} deleted run${ids.length > 1 ? "s" : ""}? ${ids.length > 1 ? "They come" : "It comes"} back to the runs table and can be changed again.`)) return;
    status("restoring…");
    try { for (const id of ids) await api(`/ui/api/run/${id}/restore`, {method: "POST"}); }
    catch (e) { status(e.message, true); load(false); return; }
    for (const id of ids) deletedSeen.delete(id);
    updateCompare();
    await load(false);
    status(`restored ${ids.length} run${ids.length > 1 ? "s" : ""}`);
  }});
  const colsBtn = h("button", {type: "button", id: "columns-button", onclick: () => colsPanel.classList.toggle("open")}, "Columns");
  const colsPanel = h("div", {class: "columns-panel", id: "columns-panel"});
  const table = h("table", {class: "runs", id: "runs-table"});
  const pager = h("div", {class: "pager", id: "pager"});
  const form = h("form", {class: "toolbar", onsubmit: (ev) => { ev.preventDefault(); state.filter = filterBox.value; state.offset = 0; sync(); load(true); }},
    stateBox, filterBox, h("button", {type: "submit"}, "Filter"), colsBtn, compareBtn, restoreBtn, clearBtn);
  main.append(h("div", {class: "runs-layout"}, side,
    h("section", {class: "runs-main"}, form, filterError, colsPanel, h("div", {class: "table-wrap"}, table), pager)));

  let keys = {params: [], metrics: [], tags: [], inputs: []};
  let columns = store("columns");
  let lastRows = [], inflight = 0, generation = "", shownOnce = false, lastExps = null;

  function saveSel() {
    store("selected", [...state.selected]);
    updateCompare();
  }
  function updateCompare() {
    compareBtn.textContent = `Compare (${state.selected.size})`;
    compareBtn.disabled = state.selected.size < 2;
    clearBtn.disabled = state.selected.size === 0;
    const n = restorable().length;
    restoreBtn.textContent = `Restore (${n})`;
    restoreBtn.disabled = n === 0;
    restoreBtn.hidden = state.lifecycle !== "deleted";
  }
  // each experiment, filter, sort and page the user asks for is a step of the browser's
  // history: Back and Forward retrace them (a pushState fires no hashchange, so no redraw)
  function sync() {
    const q = qs({experiment: state.experiment, state: state.lifecycle, filter: state.filter, order: state.order, offset: state.offset || ""});
    const hash = "#/" + (q ? "?" + q : "");
    if (hash !== (location.hash || "#/")) history.pushState(null, "", hash);
  }

  // the first page is asked for at once, beside the experiments and keys: without stored
  // columns the server picks the default ones (first params and metrics)
  const asked = columns;
  const expsAsked = api("/ui/api/experiments"), keysAsked = api("/ui/api/keys?" + qs({experiment: state.experiment}));
  const firstPage = await api("/ui/api/runs?" + pageQuery(asked || [], asked ? "" : "default")).catch(e => e);
  if (!columns) columns = firstPage instanceof Error ? [] : firstPage.columns;
  updateCompare();
  // the rows are drawn first; the experiments and the columns panel follow
  if (firstPage instanceof Error) showError(firstPage);
  else show(firstPage, null);
  const [exps, found] = await Promise.all([expsAsked, keysAsked]);
  keys = found;
  drawExperiments(exps);

  function drawExperiments(exps) {
    lastExps = exps;
    const counted = state.lifecycle !== "deleted";  // the counts are of active runs
    const expItem = (name, label, count, running) => h("a", {
      href: "#", class: "exp" + (state.experiment === name ? " active" : ""), "data-experiment": name,
      onclick: (ev) => { ev.preventDefault(); state.experiment = name; state.offset = 0; sync(); route(); }},
      h("span", {text: label}), counted ? h("span", {class: "count", text: count.toLocaleString() + (running ? ` · ${running} running` : "")}) : null);
    side.replaceChildren(h("h3", {text: "Experiments"}), expItem("", "All experiments", exps.reduce((n, e) => n + e.runs, 0), 0),
      ...exps.map(e => expItem(e.name, e.name, e.runs, e.running)));
  }

  const chosen = columns.join("\n");
  columns = columns.filter(c => { const [kind, ...rest] = c.split("."); return (keys[kind] || []).includes(rest.join(".")); });
  // none of the chosen columns is a key of these runs (another experiment's): the
  // server's default ones for them, the choice itself kept for the runs that have it
  let firstOwn = null;
  if (!columns.length && chosen) {
    firstOwn = await api("/ui/api/runs?" + pageQuery([], "default")).catch(e => e);
    if (!(firstOwn instanceof Error)) columns = firstOwn.columns;
  }
  buildColumnsPanel();

  function buildColumnsPanel() {
    colsPanel.replaceChildren();
    for (const kind of ["params", "metrics", "tags", "inputs"]) {
      if (!keys[kind].length) continue;
      const group = h("fieldset", {}, h("legend", {text: kind}));
      for (const k of keys[kind]) {
        const id = kind + "." + k;
        group.append(h("label", {}, h("input", {type: "checkbox", "data-column": id, checked: columns.includes(id), onchange: (ev) => {
          columns = ev.target.checked ? [...columns, id] : columns.filter(c => c !== id);
          store("columns", columns); load(false);
        }}), " " + k));
      }
      colsPanel.append(group);
    }
  }

  function orderOf(col) {
    const [key, dir] = state.order.split(/ (?=ASC$|DESC$)/);
    return key === col ? (dir || "ASC") : null;
  }
  function header() {
    const tr = h("tr", {}, h("th", {class: "sel"}, h("input", {type: "checkbox", title: "select this page", id: "select-page", onchange: (ev) => {
      for (const r of lastRows) ev.target.checked ? state.selected.add(r.run_id) : state.selected.delete(r.run_id);
      saveSel(); render(lastRows);
    }})));
    const sortable = (label, order) => {
      const dir = order ? orderOf(order) : null;
      return h("th", {class: order ? "sortable" : "", "data-order": order || "", title: order ? "sort by " + label : null, onclick: order ? () => {
        state.order = dir === "ASC" ? order + " DESC" : dir === "DESC" ? "" : order + " ASC";
        state.offset = 0; sync(); load(true);
      } : null}, label, dir ? (dir === "ASC" ? " ▲" : " ▼") : "");
    };
    for (const c of ATTR_COLUMNS) {
      const th = sortable(c.label, c.order);
      if (c.id === "name") th.classList.add("name");
      tr.append(th);
    }
    for (const c of columns) {
      const [kind, ...rest] = c.split(".");
      const key = rest.join(".");
      tr.append(sortable(key, kind === "inputs" ? null : kind + "." + quoteKey(key)));
    }
    return h("thead", {}, tr);
  }

  function render(rows) {
    lastRows = rows;
    if (state.lifecycle === "deleted") for (const r of rows) deletedSeen.add(r.run_id);
    const body = h("tbody");
    for (const r of rows) {
      const check = h("input", {type: "checkbox", class: "select", "data-run": r.run_id, checked: state.selected.has(r.run_id), onchange: (ev) => {
        ev.target.checked ? state.selected.add(r.run_id) : state.selected.delete(r.run_id); saveSel();
        const pageAll = document.getElementById("select-page");
        if (pageAll) pageAll.checked = lastRows.every(row => state.selected.has(row.run_id));
      }});
      const tr = h("tr", {"data-run": r.run_id, class: r.status === "RUNNING" ? "running" : ""},
        h("td", {class: "sel"}, check),
        h("td", {class: "name"}, runLink(r.run_id, r.name || r.run_id.slice(0, 8))),
        h("td", {}, badge(r.status)),
        h("td", {text: r.experiment}),
        h("td", {title: fmtTime(r.start_time), text: fmtTime(r.start_time).slice(0, 16)}),
        h("td", {text: fmtDuration(r.start_time, r.end_time, r.status)}),
        h("td", {text: r.user}),
        h("td", {class: "mono", title: r.code_commit ? `code commit ${r.code_commit}, run commit ${r.commit}` : null, text: (r.code_commit || "").slice(0, 8)}));
      for (const c of columns) {
        const v = r.cells[c];
        tr.append(h("td", {class: numClass(v), title: v === undefined || v === null ? null : String(v),
          text: c.startsWith("inputs.") && v ? String(v).slice(0, 19) : fmtNum(v, 4)}));  // exact in the tooltip
      }
      body.append(tr);
    }
    table.replaceChildren(header(), body);
    const pageAll = document.getElementById("select-page");
    if (pageAll) pageAll.checked = rows.length > 0 && rows.every(r => state.selected.has(r.run_id));
  }

  function pageQuery(cols, defaults) {
    return qs({filter: state.filter, order: state.order, experiment: state.experiment, state: state.lifecycle,
      offset: state.offset, limit: PAGE_SIZE, column: cols, columns: defaults});
  }
  // showTiming: after a user's action; poll: a live refresh, answered "unchanged" (a
  // few bytes) while no run changed since the rows shown
  async function load(showTiming, poll) {
    stop();
    const mine = ++inflight;
    const started = performance.now();
    let page;
    try {
      page = await api("/ui/api/runs?" + pageQuery(columns) + (poll && generation ? "&" + qs({since: generation}) : ""));
    } catch (e) {
      if (mine !== inflight || seq !== viewSeq) return;
      showError(e);
      return;
    }
    if (mine !== inflight || seq !== viewSeq) return;
    if (page.unchanged) {  // only the durations of RUNNING runs move on
      if (lastRows.some(r => r.status === "RUNNING")) render(lastRows);
      schedule();
      return;
    }
    show(page, showTiming ? started : null);
  }
  // a mistake in the filter is shown under the box; the rows shown stay as they were
  function showError(e) {
    filterError.textContent = e.message;
    filterBox.classList.add("invalid");
    if (!lastRows.length) { table.replaceChildren(header()); pager.replaceChildren(); }
  }
  // the table follows the repository: a run started elsewhere appears, a RUNNING one
  // updates in place (asked every POLL_MS, answered "unchanged" while no run changed)
  function schedule() {
    pollTimer = setTimeout(() => load(false, true), POLL_MS);
  }
  function show(page, started) {
    // runs changed since the rows shown (a live refresh): the experiments' counts too
    if (shownOnce && page.generation !== generation && side.childElementCount > 1)
      api("/ui/api/experiments").then(e => { if (seq === viewSeq) drawExperiments(e); }).catch(() => {});
    generation = page.generation;
    shownOnce = true;
    filterError.textContent = "";
    filterBox.classList.remove("invalid");
    render(page.rows);
    updateCompare();
    const last = Math.min(page.offset + page.rows.length, page.total);
    pager.replaceChildren(
      h("button", {id: "prev", disabled: page.offset === 0, onclick: () => { state.offset = Math.max(0, state.offset - PAGE_SIZE); sync(); load(true); }}, "‹ Previous"),
      h("span", {id: "page-info", text: page.total ? `${(page.offset + 1).toLocaleString()}–${last.toLocaleString()} of ${page.total.toLocaleString()} runs`
        : state.filter || state.experiment ? "no runs match"
        : state.lifecycle === "deleted" ? "No deleted runs."
        : "No runs yet: log one (gittrack.start_run() in Python, or gittrack run -- python train.py) and it shows here."}),
      h("button", {id: "next", disabled: last >= page.total, onclick: () => { state.offset += PAGE_SIZE; sync(); load(true); }}, "Next ›"));
    if (started !== null) status(`${Math.round(performance.now() - started)} ms`);
    schedule();
  }
  if (firstOwn && !(firstOwn instanceof Error)) { if (seq === viewSeq) show(firstOwn, null); }
  else if (columns.join("\n") !== chosen) await load(false);  // stored columns named keys these runs lack
}

// -- run page ----------------------------------------------------------------------------
async function runPage(main, ref, tab) {
  const run = await api("/ui/api/run/" + encodeURIComponent(ref));
  const tabs = ["overview", "metrics", "artifacts", "code"];
  const body = h("div", {class: "tab-body", id: "tab-body"});
  const deleted = run.lifecycle_stage === "deleted";
  const title = h("h1", {}, h("span", {id: "run-name", text: run.name || run.run_id}), " ", badge(run.status),
    deleted ? [" ", h("span", {class: "badge deleted", id: "deleted-badge", text: "deleted"})] : null);
  const restoreBtn = h("button", {id: "restore-run", class: "primary", onclick: async () => {
    status("restoring…");
    try { await api(`/ui/api/run/${run.run_id}/restore`, {method: "POST"}); }
    catch (e) { status(e.message, true); return; }
    await route();
    status(`restored run ${run.name || run.run_id.slice(0, 8)}`);
  }}, "Restore");
  const compareBtn = h("button", {id: "compare-one", onclick: () => { location.hash = "#/compare?runs=" + run.run_id + (run.parent_run_id ? "," + run.parent_run_id : ""); }}, "Compare…");
  const actions = deleted ? h("div", {class: "actions"}, compareBtn, restoreBtn) : h("div", {class: "actions"},
    h("button", {id: "rename", onclick: async () => {
      const name = prompt("New name of the run", run.name);
      if (name === null || name === run.name) return;
      try { await api(`/ui/api/run/${run.run_id}/rename`, {method: "POST", body: JSON.stringify({name})}); }
      catch (e) { status(e.message, true); return; }
      await route();
      status(`renamed to ${name}`);
    }}, "Rename"),
    compareBtn,
    h("button", {id: "delete", class: "danger", onclick: async () => {
      if (!confirm(`Delete run ${run.name} (${run.run_id.slice(0, 8)})? It leaves the runs table and searches; the runs table's State: Deleted shows it, to restore it.`)) return;
      status("deleting…");
      try { await api(`/ui/api/run/${run.run_id}`, {method: "DELETE"}); }
      catch (e) { status(e.message, true); return; }
      store("selected", (store("selected") || []).filter(id => id !== run.run_id));  // nothing left to compare
      history.pushState(null, "", "#/");
      await route();
      status(`deleted run ${run.name || run.run_id.slice(0, 8)}`);
    }}, "Delete"));
  const tabBar = h("nav", {class: "tabs"}, tabs.map(t => h("a", {href: `#/run/${run.run_id}?tab=${t}`, class: t === tab ? "active" : "", "data-tab": t, text: t[0].toUpperCase() + t.slice(1)})));
  main.append(h("div", {class: "run-head"}, title, actions), h("div", {class: "sub mono", text: `${run.run_id} · ${run.experiment}`}),
    ...(deleted ? [h("p", {class: "deleted-note", id: "deleted-note", role: "note",
      text: "This run is deleted: the runs table and searches leave it out, and its params, metrics, tags, notes and name cannot change. Restore brings it back."})] : []),
    tabBar, body);
  if (tab === "metrics") await runMetrics(body, run);
  else if (tab === "artifacts") await runArtifacts(body, run);
  else if (tab === "code") await runCode(body, run);
  else runOverview(body, run);
  if (run.status === "RUNNING") follow(main, run);
}

// A RUNNING run's page follows the run: it is asked for every few seconds and the page is
// drawn again only when it changed, keeping what the user was typing (a note not saved
// yet, a tag being added), the field they were in and the file they were looking at.
function follow(main, run) {
  const seq = viewSeq, drawn = JSON.stringify(run);
  pollTimer = setTimeout(async function poll() {
    const now = await api("/ui/api/run/" + run.run_id).catch(() => null);
    if (seq !== viewSeq) return;
    if (!now || JSON.stringify(now) === drawn) {  // only the time it has been running moves on
      const cell = main.querySelector("#facts td[data-key='duration']");
      if (cell) cell.textContent = fmtDuration(run.start_time, run.end_time, run.status);
      pollTimer = setTimeout(poll, POLL_MS * 2);
      return;
    }
    const drafts = [...main.querySelectorAll("input[id], textarea[id]")]
      .filter(el => el.value !== el.defaultValue).map(el => [el.id, el.value]);
    const focused = main.contains(document.activeElement) ? document.activeElement.id : "";
    const shown = main.querySelector(".files a.active")?.dataset.path;
    await route();
    for (const [id, value] of drafts) { const el = document.getElementById(id); if (el) el.value = value; }
    if (focused) document.getElementById(focused)?.focus();
    if (shown) main.querySelector(`.files a[data-path="${CSS.escape(shown)}"]`)?.click();
  }, POLL_MS * 2);
}

function kvTable(obj, opts) {
  const rows = Object.entries(obj || {});
  if (!rows.length) return h("p", {class: "muted", text: (opts && opts.empty) || "none"});
  return h("table", {class: "kv"}, h("tbody", {}, rows.map(([k, v]) => h("tr", {},
    h("th", {text: k}), h("td", {"data-key": k}, v !== null && typeof v === "object" ? JSON.stringify(v) : fmtNum(v, 0)),
    opts && opts.extra ? h("td", {}, opts.extra(k)) : null))));
}

function section(title, ...content) { return h("section", {class: "card"}, h("h2", {text: title}), ...content); }
// a card across the whole row: its table is wide (full digests, paths)
function wide(card) { if (card.querySelector("table")) card.classList.add("wide"); return card; }

function runOverview(body, run) {
  const deleted = run.lifecycle_stage === "deleted";  // read only until restored
  const src = run.source || {};
  const cmd = run.command || {};
  const facts = {
    "status": run.status, "started": fmtTime(run.start_time), "ended": fmtTime(run.end_time),
    "duration": fmtDuration(run.start_time, run.end_time, run.status), "user": run.user, "host": run.host,
    "command": Array.isArray(cmd.argv) ? cmd.argv.join(" ") : (cmd.line || JSON.stringify(cmd)),
    "code commit": (src.commit ? src.commit.slice(0, 12) : "(no commit)") + (src.branch ? ` (${src.branch})` : ""),
    "uncommitted edits": src.dirty ? "yes (see Code)" : "no",
    "run commit": run.commit.slice(0, 12),
  };
  if (run.parent_run_id) facts["parent run"] = run.parent_run_id;
  const metrics = Object.fromEntries(Object.entries(run.metrics).map(([k, m]) => [k, m.value]));
  const tagInputKey = h("input", {id: "tag-key", placeholder: "key"});
  const tagInputVal = h("input", {id: "tag-value", placeholder: "value"});
  // an edit is written, the page drawn again from what was stored, and the edit named
  const write = async (path, payload, done) => {
    try { await api(`/ui/api/run/${run.run_id}/${path}`, {method: "POST", body: JSON.stringify(payload)}); }
    catch (e) { status(e.message, true); return; }
    await route();
    status(done);
  };
  const note = h("textarea", {id: "note", rows: 4, placeholder: "Notes about this run"}, run.note || "");
  const inputs = (run.inputs || []).map(i => h("tr", {},
    h("td", {text: i.name || ""}), h("td", {text: i.context || ""}), h("td", {class: "mono", text: i.digest || ""}),
    h("td", {class: "source", text: i.source || ""}),
    h("td", {class: "link"}, i.digest ? h("a", {href: "#/?" + qs({filter: `datasets.digest = '${i.digest}'`}), text: "runs using this data"}) : "")));
  body.append(
    section("Overview", Object.assign(kvTable(facts), {id: "facts"})),
    section("Parameters", kvTable(run.params, {empty: "no parameters"})),
    section("Metrics (latest)", kvTable(metrics, {empty: "no metrics"})),
    section("Tags", kvTable(run.tags, {empty: "no tags", extra: deleted ? null : (k) => h("button", {class: "small", "data-delete-tag": k, onclick: () => write("tags", {delete: [k]}, `tag ${k} removed`)}, "remove")}),
      deleted ? null : h("form", {class: "inline", id: "tag-form", onsubmit: (ev) => { ev.preventDefault(); const key = tagInputKey.value.trim(); if (key) write("tags", {set: {[key]: tagInputVal.value}}, `tag ${key} saved`); }},
        tagInputKey, tagInputVal, h("button", {type: "submit"}, "Set tag"))),
    section("Notes", deleted ? (run.note ? h("p", {class: "note", text: run.note}) : h("p", {class: "muted", text: "no notes"}))
      : [note, h("div", {}, h("button", {id: "save-note", onclick: () => write("note", {note: note.value}, "notes saved")}, "Save notes"))]),
    wide(section("Inputs", inputs.length ? h("div", {class: "scroll-x"}, h("table", {class: "grid inputs"}, h("thead", {}, h("tr", {}, ["name", "context", "digest", "source", ""].map(t => h("th", {text: t})))), h("tbody", {}, inputs))) : h("p", {class: "muted", text: "no inputs recorded"}))),
    section("Environment", h("details", {}, h("summary", {text: "python, platform and packages"}), h("pre", {text: JSON.stringify(run.environment, null, 2)}))));
}

function smooth(values, weight) {
  if (!weight) return values;
  const out = new Array(values.length);
  let last = values.length ? values[0] : 0, debias = 0;
  for (let i = 0; i < values.length; i++) {
    last = last * weight + (1 - weight) * values[i];
    debias = debias * weight + (1 - weight);
    out[i] = last / debias;
  }
  return out;
}

// -- metric charts: every one drawn, those in view first ----------------------------------
// The page asks for the lines at once, LINE_KEYS metrics a request (those in view first),
// each downsampled by the server to the chart's pixel width (extremes kept, every point
// sent is a point as logged); zooming (drag across a chart; double-click goes back) asks
// for that window. Every chart is drawn without scrolling, those in view (or scrolled to)
// first, in slices that leave the page free to take input and paint. uPlot draws the
// axes, grid and ticks on a canvas and takes the drag; each run's line is its own path
// over its own points (runs seldom share the steps of the points kept), so a chart holds
// about CHART_POINTS points whatever the number of runs; zooming in brings the detail back.
const CHART_POINTS = 10000;
const LINE_KEYS = 12;
const DRAW_SLICE_MS = 150;
const CHART_HEIGHT = 300;
const HOVER_PX = 24;  // how near the pointer a point must be for the hover to name its run

function whenVisible(el, draw) {
  const seen = new IntersectionObserver((entries) => {
    if (entries.some(e => e.isIntersecting)) { seen.disconnect(); draw(); }
  }, {rootMargin: "200px 0px"});
  seen.observe(el);
}

// With many runs a line's points do not depend on the chart's width (CHART_POINTS / runs
// is below any chart's but a phone's): the first metrics' lines are then asked for at
// once, beside the runs' rows, rather than after them. {points, answer} or null.
const EARLY_POINTS = 300;
function earlyLines(ids) {
  const points = Math.max(64, Math.floor(CHART_POINTS / ids.length));
  if (points > EARLY_POINTS) return null;
  return {points, answer: api("/ui/api/lines?" + qs({run: ids, first: LINE_KEYS, points})).catch(() => null)};
}

function plotWidth(el) { return Math.max(200, Math.min(4000, Math.round((el.clientWidth || 600) - 70))); }
function linePoints(el, lines) { return Math.max(64, Math.min(plotWidth(el), Math.floor(CHART_POINTS / lines))); }

// /ui/api/lines sends each array as base64 of little-endian float64 (exact, fast to read)
function f64(text) {
  if (Uint8Array.fromBase64) return new Float64Array(Uint8Array.fromBase64(text).buffer);
  const bin = atob(text), bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Float64Array(bytes.buffer);
}
function unpackLines(answer, k) {
  return answer.filter(l => l.lines[k]).map(l => {
    const line = l.lines[k];
    let time = null;  // read when an axis by time first needs it
    return [l.run_id, {step: f64(line.step), value: f64(line.value), count: line.count, get time() { return time || (time = f64(line.time)); }}];
  });
}

// A chart's lines as drawn: [{run_id, name, color, x, y, logged, marker}] (y smoothed,
// logged as logged; a run with a single point is a marker), kept on the chart's element
// as `chart` with its title and axes.
function chartLines(lines, x, smoothing) {
  return lines.map(([run, line]) => {
    const xs = x === "step" ? line.step : x === "time" ? line.time : line.time.map(t => (t - run.start_time) / 1000);
    return {run_id: run.run_id, name: run.name || run.run_id.slice(0, 8), color: run.color, x: xs,
      y: smooth(line.value, smoothing), logged: line.value, marker: line.value.length === 1};
  });
}
function extent(arrays, lo, hi) {
  let min = Infinity, max = -Infinity;
  for (const [xs, ys] of arrays) {
    for (let i = 0; i < ys.length; i++) {
      const v = ys[i];
      if (!Number.isFinite(v) || (xs && !(xs[i] >= lo && xs[i] <= hi))) continue;
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  return min <= max ? [min, max] : null;
}
// each line its own path over its own points, in canvas pixels; a gap where a value is
// not finite; a marker for a single point
function linePath(line) {
  return (u) => {
    const stroke = new Path2D(), r = 3 * devicePixelRatio;
    let pen = false, fill = null;
    for (let i = 0; i < line.y.length; i++) {
      const x = line.x[i], y = line.y[i];
      if (!Number.isFinite(x) || !Number.isFinite(y)) { pen = false; continue; }
      const px = u.valToPos(x, "x", true), py = u.valToPos(y, "y", true);
      if (line.marker) { fill = fill || new Path2D(); fill.moveTo(px + r, py); fill.arc(px, py, r, 0, 2 * Math.PI); continue; }
      if (pen) stroke.lineTo(px, py); else { stroke.moveTo(px, py); pen = true; }
    }
    return {stroke, fill, clip: null, band: null, gaps: null, flags: 0};
  };
}
// the widest tick label decides the y axis's room: long labels (9,876,540,000,000) stay inside
function axisSize(u, values, axisIdx, cycleNum) {
  const axis = u.axes[axisIdx];
  if (cycleNum > 1) return axis._size;
  axis.widest = 0;  // px of the widest label
  if (values && values.length) {
    u.ctx.font = axis.font[0];
    axis.widest = Math.max(...values.map(v => u.ctx.measureText(String(v)).width)) / devicePixelRatio;
  }
  return Math.ceil(axis.widest + axis.ticks.size + axis.gap + 4);
}
// the run of the point nearest the pointer, within HOVER_PX: [line, i] or null (the hover
// then shows the value as logged, every digit)
function nearest(u, lines, left, top) {
  let best = null, bestD = HOVER_PX * HOVER_PX;
  for (const line of lines) {
    for (let i = 0; i < line.y.length; i++) {
      if (!Number.isFinite(line.x[i]) || !Number.isFinite(line.y[i])) continue;
      const dx = u.valToPos(line.x[i], "x") - left;
      if (dx * dx >= bestD) continue;
      const dy = u.valToPos(line.y[i], "y") - top, d = dx * dx + dy * dy;
      if (d < bestD) { bestD = d; best = [line, i]; }
    }
  }
  return best;
}
// the chart as drawn (its canvas) under its title, as a PNG file named after the metric
function savePng(u, title, key) {
  const src = u.ctx.canvas, ratio = devicePixelRatio, top = Math.round(28 * ratio);
  const out = h("canvas", {width: src.width, height: src.height + top});
  const ctx = out.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.fillStyle = "#1d2330";
  ctx.font = `600 ${Math.round(14 * ratio)}px system-ui, sans-serif`;
  ctx.textAlign = "center";
  ctx.fillText(title, out.width / 2, Math.round(20 * ratio));
  ctx.drawImage(src, 0, top);
  out.toBlob((blob) => {
    const url = URL.createObjectURL(blob), a = h("a", {href: url, download: `${key.replace(/[\\/:*?"<>|]/g, "_")}.png`});
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }, "image/png");
}
function fmtX(v, x) { return x === "time" ? fmtTime(v) : x === "relative" ? fmtNum(v) + " s" : "step " + fmtNum(v); }

// runs: [{run_id, name, start_time, color}]; controls() -> {x, smoothing, logY}; early:
// what earlyLines asked for, or null
function lineCharts(grid, runs, keys, controls, early) {
  const data = {}, zoomed = {}, charts = new Map(), visible = new Set();
  let version = 0, zoomedX = controls().x, timer = null, drawing = false;
  const seq = viewSeq;
  const ids = runs.map(r => r.run_id);
  const byId = Object.fromEntries(runs.map(r => [r.run_id, r]));
  const observer = new IntersectionObserver((entries) => {
    if (seq !== viewSeq) { observer.disconnect(); return; }  // the page was left
    for (const e of entries) {
      if (e.isIntersecting) visible.add(e.target.dataset.metric);
      else visible.delete(e.target.dataset.metric);
    }
    schedule();
  }, {rootMargin: "100px 0px"});
  for (const k of keys) {
    const div = h("div", {class: "chart", "data-metric": k}, h("div", {class: "chart-title", text: k}));
    grid.append(div);
    charts.set(k, div);
    observer.observe(div);
  }
  // a chart's width follows its column
  const resized = new ResizeObserver((entries) => {
    if (seq !== viewSeq) { resized.disconnect(); return; }
    for (const e of entries) {
      const u = e.target.uplot, width = Math.floor(e.contentRect.width);
      if (u && width > 0 && width !== u.width) u.setSize({width, height: CHART_HEIGHT});
    }
  });
  fetchLines();
  // LINE_KEYS metrics a request, one request at a time, those in view (or the first ones,
  // before the page is laid out) first: a server that has not kept these lines yet reads
  // each run's history once
  async function fetchLines() {
    if (!keys.length) return;  // no chart to ask lines for
    const points = linePoints(grid.firstChild, ids.length);
    try {
      if (early && early.points === points) {  // else asked at another width: not used
        const answer = await early.answer;
        if (seq !== viewSeq) return;
        const sent = new Set((answer || []).flatMap(l => Object.keys(l.lines)));
        for (const k of keys.filter(k => sent.has(k))) data[k] = unpackLines(answer, k).map(([id, line]) => [byId[id], line]);
        schedule();
      }
      for (;;) {
        const missing = keys.filter(k => !data[k]);
        const part = missing.filter(k => visible.has(k)).concat(missing.filter(k => !visible.has(k))).slice(0, LINE_KEYS);
        if (!part.length || seq !== viewSeq) return;
        const lines = await api("/ui/api/lines?" + qs({run: ids, key: part, points}));
        if (seq !== viewSeq) return;
        for (const k of part) data[k] = unpackLines(lines, k).map(([id, line]) => [byId[id], line]);
        schedule();
      }
    } catch (e) {
      status(e.message, true);
    }
  }
  // the next chart to draw: one in view first, then the others in page order
  function next() {
    const stale = keys.filter(k => data[k] && charts.get(k).dataset.drawn !== String(version));
    return stale.find(k => visible.has(k)) ?? stale[0];
  }
  function schedule() {
    if (timer === null && !drawing && seq === viewSeq) timer = setTimeout(step, 0);
  }
  // charts are drawn back to back for up to DRAW_SLICE_MS, then the page takes input and
  // paints: a chart per task costs a frame per chart, twice the time on a busy machine
  async function step() {
    timer = null;
    const started = performance.now();
    drawing = true;
    try {
      const uPlot = await uplot();
      // the charts of a grid are as wide as each other: read once, as reading a size
      // after a chart was added lays the whole page out again
      const width = Math.floor(grid.firstChild.clientWidth) || 600;
      for (let k = next(); k !== undefined && seq === viewSeq; k = next()) {
        draw(uPlot, k, width);
        if (performance.now() - started > DRAW_SLICE_MS) break;
      }
    } catch (e) {
      status(e.message, true);
      return;
    } finally {
      drawing = false;
    }
    schedule();
  }
  function draw(uPlot, k, width) {
    const div = charts.get(k);
    const {x, smoothing, logY} = controls();
    const win = zoomed[k] ? zoomed[k].window : null, span = win || [-Infinity, Infinity];
    const plain = chartLines(zoomed[k] ? zoomed[k].lines : data[k], x, smoothing);
    // values not above zero have no place on a log axis
    const lines = logY ? plain.map(l => Object.assign({}, l, {y: l.y.map(v => v > 0 ? v : NaN)})) : plain;
    const logged = data[k].reduce((n, [, line]) => n + line.count, 0);
    const title = runs.length === 1 ? `${k} (${logged.toLocaleString()} point${logged === 1 ? "" : "s"})` : k;
    const xSpan = win || extent(lines.map(l => [null, l.x]));
    const ySpan = extent(lines.map(l => [l.x, l.y]), ...span);
    // NaN and infinities have no place on an axis either: say so rather than show empty axes
    const note = ySpan ? "" : logY && extent(plain.map(l => [l.x, l.y]), ...span)
      ? "no value above zero to draw on a log scale" : "no finite value to draw (NaN or infinite)";
    // a single value gets room around it: half its size, a second around a single time
    const pad = ([lo, hi], half) => lo < hi ? [lo, hi] : [lo - (half || Math.abs(lo) / 2 || 1), hi + (half || Math.abs(hi) / 2 || 1)];
    const [xLo, xHi] = xSpan ? pad(xSpan, x === "time" ? 1000 : 0) : [0, 1];
    const [yLo, yHi] = ySpan ? pad(ySpan, 0) : [0, 1];
    const tip = h("div", {class: "chart-tip", hidden: true});
    const opts = {
      title, width, height: CHART_HEIGHT, ms: 1, legend: {show: false},
      cursor: {drag: {x: true, y: false, setScale: false}, points: {show: false}},
      scales: {
        x: {time: x === "time", range: () => [xLo, xHi]},
        y: logY ? {distr: 3, range: () => uPlot.rangeLog(yLo, yHi, 10, false)} : {range: () => uPlot.rangeNum(yLo, yHi, 0.1, true)},
      },
      axes: [{label: {step: "step", time: "wall time", relative: "seconds since start"}[x]}, {size: axisSize}],
      series: [{}, ...lines.map(l => ({label: l.name, stroke: l.color, fill: l.marker ? l.color : undefined, width: 1.5, paths: linePath(l), points: {show: false}}))],
      hooks: {
        setSelect: [(u) => {
          if (u.select.width < 3) return;
          const lo = u.posToVal(u.select.left, "x"), hi = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({left: 0, top: 0, width: 0, height: 0}, false);
          zoom(k, lo, hi);
        }],
        setCursor: [(u) => {
          const {left, top} = u.cursor, found = left >= 0 ? nearest(u, lines, left, top) : null;
          tip.hidden = !found;
          // the hovered run stands out, the others fade
          const focused = found ? lines.indexOf(found[0]) + 1 : null;
          if (focused !== u.focusedRun) { u.focusedRun = focused; u.setSeries(focused, {focus: focused !== null}); }
          if (!found) return;
          const [line, i] = found;
          tip.replaceChildren(h("span", {class: "swatch", style: `background:${line.color}`}), h("b", {text: line.name}),
            h("br"), `${fmtX(line.x[i], x)}: ${smoothing ? fmtNum(line.y[i]) + " smoothed, " : ""}${line.logged[i]}`);
          tip.style.left = Math.min(u.over.clientWidth - 150, left + 12) + "px";
          tip.style.top = Math.max(0, top - 40) + "px";
        }],
      },
    };
    const data2 = [[xLo, xHi], ...lines.map(() => [null, null])];
    div.uplot?.destroy();
    div.replaceChildren();
    const u = new uPlot(opts, data2, div);
    div.uplot = u;
    u.over.append(tip);
    const unzoom = () => { if (zoomed[k]) { delete zoomed[k]; redrawOne(k); } };
    u.over.addEventListener("dblclick", unzoom);
    // zoomed: a button says so and goes back (as a double-click does); PNG saves the chart
    div.append(h("div", {class: "chart-tools"},
      win ? h("button", {class: "chart-unzoom", type: "button", onclick: unzoom, text: "Show all"}) : null,
      h("button", {class: "chart-png", type: "button", title: "Save as PNG", onclick: () => savePng(u, title, k), text: "PNG"})));
    if (note) u.over.append(h("div", {class: "chart-note", text: note}));
    div.chart = {title, x, logY, window: win, note, lines};
    resized.observe(div);
    div.dataset.drawn = String(version);
  }
  function redrawOne(k) { charts.get(k).dataset.drawn = ""; schedule(); }
  async function zoom(k, lo, hi) {
    const {x} = controls();
    const points = linePoints(charts.get(k), ids.length);
    try {
      const lines = await api("/ui/api/lines?" + qs({run: ids, key: k, points, x, lo, hi}));
      if (x !== controls().x || seq !== viewSeq) return;
      zoomed[k] = {window: [lo, hi], lines: unpackLines(lines, k).map(([id, line]) => [byId[id], line])};
      redrawOne(k);
    } catch (e) {
      status(e.message, true);
    }
  }
  return {
    // settings changed: every chart again, those in view first
    redraw() {
      version++;
      const {x} = controls();
      if (x !== zoomedX) { for (const k of Object.keys(zoomed)) delete zoomed[k]; zoomedX = x; }
      schedule();
    },
  };
}

async function runMetrics(body, run) {
  const keys = Object.keys(run.metrics).sort();
  if (!keys.length) { body.append(h("p", {class: "muted", text: "This run logged no metrics."})); return; }
  const grid = h("div", {class: "charts", id: "charts"});
  body.append(grid);
  uplot();  // start loading the charting library while the lines are fetched
  lineCharts(grid, [{run_id: run.run_id, name: run.name, start_time: run.start_time, color: PALETTE[0]}], keys,
    () => ({x: "step", smoothing: 0, logY: false}), null);
}

// files in path order under a line per folder (each folder once), each file by its name
function treeList(paths, onPick, sizes) {
  const ul = h("ul", {class: "tree"});
  let open = [];  // the folders of the previous file
  for (const p of [...paths].sort()) {
    const parts = p.split("/"), folders = parts.slice(0, -1);
    let same = 0;
    while (same < folders.length && folders[same] === open[same]) same++;
    for (let d = same; d < folders.length; d++) {
      ul.append(h("li", {class: "folder", style: `padding-left:${d * 12}px`, text: folders[d] + "/"}));
    }
    open = folders;
    ul.append(h("li", {style: `padding-left:${folders.length * 12}px`}, h("a", {href: "#", "data-path": p, title: p, onclick: (ev) => {
      ev.preventDefault(); ul.querySelectorAll("a.active").forEach(a => a.classList.remove("active")); ev.target.classList.add("active"); onPick(p);
    }, text: parts[parts.length - 1]}), sizes ? h("span", {class: "muted", text: " " + fmtSize(sizes[p])}) : ""));
  }
  return ul;
}

async function runArtifacts(body, run) {
  if (!run.artifacts.length) { body.append(h("p", {class: "muted", text: "This run logged no artifacts."})); return; }
  const view = h("div", {class: "preview", id: "preview"}, h("p", {class: "muted", text: "Choose a file to preview it."}));
  const sizes = Object.fromEntries(run.artifacts.map(a => [a.path, a.size]));
  body.append(h("div", {class: "split"}, h("div", {class: "files"}, treeList(run.artifacts.map(a => a.path), (p) => preview(view, run, p, sizes[p]), sizes)), view));
}

async function preview(view, run, path, size) {
  const url = `/ui/artifact/${run.run_id}/${path.split("/").map(encodeURIComponent).join("/")}`;
  const lower = path.toLowerCase();
  const ext = lower.includes(".") ? lower.slice(lower.lastIndexOf(".") + 1) : "";
  const head = h("div", {class: "preview-head"}, h("strong", {text: path}), " ", h("span", {class: "muted", text: fmtSize(size)}), " ", h("a", {href: url, download: path.split("/").pop(), text: "download"}));
  // each file chosen draws into a box of its own: a slow answer for the file chosen
  // before lands in a box no longer shown, never under this one
  const box = h("div", {class: "preview-body"});
  view.replaceChildren(head, box);
  try {
    if (["png", "jpg", "jpeg", "gif", "svg", "webp", "bmp"].includes(ext)) {
      box.append(h("img", {src: url, alt: path, class: "artifact-image"}));
    } else if (ext === "html" || ext === "htm") {
      box.append(h("iframe", {sandbox: "", src: url, class: "artifact-html", title: path}));
    } else if ((ext === "csv" || ext === "parquet") && await tablePreview(box, run, path)) {
      // shown as a table
    } else if (size > 5 * 1024 * 1024) {
      box.append(h("p", {class: "muted", text: "Too large to preview; download it."}));
    } else {
      const resp = await fetch(url);
      const buf = new Uint8Array(await resp.arrayBuffer());
      if (!buf.length) { box.append(h("p", {class: "muted", text: "Empty file."})); return; }
      if (buf.slice(0, 8000).includes(0)) { box.append(h("p", {class: "muted", text: "Binary file; download it."})); return; }
      let text = new TextDecoder().decode(buf);
      if (ext === "json") { try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* shown as is */ } }
      box.append(h("pre", {class: "artifact-text" + (path.split("/").pop() === "MLmodel" ? " mlmodel" : ""), text}));
    }
  } catch (e) {
    box.append(h("p", {class: "error", text: e.message}));
  } finally {
    view.dataset.settled = String(Number(view.dataset.settled || 0) + 1);  // previews done (tests wait for it)
  }
}

// the first rows of a CSV or Parquet file; false (with the reason shown) when the server
// cannot read it as a table, so the file is shown as text instead
async function tablePreview(view, run, path) {
  let t;
  try {
    t = await api(`/ui/api/table/${run.run_id}/${path.split("/").map(encodeURIComponent).join("/")}`);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 400) throw e;
    view.append(h("p", {class: "muted", text: e.message}));
    return false;
  }
  view.append(h("p", {class: "muted", text: `${t.total.toLocaleString()} rows` + (t.total > t.rows.length ? `, first ${t.rows.length} shown` : "")}),
    h("div", {class: "table-wrap"}, h("table", {class: "grid artifact-table"}, h("thead", {}, h("tr", {}, t.columns.map(c => h("th", {text: c})))),
      h("tbody", {}, t.rows.map(r => h("tr", {}, r.map(v => h("td", {class: numClass(v), text: fmtNum(v, 0)}))))))));
  return true;
}

async function runCode(body, run) {
  const code = await api(`/ui/api/run/${run.run_id}/code`);
  const view = h("div", {class: "preview", id: "code-view"});
  let asked = 0;  // what the view shows is the last thing asked for, however late others answer
  const showDiff = () => { asked++; view.replaceChildren(h("h3", {text: `Changes against the commit it started from (${(code.parent || "none").slice(0, 10)})`}),
    code.diff ? diffView(code.diff) : h("p", {class: "muted", text: "No uncommitted edits: the snapshot equals its commit."})); };
  const files = h("div", {class: "files"}, h("button", {id: "show-diff", onclick: showDiff}, "Diff against parent commit"),
    treeList(code.files, async (p) => {
      const mine = ++asked;
      const f = await api(`/ui/api/run/${run.run_id}/code?` + qs({path: p})).catch(e => e);
      view.dataset.settled = String(Number(view.dataset.settled || 0) + 1);  // answers handled (tests wait for it)
      if (mine !== asked) return;
      view.replaceChildren(h("h3", {class: "mono", text: p}), f instanceof Error ? h("p", {class: "error", text: f.message})
        : f.binary ? h("p", {class: "muted", text: "binary file"}) : h("pre", {class: "code", text: f.text}));
    }));
  body.append(h("div", {class: "split"}, files, view));
  showDiff();
}

function diffView(text) {
  const pre = h("pre", {class: "diff"});
  for (const line of text.split("\n")) {
    const cls = line.startsWith("+++") || line.startsWith("---") ? "meta" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : line.startsWith("diff ") ? "meta" : "";
    pre.append(h("span", {class: cls, text: line + "\n"}));
  }
  return pre;
}

// -- compare -----------------------------------------------------------------------------
async function comparePage(main, ids) {
  if (ids.length < 1) { main.append(h("p", {text: "Select runs on the runs page to compare them."})); return; }
  uplot();  // start loading the charting library at once
  const early = earlyLines(ids);
  const rows = await api("/ui/api/compare?" + qs({run: ids}));
  const color = (i) => PALETTE[i % PALETTE.length];
  const label = (r) => r.name || r.run_id.slice(0, 8);
  main.append(h("h1", {text: `Compare ${rows.length} runs`}));

  // side by side
  const onlyDiff = h("input", {type: "checkbox", id: "only-diff", checked: store("onlyDiff") !== false});
  const sbs = h("div", {class: "table-wrap capped", id: "side-by-side"});
  function sideBySide() {
    store("onlyDiff", onlyDiff.checked);
    const head = h("tr", {}, h("th", {text: ""}), rows.map((r, i) => h("th", {}, h("span", {class: "swatch", style: `background:${color(i)}`}), runLink(r.run_id, label(r)))));
    const body = h("tbody");
    for (const kind of ["params", "metrics", "tags"]) {
      // MLflow's system tags (mlflow.runName, mlflow.user, ...) repeat what the column
      // heads and the run pages say: the user's own tags only, as MLflow's compare view
      const keys = [...new Set(rows.flatMap(r => Object.keys(r[kind])))].filter(k => kind !== "tags" || !k.startsWith("mlflow.")).sort();
      const shown = keys.filter(k => !onlyDiff.checked || new Set(rows.map(r => JSON.stringify(r[kind][k]))).size > 1);
      if (!shown.length) continue;
      body.append(h("tr", {class: "group"}, h("th", {colspan: rows.length + 1, text: kind})));
      for (const k of shown) {
        const vals = rows.map(r => r[kind][k]);
        const distinct = new Set(vals.map(v => JSON.stringify(v))).size, differs = distinct > 1;
        // values that differ only past the digits shown are shown with every digit
        const short = vals.map(v => fmtNum(v)), exact = new Set(short).size < distinct;
        body.append(h("tr", {class: differs ? "differs" : ""}, h("th", {text: k}), vals.map((v, i) => h("td", {class: numClass(v), title: v === undefined ? null : String(v), text: exact ? fmtNum(v, 0) : short[i]}))));
      }
    }
    sbs.replaceChildren(h("table", {class: "grid compare"}, h("thead", {}, head), body));
  }
  onlyDiff.addEventListener("change", sideBySide);
  main.append(section("Parameters and metrics", h("label", {}, onlyDiff, " only differences"), sbs));

  // charts
  const xSel = h("select", {id: "x-axis"}, [["step", "Step"], ["time", "Wall time"], ["relative", "Relative time"]].map(([v, t]) => h("option", {value: v, text: t})));
  const smoothIn = h("input", {type: "range", id: "smoothing", min: 0, max: 0.99, step: 0.01, value: 0});
  const smoothOut = h("span", {text: "0"});
  const logY = h("input", {type: "checkbox", id: "log-y"});
  const grid = h("div", {class: "charts", id: "charts"});
  main.append(section("Metrics", h("div", {class: "controls"},
    h("label", {}, "x-axis ", xSel), h("label", {}, "smoothing ", smoothIn, smoothOut), h("label", {}, logY, " log scale")), grid));
  const metricKeys = [...new Set(rows.flatMap(r => Object.keys(r.metrics)))].sort();
  if (!metricKeys.length) grid.append(h("p", {class: "muted", text: "These runs logged no metrics."}));
  const charts = lineCharts(grid, rows.map((r, i) => ({run_id: r.run_id, name: r.name, start_time: r.start_time, color: color(i)})), metricKeys,
    () => ({x: xSel.value, smoothing: parseFloat(smoothIn.value), logY: logY.checked}), early);
  for (const el of [xSel, smoothIn, logY]) el.addEventListener("input", () => { smoothOut.textContent = smoothIn.value; charts.redraw(); });
  sideBySide();  // after the charts asked for their lines, so the server works meanwhile

  // parallel coordinates and scatter over params and final metrics
  const num = (v) => typeof v === "number" ? v : (v !== null && v !== undefined && v !== "" && !isNaN(Number(v)) ? Number(v) : null);
  const dims = [];
  for (const kind of ["params", "metrics"]) {
    for (const k of [...new Set(rows.flatMap(r => Object.keys(r[kind])))].sort()) {
      const vals = rows.map(r => r[kind][k]);
      const differs = new Set(vals.map(v => JSON.stringify(v))).size > 1;
      dims.push({id: `${kind}.${k}`, kind, key: k, vals, differs, numeric: vals.every(v => v === undefined || num(v) !== null)});
    }
  }
  const pcDiv = h("div", {class: "chart wide", id: "parcoords"});
  const dimBox = h("div", {class: "dims", id: "parcoords-dims"});
  // at first: the params that differ and, whatever their number, up to four metrics (the
  // axes a sweep is read against, the last one colouring the lines); twelve axes in all
  const firstMetrics = dims.filter(d => d.kind === "metrics").slice(0, 4);
  let chosen = dims.filter(d => d.kind === "params" && d.differs).slice(0, 12 - firstMetrics.length)
    .concat(firstMetrics).map(d => d.id);
  for (const d of dims) dimBox.append(h("label", {}, h("input", {type: "checkbox", "data-dim": d.id, checked: chosen.includes(d.id), onchange: (ev) => {
    chosen = ev.target.checked ? [...chosen, d.id] : chosen.filter(c => c !== d.id); drawParcoords();
  }}), " " + d.id));
  function dimension(d) {
    if (d.numeric) return {label: d.id, values: d.vals.map(v => num(v) === null ? NaN : num(v))};
    const cats = [...new Set(d.vals.map(v => String(v)))].sort();
    return {label: d.id, values: d.vals.map(v => cats.indexOf(String(v))), tickvals: cats.map((_, i) => i), ticktext: cats};
  }
  async function drawParcoords() {
    const Plotly = await plotly();
    const use = dims.filter(d => chosen.includes(d.id));
    const colorDim = use.filter(d => d.kind === "metrics" && d.numeric).pop();
    await Plotly.react(pcDiv, use.length ? [{type: "parcoords", dimensions: use.map(dimension),
      line: colorDim ? {color: colorDim.vals.map(v => num(v)), colorscale: "Viridis", showscale: true} : {color: "#1f77b4"}}] : [],
      Object.assign(baseLayout(""), {height: 380, margin: {l: 60, r: 60, t: 50, b: 30}}), PLOT_CONFIG);
  }
  main.append(section("Parallel coordinates", dimBox, pcDiv));
  whenVisible(pcDiv, drawParcoords);

  const numericDims = dims.filter(d => d.numeric);
  const metricDims = numericDims.filter(d => d.kind === "metrics");
  const scX = h("select", {id: "scatter-x"}, numericDims.map(d => h("option", {value: d.id, text: d.id})));
  const scY = h("select", {id: "scatter-y"}, metricDims.map(d => h("option", {value: d.id, text: d.id})));
  const scDiv = h("div", {class: "chart wide", id: "scatter"});
  // at first: a param that differs against a metric that does (what a sweep is read by)
  const firstX = numericDims.find(d => d.kind === "params" && d.differs) || numericDims.find(d => d.kind === "params");
  if (numericDims.length > 1 && firstX) scX.value = firstX.id;
  const firstY = metricDims.find(d => d.differs);
  if (firstY) scY.value = firstY.id;
  async function drawScatter() {
    const Plotly = await plotly();
    const dx = dims.find(d => d.id === scX.value), dy = dims.find(d => d.id === scY.value);
    if (!dx || !dy) return;
    await Plotly.react(scDiv, [{type: "scatter", mode: "markers", x: dx.vals.map(num), y: dy.vals.map(num), text: rows.map(label),
      marker: {size: 9, color: rows.map((_, i) => color(i))}}],
      Object.assign(baseLayout(`${dy.id} vs ${dx.id}`), {xaxis: {title: {text: dx.id}, automargin: true}, yaxis: {title: {text: dy.id}, automargin: true}}), PLOT_CONFIG);
  }
  scX.addEventListener("change", drawScatter); scY.addEventListener("change", drawScatter);
  main.append(section("Scatter", h("div", {class: "controls"}, h("label", {}, "x ", scX), h("label", {}, "y ", scY)), scDiv));
  if (metricDims.length) whenVisible(scDiv, drawScatter);

  // code diff between two runs
  const pick = (id, i) => h("select", {id}, rows.map((r, j) => h("option", {value: r.run_id, text: label(r), selected: j === i})));
  const a = pick("diff-a", 0), b = pick("diff-b", Math.min(1, rows.length - 1));
  const diffOut = h("div", {id: "code-diff"});
  const showDiff = async () => {
    const d = await api("/ui/api/diff?" + qs({a: a.value, b: b.value}));
    diffOut.replaceChildren(d.diff ? diffView(d.diff) : h("p", {class: "muted", text: "Same code."}));
  };
  main.append(section("Code", h("div", {class: "controls"}, a, " → ", b, h("button", {id: "show-code-diff", onclick: showDiff}, "Show diff")), diffOut));
}

// -- models ------------------------------------------------------------------------------
async function modelsPage(main) {
  const models = await api("/ui/api/models");
  main.append(h("h1", {text: "Registered models"}));
  if (!models.length) { main.append(h("p", {class: "muted", text: "No registered models (gittrack models register RUN NAME)."})); return; }
  for (const m of models) {
    const aliasOf = {};
    for (const [alias, v] of Object.entries(m.aliases)) (aliasOf[v] = aliasOf[v] || []).push("@" + alias);
    const versions = h("table", {class: "grid"}, h("thead", {}, h("tr", {}, ["version", "aliases", "run", "artifact path", "created", "by", "description"].map(t => h("th", {text: t})))),
      h("tbody", {}, m.versions.slice().reverse().map(v => h("tr", {},
        h("td", {class: "num", text: v.version}), h("td", {text: (aliasOf[v.version] || []).join(" ")}), h("td", {}, runLink(v.run_id)),
        h("td", {class: "mono", text: v.artifact_path}), h("td", {text: fmtTime(v.created)}), h("td", {text: v.created_by}), h("td", {text: v.description || ""})))));
    const history = Object.entries(m.alias_history).map(([alias, events]) => h("div", {}, h("h3", {text: "@" + alias}),
      h("ul", {}, events.map(e => h("li", {text: `${fmtTime(e.set_at)}: ${e.version === null ? "removed" : "version " + e.version} by ${e.set_by}`})))));
    main.append(section(m.name, h("p", {class: "muted", text: `latest version ${m.latest}`}), h("div", {class: "scroll-x"}, versions), history.length ? h("div", {class: "alias-history"}, h("h3", {text: "Alias history"}), history) : ""));
  }
}
