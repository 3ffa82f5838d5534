// Stepwise console: a single page over the AWS API (POST / with X-Amz-Target) and the
// console's own calls (/console/api/...). Every value from the server reaches the page
// as text (textContent, never innerHTML); graphs come as SVG drawn and escaped by the
// server and are parsed as XML.
"use strict";

const PAGE_SIZE = 50;
const ROW_HEIGHT = 28;
const STATUSES = ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"];
const STATE_CLASSES = ["st-running", "st-succeeded", "st-failed", "st-caught", "st-aborted"];
// The editor's line height and top padding in pixels, as app.css sets them.
const EDITOR_LINE = 18;
const EDITOR_PADDING = 6;
// Below this a graph's labels are too small to read: scroll instead of shrinking further.
const MIN_GRAPH_SCALE = 0.5;

// ---- helpers ------------------------------------------------------------------------

/** An element with attributes, properties (`on*` as listeners) and text/element children. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "className") el.className = value;
    else if (key === "value") el.value = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Calls an AWS Step Functions action; throws an Error carrying AWS's code and message. */
async function aws(action, body) {
  const response = await fetch("/", {
    method: "POST",
    headers: {
      "Content-Type": "application/x-amz-json-1.0",
      "X-Amz-Target": "AWSStepFunctions." + action,
      // With this header the server takes the signed-in key from the HttpOnly cookie.
      "X-Stepwise-Console": "1",
    },
    body: JSON.stringify(body || {}),
  });
  return decode(response);
}

/** GETs one of the console's own calls. */
async function api(path, options) {
  return decode(await fetch(path, options));
}

async function decode(response) {
  const text = await response.text();
  let value;
  try {
    value = text ? JSON.parse(text) : {};
  } catch (e) {
    throw new Error(`HTTP ${response.status}: ${text.slice(0, 200)}`);
  }
  if (!response.ok) {
    const code = value.__type || `HTTP ${response.status}`;
    const error = new Error(`${code}: ${value.message || text}`);
    error.signIn = response.status === 401 || response.status === 403 && code === "MissingAuthenticationTokenException";
    throw error;
  }
  return value;
}

// ---- signing in ---------------------------------------------------------------------

/** Who is signed in, shown in the header with a way out; `null` when keys are not required. */
async function showSession() {
  const session = await api("/console/api/session");
  const slot = document.getElementById("session");
  slot.replaceChildren();
  if (session.required && session.signedIn) {
    slot.append(
      h("span", { className: "muted" }, `${session.signedIn.keyId} (${session.signedIn.role})`),
      h("button", { type: "button", className: "link", onclick: signOut }, "Sign out"));
  }
  return session;
}

async function signOut() {
  await fetch("/console/api/session", { method: "DELETE" });
  await route();
}

/** The sign-in form: the key is sent once and kept by the server in an HttpOnly cookie. */
function signInForm(main) {
  const key = h("input", { type: "password", name: "key", id: "key", autocomplete: "off",
    placeholder: "KEY_ID:SECRET", required: true, size: 50 });
  const status = h("p", { className: "muted" }, "This server requires a key. The console keeps it in a cookie its pages cannot read.");
  const form = h("form", { id: "sign-in", onsubmit: async (event) => {
    event.preventDefault();
    try {
      await api("/console/api/session", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ key: key.value }),
      });
      key.value = "";
      await route();
    } catch (error) {
      status.replaceChildren(errorBox(error));
    }
  } },
    h("label", { for: "key" }, "Key "), key, " ", h("button", { type: "submit" }, "Sign in"));
  main.append(h("h1", {}, "Sign in"), status, form);
}

function errorBox(error) {
  return h("div", { className: "error-box", role: "alert" }, String(error.message || error));
}

function when(ms) {
  if (ms === undefined || ms === null) return "";
  return new Date(ms).toISOString().replace("T", " ").replace("Z", " UTC");
}

function seconds(value) {
  return value === undefined ? undefined : Math.round(value * 1000);
}

function duration(ms) {
  if (ms === undefined || ms === null || Number.isNaN(ms)) return "";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(2)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

function pretty(value) {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch (e) {
      return value;
    }
  }
  return JSON.stringify(value, null, 2);
}

function badge(status) {
  return h("span", { className: `badge ${status}` }, status);
}

