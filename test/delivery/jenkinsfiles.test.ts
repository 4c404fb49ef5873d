import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { parse, parseAllDocuments } from "yaml";
import { runProcess, type ProcessResult } from "../helpers/process.js";
import { curl, findJava, java as javaRuntime, requires } from "../helpers/tools.js";
import { checkDeclarativePipeline, child, environment, findStage, readGroovy, stringsIn, type GroovyBlock, type GroovySource } from "./jenkinsfile.js";

/**
 * The Jenkinsfiles: faceops' own pipeline (Jenkinsfile) and the one a team's face repository uses
 * (examples/face-repo/Jenkinsfile). Linted with npm-groovy-lint (CodeNarc, on Java), checked for the
 * declarative shape, and their scripts run here where they can be: the JUnit wiring with
 * scripts/run-tests.mjs, the manifest edit, the controller call and the wait for the run.
 */

const root = resolve(import.meta.dirname, "../..");
const read = (path: string) => readFileSync(join(root, path), "utf8");
const jenkinsfiles = ["Jenkinsfile", "examples/face-repo/Jenkinsfile"] as const;
const ownShape = {
  stages: ["Checkout", "Install", "Lint and typecheck", "Test", "Build images", "Push", "Deploy"],
  mainOnly: ["Push", "Deploy"],
  postAlways: ["junit", "archiveArtifacts"],
};
const faceRepoShape = { stages: ["Dataset check", "Train and roll out"], mainOnly: ["Train and roll out"], postAlways: ["archiveArtifacts"] };
const scratch = mkdtempSync(join(tmpdir(), "faceops-jenkinsfiles-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe("Jenkinsfiles: npm-groovy-lint", () => {
  test("both pass npm-groovy-lint 16 (CodeNarc) with no error or warning, without fetching a Java", async (t) => {
    const java = requires(t, javaRuntime) ? findJava() : null;
    if (!java) return;
    const home = mkdtempSync(join(scratch, "home-"));
    const result = await groovyLint(java, root, [...jenkinsfiles], home);
    const report = parseReport(result);
    for (const file of jenkinsfiles) {
      const entry = report.files[join(root, file)];
      assert.ok(entry, `${file} was not linted: ${result.stdout.slice(0, 500)} ${result.stderr.slice(0, 500)}`);
      const problems = entry.errors.filter((problem) => problem.severity === "error" || problem.severity === "warning");
      assert.deepEqual(problems.map((problem) => `${file}:${problem.line}: ${problem.severity} ${problem.rule}: ${problem.msg}`), []);
    }
    assert.equal(result.status, 0, result.stderr);
    assert.equal(existsSync(join(home, ".java-caller")), false, "npm-groovy-lint must use this machine's Java, never install one");
  });

  test("npm-groovy-lint fails on a Jenkinsfile that does not parse", async (t) => {
    const java = requires(t, javaRuntime) ? findJava() : null;
    if (!java) return;
    const folder = mkdtempSync(join(scratch, "broken-"));
    writeFileSync(join(folder, "Jenkinsfile"), "pipeline {\n    agent any\n    stages {\n        stage('x') {\n            steps {\n                echo 'a'\n    }\n}\n");
    const result = await groovyLint(java, folder, ["Jenkinsfile"], folder);
    const report = parseReport(result);
    assert.equal(result.status, 1);
    const errors = Object.values(report.files).flatMap((entry) => entry.errors).filter((problem) => problem.severity === "error");
    assert.ok(errors.some((problem) => problem.rule === "NglParseError"), JSON.stringify(report));
  });

  test(".groovylintrc.json starts from the Jenkinsfile preset and says why each rule is off", () => {
    const config = JSON.parse(read(".groovylintrc.json")) as { extends: string; rules: Record<string, unknown>; "//": string[] };
    assert.equal(config.extends, "recommended-jenkinsfile");
    for (const [rule, setting] of Object.entries(config.rules)) {
      if (setting === "off") assert.ok(config["//"].some((line) => line.startsWith(`${rule} off:`)), `${rule} is off without a reason in "//"`);
    }
  });
});

