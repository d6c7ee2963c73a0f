import { type GoogleStep, GoogleStepFailed, isUnavailableStatus } from "./google-step.ts";

/** One call to a Google API as a step of the look-up: its JSON answer, or GoogleStepFailed naming the step and what Google said. */
export async function googleFetch<T>(step: GoogleStep, url: string, init: RequestInit, timeoutSeconds: number): Promise<T> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, redirect: "error", signal: AbortSignal.timeout(timeoutSeconds * 1000) });
  } catch (error) {
    throw new GoogleStepFailed(step, true, `no answer from ${new URL(url).host} (${(error as Error).message})`);
  }
  const text = await response.text();
  if (!response.ok)
    throw new GoogleStepFailed(
      step,
      isUnavailableStatus(response.status),
      `${response.status} ${text.slice(0, 300)}`,
      response.status,
    );
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new GoogleStepFailed(step, true, `${response.status} with a body that is not JSON`);
  }
}
