// overlays/secure and overlays/secure-podmonitor, rendered by kubectl kustomize: the Secrets
// they mount (directories, read-only, 0440 through the fsGroup), the ENV_HTTP_* files inside
// those mounts, HTTPS probes, no secret anywhere in the output, only variables the agent
// knows, the agent's check-config on the rendered environment with the Secrets' files; the
// rules catching the mistakes this overlay invites; and the README section's commands and
// examples (run with --dry-run, validated, checked against promtool).
// The whole manifests' validity and the base's rules are checked for these overlays too, in
// manifests.test.ts (kustomizeDirs).
import type { V1Container, V1PodSpec } from "@kubernetes/client-node";
import { expect } from "chai";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { knownEnvNames } from "../../core/config.ts";
import { parseTokensFile, sha256 } from "../../core/security/credentials.ts";
import { builtinRegistry } from "../../plugins/index.ts";
import { makePki, type TestPki } from "../support/tls.ts";
import {
  HTTP_FILE_ENV,
  agentContainerOf,
  deployDir,
  findKubectl,
  imageEnv,
  kubectlKustomize,
  mountedConfigMap,
  mountOf,
  podEnv,
  podSpecOf,
  probesOf,
  readKustomization,
  readmeBlocks,
  readmeYaml,
  repoRoot,
  rules,
  secretsFrom,
  simulateSecretMounts,
  yamlDocs,
  yamlFiles,
} from "./deploy-support.ts";
import { validateAs, validateObject, type K8sObject } from "./k8s-schema.ts";

const secureDir = path.join(deployDir, "overlays/secure");
const securePodMonitorDir = path.join(deployDir, "overlays/secure-podmonitor");
const README_SECTION = "HTTPS and credentials";
/** The Secrets the overlay mounts, with the keys it uses: the shape cert-manager writes, and the tokens file. */
const SECRETS = { "pushkit-tls": ["tls.crt", "tls.key"], "pushkit-credentials": ["tokens"] } as const;

const envOf = (c: V1Container) => new Map((c.env ?? []).map((e) => [e.name, e]));
/** Every string in an object, at any depth. */
const strings = (v: unknown): string[] => (typeof v === "string" ? [v] : Array.isArray(v) ? v.flatMap(strings) : v && typeof v === "object" ? Object.values(v).flatMap(strings) : []);
/** Runs of token or base64 characters long enough to be a secret, with digits and letters mixed in as generated ones have. */
const secretLooking = (text: string) => (text.match(/[A-Za-z0-9+/=_~-]{24,}/g) ?? []).filter((run) => (run.match(/[0-9]/g) ?? []).length >= 4 && (run.match(/[A-Za-z]/g) ?? []).length >= 4);
const b64 = (s: string) => Buffer.from(s, "base64");