describe("Jenkinsfiles: declarative structure", () => {
  test("faceops' pipeline has the stages in order, steps in each, main-only publishing and post", () => {
    assert.deepEqual(checkDeclarativePipeline(read("Jenkinsfile"), ownShape), []);
  });

  test("the face repository's pipeline has its stages, main-only training and post", () => {
    assert.deepEqual(checkDeclarativePipeline(read("examples/face-repo/Jenkinsfile"), faceRepoShape), []);
  });

  test("a Jenkinsfile without an agent fails the check", () => {
    const text = read("Jenkinsfile");
    const source = readGroovy(text);
    const agent = child(pipelineOf(source), "agent");
    assert.ok(agent);
    const withoutAgent = text.slice(0, agent.start) + text.slice(agent.close + 1);
    assert.deepEqual(checkDeclarativePipeline(withoutAgent, ownShape), ["the pipeline has no agent"]);
    assert.deepEqual(checkDeclarativePipeline(withoutAgent.replace("pipeline {", "pipeline {\n    agent any"), ownShape), []);
  });

  test("other departures from the shape are named", () => {
    const text = read("Jenkinsfile");
    const cases: Array<[string, string, RegExp]> = [
      ["no pipeline", "node {\n  sh 'make'\n}\n", /expected one top-level pipeline/],
      ["unbalanced", text.replace(/\}\s*$/, ""), /cannot read it: unclosed \{/],
      ["stages out of order", text.replace("stage('Install')", "stage('Installation')"), /the stages are .*"Installation"/],
      ["a stage without steps", text.replace(/stage\('Lint and typecheck'\) \{\s*steps \{\s*sh 'npm run lint'\s*\}/, "stage('Lint and typecheck') {\n            echo 'x'"), /stage Lint and typecheck has no steps/],
      ["Push on every branch", text.replace(/(stage\('Push'\) \{\s*when \{\s*)branch 'main'/, "$1branch 'release'"), /stage Push does not run on main only/],
      ["no junit", text.replace("junit testResults", "echo testResults"), /does not call junit/],
      ["credentials() in environment", text.replace("REGISTRY = 'ghcr.io/faceops'", "REGISTRY = 'ghcr.io/faceops'\n        TOKEN = credentials('faceops-registry')"), /credentials\(\) binds a secret/],
      ["a secret in a GString", text.replace(/sh '''\n(\s*)set \+x/, 'sh "echo ${REGISTRY_PASSWORD}"\n                        sh \'\'\'\n$1set +x'), /REGISTRY_PASSWORD in a double-quoted string/],
      ["a traced secret", text.replace(/set \+x\n/, "\n"), /the shell traces commands .* REGISTRY_PASSWORD/],
    ];
    for (const [name, mutated, expected] of cases) {
      assert.notEqual(mutated, text, `${name}: the mutation applies`);
      const problems = checkDeclarativePipeline(mutated, ownShape);
      assert.ok(problems.some((problem) => expected.test(problem)), `${name}: ${JSON.stringify(problems)}`);
    }
  });
});

describe("Jenkinsfile (faceops' own pipeline)", () => {
  const source = readGroovy(read("Jenkinsfile"));
  const pipeline = pipelineOf(source);
  const env = environment(source, child(pipeline, "environment"));
  const script = (stage: string) => {
    const block = findStage(pipeline.children, stage);
    assert.ok(block, stage);
    return stringsIn(source, block).map((literal) => literal.value).join("\n");
  };

  test("runs on a Kubernetes pod with pinned node:22, kaniko (debug) and kubectl containers", () => {
    const pod = podOf(source, pipeline);
    const images = Object.fromEntries(pod.spec.containers.map((container) => [container.name, container.image]));
    assert.deepEqual(Object.keys(images), ["node", "kaniko", "kubectl"]);
    assert.match(images.node ?? "", /^node:22\.\d+\.\d+-bookworm$/);
    assert.match(images.kaniko ?? "", /^gcr\.io\/kaniko-project\/executor:v\d+\.\d+\.\d+-debug$/, "the debug image has the shell Jenkins' sh needs");
    for (const image of Object.values(images)) assert.match(image ?? "", /:[^:/]*\d[^:/]*$/, `${image} is pinned`);
    const options = source.masked.slice((child(pipeline, "options")?.open ?? 0) + 1, child(pipeline, "options")?.close);
    for (const option of ["timeout(", "buildDiscarder(", "timestamps()"]) assert.ok(options.includes(option), option);
  });

  test("installs, lints and tests with the project's own commands", () => {
    assert.match(source.text, /Map scmVars = checkout\(scm\)/);
    assert.match(script("Install"), /npm ci\b/);
    assert.match(script("Install"), /openjdk-17-jre-headless/, "npm-groovy-lint's Java");
    assert.match(script("Lint and typecheck"), /^npm run lint$/m);
    assert.match(script("Test"), /npm test\b/);
    assert.equal(environment(source, child(findStage(pipeline.children, "Test"), "environment")).get("CI"), "true");
    assert.match(source.text, /env\.IMAGE_TAG = scmVars\.GIT_COMMIT\.substring\(0, 12\)/, "images are tagged with the short commit id");
  });

  test("the Test stage's NODE_OPTIONS make scripts/run-tests.mjs write the JUnit report junit() reads", async () => {
    const testEnv = environment(source, child(findStage(pipeline.children, "Test"), "environment"));
    const nodeOptions = testEnv.get("NODE_OPTIONS") ?? "";
    const destination = /--test-reporter=junit --test-reporter-destination=(\S+)/.exec(nodeOptions)?.[1];
    assert.ok(destination, nodeOptions);
    const always = child(child(pipeline, "post"), "always");
    assert.ok(always && stringsIn(source, always).some((literal) => literal.value === destination), `junit reads ${destination}`);
    // A project laid out like this one, with one test file, run as the Test stage runs it.
    const project = mkdtempSync(join(scratch, "junit-"));
    mkdirSync(join(project, "test"));
    mkdirSync(join(project, dirname(destination)), { recursive: true });
    symlinkSync(join(root, "node_modules"), join(project, "node_modules"));
    writeFileSync(join(project, "test/sample.test.ts"), 'import { test } from "node:test";\ntest("sample passes", () => {});\n');
    const result = await run(process.execPath, [join(root, "scripts/run-tests.mjs")], { cwd: project, env: { CI: testEnv.get("CI") ?? "", NODE_OPTIONS: nodeOptions } });
    assert.equal(result.status, 0, result.stderr + result.stdout);
    assert.match(result.stdout, /✔ sample passes/, "spec on stdout still");
    assert.match(readFileSync(join(project, destination), "utf8"), /<testcase name="sample passes"/);
  });

  test("builds both Dockerfiles with kaniko, pushing only from main", () => {
    const build = script("Build images");
    const push = script("Push");
    for (const text of [build, push]) {
      const images = /for image in ([\w ]+); do/.exec(text)?.[1]?.split(" ") ?? [];
      assert.deepEqual(images, ["service", "trainer"]);
      for (const image of images) assert.ok(existsSync(join(root, `docker/${image}.Dockerfile`)));
      assert.match(text, /\/kaniko\/executor --context "dir:\/\/\$WORKSPACE" --dockerfile "docker\/\$image\.Dockerfile"/);
      assert.match(text, /--destination "\$name:\$IMAGE_TAG"/);
      assert.match(text, /--cleanup/, "two builds in one kaniko container");
    }
    assert.match(build, /--no-push/);
    assert.doesNotMatch(push, /--no-push/);
    const buildWhen = source.text.slice(child(findStage(pipeline.children, "Build images"), "when")?.open, child(findStage(pipeline.children, "Build images"), "when")?.close);
    assert.match(buildWhen, /not \{\s*branch 'main'\s*\}/, "main builds once, in Push");
  });

  test("pushes and deploys the images the manifests name", () => {
    assert.equal(env.get("SERVICE_IMAGE"), "ghcr.io/faceops/faceops");
    assert.equal(env.get("TRAINER_IMAGE"), "ghcr.io/faceops/faceops-trainer");
    const manifests = manifestImages();
    assert.deepEqual([...manifests.containers].sort(), ["ghcr.io/faceops/faceops"]);
    assert.equal(manifests.trainer, env.get("TRAINER_IMAGE"));
    const deploy = script("Deploy");
    assert.ok(deploy.includes(`kustomize edit set image "${[...manifests.containers][0]}=$SERVICE_IMAGE:$IMAGE_TAG"`));
    assert.match(deploy, /kubectl apply -k k8s\/overlays\/gpu\n/);
    for (const deployment of ["faceops-inference", "faceops-controller"]) {
      assert.ok(deploy.includes(`kubectl rollout status deployment/${deployment} -n faceops --timeout=5m`), deployment);
      assert.ok(manifests.deployments.has(deployment), `${deployment} is in k8s/base`);
    }
    assert.equal(manifests.namespace, "faceops");
  });

  test("the Deploy stage's edit points the controller's trainer image at the new tag", async () => {
    const deploy = script("Deploy");
    const sed = /^\s*(sed -i [^\n]*\n[^\n]*)$/m.exec(deploy.replace(/\\\n\s*/g, "\\\n"))?.[1];
    assert.ok(sed, deploy);
    const folder = mkdtempSync(join(scratch, "overlay-"));
    copyFileSync(join(root, "k8s/overlays/gpu/controller-env.yaml"), join(folder, "controller-env.yaml"));
    const result = await run("sh", ["-euc", sed], { cwd: folder, env: { TRAINER_IMAGE: "registry.test/faceops-trainer", IMAGE_TAG: "0123456789ab" } });
    assert.equal(result.status, 0, result.stderr);
    const edited = parse(readFileSync(join(folder, "controller-env.yaml"), "utf8")) as { spec: { template: { spec: { containers: Array<{ env: Array<{ name: string; value: string }> }> } } } };
    const value = edited.spec.template.spec.containers[0]?.env.find((entry) => entry.name === "FACEOPS_KUBERNETES_TRAINER_IMAGE")?.value;
    assert.equal(value, "registry.test/faceops-trainer:0123456789ab");
  });

  test("archives the benchmark results that exist", () => {
    const always = child(child(pipeline, "post"), "always");
    assert.ok(always && stringsIn(source, always).some((literal) => literal.value.split(/,\s*/).includes("bench/results/*.json")));
    assert.ok(readdirSync(join(root, "bench/results")).some((name) => name.endsWith(".json")));
  });
});

describe("examples/face-repo/Jenkinsfile", () => {
  const source = readGroovy(read("examples/face-repo/Jenkinsfile"));
  const pipeline = pipelineOf(source);
  const train = findStage(pipeline.children, "Train and roll out");
  const waitScript = source.strings.find((literal) => literal.quote === "'''" && literal.value.includes("/v1/runs?limit="));
  const commit = "0123456789abcdef0123456789abcdef01234567";

  test("checks the dataset in the faceops image, failing on exit status 2, and archives the report", () => {
    const pod = podOf(source, pipeline);
    const faceops = pod.spec.containers.find((container) => container.name === "faceops");
    assert.match(faceops?.image ?? "", /^ghcr\.io\/faceops\/faceops:\d+\.\d+\.\d+$/);
    assert.deepEqual([...manifestImages().containers], [faceops?.image.split(":")[0]]);
    const check = findStage(pipeline.children, "Dataset check");
    assert.ok(check);
    const code = source.text.slice(check.open, check.close);
    assert.match(code, /sh\(script: 'faceops dataset check \. --json > dataset-report\.json', returnStatus: true\)/);
    assert.match(code, /if \(status == 2\) \{\s*error\(/);
    const always = child(child(pipeline, "post"), "always");
    assert.ok(always && stringsIn(source, always).some((literal) => literal.value === "dataset-report.json"));
  });

  test("asks the controller for a run of this commit with the token from withCredentials", async (t) => {
    assert.ok(train);
    const code = source.text.slice(train.open, train.close);
    assert.match(code, /withCredentials\(\[string\(credentialsId: 'faceops-api-token', variable: 'FACEOPS_API_TOKEN'\)\]\)/);
    const post = stringsIn(source, train).find((literal) => literal.value.includes("curl "));
    assert.ok(post);
    // What the step sends is checked by sending it, below, not by restating its text.
    if (!requires(t, curl)) return;
    const seen: Array<{ method?: string; url?: string; authorization?: string; type?: string; body: string }> = [];
    const server = await listen(async (request, response) => {
      seen.push({ method: request.method, url: request.url, authorization: request.headers.authorization, type: request.headers["content-type"], body: await bodyOf(request) });
      response.writeHead(202, { "Content-Type": "application/json" }).end('{"accepted":true}');
    });
    try {
      // Jenkins runs sh steps with -xe: every command is traced until the script's set +x.
      const result = await run("sh", ["-xec", post.value], { env: { FACEOPS_API_TOKEN: "s3cret-token", GIT_COMMIT: commit, FACEOPS_URL: urlOf(server) } });
      assert.equal(result.status, 0, result.stderr);
      assert.doesNotMatch(result.stdout + result.stderr, /s3cret-token/, "the token is never printed");
    } finally {
      await close(server);
    }
    assert.deepEqual(seen, [{ method: "POST", url: "/v1/runs", authorization: "Bearer s3cret-token", type: "application/json", body: JSON.stringify({ commit }) }]);
  });

  describe("the wait for the run (node, against a stand-in controller)", () => {
    const folder = mkdtempSync(join(scratch, "wait-"));
    const script = join(folder, "wait-for-run.cjs");
    const report = join(folder, "dataset-report.json");
    writeFileSync(report, JSON.stringify({ fingerprint: "f".repeat(64) }));

    test("is plain JavaScript in the Groovy string (no escapes), written where the step runs it", () => {
      assert.ok(waitScript && train);
      assert.ok(!source.text.slice(waitScript.start, waitScript.end).includes("\\"), "no backslash: Groovy would turn it into something else");
      writeFileSync(script, waitScript.value);
      assert.match(source.text.slice(train.open, train.close), /writeFile file: "\$\{env\.WORKSPACE_TMP\}\/wait-for-run\.cjs"[\s\S]*sh\(script: 'node "\$WORKSPACE_TMP\/wait-for-run\.cjs"', returnStatus: true\)/);
      assert.equal(spawnSync(process.execPath, ["--check", script]).status, 0);
    });

    const run1 = (state: string, extra: Record<string, unknown> = {}) => ({ id: "7", state, commit, fingerprint: "f".repeat(64), reason: "the dataset changed since run 6", version: null, attempts: 1, lastAttempt: { number: 1, state: "running" }, ...extra });
    const scenarios: Array<{ name: string; pages: unknown[][]; status: number; output: RegExp }> = [
      {
        name: "follows its run to passed: exit 0",
        pages: [[], [run1("running")], [run1("promoting")], [run1("passed", { version: "v3", lastAttempt: { number: 2, state: "passed" }, attempts: 2 })]],
        status: 0,
        output: /no run for 0123456789ab yet[\s\S]*run 7 for 0123456789ab: running[\s\S]*passed: model version v3 is in service/,
      },
      {
        name: "a failed run fails the build with its reason: exit 1",
        pages: [[run1("running")], [run1("failed", { reason: "attempt 4: accuracy 0.81 is below gate.minAccuracy 0.9" })]],
        status: 1,
        output: /run 7 for 0123456789ab failed: attempt 4: accuracy 0\.81 is below gate\.minAccuracy 0\.9/,
      },
      { name: "a superseded run: exit 3 (unstable)", pages: [[run1("superseded", { reason: "superseded by run 8" })]], status: 3, output: /superseded by a newer commit: superseded by run 8/ },
      {
        name: "a commit with the same photos as the newest run takes that run's outcome once nothing runs",
        pages: [[run1("running", { id: "6", commit: "aaaaaaaaaaaa" })], [run1("passed", { id: "6", commit: "aaaaaaaaaaaa", version: "v2" })]],
        status: 0,
        output: /another run is in progress[\s\S]*run 6 \(commit aaaaaaaaaaaa, the same photos\) passed: model version v2/,
      },
      { name: "no run in time: exit 1", pages: [[run1("passed", { commit: "bbbbbbbbbbbb", fingerprint: "e".repeat(64) })]], status: 1, output: /timed out after 2 s waiting for the faceops run of 0123456789abcdef/ },
    ];
    for (const scenario of scenarios) {
      test(scenario.name, async () => {
        let calls = 0;
        const server = await listen((request, response) => {
          assert.equal(request.url, "/v1/runs?limit=100");
          const page = scenario.pages[Math.min(calls++, scenario.pages.length - 1)] ?? [];
          response.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ watching: null, runs: page }));
        });
        try {
          const result = await run(process.execPath, [script], {
            cwd: folder,
            env: { FACEOPS_URL: urlOf(server), GIT_COMMIT: commit, POLL_SECONDS: "0.05", GRACE_SECONDS: "0.2", RUN_TIMEOUT_SECONDS: "2", DATASET_REPORT: report },
          });
          assert.equal(result.status, scenario.status, result.stdout + result.stderr);
          assert.match(result.stdout, scenario.output);
        } finally {
          await close(server);
        }
      });
    }

    test("keeps waiting while the controller cannot be reached", async () => {
      const result = await run(process.execPath, [script], {
        cwd: folder,
        env: { FACEOPS_URL: "http://127.0.0.1:9", GIT_COMMIT: commit, POLL_SECONDS: "0.05", RUN_TIMEOUT_SECONDS: "0.5", DATASET_REPORT: report },
      });
      assert.equal(result.status, 1);
      assert.match(result.stdout, /cannot read http:\/\/127\.0\.0\.1:9\/v1\/runs yet[\s\S]*timed out/);
    });
  });
});

function pipelineOf(source: GroovySource): GroovyBlock {
  const pipeline = source.blocks.find((block) => block.name === "pipeline");
  assert.ok(pipeline);
  return pipeline;
}

interface Pod {
  spec: { containers: Array<{ name: string; image: string }> };
}

function podOf(source: GroovySource, pipeline: GroovyBlock): Pod {
  const kubernetes = child(child(pipeline, "agent"), "kubernetes");
  assert.ok(kubernetes, "agent { kubernetes { ... } }");
  const literal = stringsIn(source, kubernetes).find((entry) => /\byaml\s*$/.test(source.masked.slice(kubernetes.open + 1, entry.start)));
  assert.ok(literal, "kubernetes { yaml '''...''' }");
  return parse(literal.value) as Pod;
}

/** Images and names in the Kubernetes manifests the pipeline deploys. */
function manifestImages() {
  const containers = new Set<string>();
  const deployments = new Set<string>();
  for (const name of readdirSync(join(root, "k8s/base")).filter((file) => file.endsWith(".yaml"))) {
    for (const document of parseAllDocuments(readFileSync(join(root, "k8s/base", name), "utf8"))) {
      const object = document.toJS() as { kind?: string; metadata?: { name?: string }; spec?: { template?: { spec?: { containers?: Array<{ image: string }> } } } } | null;
      if (object?.kind !== "Deployment") continue;
      deployments.add(object.metadata?.name ?? "");
      for (const container of object.spec?.template?.spec?.containers ?? []) containers.add(container.image.split(":")[0] ?? "");
    }
  }
  const overlay = readFileSync(join(root, "k8s/overlays/gpu/controller-env.yaml"), "utf8");
  const trainer = /FACEOPS_KUBERNETES_TRAINER_IMAGE\s+value: ([^:\s]+):/.exec(overlay)?.[1];
  const namespace = (parse(readFileSync(join(root, "k8s/base/kustomization.yaml"), "utf8")) as { namespace: string }).namespace;
  return { containers, deployments, trainer, namespace };
}

interface LintReport {
  files: Record<string, { errors: Array<{ line: number | string; rule: string; severity: string; msg: string }> }>;
}

function parseReport(result: { stdout: string; stderr: string; status: number | null }): LintReport {
  try {
    return JSON.parse(result.stdout) as LintReport;
  } catch {
    assert.fail(`npm-groovy-lint printed no JSON report (exit ${result.status}):\n${result.stdout.slice(0, 2000)}\n${result.stderr.slice(0, 2000)}`);
  }
}

/**
 * npm-groovy-lint without its server (--noserver) and with an explicit Java (--javaexecutable), which
 * also keeps its java-caller from looking for, or installing, a JRE of its own.
 */
function groovyLint(java: { java: string; home: string }, cwd: string, files: string[], home: string) {
  const cli = join(root, "node_modules/npm-groovy-lint/lib/index.js");
  const args = [cli, "--noserver", "--output", "json", "--failon", "warning", "--javaexecutable", java.java, "--config", join(root, ".groovylintrc.json"), ...files];
  return run(process.execPath, args, { cwd, env: { HOME: home, JAVA_HOME: java.home }, timeoutMs: 240_000 });
}

function run(command: string, args: string[], options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<ProcessResult> {
  return runProcess(command, args, { timeoutMs: 60_000, ...options });
}

async function listen(handler: (request: IncomingMessage, response: ServerResponse) => void | Promise<void>): Promise<Server> {
  const server = createServer((request, response) => {
    Promise.resolve(handler(request, response)).catch((error: unknown) => response.writeHead(500).end(String(error)));
  });
  await new Promise<void>((resolvePromise) => server.listen(0, "127.0.0.1", resolvePromise));
  return server;
}

function urlOf(server: Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolvePromise) => server.close(() => resolvePromise()));
}

function bodyOf(request: IncomingMessage): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    let body = "";
    request.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
    request.on("end", () => resolvePromise(body));
    request.on("error", reject);
  });
}
