import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { parseAllDocuments } from "yaml";
import { configSchema } from "../../src/config/schema.js";
import { runProcess, type ProcessResult } from "../helpers/process.js";
import { assignments, dockerignore, execForm, lintDockerfile, parseDockerfile, stagesOf, type Instruction, type Stage } from "./dockerfile.js";

/**
 * The container images' recipes (docker/*.Dockerfile) checked without building them: dockerfile-utils'
 * lint, and the properties the Kubernetes manifests and the cluster rely on, read from the files.
 */

const root = resolve(import.meta.dirname, "../..");
const read = (path: string) => readFileSync(join(root, path), "utf8");
const dockerfiles = ["docker/service.Dockerfile", "docker/trainer.Dockerfile"] as const;
const parsed = Object.fromEntries(dockerfiles.map((path) => [path, stagesOf(parseDockerfile(read(path)))])) as Record<(typeof dockerfiles)[number], Stage[]>;
const service = parsed["docker/service.Dockerfile"];
const trainer = parsed["docker/trainer.Dockerfile"];
const finalStage = (stages: Stage[]): Stage => {
  const last = stages.at(-1);
  assert.ok(last, "no FROM");
  return last;
};
const all = (stage: Stage, keyword: string): Instruction[] => stage.instructions.filter((instruction) => instruction.keyword === keyword);
const lastOf = (stage: Stage, keyword: string): Instruction => {
  const found = all(stage, keyword).at(-1);
  assert.ok(found, `the ${stage.name ?? stage.from} stage has no ${keyword}`);
  return found;
};
const env = (stage: Stage) => new Map(all(stage, "ENV").flatMap((instruction) => [...assignments(instruction.args)]));
const runs = (stage: Stage) => all(stage, "RUN").map((instruction) => instruction.args).join("\n");
const aptInstalled = (stage: Stage) => [...runs(stage).matchAll(/apt-get install ([^&;|]*)/g)].flatMap((match) => (match[1] ?? "").split(/\s+/).filter((word) => word && !word.startsWith("-")));

/**
 * What @tensorflow/tfjs-node-gpu needs, per version: the libtensorflow it downloads
 * (scripts/deps-constants.js) and the CUDA / cuDNN that library was built against (the package's
 * README; TensorFlow's tested build configurations). A new version must be looked up and added.
 */
const tfjsNodeGpuNeeds: Record<string, { libtensorflow: string; cuda: string; cudnn: string }> = {
  "4.22.0": { libtensorflow: "2.9.1", cuda: "11.2", cudnn: "8" },
};

describe("Dockerfiles: lint", () => {
  for (const path of dockerfiles) {
    test(`${path} has no dockerfile-utils error or warning`, () => {
      const problems = lintDockerfile(read(path)).filter((problem) => problem.severity === "error" || problem.severity === "warning");
      assert.deepEqual(problems, [], problems.map((problem) => `${path}:${problem.line}: ${problem.severity}: ${problem.message}`).join("\n"));
    });
  }

  test("the lint catches a broken Dockerfile", () => {
    const broken = ["FROM node:22.23.2-bookworm-slim AS build", "EXPOSE http", "HEALTHCHECK --interval=5 CMD true", "copy a b", "USER", ""].join("\n");
    const problems = lintDockerfile(broken);
    const at = (line: number, severity: string) => problems.some((problem) => problem.line === line && problem.severity === severity);
    assert.ok(at(2, "error"), `EXPOSE http: ${JSON.stringify(problems)}`);
    assert.ok(at(3, "error"), `a duration without a unit: ${JSON.stringify(problems)}`);
    assert.ok(at(4, "warning"), `a lower-case instruction: ${JSON.stringify(problems)}`);
    assert.ok(at(5, "error"), `USER without a user: ${JSON.stringify(problems)}`);
  });
});

