import { spawn } from "node:child_process";
import { access, readFile } from "node:fs/promises";

/**
 * Where any user may write outside its home (Debian's world-writable directories; `/dev/mqueue` holds the POSIX
 * message queues where it is mounted, `/dev/shm` the POSIX shared memory and semaphores). The next child given a
 * uid owns whatever the last one left here, even a `0600` file: each is swept before the uid is handed out again.
 */
export const SHARED_PLACES: readonly string[] = ["/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue"];

/** The System V IPC tables of /proc, with the column naming an object's id and `ipcrm`'s option for it. */
const SYSV_TABLES = [
  { table: "/proc/sysvipc/shm", id: "shmid", option: "-m" },
  { table: "/proc/sysvipc/sem", id: "semid", option: "-s" },
  { table: "/proc/sysvipc/msg", id: "msqid", option: "-q" },
] as const;

export interface LeftoverSweep {
  /** The shared places to sweep (those that exist). */
  places: readonly string[];
  /** A directory under them not swept: the children's homes, each deleted on its own. */
  skip: string;
  /** How long the whole sweep may take before it is given up (and the uid set aside). */
  deadlineMs: number;
  /** `setpriv`'s arguments that run what follows as `uid` with no privilege. */
  dropTo: (uid: number) => string[];
}

/**
 * Removes what `uid` (none of whose processes runs any more) owns in the shared places and in System V IPC; says what
 * is left, or undefined when nothing is. The removal runs AS THAT USER: a root `rm -r` in directories others can write
 * is open to symlink races, while the user's own can at worst delete what that user may delete anyway. A directory it
 * owns goes whole, with what other users wrote into it (as its owner it may). Then root only looks (`find`, which
 * follows no link), also where the user cannot: a file of its that it cannot remove, or cannot reach but its directory's
 * owner could open up again, is left.
 */
export async function removeLeftovers(uid: number, sweep: LeftoverSweep): Promise<string | undefined> {
  const until = Date.now() + sweep.deadlineMs;
  const left = () => Math.max(1, until - Date.now());
  const places = await existing(sweep.places);
  const skipHomes = skipping(sweep.skip);
  const id = String(uid);
  if (places.length > 0) {
    // Its directories opened to itself first (s27 review R1): one it closed (`chmod 0`) would stop the removal, and the
    // uid be set aside for good, so that a child could use up the range one start at a time. Each is opened as it is
    // reached (`;`, not `+`), before find goes into it.
    const opening = ["(", "-uid", id, "-type", "d", "!", "-perm", "-u=rwx", "-exec", "chmod", "u+rwx", "{}", ";", ")"];
    const opened = await runFor(left(), "setpriv", [...sweep.dropTo(uid), "find", ...places, "-xdev", ...skipHomes, ...opening]);
    if (opened.failure) return opened.failure;
    const removal = [...places, "-xdev", ...skipHomes, "(", "-uid", id, "-prune", "-exec", "rm", "-rf", "--", "{}", "+", ")"];
    const removed = await runFor(left(), "setpriv", [...sweep.dropTo(uid), "find", ...removal]);
    if (removed.failure) return removed.failure;
  }
  const objects = await ipcObjectsOf(uid);
  if (objects.length > 0) {
    const removed = await runFor(left(), "setpriv", [...sweep.dropTo(uid), "ipcrm", ...objects.flat()]);
    if (removed.failure) return removed.failure;
  }
  if (places.length > 0) {
    const found = await runFor(left(), "find", [...places, "-xdev", ...skipHomes, "(", "-uid", id, "-print", "-quit", ")"]);
    if (found.failure) return found.failure;
    // A name the child chose: quoted, so that it cannot forge a log line.
    if (found.out.trim()) return `it still owns ${JSON.stringify(found.out.trim())}`;
  }
  const stillThere = await ipcObjectsOf(uid);
  if (stillThere.length > 0) return `it still owns System V IPC objects (ipcrm ${stillThere.flat().join(" ")})`;
  return undefined;
}