function machineLink(name) {
  return h("a", { href: `#/machine/${encodeURIComponent(name)}` }, name);
}

function executionLink(arn, name) {
  return h("a", { href: `#/execution/${encodeURIComponent(arn)}` }, name);
}

/** The server's SVG, parsed as XML (so nothing in it runs) and adopted into the page. */
function parseSvg(text) {
  if (!text) return h("p", { className: "muted" }, "No graph: the definition does not validate.");
  const doc = new DOMParser().parseFromString(text, "image/svg+xml");
  const svg = doc.documentElement;
  if (svg.nodeName !== "svg") return h("p", { className: "error-box" }, "The graph could not be read.");
  return document.importNode(svg, true);
}

/**
 * A graph in a box as tall as the window allows: the whole graph scaled to fit while its
 * labels stay readable, otherwise fitted across and scrolled, with a hint at the bottom
 * while more lies below (scrollbars that only show on hover hide it otherwise).
 */
function graphView() {
  const box = h("div", { className: "graph-box", id: "graph" });
  const more = h("div", { className: "graph-more", id: "graph-more", hidden: true }, "More below \u2193 scroll");
  let fit = true;
  const toggle = h("button", { type: "button", id: "graph-size", title: "Switch between the whole graph and its actual size" }, "Actual size");
  const element = h("div", { className: "graph-view" }, box, h("div", { className: "graph-tools" }, toggle), more);
  function showMore() {
    more.hidden = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
  }
  function layout() {
    if (!element.isConnected) {
      window.removeEventListener("resize", layout);
      return;
    }
    const svg = box.querySelector("svg.graph");
    if (svg) {
      const width = Number(svg.getAttribute("width"));
      const height = Number(svg.getAttribute("height"));
      let scale = 1;
      if (fit && width > 0 && height > 0) {
        const across = Math.min(1, (box.clientWidth - 2) / width);
        const whole = Math.min(across, (parseFloat(getComputedStyle(box).maxHeight) - 2) / height);
        scale = whole >= MIN_GRAPH_SCALE ? whole : Math.max(MIN_GRAPH_SCALE, across);
      }
      svg.style.width = `${width * scale}px`;
      svg.style.height = `${height * scale}px`;
    }
    showMore();
  }
  toggle.addEventListener("click", () => {
    fit = !fit;
    toggle.textContent = fit ? "Actual size" : "Fit to window";
    layout();
  });
  box.addEventListener("scroll", showMore);
  window.addEventListener("resize", layout);
  /** Puts `content` (a graph or a message) in the box; call once the box is in the page. */
  function show(content) {
    box.replaceChildren(content);
    toggle.hidden = !box.querySelector("svg.graph");
    layout();
  }
  return { element, box, show };
}

/** The SVG group drawn for `name` (matched by value, not by building a selector). */
function stateNodes(svg) {
  const byName = new Map();
  for (const node of svg.querySelectorAll("g.state[data-state]")) {
    byName.set(node.getAttribute("data-state"), node);
  }
  return byName;
}

function tabs(names, show) {
  const buttons = names.map((name) =>
    h("button", { type: "button", "data-tab": name, onclick: () => pick(name) }, name));
  function pick(name) {
    for (const b of buttons) b.classList.toggle("active", b.dataset.tab === name);
    show(name);
  }
  return { bar: h("div", { className: "tabs", role: "tablist" }, buttons), pick };
}

let cleanup = [];

function onLeave(fn) {
  cleanup.push(fn);
}

// ---- routing ------------------------------------------------------------------------

