"""Dataset rows and prediction/reference files: what is accepted, and errors naming the line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from liftoff.evaluation.metrics import Passage
from liftoff.evaluation.runs.dataset import Message, parse_jsonl, parse_rows, read_dataset
from liftoff.evaluation.runs.errors import DatasetError
from liftoff.evaluation.runs.files import read_pairs


def test_rows_with_prompts_messages_ids_and_reference_lists_are_parsed() -> None:
    text = "\n".join([
        json.dumps({"id": "a", "prompt": "2+2=", "references": "4"}),
        "",
        json.dumps({"messages": [{"role": "user", "content": "hi"}], "references": ["a", "b"],
                    "metadata": {"topic": "greeting"}}),
        json.dumps({"id": 7, "prompt": "x", "references": ["y"]}),
    ])  # fmt: skip
    examples = parse_jsonl(text)
    assert [e.id for e in examples] == ["a", "3", "7"]  # the line number when no id
    assert examples[0].prompt == "2+2=" and examples[0].references == ("4",)
    assert examples[1].messages == (Message(role="user", content="hi"),)
    assert examples[1].references == ("a", "b")
    assert examples[1].metadata == {"topic": "greeting"}


def test_passages_are_ids_and_texts_and_an_empty_list_marks_an_unanswerable_row() -> None:
    rows = [
        {"id": "q", "prompt": "x", "references": "y",
         "passages": ["guide/setup.md#2", {"text": "up to two thousand eggs"}, {"id": "u"}]},
        {"id": "none", "prompt": "x", "references": "I don't know.", "passages": []},
        {"id": "plain", "prompt": "x", "references": "y", "passages": None},
    ]  # fmt: skip
    examples = parse_rows(rows)
    assert examples[0].passages == (
        Passage(id="guide/setup.md#2"), Passage(text="up to two thousand eggs"), Passage(id="u"),
    )  # fmt: skip
    assert examples[1].passages == () and examples[2].passages is None
    # The normalized row keeps what was given, in one shape per passage.
    assert examples[0].model_dump(mode="json")["passages"] == [
        {"id": "guide/setup.md#2"}, {"text": "up to two thousand eggs"}, {"id": "u"},
    ]  # fmt: skip
    assert examples[1].model_dump(mode="json")["passages"] == []
    assert "passages" not in examples[2].model_dump(mode="json")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"prompt": "x", "references": ["y"]}', "{bad json"], r"^line 2: not valid JSON"),
        (['{"prompt": "x", "references": "y", "passages": "a.md"}'],
         "line 1: passages must be a list of ids .strings. and {'text': ...} objects, got a "
         "string"),
        (['{"prompt": "x", "references": "y", "passages": ["a", {"text": "..."}]}'],
         r"line 1: passages\[1\]: text has no letters or digits to match"),
        (['{"prompt": "x", "references": "y", "passages": [{"source": "a"}]}'],
         r"line 1: passages\[0\].source: Extra inputs are not permitted"),
        (['{"prompt": "x", "references": "y", "passages": [{"id": "a", "text": "b"}]}'],
         r"passages\[0\]: give an id .a string. or \{'text': \.\.\.\}, not both"),
        (['{"prompt": "x", "references": "y", "passages": [""]}'],
         r"passages\[0\].id: String should have at least 1 character"),
        ([json.dumps({"prompt": "x", "references": "y", "passages": ["a"] * 101})],
         "line 1: passages has 101 entries; at most 100"),
        (['["a"]'], "^line 1: expected a JSON object, got a list"),
        (['{"references": ["y"]}'], "line 1: give exactly one of 'prompt'"),
        (['{"prompt": "x", "messages": [], "references": ["y"]}'], "exactly one of"),
        (['{"prompt": 3, "references": ["y"]}'], "line 1: prompt must be a string, got a number"),
        (['{"prompt": "x"}'], "line 1: references is required"),
        (['{"prompt": "x", "references": []}'], "got an empty list"),
        (['{"prompt": "x", "references": ["a", 1]}'], r"references\[1\] must be a string"),
        (['{"prompt": "x", "reference": "y"}'], "line 1: unknown field 'reference'"),
        (['{"messages": [{"role": "robot", "content": "x"}], "references": ["y"]}'],
         r"messages\[0\] must be"),
        (['{"id": "a", "prompt": "x", "references": "y"}'] * 2,
         "line 2: id 'a' repeats the id of line 1"),
        (['{"id": true, "prompt": "x", "references": "y"}'], "id must be a string or an integer"),
        (["", "  "], "the dataset is empty"),
    ],
)  # fmt: skip
def test_bad_rows_are_refused_with_their_line_number(lines: list[str], message: str) -> None:
    with pytest.raises(DatasetError, match=message) as caught:
        parse_jsonl("\n".join(lines))
    assert caught.value.param == "dataset"


def test_row_lists_name_the_row_and_respect_the_size_limit() -> None:
    with pytest.raises(DatasetError, match=r"^dataset\[1\]: prompt must be a string"):
        parse_rows([{"prompt": "x", "references": "y"}, {"prompt": None, "references": "y"}])
    rows: list[Any] = [{"prompt": "x", "references": "y"}] * 3
    with pytest.raises(DatasetError, match="more than 2 examples"):
        parse_rows(rows, max_examples=2)


def test_a_dataset_file_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text('{"prompt": "x", "references": "y"}\nnot json\n')
    with pytest.raises(DatasetError, match=rf"^{path}: line 2: not valid JSON"):
        read_dataset(path)


def test_prediction_and_reference_files_pair_up_by_line(tmp_path: Path) -> None:
    predictions, references = tmp_path / "p.jsonl", tmp_path / "r.jsonl"
    predictions.write_text('"a cat"\n{"id": 2, "prediction": "a dog"}\n')
    references.write_text('["the cat", "a cat"]\n{"id": "2", "references": "the dog"}\n')
    assert read_pairs(predictions, references) == (
        ["a cat", "a dog"],
        [["the cat", "a cat"], ["the dog"]],
    )
    references.write_text('"the cat"\n{"id": "3", "references": "the dog"}\n')
    with pytest.raises(DatasetError, match=r"p.jsonl:2 has id '2' but .*r.jsonl:2 has id '3'"):
        read_pairs(predictions, references)
    references.write_text('"the cat"\n')
    with pytest.raises(DatasetError, match=r"has 2 predictions but .* has 1 references"):
        read_pairs(predictions, references)
    predictions.write_text('"a"\n5\n')
    references.write_text('"a"\n"b"\n')
    with pytest.raises(DatasetError, match=r"p.jsonl:2: a prediction must be a string, got int"):
        read_pairs(predictions, references)
