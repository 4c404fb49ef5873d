import assert from "node:assert/strict";
import { request } from "node:http";
import { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import express from "express";
import { Counter, Registry } from "prom-client";
import { createBareApp } from "../../../src/http/app.js";
import { HttpError, useJsonErrors } from "../../../src/http/errors.js";
import { metricsRoute } from "../../../src/http/metrics-route.js";
import { probeRoutes, type Readiness } from "../../../src/http/probes.js";
import { listen, type RunningServer } from "../../../src/http/server.js";
import { createLogger } from "../../../src/log.js";

/**
 * The HTTP pieces the inference service and the controller's API share (src/http), on a bare app of
 * their own on loopback: the probes, the metrics route, JSON errors, and listening with a graceful
 * shutdown. The two servers' own suites (test/serve, test/controller) check them again in place.
 */

describe("the shared HTTP module", () => {
  const logged: Array<{ level: number; msg: string; reason?: string }> = [];
  const log = createLogger({
    level: "debug",
    format: "json",
    destination: new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString("utf8").split("\n").filter(Boolean)) logged.push(JSON.parse(line) as { level: number; msg: string });
        done();
      },
    }),
  });
  const registry = new Registry();
  new Counter({ name: "test_things_total", help: "Things counted by the test.", registers: [registry] }).inc(3);
  let readiness: Readiness = { ready: false, reason: "warming up", retryAfterSeconds: 7 };
  const errors: Array<[number, string]> = [];
  let running: RunningServer;
  let url = "";
  /** Resolves when the slow route has its request: the test then shuts the server down under it. */
  let slowArrived: () => void = () => undefined;
  let releaseSlow: () => void = () => undefined;

  before(async () => {
    const app = createBareApp();
    app.use(probeRoutes(() => readiness));
    app.use(metricsRoute(registry));
    app.get("/teapot", () => {
      throw new HttpError(418, "teapot", "this server is a teapot", { "Retry-After": "1" });
    });
    app.get("/bug", () => {
      throw new Error("a bug of ours, with a detail the client must not see");
    });
    app.post("/json", express.json({ limit: "10b" }), (_request, response) => {
      response.json({ ok: true });
    });
    app.get("/slow", async (_request, response) => {
      await new Promise<void>((release) => {
        releaseSlow = release;
        slowArrived();
      });
      response.json({ finished: true });
    });
    useJsonErrors(app, log, (status, code) => errors.push([status, code]));
    running = await listen(app, { name: "test server", port: 0, host: "127.0.0.1", graceMs: 5_000, log });
    url = running.url;
  });
  after(() => running.shutdown("test over"));

  test("listening is logged with the server's name and its URL", () => {
    assert.ok(logged.some((record) => record.msg === "test server listening"), JSON.stringify(logged.map((record) => record.msg)));
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  test("/healthz answers ok whatever the readiness; /readyz says 503 with the reason and Retry-After, then 200 with the detail", async () => {
    assert.deepEqual(await (await fetch(`${url}/healthz`)).json(), { status: "ok" });
    const starting = await fetch(`${url}/readyz`);
    assert.equal(starting.status, 503);
    assert.equal(starting.headers.get("retry-after"), "7");
    assert.deepEqual(await starting.json(), { ready: false, reason: "warming up" });

    readiness = { ready: false, reason: "no Retry-After is promised" };
    const unsure = await fetch(`${url}/readyz`);
    assert.equal(unsure.status, 503);
    assert.equal(unsure.headers.get("retry-after"), null);
    await unsure.body?.cancel();

    readiness = { ready: true, detail: { model: { name: "faces", version: "v3" } } };
    const ready = await fetch(`${url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { ready: true, model: { name: "faces", version: "v3" } });
  });

  test("/metrics is the registry in Prometheus' text format", async () => {
    const response = await fetch(`${url}/metrics`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), registry.contentType);
    assert.match(await response.text(), /^test_things_total 3$/m);
  });

  test("errors are JSON: an HttpError keeps its status, code and headers; an unknown route is 404; each is counted", async () => {
    errors.length = 0;
    const teapot = await fetch(`${url}/teapot`);
    assert.equal(teapot.status, 418);
    assert.equal(teapot.headers.get("retry-after"), "1");
    assert.deepEqual(await teapot.json(), { error: { code: "teapot", message: "this server is a teapot" } });
    const missing = await fetch(`${url}/nowhere?x=1`);
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), { error: { code: "not_found", message: "no route GET /nowhere" } });
    assert.deepEqual(errors, [[418, "teapot"], [404, "not_found"]]);
  });

  test("a body Express' parser refuses is the parser's 4xx, not a 500", async () => {
    const response = await fetch(`${url}/json`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ far: "too long for ten bytes" }) });
    assert.equal(response.status, 413);
    assert.deepEqual(await response.json(), { error: { code: "entity.too.large", message: "request entity too large" } });
  });

  test("our own bug is a 500 that says where to look, logged as an error, its detail kept from the client", async () => {
    const before = logged.length;
    const response = await fetch(`${url}/bug`);
    assert.equal(response.status, 500);
    const body = JSON.stringify(await response.json());
    assert.doesNotMatch(body, /detail the client must not see/);
    assert.match(body, /"code":"internal"/);
    assert.ok(logged.slice(before).some((record) => record.level === 50 && record.msg === "request failed"));
  });

  test("shutdown stops accepting, lets the request in flight finish, then logs that it is down", async () => {
    const arrived = new Promise<void>((resolve) => (slowArrived = resolve));
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      // A connection of its own, closed after the answer: a kept-alive one would hold the server up to its keepAliveTimeout.
      request(`${url}/slow`, { agent: false }, (response) => {
        let body = "";
        response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
      })
        .on("error", reject)
        .end();
    });
    await arrived;
    const stopped = running.shutdown("the test stops it");
    await assert.rejects(fetch(`${url}/healthz`), "no new connection once shutdown has begun");
    assert.ok(!logged.some((record) => record.msg === "shut down"), "not down while a request is in flight");
    releaseSlow();
    assert.deepEqual(await answer, { status: 200, body: JSON.stringify({ finished: true }) });
    await stopped;
    const messages = logged.map((record) => record.msg);
    assert.ok(messages.indexOf("shutting down: finishing in-flight requests") < messages.indexOf("shut down"), JSON.stringify(messages));
  });
});
