import { Router } from "express";
import type { Registry } from "prom-client";

/**
 * GET /metrics: the registry in Prometheus' text format. The registry is the server's own (each
 * server, and each test, has its own); in `faceops up` the inference service and the controller
 * share one, so one scrape shows both.
 */
export function metricsRoute(registry: Registry): Router {
  const router = Router();
  router.get("/metrics", async (_request, response) => {
    response.setHeader("Content-Type", registry.contentType);
    response.send(await registry.metrics());
  });
  return router;
}