async function route() {
  for (const fn of cleanup) fn();
  cleanup = [];
  const main = document.getElementById("main");
  main.replaceChildren();
  const hash = location.hash.replace(/^#/, "") || "/";
  const [, page, param] = hash.match(/^\/([^/]*)\/?(.*)$/) || [];
  try {
    const session = await showSession();
    if (session.required && !session.signedIn) {
      signInForm(main);
      return;
    }
    if (page === "machine" && param) await machinePage(main, decodeURIComponent(param));
    else if (page === "execution" && param) await executionPage(main, decodeURIComponent(param));
    else if (page === "express") await expressPage(main);
    else if (page === "cluster") await clusterPage(main);
    else await machinesPage(main);
  } catch (error) {
    if (error.signIn) {
      main.replaceChildren();
      signInForm(main);
      return;
    }
    main.append(errorBox(error));
  }
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", route);

// ---- state machines -----------------------------------------------------------------

async function machinesPage(main) {
  main.append(h("h1", {}, "State machines"));
  const listing = await api("/console/api/machines");
  const rows = listing.stateMachines.map((m) =>
    h("tr", { "data-machine": m.name },
      h("td", {}, machineLink(m.name)),
      h("td", {}, m.type),
      h("td", {}, when(m.createdMs)),
      // Express executions are not stored, so there is nothing to count here.
      m.type === "EXPRESS"
        ? h("td", { className: "num", colspan: "4" }, h("a", { href: "#/express" }, "not stored: see the Express executions in memory"))
        : [
            h("td", { className: "num" }, m.executions.RUNNING),
            h("td", { className: "num" }, m.executions.SUCCEEDED),
            h("td", { className: "num" }, m.executions.FAILED + m.executions.TIMED_OUT),
            h("td", { className: "num" }, m.executions.ABORTED),
          ]));
  main.append(rows.length
    ? h("table", { className: "list", id: "machines" },
        h("thead", {}, h("tr", {},
          h("th", {}, "Name"), h("th", {}, "Type"), h("th", {}, "Created"),
          h("th", { className: "num" }, "Running"), h("th", { className: "num" }, "Succeeded"),
          h("th", { className: "num" }, "Failed"), h("th", { className: "num" }, "Aborted"))),
        h("tbody", {}, rows))
    : h("p", { className: "muted" }, "No state machines yet."));
  main.append(h("h2", {}, "Create a state machine"));
  main.append(definitionForm({}));
}

/** The definition editor: validated as you type, diagnostics marked at their line. */
function definitionEditor(initial) {
  const gutter = h("pre", { className: "gutter", "aria-hidden": "true" });
  const area = h("textarea", {
    id: "definition", spellcheck: "false", "aria-label": "Definition (Amazon States Language JSON)",
    placeholder: '{"StartAt": "Hello", "States": {"Hello": {"Type": "Pass", "End": true}}}',
  });
  area.value = initial || "";
  // A band behind each marked line of the text, moved with the text as it scrolls.
  const bands = h("div", { className: "line-marks", "aria-hidden": "true" });
  const list = h("ul", { className: "diagnostics", id: "diagnostics" });
  let marks = new Map();
  let firstError = null;
  let errors = 0;
  function follow() {
    gutter.scrollTop = area.scrollTop;
    bands.style.transform = `translateY(${-area.scrollTop}px)`;
  }
  function drawMarks() {
    const lines = area.value.split("\n").length;
    const items = [];
    for (let i = 1; i <= lines; i++) {
      const mark = marks.get(i);
      items.push(mark ? h("span", { className: mark, title: "see the diagnostics below" }, String(i)) : String(i));
      items.push("\n");
    }
    gutter.replaceChildren(...items);
    bands.replaceChildren(...[...marks].filter(([line]) => line <= lines).map(([line, mark]) => {
      const band = h("div", { className: `line-mark ${mark}`, "data-line": line });
      band.style.top = `${EDITOR_PADDING + (line - 1) * EDITOR_LINE}px`;
      return band;
    }));
    follow();
  }
  /** Puts the caret at a diagnostic and scrolls its line into view, a third from the top. */
  function goTo(line, column) {
    const lines = area.value.split("\n");
    let offset = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
    offset += Math.min(Math.max(0, (column || 1) - 1), (lines[line - 1] || "").length);
    area.focus({ preventScroll: true });
    area.setSelectionRange(offset, offset);
    area.scrollTop = Math.max(0, (line - 1) * EDITOR_LINE - area.clientHeight / 3);
    follow();
    editor.scrollIntoView({ block: "nearest" });
  }
  let timer = null;
  let asked = 0;
  async function check() {
    const ticket = ++asked;
    const text = area.value;
    if (!text.trim()) {
      marks = new Map();
      firstError = null;
      errors = 0;
      list.replaceChildren();
      drawMarks();
      return;
    }
    try {
      // JSON content type: the server refuses the plain-text POSTs any site can send.
      const result = await api("/console/api/validate", {
        method: "POST", body: text, headers: { "Content-Type": "application/json" },
      });
      if (ticket !== asked) return;
      marks = new Map();
      firstError = null;
      errors = 0;
      const items = result.diagnostics.map((d) => {
        if (d.severity === "ERROR") {
          errors++;
          if (!firstError && d.line) firstError = d;
        }
        if (d.line) marks.set(d.line, d.severity === "ERROR" ? "bad" : marks.get(d.line) || "warn");
        const where = d.line ? `line ${d.line}, column ${d.column}` : "the document";
        return h("li", { className: d.severity, onclick: () => d.line && goTo(d.line, d.column),
          title: d.line ? "show this line in the editor" : undefined },
          `${d.severity === "ERROR" ? "Error" : "Warning"} at ${where}`,
          d.location ? ` (${d.location})` : "", `: ${d.message}`);
      });
      list.replaceChildren(...items);
      if (!items.length) list.append(h("li", { className: "ok" }, "The definition is valid."));
      drawMarks();
      editor.dispatchEvent(new CustomEvent("validated"));
    } catch (error) {
      list.replaceChildren(h("li", { className: "ERROR" }, String(error.message)));
    }
  }
  /** Shows the first error's line, if validation found one (after a refused submit). */
  function revealFirstError() {
    if (firstError) goTo(firstError.line, firstError.column);
  }
  area.addEventListener("input", () => {
    drawMarks();
    clearTimeout(timer);
    timer = setTimeout(check, 250);
  });
  area.addEventListener("scroll", follow);
  const editor = h("div", {}, h("div", { className: "editor" }, gutter, h("div", { className: "code" }, bands, area)), list);
  drawMarks();
  if (area.value) check();
  return { element: editor, area, errors: () => errors, check, revealFirstError };
}

function definitionForm({ name, type, definition, update }) {
  const nameInput = h("input", { type: "text", id: "machine-name", placeholder: "name", value: name || "", "aria-label": "State machine name" });
  if (update) nameInput.disabled = true;
  const typeSelect = h("select", { id: "machine-type", "aria-label": "Type" },
    h("option", { value: "STANDARD" }, "Standard"), h("option", { value: "EXPRESS" }, "Express"));
  typeSelect.value = type || "STANDARD";
  if (update) typeSelect.disabled = true;
  const editor = definitionEditor(definition);
  const result = h("div", { id: "machine-result" });
  const submit = h("button", { type: "button", className: "primary", id: "machine-submit" }, update ? "Update" : "Create");
  submit.addEventListener("click", async () => {
    result.replaceChildren();
    submit.disabled = true;
    try {
      const machineName = nameInput.value.trim();
      if (update) {
        await aws("UpdateStateMachine", { stateMachineArn: update, definition: editor.area.value });
        result.append(h("div", { className: "ok-box" }, "Updated."));
        setTimeout(route, 400);
      } else {
        await aws("CreateStateMachine", {
          name: machineName, definition: editor.area.value, type: typeSelect.value,
          roleArn: "arn:aws:iam::000000000000:role/stepwise",
        });
        location.hash = `#/machine/${encodeURIComponent(machineName)}`;
      }
    } catch (error) {
      result.append(errorBox(error));
      editor.revealFirstError();
    } finally {
      submit.disabled = false;
    }
  });
  return h("div", { className: "panel" },
    h("div", { className: "row" }, nameInput, typeSelect),
    editor.element,
    h("div", { className: "row" }, submit),
    result);
}

// ---- one state machine --------------------------------------------------------------

async function machinePage(main, name) {
  const m = await api(`/console/api/machines/${encodeURIComponent(name)}`);
  main.append(h("h1", {}, m.name, " ", h("span", { className: `badge ${m.type === "EXPRESS" ? "express" : ""}` }, m.type)));
  main.append(h("p", { className: "muted mono" }, m.arn));
  main.append(startForm(m));
  const body = h("div", {});
  const { bar, pick } = tabs(["Graph", "Definition", "Executions", "Usage"], (tab) => {
    body.replaceChildren();
    if (tab === "Graph") {
      const graph = graphView();
      body.append(graph.element);
      graph.show(parseSvg(m.graph));
    }
    if (tab === "Definition") {
      body.append(h("pre", { className: "mono", id: "definition-text" }, pretty(m.definition)));
      body.append(h("h2", {}, "Update the definition"), definitionForm({ name: m.name, type: m.type, definition: pretty(m.definition), update: m.arn }));
    }
    if (tab === "Executions") body.append(executionsList(m));
    if (tab === "Usage") body.append(usageTable(m));
  });
  main.append(bar, body);
  pick("Graph");
}

function startForm(m) {
  const input = h("textarea", { id: "start-input", rows: "4", spellcheck: "false", "aria-label": "Execution input (JSON)" });
  input.value = "{}";
  const nameInput = h("input", { type: "text", id: "start-name", placeholder: "name (optional)", "aria-label": "Execution name" });
  const problem = h("div", { id: "start-problem" });
  const button = h("button", { type: "button", className: "primary", id: "start-execution" }, "Start execution");
  function check() {
    problem.replaceChildren();
    try {
      JSON.parse(input.value);
      button.disabled = false;
    } catch (e) {
      problem.append(h("div", { className: "error-box" }, `The input is not JSON: ${e.message}`));
      button.disabled = true;
    }
  }
  input.addEventListener("input", check);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const body = { stateMachineArn: m.arn, input: input.value };
      if (nameInput.value.trim()) body.name = nameInput.value.trim();
      const started = await aws("StartExecution", body);
      location.hash = `#/execution/${encodeURIComponent(started.executionArn)}`;
    } catch (error) {
      problem.replaceChildren(errorBox(error));
      button.disabled = false;
    }
  });
  return h("details", { className: "panel", open: true },
    h("summary", {}, "Start execution"),
    h("div", { className: "row" }, nameInput),
    input, problem, h("div", { className: "row" }, button));
}

