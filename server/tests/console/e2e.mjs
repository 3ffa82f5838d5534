// End-to-end tests of the web console in headless Chromium (Debian's package, driven by
// playwright-core). Starts the real server and the real `stepwise-worker` binary on
// loopback ports and a temporary data directory, then uses the pages as a person would.
//
//   node server/tests/console/e2e.mjs SERVER_BINARY WORKER_BINARY ARTIFACT_DIR
//
// Screenshots of the execution pages land in ARTIFACT_DIR. Prints
// `console result: N passed, M failed` and exits non-zero if any test failed.

import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const [serverBinary, workerBinary, artifacts] = process.argv.slice(2);
if (!serverBinary || !workerBinary || !artifacts) {
  console.error("usage: e2e.mjs SERVER_BINARY WORKER_BINARY ARTIFACT_DIR");
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const examples = join(here, "..", "..", "..", "examples");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
mkdirSync(artifacts, { recursive: true });

const children = [];
function start(binary, args, name) {
  const child = spawn(binary, args, { stdio: ["ignore", "inherit", "pipe"] });
  let log = "";
  child.stderr.on("data", (d) => { log = (log + d).slice(-20000); });
  child.on("exit", (code, signal) => {
    if (!child.stopping) console.error(`${name} exited early (${code ?? signal}):\n${log}`);
  });
  children.push(child);
  return child;
}
function stopAll() {
  for (const child of children) {
    child.stopping = true;
    child.kill("SIGTERM");
  }
}
process.on("exit", stopAll);

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function waitFor(check, what, seconds = 30) {
  const until = Date.now() + seconds * 1000;
  let last;
  while (Date.now() < until) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

// ---- the server, a worker and the browser -------------------------------------------

const dataDir = mkdtempSync(join(tmpdir(), "stepwise-console-"));
const grpcPort = await freePort();
const httpPort = await freePort();
const base = `http://127.0.0.1:${httpPort}`;
start(serverBinary, ["--data-dir", dataDir, "--grpc-addr", `127.0.0.1:${grpcPort}`, "--http-addr", `127.0.0.1:${httpPort}`], "server");
await waitFor(async () => (await fetch(`${base}/health`)).ok, "the server");

// Turns {"code": N} into {"statusCode": N}, as the seed's deciding function does.
const decide = `sleep 1; node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.stringify({statusCode:JSON.parse(s).code})))'`;
start(workerBinary, [
  "--endpoint", `http://127.0.0.1:${grpcPort}`, "--concurrency", "8",
  "--exec", `AMIS_deciding_function=${decide}`,
  "--echo", "AMIS_unittest_test_accept",
  "--exec", "AMIS_unittest_test_decrypt=sleep 60",
  "--exec", "AMIS_unittest_test_update_db=sleep 2; echo '3 tests failed' >&2; exit 1",
  "--echo", "AMIS_perftest_test",
], "worker");

async function aws(action, body) {
  const response = await fetch(`${base}/`, {
    method: "POST",
    headers: { "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": `AWSStepFunctions.${action}` },
    body: JSON.stringify(body),
  });
  const value = await response.json();
  if (!response.ok) throw new Error(`${action}: ${value.__type}: ${value.message}`);
  return value;
}

const browser = await chromium.launch({
  executablePath: chromiumPath,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

/** A fresh page that fails the test on any dialog, page error or request off `origin`. */
async function newPage(origin = base) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  page.problems = [];
  page.on("dialog", async (dialog) => {
    page.problems.push(`a dialog opened: ${dialog.message()}`);
    await dialog.dismiss();
  });
  page.on("pageerror", (error) => page.problems.push(`page error: ${error.message}`));
  page.on("request", (request) => {
    if (!request.url().startsWith(origin) && !request.url().startsWith("data:")) {
      page.problems.push(`request left the server: ${request.url()}`);
    }
  });
  // Every page, asset and read answers (a missing /favicon.ico showed as a 404 here);
  // POSTs may be refused on purpose.
  page.on("response", (response) => {
    if (response.request().method() === "GET" && response.status() >= 400) {
      page.problems.push(`GET ${response.url()} answered ${response.status()}`);
    }
  });
  return page;
}

/** Whether the root's End marker lies inside the graph box's visible area. */
async function endMarkerVisible(page) {
  return page.evaluate(() => {
    const box = document.querySelector("#graph").getBoundingClientRect();
    const end = document.querySelector("svg.graph g.marker.end").getBoundingClientRect();
    return end.height > 0 && end.top >= box.top && end.bottom <= box.bottom && end.left >= box.left && end.right <= box.right;
  });
}

async function stateClass(page, name) {
  return page.evaluate((n) => {
    for (const node of document.querySelectorAll("g.state[data-state]")) {
      if (node.getAttribute("data-state") === n) return node.getAttribute("class");
    }
    return null;
  }, name);
}

async function waitForState(page, name, status, seconds = 20) {
  await waitFor(async () => (await stateClass(page, name) || "").split(" ").includes(`st-${status}`),
    `state '${name}' to be ${status} (class now: ${await stateClass(page, name)})`, seconds);
}

async function clickState(page, name) {
  await page.evaluate((n) => {
    for (const node of document.querySelectorAll("g.state[data-state]")) {
      if (node.getAttribute("data-state") === n) {
        node.dispatchEvent(new MouseEvent("click", { bubbles: true }));
        return;
      }
    }
    throw new Error(`no state ${n}`);
  }, name);
}

/** Creates a state machine through the page's form; lands on its page. */
async function createThroughPage(page, name, definition, type = "STANDARD") {
  await page.goto(`${base}/#/`);
  await page.fill("#machine-name", name);
  await page.selectOption("#machine-type", type);
  await page.fill("#definition", definition);
  await page.waitForSelector("#diagnostics li");
  await page.click("#machine-submit");
  await page.waitForURL(`**/#/machine/${encodeURIComponent(name)}`);
  await page.waitForSelector("#graph svg");
}

async function startThroughPage(page, input) {
  await page.fill("#start-input", input);
  await page.click("#start-execution");
  await page.waitForURL("**/#/execution/**");
  await page.waitForSelector("#graph svg");
}

// ---- tests --------------------------------------------------------------------------

const tests = [];
function test(name, body) {
  tests.push({ name, body });
}

test("the choice seed: created, validated and run through the pages, coloured live", async () => {
  const page = await newPage();
  const definition = readFileSync(join(examples, "choice-state.asl.json"), "utf8");
  // A broken definition is flagged at its line while typing.
  await page.goto(`${base}/#/`);
  await page.fill("#definition", definition.replace('"Next": "Correct"', '"Next": "Corect"'));
  await page.waitForSelector("#diagnostics li.ERROR");
  const problem = await page.textContent("#diagnostics li.ERROR");
  assert(problem.includes("Corect") && /line 16, column \d+/.test(problem), `diagnostic: ${problem}`);
  assert(await page.locator(".editor .gutter .bad").count() === 1, "the gutter marks the broken line");

  await page.screenshot({ path: join(artifacts, "editor-diagnostic.png") });
  await createThroughPage(page, "choice", definition);
  await page.screenshot({ path: join(artifacts, "machine-choice.png"), fullPage: true });
  for (const name of ["Deciding Lambda Function", "ChoiceState", "Correct", "Error"]) {
    assert(await stateClass(page, name) !== null, `the graph draws ${name}`);
  }
  const labels = await page.locator("svg.graph .edge-label").allTextContents();
  assert(labels.some((l) => l.includes("$.statusCode == 500")), `Choice rules are labelled: ${labels}`);

  await startThroughPage(page, '{"code": 500}');
  await waitForState(page, "Deciding Lambda Function", "running", 10);
  await waitForState(page, "ChoiceState", "succeeded");
  await waitForState(page, "Error", "running");
  assert((await stateClass(page, "Correct")).split(" ").every((c) => !c.startsWith("st-")), "Correct is not reached");
  await page.screenshot({ path: join(artifacts, "execution-running.png") });
  await waitForState(page, "Error", "succeeded", 15);
  await page.waitForSelector("#execution-status .badge.SUCCEEDED");

  await clickState(page, "Error");
  await page.waitForSelector("#state-input");
  const input = JSON.parse(await page.textContent("#state-input"));
  assert(input.statusCode === 500, `Error's input: ${JSON.stringify(input)}`);
  assert((await page.textContent("#state-status")) === "succeeded", "Error's status in the panel");

  const types = await page.locator("#events .vrow span:nth-child(2)").allTextContents();
  for (const type of ["ExecutionStarted", "LambdaFunctionScheduled", "ChoiceStateEntered", "WaitStateEntered", "WaitStateExited", "ExecutionSucceeded"]) {
    assert(types.includes(type), `the event table shows ${type}: ${types}`);
  }
  await page.fill("#event-filter", "Error");
  await waitFor(async () => (await page.locator("#events .vrow").count()) === 2, "the filter to keep Error's two events");
  await page.screenshot({ path: join(artifacts, "execution-choice.png"), fullPage: true });
  assert(page.problems.length === 0, page.problems.join("; "));
});

test("a JSONata machine: expressions checked as you type, the Condition drawn, assigned variables shown", async () => {
  const page = await newPage();
  const definition = JSON.stringify({
    QueryLanguage: "JSONata", StartAt: "Set", States: {
      Set: { Type: "Pass", Assign: { count: "{% $states.input.n %}" }, Output: { n: "{% $states.input.n * 2 %}" }, Next: "Check" },
      Check: { Type: "Choice", Choices: [{ Condition: "{% $count > 1 %}", Next: "Big" }], Default: "Small" },
      Big: { Type: "Succeed", Output: { count: "{% $count %}", n: "{% $states.input.n %}" } },
      Small: { Type: "Succeed" },
    },
  }, null, 2);
  await page.goto(`${base}/#/`);
  await page.fill("#definition", definition.replace("$count > 1", "$count >"));
  await page.waitForSelector("#diagnostics li.ERROR");
  const problem = await page.textContent("#diagnostics li.ERROR");
  assert(problem.includes("/States/Check/Choices/0/Condition") && problem.includes("is not valid at character"), `diagnostic: ${problem}`);
  await createThroughPage(page, "jsonata", definition);
  const labels = await page.locator("svg.graph .edge-label").allTextContents();
  assert(labels.some((l) => l.includes("$count > 1")), `the Condition labels its edge: ${labels}`);
  await startThroughPage(page, '{"n": 3}');
  await page.waitForSelector("#execution-status .badge.SUCCEEDED");
  await waitForState(page, "Big", "succeeded");
  await clickState(page, "Set");
  await page.waitForSelector("#state-variables");
  const assigned = JSON.parse(await page.textContent("#state-variables"));
  assert(assigned.count === 3, `Set's assigned variables: ${JSON.stringify(assigned)}`);
  await clickState(page, "Big");
  await page.waitForSelector("#state-output");
  const output = JSON.parse(await page.textContent("#state-output"));
  assert(output.count === 3 && output.n === 6, `Big's output: ${JSON.stringify(output)}`);
  assert(page.problems.length === 0, page.problems.join("; "));
});

test("a failing test-pipeline run: the failed branch red, its siblings aborted", async () => {
  const page = await newPage();
  await createThroughPage(page, "pipeline", readFileSync(join(examples, "test-pipeline.asl.json"), "utf8"));
  await startThroughPage(page, "{}");
  await waitForState(page, "Unittest update_db", "failed", 20);
  await waitForState(page, "Parallel", "failed");
  await waitForState(page, "Unittest decrypt", "aborted");
  await waitForState(page, "Wait 4 min", "aborted");
  await waitForState(page, "Unittest accept", "succeeded");
  await page.waitForSelector("#execution-status .badge.FAILED");
  assert(await stateClass(page, "End of tests") !== null, "End of tests is drawn");
  assert(await endMarkerVisible(page), "the whole pipeline fits its box, End included");
  assert(await page.isHidden("#graph-more"), "nothing lies below to hint at");
  assert(!(await stateClass(page, "End of tests")).includes("st-"), "End of tests is not reached");
  await clickState(page, "Unittest update_db");
  await page.waitForSelector("#state-error");
  assert((await page.textContent("#state-error")) === "Exec.ExitCode", "the failed state's error");
  assert((await page.textContent("#state-cause")).includes("3 tests failed"), "the failed state's cause");
  await page.screenshot({ path: join(artifacts, "execution-pipeline-failed.png"), fullPage: true });
  assert(page.problems.length === 0, page.problems.join("; "));
});

test("a validation error far down the definition: its line is shown and marked", async () => {
  const page = await newPage();
  const broken = readFileSync(join(examples, "test-pipeline.asl.json"), "utf8")
    .replace('"Next": "Get statistics"', '"Next": "Get stats"');
  const line = broken.split("\n").findIndex((l) => l.includes('"Get stats"')) + 1;
  assert(line > 30, `the error is below the editor's first screen (line ${line})`);
  await page.goto(`${base}/#/`);
  await page.fill("#machine-name", "broken");
  await page.fill("#definition", broken);
  await page.waitForSelector("#diagnostics li.ERROR");
  assert(await page.locator(`.editor .line-mark.bad[data-line="${line}"]`).count() === 1, "the line has a band");
  const lineInView = () => page.evaluate((n) => {
    const area = document.querySelector("#definition").getBoundingClientRect();
    const band = document.querySelector(`.editor .line-mark.bad[data-line="${n}"]`).getBoundingClientRect();
    return band.top >= area.top && band.bottom <= area.bottom;
  }, line);
  const scrollToTop = () => page.locator("#definition").evaluate((el) => { el.scrollTop = 0; el.dispatchEvent(new Event("scroll")); });
  await scrollToTop();
  assert(!(await lineInView()), "the broken line is out of view at the top");
  await page.click("#diagnostics li.ERROR");
  await waitFor(lineInView, "the broken line to scroll into view", 5);
  const caretLine = await page.evaluate(() => {
    const area = document.querySelector("#definition");
    return area.value.slice(0, area.selectionStart).split("\n").length;
  });
  assert(caretLine === line, `the caret is on line ${line}, not ${caretLine}`);
  await page.screenshot({ path: join(artifacts, "editor-error-line.png") });

  // Submitting anyway: refused, and the editor shows the line again after scrolling away.
  await scrollToTop();
  assert(!(await lineInView()), "scrolled back to the top");
  await page.click("#machine-submit");
  await page.waitForSelector("#machine-result .error-box");
  assert((await page.textContent("#machine-result")).includes("InvalidDefinition"), "the create is refused");
  await waitFor(lineInView, "the refused submit to show the broken line", 5);
  assert(page.problems.length === 0, page.problems.join("; "));
});

test("user values are shown as text: a state named like markup runs nothing", async () => {
  const page = await newPage();
  const evil = "<img src=x onerror=alert(1)>";
  const definition = JSON.stringify({
    StartAt: evil,
    States: {
      [evil]: { Type: "Pass", Next: "Boom" },
      Boom: { Type: "Fail", Error: "<script>alert(2)</script>", Cause: "<img src=y onerror=alert(3)>" },
    },
  }, null, 2);
  await createThroughPage(page, "markup", definition);
  assert(await stateClass(page, evil) !== null, "the state is drawn under its real name");
  const drawn = await page.locator("svg.graph text.name").allTextContents();
  assert(drawn.some((t) => t.includes("<img src=x")), `the name appears as text: ${drawn}`);
  await page.click("button[data-tab=Definition]");
  await page.waitForSelector("#definition-text");
  await startThroughPage(page, JSON.stringify({ note: "<script>alert(4)</script>" }));
  await page.waitForSelector("#execution-status .badge.FAILED");
  await clickState(page, evil);
  await page.waitForSelector("#state-input");
  assert((await page.textContent("#state-input")).includes("<script>alert(4)</script>"), "the input is shown as text");
  await clickState(page, "Boom");
  await page.waitForSelector("#state-error");
  assert((await page.textContent("#state-error")) === "<script>alert(2)</script>", "the error is shown as text");
  assert((await page.textContent("#state-cause")) === "<img src=y onerror=alert(3)>", "the cause is shown as text");
  const injected = await page.evaluate(() => document.querySelectorAll("img, script:not([src='/assets/app.js'])").length);
  assert(injected === 0, `${injected} img/script elements were created from user values`);
  await page.goto(`${base}/#/`);
  await page.waitForSelector("#machines");
  assert(page.problems.length === 0, page.problems.join("; "));
});

test("Stop with an error and cause, start again with the same input, Express marked as such", async () => {
  const page = await newPage();
  await createThroughPage(page, "stoppable", JSON.stringify({
    StartAt: "Hold", States: { Hold: { Type: "Wait", Seconds: 600, End: true } },
  }));
  await startThroughPage(page, '{"batch": 7}');
  await waitForState(page, "Hold", "running");
  const first = page.url();
  await page.click("#stop-execution");
  await page.fill("#stop-error", "Operator.Stop");
  await page.fill("#stop-cause", "stopped from the console");
  await page.click("#stop-confirm");
  await page.waitForSelector("#execution-status .badge.ABORTED");
  await waitForState(page, "Hold", "aborted");
  const stopped = await aws("DescribeExecution", { executionArn: decodeURIComponent(first.split("#/execution/")[1]) });
  assert(stopped.status === "ABORTED" && stopped.error === "Operator.Stop" && stopped.cause === "stopped from the console",
    `the stop reached the server: ${JSON.stringify(stopped)}`);
  await page.click("#start-again");
  await waitFor(async () => page.url() !== first, "the new execution's page");
  await page.waitForSelector("#execution-status .badge.RUNNING");
  const again = await aws("DescribeExecution", { executionArn: decodeURIComponent(page.url().split("#/execution/")[1]) });
  assert(JSON.parse(again.input).batch === 7, `started again with the same input: ${again.input}`);
  await aws("StopExecution", { executionArn: again.executionArn });

  await createThroughPage(page, "quick-express", JSON.stringify({
    StartAt: "P", States: { P: { Type: "Pass", Result: { ok: true }, End: true } },
  }), "EXPRESS");
  await startThroughPage(page, "{}");
  await page.waitForSelector("#execution-status .badge.SUCCEEDED");
  assert((await page.textContent("h1")).includes("Express (in memory)"), "the execution page marks Express");
  await waitForState(page, "P", "succeeded");
  await page.goto(`${base}/#/express`);
  await page.waitForSelector("#express tbody tr");
  const row = await page.textContent("#express tbody tr");
  assert(row.includes("quick-express") && row.includes("SUCCEEDED"), `the Express list: ${row}`);
  // The cluster view of a server alone on its embedded store says so.
  await page.click("nav a[href='#/cluster']");
  await page.waitForSelector("main h1:text('Cluster')");
  const alone = await page.textContent("main");
  assert(alone.includes("runs alone on its embedded store"), `the cluster view: ${alone}`);
  assert(page.problems.length === 0, page.problems.join("; "));
});

test("10,000 executions page through and a 500-state execution stays responsive", async () => {
  const page = await newPage();
  const states = {};
  for (let i = 0; i < 500; i++) {
    states[`Step ${i}`] = i < 499 ? { Type: "Pass", Next: `Step ${i + 1}` } : { Type: "Succeed" };
  }
  const big = await aws("CreateStateMachine", {
    name: "big", definition: JSON.stringify({ StartAt: "Step 0", States: states }),
    roleArn: "arn:aws:iam::000000000000:role/stepwise",
  });
  const small = await aws("CreateStateMachine", {
    name: "many", definition: JSON.stringify({ StartAt: "Only", States: { Only: { Type: "Pass", End: true } } }),
    roleArn: "arn:aws:iam::000000000000:role/stepwise",
  });
  // 10,000 starts, 32 at a time.
  let next = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next < 10000) {
      const i = next++;
      await aws("StartExecution", { stateMachineArn: small.stateMachineArn, name: `run-${String(i).padStart(5, "0")}` });
    }
  }));
  await page.goto(`${base}/#/`);
  await page.waitForSelector("#machines");
  await page.screenshot({ path: join(artifacts, "machines.png"), fullPage: true });
  const counts = await page.locator('tr[data-machine="many"] td').allTextContents();
  assert(counts[4] === "10000", `10,000 succeeded are counted: ${counts}`);
  await page.goto(`${base}/#/machine/many`);
  await page.click("button[data-tab=Executions]");
  await page.waitForSelector("#executions tbody tr");
  assert((await page.locator("#executions tbody tr").count()) === 50, "one page of 50");
  const first = await page.locator("#executions tbody tr td:first-child").first().textContent();
  await page.click("#next-page");
  await waitFor(async () => (await page.locator("#executions tbody tr td:first-child").first().textContent()) !== first, "the second page");

  const run = await aws("StartExecution", { stateMachineArn: big.stateMachineArn, name: "long" });
  await page.goto(`${base}/#/execution/${encodeURIComponent(run.executionArn)}`);
  await page.waitForSelector("#execution-status .badge.SUCCEEDED");
  await waitForState(page, "Step 499", "succeeded");
  assert((await page.locator("g.state").count()) === 500, "500 states drawn");
  // Too tall to fit readably: fitted across, scrolled, with a hint until the bottom.
  await page.waitForSelector("#graph-more", { state: "visible" });
  assert(!(await endMarkerVisible(page)), "the End marker starts out of view");
  await page.locator("#graph").evaluate((el) => { el.scrollTop = el.scrollHeight; });
  await page.waitForSelector("#graph-more", { state: "hidden" });
  assert(await endMarkerVisible(page), "scrolling reaches the End marker");
  await waitFor(async () => (await page.textContent("#event-count")).startsWith("1002 of 1002"), "1,002 events listed");
  const rendered = await page.locator("#events .vrow").count();
  assert(rendered < 60, `only the visible rows are in the page (${rendered})`);
  await page.locator("#events").evaluate((el) => { el.scrollTop = el.scrollHeight; });
  await waitFor(async () => (await page.locator("#events .vrow span:nth-child(2)").allTextContents()).includes("ExecutionSucceeded"), "the last rows after scrolling");
  assert(page.problems.length === 0, page.problems.join("; "));
});

