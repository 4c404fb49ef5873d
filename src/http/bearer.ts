import { timingSafeEqual } from "node:crypto";
import type { Request } from "express";
import { HttpError } from "./errors.js";

/**
 * The API token check of faceops' HTTP APIs (runs, review), in constant time. `required` routes
 * answer 403 naming how to set a token when none is configured; the others need the token only once
 * one is configured.
 */
export function authorizeBearer(request: Request, token: string, options: { required: boolean; refusal: string }): void {
  if (!token && !options.required) return;
  if (!token) throw new HttpError(403, "api_token_not_configured", `${options.refusal}: set FACEOPS_API_TOKEN or controller.apiTokenFile`);
  const given = /^Bearer\s+(\S+)\s*$/i.exec(request.get("authorization") ?? "")?.[1];
  const challenge = { "WWW-Authenticate": 'Bearer realm="faceops"' };
  if (!given) throw new HttpError(401, "unauthorized", "send Authorization: Bearer <token>", challenge);
  const left = Buffer.from(given);
  const right = Buffer.from(token);
  if (left.length !== right.length || !timingSafeEqual(left, right)) throw new HttpError(401, "unauthorized", "the bearer token is not the configured one", challenge);
}
