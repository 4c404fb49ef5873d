import { cp, mkdir, stat, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Logger } from "../log.js";
import { gitEnvironment, neutralisedFilters, runGit } from "./git.js";

/**
 * The newcomer's first start: when the watched repository does not exist yet, it is created as a
 * git repository holding the example people shipped with faceops (LFW photos, credited in
 * CREDITS.md), committed, so a model is trained and served without preparing anything.
 */

export const examplesFolder = new URL("../../examples/", import.meta.url);

const readme = `# Faces

One folder per person, photos inside. Commit and faceops trains, checks and serves a new model:

    mkdir -p Ada_Lovelace && cp ~/photos/ada-*.jpg Ada_Lovelace/
    git add Ada_Lovelace && git commit -m "Add Ada"

The example people come from Labeled Faces in the Wild; see CREDITS.md.
`;

export async function seedExampleRepository(path: string, options: { branch: string; log: Logger; env: NodeJS.ProcessEnv }): Promise<boolean> {
  const target = resolve(path);
  if (await stat(target).then(() => true, () => false)) return false;
  const examples = new URL("faces/", examplesFolder);
  await mkdir(target, { recursive: true });
  await cp(examples, target, { recursive: true });
  await cp(new URL("CREDITS.md", examplesFolder), join(target, "CREDITS.md"));
  await writeFile(join(target, "README.md"), readme);
  const env = gitEnvironment(options.env);
  // The same protections as every git command: a global hooksPath or template hooks run nothing here either.
  const git = (args: string[], config?: ReadonlyArray<readonly [string, string]>) => runGit(args, { cwd: target, env, config });
  await git(["init", "--quiet", `--initial-branch=${options.branch}`]);
  // Adding hashes every file through the filter drivers a global configuration may name.
  const filters = await neutralisedFilters(git);
  if (!filters) throw new Error(`cannot create the face repository ${target}: git's configuration names a filter driver faceops cannot switch off`);
  await git(["add", "--all"], filters);
  // An identity for this one commit, in case the machine has none configured yet.
  await git(["commit", "--quiet", "--no-verify", "-m", "Example faces from Labeled Faces in the Wild (see CREDITS.md)"], [
    ["user.name", "faceops"],
    ["user.email", "faceops@localhost"],
    ["commit.gpgsign", "false"],
    ...filters,
  ]);
  options.log.info({ repo: target, branch: options.branch }, "created the face repository with the example people; add a folder per person and commit");
  return true;
}
