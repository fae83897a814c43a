// deploy/kubernetes, checked offline: every YAML document against the Kubernetes models of
// @kubernetes/client-node (unknown fields, wrong types), the kustomizations' keys and files, the
// rules that make the objects a working pushkit DaemonSet, the agent's own check-config on the
// DaemonSet's environment and ConfigMap, and the renderings of kubectl kustomize.
import { expect } from "chai";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  KUSTOMIZATION_KEYS,
  agentContainerOf,
  deployDir,
  findKubectl,
  imageEnv,
  isKustomizationDir,
  kubectlKustomize,
  kustomizeDirs,
  kustomizeOffline,
  mountedConfigMap,
  podEnv,
  readKustomization,
  referencedPaths,
  repoRoot,
  rules,
  yamlDocs,
  yamlFiles,
  type Kustomization,
} from "./deploy-support.ts";
import { validateObject, type K8sObject } from "./k8s-schema.ts";

const rel = (p: string) => path.relative(repoRoot, p) || ".";
const baseDir = path.join(deployDir, "base");

describe("deploy: Kubernetes manifests", () => {
  describe("every YAML document in deploy/kubernetes", () => {
    const files = yamlFiles();

    it("there are the base's and every overlay's files", () => {
      expect(files.map(rel)).to.include.members([
        "deploy/kubernetes/kustomization.yaml",
        "deploy/kubernetes/base/kustomization.yaml",
        "deploy/kubernetes/base/daemonset.yaml",
        "deploy/kubernetes/overlays/hostport/kustomization.yaml",
        "deploy/kubernetes/overlays/podmonitor/kustomization.yaml",
        "deploy/kubernetes/overlays/secure/kustomization.yaml",
        "deploy/kubernetes/overlays/secure/daemonset-patch.yaml",
        "deploy/kubernetes/overlays/secure-podmonitor/kustomization.yaml",
        "deploy/kubernetes/overlays/secure-podmonitor/podmonitor.yaml",
      ]);
    });

    for (const file of files) {
      it(`${rel(file)} is valid`, () => {
        const docs = yamlDocs(readFileSync(file, "utf8"), rel(file));
        expect(docs, "documents").to.not.be.empty;
        if (path.basename(file) === "kustomization.yaml") {
          expect(docs).to.have.length(1);
          expect(kustomizationProblems(path.dirname(file), docs[0] as Kustomization)).to.deep.equal([]);
        } else {
          // Resources and patches alike: a patch is a partial object of its kind.
          expect(docs.flatMap((d) => validateObject(d, rel(file)))).to.deep.equal([]);
        }
      });
    }

    it("every manifest is used by a kustomization (none is left behind)", () => {
      const used = new Set<string>();
      for (const file of files.filter((f) => path.basename(f) === "kustomization.yaml")) {
        const dir = path.dirname(file);
        for (const { ref } of referencedPaths(readKustomization(dir))) used.add(path.join(dir, ref));
      }
      const unused = files.filter((f) => path.basename(f) !== "kustomization.yaml" && !used.has(f)).map(rel);
      expect(unused).to.deep.equal([]);
    });
  });

  describe("the validator catches mistakes", () => {
    const service = () => yamlDocs(readFileSync(path.join(baseDir, "service.yaml"), "utf8"), "service.yaml")[0] as any;
    const daemonSet = () => yamlDocs(readFileSync(path.join(baseDir, "daemonset.yaml"), "utf8"), "daemonset.yaml")[0] as any;

    it("a misspelled field, with a did-you-mean: internalTraficPolicy in the Service", () => {
      const svc = service();
      svc.spec.internalTraficPolicy = svc.spec.internalTrafficPolicy;
      delete svc.spec.internalTrafficPolicy;
      expect(validateObject(svc, "t")).to.deep.equal(['t Service/pushkit: spec.internalTraficPolicy: unknown field in V1ServiceSpec (did you mean "internalTrafficPolicy"?)']);
    });

    it("a number as an env value", () => {
      const ds = daemonSet();
      ds.spec.template.spec.containers[0].env.push({ name: "ENV_LOG_LEVEL", value: 3 });
      const n = ds.spec.template.spec.containers[0].env.length - 1;
      expect(validateObject(ds, "t")).to.deep.equal([`t DaemonSet/pushkit: spec.template.spec.containers[0].env[${n}].value: expected a string (quote it in YAML), got number 3`]);
    });

    it("YAML 1.1 as Kubernetes reads it: an unquoted yes is a boolean, not a string", () => {
      const [doc] = yamlDocs("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  enabled: yes\n", "t");
      expect(validateObject(doc, "t")).to.deep.equal(["t ConfigMap/c: data.enabled: expected a string (quote it in YAML), got boolean true"]);
    });

    it("an unknown field in a container", () => {
      const ds = daemonSet();
      ds.spec.template.spec.containers[0].imagePullPolice = "IfNotPresent";
      expect(validateObject(ds, "t")).to.deep.equal(['t DaemonSet/pushkit: spec.template.spec.containers[0].imagePullPolice: unknown field in V1Container (did you mean "imagePullPolicy"?)']);
    });

    it("a number where a string is expected in a label", () => {
      const svc = service();
      svc.metadata.labels.version = 1;
      expect(validateObject(svc, "t")).to.deep.equal(["t Service/pushkit: metadata.labels.version: expected a string (quote it in YAML), got number 1"]);
    });

    it("non-string values in other string maps: resources, ConfigMap data, annotations", () => {
      const ds = daemonSet();
      ds.spec.template.spec.containers[0].resources.limits.cpu = 1;
      ds.spec.template.metadata.annotations = { "checksum/config": true };
      expect(validateObject(ds, "t")).to.deep.equal([
        "t DaemonSet/pushkit: spec.template.metadata.annotations.checksum/config: expected a string (quote it in YAML), got boolean true",
        "t DaemonSet/pushkit: spec.template.spec.containers[0].resources.limits.cpu: expected a string (quote it in YAML), got number 1",
      ]);
      const cm = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c" }, data: { "agent.conf": { http: {} } } };
      expect(validateObject(cm, "t")).to.deep.equal(["t ConfigMap/c: data.agent.conf: expected a string (quote it in YAML), got a map"]);
    });

    it("wrong types, nulls, a wrong apiVersion, an unknown kind", () => {
      const ds = daemonSet();
      ds.apiVersion = "extensions/v1beta1";
      ds.spec.template.spec.terminationGracePeriodSeconds = "30";
      ds.spec.template.spec.tolerations = { operator: "Exists" };
      ds.spec.template.spec.volumes[2].emptyDir = null;
      expect(validateObject(ds, "t")).to.deep.equal([
        't DaemonSet/pushkit: apiVersion: must be "apps/v1", got string "extensions/v1beta1"',
        't DaemonSet/pushkit: spec.template.spec.terminationGracePeriodSeconds: expected a number, got string "30"',
        "t DaemonSet/pushkit: spec.template.spec.tolerations: expected a list, got a map",
        "t DaemonSet/pushkit: spec.template.spec.volumes[2].emptyDir: null value (write {} or [] for an empty one, or leave the field out)",
      ]);
      expect(validateObject({ apiVersion: "apps/v1", kind: "Daemonset", metadata: { name: "x" } }, "t")).to.deep.equal(['t: kind "Daemonset" is not one these manifests may use (did you mean "DaemonSet"?)']);
    });

    it("a Secret's data must be base64; a PodMonitor's fields are checked against the hand list", () => {
      expect(validateObject({ apiVersion: "v1", kind: "Secret", metadata: { name: "pushkit-sinks" }, stringData: { sinks: "stdout://" } }, "t")).to.deep.equal([]);
      expect(validateObject({ apiVersion: "v1", kind: "Secret", metadata: { name: "s" }, data: { sinks: "stdout://" } }, "t")).to.deep.equal(['t Secret/s: data.sinks: expected base64, got "stdout://"']);
      const pm = { apiVersion: "monitoring.coreos.com/v1", kind: "PodMonitor", metadata: { name: "p" }, spec: { podMetricsEndpoints: [{ port: "http", honorLabel: true }] } };
      expect(validateObject(pm, "t")).to.deep.equal(['t PodMonitor/p: spec.podMetricsEndpoints[0].honorLabel: unknown field in MonitoringV1PodMetricsEndpoint (did you mean "honorLabels"?)']);
    });
  });

  describe("the base, as kustomize would make it (without kubectl)", () => {
    const objects = kustomizeOffline(baseDir);

    it("holds the Namespace, ServiceAccount, ConfigMap, DaemonSet and Service, all valid", () => {
      expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).to.deep.equal(["ConfigMap/pushkit-conf", "DaemonSet/pushkit", "Namespace/pushkit", "Service/pushkit", "ServiceAccount/pushkit"]);
      expect(objects.flatMap((o) => validateObject(o, "base"))).to.deep.equal([]);
    });

    for (const rule of rules) it(rule.name, () => expect(rule.check(objects)).to.deep.equal([]));

    it("the container runs the production build with node directly, as the image's entrypoint does", () => {
      const c = agentContainerOf(objects);
      expect(c.command).to.deep.equal(["node", "/app/dist/core/cli.js"]);
      expect(c.args).to.deep.equal(["run"]);
      expect(readFileSync(path.join(repoRoot, "Containerfile"), "utf8")).to.include('ENTRYPOINT ["node", "/app/dist/core/cli.js"]');
    });

    it("the ConfigMap's conf files and the DaemonSet's environment pass the agent's check-config", async function () {
      this.timeout(60_000);
      const conf = mountedConfigMap(objects);
      expect(Object.keys(conf.data).sort()).to.deep.equal(["agent.conf", "pushgateway.conf"]);
      const confDir = mkdtempSync(path.join(tmpdir(), "pushkit-deploy-conf-"));
      try {
        for (const [name, text] of Object.entries(conf.data)) writeFileSync(path.join(confDir, name), text);
        const env = podEnv(agentContainerOf(objects).env ?? [], {
          image: imageEnv(),
          fieldRefs: { "spec.nodeName": "node-a", "status.hostIP": "10.0.0.7" },
          secret: (name, key) => (name === "pushkit-sinks" && key === "sinks" ? "stdout://" : undefined),
          override: { ENV_CONF_DIR: confDir },
        });
        expect(env.ENV_GLOBAL_TAGS).to.equal("node=node-a");
        // Only the pod's environment (and PATH): no ENV_ variable of this test run leaks in.
        const r = await run(process.execPath, ["--import", "tsx", "core/cli.ts", "check-config"], { PATH: process.env.PATH ?? "", ...env });
        expect(r.code, `check-config failed:\n${r.stderr}${r.stdout}`).to.equal(0);
        expect(r.stdout).to.include("configuration OK");
        // The conf files are read as the pod reads them: ${ENV_DATA_DIR} is the hostPath.
        expect(r.stdout).to.match(/persistence_file = "\/var\/lib\/pushkit\/groups\.json"/);
        expect(r.stdout).to.match(/format = "json"/);
      } finally {
        rmSync(confDir, { recursive: true, force: true });
      }
    });
  });

  describe("the semantic rules catch mistakes", () => {
    const broken: [string, (o: any[]) => void, RegExp][] = [
      ["a subPath mount of the ConfigMap", (o) => (ds(o).spec.template.spec.containers[0].volumeMounts[1].subPath = "agent.conf"), /mounted with a subPath/],
      ["maxSurge 1", (o) => (ds(o).spec.updateStrategy.rollingUpdate.maxSurge = 1), /maxSurge must be 0/],
      ["an image without tag", (o) => (ds(o).spec.template.spec.containers[0].image = "registry.example:5000/pushkit"), /needs a version tag/],
      ["a grace period shorter than the shutdown", (o) => (ds(o).spec.template.spec.terminationGracePeriodSeconds = 20), /not above the shutdown timeout 20s/],
      ["ENV_GLOBAL_TAGS above NODE_NAME", (o) => ds(o).spec.template.spec.containers[0].env.push(ds(o).spec.template.spec.containers[0].env.shift()), /\$\(NODE_NAME\) is not defined above it/],
      ["a probe on an unnamed port", (o) => (ds(o).spec.template.spec.containers[0].readinessProbe.httpGet.port = "metrics"), /readinessProbe port metrics is no container port/],
      ["ENV_DATA_DIR off the hostPath", (o) => (ds(o).spec.template.spec.containers[0].env.find((e: any) => e.name === "ENV_DATA_DIR").value = "/tmp/pushkit"), /not on a hostPath/],
      ["a Service selecting other pods", (o) => (o.find((x) => x.kind === "Service").spec.selector = { app: "other" }), /selects no pod/],
    ];
    const ds = (o: any[]) => o.find((x) => x.kind === "DaemonSet");
    for (const [what, breakIt, expected] of broken) {
      it(what, () => {
        const objects = kustomizeOffline(baseDir) as any[];
        breakIt(objects);
        expect(rules.flatMap((r) => r.check(objects as K8sObject[])).join("\n")).to.match(expected);
      });
    }
  });

  describe("kubectl kustomize renders the base and every overlay", () => {
    let kubectl: string | undefined;
    before(function () {
      this.timeout(60_000);
      kubectl = findKubectl();
      // npm test runs scripts/setup-peers.sh first, which makes sure a kubectl is there.
      if (!kubectl) throw new Error("no kubectl found (set KUBECTL or install one: scripts/setup-peers.sh)");
    });

    for (const dir of kustomizeDirs) {
      it(`${rel(dir)}: every object valid, every rule kept`, function () {
        this.timeout(60_000);
        const objects = kubectlKustomize(kubectl!, dir);
        expect(objects.flatMap((o) => validateObject(o, `rendered ${rel(dir)}`))).to.deep.equal([]);
        expect(rules.flatMap((r) => r.check(objects).map((p) => `${r.name}: ${p}`))).to.deep.equal([]);
        // The generated ConfigMap has a hash suffix (edits roll the pods) and the conf files as they are.
        const cm = objects.find((o) => o.kind === "ConfigMap")!;
        expect(cm.metadata.name).to.match(/^pushkit-conf-[a-z0-9]{6,}$/);
        expect(mountedConfigMap(objects).data).to.deep.equal(kustomizeOffline(baseDir).find((o) => o.kind === "ConfigMap")!.data);
        const ports = agentContainerOf(objects).ports!;
        if (dir.endsWith("hostport")) expect(ports).to.deep.equal([{ name: "http", containerPort: 9529, hostPort: 9529, protocol: "TCP" }]);
        else expect(ports).to.deep.equal([{ name: "http", containerPort: 9529, protocol: "TCP" }]);
        const monitors = objects.filter((o) => o.kind === "PodMonitor") as any[];
        if (dir.endsWith("podmonitor")) {
          expect(monitors).to.have.length(1);
          const [pm] = monitors;
          const podLabels = (objects.find((o) => o.kind === "DaemonSet") as any).spec.template.metadata.labels;
          expect(Object.entries(pm.spec.selector.matchLabels).every(([k, v]) => podLabels[k] === v), "PodMonitor selects the pods").to.equal(true);
          // The HTTPS one (overlays/secure-podmonitor) is checked in secure-overlay.test.ts.
          if (dir.endsWith("/overlays/podmonitor")) expect(pm.spec.podMetricsEndpoints).to.deep.equal([{ port: "http", path: "/metrics", honorLabels: true }]);
          expect(pm.metadata.namespace).to.equal("pushkit");
        } else expect(monitors).to.deep.equal([]);
      });
    }
  });
});

