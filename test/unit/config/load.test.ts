import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ConfigError,
  configKeys,
  envNameForKey,
  loadConfig,
  nonConfigEnvironment,
  parseSetArgument,
  renamedKeys,
  type ConfigInput,
} from "../../../src/config/load.js";
import { booleanValue, byteSize, configSchema, duration, resolveEngineWorkers } from "../../../src/config/schema.js";
import { formatByteSize, formatDuration, maxTimerDelayMs, parseByteSize, parseDuration } from "../../../src/config/units.js";

let dir: string;
let counter = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "faceops-config-test-"));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes a config file with a unique name and returns its path. */
async function yamlFile(text: string): Promise<string> {
  const path = join(dir, `faceops-${++counter}.yaml`);
  await writeFile(path, text, "utf8");
  return path;
}

const missing = () => join(dir, "missing.yaml");

/** Runs loadConfig and returns the ConfigError's message; fails when it does not throw one. */
async function configErrorOf(input: ConfigInput): Promise<string> {
  try {
    await loadConfig(input);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    assert.equal(error.name, "ConfigError");
    return error.message;
  }
  assert.fail("loadConfig did not throw");
}

const defaults = {
  store: ".faceops",
  cache: "~/.cache/faceops",
  engine: { name: "auto", workers: "auto" },
  log: { level: "info", format: "auto" },
  source: { repo: "./faces", branch: "main", username: "", passwordFile: "", sshKeyFile: "" },
  dataset: { minImagesPerLabel: 5, testFraction: 0.2, minSide: 32, maxPixels: 40_000_000, maxBytes: 20_000_000, concurrency: 8, requireFace: false },
  vision: { size: 224, fit: "crop" },
  model: { backbone: "auto", vgg16Weights: "", pooling: "avg", crop: "face", batchSize: 8, precision: "fp32" },
  train: {
    epochs: 5,
    learningRate: 0.001,
    batchSize: 32,
    units: 256,
    dropout: 0.5,
    classWeights: "balanced",
    earlyStoppingPatience: 0,
    augmentVariants: 0,
    seed: 42,
  },
  augment: {
    rotationRange: 15,
    widthShiftRange: 0.1,
    heightShiftRange: 0.1,
    zoomRange: 0.1,
    horizontalFlip: true,
    brightnessMin: 0.8,
    brightnessMax: 1.2,
  },
  openSet: { maxDistance: "auto", confidentDistance: "auto", calibrationStrangers: "auto", targetStrangerRejection: 0.97, maxKnownRejection: 0.01, confidentStrangerRejection: 0.995, rule: "class-mean" },
  serve: {
    port: 8080,
    host: "127.0.0.1",
    maxBatch: 8,
    maxDelayMs: 5,
    maxBodyBytes: 10_000_000,
    maxImagesPerRequest: 16,
    maxBufferedBytes: 512_000_000,
    maxPixels: 25_000_000,
    decodeConcurrency: "auto",
    gracePeriod: 25_000,
    checkInterval: 5_000,
    capture: { enabled: false, lowMargin: 0.1, maxItems: 500, maxAgeDays: 30, keepPhoto: false },
  },
  gate: { minAccuracy: 0.9, maxRegression: 0.01, minStrangerRejection: 0.9, maxKnownRejection: 0.05, maxPersonRegression: 0.25 },
  review: { branch: "", committerName: "faceops", committerEmail: "faceops@localhost" },
  controller: {
    pollInterval: 30_000,
    onNewCommit: "queue",
    maxAttempts: 4,
    maxCrashedAttempts: 2,
    parallelAttempts: 1,
    attemptTimeout: 7_200_000,
    rolloutDeadline: 120_000,
    apiTokenFile: "",
    webhookSecretFile: "",
  },
  kubernetes: {
    namespace: "",
    trainerImage: "ghcr.io/faceops/faceops-trainer:0.1.0",
    gpus: 1,
    trainerCpu: "2",
    trainerMemory: "6Gi",
    nodeSelector: {},
    tolerations: [],
    priorityClassName: "",
    storeClaim: "faceops-store",
    storeMountPath: "/store",
    gitSecret: "faceops-git",
    backoffLimit: 0,
    ttlAfterFinished: 86_400_000,
    pendingTimeout: 600_000,
    deployment: "faceops-inference",
    trainerServiceAccount: "faceops-trainer",
    trainerEphemeralStorage: "2Gi",
    trainerTmpSize: "1Gi",
  },
};

const allKeys = [
  "store",
  "cache",
  "engine.name",
  "engine.workers",
  "log.level",
  "log.format",
  "source.repo",
  "source.branch",
  "source.username",
  "source.passwordFile",
  "source.sshKeyFile",
  "dataset.minImagesPerLabel",
  "dataset.testFraction",
  "dataset.minSide",
  "dataset.maxPixels",
  "dataset.maxBytes",
  "dataset.concurrency",
  "dataset.requireFace",
  "vision.size",
  "vision.fit",
  ...Object.keys(defaults.model).map((key) => `model.${key}`),
  ...Object.keys(defaults.train).map((key) => `train.${key}`),
  ...Object.keys(defaults.augment).map((key) => `augment.${key}`),
  "openSet.maxDistance",
  "openSet.confidentDistance",
  "openSet.calibrationStrangers",
  "openSet.targetStrangerRejection",
  "openSet.maxKnownRejection",
  "openSet.confidentStrangerRejection",
  "openSet.rule",
  ...Object.keys(defaults.serve).flatMap((key) => (key === "capture" ? Object.keys(defaults.serve.capture).map((leaf) => `serve.capture.${leaf}`) : [`serve.${key}`])),
  "gate.minAccuracy",
  "gate.maxRegression",
  "gate.minStrangerRejection",
  "gate.maxKnownRejection",
  "gate.maxPersonRegression",
  "review.branch",
  "review.committerName",
  "review.committerEmail",
  ...Object.keys(defaults.controller).map((key) => `controller.${key}`),
  ...Object.keys(defaults.kubernetes).map((key) => `kubernetes.${key}`),
];

describe("loadConfig defaults", () => {
  test("no file, no env, no overrides gives every default", async () => {
    const loaded = await loadConfig({ defaultFile: missing() });
    assert.deepEqual(loaded.config, defaults);
    assert.equal(loaded.file, null);
    assert.equal(loaded.origins.size, 0);
    assert.deepEqual(loaded.warnings, []);
  });

  test("no input at all reads no file and does not look at process.env", async () => {
    const loaded = await loadConfig();
    assert.deepEqual(loaded.config, defaults);
    assert.equal(loaded.file, null);
    assert.deepEqual(loaded.warnings, []);
  });

  test("the schema parses an empty object to the same defaults", () => {
    assert.deepEqual(configSchema.parse({}), defaults);
  });

  test("an empty file is a valid configuration", async () => {
    const path = await yamlFile("");
    const loaded = await loadConfig({ file: path });
    assert.deepEqual(loaded.config, defaults);
    assert.equal(loaded.file, path);
    assert.equal(loaded.origins.size, 0);
  });

  test("a file holding only a comment is a valid configuration", async () => {
    const path = await yamlFile("# nothing here yet\n");
    assert.deepEqual((await loadConfig({ file: path })).config, defaults);
  });
});