describe("deploy: overlays/secure (HTTPS and credentials from Secrets)", () => {
  let kubectl: string;
  let base: K8sObject[];
  let secure: K8sObject[];
  let securePm: K8sObject[];
  let plainPm: K8sObject[];
  let pki: TestPki;
  let pkiDir: string;

  before(function () {
    this.timeout(60_000);
    const k = findKubectl();
    if (!k) throw new Error("no kubectl found (set KUBECTL or install one: scripts/setup-peers.sh)");
    kubectl = k;
    base = kubectlKustomize(kubectl, path.join(deployDir, "base"));
    secure = kubectlKustomize(kubectl, secureDir);
    securePm = kubectlKustomize(kubectl, securePodMonitorDir);
    plainPm = kubectlKustomize(kubectl, path.join(deployDir, "overlays/podmonitor"));
    pkiDir = mkdtempSync(path.join(tmpdir(), "pushkit-secure-pki-"));
    pki = makePki(pkiDir);
  });

  after(() => {
    if (pkiDir) rmSync(pkiDir, { recursive: true, force: true });
  });

  describe("the rendered DaemonSet", () => {
    it("mounts pushkit-tls and pushkit-credentials as Secret volumes: whole directories, read-only, mode 0440", () => {
      const spec = podSpecOf(secure);
      const c = agentContainerOf(secure);
      const secretVolumes = (spec.volumes ?? []).filter((v) => v.secret);
      expect(secretVolumes.map((v) => v.secret!.secretName).sort()).to.deep.equal(Object.keys(SECRETS).sort());
      for (const v of secretVolumes) {
        // 0440 in the patch, which YAML reads as octal: 288.
        expect(v.secret, v.name).to.deep.equal({ secretName: v.secret!.secretName, defaultMode: 0o440 });
        const mounts = allContainers(spec).flatMap((x) => (x.volumeMounts ?? []).filter((m) => m.name === v.name).map((m) => ({ container: x.name, ...m })));
        // Only the agent mounts them, once, without subPath (the kubelet never updates a subPath mount).
        expect(mounts, v.name).to.have.length(1);
        expect(mounts[0].container).to.equal("pushkit");
        expect(mounts[0].readOnly, `${v.name} readOnly`).to.equal(true);
        expect(mounts[0].subPath ?? mounts[0].subPathExpr, `${v.name} subPath`).to.equal(undefined);
      }
      // The mounts stand apart from the conf dir, the data dir and each other.
      const paths = (c.volumeMounts ?? []).map((m) => m.mountPath.replace(/\/?$/, "/"));
      for (const p of paths) expect(paths.filter((q) => q.startsWith(p)), `mounts under ${p}`).to.deep.equal([p]);
    });

    it("lets user 1000 read the Secrets' files: fsGroup 1000 makes them group 1000, mode 0440", () => {
      const psc = podSpecOf(secure).securityContext!;
      expect(psc.runAsUser).to.equal(1000);
      expect(psc.runAsGroup).to.equal(1000);
      expect(psc.fsGroup).to.equal(1000);
      // Everything else of the pod's securityContext is the base's.
      expect(without(psc, "fsGroup")).to.deep.equal(podSpecOf(base).securityContext);
    });

    it("points ENV_HTTP_TLS_CERT_FILE, _KEY_FILE and _BEARER_TOKENS_FILE at the Secrets' keys inside those mounts", () => {
      const spec = podSpecOf(secure);
      const c = agentContainerOf(secure);
      const env = envOf(c);
      const expected: Record<string, [string, string]> = {
        ENV_HTTP_TLS_CERT_FILE: ["pushkit-tls", "tls.crt"],
        ENV_HTTP_TLS_KEY_FILE: ["pushkit-tls", "tls.key"],
        ENV_HTTP_BEARER_TOKENS_FILE: ["pushkit-credentials", "tokens"],
      };
      for (const [name, [secret, key]] of Object.entries(expected)) {
        const value = env.get(name)?.value;
        expect(value, name).to.be.a("string");
        const m = mountOf(c, value!)!;
        expect(m, `${name}=${value} lies in a mount`).to.not.equal(undefined);
        const v = spec.volumes!.find((x) => x.name === m.name)!;
        expect(v.secret?.secretName, `${name}: the volume of ${m.mountPath}`).to.equal(secret);
        // The file directly in the mount, named as the Secret's key.
        expect(path.posix.relative(m.mountPath, value!), name).to.equal(key);
      }
      // No other file option is set: basic auth and client certificates are shown commented out only.
      expect(HTTP_FILE_ENV.filter((n) => env.has(n)).sort()).to.deep.equal(Object.keys(expected).sort());
      const patch = readFileSync(path.join(secureDir, "daemonset-patch.yaml"), "utf8");
      expect(patch).to.match(/^ *# - name: ENV_HTTP_BASIC_AUTH_USERS_FILE\n *# {3}value: \/etc\/pushkit\/credentials\/htpasswd$/m);
    });

    it("probes every probe over HTTPS, on the routes that need no credentials", () => {
      const spec = podSpecOf(secure);
      const probes = allContainers(spec).flatMap((c) => probesOf(c).map((p) => ({ container: c.name, ...p })));
      expect(probes.map((p) => `${p.container}.${p.kind}`)).to.deep.equal(["pushkit.livenessProbe", "pushkit.readinessProbe"]);
      for (const { kind, probe } of probes) {
        expect(probe.httpGet?.scheme, kind).to.equal("HTTPS");
        expect(probe.httpGet?.path, kind).to.be.oneOf(["/-/healthy", "/-/ready"]);
        // Only the scheme changes: port, path and timings are the base's.
        const baseProbe = agentContainerOf(base)[kind]!;
        expect({ ...probe, httpGet: without(probe.httpGet!, "scheme") }, kind).to.deep.equal(baseProbe);
      }
    });

    it("sets only ENV_ variables the agent knows", () => {
      const known = knownEnvNames(builtinRegistry());
      const baseNames = new Set((agentContainerOf(base).env ?? []).map((e) => e.name));
      const added = (agentContainerOf(secure).env ?? []).map((e) => e.name).filter((n) => !baseNames.has(n));
      expect(added.sort()).to.deep.equal(["ENV_HTTP_BEARER_TOKENS_FILE", "ENV_HTTP_TLS_CERT_FILE", "ENV_HTTP_TLS_KEY_FILE"]);
      const unknown = (agentContainerOf(secure).env ?? []).map((e) => e.name).filter((n) => n.startsWith("ENV_") && !known.has(n));
      expect(unknown).to.deep.equal([]);
      // The commented-out ones too: uncommenting them must work.
      const commented = [...readFileSync(path.join(secureDir, "daemonset-patch.yaml"), "utf8").matchAll(/# - name: (ENV_\w+)/g)].map((m) => m[1]);
      expect(commented).to.deep.equal(["ENV_HTTP_BASIC_AUTH_USERS_FILE", "ENV_HTTP_TLS_CLIENT_CA_FILE"]);
      expect(commented.filter((n) => !known.has(n))).to.deep.equal([]);
    });

    it("holds no Secret and no secret value: only references to the Secrets, by name", () => {
      for (const objects of [secure, securePm]) {
        expect(objects.filter((o) => o.kind === "Secret").map((o) => o.metadata.name)).to.deep.equal([]);
        const text = JSON.stringify(objects);
        expect(text).to.not.match(/-----BEGIN|PRIVATE KEY/);
        // Nothing that looks like a token or a key beyond what the base already has (the ConfigMap's hash suffix).
        const baseStrings = new Set(strings(base));
        expect(strings(objects).filter((s) => !baseStrings.has(s)).flatMap(secretLooking)).to.deep.equal([]);
        // The Secrets reach the container as files only; the one secretKeyRef is the base's optional pushkit-sinks.
        const refs = (agentContainerOf(objects).env ?? []).filter((e) => e.valueFrom?.secretKeyRef).map((e) => e.valueFrom!.secretKeyRef!.name);
        expect(refs).to.deep.equal(["pushkit-sinks"]);
      }
      // Nor in the overlays' files, comments included, nor from a generator.
      for (const dir of [secureDir, securePodMonitorDir]) {
        expect(readKustomization(dir).secretGenerator, dir).to.equal(undefined);
        for (const file of yamlFiles(dir)) {
          const text = readFileSync(file, "utf8");
          expect(text, file).to.not.match(/-----BEGIN|PRIVATE KEY|^\s*(data|stringData):/m);
          expect(secretLooking(text), file).to.deep.equal([]);
        }
      }
    });

    it("leaves the rest of the base as it is: every other object, and the DaemonSet outside its pod spec", () => {
      const others = (objects: K8sObject[]) => objects.filter((o) => o.kind !== "DaemonSet");
      expect(others(secure)).to.deep.equal(others(base));
      const ds = (objects: K8sObject[]) => objects.find((o) => o.kind === "DaemonSet") as any;
      const outsideTemplate = (o: any) => ({ ...o, spec: { ...o.spec, template: { metadata: o.spec.template.metadata } } });
      expect(outsideTemplate(ds(secure))).to.deep.equal(outsideTemplate(ds(base)));
      // The container changes in env, probes and mounts alone.
      const rest = (c: V1Container) => without(c, "env", "livenessProbe", "readinessProbe", "volumeMounts");
      expect(rest(agentContainerOf(secure))).to.deep.equal(rest(agentContainerOf(base)));
    });

    it("passes the agent's check-config with its environment and the Secrets' files (TLS on, two tokens)", async function () {
      this.timeout(60_000);
      const dir = mkdtempSync(path.join(tmpdir(), "pushkit-secure-conf-"));
      try {
        const confDir = path.join(dir, "conf.d");
        const conf = mountedConfigMap(secure);
        mkdirSync(confDir);
        for (const [name, text] of Object.entries(conf.data)) writeFileSync(path.join(confDir, name), text);
        const secretFiles = simulateSecretMounts(secure, secretsFrom(pki, ["a".repeat(40) + " push", "b".repeat(40) + " read"]), (v) => path.join(dir, v));
        expect(Object.keys(secretFiles).sort()).to.deep.equal(["ENV_HTTP_BEARER_TOKENS_FILE", "ENV_HTTP_TLS_CERT_FILE", "ENV_HTTP_TLS_KEY_FILE"]);
        const env = podEnv(agentContainerOf(secure).env ?? [], {
          image: imageEnv(),
          fieldRefs: { "spec.nodeName": "node-a", "status.hostIP": "10.0.0.7" },
          secret: () => undefined,
          override: { ENV_CONF_DIR: confDir, ...secretFiles },
        });
        const r = await run(process.execPath, ["--import", "tsx", "core/cli.ts", "check-config"], { PATH: process.env.PATH ?? "", ...env });
        expect(r.code, `check-config failed:\n${r.stderr}${r.stdout}`).to.equal(0);
        expect(r.stdout).to.match(/TLS on \(minimum TLS1\.2\): CN=localhost/);
        expect(r.stdout).to.match(/bearer tokens: 2 \(push: 1, read: 1, admin: 0\)/);
        expect(r.stdout).to.include("configuration OK");
        // check-config names the files, never their content.
        expect(r.stdout + r.stderr).to.not.include("a".repeat(40));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe("overlays/secure-podmonitor", () => {
    it("is overlays/secure plus overlays/podmonitor's PodMonitor, scraping over HTTPS with a token and the CA from Secrets", () => {
      expect(securePm.filter((o) => o.kind !== "PodMonitor")).to.deep.equal(secure);
      const pm = securePm.find((o) => o.kind === "PodMonitor") as any;
      const plain = plainPm.find((o) => o.kind === "PodMonitor") as any;
      const [endpoint] = pm.spec.podMetricsEndpoints;
      expect(pm.spec.podMetricsEndpoints).to.have.length(1);
      // The same PodMonitor but for the endpoint's TLS and authorization.
      expect({ ...pm, spec: without(pm.spec, "podMetricsEndpoints") }).to.deep.equal({ ...plain, spec: without(plain.spec, "podMetricsEndpoints") });
      expect(without(endpoint, "scheme", "authorization", "tlsConfig")).to.deep.equal(plain.spec.podMetricsEndpoints[0]);
      expect(endpoint.scheme).to.equal("https");
      expect(endpoint.authorization).to.deep.equal({ type: "Bearer", credentials: { name: "pushkit-scrape", key: "token" } });
      expect(endpoint.tlsConfig).to.deep.equal({ ca: { secret: { name: "pushkit-tls", key: "ca.crt" } }, serverName: "pushkit.pushkit.svc" });
      // A certificate for the Service's name: the pods' IPs, which Prometheus connects to, are in no certificate.
      const svc = secure.find((o) => o.kind === "Service")!;
      expect(endpoint.tlsConfig.serverName).to.equal(`${svc.metadata.name}.${svc.metadata.namespace}.svc`);
      expect(validateObject(pm, "secure PodMonitor")).to.deep.equal([]);
    });
  });

  describe("the rules catch this overlay's mistakes", () => {
    const broken: [string, (spec: any, c: any) => void, RegExp][] = [
      ["a subPath mount of the TLS Secret", (_s, c) => Object.assign(c.volumeMounts.find((m: any) => m.name === "tls"), { subPath: "tls.crt", mountPath: "/etc/pushkit/tls/tls.crt" }), /Secret volume tls is mounted with a subPath[\s\S]*ENV_HTTP_TLS_CERT_FILE: Secret volume tls is mounted with a subPath \(never updated/],
      ["a probe left on HTTP", (_s, c) => delete c.readinessProbe.httpGet.scheme, /readinessProbe: scheme HTTP, but the agent serves HTTPS/],
      ["an HTTPS probe without TLS", (_s, c) => (c.env = c.env.filter((e: any) => !e.name.startsWith("ENV_HTTP_TLS_"))), /livenessProbe: scheme HTTPS, but the agent serves plain HTTP/],
      ["the Secrets' default mode 0644", (s) => delete s.volumes.find((v: any) => v.name === "credentials").secret.defaultMode, /volume credentials: defaultMode .* must be 0440 or tighter, got the default 0644/],
      ["a world-readable mode", (s) => (s.volumes.find((v: any) => v.name === "tls").secret.defaultMode = 0o444), /volume tls: .*got 0444/],
      ["no fsGroup", (s) => delete s.securityContext.fsGroup, /the pod needs an fsGroup/],
      ["a writable mount", (_s, c) => delete c.volumeMounts.find((m: any) => m.name === "credentials").readOnly, /must be readOnly/],
      ["the tokens file outside the Secret's mount", (_s, c) => (c.env.find((e: any) => e.name === "ENV_HTTP_BEARER_TOKENS_FILE").value = "/etc/pushkit/conf.d/tokens"), /\/etc\/pushkit\/conf\.d\/tokens is not in a Secret volume mount/],
    ];
    for (const [what, breakIt, expected] of broken) {
      it(what, () => {
        const objects = structuredClone(secure) as any[];
        const spec = objects.find((o) => o.kind === "DaemonSet").spec.template.spec;
        breakIt(spec, spec.containers.find((c: any) => c.name === "pushkit"));
        expect(rules.flatMap((r) => r.check(secure)), "the overlay itself keeps every rule").to.deep.equal([]);
        expect(rules.flatMap((r) => r.check(objects as K8sObject[])).join("\n")).to.match(expected);
      });
    }
  });

  describe(`deploy/kubernetes/README.md, "${README_SECTION}"`, () => {
    let created: any[];
    let tokensText: string;

    before(function () {
      this.timeout(60_000);
      // The section's `kubectl create secret` blocks in order, as one script (the later ones use
      // the earlier ones' variables), with kubectl asked for --dry-run=client: no cluster needed.
      const script = readmeBlocks(README_SECTION)
        .filter((b) => b.lang === "sh" && /create secret/.test(b.text))
        .map((b) => b.text)
        .join("\n");
      const work = mkdtempSync(path.join(tmpdir(), "pushkit-readme-"));
      try {
        writeFileSync(path.join(work, "server.crt"), readFileSync(pki.certFile));
        writeFileSync(path.join(work, "server.key"), readFileSync(pki.keyFile));
        writeFileSync(path.join(work, "ca.crt"), pki.ca);
        const r = spawnSync("bash", ["-c", `set -euo pipefail\nkubectl() { command "$KUBECTL_BIN" "$@" --dry-run=client -o yaml; echo ---; }\n${script}`], {
          cwd: work,
          encoding: "utf8",
          env: { PATH: process.env.PATH ?? "", KUBECTL_BIN: kubectl },
          timeout: 60_000,
        });
        if (r.status !== 0) throw new Error(`the README's commands failed (${r.status}):\n${script}\n${r.stderr}`);
        created = yamlDocs(r.stdout, "the README's kubectl create secret commands") as any[];
        tokensText = readFileSync(path.join(work, "tokens"), "utf8");
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    });

    /** The Secret a command made; of pushkit-tls, which the README makes two ways, the last (with ca.crt). */
    const secret = (namespace: string, name: string) => {
      const found = created.filter((s) => s.kind === "Secret" && s.metadata.namespace === namespace && s.metadata.name === name);
      expect(found, `Secret ${namespace}/${name} made by the README's commands`).to.not.be.empty;
      return found[found.length - 1];
    };

    it("its kubectl create secret commands make the Secrets the overlays mount, with the keys they read", () => {
      const names = created.map((s) => `${s.metadata.namespace}/${s.metadata.name}`);
      expect(names).to.deep.equal(["pushkit/pushkit-tls", "pushkit/pushkit-tls", "pushkit/pushkit-credentials", "batch/pushkit-push", "pushkit/pushkit-scrape"]);
      // kubectl create secret tls, then the same with ca.crt: both of the type cert-manager writes, with its keys.
      const [tlsOnly, tls] = created.filter((s) => s.metadata.name === "pushkit-tls");
      for (const t of [tlsOnly, tls]) {
        expect(t.type).to.equal("kubernetes.io/tls");
        expect(b64(t.data["tls.crt"]).equals(readFileSync(pki.certFile))).to.equal(true);
        expect(b64(t.data["tls.key"]).equals(readFileSync(pki.keyFile))).to.equal(true);
      }
      expect(Object.keys(tlsOnly.data).sort()).to.deep.equal(["tls.crt", "tls.key"]);
      expect(Object.keys(tls.data).sort()).to.deep.equal(["ca.crt", "tls.crt", "tls.key"]);
      expect(b64(tls.data["ca.crt"]).equals(pki.ca)).to.equal(true);
      // Each Secret volume of the overlay, and each file the agent is pointed at in it, is there.
      const spec = podSpecOf(secure);
      const c = agentContainerOf(secure);
      for (const v of (spec.volumes ?? []).filter((x) => x.secret)) expect(Object.keys(secret("pushkit", v.secret!.secretName!).data), v.name).to.include.members([...SECRETS[v.secret!.secretName as keyof typeof SECRETS]]);
      for (const e of (c.env ?? []).filter((x) => HTTP_FILE_ENV.includes(x.name))) {
        const m = mountOf(c, e.value!)!;
        const v = spec.volumes!.find((x) => x.name === m.name)!;
        expect(Object.keys(secret("pushkit", v.secret!.secretName!).data), e.name).to.include(path.posix.relative(m.mountPath, e.value!));
      }
      // And the ones the PodMonitor names, in its namespace.
      const endpoint = (securePm.find((o) => o.kind === "PodMonitor") as any).spec.podMetricsEndpoints[0];
      for (const ref of [endpoint.authorization.credentials, endpoint.tlsConfig.ca.secret]) expect(Object.keys(secret("pushkit", ref.name).data), ref.name).to.include(ref.key);
    });

    it("its tokens file is one the agent loads: a push token for jobs, a read token for Prometheus, each in its Secret", () => {
      const entries = parseTokensFile(tokensText, "tokens");
      expect(entries.map((e) => [...e.scopes].join(","))).to.deep.equal(["push", "read"]);
      expect(b64(secret("pushkit", "pushkit-credentials").data.tokens).toString("utf8")).to.equal(tokensText);
      const push = b64(secret("batch", "pushkit-push").data.token).toString("utf8");
      const scrape = b64(secret("pushkit", "pushkit-scrape").data.token).toString("utf8");
      expect(sha256(push).equals(entries[0].digest), "pushkit-push holds the push token").to.equal(true);
      expect(sha256(scrape).equals(entries[1].digest), "pushkit-scrape holds the read token").to.equal(true);
      expect(b64(secret("batch", "pushkit-push").data["ca.crt"]).equals(pki.ca)).to.equal(true);
    });

    it("its cert-manager Certificate writes pushkit-tls and names the Service, as the scrapers' serverName expects", () => {
      const cert = readmeYaml(README_SECTION, /kind: Certificate/);
      expect(cert.apiVersion).to.equal("cert-manager.io/v1");
      expect(cert.metadata.namespace).to.equal("pushkit");
      expect(cert.spec.secretName).to.equal("pushkit-tls");
      const svc = secure.find((o) => o.kind === "Service")!;
      const svcName = `${svc.metadata.name}.${svc.metadata.namespace}.svc`;
      expect(cert.spec.dnsNames).to.include(svcName);
      expect(cert.spec.issuerRef.name).to.be.a("string");
      const scrape = readmeYaml(README_SECTION, /scrape_configs:/);
      expect(scrape.scrape_configs[0].tls_config.server_name).to.equal(svcName);
    });

    it("its CronJob is a valid batch/v1 CronJob that mounts pushkit-push and pushes with the token over verified HTTPS", () => {
      const job = readmeYaml(README_SECTION, /kind: CronJob/);
      expect(job.apiVersion).to.equal("batch/v1");
      expect(validateAs("V1CronJob", job)).to.deep.equal([]);
      const pod: V1PodSpec = job.spec.jobTemplate.spec.template.spec;
      const [c] = pod.containers;
      const script = [...(c.command ?? []), ...(c.args ?? [])].join(" ");
      const volume = pod.volumes!.find((v) => v.secret?.secretName === "pushkit-push")!;
      const mount = c.volumeMounts!.find((m) => m.name === volume.name)!;
      expect(mount.readOnly).to.equal(true);
      expect(job.metadata.namespace).to.equal(secret(job.metadata.namespace, "pushkit-push").metadata.namespace);
      expect(script).to.include(`read -r token < ${mount.mountPath}/token`);
      expect(script).to.include(`--cacert ${mount.mountPath}/ca.crt`);
      expect(script).to.include('-H "Authorization: Bearer $token"');
      expect(script).to.match(/https:\/\/pushkit\.pushkit\.svc:9529\/metrics\/job\//);
      // Kubernetes expands $(VAR) in args: the script must not hold any.
      expect(script).to.not.match(/\$\(/);
    });

    it("its PodMonitor endpoint is overlays/secure-podmonitor's", () => {
      const shown = readmeYaml(README_SECTION, /podMetricsEndpoints:/);
      const pm = securePm.find((o) => o.kind === "PodMonitor") as any;
      expect(shown.podMetricsEndpoints).to.deep.equal(pm.spec.podMetricsEndpoints);
    });

    it("its Prometheus scrape config selects the pods' http port, and passes promtool check config", function () {
      this.timeout(30_000);
      const config = readmeYaml(README_SECTION, /scrape_configs:/);
      const [scrape] = config.scrape_configs;
      expect(scrape.scheme).to.equal("https");
      expect(scrape.honor_labels).to.equal(true);
      expect(Object.keys(scrape.authorization)).to.deep.equal(["credentials_file"]);
      // The pods of the pushkit namespace with the DaemonSet's label, on the container port of the probes.
      const ds = secure.find((o) => o.kind === "DaemonSet") as any;
      expect(scrape.kubernetes_sd_configs).to.deep.equal([{ role: "pod", namespaces: { names: [ds.metadata.namespace] } }]);
      const keeps = Object.fromEntries(scrape.relabel_configs.map((r: any) => { expect(r.action).to.equal("keep"); return [r.source_labels.join(";"), r.regex]; }));
      expect(keeps).to.deep.equal({
        __meta_kubernetes_pod_label_app_kubernetes_io_name: ds.spec.template.metadata.labels["app.kubernetes.io/name"],
        __meta_kubernetes_pod_container_port_name: agentContainerOf(secure).livenessProbe!.httpGet!.port,
      });
      if (spawnSync("promtool", ["--version"]).status !== 0) throw new Error("promtool is missing: it comes with Debian's prometheus package (scripts/setup-peers.sh)");
      const dir = mkdtempSync(path.join(tmpdir(), "pushkit-promtool-"));
      try {
        writeFileSync(path.join(dir, "token"), "x".repeat(64));
        writeFileSync(path.join(dir, "ca.crt"), pki.ca);
        const configFile = path.join(dir, "prometheus.yml");
        // The files where the test has them. Debian's Prometheus is built without Kubernetes
        // service discovery, so a static target stands in for it (checked above).
        const checked = structuredClone(config);
        checked.scrape_configs[0].authorization.credentials_file = path.join(dir, "token");
        checked.scrape_configs[0].tls_config.ca_file = path.join(dir, "ca.crt");
        delete checked.scrape_configs[0].kubernetes_sd_configs;
        checked.scrape_configs[0].static_configs = [{ targets: ["127.0.0.1:9529"] }];
        writeFileSync(configFile, JSON.stringify(checked));
        const r = spawnSync("promtool", ["check", "config", configFile], { encoding: "utf8", timeout: 30_000 });
        expect(r.status, `${r.stdout}${r.stderr}`).to.equal(0);
        expect(readdirSync(dir).sort()).to.deep.equal(["ca.crt", "prometheus.yml", "token"]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});

/** A shallow copy without the keys. */
function without<T extends object>(o: T, ...keys: string[]): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k))) as Partial<T>;
}

const allContainers = (spec: V1PodSpec) => [...(spec.initContainers ?? []), ...spec.containers];

function run(cmd: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}