/**
 * The uids of `range` that own something in the shared places or in System V IPC: what an earlier run of the origin
 * left (a restarted container keeps its /tmp), swept before those uids are handed out. Root only looks.
 */
export async function ownersIn(range: { first: number; count: number }, sweep: LeftoverSweep): Promise<Set<number>> {
  const last = range.first + range.count - 1;
  const owners = new Set<number>();
  const places = await existing(sweep.places);
  if (places.length > 0) {
    const inRange = ["-uid", `+${range.first - 1}`, "-uid", `-${last + 1}`];
    const args = [...places, "-xdev", ...skipping(sweep.skip), "(", ...inRange, "-printf", "%U\\n", ")"];
    const found = await runFor(sweep.deadlineMs, "find", args, Number.POSITIVE_INFINITY);
    if (found.failure) throw new Error(`cannot look for what stdio child users left in ${places.join(" ")}: ${found.failure}`);
    for (const line of found.out.split("\n")) if (line) owners.add(Number(line));
  }
  for (const object of await ipcObjects())
    for (const uid of [object.owner, object.creator]) if (uid >= range.first && uid <= last) owners.add(uid);
  return owners;
}

/** `find`'s arguments that leave `directory` out (a glob to `-path`: its own glob characters escaped). */
function skipping(directory: string): string[] {
  return ["(", "-path", directory.replace(/[[\]*?\\]/g, "\\$&"), "-prune", ")", "-o"];
}

/** The places that exist (a container may have no /dev/mqueue). */
async function existing(places: readonly string[]): Promise<string[]> {
  const found = await Promise.all(
    places.map((place) =>
      access(place).then(
        () => place,
        () => undefined,
      ),
    ),
  );
  return found.filter((place): place is string => place !== undefined);
}

/** `ipcrm`'s arguments for each System V IPC object `uid` owns or created (either one has the owner's rights on it). */
async function ipcObjectsOf(uid: number): Promise<[string, string][]> {
  return (await ipcObjects()).filter((object) => object.owner === uid || object.creator === uid).map((object) => object.ipcrm);
}

/** Every System V IPC object: its owner, its creator, and `ipcrm`'s arguments for it. */
async function ipcObjects(): Promise<{ owner: number; creator: number; ipcrm: [string, string] }[]> {
  const objects: { owner: number; creator: number; ipcrm: [string, string] }[] = [];
  for (const { table, id, option } of SYSV_TABLES) {
    const [header = "", ...rows] = (await readFile(table, "utf8").catch(() => "")).trim().split("\n");
    const columns = header.trim().split(/\s+/);
    for (const row of rows) {
      const cells = row.trim().split(/\s+/);
      const cell = (name: string) => cells[columns.indexOf(name)] ?? "";
      objects.push({ owner: Number(cell("uid")), creator: Number(cell("cuid")), ipcrm: [option, cell(id)] });
    }
  }
  return objects;
}

/**
 * Runs `command` for at most `ms` (then SIGKILL); the first `keep` characters of its output, and why it failed if it could not
 * be run or ran out of time. Its exit status is not a failure: `find` as the user fails on the directories it may not
 * read, and what it could not remove is found after.
 */
function runFor(ms: number, command: string, args: string[], keep = 4096): Promise<{ out: string; failure?: string }> {
  return new Promise((resolve) => {
    let out = "";
    // From "/": as the user, `find` fails in a working directory it may not enter (the origin's may be root's only).
    const child = spawn(command, args, { cwd: "/", stdio: ["ignore", "pipe", "ignore"], timeout: ms, killSignal: "SIGKILL" });
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      if (out.length < keep) out += chunk;
    });
    child.once("error", (error) => resolve({ out, failure: `${command} could not be run: ${error.message}` }));
    child.once("close", (_code, signal) =>
      resolve({ out, failure: signal ? `${command} did not finish within the sweep's ${ms} ms` : undefined }),
    );
  });
}