describe("loadConfig file", () => {
  test("values from the file replace defaults, and origins name the file", async () => {
    const path = await yamlFile(
      [
        "store: /var/lib/faceops",
        "dataset:",
        "  testFraction: 0.3",
        "  minImagesPerLabel: 7",
        "  maxBytes: 512KiB",
        "vision:",
        "  fit: pad",
        "log:",
        "  level: debug",
      ].join("\n"),
    );
    const loaded = await loadConfig({ file: path });
    assert.equal(loaded.file, path);
    assert.deepEqual(loaded.config, {
      ...defaults,
      store: "/var/lib/faceops",
      log: { level: "debug", format: "auto" },
      dataset: { ...defaults.dataset, testFraction: 0.3, minImagesPerLabel: 7, maxBytes: 524_288 },
      vision: { size: 224, fit: "pad" },
    });
    assert.deepEqual(
      new Map(loaded.origins),
      new Map([
        ["store", path],
        ["dataset.testFraction", path],
        ["dataset.minImagesPerLabel", path],
        ["dataset.maxBytes", path],
        ["vision.fit", path],
        ["log.level", path],
      ]),
    );
  });

  test("defaultFile is read when it exists", async () => {
    const path = await yamlFile("store: from-default-file\n");
    const loaded = await loadConfig({ defaultFile: path });
    assert.equal(loaded.config.store, "from-default-file");
    assert.equal(loaded.file, path);
    assert.equal(loaded.origins.get("store"), path);
  });

  test("an explicit file wins over defaultFile, which is then not read", async () => {
    const explicit = await yamlFile("store: explicit\n");
    const fallback = await yamlFile("store: fallback\n");
    const loaded = await loadConfig({ file: explicit, defaultFile: fallback });
    assert.equal(loaded.config.store, "explicit");
    assert.equal(loaded.file, explicit);
  });

  test("an explicit file that does not exist throws, naming it", async () => {
    const path = join(dir, "not-there.yaml");
    const message = await configErrorOf({ file: path });
    assert.ok(message.startsWith(`cannot read config file ${path}: `), message);
    assert.match(message, /ENOENT/);
  });

  test("an explicit missing file throws even when defaultFile exists", async () => {
    const fallback = await yamlFile("store: fallback\n");
    await assert.rejects(loadConfig({ file: join(dir, "nope.yaml"), defaultFile: fallback }), ConfigError);
  });

  test("a directory given as the file throws (not silently ignored)", async () => {
    const message = await configErrorOf({ file: dir });
    assert.ok(message.startsWith(`cannot read config file ${dir}: `), message);
  });

  test("a defaultFile that is a directory throws too (only ENOENT is forgiven)", async () => {
    await assert.rejects(loadConfig({ defaultFile: dir }), ConfigError);
  });

  test("invalid YAML throws naming the file", async () => {
    const path = await yamlFile("dataset:\n  testFraction: [0.2\n");
    const message = await configErrorOf({ file: path });
    assert.ok(message.startsWith(`config file ${path} is not valid YAML: `), message);
  });

  test("invalid YAML in defaultFile throws as well", async () => {
    const path = await yamlFile("store: a\n  bad: indentation\n");
    const message = await configErrorOf({ defaultFile: path });
    assert.ok(message.includes(path), message);
    assert.match(message, /not valid YAML/);
  });

  test("a file holding a list or a scalar is refused", async () => {
    const list = await yamlFile("- store\n- dataset\n");
    assert.equal(await configErrorOf({ file: list }), `config file ${list} must hold a mapping of keys, received ["store","dataset"]`);
    const scalar = await yamlFile("hello\n");
    assert.equal(await configErrorOf({ file: scalar }), `config file ${scalar} must hold a mapping of keys, received "hello"`);
  });

  test("an unknown nested key throws naming it and the file", async () => {
    const path = await yamlFile("dataset:\n  minImages: 3\n");
    const message = await configErrorOf({ file: path });
    assert.equal(message, `invalid configuration:\n  unknown key "dataset.minImages" (from ${path})`);
  });

  test("an unknown top-level key throws naming it", async () => {
    const path = await yamlFile("store: x\ncolour: red\n");
    const message = await configErrorOf({ file: path });
    assert.match(message, /unknown key "colour"/);
    assert.ok(message.includes(`(from ${path})`), message);
  });

  test("a section given as a scalar is refused with its origin", async () => {
    const path = await yamlFile("dataset: 5\n");
    const message = await configErrorOf({ file: path });
    assert.ok(message.includes(`dataset = 5 (from ${path}): `), message);
  });
});

