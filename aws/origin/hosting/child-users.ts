import { chown, mkdir, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The Unix user a stdio child runs as, and its home directory (its caches, `npx` downloads). */
export interface ChildUser {
  uid: number;
  home: string;
}

/**
 * Unix users for stdio children (`stdio.childUids`): each running child holds one of its own, so that it can read
 * neither the origin's environment or memory (`/proc/<pid>/environ`: the origin's secrets) nor another child's. A user
 * is handed out with an empty home directory and, when its child has exited, its home is deleted before it is handed
 * out again: nothing one child wrote reaches the next.
 */
export class ChildUsers {
  readonly #free: number[];
  readonly #homes: string;

  constructor(range: { first: number; count: number }, homes: string) {
    // Handed out oldest-freed first: a user rests as long as possible before another child gets it.
    this.#free = Array.from({ length: range.count }, (_, index) => range.first + index);
    this.#homes = homes;
  }

  /** A free user with a fresh home directory (mode 0700, its own); throws when every one is taken. */
  async take(): Promise<ChildUser> {
    const uid = this.#free.shift();
    if (uid === undefined)
      throw new Error("every stdio child user is taken (stdio.childUids.count): raise it, or lower stdio.maxProcesses");
    const home = join(this.#homes, String(uid));
    try {
      await rm(home, { recursive: true, force: true });
      await mkdir(home, { recursive: true, mode: 0o700 });
      await chown(home, uid, uid);
    } catch (error) {
      this.#free.push(uid);
      throw new Error(`cannot prepare the home directory of stdio child user ${uid}: ${(error as Error).message}`);
    }
    return { uid, home };
  }

  /**
   * The child is done: whatever still runs as its user (processes it left behind) is killed, its home goes, and the
   * user is free again.
   */
  async give(user: ChildUser): Promise<void> {
    await killEveryProcessOf(user.uid).catch(() => {});
    await rm(user.home, { recursive: true, force: true }).catch(() => {});
    this.#free.push(user.uid);
  }
}

/** Sends SIGKILL to every process whose real or effective user is `uid` (read from /proc: Linux). */
async function killEveryProcessOf(uid: number): Promise<void> {
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const status = await readFile(`/proc/${entry}/status`, "utf8").catch(() => "");
    const [real, effective] = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status)?.slice(1).map(Number) ?? [];
    if (real === uid || effective === uid) {
      try {
        process.kill(Number(entry), "SIGKILL");
      } catch {
        // Gone meanwhile.
      }
    }
  }
}

/**
 * The child users of `stdio.childUids`, or none when unset. Refuses to start an origin that cannot switch users (it is
 * not root): children would run as the origin's user, which the configuration asked not to.
 */
export function childUsersFromConfig(range: { first: number; count: number } | undefined): ChildUsers | undefined {
  if (!range) return undefined;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `stdio.childUids is set, so stdio children run as users ${range.first}…${range.first + range.count - 1}, but the origin runs as uid ${process.getuid?.()} and cannot switch to them: run it as root (the Dockerfile's image does), or unset stdio.childUids`,
    );
  }
  return new ChildUsers(range, join(tmpdir(), "mcp-stdio-children"));
}

/**
 * The command that runs `command args` as `user`: `setpriv` drops to the user's uid and gid, clears supplementary
 * groups, every capability (also from the bounding set) and sets no-new-privileges, then executes the command.
 */
export function asChildUser(user: ChildUser, command: string, args: readonly string[]): { command: string; args: string[] } {
  const id = String(user.uid);
  return {
    command: "setpriv",
    args: [
      `--reuid=${id}`,
      `--regid=${id}`,
      "--clear-groups",
      "--inh-caps=-all",
      "--bounding-set=-all",
      "--no-new-privs",
      "--",
      command,
      ...args,
    ],
  };
}
