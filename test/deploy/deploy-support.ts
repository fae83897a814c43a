// What the deploy tests share: reading deploy/kubernetes (YAML documents, kustomizations, the
// objects of a kustomization without kubectl), rendering with kubectl when there is one, the
// container environment as Kubernetes builds it, and the semantic rules every rendering obeys.
import type { V1Container, V1DaemonSet, V1EnvVar, V1PodSpec, V1Service, V1VolumeMount } from "@kubernetes/client-node";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { agentSections } from "../../core/agent-options.ts";
import { parseDuration } from "../../core/options.ts";
import type { TestPki } from "../support/tls.ts";
import type { K8sObject } from "./k8s-schema.ts";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const deployDir = path.join(repoRoot, "deploy/kubernetes");
/** The kustomizations a user applies: the top level (the base) and each overlay. */
export const kustomizeDirs = ["", "base", "overlays/hostport", "overlays/podmonitor", "overlays/secure", "overlays/secure-podmonitor"].map((d) => path.join(deployDir, d));

// ---------------------------------------------------------------------------------------------
// YAML and kustomize

/**
 * Every document of a YAML text, empty ones left out. Read as YAML 1.1, as Kubernetes reads
 * manifests: an unquoted `yes` or `on` is a boolean there, and the validator should see it so.
 */
export function yamlDocs(text: string, where: string): unknown[] {
  return parseAllDocuments(text, { version: "1.1" })
    .map((doc, i) => {
      if (doc.errors.length) throw new Error(`${where} document ${i + 1}: ${doc.errors.map((e) => e.message).join("; ")}`);
      return doc.toJS() as unknown;
    })
    .filter((d) => d !== null && d !== undefined);
}

/** Every .yaml/.yml file under dir, sorted. */
export function yamlFiles(dir = deployDir): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? yamlFiles(path.join(dir, e.name)) : /\.ya?ml$/.test(e.name) ? [path.join(dir, e.name)] : []))
    .sort();
}

export interface Kustomization {
  resources?: string[];
  bases?: string[];
  components?: string[];
  namespace?: string;
  images?: { name: string; newName?: string; newTag?: string; digest?: string }[];
  configMapGenerator?: { name: string; files?: string[]; literals?: string[]; behavior?: string }[];
  secretGenerator?: { name: string; files?: string[]; literals?: string[] }[];
  patchesStrategicMerge?: string[];
  patches?: { path?: string; patch?: string; target?: unknown }[];
  [key: string]: unknown;
}

/**
 * The top-level keys these kustomizations may use. `bases` and `patchesStrategicMerge` are the
 * kustomize v2 spellings (kubectl 1.14-1.20), which newer kustomize still reads.
 */
export const KUSTOMIZATION_KEYS = [
  "apiVersion",
  "kind",
  "resources",
  "bases",
  "components",
  "namespace",
  "images",
  "configMapGenerator",
  "secretGenerator",
  "generatorOptions",
  "patches",
  "patchesStrategicMerge",
  "labels",
  "commonLabels",
];

export function readKustomization(dir: string): Kustomization {
  const [doc] = yamlDocs(readFileSync(path.join(dir, "kustomization.yaml"), "utf8"), path.join(dir, "kustomization.yaml"));
  return doc as Kustomization;
}

/** A generator's file entry is "path" or "key=path". */
const generatorFile = (entry: string) => ({ key: entry.includes("=") ? entry.slice(0, entry.indexOf("=")) : path.basename(entry), file: entry.slice(entry.indexOf("=") + 1) });