function executionsList(m) {
  const box = h("div", {});
  const filter = h("select", { id: "status-filter", "aria-label": "Status" },
    h("option", { value: "" }, "All statuses"), STATUSES.map((s) => h("option", { value: s }, s)));
  const table = h("div", {});
  const pager = h("div", { className: "row" });
  const tokens = [undefined];
  let page = 0;
  async function load() {
    table.replaceChildren(h("p", { className: "muted" }, "Loading…"));
    try {
      const request = { stateMachineArn: m.arn, maxResults: PAGE_SIZE };
      if (filter.value) request.statusFilter = filter.value;
      if (tokens[page]) request.nextToken = tokens[page];
      const listing = await aws("ListExecutions", request);
      tokens[page + 1] = listing.nextToken;
      const rows = listing.executions.map((e) => h("tr", {},
        h("td", {}, executionLink(e.executionArn, e.name)),
        h("td", {}, badge(e.status)),
        h("td", {}, when(seconds(e.startDate))),
        h("td", {}, when(seconds(e.stopDate)))));
      table.replaceChildren(rows.length
        ? h("table", { className: "list", id: "executions" },
            h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Status"), h("th", {}, "Started"), h("th", {}, "Ended"))),
            h("tbody", {}, rows))
        : h("p", { className: "muted" }, "No executions."));
      pager.replaceChildren(
        h("button", { type: "button", disabled: page === 0, onclick: () => { page--; load(); } }, "Previous"),
        h("span", { className: "muted" }, `Page ${page + 1}`),
        h("button", { type: "button", id: "next-page", disabled: !listing.nextToken, onclick: () => { page++; load(); } }, "Next"));
    } catch (error) {
      table.replaceChildren(errorBox(error));
    }
  }
  filter.addEventListener("change", () => { page = 0; tokens.length = 1; load(); });
  box.append(h("div", { className: "row" }, filter), table, pager);
  load();
  return box;
}

