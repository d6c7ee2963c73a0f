import { z } from "zod";
import type { GroupLookUp } from "../../identity/google/google-groups.ts";
import { readJsonFile, validated } from "./policy-file.ts";

/** `--groups FILE`: each user's groups, by e-mail address (`{ "user@example.com": ["group@example.com"] }`). */
const GroupsFile = z
  .record(z.string(), z.array(z.string().min(1, "expected a group's name or address")))
  .superRefine((file, context) => {
    // A key the record itself refused would be reported without its reason; this names the key and what it must be.
    for (const key of Object.keys(file)) {
      if (!z.email().safeParse(key).success) {
        context.addIssue({ code: "custom", path: [key], message: "expected a user's e-mail address as the key" });
      }
    }
  });

/** Users' groups by lower-case e-mail address. */
export type KnownGroups = ReadonlyMap<string, readonly string[]>;

export function readGroupsFile(path: string): KnownGroups {
  const file = validated(GroupsFile, readJsonFile(path), path, "");
  return new Map(Object.entries(file).map(([email, groups]) => [email.toLowerCase(), groups]));
}

export interface ResolvedGroups {
  groups: KnownGroups;
  /** Users whose Directory look-up failed, and why: they are evaluated with the file's groups only. */
  failures: { user: string; error: string }[];
}

/** Directory look-ups at once: enough to keep a large user list moving, few enough to stay clear of Google's quotas. */
const PARALLEL_LOOK_UPS = 4;
const PROGRESS_EVERY = 100;

/**
 * Audit events carry users' e-mail addresses, not their groups. Each user's groups are those of the groups file and,
 * when the origin's Google configuration is there, those the Directory lists now (through the origin's own look-up).
 */
export async function resolveGroups(
  emails: readonly string[],
  fromFile: KnownGroups,
  directory: GroupLookUp | undefined,
  progress: (message: string) => void,
): Promise<ResolvedGroups> {
  const groups = new Map<string, readonly string[]>();
  const failures: ResolvedGroups["failures"] = [];
  const waiting = [...new Set(emails.map((email) => email.toLowerCase()))];
  const total = waiting.length;
  let done = 0;
  const lookUpNext = async () => {
    for (let email = waiting.shift(); email !== undefined; email = waiting.shift()) {
      const known = fromFile.get(email) ?? [];
      const found = directory
        ? await directory(email).then(
            ({ value }) => value,
            (error: unknown) => {
              failures.push({ user: email, error: (error as Error).message });
              return [];
            },
          )
        : [];
      groups.set(email, [...new Set([...known, ...found])]);
      done += 1;
      if (directory && done % PROGRESS_EVERY === 0) progress(`looked up the groups of ${done} of ${total} users`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_LOOK_UPS, total) }, lookUpNext));
  return { groups, failures };
}
