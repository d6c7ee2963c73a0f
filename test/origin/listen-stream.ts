/**
 * Reads a `subscriptions/listen` answer up to its acknowledgement: the acknowledgement, the reader (to cancel the
 * listen), and whether the stream ended afterwards (it resolves when it does). Throws when no stream came back.
 */
export async function acknowledgedListen(response: Response) {
  const reader = response.body?.pipeThrough(new TextDecoderStream()).getReader();
  if (!reader || response.status !== 200) throw new Error(`no stream: ${response.status} ${await response.text()}`);
  let seen = "";
  while (!seen.includes("notifications/subscriptions/acknowledged")) {
    const next = await reader.read();
    if (next.done) throw new Error(`the listen ended: ${seen}`);
    seen += next.value;
  }
  const line = seen.split("\n").find((each) => each.includes("acknowledged")) as string;
  const ended = (async () => {
    for (;;) if ((await reader.read()).done) return true;
  })();
  return { acknowledgement: JSON.parse(line.slice("data:".length)), reader, ended };
}