describe("Dockerfiles: images", () => {
  for (const path of dockerfiles) {
    const stages = parsed[path];

    test(`${path}: every base image is pinned to a version (no latest, no variable)`, () => {
      const names = new Set<string>();
      for (const stage of stages) {
        if (!names.has(stage.from)) {
          assert.doesNotMatch(stage.from, /\$/, `${stage.from}: a variable`);
          const tag = /^[^@]+:([^:/@]+)(@sha256:[0-9a-f]{64})?$/.exec(stage.from)?.[1];
          assert.ok(tag, `${stage.from} has no tag`);
          assert.notEqual(tag, "latest");
          assert.match(tag, /\d+\.\d+\.\d+/, `${stage.from}: a full version, not a moving major tag`);
        }
        if (stage.name) names.add(stage.name);
      }
      assert.ok(stages.length >= 2, "a multi-stage build: the build tools stay out of the image");
    });

    test(`${path}: the image runs as uid 10001, numeric, non-root, owning nothing`, () => {
      const last = finalStage(stages);
      const user = lastOf(last, "USER").args;
      assert.match(user, /^\d+(:\d+)?$/, "numeric, so Kubernetes' runAsNonRoot can check it");
      const [uid, gid] = user.split(":").map(Number);
      assert.equal(uid, 10001);
      assert.notEqual(gid, 0);
      assert.match(runs(last) + runs(stages[0] as Stage), /useradd [^&]*--uid 10001/);
      for (const instruction of last.instructions) {
        assert.equal(instruction.flags.chown, undefined, `line ${instruction.line}: nothing is handed to the user`);
        if (instruction.keyword === "RUN") assert.doesNotMatch(instruction.args, /\bchown\b/, `line ${instruction.line}`);
      }
      // The manifests ask for the same user (and the Jobs the controller creates, src/platform/kubernetes/job.ts).
      for (const uidInManifests of runAsUsers()) assert.equal(uidInManifests, uid);
      assert.equal(env(last).get("HOME"), "/tmp", "the only writable place");
      assert.equal(lastOf(last, "WORKDIR").args, "/tmp");
    });

    test(`${path}: \`faceops\` is on the PATH for the manifests' command: ["faceops"]`, () => {
      const last = finalStage(stages);
      const wrapper = all(last, "COPY").find((instruction) => instruction.args.endsWith(" /usr/local/bin/faceops"));
      assert.ok(wrapper, "COPY ... /usr/local/bin/faceops");
      assert.equal(wrapper.args, "docker/faceops.sh /usr/local/bin/faceops");
      assert.match(runs(last) + runs(stages[0] as Stage), /chmod 0755 \/usr\/local\/bin\/faceops/);
      assert.ok(aptInstalled(stages[0] as Stage).includes("tini") || aptInstalled(last).includes("tini"), "tini installed from the distribution");
      assert.equal(env(last).get("NODE_ENV"), "production");
      const copied = all(last, "COPY").map((instruction) => `${instruction.flags.from ?? "context"}: ${instruction.args}`);
      assert.deepEqual(copied.sort(), [
        "build: /app/dist ./dist",
        "build: /app/node_modules ./node_modules",
        "build: /app/package.json ./package.json",
        "context: docker/faceops.sh /usr/local/bin/faceops",
        "context: examples/ ./examples/",
      ]);
      // The copies land in /app, where the wrapper runs /app/dist/cli/main.js.
      const firstCopy = last.instructions.findIndex((instruction) => instruction.keyword === "COPY" && instruction.flags.from === "build");
      const workdir = last.instructions.slice(0, firstCopy).filter((instruction) => instruction.keyword === "WORKDIR").at(-1);
      assert.equal(workdir?.args, "/app");
      const labels = new Map(all(last, "LABEL").flatMap((instruction) => [...assignments(instruction.args)]));
      for (const key of ["title", "description", "source", "version", "revision"]) assert.ok(labels.get(`org.opencontainers.image.${key}`), `OCI label ${key}`);
    });

    test(`${path}: no credentials in the image recipe`, () => {
      const text = read(path);
      const secretName = /token|secret|passw|credential|api_?key|private_?key|auth/i;
      for (const stage of stages) {
        for (const instruction of stage.instructions.filter((entry) => entry.keyword === "ARG" || entry.keyword === "ENV")) {
          for (const [name, value] of assignments(instruction.args)) {
            if (secretName.test(name)) assert.ok(instruction.keyword === "ARG" && !value, `line ${instruction.line}: ${name} is given a value in the image`);
          }
        }
      }
      assert.doesNotMatch(text, /gh[pousr]_[A-Za-z0-9]{20,}|github_pat_|glpat-|AKIA[0-9A-Z]{16}|xox[abp]-|-----BEGIN [A-Z ]*PRIVATE KEY|Bearer [A-Za-z0-9._-]{16,}/);
      assert.doesNotMatch(text, /--mount=type=secret|\.npmrc.*_authToken/);
    });
  }

  test("service: build stage installs, builds and prunes; the runtime stage only copies", () => {
    const build = service[0] as Stage;
    assert.equal(build.name, "build");
    assert.match(build.from, /^node:22\.\d+\.\d+-bookworm-slim$/);
    assert.equal(finalStage(service).from, build.from, "one Node version in both stages");
    assert.equal(env(build).get("ONNXRUNTIME_NODE_INSTALL"), "skip");
    // That it installs and builds is shown by building it (service-image.test.ts); what the build
    // must also do, and nothing running the image would reveal, is checked here.
    const script = runs(build);
    assert.match(script, /npm prune --omit=dev\b/);
    assert.match(script, /rm -rf node_modules\/@tensorflow\/tfjs-node node_modules\/@tensorflow\/tfjs-node-gpu/);
    assert.equal(all(finalStage(service), "RUN").length, 1, "one layer of packages and the user");
    assert.deepEqual(aptInstalled(finalStage(service)).sort(), ["ca-certificates", "git", "openssh-client", "tini"]);
  });

  test("service: port, health check, init process and default command", () => {
    const last = finalStage(service);
    assert.equal(lastOf(last, "EXPOSE").args, "8080");
    assert.deepEqual(execForm(lastOf(last, "ENTRYPOINT").args), ["tini", "--", "faceops"]);
    assert.deepEqual(execForm(lastOf(last, "CMD").args), ["serve"]);
    const health = lastOf(last, "HEALTHCHECK");
    assert.equal(health.flags.interval, "30s");
    const command = execForm(health.args.replace(/^CMD\s+/, ""));
    assert.ok(command && health.args.startsWith("CMD "), "HEALTHCHECK CMD [...] in exec form");
    assert.equal(command[0], "node", "node itself: no curl in a slim image");
    // What it checks is shown by running it, in the next test.
  });

  test("service: the health check command exits 0 on a healthy server, 1 otherwise", async () => {
    const command = execForm(lastOf(finalStage(service), "HEALTHCHECK").args.replace(/^CMD\s+/, "")) ?? [];
    let status = 200;
    const server = createServer((request, response) => {
      response.writeHead(request.url === "/healthz" ? status : 404).end("{}");
    });
    await new Promise<void>((resolvePromise) => server.listen(0, "127.0.0.1", resolvePromise));
    const port = (server.address() as AddressInfo).port;
    const check = (portToCheck: number) => runAsync(process.execPath, command.slice(1), { FACEOPS_SERVE_PORT: String(portToCheck) });
    try {
      assert.equal((await check(port)).status, 0);
      status = 503;
      assert.equal((await check(port)).status, 1);
    } finally {
      await closeServer(server);
    }
    assert.equal((await check(port)).status, 1, "nothing listening");
  });

  test("trainer: CUDA 11.2 and cuDNN 8 as @tensorflow/tfjs-node-gpu's libtensorflow needs", () => {
    const lock = JSON.parse(read("package-lock.json")) as { packages: Record<string, { version?: string; optional?: boolean }> };
    const packageJson = JSON.parse(read("package.json")) as { optionalDependencies?: Record<string, string> };
    assert.ok(packageJson.optionalDependencies?.["@tensorflow/tfjs-node-gpu"], "an optional dependency the trainer installs");
    const version = lock.packages["node_modules/@tensorflow/tfjs-node-gpu"]?.version ?? "";
    const needs = tfjsNodeGpuNeeds[version];
    assert.ok(needs, `@tensorflow/tfjs-node-gpu ${version}: look up its libtensorflow, CUDA and cuDNN and add them to tfjsNodeGpuNeeds`);
    const base = (trainer[0] as Stage).from;
    const tag = /^nvidia\/cuda:(\d+\.\d+)\.\d+-cudnn(\d+)-runtime-ubuntu\d+\.\d+$/.exec(base);
    assert.ok(tag, `${base}: an nvidia/cuda <version>-cudnn<major>-runtime image`);
    assert.equal(tag[1], needs.cuda);
    assert.equal(tag[2], needs.cudnn);
    assert.match(read("docker/trainer.Dockerfile"), new RegExp(`libtensorflow ${needs.libtensorflow.replace(/\./g, "\\.")}`), "the comment records what was checked");
    const build = trainer.find((stage) => stage.name === "build");
    assert.ok(build);
    const script = runs(build);
    assert.match(script, /npm ci\b/);
    assert.match(script, /npm rebuild @tensorflow\/tfjs-node-gpu/);
    assert.ok(script.includes(`deps/lib/libtensorflow.so.${needs.libtensorflow}`), "the build fails when the optional GPU package did not install");
    assert.match(script, /npm run build\b/);
    assert.match(script, /npm prune --omit=dev\b/);
    assert.equal(env(build).get("ONNXRUNTIME_NODE_INSTALL"), "skip");
  });

  test("trainer: Node 22 from the official tarball, checked against its SHA-256", () => {
    const base = trainer[0] as Stage;
    const args = new Map(all(base, "ARG").flatMap((instruction) => [...assignments(instruction.args)]));
    assert.match(args.get("NODE_VERSION") ?? "", /^22\.\d+\.\d+$/);
    assert.match(args.get("NODE_SHA256") ?? "", /^[0-9a-f]{64}$/);
    const script = runs(base);
    assert.ok(script.includes('"https://nodejs.org/dist/v${NODE_VERSION}/node-v${NODE_VERSION}-linux-x64.tar.xz"'));
    assert.ok(script.includes('echo "${NODE_SHA256}  /tmp/node.tar.xz" | sha256sum -c -'));
    assert.ok(script.indexOf("sha256sum -c") < script.indexOf("tar -xJf"), "checked before it is unpacked");
    const serviceNode = /^node:(\d+\.\d+\.\d+)-/.exec(finalStage(service).from)?.[1];
    assert.equal(args.get("NODE_VERSION"), serviceNode, "the same Node in both images");
  });

  test("service: listens on every interface of the container, where faceops' own default (127.0.0.1) would be unreachable", () => {
    const last = finalStage(service);
    assert.equal(env(last).get("FACEOPS_SERVE_HOST"), "0.0.0.0");
    // The image's setting is the only reason it is reachable: faceops itself stays on loopback.
    assert.equal(configSchema.parse({}).serve.host, "127.0.0.1");
  });

  test("trainer: opens no port, so it exposes none and keeps the loopback default", () => {
    const last = finalStage(trainer);
    assert.equal(all(last, "EXPOSE").length, 0);
    assert.equal(env(last).has("FACEOPS_SERVE_HOST"), false);
    assert.deepEqual(execForm(lastOf(last, "CMD").args), ["--help"], "it runs `faceops attempt` (given by the Job), never `serve` or `up`");
  });

  test("trainer: the GPU engine, the wrapper as entrypoint, help by default", () => {
    const last = finalStage(trainer);
    assert.equal(env(last).get("FACEOPS_ENGINE"), "tfjs-node-gpu");
    assert.deepEqual(execForm(lastOf(last, "ENTRYPOINT").args), ["faceops"]);
    assert.deepEqual(execForm(lastOf(last, "CMD").args), ["--help"]);
  });
});