function usageTable(m) {
  const u = m.usage;
  return h("dl", { className: "facts", id: "usage" },
    h("dt", {}, "Standard executions"), h("dd", {}, u.standardExecutions),
    h("dt", {}, "State transitions"), h("dd", {}, u.standardTransitions),
    h("dt", {}, "Express requests"), h("dd", {}, u.expressRequests),
    h("dt", {}, "Express billed duration"), h("dd", {}, duration(u.expressBilledDurationMs)),
    h("dt", {}, "Express GB-seconds"), h("dd", {}, u.expressGbSeconds.toFixed(4)),
    h("dt", {}, "Estimated cost (list prices)"), h("dd", {}, `$${u.estimatedCost.toFixed(6)}`));
}

// ---- one execution ------------------------------------------------------------------

async function executionPage(main, arn) {
  const described = await aws("DescribeExecution", { executionArn: arn });
  const express = arn.includes(":express:");
  const title = h("h1", {}, described.name, " ", h("span", { id: "execution-status" }, badge(described.status)),
    express ? h("span", { className: "badge express" }, "Express (in memory)") : null);
  const machineName = described.stateMachineArn.split(":").pop();
  const facts = h("dl", { className: "facts", id: "execution-facts" });
  function drawFacts(e) {
    facts.replaceChildren(
      h("dt", {}, "State machine"), h("dd", {}, machineLink(machineName)),
      h("dt", {}, "Started"), h("dd", {}, when(seconds(e.startDate))),
      h("dt", {}, "Ended"), h("dd", {}, when(seconds(e.stopDate))),
      h("dt", {}, "Duration"), h("dd", {}, e.stopDate ? duration(seconds(e.stopDate) - seconds(e.startDate)) : ""));
  }
  drawFacts(described);
  const actions = h("div", { className: "row" });
  const stopForm = h("div", { className: "row" });
  const stopButton = h("button", { type: "button", className: "danger", id: "stop-execution", disabled: described.status !== "RUNNING" }, "Stop");
  stopButton.addEventListener("click", () => {
    const error = h("input", { type: "text", id: "stop-error", placeholder: "error", "aria-label": "Error" });
    const cause = h("input", { type: "text", id: "stop-cause", placeholder: "cause", "aria-label": "Cause" });
    const confirm = h("button", { type: "button", className: "danger", id: "stop-confirm" }, "Stop execution");
    confirm.addEventListener("click", async () => {
      try {
        await aws("StopExecution", { executionArn: arn, error: error.value || undefined, cause: cause.value || undefined });
        stopForm.replaceChildren(h("span", { className: "muted" }, "Stopped."));
      } catch (e) {
        stopForm.append(errorBox(e));
      }
    });
    stopForm.replaceChildren(error, cause, confirm);
  });
  const again = h("button", { type: "button", id: "start-again" }, "Start again with the same input");
  again.addEventListener("click", async () => {
    try {
      const started = await aws("StartExecution", { stateMachineArn: described.stateMachineArn, input: described.input });
      location.hash = `#/execution/${encodeURIComponent(started.executionArn)}`;
    } catch (e) {
      actions.append(errorBox(e));
    }
  });
  actions.append(stopButton, again);
  main.append(title, facts, actions, stopForm);

  const graph = graphView();
  const details = h("div", { className: "panel", id: "state-details" }, h("p", { className: "muted" }, "Click a state for its input, output and error."));
  const legend = h("div", { className: "legend" },
    h("span", { className: "l-running" }, "In progress"), h("span", { className: "l-succeeded" }, "Succeeded"),
    h("span", { className: "l-failed" }, "Failed"), h("span", { className: "l-caught" }, "Caught or aborted"),
    h("span", { className: "l-none" }, "Not reached"));
  main.append(legend, h("div", { className: "split" }, graph.element, details));
  graph.show(h("p", { className: "muted" }, "Loading the graph…"));
  main.append(h("h2", {}, "Events"));
  const events = eventTable();
  main.append(events.element);

  const board = new Map();
  let nodes = new Map();
  let selected = null;
  const response = await fetch(`/console/api/executions/${encodeURIComponent(arn)}/graph`);
  if (response.ok) {
    graph.show(parseSvg(await response.text()));
    nodes = stateNodes(graph.box);
    for (const [name, node] of nodes) {
      const pickState = () => { selected = name; showState(); };
      node.addEventListener("click", (e) => { e.stopPropagation(); pickState(); });
      node.addEventListener("keydown", (e) => { if (e.key === "Enter") pickState(); });
    }
  } else {
    graph.show(errorBox(await decode(response).catch((e) => e)));
  }
  function paint(name) {
    const node = nodes.get(name);
    const state = board.get(name);
    if (!node) return;
    node.classList.remove(...STATE_CLASSES);
    if (state) node.classList.add(`st-${state.status}`);
    node.classList.toggle("selected", name === selected);
  }
  function showState() {
    for (const name of nodes.keys()) paint(name);
    const state = board.get(selected);
    if (!state) {
      details.replaceChildren(h("h2", {}, selected), h("p", { className: "muted", id: "state-status" }, "Not reached."));
      return;
    }
    const ended = state.ended_ms ? duration(state.ended_ms - state.entered_ms) : "";
    details.replaceChildren(...[
      h("h2", { id: "state-name" }, selected),
      h("dl", { className: "facts" },
        h("dt", {}, "Status"), h("dd", { id: "state-status" }, state.status),
        h("dt", {}, "Runs"), h("dd", {}, state.runs, state.running ? ` (${state.running} in progress)` : ""),
        h("dt", {}, "Retries"), h("dd", {}, state.retries),
        h("dt", {}, "Entered"), h("dd", {}, when(state.entered_ms)),
        h("dt", {}, "Ended"), h("dd", {}, when(state.ended_ms)),
        h("dt", {}, "Took"), h("dd", {}, ended)),
      state.error ? h("div", {}, h("h3", {}, "Error"), h("pre", { id: "state-error" }, state.error), h("h3", {}, "Cause"), h("pre", { id: "state-cause" }, pretty(state.cause))) : null,
      h("h3", {}, "Input"), h("pre", { id: "state-input" }, pretty(state.input)),
      h("h3", {}, "Output"), h("pre", { id: "state-output" }, state.output === null || state.output === undefined ? (state.status === "running" ? "(none yet)" : "(none)") : pretty(state.output)),
      state.assigned ? h("div", {}, h("h3", {}, "Variables assigned"), h("pre", { id: "state-variables" }, pretty(state.assigned))) : null,
    ].filter(Boolean));
  }

  // Live updates: the server pushes each committed batch (server-sent events).
  const source = new EventSource(`/console/api/executions/${encodeURIComponent(arn)}/live`);
  onLeave(() => source.close());
  function take(message) {
    const data = JSON.parse(message.data);
    if (message.type === "snapshot") {
      // A reconnect starts again from the whole history.
      board.clear();
      events.reset();
      for (const name of nodes.keys()) paint(name);
    }
    for (const [name, state] of Object.entries(data.states)) {
      board.set(name, state);
      paint(name);
    }
    if (selected && data.states[selected]) showState();
    events.add(data.events);
    if (data.execution) {
      document.getElementById("execution-status")?.replaceChildren(badge(data.execution.status));
      stopButton.disabled = data.execution.status !== "RUNNING";
      drawFacts(data.execution);
    }
  }
  source.addEventListener("snapshot", take);
  source.addEventListener("update", take);
  source.addEventListener("end", () => source.close());
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) events.note("The live feed closed; reload to reconnect.");
  });
}

