// The grouping key of a push URL (pushgateway-protocol.md §2).
import { expect } from "chai";
import { HttpError } from "../../core/errors.ts";
import { decodeBase64Url, parseGroupingPath, type GroupingKey } from "../../plugins/inputs/pushgateway/http/grouping.ts";

function parse(afterJob: string): GroupingKey {
  const key = parseGroupingPath(afterJob);
  expect(key, `parseGroupingPath(${JSON.stringify(afterJob)})`).not.to.equal(undefined);
  return key!;
}

function labels(afterJob: string): Record<string, string> {
  return Object.fromEntries(parse(afterJob).labels);
}

/** The HttpError parseGroupingPath throws; fails the test when it does not throw one. */
function rejection(afterJob: string): HttpError {
  try {
    parseGroupingPath(afterJob);
  } catch (e) {
    expect(e).to.be.instanceOf(HttpError);
    return e as HttpError;
  }
  expect.fail(`parseGroupingPath(${JSON.stringify(afterJob)}) did not throw`);
}

function expect400(afterJob: string, message: string | RegExp): void {
  const e = rejection(afterJob);
  expect(e.status).to.equal(400);
  if (typeof message === "string") expect(e.message).to.equal(message);
  else expect(e.message).to.match(message);
}

describe("grouping key", () => {
  describe("plain paths", () => {
    it("takes the job and every label pair, job included in the labels", () => {
      const key = parse("/backup/instance/db1/zone/eu");
      expect(key.job).to.equal("backup");
      expect(Object.fromEntries(key.labels)).to.deep.equal({ job: "backup", instance: "db1", zone: "eu" });
    });

    it("a job alone gives just the job label", () => {
      expect(labels("/only")).to.deep.equal({ job: "only" });
    });

    it("ignores a trailing slash directly after the job", () => {
      const key = parse("/j/");
      expect(key.job).to.equal("j");
      expect(Object.fromEntries(key.labels)).to.deep.equal({ job: "j" });
    });

    it("a trailing slash after a label name gives that label an empty value", () => {
      expect(labels("/j/instance/")).to.deep.equal({ job: "j", instance: "" });
    });

    it("an odd number of components is a 400 quoting the label string", () => {
      expect400("/j/instance", 'odd number of components in label string "/instance"');
      expect400("/j/a/b/c", 'odd number of components in label string "/a/b/c"');
      expect400("/j/a/b/", 'odd number of components in label string "/a/b/"');
    });

    it("percent-decodes before splitting, so %2F separates components", () => {
      expect(labels("/j/dir%2Fvar")).to.deep.equal({ job: "j", dir: "var" });
      expect(labels("/a%2Fb/c")).to.deep.equal({ job: "a", b: "c" });
      // "/path//var/tmp": an empty value followed by more labels is refused (the reference
      // redirects to a cleaned path); a value holding "/" was meant, and needs @base64.
      expect400("/j/path/%2Fvar%2Ftmp", 'empty path segment in label string "/path//var/tmp"; a label value containing "/" must be base64-encoded (name@base64/value)');
      expect(labels("/j/path/")).to.deep.equal({ job: "j", path: "" });
      expect400("/j/path/%2Fvar", 'odd number of components in label string "/path//var"');
    });

    it("percent-decodes other escapes in job and values", () => {
      const key = parse("/my%20job/note/caf%C3%A9");
      expect(key.job).to.equal("my job");
      expect(key.labels.get("note")).to.equal("café");
    });

    it("a job label in the label part is overridden by the URL job", () => {
      const key = parse("/real/job/fake/x/1");
      expect(key.job).to.equal("real");
      expect(Object.fromEntries(key.labels)).to.deep.equal({ job: "real", x: "1" });
    });

    it("the last of duplicate label names wins", () => {
      expect(labels("/j/a/1/b/2/a/3")).to.deep.equal({ job: "j", a: "3", b: "2" });
    });

    it("le, quantile and instance are legal label names", () => {
      expect(labels("/j/le/0.5/quantile/0.99/instance/h1")).to.deep.equal({ job: "j", le: "0.5", quantile: "0.99", instance: "h1" });
    });

    it("label names may hold letters, digits and underscores, not starting with a digit", () => {
      expect(labels("/j/_a/1/B9_z/2")).to.deep.equal({ job: "j", _a: "1", B9_z: "2" });
      expect400("/j/9a/1", 'improper label name "9a"');
    });

    it("refuses values that are not UTF-8, percent-encoded or base64-encoded", () => {
      expect400("/j/x/%FF", 'value of grouping label "x" is not valid UTF-8: "\\xff"');
      expect400("/j/x@base64/_w", 'value of grouping label "x" is not valid UTF-8: "\\xff"');
      expect400("/j%FF", 'value of grouping label "job" is not valid UTF-8: "j\\xff"');
      expect(labels("/j/x/%C3%A9")).to.deep.equal({ job: "j", x: "é" });
    });

    it("an improper label name is a 400 quoting it", () => {
      expect400("/j/a=b/c", 'improper label name "a=b"');
      expect400("/j/a-b/c", 'improper label name "a-b"');
      expect400("/j//v", 'improper label name ""');
    });

    it("a label name starting with __ is improper, also with @base64", () => {
      expect400("/j/__x/y", 'improper label name "__x"');
      expect400("/j/__x@base64/YQ", 'improper label name "__x"');
    });

    it("a path that is no push path gives undefined (404)", () => {
      expect(parseGroupingPath("")).to.equal(undefined);
      expect(parseGroupingPath("/")).to.equal(undefined);
      expect(parseGroupingPath("x/j")).to.equal(undefined);
      expect(parseGroupingPath("@base64")).to.equal(undefined);
      expect(parseGroupingPath("@base64/")).to.equal(undefined);
    });
  });

  describe("@base64", () => {
    const examples: [string, string][] = [
      ["YQ", "a"],
      ["YQ=", "a"],
      ["YQ==", "a"],
      ["YWI", "ab"],
      ["L3Zhci90bXA", "/var/tmp"],
      ["Pz8_", "???"],
      ["zqDPgc6_zrzOt864zrXPjc-C", "Προμηθεύς"],
    ];

    for (const [encoded, decoded] of examples) {
      it(`job@base64/${encoded} is job ${JSON.stringify(decoded)}`, () => {
        const key = parse(`@base64/${encoded}`);
        expect(key.job).to.equal(decoded);
        expect(key.labels.get("job")).to.equal(decoded);
      });

      it(`label@base64/${encoded} is ${JSON.stringify(decoded)}`, () => {
        expect(labels(`/j/path@base64/${encoded}`)).to.deep.equal({ job: "j", path: decoded });
      });
    }

    it("= alone is the empty value for a label", () => {
      expect(labels("/j/empty@base64/=")).to.deep.equal({ job: "j", empty: "" });
    });

    it("job@base64/= is an empty job: 400 job name is required", () => {
      expect400("@base64/=", "job name is required");
      expect400("@base64/==/a/b", "job name is required");
    });

    it("tolerates non-zero trailing bits", () => {
      expect(decodeBase64Url("YR")).to.equal("a");
      expect(decodeBase64Url("YWJ")).to.equal("ab");
    });

    it("the standard alphabet's + and / are errors", () => {
      expect(() => decodeBase64Url("Pz8+")).to.throw("illegal base64 data at input byte 3");
      expect(() => decodeBase64Url("Pz8/")).to.throw("illegal base64 data at input byte 3");
    });

    it("a length of 1 mod 4 is an error", () => {
      expect(() => decodeBase64Url("Y")).to.throw("illegal base64 data at input byte 0");
      expect(() => decodeBase64Url("YWJjZ")).to.throw("illegal base64 data at input byte 4");
    });

    it("a = before the end is an error", () => {
      expect(() => decodeBase64Url("YQ=a")).to.throw("illegal base64 data at input byte 2");
    });

    it("a bad job encoding is a 400 naming the job", () => {
      expect400("@base64/Pz8+", /^invalid base64 encoding in job name "": illegal base64 data at input byte 3$/);
      expect400("@base64/Y", /^invalid base64 encoding in job name "": illegal base64 data at input byte 0$/);
      // What decoded before the error is quoted, as the reference does.
      expect400("@base64/YWJjZGV+", 'invalid base64 encoding in job name "abc": illegal base64 data at input byte 7');
    });

    it("a bad label encoding is a 400 naming the label and the raw value", () => {
      expect400("/j/x@base64/!!!", 'invalid base64 encoding for label x="!!!": illegal base64 data at input byte 0');
      expect400("/j/ok/1/x@base64/Pz8+", 'invalid base64 encoding for label x="Pz8+": illegal base64 data at input byte 3');
    });

    it("a base64 job with base64 and plain labels", () => {
      const key = parse("@base64/L3Zhci90bXA/dir@base64/L3Zhci90bXA/plain/v");
      expect(key.job).to.equal("/var/tmp");
      expect(Object.fromEntries(key.labels)).to.deep.equal({ job: "/var/tmp", dir: "/var/tmp", plain: "v" });
    });

    it("a base64 job's trailing slash is ignored too", () => {
      expect(labels("@base64/YQ/")).to.deep.equal({ job: "a" });
    });
  });
});
