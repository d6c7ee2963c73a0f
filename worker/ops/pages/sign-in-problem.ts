import { escapeHtml } from "../../auth/html.ts";
import { OPS_SIGN_IN_PATH } from "../paths.ts";
import { opsPage } from "./layout.ts";

/** A dashboard sign-in that cannot go on: what went wrong, and the way to start again. */
export const signInProblemPage = (status: number, problem: string, headers?: Headers): Response =>
  opsPage(
    "Ops dashboard: sign-in failed",
    `<main><h1>Sign-in failed</h1><p>${escapeHtml(problem)}</p><p><a href="${OPS_SIGN_IN_PATH}">Sign in again</a></p></main>`,
    { status, ...(headers && { headers }) },
  );