describe("loadConfig environment", () => {
  test("env strings are coerced to numbers and sizes", async () => {
    const loaded = await loadConfig({
      defaultFile: missing(),
      env: {
        FACEOPS_DATASET_MIN_IMAGES_PER_LABEL: "12",
        FACEOPS_DATASET_TEST_FRACTION: "0.25",
        FACEOPS_DATASET_CONCURRENCY: " 8 ",
        FACEOPS_DATASET_MAX_BYTES: "20MB",
        FACEOPS_DATASET_MAX_PIXELS: "1000000",
        FACEOPS_VISION_SIZE: "160",
        FACEOPS_LOG_LEVEL: "warn",
        FACEOPS_SOURCE_SSH_KEY_FILE: "/keys/id",
      },
    });
    assert.deepEqual(loaded.config.dataset, {
      ...defaults.dataset,
      minImagesPerLabel: 12,
      testFraction: 0.25,
      concurrency: 8,
      maxBytes: 20_000_000,
      maxPixels: 1_000_000,
    });
    assert.equal(loaded.config.vision.size, 160);
    assert.equal(loaded.config.log.level, "warn");
    assert.equal(loaded.config.source.sshKeyFile, "/keys/id");
    assert.equal(loaded.origins.get("dataset.minImagesPerLabel"), "env FACEOPS_DATASET_MIN_IMAGES_PER_LABEL");
    assert.equal(loaded.origins.get("source.sshKeyFile"), "env FACEOPS_SOURCE_SSH_KEY_FILE");
    assert.equal(loaded.origins.size, 8);
    assert.deepEqual(loaded.warnings, []);
  });

  test("a non-numeric env value throws naming key, value and variable", async () => {
    const message = await configErrorOf({ defaultFile: missing(), env: { FACEOPS_DATASET_TEST_FRACTION: "abc" } });
    assert.ok(message.startsWith("invalid configuration:\n  "), message);
    assert.ok(message.includes(`dataset.testFraction = "abc" (from env FACEOPS_DATASET_TEST_FRACTION): `), message);
  });

  test("an empty env value is not coerced to 0", async () => {
    const message = await configErrorOf({ defaultFile: missing(), env: { FACEOPS_DATASET_MIN_SIDE: "" } });
    assert.ok(message.includes(`dataset.minSide = "" (from env FACEOPS_DATASET_MIN_SIDE)`), message);
  });

  test("out-of-range values throw with their origin", async () => {
    const fromEnv = await configErrorOf({ defaultFile: missing(), env: { FACEOPS_DATASET_TEST_FRACTION: "1.5" } });
    assert.ok(fromEnv.includes(`dataset.testFraction = "1.5" (from env FACEOPS_DATASET_TEST_FRACTION)`), fromEnv);

    const path = await yamlFile("dataset:\n  testFraction: 1.5\n");
    const fromFile = await configErrorOf({ file: path });
    assert.ok(fromFile.includes(`dataset.testFraction = 1.5 (from ${path})`), fromFile);

    for (const value of ["0", "1", "-0.1"]) {
      const message = await configErrorOf({ env: { FACEOPS_DATASET_TEST_FRACTION: value } });
      assert.ok(message.includes(`dataset.testFraction = "${value}"`), message);
    }
  });

  test("integers must be whole and within bounds", async () => {
    const fractional = await configErrorOf({ env: { FACEOPS_DATASET_MIN_IMAGES_PER_LABEL: "2.5" } });
    assert.ok(fractional.includes(`dataset.minImagesPerLabel = "2.5" (from env FACEOPS_DATASET_MIN_IMAGES_PER_LABEL)`), fractional);
    const zero = await configErrorOf({ env: { FACEOPS_DATASET_MIN_IMAGES_PER_LABEL: "0" } });
    assert.ok(zero.includes(`dataset.minImagesPerLabel = "0"`), zero);
    const tooMany = await configErrorOf({ env: { FACEOPS_DATASET_CONCURRENCY: "65" } });
    assert.ok(tooMany.includes(`dataset.concurrency = "65"`), tooMany);
    assert.equal((await loadConfig({ env: { FACEOPS_DATASET_CONCURRENCY: "64" } })).config.dataset.concurrency, 64);
  });

  test("enum values are checked", async () => {
    const message = await configErrorOf({ env: { FACEOPS_VISION_FIT: "stretch" } });
    assert.ok(message.includes(`vision.fit = "stretch" (from env FACEOPS_VISION_FIT)`), message);
  });

  test("every invalid value is reported at once", async () => {
    const message = await configErrorOf({
      env: { FACEOPS_DATASET_TEST_FRACTION: "abc", FACEOPS_VISION_SIZE: "4" },
    });
    const lines = message.split("\n");
    assert.equal(lines[0], "invalid configuration:");
    assert.equal(lines.length, 3);
    assert.ok(lines.some((line) => line.startsWith(`  dataset.testFraction = "abc" (from env FACEOPS_DATASET_TEST_FRACTION)`)), message);
    assert.ok(lines.some((line) => line.startsWith(`  vision.size = "4" (from env FACEOPS_VISION_SIZE)`)), message);
  });

  test("an unknown FACEOPS_ variable warns and does not fail", async () => {
    const loaded = await loadConfig({ defaultFile: missing(), env: { FACEOPS_FOO: "bar" } });
    assert.deepEqual(loaded.warnings, ["environment variable FACEOPS_FOO is not a faceops setting and was ignored"]);
    assert.deepEqual(loaded.config, defaults);
    assert.equal(loaded.origins.size, 0);
  });

  test("FACEOPS_ variables read elsewhere by the CLI do not warn", async () => {
    const env = Object.fromEntries([...nonConfigEnvironment].map((name) => [name, "secret"]));
    assert.ok("FACEOPS_GIT_PASSWORD" in env);
    const loaded = await loadConfig({ defaultFile: missing(), env });
    assert.deepEqual(loaded.warnings, []);
    assert.deepEqual(loaded.config, defaults);
  });

  test("FACEOPS_GIT_PASSWORD alone gives no warning", async () => {
    const loaded = await loadConfig({ defaultFile: missing(), env: { FACEOPS_GIT_PASSWORD: "hunter2" } });
    assert.deepEqual(loaded.warnings, []);
  });

  test("other variables and undefined values are ignored", async () => {
    const loaded = await loadConfig({
      defaultFile: missing(),
      env: { PATH: "/usr/bin", HOME: "/root", FACEOPS_STORE: undefined, faceops_store: "lowercase" },
    });
    assert.deepEqual(loaded.config, defaults);
    assert.deepEqual(loaded.warnings, []);
    assert.equal(loaded.origins.size, 0);
  });

  test("a misspelt setting name warns rather than being applied", async () => {
    const loaded = await loadConfig({ env: { FACEOPS_DATASET_TESTFRACTION: "0.5" } });
    assert.equal(loaded.config.dataset.testFraction, 0.2);
    assert.deepEqual(loaded.warnings, ["environment variable FACEOPS_DATASET_TESTFRACTION is not a faceops setting and was ignored"]);
  });
});

