/** Something started that can be stopped. */
export interface Stoppable {
  close(): Promise<void>;
}

/**
 * Starts parts one after another. If one fails, the parts already started are stopped, newest first,
 * and the error names the failed part (and, for a taken port, the variable that moves it).
 */
export function startInOrder(log: (part: string, line: string) => void) {
  const running: { name: string; part: Stoppable }[] = [];

  async function stopAll(): Promise<void> {
    for (const { name, part } of running.splice(0).reverse()) {
      await part.close().catch((error: unknown) => log(name, `stop failed: ${String(error)}`));
    }
  }

  async function start<T extends Stoppable>(name: string, portVariable: string, begin: () => Promise<T>): Promise<T> {
    try {
      const part = await begin();
      running.push({ name, part });
      return part;
    } catch (error) {
      await stopAll();
      const message = (error as Error).message;
      const hint = /already in use/.test(message) ? ` (with npm start, set ${portVariable} to use another port)` : "";
      throw new Error(`${name} failed to start: ${message}${hint}`, { cause: error });
    }
  }

  return { start, stopAll };
}
