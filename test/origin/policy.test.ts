import { describe, expect, it } from "vitest";
import { policyProblems } from "../../aws/origin/policy/check-policy.ts";
import { userPolicy } from "../../aws/origin/policy/user-policy.ts";
import { Policy } from "../../contract/config/policy.ts";

const policy = Policy.parse({
  rules: [
    {
      description: "engineers use the code servers",
      effect: "allow",
      who: { groups: ["engineering"] },
      servers: ["github", "docs-*"],
    },
    { effect: "allow", who: { domains: ["example.com"] }, servers: ["docs-*"], tools: ["search*", "read_*"] },
    { effect: "allow", who: { emails: ["Auditor@Partner.example"] }, servers: ["github"], tools: ["list_*"] },
    {
      description: "contractors never run destructive tools",
      effect: "deny",
      who: { groups: ["contractors"] },
      servers: ["*"],
      annotations: { destructiveHint: true },
    },
    {
      description: "nobody deletes repositories",
      effect: "deny",
      who: { everyone: true },
      servers: ["github"],
      tools: ["delete_repo"],
    },
    { description: "interns are kept off docs-secret", effect: "deny", who: { groups: ["interns"] }, servers: ["docs-secret"] },
  ],
});

const engineer = userPolicy(policy, { email: "eng@example.com", groups: ["engineering"] });
const contractor = userPolicy(policy, { email: "c@vendor.example", groups: ["engineering", "contractors"] });
const colleague = userPolicy(policy, { email: "someone@EXAMPLE.com", groups: [] });
const auditor = userPolicy(policy, { email: "auditor@partner.example" });
const intern = userPolicy(policy, { email: "i@example.com", groups: ["engineering", "interns"] });
const stranger = userPolicy(policy, { email: "x@elsewhere.example", groups: ["sales"] });

const readOnly = { readOnlyHint: true };

describe("policy: who may see a server's prompts and resources", () => {
  it("a user a rule allows the whole server", () => {
    expect(engineer.contents("github").allowed).toBe(true);
    expect(colleague.contents("docs-internal").allowed).toBe(false);
  });

  it("not a user the rules allow only some tools of it (by name or by annotations), and says why", () => {
    expect(auditor.server("github").allowed).toBe(true);
    expect(auditor.contents("github")).toEqual({
      allowed: false,
      reason:
        'the rules that allow you server "github" name only some of its tools; its prompts and resources need an allow rule without "tools" and "annotations"',
    });
    const byAnnotations = Policy.parse({
      rules: [{ effect: "allow", who: { everyone: true }, servers: ["db"], annotations: { readOnlyHint: true } }],
    });
    expect(userPolicy(byAnnotations, {}).contents("db").allowed).toBe(false);
  });

  it("not a user kept off the server, with the server's own reason", () => {
    expect(intern.contents("docs-secret").allowed).toBe(false);
    expect(stranger.contents("github")).toEqual(stranger.server("github"));
  });

  it("everyone, without a policy", () => {
    expect(userPolicy(undefined, {}).contents("anything").allowed).toBe(true);
  });
});

