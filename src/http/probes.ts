import { Router } from "express";

/**
 * The two probes every faceops server answers, in the shape Kubernetes probes and people both read.
 * /healthz is liveness: the process answers HTTP at all, so it is never made to depend on anything
 * else (a liveness probe that fails while a model loads would have the pod restarted mid-load).
 * /readyz is readiness: whether this process should get traffic now, which only the server knows
 * (a model loaded, the controller's loop running); not ready is 503, the status a readinessProbe
 * counts as a failure.
 */

/** What /readyz answers: ready with whatever else identifies the state, or not ready with a sentence saying why. */
export type Readiness =
  | { ready: true; detail?: Record<string, unknown> }
  | { ready: false; reason: string; retryAfterSeconds?: number };

export function probeRoutes(readiness: () => Readiness): Router {
  const router = Router();
  router.get("/healthz", (_request, response) => {
    response.json({ status: "ok" });
  });
  router.get("/readyz", (_request, response) => {
    const state = readiness();
    if (state.ready) {
      response.json({ ready: true, ...state.detail });
      return;
    }
    if (state.retryAfterSeconds !== undefined) response.setHeader("Retry-After", String(state.retryAfterSeconds));
    response.status(503).json({ ready: false, reason: state.reason });
  });
  return router;
}