describe("Dockerfiles: build context", () => {
  const excluded = dockerignore(read(".dockerignore"));

  test(".dockerignore follows Docker's matching", () => {
    const matcher = dockerignore(["*", "!src/", "!docker/faceops.sh", "**/node_modules", "bench/results", "!bench/results/keep.json"].join("\n"));
    assert.equal(matcher("src/cli/main.ts"), false);
    assert.equal(matcher("src/x/node_modules/y.js"), true);
    assert.equal(matcher("docker/faceops.sh"), false);
    assert.equal(matcher("docker/other.sh"), true);
    assert.equal(matcher("README.md"), true);
    assert.equal(matcher("./src//cli/../cli/main.ts"), false);
  });

  test("local state, history, tests and manifests stay out of the context", () => {
    for (const path of ["node_modules/express/package.json", "dist/cli/main.js", ".git/HEAD", ".faceops/runs/1.json", "faces/A/1.jpg", "bench/results/serve.json", "test/readme.test.ts", "k8s/base/controller.yaml", "src/x/node_modules/a.js", ".env"]) {
      assert.equal(excluded(path), true, path);
    }
  });

  for (const path of dockerfiles) {
    test(`${path}: every path it copies from the context exists and is not ignored`, () => {
      const copies = parsed[path].flatMap((stage) => stage.instructions.filter((instruction) => (instruction.keyword === "COPY" || instruction.keyword === "ADD") && !instruction.flags.from));
      assert.ok(copies.length > 0);
      for (const copy of copies) {
        const words = execForm(copy.args) ?? copy.args.split(/\s+/);
        const sources = words.slice(0, -1);
        assert.ok(sources.length > 0, `line ${copy.line}: ${copy.args}`);
        for (const source of sources) {
          assert.doesNotMatch(source, /[*?[]|^https?:|\.\./, `line ${copy.line}: a plain path inside the context`);
          const absolute = join(root, source);
          assert.ok(existsSync(absolute), `line ${copy.line}: ${source} does not exist`);
          const files = filesUnder(absolute);
          assert.ok(files.length > 0, `${source} is empty`);
          for (const file of files) assert.equal(excluded(relative(root, file)), false, `line ${copy.line}: ${relative(root, file)} is excluded by .dockerignore`);
        }
      }
    });
  }
});

describe("docker/faceops.sh", () => {
  const folder = mkdtempSync(join(tmpdir(), "faceops-wrapper-"));
  after(() => rmSync(folder, { recursive: true, force: true }));

  test("is executable and runs node on the CLI with the arguments, passing the exit status on", async () => {
    assert.ok((statSync(join(root, "docker/faceops.sh")).mode & 0o111) !== 0, "executable");
    const main = join(folder, "main.js");
    writeFileSync(main, "console.log(JSON.stringify(process.argv.slice(2))); process.exitCode = 3;\n");
    const result = await runAsync("sh", [join(root, "docker/faceops.sh"), "dataset", "check", "my faces", "--json"], { FACEOPS_MAIN: main });
    assert.equal(result.status, 3, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), ["dataset", "check", "my faces", "--json"]);
  });

  test("is a POSIX shell script that dash accepts", () => {
    const result = spawnSync("sh", ["-n", join(root, "docker/faceops.sh")], { encoding: "utf8" });
    assert.equal(result.status, 0, result.stderr);
  });
});

function filesUnder(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path).flatMap((name) => filesUnder(join(path, name)));
}

/** securityContext.runAsUser of every pod template and pod in k8s/base. */
function runAsUsers(): number[] {
  const found: number[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (node && typeof node === "object") {
      for (const [key, value] of Object.entries(node)) {
        if (key === "runAsUser" && typeof value === "number") found.push(value);
        else visit(value);
      }
    }
  };
  for (const name of readdirSync(join(root, "k8s/base")).filter((file) => file.endsWith(".yaml"))) {
    for (const document of parseAllDocuments(read(`k8s/base/${name}`))) visit(document.toJS());
  }
  assert.ok(found.length >= 2, "the controller's and the inference service's pods");
  return found;
}

function runAsync(command: string, args: string[], env: Record<string, string>): Promise<ProcessResult> {
  return runProcess(command, args, { env: { HOME: undefined, ...env } });
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolvePromise) => server.close(() => resolvePromise()));
}
