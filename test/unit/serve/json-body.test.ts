import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { HttpError } from "../../../src/http/errors.js";
import { JsonBodyParser, base64Length, inferenceJsonLimits, longStringBytes, maxJsonDepth, type JsonBodyLimits } from "../../../src/serve/json-body.js";

/**
 * The streaming JSON reader against JSON.parse itself: the same value for every document, however
 * the body is cut into chunks, and each limit refused with the status and the byte it names.
 */

const limits: JsonBodyLimits = { maxBytes: 1e9, maxStringBytes: 100_000, maxStructureBytes: 4096, maxDepth: maxJsonDepth, what: "the body" };
const long = (character: string, length = 3 * longStringBytes) => character.repeat(length);

function parse(text: string | Buffer, chunkSize = Number.POSITIVE_INFINITY, options = limits): unknown {
  const bytes = typeof text === "string" ? Buffer.from(text) : text;
  const parser = new JsonBodyParser(options);
  for (let start = 0; start < bytes.length; start += chunkSize) parser.push(bytes.subarray(start, start + chunkSize));
  return parser.finish();
}

function refusal(run: () => unknown): HttpError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof HttpError, `expected an HttpError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected the body to be refused");
}

describe("JsonBodyParser", () => {
  const documents: Array<[string, unknown]> = [
    ["a small infer request", { id: "r-1", inputs: [{ name: "image", shape: [1], datatype: "BYTES", data: ["aGk="] }], parameters: { topk: 2 } }],
    ["long strings in values, arrays and keys", { [long("k")]: long("v"), data: [long("a"), "short", long("b")], nested: { deeper: [[long("c")]] } }],
    ["brackets, quotes and backslashes inside long and short strings", { text: `[{${long("[")}"\\]`, short: '[["\\"]]', path: long("\\/") }],
    ["escapes of every kind and non-ASCII text", { escapes: `\n\t\r\b\f\u0001\u00e9\u{1F600}${long("é")}`, "clé": "valeur ☃" }],
    ["an own __proto__ key next to long strings", JSON.parse(`{"__proto__": {"polluted": "${long("x")}"}, "safe": 1}`) as unknown],
    ["numbers, booleans and null at the top", [1, -2.5e-3, true, false, null, long("z")]],
    ["a bare long string", long("s")],
    ["nesting exactly at the limit", JSON.parse(`${"[".repeat(maxJsonDepth)}${"]".repeat(maxJsonDepth)}`) as unknown],
  ];
  for (const [name, value] of documents) {
    test(`gives what JSON.parse gives: ${name}, whole and cut into chunks of 1, 7 and 4096 bytes`, () => {
      const text = JSON.stringify(value, null, 1);
      const expected = JSON.parse(text) as unknown;
      for (const size of [Number.POSITIVE_INFINITY, 1, 7, 4096]) assert.deepEqual(parse(text, size), expected, `chunks of ${size}`);
    });
  }

  test("the own __proto__ key stays a plain property: no prototype is changed", () => {
    const value = parse(`{"__proto__": {"polluted": "${long("x")}"}}`) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
    assert.deepEqual(Object.keys(value), ["__proto__"]);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test("a placeholder cannot be forged: a short string shaped like one stays itself", () => {
    const forged = `<long string #0>\u0000${"0".repeat(24)}`;
    const value = parse(JSON.stringify({ a: long("x"), b: forged })) as { a: string; b: string };
    assert.equal(value.b, forged);
    assert.equal(value.a, long("x"));
  });

  test("nesting one deeper than the limit is 400 json_too_deep at that byte, before the rest is read", () => {
    const parser = new JsonBodyParser(limits);
    const error = refusal(() => parser.push(Buffer.from(`{"id": ${"[".repeat(maxJsonDepth)}`)));
    assert.deepEqual([error.status, error.code], [400, "json_too_deep"]);
    assert.match(error.message, new RegExp(`deeper than ${maxJsonDepth} levels \\(at byte ${7 + maxJsonDepth - 1}\\)`));
  });

  test("20 MB of '[' is refused at byte 32, however it is cut", () => {
    const brackets = Buffer.alloc(20_000_000, "[");
    for (const size of [65_536, 1]) {
      const parser = new JsonBodyParser(limits);
      let pushed = 0;
      const error = refusal(() => {
        for (; pushed < brackets.length; pushed += size) parser.push(brackets.subarray(pushed, pushed + size));
      });
      assert.equal(error.code, "json_too_deep");
      assert.ok(pushed <= 65_536, `refused within the first chunk, not after ${pushed} bytes`);
    }
  });

  test("brackets inside strings, escaped quotes included, are text and not nesting", () => {
    const deepText = `${"[".repeat(1000)}\\"${"{".repeat(1000)}`;
    assert.deepEqual(parse(`{"id": "${deepText}"}`, 3), { id: `${"[".repeat(1000)}"${"{".repeat(1000)}` });
  });

  test("a string longer than maxStringBytes is 413 while it is still arriving", () => {
    const parser = new JsonBodyParser(limits);
    parser.push(Buffer.from('{"data": ["'));
    const error = refusal(() => {
      for (let index = 0; index < 20; index++) parser.push(Buffer.alloc(10_000, "A"));
    });
    assert.deepEqual([error.status, error.code], [413, "payload_too_large"]);
    assert.match(error.message, /string longer than 100000 bytes.*\(the string at byte 10\)/);
  });

  test("more than maxStructureBytes outside long strings is 413: many small values cannot add up", () => {
    const error = refusal(() => parse(`[${"1,".repeat(5000)}1]`));
    assert.deepEqual([error.status, error.code], [413, "payload_too_large"]);
    assert.match(error.message, /4096 bytes/);
  });

  test("malformed JSON is 400 bad_json with the position in the body, long strings counted", () => {
    const body = `{"a": "${long("x")}", "b": }`;
    const error = refusal(() => parse(body, 100));
    assert.deepEqual([error.status, error.code], [400, "bad_json"]);
    assert.match(error.message, /^the body is not valid JSON: /);
    const missingColon = `{"a": "${long("x")}", "b" 1}`;
    const position = /position (\d+)/.exec(refusal(() => parse(missingColon, 100)).message)?.[1];
    assert.equal(Number(position), missingColon.indexOf("1}"), "a position is the body's, counting the long string");
  });

  test("a body that ends inside a string, an empty body, a bad escape or a control character in a string are 400 bad_json", () => {
    assert.match(refusal(() => parse(`{"a": "${long("x")}`)).message, /ends inside the string that starts at byte 6/);
    assert.equal(refusal(() => parse("")).code, "bad_json");
    assert.match(refusal(() => parse(`["${long("x")}\\q"]`)).message, /the string at byte 1/);
    assert.match(refusal(() => parse(`["${long("x")}\u0001"]`, 64)).message, /the string at byte 1 holds a control character/);
    assert.equal(refusal(() => parse('["\u0001"]')).code, "bad_json", "a short string with a control character, refused by JSON.parse");
  });

  test("the inference limits: 16 photos of 10 MB as base64 plus 64 KiB, and one photo's base64 (+1/32) per string", () => {
    const inference = inferenceJsonLimits(10_000_000, 16);
    assert.equal(base64Length(10_000_000), 13_333_336);
    assert.equal(inference.maxBytes, 16 * 13_333_336 + 65_536);
    assert.equal(inference.maxStringBytes, 13_333_336 + 416_667 + 2);
    // Bytes with every value, so the base64 holds "/" about once in 64 characters, as photos do.
    const photo = Buffer.from(Array.from({ length: 10_000_000 }, (_, index) => (index * 2_654_435_761) >>> 24)).toString("base64");
    const escapedSlashes = photo.replaceAll("/", "\\/");
    const body = `{"inputs": [{"name": "image", "shape": [2], "datatype": "BYTES", "data": ["${photo}", "${escapedSlashes}"]}]}`;
    const value = parse(Buffer.from(body), 65_536, inference) as { inputs: Array<{ data: string[] }> };
    assert.equal(value.inputs[0]?.data[0], photo);
    assert.equal(value.inputs[0]?.data[1], photo, "\\/ is an escaped /");
  });
});