describe("policy: who may use which server", () => {
  it("allows a server an allow rule names for the user's group, domain or address", () => {
    expect(engineer.server("github").allowed).toBe(true);
    expect(engineer.server("docs-internal").allowed).toBe(true);
    expect(colleague.server("docs-internal").allowed).toBe(true);
    expect(auditor.server("github").allowed).toBe(true);
  });

  it("matches a domain rule on the address's own domain: the part after its last @", () => {
    expect(userPolicy(policy, { email: '"eng@example.com"@elsewhere.example' }).server("docs-a").allowed).toBe(false);
    expect(userPolicy(policy, { email: "example.com" }).server("docs-a").allowed).toBe(false);
  });

  it("refuses a server no rule allows, and says so", () => {
    expect(stranger.server("github")).toEqual({ allowed: false, reason: 'no policy rule allows you to use server "github"' });
    expect(colleague.server("github").allowed).toBe(false);
  });

  it("a whole-server deny beats an allow, naming the rule", () => {
    const decision = intern.server("docs-secret");
    expect(decision.allowed).toBe(false);
    expect(decision.allowed || decision.reason).toContain("interns are kept off docs-secret");
    expect(intern.server("docs-public").allowed).toBe(true);
  });

  it("a deny about some tools does not take the whole server away", () => {
    expect(contractor.server("github").allowed).toBe(true);
  });

  it("compares groups without case, so a deny rule written in another case still denies", () => {
    const denyMixedCase = Policy.parse({
      rules: [
        { effect: "allow", who: { everyone: true }, servers: ["*"] },
        { effect: "deny", who: { groups: ["Contractors@Corp.example"] }, servers: ["payroll"] },
      ],
    });
    // Google's Directory gives groups in lower case.
    const fromDirectory = userPolicy(denyMixedCase, { email: "c@corp.example", groups: ["contractors@corp.example"] });
    expect(fromDirectory.server("payroll").allowed).toBe(false);
    expect(userPolicy(policy, { email: "x@elsewhere.example", groups: ["ENGINEERING"] }).server("github").allowed).toBe(true);
  });
});

describe("policy: who may use which tool", () => {
  it("allows every tool of a server allowed without a tool list, annotated or not", () => {
    expect(engineer.tool("github", { name: "create_issue" }).allowed).toBe(true);
    expect(engineer.tool("github", { name: "list_repos", annotations: readOnly }).allowed).toBe(true);
  });

  it("limits a tool list to its globs", () => {
    expect(colleague.tool("docs-a", { name: "search" }).allowed).toBe(true);
    expect(colleague.tool("docs-a", { name: "read_page" }).allowed).toBe(true);
    expect(colleague.tool("docs-a", { name: "write_page" }).allowed).toBe(false);
    expect(auditor.tool("github", { name: "list_repos" }).allowed).toBe(true);
    expect(auditor.tool("github", { name: "create_issue" }).allowed).toBe(false);
  });

  it("a deny by name beats every allow", () => {
    const decision = engineer.tool("github", { name: "delete_repo", annotations: readOnly });
    expect(decision).toEqual({
      allowed: false,
      reason: 'tool "delete_repo" is denied to you by policy rule 5 ("nobody deletes repositories")',
    });
  });

  it("a deny by annotation refuses destructive tools, and counts an unannotated tool as destructive", () => {
    expect(contractor.tool("github", { name: "drop", annotations: { destructiveHint: true } }).allowed).toBe(false);
    expect(contractor.tool("github", { name: "unannotated" }).allowed).toBe(false);
    expect(contractor.tool("github", { name: "not-read-only", annotations: { readOnlyHint: false } }).allowed).toBe(false);
    expect(contractor.tool("github", { name: "safe", annotations: { destructiveHint: false } }).allowed).toBe(true);
    // A read-only tool is not destructive, whatever its destructiveHint says.
    expect(contractor.tool("github", { name: "look", annotations: { readOnlyHint: true, destructiveHint: true } }).allowed).toBe(
      true,
    );
    // The same tools stay open to an engineer who is not a contractor.
    expect(engineer.tool("github", { name: "unannotated" }).allowed).toBe(true);
  });

  it("refuses every tool of a server the user may not use", () => {
    expect(stranger.tool("github", { name: "list_repos", annotations: readOnly }).allowed).toBe(false);
  });

  it("globs match any character in a tool name, dots and slashes included", () => {
    const dotted = userPolicy(
      Policy.parse({ rules: [{ effect: "allow", who: { everyone: true }, servers: ["*"], tools: ["read*"] }] }),
      {},
    );
    expect(dotted.tool("s", { name: "read.file/v2" }).allowed).toBe(true);
    expect(dotted.tool("s", { name: "x.read" }).allowed).toBe(false);
  });

  it("without a policy, everything is allowed", () => {
    const open = userPolicy(undefined, {});
    expect(open.server("anything").allowed).toBe(true);
    expect(open.tool("anything", { name: "delete_everything" }).allowed).toBe(true);
  });

  it("with an empty policy, nothing is", () => {
    const closed = userPolicy(Policy.parse({ rules: [] }), { email: "eng@example.com", groups: ["engineering"] });
    expect(closed.server("github").allowed).toBe(false);
  });
});

