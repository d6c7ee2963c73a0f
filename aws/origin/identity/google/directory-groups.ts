import type { GoogleConfig } from "./federated-client.ts";
import { googleFetch } from "./google-fetch.ts";
import { GoogleStepFailed } from "./google-step.ts";

/** The Directory's largest page. */
const PAGE_SIZE = 200;
/** A user in more groups than this (50 pages) is refused rather than looped over without end. */
const MAX_PAGES = 50;

interface GroupsPage {
  groups?: { email?: string }[];
  nextPageToken?: string;
}

/**
 * The e-mail addresses of the groups `user` belongs to (direct memberships), every page of the Admin Directory's
 * groups list. A user the Directory does not know (404: outside the domain) is in no group.
 */
export async function directoryGroups(google: GoogleConfig, token: string, user: string): Promise<string[]> {
  const groups: string[] = [];
  let pageToken: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const query = new URLSearchParams({ userKey: user, maxResults: String(PAGE_SIZE), ...(pageToken && { pageToken }) });
    let answer: GroupsPage;
    try {
      answer = await googleFetch<GroupsPage>(
        "directory",
        `${google.endpoints.directory}/admin/directory/v1/groups?${query}`,
        { headers: { authorization: `Bearer ${token}` } },
        google.requestTimeoutSeconds,
      );
    } catch (error) {
      if (error instanceof GoogleStepFailed && error.status === 404) return [];
      throw error;
    }
    for (const group of answer.groups ?? []) if (group.email) groups.push(group.email.toLowerCase());
    pageToken = answer.nextPageToken;
    if (!pageToken) return groups;
  }
  throw new GoogleStepFailed("directory", false, `${user} is in more than ${MAX_PAGES * PAGE_SIZE} groups`);
}