describe("loadConfig precedence", () => {
  test("defaults < file < env < overrides, with origins for each", async () => {
    const path = await yamlFile(
      ["store: from-file", "dataset:", "  testFraction: 0.3", "  minImagesPerLabel: 7", "  minSide: 48", "vision:", "  size: 112"].join("\n"),
    );
    const loaded = await loadConfig({
      file: path,
      env: {
        FACEOPS_STORE: "from-env",
        FACEOPS_DATASET_TEST_FRACTION: "0.25",
        FACEOPS_DATASET_MIN_SIDE: "64",
      },
      overrides: [
        { key: "store", value: "from-override", origin: "--store" },
        { key: "dataset.minSide", value: "96", origin: "--set dataset.minSide" },
      ],
    });
    const { config, origins } = loaded;
    assert.equal(config.store, "from-override");
    assert.equal(origins.get("store"), "--store");
    assert.equal(config.dataset.testFraction, 0.25);
    assert.equal(origins.get("dataset.testFraction"), "env FACEOPS_DATASET_TEST_FRACTION");
    assert.equal(config.dataset.minImagesPerLabel, 7);
    assert.equal(origins.get("dataset.minImagesPerLabel"), path);
    assert.equal(config.dataset.minSide, 96);
    assert.equal(origins.get("dataset.minSide"), "--set dataset.minSide");
    assert.equal(config.vision.size, 112);
    assert.equal(origins.get("vision.size"), path);
    // Untouched keys keep their defaults and have no origin.
    assert.equal(config.dataset.maxPixels, 40_000_000);
    assert.equal(config.log.level, "info");
    assert.equal(origins.has("dataset.maxPixels"), false);
    assert.equal(origins.has("log.level"), false);
    assert.equal(origins.size, 5);
  });

  test("env fills in a section the file does not mention, keeping the file's siblings", async () => {
    const path = await yamlFile("dataset:\n  minSide: 50\n");
    const loaded = await loadConfig({ file: path, env: { FACEOPS_DATASET_MAX_BYTES: "1MiB", FACEOPS_LOG_FORMAT: "json" } });
    assert.equal(loaded.config.dataset.minSide, 50);
    assert.equal(loaded.config.dataset.maxBytes, 1_048_576);
    assert.deepEqual(loaded.config.log, { level: "info", format: "json" });
  });

  test("an override fixes an invalid env value", async () => {
    const loaded = await loadConfig({
      env: { FACEOPS_DATASET_TEST_FRACTION: "abc" },
      overrides: [parseSetArgument("dataset.testFraction=0.1")],
    });
    assert.equal(loaded.config.dataset.testFraction, 0.1);
    assert.equal(loaded.origins.get("dataset.testFraction"), "--set dataset.testFraction");
  });

  test("an invalid override names its origin", async () => {
    const message = await configErrorOf({ overrides: [parseSetArgument("dataset.testFraction=lots")] });
    assert.ok(message.includes(`dataset.testFraction = "lots" (from --set dataset.testFraction)`), message);
  });

  test("serve.maxBufferedBytes is a size from 1MB to 1000GB", async () => {
    for (const [value, problem] of [["0", "is below the minimum; use a value from 1MB to 1000GB"], ["999999", "is below the minimum"], ["1001GB", "is above the maximum; use a value from 1MB to 1000GB"], ["lots", "is not a size"]]) {
      const message = await configErrorOf({ overrides: [parseSetArgument(`serve.maxBufferedBytes=${value}`)] });
      assert.ok(message.includes(`serve.maxBufferedBytes = "${value}"`) && message.includes(problem as string), message);
    }
    assert.equal((await loadConfig({ overrides: [parseSetArgument("serve.maxBufferedBytes=1GiB")] })).config.serve.maxBufferedBytes, 1_073_741_824);
  });

  test("a later override of the same key wins", async () => {
    const loaded = await loadConfig({
      overrides: [parseSetArgument("store=first"), parseSetArgument("store=second")],
    });
    assert.equal(loaded.config.store, "second");
  });

  test("an override of an unknown key throws naming the key and its origin", async () => {
    const message = await configErrorOf({ overrides: [parseSetArgument("dataset.minImages=3")] });
    assert.ok(message.startsWith(`unknown key "dataset.minImages" (from --set dataset.minImages); known keys: `), message);
    assert.ok(message.includes("dataset.minImagesPerLabel"), message);
  });

  test("an override of a whole section is refused as unknown", async () => {
    await assert.rejects(loadConfig({ overrides: [{ key: "dataset", value: "{}", origin: "--set dataset" }] }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /^unknown key "dataset" \(from --set dataset\)/);
      return true;
    });
  });

  test("openSet.maxDistance takes auto, off or a distance in (0, 2], and names a bad value", async () => {
    for (const [value, expected] of [["auto", "auto"], ["off", "off"], ["0.35", 0.35], ["2", 2]] as const) {
      const loaded = await loadConfig({ defaultFile: missing(), overrides: [{ key: "openSet.maxDistance", value, origin: "--set" }] });
      assert.equal(loaded.config.openSet.maxDistance, expected, value);
    }
    for (const value of ["far", "0", "2.5", "-1"]) {
      await assert.rejects(loadConfig({ defaultFile: missing(), overrides: [{ key: "openSet.maxDistance", value, origin: "--set" }] }), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /openSet\.maxDistance/);
        assert.ok(error.message.includes(value), `${value} is named in: ${error.message}`);
        return true;
      });
    }
  });

  test("openSet.confidentDistance takes auto, off or a distance; calibrationStrangers auto or a count; the rates 0..1", async () => {
    const load = (key: string, value: string) => loadConfig({ defaultFile: missing(), overrides: [{ key, value, origin: "--set" }] });
    assert.equal((await load("openSet.confidentDistance", "off")).config.openSet.confidentDistance, "off");
    assert.equal((await load("openSet.confidentDistance", "0.25")).config.openSet.confidentDistance, 0.25);
    assert.equal((await load("openSet.calibrationStrangers", "0")).config.openSet.calibrationStrangers, 0);
    for (const [key, value] of [["openSet.confidentDistance", "3"], ["openSet.calibrationStrangers", "1.5"], ["openSet.targetStrangerRejection", "97"], ["gate.minStrangerRejection", "-0.1"], ["gate.maxKnownRejection", "lots"]] as const) {
      await assert.rejects(load(key, value), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.ok(error.message.includes(key) && error.message.includes(value), `${key}=${value}: ${error.message}`);
        return true;
      });
    }
  });

  test("a file is not needed for loadConfig to combine env and overrides", async () => {
    const loaded = await loadConfig({
      defaultFile: missing(),
      env: { FACEOPS_DATASET_MAX_BYTES: "512KiB" },
      overrides: [{ key: "dataset.minImagesPerLabel", value: 9, origin: "--min-images" }],
    });
    assert.equal(loaded.config.dataset.maxBytes, 524_288);
    assert.equal(loaded.config.dataset.minImagesPerLabel, 9);
    assert.equal(loaded.origins.get("dataset.minImagesPerLabel"), "--min-images");
    assert.equal(loaded.file, null);
  });
});

describe("maxBytes", () => {
  const cases: Array<[string, number]> = [
    ["512KiB", 524_288],
    ["20MB", 20_000_000],
    ["0.5GiB", 536_870_912],
    ["1GiB", 1_073_741_824],
    ["1000", 1000],
    ["4096", 4096],
  ];
  for (const [text, bytes] of cases) {
    test(`maxBytes: ${text} in YAML gives ${bytes}`, async () => {
      const path = await yamlFile(`dataset:\n  maxBytes: ${text}\n`);
      assert.equal((await loadConfig({ file: path })).config.dataset.maxBytes, bytes);
    });
  }

  test("a quoted size string works the same", async () => {
    const path = await yamlFile('dataset:\n  maxBytes: "512KiB"\n');
    assert.equal((await loadConfig({ file: path })).config.dataset.maxBytes, 524_288);
  });

  test("an unparseable size throws naming the key and the value", async () => {
    const path = await yamlFile("dataset:\n  maxBytes: 20 parsecs\n");
    const message = await configErrorOf({ file: path });
    assert.ok(message.includes(`dataset.maxBytes = "20 parsecs" (from ${path}): `), message);
    assert.match(message, /is not a size/);
  });

  test("a non-positive or fractional number of bytes is refused", async () => {
    for (const value of ["0", "-5", "1.5"]) {
      const path = await yamlFile(`dataset:\n  maxBytes: ${value}\n`);
      const message = await configErrorOf({ file: path });
      assert.ok(message.includes(`dataset.maxBytes = ${value} (from ${path})`), message);
    }
  });
});

