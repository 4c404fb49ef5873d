import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { describe, test } from "node:test";
import { transientErrorCode } from "../../../src/store/errors.js";
import { devFull, requires } from "../../helpers/tools.js";

describe("transient errors of the machine", () => {
  test("a real full disk (/dev/full answers ENOSPC) is transient, also when wrapped with its cause or only named", (t) => {
    if (!requires(t, devFull)) return;
    let full: unknown;
    try {
      writeFileSync("/dev/full", "a photo's features");
    } catch (error) {
      full = error;
    }
    assert.equal((full as NodeJS.ErrnoException).code, "ENOSPC");
    assert.equal(transientErrorCode(full), "ENOSPC");
    assert.equal(transientErrorCode(new Error("cannot save the bundle", { cause: new Error("writing weights", { cause: full }) })), "ENOSPC");
    assert.equal(transientErrorCode(new Error("git failed: error: unable to write file: EDQUOT")), "EDQUOT");
  });

  test("every code of a resource the machine ran out of, and nothing else", () => {
    const withCode = (code: string) => Object.assign(new Error(`${code.toLowerCase()} happened`), { code });
    for (const code of ["ENOSPC", "EDQUOT", "EMFILE", "ENFILE", "EIO", "ENOMEM", "EAGAIN", "EBUSY"]) assert.equal(transientErrorCode(withCode(code)), code);
    for (const code of ["ENOENT", "EACCES", "EISDIR", "ERR_INVALID_ARG_TYPE"]) assert.equal(transientErrorCode(withCode(code)), null, code);
    assert.equal(transientErrorCode(new Error("the dataset has 1 usable label(s)")), null);
    assert.equal(transientErrorCode("ENOSPC as a string, not an error"), null);
    const loop: Error & { cause?: unknown } = new Error("a cause that is itself");
    loop.cause = loop;
    assert.equal(transientErrorCode(loop), null);
  });
});
