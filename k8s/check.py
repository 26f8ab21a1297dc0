"""Checks k8s/ offline: every overlay builds, every object passes its
schema, the manifests hang together, NATS accepts its configuration, the
policy scan finds nothing unjustified, the alert rules pass promtool and
their unit tests, and every metric an alert or a dashboard reads is one the
code records.

Run by `make test` (tests/deploy.rs) with .run/k8s-venv's Python, which
`make deps` fills from deploy/local/requirements-k8s.txt:

    .run/k8s-venv/bin/python k8s/check.py

Prints what it checked and exits non-zero naming each problem.
"""

import os
import pathlib
import re
import secrets
import subprocess
import sys
import tempfile

import functools
import json
import shutil

import kubernetes_validate
import yaml

K8S = pathlib.Path(__file__).resolve().parent
REPO = K8S.parent
MONITORING = K8S / "base" / "monitoring"
BIN = pathlib.Path(sys.executable).parent
OVERLAYS = ("dev", "production")
# The oldest Kubernetes the manifests are for (native sleep in preStop and
# gRPC probes are there from 1.30).
KUBERNETES_VERSION = "1.30.0"

# Custom resources: no schema offline, so they are skipped by name here and
# checked below by what matters in them (instances, replication, backups).
CUSTOM_KINDS = {
    ("postgresql.cnpg.io/v1", "Cluster"),
    ("postgresql.cnpg.io/v1", "ScheduledBackup"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}

# Secrets the manifests read that an operator (or an operator's tooling)
# creates: docs/OPERATIONS.md, "Deploy". `<cluster>-app` Secrets are
# CloudNativePG's, one per Cluster in the build.
OPERATOR_SECRETS = {
    "identity-keys",
    "identity-bootstrap",
    "nats-users",
    "notifications-delivery",
    "esia-client",
    "backup-storage",
    "gateway-tls",
}

problems: list[str] = []


def problem(overlay: str, text: str) -> None:
    problems.append(f"{overlay}: {text}")


def build(overlay: str) -> list[dict]:
    out = subprocess.run(
        [BIN / "kubectl", "kustomize", K8S / "overlays" / overlay],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        problem(overlay, f"kustomize build failed: {out.stderr.strip()}")
        return []
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def name(obj: dict) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def matches(selector: dict, labels: dict) -> bool:
    """A label selector (matchLabels only; the manifests use no other form)."""
    if set(selector) - {"matchLabels"}:
        return False
    wanted = selector.get("matchLabels") or {}
    return all(labels.get(key) == value for key, value in wanted.items())


def workloads(objs: list[dict]) -> list[dict]:
    return [o for o in objs if o["kind"] in ("Deployment", "StatefulSet")]


@functools.cache
def operations() -> list[dict]:
    """The one-off objects an operator applies by hand (k8s/operations),
    read once."""
    files = sorted((K8S / "operations").glob("*.yaml"))
    return [doc for path in files for doc in yaml.safe_load_all(path.read_text()) if doc]


def pod_label_sets(objs: list[dict]) -> list[dict]:
    """Labels of every pod the build makes, the databases' pods and the
    operations' Jobs included."""
    sets = [w["spec"]["template"]["metadata"].get("labels", {}) for w in workloads(objs)]
    sets += [j["spec"]["template"]["metadata"].get("labels", {}) for j in operations() if j["kind"] == "Job"]
    for cluster in objs:
        if cluster["kind"] == "Cluster":
            sets.append({"cnpg.io/cluster": cluster["metadata"]["name"]})
    return sets


def validate_schemas(overlay: str, objs: list[dict]) -> int:
    checked = 0
    for obj in objs:
        if (obj["apiVersion"], obj["kind"]) in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
            checked += 1
        except kubernetes_validate.ValidationError as error:
            path = "/".join(str(p) for p in error.path)
            problem(overlay, f"{name(obj)}: {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError:
            problem(overlay, f"{name(obj)}: no schema for {obj['apiVersion']} {obj['kind']}")
    return checked


def check_workloads(overlay: str, objs: list[dict]) -> None:
    configmaps = {o["metadata"]["name"] for o in objs if o["kind"] == "ConfigMap"}
    clusters = {o["metadata"]["name"] for o in objs if o["kind"] == "Cluster"}
    secrets = OPERATOR_SECRETS | {f"{c}-app" for c in clusters}
    pdbs = [o for o in objs if o["kind"] == "PodDisruptionBudget"]
    hpas = {o["spec"]["scaleTargetRef"]["name"]: o for o in objs if o["kind"] == "HorizontalPodAutoscaler"}
    policies = [
        o
        for o in objs
        if o["kind"] == "NetworkPolicy" and o["spec"]["podSelector"].get("matchLabels")
    ]
    for workload in workloads(objs):
        labels = workload["spec"]["template"]["metadata"].get("labels", {})
        spec = workload["spec"]["template"]["spec"]
        label = name(workload)
        if not matches(workload["spec"]["selector"], labels):
            problem(overlay, f"{label}: its selector does not select its own pods")
        if not any(matches(p["spec"]["selector"], labels) for p in pdbs):
            problem(overlay, f"{label}: no PodDisruptionBudget")
        if workload["kind"] == "Deployment":
            if workload["metadata"]["name"] not in hpas:
                problem(overlay, f"{label}: no HorizontalPodAutoscaler")
            if "replicas" in workload["spec"]:
                problem(overlay, f"{label}: sets replicas, which its autoscaler owns")
        own = [p for p in policies if matches(p["spec"]["podSelector"], labels)]
        if not any({"Ingress", "Egress"} <= set(p["spec"].get("policyTypes", [])) for p in own):
            problem(overlay, f"{label}: no NetworkPolicy of its own for ingress and egress")
        pod_security = spec.get("securityContext", {})
        if not pod_security.get("runAsNonRoot"):
            problem(overlay, f"{label}: pods may run as root")
        if spec.get("automountServiceAccountToken") is not False:
            problem(overlay, f"{label}: mounts a service account token it does not use")
        # Kubernetes would add IDENTITY_PORT, GRADEBOOK_SERVICE_HOST, ... for
        # every Service: inside a service's settings prefix, and refused.
        if spec.get("enableServiceLinks") is not False:
            problem(overlay, f"{label}: Service links would put unknown settings in its environment")
        for container in spec["containers"]:
            where = f"{label} container {container['name']}"
            image = container["image"]
            if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
                problem(overlay, f"{where}: image {image} is not pinned")
            for probe in ("readinessProbe", "livenessProbe"):
                if probe not in container:
                    problem(overlay, f"{where}: no {probe}")
            resources = container.get("resources", {})
            if "memory" not in resources.get("limits", {}) or "cpu" not in resources.get("requests", {}):
                problem(overlay, f"{where}: no memory limit or CPU request")
            security = container.get("securityContext", {})
            if not security.get("readOnlyRootFilesystem") or security.get("allowPrivilegeEscalation") is not False:
                problem(overlay, f"{where}: writable root or privilege escalation")
            if security.get("capabilities", {}).get("drop") != ["ALL"]:
                problem(overlay, f"{where}: keeps capabilities")
            for source in container.get("envFrom", []):
                ref = source.get("configMapRef", {}).get("name")
                if ref and ref not in configmaps:
                    problem(overlay, f"{where}: ConfigMap {ref} is not in the build")
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["name"] not in secrets:
                    problem(overlay, f"{where}: Secret {ref['name']} is neither CloudNativePG's nor an operator's (OPERATOR_SECRETS)")
        for volume in spec.get("volumes", []):
            ref = volume.get("configMap", {}).get("name")
            if ref and ref not in configmaps:
                problem(overlay, f"{label}: ConfigMap volume {ref} is not in the build")
            ref = volume.get("secret", {}).get("secretName")
            if ref and ref not in secrets:
                problem(overlay, f"{label}: Secret volume {ref} is unknown")


def check_selectors(overlay: str, objs: list[dict]) -> None:
    """Every Service and every NetworkPolicy selects pods that exist: a typo
    in a label would silently cut a flow."""
    pods = pod_label_sets(objs)
    for service in (o for o in objs if o["kind"] == "Service"):
        selector = service["spec"].get("selector")
        if selector and not any(matches({"matchLabels": selector}, p) for p in pods):
            problem(overlay, f"{name(service)}: selects no pod")
    for policy in (o for o in objs if o["kind"] == "NetworkPolicy"):
        selectors = [policy["spec"]["podSelector"]]
        for rule in policy["spec"].get("ingress", []) + policy["spec"].get("egress", []):
            for peer in rule.get("from", []) + rule.get("to", []):
                if "podSelector" in peer and "namespaceSelector" not in peer:
                    selectors.append(peer["podSelector"])
        for selector in selectors:
            if selector.get("matchLabels") and not any(matches(selector, p) for p in pods):
                problem(overlay, f"{name(policy)}: {selector['matchLabels']} selects no pod")


def check_stateful(overlay: str, objs: list[dict]) -> None:
    production = overlay == "production"
    clusters = [o for o in objs if o["kind"] == "Cluster"]
    backups = {o["spec"]["cluster"]["name"] for o in objs if o["kind"] == "ScheduledBackup"}
    services = [o for o in objs if o["kind"] == "Deployment"]
    if len(clusters) != len(services):
        problem(overlay, f"{len(services)} services but {len(clusters)} database clusters")
    for cluster in clusters:
        spec, label = cluster["spec"], name(cluster)
        if production:
            if spec.get("instances") != 3:
                problem(overlay, f"{label}: not three instances")
            if spec.get("postgresql", {}).get("synchronous", {}).get("number", 0) < 1:
                problem(overlay, f"{label}: no synchronous standby")
            if "backup" not in spec or cluster["metadata"]["name"] not in backups:
                problem(overlay, f"{label}: no backups scheduled")
        elif spec.get("instances") != 1 or "synchronous" in spec.get("postgresql", {}):
            problem(overlay, f"{label}: a development cluster is one instance, no standby to wait for")
    nats = next((o for o in objs if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "nats"), None)
    if nats is None:
        problem(overlay, "no NATS StatefulSet")
        return
    # JetStream may fill its whole file store: the volume must hold it.
    units = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    conf = next((o["data"]["nats.conf"] for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("nats-config")), "")
    store = re.search(r"max_file_store:\s*(\d+)\s*([KMGT]?)B", conf)
    volume = nats["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    size = re.fullmatch(r"(\d+)([KMGT]i?)?", volume)
    if not store or not size:
        problem(overlay, f"NATS: cannot read max_file_store or the volume's size ({volume})")
    elif int(store.group(1)) * units[store.group(2)] > int(size.group(1)) * units[size.group(2) or ""]:
        problem(overlay, f"NATS: max_file_store of {store.group(1)}{store.group(2)}B exceeds its volume of {volume}")
    servers = nats["spec"]["replicas"]
    if servers != (3 if production else 1):
        problem(overlay, f"NATS runs {servers} servers")
    # Streams cannot have more replicas than there are servers.
    for configmap in (o for o in objs if o["kind"] == "ConfigMap"):
        for key, value in configmap.get("data", {}).items():
            if key.endswith("_NATS__REPLICAS") and int(value) > servers:
                problem(overlay, f"{name(configmap)}: {key}={value} with {servers} NATS servers")
    for hpa in (o for o in objs if o["kind"] == "HorizontalPodAutoscaler"):
        low, high = hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]
        if production and low < 2:
            problem(overlay, f"{name(hpa)}: fewer than two replicas in production")
        if not production and high != 1:
            problem(overlay, f"{name(hpa)}: more than one replica in development")


# Pool sizes when a service's settings do not say (services/runtime/config/
# defaults.toml; the gateway's base.toml).
DEFAULT_POOL = {"gateway": 10}
DEFAULT_POOL_SIZE = 20
# Connections a CloudNativePG cluster keeps for itself (superuser,
# replication, the operator's checks).
RESERVED_CONNECTIONS = 10


def check_connections(overlay: str, objs: list[dict]) -> None:
    """At the autoscaler's maximum, every replica's pool still fits in its
    database's max_connections: the first thing to break when a region
    grows (docs/SCALING.md)."""
    settings = {}
    for configmap in (o for o in objs if o["kind"] == "ConfigMap"):
        settings.update(configmap.get("data", {}))
    hpas = {o["spec"]["scaleTargetRef"]["name"]: o for o in objs if o["kind"] == "HorizontalPodAutoscaler"}
    clusters = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Cluster"}
    for service, hpa in hpas.items():
        cluster = clusters.get(f"{service}-db")
        if cluster is None:
            continue
        pool = int(settings.get(f"{service.upper()}_DATABASE__MAX_CONNECTIONS", DEFAULT_POOL.get(service, DEFAULT_POOL_SIZE)))
        limit = int(cluster["spec"].get("postgresql", {}).get("parameters", {}).get("max_connections", 100))
        needed = hpa["spec"]["maxReplicas"] * pool
        if needed > limit - RESERVED_CONNECTIONS:
            problem(overlay, f"{service}: {hpa['spec']['maxReplicas']} replicas x {pool} connections = {needed} > {limit} - {RESERVED_CONNECTIONS} the database allows")


def check_nats_config(overlay: str, objs: list[dict]) -> None:
    for configmap in (o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("nats-config")):
        text = configmap["data"]["nats.conf"]
        if not re.search(r"^\s*sync_interval:\s*always\s*$", text, re.M):
            problem(overlay, "nats.conf: JetStream does not sync every write (sync_interval: always)")
        # nats-server lexes a variable's value as it would a literal: a
        # password like 12345678 or 33k becomes a number and the file is
        # refused. Passwords as docs/OPERATIONS.md makes them (a letter,
        # then hex), several draws of them.
        for _ in range(8):
            env = dict(os.environ)
            for variable in set(re.findall(r"\$([A-Z_]+)", text)):
                env[variable] = "p" + secrets.token_hex(24)
            with tempfile.TemporaryDirectory() as folder:
                path = pathlib.Path(folder, "nats.conf")
                path.write_text(text)
                out = subprocess.run([BIN / "nats-server", "-c", path, "-t"], capture_output=True, text=True, env=env)
            if out.returncode != 0:
                problem(overlay, f"nats.conf refused by nats-server: {(out.stderr or out.stdout).strip()}")
                break


def scan(overlay: str, objs: list[dict]) -> str:
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder, f"{overlay}.yaml")
        path.write_text(yaml.safe_dump_all(objs, sort_keys=False))
        out = subprocess.run(
            [BIN / "checkov", "--file", path, "--framework", "kubernetes", "--compact", "--quiet", "--skip-download"],
            capture_output=True,
            text=True,
            cwd=folder,
            env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_NO_OUTPUT_COLOR": "1"},
        )
    summary = re.search(r"Passed checks: (\d+), Failed checks: (\d+), Skipped checks: (\d+)", out.stdout)
    if out.returncode != 0 or not summary or summary.group(2) != "0":
        problem(overlay, f"policy scan (checkov) failed:\n{out.stdout}\n{out.stderr}")
        return "failed"
    return f"{summary.group(1)} passed, {summary.group(3)} skipped with a reason in place"


def promtool() -> str | None:
    for candidate in (os.environ.get("ASURSO_PROMTOOL"), REPO / ".run/tools/prometheus/usr/bin/promtool"):
        if candidate and pathlib.Path(candidate).is_file():
            return str(candidate)
    return shutil.which("promtool")


# Series that come from outside the code: Prometheus's own and the kubelet's.
EXTERNAL_METRICS = {"up", "container_memory_working_set_bytes", "kube_deployment_status_replicas_available"}
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "rate", "increase", "histogram_quantile",
    "by", "without", "and", "or", "unless", "on", "ignoring", "bool", "offset", "label_replace",
}


def recorded_metrics() -> set[str]:
    """Every metric name the services record, with a histogram's series."""
    names = set()
    for source in (REPO / "services").rglob("*.rs"):
        for found in re.findall(r"metrics::(counter|gauge|histogram)!\(\s*\"([a-z_]+)\"", source.read_text()):
            kind, metric = found
            names.add(metric)
            if kind == "histogram":
                names.update({f"{metric}_bucket", f"{metric}_sum", f"{metric}_count"})
    return names


def metrics_read_by(expr: str) -> set[str]:
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\b(by|without)\s*\([^)]*\)|\"[^\"]*\"", " ", expr)
    words = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", text))
    return {w for w in words if w not in PROMQL_WORDS and ":" not in w and not re.fullmatch(r"\d+[smhd]?|e", w)}


