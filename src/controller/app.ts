import type express from "express";
import type { Registry } from "prom-client";
import { createBareApp } from "../http/app.js";
import { useJsonErrors } from "../http/errors.js";
import { metricsRoute } from "../http/metrics-route.js";
import { probeRoutes } from "../http/probes.js";
import type { Logger } from "../log.js";

/**
 * The controller's own HTTP app, when it runs without the inference server (in a cluster): health,
 * metrics, and the runs and webhook API. `faceops up` on one machine mounts the same router into
 * the inference app instead.
 */
export function createControllerApp(options: { router: express.Router; registry: Registry; log: Logger; ready: () => boolean }): express.Express {
  const app = createBareApp();
  app.use(probeRoutes(() => (options.ready() ? { ready: true } : { ready: false, reason: "the controller is starting" })));
  app.use(metricsRoute(options.registry));
  app.use(options.router);
  useJsonErrors(app, options.log);
  return app;
}