/** The event table: filterable, and virtualised so long histories stay fast. */
function eventTable() {
  const all = [];
  let shown = [];
  const text = h("input", { type: "text", id: "event-filter", placeholder: "filter by type or state", "aria-label": "Filter events" });
  const kind = h("select", { id: "event-kind", "aria-label": "Event kind" },
    h("option", { value: "" }, "All events"), h("option", { value: "State" }, "State entered/exited"),
    h("option", { value: "fail" }, "Failures"), h("option", { value: "task" }, "Tasks"));
  const count = h("span", { className: "muted", id: "event-count" });
  const note = h("span", { className: "muted" });
  const body = h("div", { className: "body", id: "events" });
  const spacer = h("div", {});
  body.append(spacer);
  const picked = h("pre", { id: "event-details" }, "Click an event for its details.");
  function matches(row) {
    const q = text.value.trim().toLowerCase();
    if (q && !(row.type.toLowerCase().includes(q) || (row.state || "").toLowerCase().includes(q))) return false;
    if (kind.value === "State") return /State(Entered|Exited)$/.test(row.type);
    if (kind.value === "fail") return /(Failed|TimedOut|Aborted)$/.test(row.type);
    if (kind.value === "task") return /^(Task|Activity|LambdaFunction)/.test(row.type) && !row.type.includes("State");
    return true;
  }
  function refilter() {
    shown = all.filter(matches);
    count.textContent = `${shown.length} of ${all.length} events`;
    spacer.style.height = `${shown.length * ROW_HEIGHT}px`;
    draw();
  }
  function draw() {
    for (const row of body.querySelectorAll(".vrow")) row.remove();
    const first = Math.max(0, Math.floor(body.scrollTop / ROW_HEIGHT) - 5);
    const last = Math.min(shown.length, first + Math.ceil(body.clientHeight / ROW_HEIGHT) + 10);
    for (let i = first; i < last; i++) {
      const e = shown[i];
      const failure = /(Failed|TimedOut)$/.test(e.type);
      const row = h("div", { className: failure ? "vrow failure" : "vrow", role: "row", "data-id": e.id },
        h("span", {}, e.id), h("span", {}, e.type), h("span", {}, e.state || ""),
        h("span", {}, when(e.timestampMs)), h("span", {}, `${e.elapsedMs} ms`));
      row.style.top = `${i * ROW_HEIGHT}px`;
      row.addEventListener("click", () => { picked.textContent = pretty(e.details); });
      body.append(row);
    }
  }
  text.addEventListener("input", refilter);
  kind.addEventListener("change", refilter);
  body.addEventListener("scroll", draw);
  const element = h("div", {},
    h("div", { className: "row" }, text, kind, count, note),
    h("div", { className: "vtable", role: "table" },
      h("div", { className: "head", role: "row" }, h("span", {}, "ID"), h("span", {}, "Type"), h("span", {}, "State"), h("span", {}, "Time"), h("span", {}, "Elapsed")),
      body),
    picked);
  return {
    element,
    add(rows) {
      all.push(...rows);
      refilter();
    },
    reset() {
      all.length = 0;
      refilter();
    },
    note(message) {
      note.textContent = message;
    },
  };
}

