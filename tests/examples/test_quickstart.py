"""``examples/quickstart.ipynb`` runs top to bottom against a real stack: the gateway with the
embedded Gemma and MiniLM models (with an API key, as through ``liftoff tunnel``), the
evaluation service, and the retrieval service with the sample Rosetta Stone PDF ingested, all
uvicorn processes; nbmake executes it in a real Jupyter kernel."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import nbformat
import pytest
from nbmake.nb_run import NotebookRun

from tests.servers import REPO, ServerProcess

NOTEBOOK = REPO / "examples" / "quickstart.ipynb"
KEY = "sk-notebook-test-key"
DOCUMENT = REPO / "examples" / "rag" / "docs" / "rosetta-stone.pdf"


@pytest.fixture(scope="module")
def stack(gguf_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    gateway_env = {"LIFTOFF_MODEL": str(gguf_path), "LIFTOFF_API_KEYS": KEY}
    stores = tmp_path_factory.mktemp("stores")
    with (
        ServerProcess("liftoff.api.main:app", gateway_env) as gateway,
        ServerProcess(
            "liftoff.evaluation.main:app", {"LIFTOFF_EVAL_STORE": str(stores / "runs.sqlite3")}
        ) as evaluation,
        ServerProcess(
            "liftoff.retrieval.main:app",
            {
                "LIFTOFF_RAG_STORE": str(stores / "rag.sqlite3"),
                "LIFTOFF_RAG_GATEWAY_URL": gateway.url + "/v1",
                "LIFTOFF_RAG_GATEWAY_API_KEY": KEY,
            },
        ) as retrieval,
    ):
        with httpx.Client(base_url=retrieval.url, timeout=600) as client:
            assert client.post("/v1/collections", json={"name": "samples"}).status_code == 201
            stored = client.put(
                f"/v1/collections/samples/documents/{DOCUMENT.name}",
                content=DOCUMENT.read_bytes(),
                headers={"Content-Type": "application/pdf"},
            )
            assert stored.status_code == 201, stored.text
        yield {
            "LIFTOFF_GATEWAY_URL": gateway.url + "/v1",
            "LIFTOFF_API_KEY": KEY,
            "LIFTOFF_EVALUATION_URL": evaluation.url,
            "LIFTOFF_RAG_URL": retrieval.url + "/v1",
        }


def test_the_committed_notebook_carries_no_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    assert "widgets" not in notebook.metadata  # no saved widget state either


@pytest.mark.model
@pytest.mark.timeout(600)  # a kernel, a dozen generations and METEOR's first WordNet load
def test_the_quickstart_notebook_runs_against_the_stack(
    stack: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in stack.items():
        monkeypatch.setenv(name, value)  # the kernel inherits this process's environment
    result = NotebookRun(NOTEBOOK, default_timeout=300).execute()
    if result.error is not None:
        pytest.fail(f"cell {result.error.failing_cell_index} failed:\n{result.error.summary}")
    outputs = "\n".join(
        output.get("text", "")
        for cell in result.nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.get("output_type") == "stream"
    )
    assert "using: gemma-3-270m-q4_k_m" in outputs
    assert "chunks)" in outputs and "(0 chunks)" not in outputs
    assert "structured: Country(name=" in outputs  # parsed by the SDK into the Pydantic model
    assert "cited: rosetta-stone.pdf (chunk " in outputs
    assert "retrieval skipped" not in outputs
    for metric in ("bleu", "chrf", "rougeL", "meteor"):
        assert f"{metric:>7}: " in outputs
    assert "scoring skipped" not in outputs
    assert KEY not in json.dumps(result.nb)  # the key is read from the environment, never shown