/** Problems of a kustomization: keys outside the list, files it names that are not there, images without a tag. */
function kustomizationProblems(dir: string, k: Kustomization): string[] {
  const out: string[] = [];
  for (const key of Object.keys(k)) if (!KUSTOMIZATION_KEYS.includes(key)) out.push(`unknown kustomization key "${key}"`);
  if (k.apiVersion !== "kustomize.config.k8s.io/v1beta1" || k.kind !== "Kustomization") out.push("apiVersion/kind must be kustomize.config.k8s.io/v1beta1 Kustomization");
  for (const { ref, want } of referencedPaths(k)) {
    const p = path.join(dir, ref);
    const isFile = existsSync(p) && statSync(p).isFile();
    const ok = want === "file" ? isFile : want === "kustomization" ? isKustomizationDir(p) : isFile || isKustomizationDir(p);
    if (!ok) out.push(`${ref}: not there (expected a ${want})`);
  }
  for (const image of k.images ?? []) {
    const extra = Object.keys(image).filter((key) => !["name", "newName", "newTag", "digest"].includes(key));
    if (extra.length) out.push(`images ${image.name}: unknown keys ${extra.join(", ")}`);
    if (!image.digest && (!image.newTag || image.newTag === "latest")) out.push(`images ${image.name}: needs a newTag other than latest`);
  }
  return out;
}

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