describe("durations and sizes are bounded per key, as numbers and as text", () => {
  /** Key, value, and the text the error must hold (the parsed value and both bounds). */
  const refused: Array<[string, string | number, string]> = [
    // maxBodyBytes=0 used to be accepted from text (a number 0 was refused, "0" or "0KB" was not).
    ["serve.maxBodyBytes", "0", "0B is below the minimum; use a value from 1KB to 100MB"],
    ["serve.maxBodyBytes", "0KB", "0B is below the minimum; use a value from 1KB to 100MB"],
    ["serve.maxBodyBytes", "0.4", "0B is below the minimum"],
    ["serve.maxBodyBytes", 0, "0B is below the minimum; use a value from 1KB to 100MB"],
    ["serve.maxBodyBytes", "1GB", "1GB is above the maximum; use a value from 1KB to 100MB"],
    ["serve.maxBodyBytes", 2.5, "2.5 is not a whole number of bytes"],
    ["dataset.maxBytes", "2GiB", "2GiB is above the maximum; use a value from 1KB to 1GiB"],
    ["dataset.maxBytes", 999, "999B is below the minimum"],
    // A zero poll or check interval is a busy loop (one core at 91% with nothing to do).
    ["controller.pollInterval", "0", "0ms is below the minimum; use a value from 500ms to 1d"],
    ["controller.pollInterval", 0, "0ms is below the minimum; use a value from 500ms to 1d"],
    ["controller.pollInterval", "0s", "0ms is below the minimum"],
    ["controller.pollInterval", "100ms", "100ms is below the minimum"],
    ["controller.pollInterval", -1000, "-1000ms is below the minimum"],
    ["serve.checkInterval", "0ms", "0ms is below the minimum; use a value from 100ms to 1h"],
    ["serve.checkInterval", 50, "50ms is below the minimum"],
    // Past 2^31 - 1 ms Node's timers fire at once: a long interval would also be a busy loop.
    ["serve.checkInterval", "30d", "30d is above the maximum; use a value from 100ms to 1h"],
    ["controller.pollInterval", 2 ** 31, "24d20h31m23s648ms is above the maximum"],
    ["controller.pollInterval", "99999999999d", "is above the maximum"],
    ["controller.attemptTimeout", "1s", "1s is below the minimum; use a value from 10s to 7d"],
    ["controller.attemptTimeout", "8d", "8d is above the maximum"],
    ["controller.rolloutDeadline", "0", "0ms is below the minimum; use a value from 1s to 1d"],
    ["serve.gracePeriod", "2h", "2h is above the maximum; use a value from 0ms to 1h"],
    ["serve.gracePeriod", -1, "-1ms is below the minimum"],
    ["kubernetes.ttlAfterFinished", "0s", "0ms is below the minimum; use a value from 1m to 7d"],
    ["kubernetes.pendingTimeout", "500ms", "500ms is below the minimum; use a value from 1s to 1d"],
  ];
  for (const [key, value, expected] of refused) {
    test(`${key} = ${JSON.stringify(value)} is refused, naming the key and the value`, async () => {
      const message = await configErrorOf({ defaultFile: missing(), overrides: [{ key, value, origin: "faceops.yaml" }] });
      assert.ok(message.includes(`${key} = ${JSON.stringify(value)} (from faceops.yaml): `), message);
      assert.ok(message.includes(expected), message);
    });
  }

  test("the same bound holds from the environment", async () => {
    const message = await configErrorOf({ env: { FACEOPS_CONTROLLER_POLL_INTERVAL: "0", FACEOPS_SERVE_MAX_BODY_BYTES: "0" } });
    assert.ok(message.includes(`controller.pollInterval = "0" (from env FACEOPS_CONTROLLER_POLL_INTERVAL): 0ms is below the minimum`), message);
    assert.ok(message.includes(`serve.maxBodyBytes = "0" (from env FACEOPS_SERVE_MAX_BODY_BYTES): 0B is below the minimum`), message);
  });

  const accepted: Array<[string, string | number, number]> = [
    ["serve.maxBodyBytes", "1KB", 1_000],
    ["serve.maxBodyBytes", "100MB", 100_000_000],
    ["serve.maxBodyBytes", 4096, 4096],
    ["dataset.maxBytes", "1GiB", 1_073_741_824],
    ["controller.pollInterval", "500ms", 500],
    ["controller.pollInterval", "1d", 86_400_000],
    ["serve.checkInterval", 100, 100],
    ["serve.checkInterval", "1h", 3_600_000],
    ["serve.gracePeriod", "0", 0],
    ["serve.gracePeriod", 0, 0],
    ["controller.attemptTimeout", "7d", 604_800_000],
    ["kubernetes.ttlAfterFinished", "1m", 60_000],
    ["kubernetes.pendingTimeout", "1s", 1_000],
  ];
  for (const [key, value, expected] of accepted) {
    test(`${key} = ${JSON.stringify(value)} is accepted at its bound`, async () => {
      const { config } = await loadConfig({ defaultFile: missing(), overrides: [{ key, value, origin: "--set" }] });
      const [section, name] = key.split(".") as [keyof typeof config, string];
      assert.equal((config[section] as Record<string, unknown>)[name], expected);
    });
  }

  test("every default lies within its key's bounds (the schema parses its own defaults)", () => {
    assert.doesNotThrow(() => configSchema.parse({}));
  });

  test("no duration key accepts a value Node's timers cannot wait for", () => {
    // A duration key is one that reads "1h" as 3,600,000 ms.
    const at = (key: string, value: string) => {
      const [section, name] = key.split(".") as [string, string];
      return configSchema.safeParse({ [section]: { [name]: value } });
    };
    const durationKeys = configKeys().filter((key) => {
      const parsed = at(key, "1h");
      const [section, name] = key.split(".") as [string, string];
      return parsed.success && (parsed.data as unknown as Record<string, Record<string, unknown> | undefined>)[section]?.[name] === 3_600_000;
    });
    assert.ok(durationKeys.length >= 7, durationKeys.join(", "));
    for (const key of durationKeys) assert.equal(at(key, `${maxTimerDelayMs + 1}ms`).success, false, key);
  });
});

describe("duration and size helpers", () => {
  test("bounds beyond the timer limit are a programming error", () => {
    assert.throws(() => duration({ max: 2 ** 31 }), /must lie within \[0, 2147483647\] ms/);
    assert.throws(() => duration({ min: 10, max: 5 }), RangeError);
    assert.throws(() => byteSize({ min: 0 }), RangeError);
  });

  test("without bounds, a duration is 1 ms to the timer limit and a size 1 byte to 2 GiB", () => {
    assert.equal(duration().safeParse("0").success, false);
    assert.equal(duration().parse("1ms"), 1);
    assert.equal(duration().parse(maxTimerDelayMs), maxTimerDelayMs);
    assert.equal(duration().safeParse(maxTimerDelayMs + 1).success, false);
    assert.equal(byteSize().safeParse("0").success, false);
    assert.equal(byteSize().parse(2 ** 31 - 1), 2 ** 31 - 1);
    assert.equal(byteSize().safeParse("2GiB").success, false);
  });

  test("formatDuration and formatByteSize write what the parsers read back", () => {
    for (const [ms, text] of [[0, "0ms"], [1_500, "1s500ms"], [5_400_000, "1h30m"], [86_400_000, "1d"], [2 ** 31 - 1, "24d20h31m23s647ms"], [12.5, "12.5ms"]] as const) {
      assert.equal(formatDuration(ms), text);
      if (ms > 0) assert.equal(parseDuration(text), ms);
    }
    for (const [bytes, text] of [[1_000, "1KB"], [1_024, "1KiB"], [20_000_000, "20MB"], [1_073_741_824, "1GiB"], [1_234, "1234B"]] as const) {
      assert.equal(formatByteSize(bytes), text);
      assert.equal(parseByteSize(text), bytes);
    }
  });
});

