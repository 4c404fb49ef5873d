import express from "express";
import type { Registry } from "prom-client";
import type { Logger } from "../log.js";
import { useJsonErrors } from "../serve/errors.js";

/**
 * The controller's own HTTP app, when it runs without the inference server (in a cluster): health,
 * metrics, and the runs and webhook API. `faceops up` on one machine mounts the same router into
 * the inference app instead.
 */
export function createControllerApp(options: { router: express.Router; registry: Registry; log: Logger; ready: () => boolean }): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.get("/healthz", (_request, response) => {
    response.json({ status: "ok" });
  });
  app.get("/readyz", (_request, response) => {
    if (options.ready()) response.json({ ready: true });
    else response.status(503).json({ ready: false, reason: "the controller is starting" });
  });
  app.get("/metrics", async (_request, response) => {
    response.setHeader("Content-Type", options.registry.contentType);
    response.send(await options.registry.metrics());
  });
  app.use(options.router);
  useJsonErrors(app, options.log);
  return app;
}