// ---- Express ------------------------------------------------------------------------

async function expressPage(main) {
  main.append(h("h1", {}, "Express executions ", h("span", { className: "badge express" }, "in memory")));
  main.append(h("p", { className: "muted" }, "Running Express executions and the most recent finished ones; Express histories are not stored and do not survive a restart."));
  const listing = await api("/console/api/express");
  const rows = listing.executions.map((e) => h("tr", {},
    h("td", {}, executionLink(e.executionArn, e.name)),
    h("td", {}, machineLink(e.stateMachineName)),
    h("td", {}, badge(e.status)),
    h("td", {}, when(seconds(e.startDate))),
    h("td", {}, when(seconds(e.stopDate)))));
  main.append(rows.length
    ? h("table", { className: "list", id: "express" },
        h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "State machine"), h("th", {}, "Status"), h("th", {}, "Started"), h("th", {}, "Ended"))),
        h("tbody", {}, rows))
    : h("p", { className: "muted" }, "No Express executions in memory."));
}

// ---- cluster ------------------------------------------------------------------------

/** Partition numbers as ranges: 0-3, 7, 9-10. */
function ranges(partitions) {
  const parts = [];
  for (let i = 0; i < partitions.length; i++) {
    const start = partitions[i];
    while (i + 1 < partitions.length && partitions[i + 1] === partitions[i] + 1) i++;
    parts.push(start === partitions[i] ? `${start}` : `${start}-${partitions[i]}`);
  }
  return parts.length ? parts.join(", ") : "none";
}