describe("parseSetArgument", () => {
  test("splits on the first equals sign", () => {
    assert.deepEqual(parseSetArgument("a=b=c"), { key: "a", value: "b=c", origin: "--set a" });
  });

  test("trims the key but keeps the value as written", () => {
    assert.deepEqual(parseSetArgument(" store = x "), { key: "store", value: " x ", origin: "--set store" });
  });

  test("an empty value is allowed", () => {
    assert.deepEqual(parseSetArgument("source.username="), { key: "source.username", value: "", origin: "--set source.username" });
  });

  test("no equals sign, or an empty key, throws", () => {
    for (const argument of ["store", "=value", ""]) {
      assert.throws(
        () => parseSetArgument(argument),
        (error: unknown) => error instanceof ConfigError && error.message === `--set expects key=value, received "${argument}"`,
      );
    }
  });
});

describe("keys and environment names", () => {
  test("envNameForKey", () => {
    const cases: Array<[string, string]> = [
      ["dataset.minImagesPerLabel", "FACEOPS_DATASET_MIN_IMAGES_PER_LABEL"],
      ["dataset.testFraction", "FACEOPS_DATASET_TEST_FRACTION"],
      ["store", "FACEOPS_STORE"],
      ["log.level", "FACEOPS_LOG_LEVEL"],
      ["source.sshKeyFile", "FACEOPS_SOURCE_SSH_KEY_FILE"],
      ["source.passwordFile", "FACEOPS_SOURCE_PASSWORD_FILE"],
      ["dataset.maxBytes", "FACEOPS_DATASET_MAX_BYTES"],
    ];
    for (const [key, name] of cases) assert.equal(envNameForKey(key), name, key);
  });

  test("configKeys lists every leaf, in schema order", () => {
    assert.deepEqual(configKeys(), allKeys);
  });

  test("environment names are distinct and never collide with non-config variables", () => {
    const names = configKeys().map(envNameForKey);
    assert.equal(new Set(names).size, names.length);
    for (const name of names) assert.equal(nonConfigEnvironment.has(name), false, name);
  });

  test("every key can be set from its environment variable", async () => {
    const sample: Record<string, string> = {
      store: "s",
      "log.level": "error",
      "log.format": "pretty",
      "source.repo": "https://example.com/faces.git",
      "source.branch": "dev",
      "source.username": "u",
      "source.passwordFile": "/p",
      "source.sshKeyFile": "/k",
      "dataset.minImagesPerLabel": "2",
      "dataset.testFraction": "0.5",
      "dataset.minSide": "16",
      "dataset.maxPixels": "123",
      "dataset.maxBytes": "2KB",
      "dataset.concurrency": "3",
      "dataset.requireFace": "true",
      "vision.size": "96",
      "vision.fit": "pad",
      cache: "/c",
      "engine.name": "tfjs-wasm",
      "engine.workers": "3",
      "model.backbone": "vgg16",
      "model.vgg16Weights": "/w.h5",
      "model.pooling": "flatten",
      "model.crop": "center",
      "model.batchSize": "4",
      "model.precision": "int8",
      "train.epochs": "7",
      "train.learningRate": "0.01",
      "train.batchSize": "16",
      "train.units": "128",
      "train.dropout": "0.25",
      "train.classWeights": "none",
      "train.earlyStoppingPatience": "3",
      "train.augmentVariants": "2",
      "train.seed": "9",
      "augment.rotationRange": "5",
      "augment.widthShiftRange": "0.05",
      "augment.heightShiftRange": "0.06",
      "augment.zoomRange": "0.2",
      "augment.horizontalFlip": "no",
      "augment.brightnessMin": "0.9",
      "augment.brightnessMax": "1.1",
      "openSet.maxDistance": "0.4",
      "openSet.confidentDistance": "0.3",
      "openSet.calibrationStrangers": "5",
      "openSet.targetStrangerRejection": "0.95",
      "openSet.maxKnownRejection": "0.02",
      "openSet.confidentStrangerRejection": "0.99",
      "openSet.rule": "nearest-photo",
      "serve.port": "9000",
      "serve.host": "127.0.0.1",
      "serve.maxBatch": "4",
      "serve.maxDelayMs": "2",
      "serve.maxBodyBytes": "1MB",
      "serve.maxImagesPerRequest": "3",
      "serve.maxBufferedBytes": "64MB",
      "serve.maxPixels": "12000000",
      "serve.decodeConcurrency": "3",
      "serve.gracePeriod": "10s",
      "serve.checkInterval": "1s",
      "serve.capture.enabled": "true",
      "serve.capture.lowMargin": "0.05",
      "serve.capture.maxItems": "100",
      "serve.capture.maxAgeDays": "7",
      "serve.capture.keepPhoto": "true",
      "gate.minAccuracy": "0.8",
      "gate.maxRegression": "0",
      "gate.minStrangerRejection": "0.8",
      "gate.maxKnownRejection": "0.1",
      "gate.maxPersonRegression": "0.5",
      "review.branch": "reviews",
      "review.committerName": "Bot",
      "review.committerEmail": "bot@example.com",
      "controller.pollInterval": "1m",
      "controller.onNewCommit": "supersede",
      "controller.maxAttempts": "6",
      "controller.maxCrashedAttempts": "1",
      "controller.parallelAttempts": "2",
      "controller.attemptTimeout": "30m",
      "controller.rolloutDeadline": "45s",
      "controller.apiTokenFile": "/run/secrets/token",
      "controller.webhookSecretFile": "/run/secrets/webhook",
      "kubernetes.namespace": "ml",
      "kubernetes.trainerImage": "registry.local/trainer:1",
      "kubernetes.gpus": "0",
      "kubernetes.trainerCpu": "4",
      "kubernetes.trainerMemory": "8Gi",
      "kubernetes.nodeSelector": '{"pool":"gpu"}',
      "kubernetes.tolerations": '[{"key":"nvidia.com/gpu","operator":"Exists","effect":"NoSchedule"}]',
      "kubernetes.priorityClassName": "batch-low",
      "kubernetes.storeClaim": "store",
      "kubernetes.storeMountPath": "/data",
      "kubernetes.gitSecret": "",
      "kubernetes.backoffLimit": "1",
      "kubernetes.ttlAfterFinished": "1h",
      "kubernetes.pendingTimeout": "5m",
      "kubernetes.deployment": "inference",
      "kubernetes.trainerServiceAccount": "trainer",
      "kubernetes.trainerEphemeralStorage": "4Gi",
      "kubernetes.trainerTmpSize": "3Gi",
    };
    assert.deepEqual(Object.keys(sample).sort(), [...allKeys].sort());
    const env = Object.fromEntries(Object.entries(sample).map(([key, value]) => [envNameForKey(key), value]));
    const loaded = await loadConfig({ env });
    assert.deepEqual(loaded.warnings, []);
    assert.deepEqual(loaded.config, {
      store: "s",
      log: { level: "error", format: "pretty" },
      source: { repo: "https://example.com/faces.git", branch: "dev", username: "u", passwordFile: "/p", sshKeyFile: "/k" },
      dataset: { minImagesPerLabel: 2, testFraction: 0.5, minSide: 16, maxPixels: 123, maxBytes: 2000, concurrency: 3, requireFace: true },
      vision: { size: 96, fit: "pad" },
      cache: "/c",
      engine: { name: "tfjs-wasm", workers: 3 },
      model: { backbone: "vgg16", vgg16Weights: "/w.h5", pooling: "flatten", crop: "center", batchSize: 4, precision: "int8" },
      train: {
        epochs: 7,
        learningRate: 0.01,
        batchSize: 16,
        units: 128,
        dropout: 0.25,
        classWeights: "none",
        earlyStoppingPatience: 3,
        augmentVariants: 2,
        seed: 9,
      },
      augment: {
        rotationRange: 5,
        widthShiftRange: 0.05,
        heightShiftRange: 0.06,
        zoomRange: 0.2,
        horizontalFlip: false,
        brightnessMin: 0.9,
        brightnessMax: 1.1,
      },
      openSet: { maxDistance: 0.4, confidentDistance: 0.3, calibrationStrangers: 5, targetStrangerRejection: 0.95, maxKnownRejection: 0.02, confidentStrangerRejection: 0.99, rule: "nearest-photo" },
      serve: { port: 9000, host: "127.0.0.1", maxBatch: 4, maxDelayMs: 2, maxBodyBytes: 1_000_000, maxImagesPerRequest: 3, maxBufferedBytes: 64_000_000, maxPixels: 12_000_000, decodeConcurrency: 3, gracePeriod: 10_000, checkInterval: 1_000, capture: { enabled: true, lowMargin: 0.05, maxItems: 100, maxAgeDays: 7, keepPhoto: true } },
      gate: { minAccuracy: 0.8, maxRegression: 0, minStrangerRejection: 0.8, maxKnownRejection: 0.1, maxPersonRegression: 0.5 },
      review: { branch: "reviews", committerName: "Bot", committerEmail: "bot@example.com" },
      controller: {
        pollInterval: 60_000,
        onNewCommit: "supersede",
        maxAttempts: 6,
        maxCrashedAttempts: 1,
        parallelAttempts: 2,
        attemptTimeout: 1_800_000,
        rolloutDeadline: 45_000,
        apiTokenFile: "/run/secrets/token",
        webhookSecretFile: "/run/secrets/webhook",
      },
      kubernetes: {
        namespace: "ml",
        trainerImage: "registry.local/trainer:1",
        gpus: 0,
        trainerCpu: "4",
        trainerMemory: "8Gi",
        nodeSelector: { pool: "gpu" },
        tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
        priorityClassName: "batch-low",
        storeClaim: "store",
        storeMountPath: "/data",
        gitSecret: "",
        backoffLimit: 1,
        ttlAfterFinished: 3_600_000,
        pendingTimeout: 300_000,
        deployment: "inference",
        trainerServiceAccount: "trainer",
        trainerEphemeralStorage: "4Gi",
        trainerTmpSize: "3Gi",
      },
    });
    for (const key of allKeys) assert.equal(loaded.origins.get(key), `env ${envNameForKey(key)}`, key);
  });
});

