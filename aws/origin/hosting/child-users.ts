import { execFile } from "node:child_process";
import { chmod, chown, lstat, mkdir, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { type LeftoverSweep, ownersIn, removeLeftovers, SHARED_PLACES } from "./uid-leftovers.ts";

const run = promisify(execFile);

/** The Unix user a stdio child runs as, and its home directory (its caches, `npx` downloads, its TMPDIR). */
export interface ChildUser {
  uid: number;
  home: string;
}

/**
 * The most processes and threads one child's user may run at once (RLIMIT_NPROC, which counts both, per user): room
 * for `npx` and a server's workers (a Node process is about ten threads), not for a fork loop that would fill the task's
 * process table for every user (s28 limits hunt L1).
 */
export const CHILD_PROCESS_LIMIT = 512;

/**
 * The kernel's out-of-memory preference for a child and all it starts, the highest there is: a task out of memory ends
 * a child (the largest first), not the origin, which every user's calls go through (s28 limits hunt L1). A child may
 * set its own back down to the origin's (0) where the task lacks CAP_SYS_RESOURCE (Fargate, Docker's default), not
 * below: it guards against a server that grows, not one that means harm.
 */
const CHILD_OOM_SCORE_ADJ = 1000;

/** How often the processes a child left behind are killed before its user is set aside instead of handed out again. */
const KILL_ROUNDS = 5;

/**
 * How long removing what a done child left in the shared places may take before its user is set aside instead: a
 * child that filled /tmp with millions of files costs one user of the range, not a stuck sweep. It runs when the
 * child is done, which no request waits for (a start that failed excepted: its error waits).
 */
const SWEEP_DEADLINE_MS = 120_000;

/**
 * Unix users for stdio children (`stdio.childUids`): each running child holds one of its own, so that it can read
 * neither the origin's environment or memory (`/proc/<pid>/environ`: the origin's secrets) nor another child's. A user
 * is handed out with an empty home directory; when its child is done, every process of that user is killed and, once
 * none is left, its home is deleted, what it owns in the places every user may write (/tmp, /var/tmp, /dev/shm…) and
 * its System V IPC objects are removed, and the user is handed out again: nothing one child wrote or left running
 * reaches the next. A user whose processes cannot all be killed, or whose leftovers cannot all be removed, is set aside
 * for good (and logged).
 */
export class ChildUsers {
  readonly #free: number[];
  readonly #homes: string;
  readonly #log: (line: string) => void;
  readonly #sweep: LeftoverSweep;
  readonly #range: { first: number; count: number };

  /** `places`: where any user may write, swept of a done child's files (the system's; a test passes its own). */
  constructor(
    range: { first: number; count: number },
    homes: string,
    log: (line: string) => void,
    places: readonly string[] = SHARED_PLACES,
  ) {
    // Handed out oldest-freed first: a user rests as long as possible before another child gets it.
    this.#free = Array.from({ length: range.count }, (_, index) => range.first + index);
    this.#homes = homes;
    this.#log = log;
    this.#sweep = { places, skip: homes, deadlineMs: SWEEP_DEADLINE_MS, dropTo };
    this.#range = range;
  }

  /**
   * Kills what the range's users run and sweeps what they own before any is handed out: an earlier run's children (an
   * origin restarted in its container, which keeps its /tmp) left it, and no give() of this run will. A user whose
   * processes or leftovers stay is set aside.
   */
  async sweepEarlierRuns(): Promise<void> {
    const { first, count } = this.#range;
    const running = (await liveProcessUsers()).flat().filter((uid) => uid >= first && uid < first + count);
    for (const uid of new Set([...running, ...(await ownersIn(this.#range, this.#sweep))])) {
      const at = this.#free.indexOf(uid);
      if (at < 0) continue;
      this.#free.splice(at, 1);
      await this.give({ uid, home: join(this.#homes, String(uid)) });
    }
  }

  /** A free user with a fresh home directory (mode 0700, its own); throws when every one is taken. */
  async take(): Promise<ChildUser> {
    const uid = this.#free.shift();
    if (uid === undefined)
      throw new Error("every stdio child user is taken (stdio.childUids.count): raise it, or lower stdio.maxProcesses");
    const home = join(this.#homes, String(uid));
    try {
      await this.#prepareParent();
      await rm(home, { recursive: true, force: true });
      await mkdir(home, { mode: 0o700 });
      await chown(home, uid, uid);
    } catch (error) {
      this.#free.push(uid);
      throw new Error(`cannot prepare the home directory of stdio child user ${uid}: ${(error as Error).message}`);
    }
    return { uid, home };
  }

  /**
   * The child is done: every process still running as its user is killed (as that user, `kill(-1)`, which no forking
   * process outruns), and once none is left its home goes, then what it left elsewhere, and the user is free again.
   */
  async give(user: ChildUser): Promise<void> {
    if (!(await killAll(user.uid))) {
      this.#log(
        `stdio child user ${user.uid} still runs processes after ${KILL_ROUNDS} rounds of SIGKILL: set aside, not handed out again`,
      );
      return;
    }
    await rm(user.home, { recursive: true, force: true }).catch(() => {});
    const left = await removeLeftovers(user.uid, this.#sweep);
    if (left !== undefined) {
      await killAll(user.uid); // the sweep's own processes, when it ran out of time
      this.#log(`stdio child user ${user.uid}'s leftovers cannot all be removed (${left}): set aside, not handed out again`);
      return;
    }
    this.#free.push(user.uid);
  }

  /**
   * The directory of the homes: root's, searchable by all (0711) so that each child reaches its own home by its path,
   * and listable by none. Refused when something else stands there (a symlink, another owner).
   */
  async #prepareParent(): Promise<void> {
    await mkdir(this.#homes, { recursive: true, mode: 0o711 });
    const found = await lstat(this.#homes);
    if (!found.isDirectory() || found.uid !== 0)
      throw new Error(`${this.#homes} must be a directory of root's (it is not: refusing to put homes there)`);
    await chmod(this.#homes, 0o711);
  }
}

/**
 * The child users of `stdio.childUids`, or none when unset. Refuses to start an origin that cannot switch users (not
 * root, no `setpriv`, uids it may not take): children would run as the origin's user, which the configuration forbids.
 */
export async function childUsersFromConfig(
  range: { first: number; count: number } | undefined,
  log: (line: string) => void,
): Promise<ChildUsers | undefined> {
  if (!range) return undefined;
  const last = range.first + range.count - 1;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `stdio.childUids is set, so stdio children run as users ${range.first}…${last}, but the origin runs as uid ${process.getuid?.()} and cannot switch to them: run it as root (the Dockerfile's image does), or unset stdio.childUids`,
    );
  }
  for (const uid of [range.first, last]) {
    const { command, args } = asChildUser({ uid, home: "" }, process.execPath, ["-e", ""]);
    await run(command, args).catch((error: Error) => {
      throw new Error(
        `stdio.childUids: cannot run a process as user ${uid} with choom, prlimit and setpriv (util-linux): ${error.message}`,
      );
    });
  }
  const users = new ChildUsers(range, join(tmpdir(), "mcp-stdio-children"), log);
  await users.sweepEarlierRuns();
  return users;
}

/** `setpriv`'s arguments that run what follows as `uid` (group the same), with no other group and no privilege. */
function dropTo(uid: number): string[] {
  const id = String(uid);
  return [`--reuid=${id}`, `--regid=${id}`, "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"];
}

/**
 * The command that runs `command args` as `user`, within its bounds: `choom` makes it the kernel's first choice when
 * memory runs out, `prlimit` bounds its user's processes, and `setpriv` drops to the user's uid and gid, clears
 * supplementary groups, every capability (also from the bounding set) and sets no-new-privileges, then executes the
 * command. What the child starts inherits all of it.
 */
export function asChildUser(
  user: ChildUser,
  command: string,
  args: readonly string[],
  processLimit = CHILD_PROCESS_LIMIT,
): { command: string; args: string[] } {
  const bounds = ["-n", String(CHILD_OOM_SCORE_ADJ), "--", "prlimit", `--nproc=${processLimit}`, "--"];
  return { command: "choom", args: [...bounds, "setpriv", ...dropTo(user.uid), command, ...args] };
}

/** Kills every process of `uid` (as that user), for up to KILL_ROUNDS rounds; whether none is left. */
async function killAll(uid: number): Promise<boolean> {
  for (let round = 0; round <= KILL_ROUNDS; round++) {
    if ((await processesOf(uid)) === 0) return true;
    if (round < KILL_ROUNDS)
      await run("setpriv", [...dropTo(uid), process.execPath, "-e", "process.kill(-1, 'SIGKILL')"]).catch(() => {});
  }
  return false;
}

/** How many live processes (zombies aside: they run nothing) have `uid` as their real or effective user (/proc: Linux). */
async function processesOf(uid: number): Promise<number> {
  return (await liveProcessUsers()).filter((users) => users.includes(uid)).length;
}

/** The real and effective user of each live process (zombies aside). */
async function liveProcessUsers(): Promise<number[][]> {
  const users: number[][] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const status = await readFile(`/proc/${entry}/status`, "utf8").catch(() => "");
    const ids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status)?.slice(1).map(Number);
    if (ids && !/^State:\s+Z/m.test(status)) users.push(ids);
  }
  return users;
}
