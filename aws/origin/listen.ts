import type { AddressInfo } from "node:net";

/** A host that names no address of this machine: an unknown name, or another machine's address. */
const NOT_HERE = new Set(["ENOTFOUND", "EAI_AGAIN", "EADDRNOTAVAIL"]);

interface Listenable {
  listen(port: number, host: string): unknown;
  once(event: "listening" | "error", listener: (error?: Error) => void): unknown;
  off(event: "listening" | "error", listener: (error?: Error) => void): unknown;
  address(): AddressInfo | string | null;
}

/**
 * Starts listening and resolves with the bound port; a port already taken is reported as such,
 * naming the setting that chooses another.
 */
export function listen(server: Listenable, port: number, host: string, setting: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error?: Error) => {
      server.off("listening", onListening);
      const code = (error as NodeJS.ErrnoException | undefined)?.code;
      reject(
        code === "EADDRINUSE"
          ? new Error(`port ${port} on ${host} is already in use: stop what holds it, or choose another with ${setting}`)
          : code && NOT_HERE.has(code)
            ? new Error(
                `cannot listen on ${host}: it is not an address of this machine (${code}); listen on one of its own, such as 0.0.0.0 or 127.0.0.1`,
              )
            : (error ?? new Error(`could not listen on ${host}:${port}`)),
      );
    };
    const onListening = () => {
      server.off("error", onError);
      resolve((server.address() as AddressInfo).port);
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(port, host);
  });
}
