import { spawnSync } from "node:child_process";

/**
 * The operators' commands in docs/operations.md use jq, as operators' machines have it. Where it is missing the tests
 * that run those commands are skipped, except in CI: .ci/run installs jq, so there a missing jq fails them instead of
 * leaving them silently unrun.
 */
export const jqMissingHere = spawnSync("jq", ["--version"]).status !== 0 && !process.env.CI;
