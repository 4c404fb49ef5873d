import { after, before } from "node:test";
import { StoreLayout } from "../../src/store/layout.js";
import { temporaryFolder, type TestRepo } from "./git-repo.js";
import { startService, type TestService } from "./http.js";
import { faceRepo, join, trainBundle, type TrainedBundle } from "./training.js";

/** What a served-bundle suite works with; `trained` and `service` exist once its `before` has run. */
export interface ServedBundle {
  readonly folder: { path: string };
  readonly repo: TestRepo;
  /** Where the trained bundle is. */
  readonly bundle: string;
  readonly trained: TrainedBundle;
  /** The inference service (small limits: 300 kB photos, 4 per request), with no model loaded. */
  readonly service: TestService;
}

/**
 * A face-embedding bundle trained on ten photos of each of `people`, and an inference service with
 * nothing loaded yet for the suite to install it in: made in the suite's `before`, stopped and
 * deleted in its `after`. Call it inside `describe`.
 */
export function servedBundle(people: readonly string[], serviceOptions: Parameters<typeof startService>[0] = {}): ServedBundle {
  const folder = temporaryFolder();
  const repo = faceRepo(people, 10);
  const bundle = join(folder.path, "bundle");
  let trained: TrainedBundle | null = null;
  let service: TestService | null = null;
  before(async () => {
    trained = await trainBundle(repo.path, new StoreLayout(join(folder.path, "store")), { "model.backbone": "face-embedding" }, bundle);
    service = await startService({ maxBytes: 300_000, maxFiles: 4, ...serviceOptions });
  });
  after(async () => {
    await service?.close();
    repo.dispose();
    folder.dispose();
  });
  const ready = <T>(value: T | null, what: string): T => {
    if (value === null) throw new Error(`the ${what} is made in the suite's before hook; use it inside a test`);
    return value;
  };
  return {
    folder,
    repo,
    bundle,
    get trained() {
      return ready(trained, "trained bundle");
    },
    get service() {
      return ready(service, "service");
    },
  };
}
