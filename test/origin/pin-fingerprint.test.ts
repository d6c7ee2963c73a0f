import { describe, expect, it } from "vitest";
import { pinnedForm } from "../../aws/origin/pinning/fingerprint.ts";
import { version1Of } from "../../aws/origin/pinning/pin-store.ts";

// What a fingerprint covers: the whole definition but its volatile fields; and, for a definition with no field the
// releases before left out, the very fingerprint those releases took (their approvals hold after an upgrade).
const tool = {
  name: "search",
  title: "Search",
  description: "Searches the docs.",
  inputSchema: { type: "object", properties: { q: { type: "string" } } },
  annotations: { readOnlyHint: true },
};
const prompt = { name: "brief", description: "A brief.", arguments: [{ name: "topic", required: true }] };

describe("pinned fingerprints", () => {
  it("keeps the fingerprint of the releases before for a definition without newly covered fields", () => {
    // As those releases computed them (SHA-256 of the canonical JSON of the named fields).
    expect(pinnedForm("tool", tool)).toMatchObject({
      fingerprint: "9f93cdb2584360b038a684a615c4e9e509f0b031080b0a1b9f17ec578778f269",
      version1: "9f93cdb2584360b038a684a615c4e9e509f0b031080b0a1b9f17ec578778f269",
    });
    expect(pinnedForm("prompt", prompt).fingerprint).toBe("8bd14de517f08c335b745c90ca2099892cd88e1acdf5614178d4342918db672a");
  });

  it("covers a tool's icons and execution, a prompt's icons, and fields it does not know", () => {
    const icons = [{ src: "https://good.example/icon.png" }];
    const drawn = pinnedForm("tool", { ...tool, icons, execution: { taskSupport: "optional" } });
    // The version 1 fingerprint is the one the releases before took: what carries their approval over.
    expect(drawn.version1).toBe(pinnedForm("tool", tool).fingerprint);
    const fingerprints = [
      drawn.fingerprint,
      pinnedForm("tool", { ...tool, icons: [{ src: "https://evil.example/track.png" }], execution: { taskSupport: "optional" } })
        .fingerprint,
      pinnedForm("tool", { ...tool, icons, execution: { taskSupport: "required" } }).fingerprint,
      pinnedForm("tool", { ...tool, icons, execution: { taskSupport: "optional" }, futureField: "x" }).fingerprint,
      pinnedForm("tool", tool).fingerprint,
    ];
    expect(new Set(fingerprints).size).toBe(fingerprints.length);
    expect(pinnedForm("prompt", { ...prompt, icons }).fingerprint).not.toBe(pinnedForm("prompt", prompt).fingerprint);
    const template = { uriTemplate: "item://{id}", name: "item" };
    expect(pinnedForm("resource_template", { ...template, icons }).fingerprint).not.toBe(
      pinnedForm("resource_template", template).fingerprint,
    );
    expect(drawn.form).toEqual({ ...tool, icons, execution: { taskSupport: "optional" } });
  });

  it("leaves out a resource's size and lastModified annotation, which change with its contents", () => {
    const notes = { uri: "file:///notes", name: "notes", annotations: { priority: 1 } };
    const grown = { ...notes, size: 99, annotations: { priority: 1, lastModified: "2025-06-01T00:00:00Z" } };
    expect(pinnedForm("resource", grown)).toEqual(pinnedForm("resource", notes));
  });

  it("names the version 1 row a stored whole form is approved under, read back as the database returns it", () => {
    const drawn = {
      ...tool,
      icons: [{ src: "https://x.example/é.png", sizes: ["48x48"] }],
      execution: { taskSupport: "optional" },
    };
    const { form, fingerprint, version1 } = pinnedForm("tool", drawn);
    const stored = JSON.parse(JSON.stringify(form)) as Record<string, unknown>;
    expect(version1Of({ kind: "tool", fingerprint, definition: stored })).toBe(version1);
    // A form with only fields of version 1 is approved as itself; so is a row whose definition does not hash to it.
    expect(version1Of({ kind: "tool", fingerprint: pinnedForm("tool", tool).fingerprint, definition: { ...tool } })).toBe(
      undefined,
    );
    expect(version1Of({ kind: "tool", fingerprint: "f2", definition: stored })).toBe(undefined);
    expect(version1Of({ kind: "tool", fingerprint, definition: "text" as never })).toBe(undefined);
  });
});
