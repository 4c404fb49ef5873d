// Preloaded by scripts/run-tests.mjs into every test file's process. In a unit test's process
// (test/unit/), it makes the three things the unit tier may not do throw at once, naming the rule:
// start a child process, listen on a port, start a worker thread. The other tiers are untouched.
import { createRequire, syncBuiltinESMExports } from "node:module";
import { sep } from "node:path";

const testFile = process.argv[1] ?? "";
if (testFile.includes(`${sep}test${sep}unit${sep}`)) {
  const require = createRequire(import.meta.url);
  const refuse = (what) =>
    function refused() {
      throw new Error(`a unit test may not ${what} (${testFile}): a test that needs to belongs in test/integration/ (docs/development.md, "Tests")`);
    };
  const childProcess = require("node:child_process");
  for (const name of ["spawn", "spawnSync", "exec", "execSync", "execFile", "execFileSync", "fork"]) childProcess[name] = refuse("start a child process");
  require("node:net").Server.prototype.listen = refuse("listen on a port");
  require("node:worker_threads").Worker = refuse("start a worker thread");
  syncBuiltinESMExports();
}
