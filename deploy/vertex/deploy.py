"""Register the gateway image as a Vertex AI custom-container model and deploy it to an endpoint.

    python deploy/vertex/deploy.py --project my-project --region us-central1 \\
        --image us-central1-docker.pkg.dev/my-project/liftoff/liftoff-api:sha-1234 \\
        --backend openai --openai-base-url https://my-vllm.example.com/v1 \\
        --model meta-llama/Llama-3.1-8B-Instruct

    python deploy/vertex/deploy.py --project my-project --region us-central1 \\
        --image ... --backend gemini --model gemini-2.5-flash \\
        --service-account liftoff-gateway@my-project.iam.gserviceaccount.com

    python deploy/vertex/deploy.py ... --dry-run      # print the gcloud commands only

Vertex AI sends ``AIP_HTTP_PORT``, ``AIP_HEALTH_ROUTE`` and ``AIP_PREDICT_ROUTE`` to the
container, and the gateway honours all three; the routes registered here are the gateway's
defaults (``/health``, ``/predict``). Vertex's IAM gates the endpoint, so the gateway's own
keys are switched off (``LIFTOFF_AUTH=off``). The model behind the gateway is any
OpenAI-compatible server (``--backend openai``), an Ollama reachable from Vertex
(``--backend ollama --ollama-host``), or Gemini on Vertex AI itself (``--backend gemini``:
the gateway calls Gemini with the deployed model's service account, which needs
``roles/aiplatform.user``; no key is stored anywhere). Runs ``gcloud`` (already
authenticated); standard library only.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from collections.abc import Sequence

HEALTH_ROUTE = "/health"  # liftoff.api.config.Settings.vertex_health_route
PREDICT_ROUTE = "/predict"  # liftoff.api.config.Settings.vertex_predict_route
PORT = 8080


def container_env(args: argparse.Namespace) -> dict[str, str]:
    env = {"LIFTOFF_BACKEND": args.backend, "LIFTOFF_MODEL": args.model, "LIFTOFF_AUTH": "off"}
    if args.backend == "openai":
        env["OPENAI_BASE_URL"] = args.openai_base_url
    elif args.backend == "gemini":
        env["GOOGLE_GENAI_USE_VERTEXAI"] = "true"
        env["GOOGLE_CLOUD_PROJECT"] = args.project
        env["GOOGLE_CLOUD_LOCATION"] = args.gemini_location
        if args.embedding_model:
            env["LIFTOFF_EMBEDDING_MODEL"] = args.embedding_model
    else:
        env["OLLAMA_HOST"] = args.ollama_host
    return env


def upload_command(args: argparse.Namespace) -> list[str]:
    # "^;^" switches gcloud's list separator, so values may contain commas.
    env = ";".join(f"{key}={value}" for key, value in container_env(args).items())
    return [
        "gcloud", "ai", "models", "upload",
        f"--project={args.project}", f"--region={args.region}",
        f"--display-name={args.name}",
        f"--container-image-uri={args.image}",
        f"--container-ports={PORT}",
        f"--container-health-route={HEALTH_ROUTE}",
        f"--container-predict-route={PREDICT_ROUTE}",
        f"--container-env-vars=^;^{env}",
    ]  # fmt: skip


def find_command(args: argparse.Namespace, kind: str) -> list[str]:
    """The newest model / endpoint with our display name, as its resource id."""
    return [
        "gcloud", "ai", kind, "list",
        f"--project={args.project}", f"--region={args.region}",
        f"--filter=displayName={args.name}", "--sort-by=~createTime", "--limit=1",
        "--format=value(name)",
    ]  # fmt: skip


def create_endpoint_command(args: argparse.Namespace) -> list[str]:
    return [
        "gcloud", "ai", "endpoints", "create",
        f"--project={args.project}", f"--region={args.region}", f"--display-name={args.name}",
    ]  # fmt: skip


def deploy_command(args: argparse.Namespace, endpoint: str, model: str) -> list[str]:
    return [
        "gcloud", "ai", "endpoints", "deploy-model", endpoint,
        f"--project={args.project}", f"--region={args.region}",
        f"--model={model}", f"--display-name={args.name}",
        f"--machine-type={args.machine_type}",
        f"--min-replica-count={args.min_replicas}", f"--max-replica-count={args.max_replicas}",
        "--traffic-split=0=100",
        *([f"--service-account={args.service_account}"] if args.service_account else []),
    ]  # fmt: skip


def run(command: list[str], dry_run: bool) -> str:
    print("+ " + shlex.join(command), file=sys.stderr)
    if dry_run:
        return f"<{command[2]}-id>"
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    return result.stdout.strip().rsplit("/", 1)[-1]


def deploy(args: argparse.Namespace) -> None:
    run(upload_command(args), args.dry_run)
    model = run(find_command(args, "models"), args.dry_run)
    endpoint = run(find_command(args, "endpoints"), args.dry_run)
    if not endpoint:
        run(create_endpoint_command(args), args.dry_run)
        endpoint = run(find_command(args, "endpoints"), args.dry_run)
    run(deploy_command(args, endpoint, model), args.dry_run)
    summary = {"endpoint": endpoint, "model": model, "predict_route": PREDICT_ROUTE}
    print(json.dumps(summary))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--image", required=True, help="the liftoff-api image in Artifact Registry")
    parser.add_argument("--name", default="liftoff-api", help="model and endpoint display name")
    parser.add_argument("--backend", choices=["openai", "ollama", "gemini"], default="openai")
    parser.add_argument("--model", required=True, help="LIFTOFF_MODEL for the gateway")
    parser.add_argument("--openai-base-url", help="OpenAI-compatible server (--backend openai)")
    parser.add_argument("--ollama-host", help="Ollama URL reachable from Vertex (--backend ollama)")
    parser.add_argument(
        "--gemini-location", default="global", help="Gemini's Vertex AI location (--backend gemini)"
    )
    parser.add_argument("--embedding-model", help="LIFTOFF_EMBEDDING_MODEL (--backend gemini)")
    parser.add_argument(
        "--service-account", help="the identity the container runs as (and calls Gemini with)"
    )
    parser.add_argument("--machine-type", default="n1-standard-4")
    parser.add_argument("--min-replicas", type=int, default=1)
    parser.add_argument("--max-replicas", type=int, default=2)
    parser.add_argument("--dry-run", action="store_true", help="print the gcloud commands only")
    args = parser.parse_args(argv)
    if args.backend == "openai" and not args.openai_base_url:
        parser.error("--backend openai needs --openai-base-url")
    if args.backend == "ollama" and not args.ollama_host:
        parser.error("--backend ollama needs --ollama-host")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        deploy(args)
    except subprocess.CalledProcessError as exc:
        print(f"error: {shlex.join(exc.cmd)} failed:\n{exc.stderr}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
