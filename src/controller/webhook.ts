import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Authenticating git servers' push webhooks. GitHub and Gitea sign the raw body with HMAC-SHA256
 * (X-Hub-Signature-256: sha256=<hex>; Gitea also sends X-Gitea-Signature: <hex>); GitLab sends the
 * shared secret itself in X-Gitlab-Token. Comparisons are constant-time.
 */

export type WebhookHeaders = Record<string, string | string[] | undefined>;

export type WebhookVerdict = { ok: true; sender: "github" | "gitea" | "gitlab" } | { ok: false; reason: string };

function header(headers: WebhookHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export function verifyWebhook(headers: WebhookHeaders, body: Buffer, secret: string): WebhookVerdict {
  if (!secret) return { ok: false, reason: "no webhook secret is configured" };
  const expected = createHmac("sha256", secret).update(body).digest("hex");
  const hub = header(headers, "x-hub-signature-256");
  if (hub !== undefined) {
    const match = /^sha256=([0-9a-fA-F]{64})$/.exec(hub.trim());
    if (!match?.[1]) return { ok: false, reason: "X-Hub-Signature-256 is not of the form sha256=<64 hex digits>" };
    if (!sameText(match[1].toLowerCase(), expected)) return { ok: false, reason: "X-Hub-Signature-256 does not match the body signed with the configured secret" };
    return { ok: true, sender: header(headers, "x-gitea-event") ? "gitea" : "github" };
  }
  const gitea = header(headers, "x-gitea-signature");
  if (gitea !== undefined) {
    if (!sameText(gitea.trim().toLowerCase(), expected)) return { ok: false, reason: "X-Gitea-Signature does not match the body signed with the configured secret" };
    return { ok: true, sender: "gitea" };
  }
  const gitlab = header(headers, "x-gitlab-token");
  if (gitlab !== undefined) {
    if (!sameText(gitlab, secret)) return { ok: false, reason: "X-Gitlab-Token is not the configured secret" };
    return { ok: true, sender: "gitlab" };
  }
  return { ok: false, reason: "the request carries no X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token header" };
}

/** The event name, whichever server sent it: push, ping, "Push Hook"... */
export function webhookEvent(headers: WebhookHeaders): string {
  return header(headers, "x-github-event") ?? header(headers, "x-gitea-event") ?? header(headers, "x-gitlab-event") ?? "";
}

export function isPushEvent(event: string): boolean {
  return event === "push" || event === "Push Hook";
}
