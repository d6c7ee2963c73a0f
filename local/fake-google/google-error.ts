import type { ServerResponse } from "node:http";

/** Google's two error shapes: OAuth endpoints (STS, the token endpoint) answer RFC 6749 style, the REST APIs a status object. */
export function oauthError(response: ServerResponse, status: number, error: string, description: string): void {
  sendJson(response, status, { error, error_description: description });
}

/** The REST APIs' error (IAM Credentials, Admin Directory), as googleapis.com writes it. */
export function apiError(response: ServerResponse, status: number, message: string, reason: string): void {
  sendJson(response, status, {
    error: { code: status, message, errors: [{ message, domain: "global", reason }], status: STATUS_NAMES[status] ?? "UNKNOWN" },
  });
}

const STATUS_NAMES: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  503: "UNAVAILABLE",
};

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { "content-type": "application/json; charset=UTF-8" });
  response.end(JSON.stringify(body));
}