describe("booleanValue", () => {
  test("accepts booleans and their usual spellings", () => {
    const schema = booleanValue();
    for (const text of ["true", "TRUE", " yes ", "1", "on"]) assert.equal(schema.parse(text), true, text);
    for (const text of ["false", "No", "0", "off"]) assert.equal(schema.parse(text), false, text);
    assert.equal(schema.parse(true), true);
    assert.equal(schema.safeParse("maybe").success, false);
    assert.equal(schema.safeParse(1).success, false);
  });
});

describe("parseDuration", () => {
  const valid: Array<[string, number]> = [
    ["30s", 30_000],
    ["1h30m", 5_400_000],
    ["250ms", 250],
    ["12", 12],
    ["0", 0],
    ["12.5", 12.5],
    ["5m", 300_000],
    ["1.5s", 1500],
    ["1d", 86_400_000],
    ["2h0m5s", 7_205_000],
    ["1m500ms", 60_500],
    ["  30s  ", 30_000],
  ];
  for (const [text, ms] of valid) {
    test(`${JSON.stringify(text)} -> ${ms}`, () => assert.equal(parseDuration(text), ms));
  }

  const invalid = ["5x", "", "s", "-5s", "30 s", "1h 30m", "1m30", "5ms3", "abc", "1e3", "h1"];
  for (const text of invalid) {
    test(`${JSON.stringify(text)} throws`, () => {
      assert.throws(() => parseDuration(text), { message: new RegExp(`^"${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}" is not a duration`) });
    });
  }
});

describe("parseByteSize", () => {
  const valid: Array<[string, number]> = [
    ["512KiB", 524_288],
    ["20MB", 20_000_000],
    ["12", 12],
    ["100b", 100],
    ["100B", 100],
    ["1KB", 1000],
    ["1kb", 1000],
    ["2MiB", 2_097_152],
    ["1GB", 1_000_000_000],
    ["1.5GiB", 1_610_612_736],
    ["0.5KiB", 512],
    ["20 mb", 20_000_000],
    [" 7KB ", 7000],
  ];
  for (const [text, bytes] of valid) {
    test(`${JSON.stringify(text)} -> ${bytes}`, () => assert.equal(parseByteSize(text), bytes));
  }

  const invalid = ["20XB", "", "MB", "-1MB", "1e6", "1TB", "1,5MB", "twenty"];
  for (const text of invalid) {
    test(`${JSON.stringify(text)} throws`, () => {
      assert.throws(() => parseByteSize(text), { message: `"${text}" is not a size; use a number of bytes or e.g. "512KiB", "20MB", "1GiB"` });
    });
  }
});