describe("policy validation", () => {
  const problemsOf = (document: unknown) => {
    const result = Policy.safeParse(document);
    return result.success ? [] : result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
  };

  it("names the key and what was expected", () => {
    expect(problemsOf({ rules: [{ effect: "permit", who: { everyone: true }, servers: ["*"] }] })[0]).toMatch(
      /^rules\.0\.effect: /,
    );
    expect(problemsOf({ rules: [{ effect: "allow", who: {}, servers: ["*"] }] })).toEqual([
      'rules.0.who: expected at least one of "groups", "domains", "emails", or "everyone": true',
    ]);
    expect(problemsOf({ rules: [{ effect: "allow", who: { domains: ["not a domain"] }, servers: ["*"] }] })).toEqual([
      "rules.0.who.domains.0: expected a domain such as example.com",
    ]);
    expect(problemsOf({ rules: [{ effect: "allow", who: { everyone: true }, servers: [] }] })[0]).toMatch(/^rules\.0\.servers: /);
    expect(
      problemsOf({ rules: [{ effect: "allow", who: { everyone: true }, servers: ["*"], annotations: { dangerous: true } }] })[0],
    ).toMatch(/^rules\.0\.annotations: /);
  });

  it("refuses a server pattern that matches no configured server (a typo that would silently do nothing)", () => {
    const typo = Policy.parse({ rules: [{ effect: "allow", who: { everyone: true }, servers: ["githb", "docs-*"] }] });
    expect(policyProblems(typo, ["github", "docs-a"])).toEqual([
      'policy.rules.0.servers.0: "githb" matches no configured server; expected one of: github, docs-a',
    ]);
    expect(policyProblems(typo, ["githb", "docs-a"])).toEqual([]);
  });

  it("refuses a tool written by its /mcp name, which rules never match (a deny rule that would let the call through)", () => {
    const aggregatedName = Policy.parse({
      rules: [
        { effect: "allow", who: { everyone: true }, servers: ["*"] },
        { effect: "deny", who: { everyone: true }, servers: ["github"], tools: ["GitHub__delete_repo", "docs__x", "list_*"] },
      ],
    });
    expect(policyProblems(aggregatedName, ["github", "docs"])).toEqual([
      'policy.rules.1.tools.0: "GitHub__delete_repo" is the name /mcp shows; rules match the upstream\'s own tool name: write "delete_repo" (the rule\'s servers say which server)',
    ]);
    // The check is what keeps the rule from failing open: written so, it matches nothing.
    expect(
      userPolicy(aggregatedName, { email: "u@example.com", groups: [] }).tool("github", { name: "delete_repo" }).allowed,
    ).toBe(true);
  });

  it("refuses at start a pattern that cannot be compiled, naming its key (it would fail every request instead)", () => {
    const many = "{a,b}".repeat(11);
    const tooMany = Policy.parse({
      rules: [
        { effect: "allow", who: { everyone: true }, servers: ["*"], tools: ["read", many] },
        { effect: "deny", who: { everyone: true }, servers: [many], tools: ["x"] },
      ],
    });
    const problems = policyProblems(tooMany, ["docs"]);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^policy\.rules\.0\.tools\.1: the name pattern .* expands to more than/);
    expect(problems[1]).toMatch(/^policy\.rules\.1\.servers\.0: the name pattern .* expands to more than/);
  });
});