/** Every path a kustomization names, with what must be there: a file, or a directory with a kustomization. */
export function referencedPaths(k: Kustomization): { ref: string; want: "file" | "kustomization" | "file or kustomization" }[] {
  return [
    ...(k.resources ?? []).map((ref) => ({ ref, want: "file or kustomization" as const })),
    ...(k.bases ?? []).map((ref) => ({ ref, want: "kustomization" as const })),
    ...(k.components ?? []).map((ref) => ({ ref, want: "kustomization" as const })),
    ...(k.patchesStrategicMerge ?? []).map((ref) => ({ ref, want: "file" as const })),
    ...(k.patches ?? []).flatMap((p) => (p.path ? [{ ref: p.path, want: "file" as const }] : [])),
    ...[...(k.configMapGenerator ?? []), ...(k.secretGenerator ?? [])].flatMap((g) => (g.files ?? []).map((f) => ({ ref: generatorFile(f).file, want: "file" as const }))),
  ];
}

export function isKustomizationDir(p: string): boolean {
  return existsSync(p) && statSync(p).isDirectory() && existsSync(path.join(p, "kustomization.yaml"));
}

/**
 * The objects of a kustomization as kustomize would make them, for the parts the base uses:
 * resources and bases, generated ConfigMaps (under their plain name: kustomize adds a hash
 * suffix and rewrites the references to it), the namespace. Patches are left to kubectl.
 */
export function kustomizeOffline(dir: string): K8sObject[] {
  const k = readKustomization(dir);
  const objects: K8sObject[] = [];
  for (const ref of [...(k.bases ?? []), ...(k.resources ?? [])]) {
    const p = path.join(dir, ref);
    if (isKustomizationDir(p)) objects.push(...kustomizeOffline(p));
    else objects.push(...(yamlDocs(readFileSync(p, "utf8"), p) as K8sObject[]));
  }
  for (const g of k.configMapGenerator ?? []) {
    const data = Object.fromEntries((g.files ?? []).map((f) => [generatorFile(f).key, readFileSync(path.join(dir, generatorFile(f).file), "utf8")]));
    objects.push({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: g.name }, data });
  }
  if (k.namespace) for (const o of objects) if (o.kind !== "Namespace") o.metadata.namespace = k.namespace;
  return objects;
}

/** The kubectl to render with ($KUBECTL, else kubectl on PATH), or undefined when there is none. */
export function findKubectl(): string | undefined {
  const kubectl = process.env.KUBECTL || "kubectl";
  const r = spawnSync(kubectl, ["version", "--client"], { encoding: "utf8", timeout: 60_000 });
  return r.status === 0 ? kubectl : undefined;
}

