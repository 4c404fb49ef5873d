import express from "express";

/**
 * An Express app as every faceops server starts one. No X-Powered-By: naming the framework only
 * helps whoever looks for its vulnerabilities. No ETags: Express would hash every body (up to a
 * model's metadata or a batch of predictions) for answers that are computed per request and that
 * no client revalidates.
 */
export function createBareApp(): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  return app;
}
