"""The deployment files are checked offline, as CI can (issue 17 item 11): the compose file against the
compose-spec schema, the rendered kustomization (`kubectl kustomize`) and the import Job against the Kubernetes
API schemas (kubernetes-validate, strict: an unknown or misplaced field fails), the image workflow against
GitHub's workflow schema, the Dockerfile with hadolint; and what ties them together (one place for the queue
URL, region and image tag; the review app's own service account; the shared install script)."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES_VERSION = "1.30.0"  # the oldest release still supported by the major clouds when this was written
KEDA_KINDS = {"ScaledObject", "TriggerAuthentication"}  # KEDA's CRDs: no schema ships offline; checked below


def vendored_schema(name: str) -> dict[str, Any]:
    """A JSON schema check-jsonschema ships (compose-spec, github-workflows): no network needed."""
    text = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath(f"{name}.json").read_text("utf-8")
    return dict(json.loads(text))


def validate(document: Any, schema: dict[str, Any]) -> None:
    validator = jsonschema.validators.validator_for(schema)(schema)
    problems = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not problems, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in problems)


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (it renders the kustomization offline)")
    out = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / "k8s")], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_compose_file_follows_the_compose_spec() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    validate(compose, vendored_schema("compose-spec"))
    services = compose["services"]
    for name in ("relay", "worker", "review"):  # a worker that finds the database down at start exits 3
        assert services[name]["restart"] == "unless-stopped", name
    env = services["worker"]["environment"]
    assert env["AWS_REGION"] and "AWS_DEFAULT_REGION" not in env  # one region variable, read by worker.aws


def test_kubernetes_manifests_follow_the_api_schemas(rendered: list[dict[str, Any]]) -> None:
    import kubernetes_validate

    job = yaml.safe_load((DEPLOY / "k8s" / "jobs" / "parcels-import.yaml").read_text(encoding="utf-8"))
    checked = []
    for doc in [*rendered, job]:
        if doc["kind"] in KEDA_KINDS:
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        checked.append(doc["kind"])
    assert {"Deployment", "Service", "ServiceAccount", "ConfigMap", "Ingress", "Job"} <= set(checked)


def test_queue_url_region_and_image_are_set_in_one_place(rendered: list[dict[str, Any]]) -> None:
    config = by_kind(rendered, "ConfigMap")["land-intake"]["data"]
    [trigger] = by_kind(rendered, "ScaledObject")["land-intake-worker"]["spec"]["triggers"]
    assert trigger["metadata"]["queueURL"] == config["INTAKE_QUEUE_URL"]
    assert trigger["metadata"]["awsRegion"] == config["AWS_REGION"]
    keda_source = (DEPLOY / "k8s" / "keda.yaml").read_text(encoding="utf-8")
    assert config["INTAKE_QUEUE_URL"] not in keda_source and config["AWS_REGION"] not in keda_source
    scaled = by_kind(rendered, "ScaledObject")["land-intake-worker"]["spec"]["scaleTargetRef"]["name"]
    assert scaled in by_kind(rendered, "Deployment")
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text(encoding="utf-8"))
    [image] = kustomization["images"]
    expected = f"{image['name']}:{image['newTag']}"
    containers = [c for d in by_kind(rendered, "Deployment").values() for c in d["spec"]["template"]["spec"]["containers"]]
    assert {c["image"] for c in containers} == {expected}


def test_review_app_has_its_own_identity_and_https(rendered: list[dict[str, Any]]) -> None:
    deployments = by_kind(rendered, "Deployment")
    accounts = by_kind(rendered, "ServiceAccount")
    review = deployments["land-intake-review"]["spec"]["template"]["spec"]
    worker = deployments["land-intake-worker"]["spec"]["template"]["spec"]
    assert review["serviceAccountName"] != worker["serviceAccountName"]
    roles = {accounts[s["serviceAccountName"]]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] for s in (review, worker)}
    assert len(roles) == 2
    [container] = review["containers"]
    assert {"name": "INTAKE_SECURE_COOKIES", "value": "true"} in container["env"]
    assert {"secretRef": {"name": "land-intake-admin", "optional": True}} in container["envFrom"]  # the first admin
    assert not any(e.get("secretRef", {}).get("name") == "land-intake-admin" for e in worker["containers"][0]["envFrom"])
    ingress = by_kind(rendered, "Ingress")["land-intake-review"]["spec"]
    [rule] = ingress["rules"]
    assert ingress["tls"][0]["hosts"] == [rule["host"]] and ingress["tls"][0]["secretName"]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    service = by_kind(rendered, "Service")[backend["name"]]
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


def test_image_workflow_follows_github_schema_and_pushes_outside_pull_requests() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "image.yml").read_text(encoding="utf-8"))
    workflow["on"] = workflow.pop(True)  # YAML 1.1 reads the key `on` as true; GitHub reads it as "on"
    validate(workflow, vendored_schema("github-workflows"))
    steps = workflow["jobs"]["image"]["steps"]
    pushes = [s for s in steps if s.get("with", {}).get("push")]
    assert pushes and all(s["if"] == "github.event_name != 'pull_request'" for s in pushes)


def test_dockerfile_passes_hadolint_and_installs_through_the_shared_script() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "RUN bash scripts/install.sh --runtime" in dockerfile  # the same install path as CI and the README
    assert "bash scripts/install.sh" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    hadolint = shutil.which("hadolint") or str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (the dev extras install it)")
    proc = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
