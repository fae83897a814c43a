// A strict offline validator for Kubernetes objects, driven by the model classes of
// @kubernetes/client-node: each has a static getAttributeTypeMap() listing its fields and their
// types. The library's own deserializer drops unknown keys silently, so it cannot tell a typo
// from a field; this walker reports unknown fields (with a did-you-mean), wrong types and
// non-string values in string maps (labels, annotations, selectors, resources, ConfigMap data).
import * as k8s from "@kubernetes/client-node";

export interface Attribute {
  name: string;
  baseName: string;
  type: string;
  format: string;
}

type Model = { getAttributeTypeMap(): Attribute[] };

/** The kinds pushkit's manifests use, by kind: the apiVersion they must have and their model. */
export const KINDS: Record<string, { apiVersion: string; model: string }> = {
  Namespace: { apiVersion: "v1", model: "V1Namespace" },
  ServiceAccount: { apiVersion: "v1", model: "V1ServiceAccount" },
  ConfigMap: { apiVersion: "v1", model: "V1ConfigMap" },
  Secret: { apiVersion: "v1", model: "V1Secret" },
  Service: { apiVersion: "v1", model: "V1Service" },
  DaemonSet: { apiVersion: "apps/v1", model: "V1DaemonSet" },
  // A CRD of the Prometheus Operator: no model in the library, so the fields we use are listed
  // by hand below (HAND_MODELS).
  PodMonitor: { apiVersion: "monitoring.coreos.com/v1", model: "MonitoringV1PodMonitor" },
};

const attr = (baseName: string, type: string): Attribute => ({ name: baseName, baseName, type, format: "" });

/**
 * PodMonitor (monitoring.coreos.com/v1), reduced to the fields a pushkit PodMonitor has a use
 * for; anything else is reported as unknown, as for the built-in kinds.
 */
const HAND_MODELS: Record<string, Attribute[]> = {
  MonitoringV1PodMonitor: [attr("apiVersion", "string"), attr("kind", "string"), attr("metadata", "V1ObjectMeta"), attr("spec", "MonitoringV1PodMonitorSpec")],
  MonitoringV1PodMonitorSpec: [
    attr("selector", "V1LabelSelector"),
    attr("namespaceSelector", "MonitoringV1NamespaceSelector"),
    attr("podMetricsEndpoints", "Array<MonitoringV1PodMetricsEndpoint>"),
    attr("jobLabel", "string"),
    attr("podTargetLabels", "Array<string>"),
  ],
  MonitoringV1NamespaceSelector: [attr("any", "boolean"), attr("matchNames", "Array<string>")],
  MonitoringV1PodMetricsEndpoint: [
    attr("port", "string"),
    attr("path", "string"),
    attr("scheme", "string"),
    attr("interval", "string"),
    attr("scrapeTimeout", "string"),
    attr("honorLabels", "boolean"),
    attr("honorTimestamps", "boolean"),
    attr("relabelings", "Array<any>"),
    attr("metricRelabelings", "Array<any>"),
    attr("authorization", "MonitoringV1SafeAuthorization"),
    attr("tlsConfig", "MonitoringV1SafeTLSConfig"),
  ],
  // Secrets and ConfigMaps a PodMonitor names are read from its own namespace.
  MonitoringV1SafeAuthorization: [attr("type", "string"), attr("credentials", "V1SecretKeySelector")],
  MonitoringV1SafeTLSConfig: [
    attr("ca", "MonitoringV1SecretOrConfigMap"),
    attr("cert", "MonitoringV1SecretOrConfigMap"),
    attr("keySecret", "V1SecretKeySelector"),
    attr("serverName", "string"),
    attr("insecureSkipVerify", "boolean"),
  ],
  MonitoringV1SecretOrConfigMap: [attr("secret", "V1SecretKeySelector"), attr("configMap", "V1ConfigMapKeySelector")],
};

function attributesOf(type: string): Attribute[] | undefined {
  if (HAND_MODELS[type]) return HAND_MODELS[type];
  const m = (k8s as unknown as Record<string, unknown>)[type];
  const model = m as Partial<Model> | undefined;
  if (typeof m === "function" && typeof model?.getAttributeTypeMap === "function") return model.getAttributeTypeMap();
  return undefined;
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length][b.length];
}