test("with keys required: sign in once, see only what the key may, the key out of scripts' reach", async () => {
  // A second server that requires keys, with the admin credential in a file.
  const keysDir = mkdtempSync(join(tmpdir(), "stepwise-console-keys-"));
  const credentials = join(keysDir, "admin.ini");
  writeFileSync(credentials, "[default]\naws_access_key_id = AKIDE2E\naws_secret_access_key = e2e-admin-secret\n");
  const grpc2 = await freePort();
  const http2 = await freePort();
  const base2 = `http://127.0.0.1:${http2}`;
  start(serverBinary, ["--data-dir", join(keysDir, "data"), "--grpc-addr", `127.0.0.1:${grpc2}`,
    "--http-addr", `127.0.0.1:${http2}`, "--admin-credentials", credentials], "server with keys");
  await waitFor(async () => (await fetch(`${base2}/health`)).ok, "the server with keys");
  // Two machines and a reader key limited to one of them, made by the admin with the CLI.
  const cli = join(dirname(serverBinary), "stepwise");
  const definition = join(keysDir, "pass.json");
  writeFileSync(definition, JSON.stringify({ StartAt: "P", States: { P: { Type: "Pass", End: true } } }));
  const admin = ["--endpoint", `http://127.0.0.1:${grpc2}`, "--key", "AKIDE2E:e2e-admin-secret"];
  for (const name of ["tests-unit", "billing"]) execFileSync(cli, [...admin, "machine", "create", name, definition]);
  const created = JSON.parse(execFileSync(cli, [...admin, "--output", "json", "key", "create", "--role", "reader", "--machines", "tests-*"]).toString());
  const readerKey = `${created.keyId}:${created.secret}`;

  const page = await newPage(base2);
  await page.goto(`${base2}/#/`);
  await page.waitForSelector("#sign-in");
  await page.fill("#key", "AKIDE2E:not-the-secret");
  await page.click("#sign-in button[type=submit]");
  await page.waitForSelector("#main .error-box");
  assert((await page.textContent("#main .error-box")).includes("InvalidSignatureException"), "a wrong secret is refused");
  await page.fill("#key", readerKey);
  await page.click("#sign-in button[type=submit]");
  await page.waitForSelector("#machines");
  const names = await page.locator("#machines tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.machine));
  assert(JSON.stringify(names) === JSON.stringify(["tests-unit"]), `only what the key may read: ${names}`);
  assert((await page.textContent("#session")).includes(created.keyId), "the header names the key");
  const scriptCookies = await page.evaluate(() => document.cookie);
  assert(!scriptCookies.includes("stepwise_key"), `the key is out of the page's reach: ${scriptCookies}`);
  const cookies = await page.context().cookies();
  const kept = cookies.find((c) => c.name === "stepwise_key");
  assert(kept && kept.httpOnly && kept.sameSite === "Strict", `an HttpOnly, SameSite=Strict cookie: ${JSON.stringify(kept)}`);
  await page.click("#session button");
  await page.waitForSelector("#sign-in");
  assert(page.problems.length === 0, page.problems.join("; "));
  rmSync(keysDir, { recursive: true, force: true });
});

let passed = 0;
let failed = 0;
for (const { name, body } of tests) {
  const started = Date.now();
  try {
    await body();
    passed++;
    console.log(`console test ${name} ... ok (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } catch (error) {
    failed++;
    console.log(`console test ${name} ... FAILED\n  ${error.stack || error}`);
  }
}
await browser.close();
stopAll();
rmSync(dataDir, { recursive: true, force: true });
console.log(`console result: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
