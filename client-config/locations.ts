import { homedir } from "node:os";
import { join } from "node:path";
import type { Base, Location } from "./clients.ts";

export type Platform = "darwin" | "linux" | "win32";
export const PLATFORMS: readonly Platform[] = ["darwin", "linux", "win32"];

export type Places = Readonly<Record<Base, string>>;

/**
 * The base directories on `platform`. With an explicit home (tests, or an administrator configuring
 * another account) everything is derived from it, so the environment of the caller cannot point
 * writes outside it; otherwise the platform's own variables win, as the clients themselves do.
 */
export function placesFor(platform: Platform, home: string | undefined, env: NodeJS.ProcessEnv): Places {
  const root = home ?? homedir();
  const fromEnv = (name: string): string | undefined => (home === undefined && env[name] ? env[name] : undefined);
  switch (platform) {
    case "darwin":
      return { home: root, appData: join(root, "Library", "Application Support") };
    case "win32":
      return { home: root, appData: fromEnv("APPDATA") ?? join(root, "AppData", "Roaming") };
    case "linux":
      return { home: root, appData: fromEnv("XDG_CONFIG_HOME") ?? join(root, ".config") };
  }
}

// Joined with this machine's separator: the files are read and written here, whatever layout is simulated.
export function resolve(places: Places, location: Location): string {
  return join(places[location.base], ...location.segments);
}

export function currentPlatform(): Platform {
  return process.platform === "darwin" || process.platform === "win32" ? process.platform : "linux";
}