def check_monitoring() -> str:
    tool = promtool()
    if tool is None:
        problems.append("monitoring: promtool not found (make deps unpacks it into .run/tools)")
        return "not checked"
    # The PrometheusRule's spec is a Prometheus rule file.
    rules = yaml.safe_load((MONITORING / "alerts.yaml").read_text())["spec"]
    with tempfile.TemporaryDirectory() as folder:
        pathlib.Path(folder, "alerts.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
        shutil.copy(MONITORING / "alerts.test.yaml", folder)
        for args in (["check", "rules", "alerts.yaml"], ["test", "rules", "alerts.test.yaml"]):
            out = subprocess.run([tool, *args], capture_output=True, text=True, cwd=folder)
            if out.returncode != 0:
                problems.append(f"monitoring: promtool {' '.join(args)}:\n{out.stdout}{out.stderr}")
    known = recorded_metrics() | EXTERNAL_METRICS
    exprs = [(f"alert rule {r.get('alert') or r.get('record')}", r["expr"]) for g in rules["groups"] for r in g["rules"]]
    tested = yaml.safe_load((MONITORING / "alerts.test.yaml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    exercised = {case["alertname"] for test in tested["tests"] for case in test.get("alert_rule_test", [])}
    for alert in sorted(alerts - exercised):
        problems.append(f"monitoring: alert {alert} has no unit test in alerts.test.yaml")
    boards = sorted((MONITORING / "dashboards").glob("*.json"))
    services = {w for w in (K8S / "base").iterdir() if (w / "deployment.yaml").is_file()}
    for service in services:
        if not (MONITORING / "dashboards" / f"{service.name}.json").is_file():
            problems.append(f"monitoring: no dashboard for {service.name}")
    for board in boards:
        try:
            panels = json.loads(board.read_text())["panels"]
        except (ValueError, KeyError) as error:
            problems.append(f"monitoring: {board.name}: {error}")
            continue
        exprs += [(f"{board.name} panel {p['title']!r}", t["expr"]) for p in panels for t in p.get("targets", [])]
    for where, expr in exprs:
        for metric in sorted(metrics_read_by(expr) - known):
            problems.append(f"monitoring: {where} reads {metric}, which no service records")
    return f"{len(alerts)} alerts unit-tested, {len(boards)} dashboards, {len(exprs)} expressions read only recorded metrics"


def check_operations() -> str:
    """The one-off objects an operator applies by hand (k8s/operations):
    the same schema, the same scan."""
    objs = operations()
    validate_schemas("operations", objs)
    for job in (o for o in objs if o["kind"] == "Job"):
        if job["spec"]["template"]["spec"].get("enableServiceLinks") is not False:
            problem("operations", f"{name(job)}: Service links would put unknown settings in its environment")
        for container in job["spec"]["template"]["spec"]["containers"]:
            if not container.get("securityContext", {}).get("readOnlyRootFilesystem"):
                problem("operations", f"{name(job)}: writable root")
    return f"{len(objs)} objects valid; policy scan: {scan('operations', objs)}"


def main() -> int:
    print(f"operations: {check_operations()}")
    for overlay in OVERLAYS:
        objs = build(overlay)
        if not objs:
            continue
        validated = validate_schemas(overlay, objs)
        skipped = sorted({o["kind"] for o in objs if (o["apiVersion"], o["kind"]) in CUSTOM_KINDS})
        check_workloads(overlay, objs)
        check_selectors(overlay, objs)
        check_stateful(overlay, objs)
        check_connections(overlay, objs)
        check_nats_config(overlay, objs)
        scanned = scan(overlay, objs)
        print(
            f"{overlay}: {len(objs)} objects built; {validated} valid for Kubernetes "
            f"{KUBERNETES_VERSION} (custom resources not schema-checked: {', '.join(skipped)}); "
            f"policy scan: {scanned}"
        )
    print(f"monitoring: {check_monitoring()}")
    for line in problems:
        print(f"PROBLEM {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