describe("loadConfig renamed keys (configuration is a contract)", () => {
  test("controller.maxFailedAttempts, renamed controller.maxCrashedAttempts (it counts crashes), is the only rename, and the new key is a known one", () => {
    assert.deepEqual([...renamedKeys], [["controller.maxFailedAttempts", "controller.maxCrashedAttempts"]]);
    assert.ok(configKeys().includes("controller.maxCrashedAttempts"));
    assert.ok(!configKeys().includes("controller.maxFailedAttempts"));
  });

  test("the old key in a file still works, as the new key, with a warning naming the new one", async () => {
    const file = await yamlFile("controller:\n  maxFailedAttempts: 5\n");
    const loaded = await loadConfig({ file });
    assert.equal(loaded.config.controller.maxCrashedAttempts, 5);
    assert.equal(loaded.origins.get("controller.maxCrashedAttempts"), file);
    assert.deepEqual(loaded.warnings, [`controller.maxFailedAttempts in ${file} is deprecated: it is now controller.maxCrashedAttempts (same meaning); rename it`]);
  });

  test("the old environment variable still works, with a warning naming the new variable", async () => {
    const loaded = await loadConfig({ env: { FACEOPS_CONTROLLER_MAX_FAILED_ATTEMPTS: "3" } });
    assert.equal(loaded.config.controller.maxCrashedAttempts, 3);
    assert.equal(loaded.origins.get("controller.maxCrashedAttempts"), "env FACEOPS_CONTROLLER_MAX_FAILED_ATTEMPTS");
    assert.deepEqual(loaded.warnings, [
      "environment variable FACEOPS_CONTROLLER_MAX_FAILED_ATTEMPTS is deprecated: it is now FACEOPS_CONTROLLER_MAX_CRASHED_ATTEMPTS (controller.maxCrashedAttempts, same meaning); rename it",
    ]);
  });

  test("the old key with --set still works, with a warning", async () => {
    const loaded = await loadConfig({ overrides: [parseSetArgument("controller.maxFailedAttempts=4")] });
    assert.equal(loaded.config.controller.maxCrashedAttempts, 4);
    assert.deepEqual(loaded.warnings, ["controller.maxFailedAttempts (from --set controller.maxFailedAttempts) is deprecated: it is now controller.maxCrashedAttempts (same meaning)"]);
  });

  test("given both ways in one place, the new key wins and the warning says the old one was ignored", async () => {
    const file = await yamlFile("controller:\n  maxFailedAttempts: 5\n  maxCrashedAttempts: 6\n");
    const fromFile = await loadConfig({ file });
    assert.equal(fromFile.config.controller.maxCrashedAttempts, 6);
    assert.deepEqual(fromFile.warnings, [`controller.maxFailedAttempts in ${file} is deprecated and was ignored: controller.maxCrashedAttempts is set there too, and wins`]);
    const fromEnv = await loadConfig({ env: { FACEOPS_CONTROLLER_MAX_FAILED_ATTEMPTS: "3", FACEOPS_CONTROLLER_MAX_CRASHED_ATTEMPTS: "7" } });
    assert.equal(fromEnv.config.controller.maxCrashedAttempts, 7);
    assert.deepEqual(fromEnv.warnings, ["environment variable FACEOPS_CONTROLLER_MAX_FAILED_ATTEMPTS is deprecated and was ignored: FACEOPS_CONTROLLER_MAX_CRASHED_ATTEMPTS is set too, and wins"]);
  });

  test("the usual precedence holds across places: the old variable overrides the new key in the file", async () => {
    const file = await yamlFile("controller:\n  maxCrashedAttempts: 6\n");
    const loaded = await loadConfig({ file, env: { FACEOPS_CONTROLLER_MAX_FAILED_ATTEMPTS: "3" } });
    assert.equal(loaded.config.controller.maxCrashedAttempts, 3);
  });

  test("a bad value under the old name is refused naming the variable it came from", async () => {
    const message = await configErrorOf({ env: { FACEOPS_CONTROLLER_MAX_FAILED_ATTEMPTS: "many" } });
    assert.match(message, /^invalid configuration:\n {2}controller\.maxCrashedAttempts = "many" \(from env FACEOPS_CONTROLLER_MAX_FAILED_ATTEMPTS\): /);
  });

  test("a run recorded by an older faceops (its config.json with the old key) still loads, as its attempts read it", async () => {
    const recorded = join(dir, "old-run-config.json");
    await writeFile(recorded, JSON.stringify({ controller: { maxAttempts: 4, maxFailedAttempts: 2 } }));
    const loaded = await loadConfig({ file: recorded });
    assert.equal(loaded.config.controller.maxCrashedAttempts, 2);
  });
});

describe("engine: the engine's name and the face path's workers (engine was a plain name before)", () => {
  test("the old forms still name the engine, without a warning: a file's engine: <name>, FACEOPS_ENGINE, --set engine=<name>", async () => {
    const file = await yamlFile("engine: tfjs-wasm\n");
    const fromFile = await loadConfig({ file });
    assert.deepEqual(fromFile.config.engine, { name: "tfjs-wasm", workers: "auto" });
    assert.equal(fromFile.origins.get("engine.name"), file);
    assert.deepEqual(fromFile.warnings, []);
    const fromEnv = await loadConfig({ env: { FACEOPS_ENGINE: "onnxruntime" } });
    assert.deepEqual(fromEnv.config.engine, { name: "onnxruntime", workers: "auto" });
    assert.equal(fromEnv.origins.get("engine.name"), "env FACEOPS_ENGINE");
    assert.deepEqual(fromEnv.warnings, []);
    const fromSet = await loadConfig({ overrides: [parseSetArgument("engine=tfjs-cpu")] });
    assert.deepEqual(fromSet.config.engine, { name: "tfjs-cpu", workers: "auto" });
    assert.deepEqual(fromSet.warnings, []);
    assert.deepEqual(configSchema.parse({ engine: "tfjs-node" }).engine, { name: "tfjs-node", workers: "auto" });
  });

  test("the old form in a file combines with FACEOPS_ENGINE_WORKERS, and the full forms work as any key", async () => {
    const file = await yamlFile("engine: tfjs-wasm\n");
    const combined = await loadConfig({ file, env: { FACEOPS_ENGINE_WORKERS: "2" } });
    assert.deepEqual(combined.config.engine, { name: "tfjs-wasm", workers: 2 });
    const full = await loadConfig({ file: await yamlFile("engine:\n  name: tfjs-cpu\n  workers: 0\n") });
    assert.deepEqual(full.config.engine, { name: "tfjs-cpu", workers: 0 });
    const set = await loadConfig({ overrides: [parseSetArgument("engine=tfjs-wasm"), parseSetArgument("engine.workers=auto")] });
    assert.deepEqual(set.config.engine, { name: "tfjs-wasm", workers: "auto" });
  });

  test("given in both forms in one place, the full key wins and the warning says the short one was ignored", async () => {
    const fromEnv = await loadConfig({ env: { FACEOPS_ENGINE: "tfjs-wasm", FACEOPS_ENGINE_NAME: "tfjs-cpu" } });
    assert.equal(fromEnv.config.engine.name, "tfjs-cpu");
    assert.deepEqual(fromEnv.warnings, ["environment variable FACEOPS_ENGINE was ignored: FACEOPS_ENGINE_NAME is set too, and wins"]);
    const fromSet = await loadConfig({ overrides: [parseSetArgument("engine=tfjs-wasm"), parseSetArgument("engine.name=tfjs-cpu")] });
    assert.equal(fromSet.config.engine.name, "tfjs-cpu");
    assert.deepEqual(fromSet.warnings, ["engine (from --set engine) was ignored: engine.name is given too, and wins"]);
  });

  test("a bad engine name or worker count is refused naming where it came from", async () => {
    assert.match(await configErrorOf({ env: { FACEOPS_ENGINE: "cuda" } }), /engine\.name = "cuda" \(from env FACEOPS_ENGINE\)/);
    const file = await yamlFile("engine: cuda\n");
    assert.match(await configErrorOf({ file }), new RegExp(`engine\\.name = "cuda" \\(from ${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\)`));
    for (const workers of ["-1", "65", "1.5", "many"]) {
      assert.match(await configErrorOf({ env: { FACEOPS_ENGINE_WORKERS: workers } }), /engine\.workers = .* \(from env FACEOPS_ENGINE_WORKERS\)/, workers);
    }
  });

  test("engine.workers auto is one per core, at least 1 and at most 64; a number is taken as it is, 0 included", () => {
    assert.equal(resolveEngineWorkers("auto", 1), 1);
    assert.equal(resolveEngineWorkers("auto", 2), 2);
    assert.equal(resolveEngineWorkers("auto", 0), 1);
    assert.equal(resolveEngineWorkers("auto", 256), 64);
    assert.equal(resolveEngineWorkers(0, 8), 0);
    assert.equal(resolveEngineWorkers(3, 8), 3);
  });
});