async function clusterPage(main) {
  main.append(h("h1", {}, "Cluster"));
  const cluster = await api("/console/api/cluster");
  if (!cluster.clustered) {
    main.append(h("p", { className: "muted" }, "This server runs alone on its embedded store: it serves every partition. Servers that share one PostgreSQL database (--database-url) form a cluster."));
    return;
  }
  main.append(h("p", { className: "muted" },
    `Seen from ${cluster.node}. ${cluster.partitionCount} partitions, leases of ${cluster.leaseSeconds} s` +
    (cluster.unowned.length ? `; moving between nodes: ${ranges(cluster.unowned)}` : "; every partition served") + "."));
  const rows = cluster.nodes.map((n) => h("tr", { className: n.live ? "" : "muted" },
    h("td", {}, n.id, n.id === cluster.node ? " (this node)" : ""),
    h("td", {}, n.live ? "live" : "gone"),
    h("td", { className: "num" }, `${n.seenSecondsAgo.toFixed(1)} s ago`),
    h("td", { className: "num" }, `${n.partitions.length}`),
    h("td", {}, ranges(n.partitions)),
    h("td", { className: "num" }, n.runningExecutions === null ? "?" : `${n.runningExecutions}`),
    h("td", {}, n.grpcAddr)));
  main.append(h("table", { className: "list", id: "nodes" },
    h("thead", {}, h("tr", {}, h("th", {}, "Node"), h("th", {}, "State"), h("th", {}, "Lease renewed"),
      h("th", {}, "Partitions"), h("th", {}, "Which"), h("th", {}, "Running executions"), h("th", {}, "gRPC address"))),
    h("tbody", {}, rows)));
}
