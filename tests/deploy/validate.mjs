// Validates a rendered Helm chart (render/render.go) the way a cluster would at apply time, as far
// as that can be done offline:
//   1. the merged values against the chart's values.schema.json (JSON Schema draft-07, as Helm does);
//   2. every rendered object against its Kubernetes schema (kubernetes-models 5.1, Kubernetes 1.3x;
//      prometheus-operator CRDs from @kubernetes-models/prometheus-operator);
//   3. what schemas miss: the Service, PDB and ServiceMonitor select the Deployment's pods, volumes
//      and the HPA name objects that exist, probes use a declared port, the config file is JSON.
// Not caught here: admission webhooks and policies of a real cluster, API deprecations on other
// Kubernetes versions, resource quotas, and whether the image and its upstreams exist.
// Usage:
//   node validate.mjs values VALUES.json SCHEMA.json       step 1 (before rendering, as Helm does)
//   node validate.mjs manifest MANIFEST.yaml [OUT_DIR]     steps 2 and 3; writes each ConfigMap's
//                                                          mcpedge.json and each PrometheusRule's
//                                                          groups (a promtool rules file) into OUT_DIR
// Exit 0, or 1 with each problem on its own line of stderr.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import yaml from "js-yaml";
import Ajv from "ajv";

const [mode, ...args] = process.argv.slice(2);
const problems = [];
const finish = summary => {
  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(p + "\n");
    process.exit(1);
  }
  process.stdout.write(summary + "\n");
  process.exit(0);
};

if (mode === "values") {
  const [valuesFile, schemaFile] = args;
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validateValues = ajv.compile(JSON.parse(readFileSync(schemaFile, "utf8")));
  if (!validateValues(JSON.parse(readFileSync(valuesFile, "utf8")))) {
    for (const e of validateValues.errors) problems.push(`values${e.instancePath.replaceAll("/", ".")}: ${e.message}${e.params?.allowedValues ? " " + JSON.stringify(e.params.allowedValues) : ""}`);
  }
  finish("values: valid");
} else if (mode !== "manifest") {
  problems.push(`unknown mode ${mode}: values or manifest`);
  finish("");
}
const [manifestFile, outDir] = args;

const docs = yaml.loadAll(readFileSync(manifestFile, "utf8")).filter(d => d != null);
const modules = {
  "v1": "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "autoscaling/v2": "kubernetes-models/autoscaling/v2",
  "policy/v1": "kubernetes-models/policy/v1",
  "monitoring.coreos.com/v1": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
};
for (const doc of docs) {
  const where = `${doc.kind ?? "?"}/${doc.metadata?.name ?? "?"}`;
  const base = modules[doc.apiVersion];
  if (!base || !/^[A-Z][A-Za-z]+$/.test(doc.kind ?? "")) {
    problems.push(`${where}: unknown apiVersion/kind ${doc.apiVersion}/${doc.kind}`);
    continue;
  }
  let Model;
  try {
    Model = (await import(`${base}/${doc.kind}`))[doc.kind];
  } catch {
    problems.push(`${where}: no schema for ${doc.apiVersion}/${doc.kind}`);
    continue;
  }
  try {
    new Model(doc).validate();
  } catch (e) {
    problems.push(`${where}: ${e.message}`);
  }
}

const byKind = kind => docs.filter(d => d.kind === kind);
const named = (kind, name) => docs.find(d => d.kind === kind && d.metadata?.name === name);
const selects = (selector, labels) => Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v) && Object.keys(selector ?? {}).length > 0;
const deployments = byKind("Deployment");
if (deployments.length !== 1) problems.push(`expected one Deployment, found ${deployments.length}`);
const deployment = deployments[0];
const podLabels = deployment?.spec?.template?.metadata?.labels;
const pod = deployment?.spec?.template?.spec;
if (deployment && !selects(deployment.spec.selector?.matchLabels, podLabels)) problems.push("Deployment: selector does not match its pod labels");
for (const service of byKind("Service")) {
  if (!selects(service.spec.selector, podLabels)) problems.push(`Service/${service.metadata.name}: selector matches no pod of the Deployment`);
  for (const port of service.spec.ports ?? []) {
    if (typeof port.targetPort === "string" && !pod?.containers?.some(c => c.ports?.some(p => p.name === port.targetPort))) problems.push(`Service/${service.metadata.name}: targetPort ${port.targetPort} is no container port`);
  }
}
for (const pdb of byKind("PodDisruptionBudget")) {
  if (!selects(pdb.spec.selector?.matchLabels, podLabels)) problems.push(`PodDisruptionBudget/${pdb.metadata.name}: selects no pod of the Deployment`);
}
for (const hpa of byKind("HorizontalPodAutoscaler")) {
  const target = hpa.spec.scaleTargetRef;
  if (!named(target.kind, target.name)) problems.push(`HorizontalPodAutoscaler/${hpa.metadata.name}: target ${target.kind}/${target.name} is not rendered`);
  if (hpa.spec.minReplicas > hpa.spec.maxReplicas) problems.push(`HorizontalPodAutoscaler/${hpa.metadata.name}: minReplicas > maxReplicas`);
  if (deployment?.spec?.replicas !== undefined) problems.push("Deployment: replicas is set while an HPA scales it (they would fight)");
}
for (const monitor of byKind("ServiceMonitor")) {
  const services = byKind("Service").filter(s => selects(monitor.spec.selector?.matchLabels, s.metadata.labels));
  if (services.length === 0) problems.push(`ServiceMonitor/${monitor.metadata.name}: selects no Service`);
  for (const endpoint of monitor.spec.endpoints ?? []) {
    if (!services.some(s => s.spec.ports?.some(p => p.name === endpoint.port))) problems.push(`ServiceMonitor/${monitor.metadata.name}: port ${endpoint.port} is no Service port`);
  }
}
for (const volume of pod?.volumes ?? []) {
  if (volume.configMap && !named("ConfigMap", volume.configMap.name)) problems.push(`Deployment: volume ${volume.name} names ConfigMap ${volume.configMap.name}, which is not rendered`);
  if (volume.secret && !named("Secret", volume.secret.secretName)) process.stderr.write(`note: volume ${volume.name} names Secret ${volume.secret.secretName}, not rendered (an existing Secret)\n`);
}
for (const container of pod?.containers ?? []) {
  const ports = new Set((container.ports ?? []).map(p => p.name));
  for (const probe of ["livenessProbe", "readinessProbe", "startupProbe"]) {
    const port = container[probe]?.httpGet?.port;
    if (typeof port === "string" && !ports.has(port)) problems.push(`Deployment: ${probe} uses port ${port}, which the container does not declare`);
  }
  for (const mount of container.volumeMounts ?? []) {
    if (!pod.volumes?.some(v => v.name === mount.name)) problems.push(`Deployment: volumeMount ${mount.name} has no volume`);
  }
}
for (const configMap of byKind("ConfigMap")) {
  for (const [key, value] of Object.entries(configMap.data ?? {})) {
    if (key.endsWith(".json")) {
      try {
        JSON.parse(value);
        if (outDir) writeFileSync(join(outDir, key), value);
      } catch (e) {
        problems.push(`ConfigMap/${configMap.metadata.name}: ${key} is not JSON: ${e.message}`);
      }
    }
  }
}
for (const rule of byKind("PrometheusRule")) {
  if (outDir) writeFileSync(join(outDir, `${rule.metadata.name}.rules.yaml`), yaml.dump({ groups: rule.spec.groups }));
}

finish(`valid: ${docs.map(d => `${d.kind}/${d.metadata.name}`).join(", ")}`);
