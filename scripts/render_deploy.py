"""Render a kustomize tree with the images (and model) of one deploy, as the workflows do.

    python scripts/render_deploy.py k8s/overlays/gke-gpu \\
        --image liftoff-api=REGISTRY/liftoff-api:sha-1234 \\
        --image liftoff-evaluation=REGISTRY/liftoff-evaluation:sha-1234 > manifests.yaml

    python scripts/render_deploy.py k8s/cloudrun --cloud-run-revision liftoff-1234 \\
        --keep-traffic liftoff-0999 --service-account run@PROJECT.iam.gserviceaccount.com \\
        --image liftoff-api=... --image liftoff-ollama=... > service.yaml

The tree itself is never edited: a throw-away kustomization under ``build/`` layers the
images and patches on top of it, and ``kubectl kustomize`` renders that. For Cloud Run the
new revision gets a name and the ``candidate`` tag with 0% of the traffic while
``--keep-traffic`` keeps 100% on the serving revision; the smoke test then decides.
Without ``--model`` the tree's own model stays (each overlay has its own).

``--outputs FILE`` appends what the smoke test needs to know about the render to FILE in the
``key=value`` lines of ``$GITHUB_OUTPUT``: ``model=<LIFTOFF_MODEL the gateway serves>`` and
``gpu=true`` when a container asks for ``nvidia.com/gpu`` (else ``gpu=false``). Standard
library only, so a CI runner needs nothing but Python and kubectl.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CANDIDATE_TAG = "candidate"
# Where the Cloud Run service keeps the gateway's model (checked by a JSON-patch `test` op,
# so a reordered service.yaml fails the render instead of patching the wrong variable).
CLOUD_RUN_MODEL_ENV = "/spec/template/spec/containers/0/env/2"
# LIFTOFF_MODEL as kustomize writes it: a ConfigMap data entry, or a container env entry.
_MODEL_PATTERNS = (
    re.compile(r"^\s+LIFTOFF_MODEL: (.+)$", re.MULTILINE),
    re.compile(r"^\s*- name: LIFTOFF_MODEL\n\s+value: (.+)$", re.MULTILINE),
)
_GPU_REQUEST = re.compile(r"^\s+nvidia\.com/gpu: \"?[1-9]", re.MULTILINE)


def image_entry(spec: str) -> dict[str, str]:
    """``name=registry/repo:tag`` or ``name=registry/repo@sha256:...`` as a kustomize image."""
    name, sep, ref = spec.partition("=")
    if not sep or not name or not ref:
        raise ValueError(f"--image wants NAME=REFERENCE, got {spec!r}")
    if "@" in ref:
        new_name, _, digest = ref.partition("@")
        return {"name": name, "newName": new_name, "digest": digest}
    repo, colon, tag = ref.rpartition(":")
    if colon and "/" not in tag:
        return {"name": name, "newName": repo, "newTag": tag}
    return {"name": name, "newName": ref}


def cloud_run_patch(
    revision: str, keep_traffic: str | None, service_account: str | None, model: str | None
) -> list[dict[str, Any]]:
    """JSON-patch operations naming the new revision and splitting traffic for the smoke test."""
    ops: list[dict[str, Any]] = [
        {"op": "add", "path": "/spec/template/metadata/name", "value": revision}
    ]
    if service_account:
        path = "/spec/template/spec/serviceAccountName"
        ops.append({"op": "add", "path": path, "value": service_account})
    if model:
        ops += [
            {"op": "test", "path": f"{CLOUD_RUN_MODEL_ENV}/name", "value": "LIFTOFF_MODEL"},
            {"op": "replace", "path": f"{CLOUD_RUN_MODEL_ENV}/value", "value": model},
        ]
    candidate = {"revisionName": revision, "tag": CANDIDATE_TAG}
    if keep_traffic:
        traffic = [{"revisionName": keep_traffic, "percent": 100}, {**candidate, "percent": 0}]
    else:  # the first deploy: nothing serves yet, so nothing to protect
        traffic = [{**candidate, "percent": 100}]
    ops.append({"op": "add", "path": "/spec/traffic", "value": traffic})
    return ops


def kustomization(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """The throw-away kustomization layered over ``args.tree``."""
    tree = Path(args.tree).resolve()
    result: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(tree, workdir)],
        "images": [image_entry(spec) for spec in args.image],
    }
    if args.cloud_run_revision:
        ops = cloud_run_patch(
            args.cloud_run_revision, args.keep_traffic, args.service_account, args.model
        )
        target = {"group": "serving.knative.dev", "kind": "Service"}
        result["patches"] = [{"target": target, "patch": json.dumps(ops)}]
    elif args.model:
        literals = [f"LIFTOFF_MODEL={args.model}"]
        result["configMapGenerator"] = [
            {"name": "liftoff-api", "behavior": "merge", "literals": literals}
        ]
    return result


def _scalar(text: str) -> str:
    """A YAML scalar as kustomize writes one: plain, "double-quoted" or 'single-quoted'."""
    text = text.strip()
    if text.startswith('"'):
        return str(json.loads(text))
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    return text


def summary(rendered: str) -> dict[str, Any]:
    """The served model and whether a GPU is requested; ``ValueError`` unless exactly one
    LIFTOFF_MODEL value is set in the render."""
    models = {_scalar(m) for pattern in _MODEL_PATTERNS for m in pattern.findall(rendered)}
    if len(models) != 1:
        raise ValueError(f"expected one LIFTOFF_MODEL in the render, found {sorted(models)}")
    return {"model": models.pop(), "gpu": bool(_GPU_REQUEST.search(rendered))}


def render(args: argparse.Namespace) -> str:
    kubectl = shutil.which(args.kubectl) or args.kubectl
    build = REPO / "build"
    build.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="render-", dir=build) as tmp:
        workdir = Path(tmp)
        # JSON is YAML: kustomize reads this file as it is.
        text = json.dumps(kustomization(args, workdir), indent=2)
        (workdir / "kustomization.yaml").write_text(text, encoding="utf-8")
        result = subprocess.run(
            [kubectl, "kustomize", str(workdir)], capture_output=True, text=True, check=False
        )
    if result.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {args.tree} failed:\n{result.stderr.strip()}")
    return result.stdout


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tree", help="kustomize directory, e.g. k8s/overlays/gke-gpu")
    parser.add_argument("--image", action="append", default=[], metavar="NAME=REFERENCE")
    parser.add_argument("--model", help="Ollama tag the gateway serves (LIFTOFF_MODEL)")
    parser.add_argument("--cloud-run-revision", metavar="NAME", help="name the new revision")
    parser.add_argument("--keep-traffic", metavar="REVISION", help="revision keeping 100%%")
    parser.add_argument("--service-account", metavar="EMAIL", help="Cloud Run runtime identity")
    parser.add_argument(
        "--outputs", metavar="FILE", help="append model=... and gpu=... lines (GITHUB_OUTPUT)"
    )
    parser.add_argument("--kubectl", default=os.environ.get("KUBECTL", "kubectl"))
    args = parser.parse_args(argv)
    if (args.keep_traffic or args.service_account) and not args.cloud_run_revision:
        parser.error("--keep-traffic and --service-account need --cloud-run-revision")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        rendered = render(args)
        if args.outputs:
            facts = summary(rendered)
            with Path(args.outputs).open("a", encoding="utf-8") as outputs:
                outputs.write(f"model={facts['model']}\ngpu={str(facts['gpu']).lower()}\n")
        sys.stdout.write(rendered)
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