/** `kubectl kustomize dir`: renders offline, as `kubectl apply -k dir` would send. */
export function kubectlKustomize(kubectl: string, dir: string): K8sObject[] {
  const r = spawnSync(kubectl, ["kustomize", dir], { encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) throw new Error(`${kubectl} kustomize ${path.relative(repoRoot, dir)} failed (${r.status ?? r.signal}):\n${r.stderr}${r.error ?? ""}`);
  return yamlDocs(r.stdout, `kubectl kustomize ${path.relative(repoRoot, dir)}`) as K8sObject[];
}

// ---------------------------------------------------------------------------------------------
// The objects

export function the<T = K8sObject>(objects: K8sObject[], kind: string, name?: string): T {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` named ${name}` : ""}, found ${found.length}`);
  return found[0] as unknown as T;
}

export const daemonSetOf = (objects: K8sObject[]) => the<V1DaemonSet>(objects, "DaemonSet", "pushkit");
export const podSpecOf = (objects: K8sObject[]): V1PodSpec => daemonSetOf(objects).spec!.template.spec!;
export const agentContainerOf = (objects: K8sObject[]): V1Container => {
  const c = podSpecOf(objects).containers.find((c) => c.name === "pushkit");
  if (!c) throw new Error("the DaemonSet has no container named pushkit");
  return c;
};

/** The ConfigMap the pod mounts as a directory: its volume's ConfigMap, found among the objects. */
export function mountedConfigMap(objects: K8sObject[]): { mountPath: string; data: Record<string, string> } {
  const spec = podSpecOf(objects);
  const volume = (spec.volumes ?? []).find((v) => v.configMap);
  if (!volume) throw new Error("the pod has no ConfigMap volume");
  const mount = (agentContainerOf(objects).volumeMounts ?? []).find((m) => m.name === volume.name);
  if (!mount) throw new Error(`the agent container does not mount volume ${volume.name}`);
  const cm = the<{ data?: Record<string, string> }>(objects, "ConfigMap", volume.configMap!.name);
  return { mountPath: mount.mountPath, data: cm.data ?? {} };
}

// ---------------------------------------------------------------------------------------------
// The container's environment

/** Kubernetes' $(VAR) expansion: VAR defined earlier in the list is replaced, $$ is a literal $, anything else is left as written. */
export function expandK8s(value: string, defined: ReadonlyMap<string, string>): string {
  return value.replace(/\$\$|\$\(([^)]*)\)/g, (all, name: string | undefined) => (all === "$$" ? "$" : name !== undefined && defined.has(name) ? defined.get(name)! : all));
}

export interface PodEnvOptions {
  /** Values of the downward API's fieldRef paths, e.g. { "spec.nodeName": "node-a" }. */
  fieldRefs: Record<string, string>;
  /** A Secret's value, or undefined when the Secret or key does not exist. */
  secret: (name: string, key: string) => string | undefined;
  /** Variables whose value the simulated pod has instead (a path or port on this machine). */
  override?: Record<string, string>;
  /** The image's ENV, which the container's env overrides. */
  image?: Record<string, string>;
}

/** The container's environment, built as the kubelet builds it: in list order, each $(VAR) seeing the variables above it. */
export function podEnv(env: V1EnvVar[], o: PodEnvOptions): Record<string, string> {
  const out: Record<string, string> = { ...o.image };
  const defined = new Map<string, string>();
  for (const e of env) {
    let value: string | undefined;
    if (o.override && e.name in o.override) value = o.override[e.name];
    else if (e.valueFrom?.fieldRef) {
      value = o.fieldRefs[e.valueFrom.fieldRef.fieldPath];
      if (value === undefined) throw new Error(`env ${e.name}: no value given for fieldRef ${e.valueFrom.fieldRef.fieldPath}`);
    } else if (e.valueFrom?.secretKeyRef) {
      const ref = e.valueFrom.secretKeyRef;
      value = o.secret(ref.name!, ref.key);
      // A missing optional Secret leaves the variable unset; a required one keeps the pod from starting.
      if (value === undefined && !ref.optional) throw new Error(`env ${e.name}: Secret ${ref.name} key ${ref.key} is missing and not optional`);
    } else if (e.valueFrom) throw new Error(`env ${e.name}: valueFrom kind not simulated`);
    else value = expandK8s(e.value ?? "", defined);
    if (value === undefined) continue;
    defined.set(e.name, value);
    out[e.name] = value;
  }
  return out;
}

/** The ENV of the Containerfile's last stage (KEY=VALUE words, unquoted: that is how it is written). */
export function imageEnv(): Record<string, string> {
  const text = readFileSync(path.join(repoRoot, "Containerfile"), "utf8");
  const last = text.slice(text.lastIndexOf("\nFROM "));
  const env: Record<string, string> = {};
  for (const line of last.split("\n")) {
    if (!line.startsWith("ENV ")) continue;
    for (const word of line.slice(4).trim().split(/\s+/)) env[word.slice(0, word.indexOf("="))] = word.slice(word.indexOf("=") + 1);
  }
  return env;
}

// ---------------------------------------------------------------------------------------------
// Secret volumes, on this machine

/** A Secret's content, key by key, as its volume shows it. */
export type SecretData = Record<string, string | Buffer>;

let secretVersion = 0;

/**
 * Writes a Secret volume into dir the way the kubelet's atomic writer does: the keys' files in
 * a hidden versioned directory, `..data` a symlink to it, and each key a symlink through
 * `..data`. Called again on the same dir, it makes the new version and swaps `..data` in one
 * rename, as the kubelet does when the Secret changes: a reader sees the old files or the new
 * ones, never a mix, and only a directory mount sees the change at all.
 */
export function writeSecretVolume(dir: string, data: SecretData, mode = 0o440): void {
  mkdirSync(dir, { recursive: true });
  const version = `..${new Date().toISOString().replace(/[-:.]/g, "_")}.${++secretVersion}`;
  mkdirSync(path.join(dir, version));
  for (const [key, value] of Object.entries(data)) writeFileSync(path.join(dir, version, key), value, { mode });
  const old = existsSync(path.join(dir, "..data")) ? readdirSync(dir).filter((e) => e.startsWith("..") && e !== "..data" && e !== version) : [];
  symlinkSync(version, path.join(dir, "..data_tmp"));
  renameSync(path.join(dir, "..data_tmp"), path.join(dir, "..data"));
  for (const key of Object.keys(data)) if (!existsSync(path.join(dir, key))) symlinkSync(path.join("..data", key), path.join(dir, key));
  for (const e of readdirSync(dir)) if (!e.startsWith("..") && !(e in data)) rmSync(path.join(dir, e), { force: true });
  for (const o of old) rmSync(path.join(dir, o), { recursive: true, force: true });
}

/** The Secrets overlays/secure mounts: the test PKI as cert-manager writes it (with ca.crt), and a tokens file of these lines. */
export function secretsFrom(pki: TestPki, tokenLines: string[]): Record<string, SecretData> {
  return {
    "pushkit-tls": { "tls.crt": readFileSync(pki.certFile), "tls.key": readFileSync(pki.keyFile), "ca.crt": pki.ca },
    "pushkit-credentials": { tokens: tokenLines.join("\n") + "\n" },
  };
}

/**
 * For a simulated pod: each Secret volume the container mounts stands for a directory here
 * (dirOf(volume name)), filled with that Secret's data when it is given; and the variables
 * whose values lie inside those mounts, with their values moved there. A Secret the pod mounts
 * but no data is given for keeps the pod from starting, as it would in the cluster.
 */
export function simulateSecretMounts(objects: K8sObject[], secrets: Record<string, SecretData>, dirOf: (volume: string) => string): Record<string, string> {
  const c = agentContainerOf(objects);
  const volumes = podSpecOf(objects).volumes ?? [];
  const moved: { mountPath: string; dir: string }[] = [];
  for (const m of c.volumeMounts ?? []) {
    const v = volumes.find((x) => x.name === m.name);
    if (!v?.secret) continue;
    const data = secrets[v.secret.secretName!];
    if (!data && !v.secret.optional) throw new Error(`volume ${v.name}: Secret ${v.secret.secretName} is not given and not optional (the pod would not start)`);
    const dir = dirOf(v.name);
    writeSecretVolume(dir, data ?? {}, v.secret.defaultMode);
    moved.push({ mountPath: m.mountPath.replace(/\/?$/, "/"), dir });
  }
  const override: Record<string, string> = {};
  for (const e of c.env ?? []) {
    const to = e.value === undefined ? undefined : moved.find((x) => e.value!.startsWith(x.mountPath));
    if (to) override[e.name] = path.join(to.dir, e.value!.slice(to.mountPath.length));
  }
  return override;
}

// ---------------------------------------------------------------------------------------------
// Semantic rules: what makes the objects a working pushkit DaemonSet, beyond valid fields.

export interface Rule {
  name: string;
  check(objects: K8sObject[]): string[];
}

const problem = (ok: boolean, message: string) => (ok ? [] : [message]);
const selects = (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) =>
  selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);
const allContainers = (spec: V1PodSpec) => [...(spec.initContainers ?? []), ...spec.containers];
const envValue = (c: V1Container, name: string) => c.env?.find((e) => e.name === name)?.value;
/** The container's probes that are there: liveness, readiness, startup. */
export const probesOf = (c: V1Container) =>
  (["livenessProbe", "readinessProbe", "startupProbe"] as const).flatMap((kind) => (c[kind] ? [{ kind, probe: c[kind]! }] : []));
/** The [http] options that name a file the agent reads (TLS, credentials), by their env names. */
export const HTTP_FILE_ENV = Object.keys(agentSections.http)
  .filter((k) => k.endsWith("_file"))
  .map((k) => `ENV_HTTP_${k.toUpperCase()}`);
/** The mount of the container under which a path lies, the longest such mountPath. */
export function mountOf(c: V1Container, file: string): V1VolumeMount | undefined {
  return (c.volumeMounts ?? [])
    // A subPath mount may be the file itself.
    .filter((m) => file === m.mountPath || file.startsWith(m.mountPath.replace(/\/?$/, "/")))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
}
/** The agent's default shutdown_timeout, and the 2 s its CLI waits beyond it before exiting anyway. */
const DEFAULT_SHUTDOWN_MS = agentSections.agent.shutdown_timeout.default;
const CLI_SHUTDOWN_MARGIN_MS = 2_000;

export const rules: Rule[] = [
  {
    name: "the DaemonSet's selector matches its pod template's labels",
    check(objects) {
      const ds = daemonSetOf(objects);
      const sel = ds.spec!.selector;
      return [
        ...problem(!sel.matchExpressions?.length, "selector.matchExpressions: not expected (matchLabels only)"),
        ...problem(selects(sel.matchLabels, ds.spec!.template.metadata?.labels), `selector ${JSON.stringify(sel.matchLabels)} does not match template labels ${JSON.stringify(ds.spec!.template.metadata?.labels)}`),
      ];
    },
  },
  {
    name: "the Service selects the pod template's labels, node-locally",
    check(objects) {
      const svc = the<V1Service>(objects, "Service", "pushkit");
      return [
        ...problem(selects(svc.spec!.selector, daemonSetOf(objects).spec!.template.metadata?.labels), `Service selector ${JSON.stringify(svc.spec!.selector)} selects no pod of the DaemonSet`),
        ...problem(svc.spec!.internalTrafficPolicy === "Local", "Service: internalTrafficPolicy must be Local"),
        ...problem(svc.spec!.type === undefined || svc.spec!.type === "ClusterIP", "Service: type must be ClusterIP"),
      ];
    },
  },
  {
    name: "probe ports and the Service's targetPort are container ports",
    check(objects) {
      const c = agentContainerOf(objects);
      const ports = c.ports ?? [];
      const has = (p: number | string | undefined) => (typeof p === "number" ? ports.some((x) => x.containerPort === p) : ports.some((x) => x.name === p));
      const svc = the<V1Service>(objects, "Service", "pushkit");
      return [
        ...problem(has(c.livenessProbe?.httpGet?.port), `livenessProbe port ${c.livenessProbe?.httpGet?.port} is no container port`),
        ...problem(has(c.readinessProbe?.httpGet?.port), `readinessProbe port ${c.readinessProbe?.httpGet?.port} is no container port`),
        ...problem(c.livenessProbe?.httpGet?.path === "/-/healthy", "livenessProbe must GET /-/healthy"),
        ...problem(c.readinessProbe?.httpGet?.path === "/-/ready", "readinessProbe must GET /-/ready"),
        ...(svc.spec!.ports ?? []).flatMap((p) => problem(has(p.targetPort ?? p.port), `Service port ${p.port}: targetPort ${p.targetPort} is no container port`)),
      ];
    },
  },
  {
    name: "every volumeMount has a volume; ConfigMaps and Secrets are directory mounts, the ConfigMap an existing one",
    check(objects) {
      const spec = podSpecOf(objects);
      const volumes = new Map((spec.volumes ?? []).map((v) => [v.name, v]));
      const out: string[] = [];
      for (const c of allContainers(spec))
        for (const m of c.volumeMounts ?? []) {
          const v = volumes.get(m.name);
          if (!v) out.push(`container ${c.name}: volumeMount ${m.name} has no volume`);
          // subPath mounts of a ConfigMap or Secret never see its updates (conf files, certificates, tokens).
          else if ((v.configMap || v.secret || v.projected) && (m.subPath || m.subPathExpr))
            out.push(`container ${c.name}: ${v.configMap ? "ConfigMap" : v.secret ? "Secret" : "projected"} volume ${m.name} is mounted with a subPath`);
        }
      for (const v of spec.volumes ?? [])
        if (v.configMap && !objects.some((o) => o.kind === "ConfigMap" && o.metadata.name === v.configMap!.name)) out.push(`volume ${v.name}: ConfigMap ${v.configMap.name} is not among the objects`);
      return out;
    },
  },
  {
    name: "ENV_DATA_DIR is on the hostPath volume, made writable by the init container",
    check(objects) {
      const spec = podSpecOf(objects);
      const c = agentContainerOf(objects);
      const dataDir = envValue(c, "ENV_DATA_DIR");
      if (!dataDir) return ["agent container: ENV_DATA_DIR is not set"];
      const mount = (c.volumeMounts ?? []).find((m) => dataDir === m.mountPath || dataDir.startsWith(m.mountPath.replace(/\/?$/, "/")));
      const volume = spec.volumes?.find((v) => v.name === mount?.name);
      if (!mount || !volume?.hostPath) return [`ENV_DATA_DIR ${dataDir} is not on a hostPath volume mount`];
      const init = (spec.initContainers ?? []).find((i) => i.volumeMounts?.some((m) => m.name === volume.name));
      return [
        ...problem(volume.hostPath.type === "DirectoryOrCreate", `volume ${volume.name}: hostPath type must be DirectoryOrCreate`),
        ...problem(
          init !== undefined && JSON.stringify(init.command) === JSON.stringify(["chown", "1000:1000", init.volumeMounts!.find((m) => m.name === volume.name)!.mountPath]),
          `no init container chowns the hostPath volume ${volume.name} to 1000:1000 (fsGroup does not apply to hostPath)`,
        ),
      ];
    },
  },
  {
    name: "ENV_CONF_DIR is the ConfigMap's mount path",
    check(objects) {
      const confDir = envValue(agentContainerOf(objects), "ENV_CONF_DIR");
      return problem(confDir === mountedConfigMap(objects).mountPath, `ENV_CONF_DIR ${confDir} is not the ConfigMap's mountPath ${mountedConfigMap(objects).mountPath}`);
    },
  },
  {
    name: "every image has a tag, and not :latest",
    check(objects) {
      return allContainers(podSpecOf(objects)).flatMap((c) => {
        const image = c.image ?? "";
        if (image.includes("@sha256:")) return [];
        const tag = /:([^/:]+)$/.exec(image)?.[1];
        return problem(tag !== undefined && tag !== "latest", `container ${c.name}: image "${image}" needs a version tag (not :latest)`);
      });
    },
  },
  {
    name: "updates replace one pod at a time with no surge",
    check(objects) {
      const s = daemonSetOf(objects).spec!.updateStrategy;
      return [
        ...problem(s?.type === "RollingUpdate", "updateStrategy.type must be RollingUpdate"),
        // A surge pod would share the node's hostPath queues (and, with hostPort, the port).
        ...problem(s?.rollingUpdate?.maxSurge === 0, `updateStrategy.rollingUpdate.maxSurge must be 0, got ${s?.rollingUpdate?.maxSurge}`),
        ...problem(s?.rollingUpdate?.maxUnavailable === 1, `updateStrategy.rollingUpdate.maxUnavailable must be 1, got ${s?.rollingUpdate?.maxUnavailable}`),
      ];
    },
  },
  {
    name: "the grace period outlasts the agent's shutdown",
    check(objects) {
      const timeout = envValue(agentContainerOf(objects), "ENV_AGENT_SHUTDOWN_TIMEOUT");
      const shutdownMs = timeout ? parseDuration(timeout) : DEFAULT_SHUTDOWN_MS;
      const graceMs = (podSpecOf(objects).terminationGracePeriodSeconds ?? 30) * 1000;
      // The kubelet sends SIGKILL at the end of the grace period: the agent must be done by then.
      return problem(graceMs > shutdownMs + CLI_SHUTDOWN_MARGIN_MS, `terminationGracePeriodSeconds ${graceMs / 1000} is not above the shutdown timeout ${shutdownMs / 1000}s (+${CLI_SHUTDOWN_MARGIN_MS / 1000}s)`);
    },
  },
  {
    name: "the pod runs unprivileged: non-root, RuntimeDefault seccomp, no capabilities but CHOWN for the init container",
    check(objects) {
      const spec = podSpecOf(objects);
      const psc = spec.securityContext ?? {};
      const out = [
        ...problem(psc.runAsNonRoot === true && psc.runAsUser === 1000 && psc.runAsGroup === 1000, "pod securityContext: runAsNonRoot true, runAsUser 1000, runAsGroup 1000 expected"),
        ...problem(psc.seccompProfile?.type === "RuntimeDefault", "pod securityContext: seccompProfile RuntimeDefault expected"),
        ...problem(spec.automountServiceAccountToken === false, "pod: automountServiceAccountToken must be false"),
      ];
      for (const c of allContainers(spec)) {
        const sc = c.securityContext ?? {};
        const init = spec.initContainers?.includes(c) ?? false;
        out.push(
          ...problem(sc.allowPrivilegeEscalation === false, `container ${c.name}: allowPrivilegeEscalation must be false`),
          ...problem(sc.readOnlyRootFilesystem === true, `container ${c.name}: readOnlyRootFilesystem must be true`),
          ...problem(sc.privileged !== true, `container ${c.name}: must not be privileged`),
          ...problem(sc.capabilities?.drop?.includes("ALL") === true, `container ${c.name}: capabilities must drop ALL`),
          ...problem(JSON.stringify(sc.capabilities?.add ?? []) === JSON.stringify(init ? ["CHOWN"] : []), `container ${c.name}: capabilities.add must be ${init ? "[CHOWN]" : "empty"}`),
          // Only the init container that chowns the hostPath runs as root.
          ...problem(init || (sc.runAsUser === undefined && sc.runAsNonRoot !== false), `container ${c.name}: must not override the pod's non-root user`),
        );
      }
      return out;
    },
  },
  {
    name: "no RBAC objects, and the ServiceAccount mounts no token",
    check(objects) {
      const sa = the<{ automountServiceAccountToken?: boolean }>(objects, "ServiceAccount", "pushkit");
      return [
        ...objects.filter((o) => /^(Cluster)?Role(Binding)?$/.test(o.kind)).map((o) => `${o.kind}/${o.metadata.name}: pushkit reads nothing from the API and needs no RBAC`),
        ...problem(sa.automountServiceAccountToken === false, "ServiceAccount pushkit: automountServiceAccountToken must be false"),
        ...problem(podSpecOf(objects).serviceAccountName === "pushkit", "the pod must run as ServiceAccount pushkit"),
      ];
    },
  },
  {
    name: "the probes' scheme is HTTPS exactly when the agent serves TLS",
    check(objects) {
      const c = agentContainerOf(objects);
      const tls = Boolean(envValue(c, "ENV_HTTP_TLS_CERT_FILE"));
      return probesOf(c).flatMap(({ kind, probe }) => {
        // With TLS on the port serves no plain HTTP: an HTTP probe would fail and restart the pod.
        if (!probe.httpGet) return [`${kind}: expected an httpGet probe`];
        const scheme = probe.httpGet.scheme ?? "HTTP";
        return problem(scheme === (tls ? "HTTPS" : "HTTP"), `${kind}: scheme ${scheme}, but the agent serves ${tls ? "HTTPS (ENV_HTTP_TLS_CERT_FILE is set)" : "plain HTTP"}`);
      });
    },
  },
  {
    name: "the TLS and credentials files are in read-only Secret directory mounts, readable by the agent's user alone",
    check(objects) {
      const spec = podSpecOf(objects);
      const c = agentContainerOf(objects);
      const out: string[] = [];
      for (const e of c.env ?? []) {
        if (!HTTP_FILE_ENV.includes(e.name)) continue;
        if (e.valueFrom || !e.value) {
          out.push(`env ${e.name}: expected a path as its value`);
          continue;
        }
        const m = mountOf(c, e.value);
        const v = spec.volumes?.find((x) => x.name === m?.name);
        if (!m || !v?.secret) out.push(`env ${e.name}: ${e.value} is not in a Secret volume mount`);
        else {
          out.push(...problem(m.readOnly === true, `env ${e.name}: the mount ${m.mountPath} of Secret volume ${m.name} must be readOnly`));
          out.push(...problem(!m.subPath && !m.subPathExpr, `env ${e.name}: Secret volume ${m.name} is mounted with a subPath (never updated: a renewed certificate would not be seen)`));
        }
      }
      // Secret files are root's. With an fsGroup the kubelet makes it their group and adds group
      // read (0440 at least), and the container's processes get it as a supplementary group.
      for (const v of spec.volumes ?? []) {
        if (!v.secret) continue;
        const modes = [v.secret.defaultMode, ...(v.secret.items ?? []).map((i) => i.mode)].filter((x) => x !== undefined);
        out.push(
          ...problem(v.secret.defaultMode !== undefined && modes.every((mode) => (mode & ~0o440) === 0), `volume ${v.name}: defaultMode (and item modes) must be 0440 or tighter, got ${modes.map((x) => "0" + x.toString(8)).join(", ") || "the default 0644"}`),
          ...problem(spec.securityContext?.fsGroup !== undefined, `volume ${v.name}: the pod needs an fsGroup, or its user cannot read the Secret's files (owned by root)`),
        );
      }
      return out;
    },
  },
  {
    name: "every $(VAR) in the env refers to a variable defined above it",
    check(objects) {
      const defined = new Set<string>();
      const out: string[] = [];
      for (const e of agentContainerOf(objects).env ?? []) {
        // Kubernetes leaves a reference to a later or unknown variable as it is written.
        for (const m of (e.value ?? "").replace(/\$\$/g, "").matchAll(/\$\(([^)]*)\)/g)) if (!defined.has(m[1])) out.push(`env ${e.name}: $(${m[1]}) is not defined above it`);
        defined.add(e.name);
      }
      return out;
    },
  },
  {
    name: "every namespaced object is in the pushkit namespace",
    check(objects) {
      return objects.filter((o) => o.kind !== "Namespace" && o.metadata.namespace !== "pushkit").map((o) => `${o.kind}/${o.metadata.name}: namespace ${o.metadata.namespace} instead of pushkit`);
    },
  },
];

// ---------------------------------------------------------------------------------------------
// deploy/kubernetes/README.md

/** The fenced code blocks of the README section whose "## " heading starts with `heading` (its "### " subsections included), in order. */
export function readmeBlocks(heading: string): { lang: string; text: string }[] {
  const readme = readFileSync(path.join(deployDir, "README.md"), "utf8");
  const start = readme.indexOf(`\n## ${heading}`);
  if (start < 0) throw new Error(`deploy/kubernetes/README.md has no section "## ${heading}"`);
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/^ *```(\w*)\n([\s\S]*?)^ *```$/gm)].map((m) => ({ lang: m[1], text: m[2] }));
}

/** The one YAML block of a README section whose text matches `which`, parsed. */
export function readmeYaml(heading: string, which: RegExp): any {
  const found = readmeBlocks(heading).filter((b) => b.lang === "yaml" && which.test(b.text));
  if (found.length !== 1) throw new Error(`README section "${heading}": expected one yaml block matching ${which}, found ${found.length}`);
  const docs = yamlDocs(found[0].text, `README ${heading} yaml block`);
  if (docs.length !== 1) throw new Error(`README section "${heading}": the yaml block matching ${which} has ${docs.length} documents`);
  return docs[0];
}