export function didYouMean(key: string, known: string[]): string {
  const near = known
    .map((k) => ({ k, d: k.toLowerCase() === key.toLowerCase() ? 0 : editDistance(k, key) }))
    .filter((x) => x.d <= 2)
    .sort((x, y) => x.d - y.d);
  return near.length ? ` (did you mean "${near[0].k}"?)` : "";
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a map";
  return `${typeof v} ${JSON.stringify(v)}`;
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

const ARRAY = /^Array<(.+)>$/;
const MAP = /^\{ \[key: string\]: (.+); \}$/;

const join = (at: string, key: string | number) => (typeof key === "number" ? `${at}[${key}]` : at ? `${at}.${key}` : key);

/** Problems of `value` read as `type` (a type string of the model maps); `at` is its field path. */
export function validateAs(type: string, value: unknown, at = "", format = ""): string[] {
  const here = at || "(top level)";
  // In Kubernetes a null field is an absent one; in a manifest it is almost always a slip
  // (`emptyDir:` with nothing after it), so it is reported.
  if (value === null || value === undefined) return [`${here}: null value (write {} or [] for an empty one, or leave the field out)`];
  const wrong = (expected: string) => [`${here}: expected ${expected}, got ${describe(value)}`];
  let m: RegExpExecArray | null;
  if ((m = ARRAY.exec(type))) {
    if (!Array.isArray(value)) return wrong("a list");
    return value.flatMap((v, i) => validateAs(m![1], v, join(at, i)));
  }
  if ((m = MAP.exec(type))) {
    if (!isMap(value)) return wrong("a map");
    return Object.entries(value).flatMap(([k, v]) => validateAs(m![1], v, join(at, k), format));
  }
  switch (type) {
    case "string":
      if (typeof value !== "string") return wrong("a string (quote it in YAML)");
      if (format === "byte" && !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) return [`${here}: expected base64, got ${JSON.stringify(value)}`];
      return [];
    case "number":
      if (typeof value !== "number") return wrong("a number");
      if ((format === "int32" || format === "int64") && !Number.isInteger(value)) return wrong("an integer");
      return [];
    case "boolean":
      return typeof value === "boolean" ? [] : wrong("true or false");
    case "Date":
      return typeof value === "string" && !Number.isNaN(Date.parse(value)) ? [] : wrong("an RFC 3339 time");
    case "IntOrString":
      return (typeof value === "number" && Number.isInteger(value)) || typeof value === "string" ? [] : wrong("an integer or a string");
    case "any":
    case "object":
      return [];
  }
  const attributes = attributesOf(type);
  if (!attributes) throw new Error(`k8s-schema: no model for type "${type}" (at ${here})`);
  if (!isMap(value)) return wrong(`a map (${type})`);
  const byKey = new Map(attributes.map((a) => [a.baseName, a]));
  return Object.entries(value).flatMap(([key, v]) => {
    const a = byKey.get(key);
    if (!a) return [`${join(at, key)}: unknown field in ${type}${didYouMean(key, [...byKey.keys()])}`];
    return validateAs(a.type, v, join(at, key), a.format);
  });
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** Problems of one whole object: its kind and apiVersion, a name, then every field. */
export function validateObject(obj: unknown, where = "object"): string[] {
  if (!isMap(obj)) return [`${where}: expected a Kubernetes object, got ${describe(obj)}`];
  const kind = KINDS[String(obj.kind)];
  if (!kind) return [`${where}: kind ${JSON.stringify(obj.kind)} is not one these manifests may use${didYouMean(String(obj.kind), Object.keys(KINDS))}`];
  const name = isMap(obj.metadata) ? obj.metadata.name : undefined;
  const problems: string[] = [];
  if (obj.apiVersion !== kind.apiVersion) problems.push(`apiVersion: must be "${kind.apiVersion}", got ${describe(obj.apiVersion)}`);
  if (typeof name !== "string" || name === "") problems.push("metadata.name: required");
  problems.push(...validateAs(kind.model, obj));
  return problems.map((p) => `${where} ${obj.kind}/${typeof name === "string" ? name : "?"}: ${p}`);
}
