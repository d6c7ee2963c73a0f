import { describe, expect, it } from "vitest";
import { domainOfEmail } from "../../contract/email-domain.ts";

describe("domainOfEmail", () => {
  it("is what follows the last @, in lower case", () => {
    expect(domainOfEmail("Ada@Example.COM")).toBe("example.com");
    expect(domainOfEmail('"ada@example.com"@evil.example')).toBe("evil.example");
  });

  it("is undefined without an address, without an @, or with nothing after it", () => {
    expect(domainOfEmail(undefined)).toBeUndefined();
    expect(domainOfEmail("example.com")).toBeUndefined();
    expect(domainOfEmail("ada@")).toBeUndefined();
  });
});
