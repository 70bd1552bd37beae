"""The HTML report: every value escaped, the distributions and the worst examples right, and
a size that does not grow with the run."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from liftoff.evaluation.errors import InvalidInput
from liftoff.evaluation.metrics import Citation, Passage
from liftoff.evaluation.reports.html import FAILED_SHOWN, load_report, render_report
from liftoff.evaluation.runs.compare import compare
from liftoff.evaluation.runs.dataset import Example, Message
from liftoff.evaluation.runs.executor import RunExecutor
from liftoff.evaluation.runs.gates import Check
from liftoff.evaluation.runs.model import Generation, LoadedRun
from liftoff.evaluation.runs.store import RunStore
from tests.evaluation.runs.stored import (
    SPEC,
    completed_retrieval_run,
    completed_run,
    examples,
    loaded,
    score_here,
)

ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "table", "tr",
                "th", "td", "span", "div", "strong", "ol", "li", "svg", "rect", "text"}  # fmt: skip
HOSTILE = {
    "name": "<script>alert('name')</script>",
    "prompt": "</div><script>alert('prompt')</script>",
    "message": "<iframe src=//evil.example></iframe>",
    "reference": '"><svg onload=alert(1)>',
    "other reference": "<style>body{display:none}</style>",
    "prediction": '<a href="javascript:alert(1)">click</a>',
    "id": "<img src=x onerror=alert(1)>",
    "check": "<b>gate</b> & more",
    "baseline": "<script>alert('baseline')</script>",
}


class Page(HTMLParser):
    """Tags, attributes and text of a page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.texts: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += attrs

    def handle_data(self, data: str) -> None:
        self.texts.append(data)

    @property
    def text(self) -> str:
        return "".join(self.texts)


async def test_every_value_a_run_carries_reaches_the_page_as_text(store: RunStore) -> None:
    rows = [
        Example(id=HOSTILE["id"], prompt=HOSTILE["prompt"],
                references=(HOSTILE["reference"], HOSTILE["other reference"])),
        Example(id="chat", messages=(Message(role="user", content=HOSTILE["message"]),),
                references=("hello",)),
    ]  # fmt: skip
    spec = SPEC.model_copy(update={"name": HOSTILE["name"], "dataset": HOSTILE["name"]})
    run = await store.create_run(spec, rows, origin="test")
    await store.record_output(run.id, rows[0].id, Generation(prediction=HOSTILE["prediction"],
                                                             latency_s=0.1))  # fmt: skip
    await store.record_output(run.id, "chat", Generation(prediction="hi", latency_s=0.1))
    run = await RunExecutor(store, score_here).score(run.id)
    candidate = await loaded(store, run.id)
    baseline = LoadedRun(run=run.model_copy(update={"id": HOSTILE["baseline"]}),
                         examples=candidate.examples)  # fmt: skip
    check = Check(kind="gate", name=HOSTILE["check"], passed=False, message=HOSTILE["check"],
                  metric="bleu")  # fmt: skip
    report = await load_report(store, run.id, worst=5, checks=[check],
                               comparison=compare(baseline, candidate))  # fmt: skip
    html = render_report(report)
    page = Page(html)
    assert set(page.tags) <= ALLOWED_TAGS, set(page.tags) - ALLOWED_TAGS
    assert not [name for name, _ in page.attributes if name.startswith("on") or name in
                ("src", "href", "style")]  # fmt: skip
    for value in HOSTILE.values():
        assert value in page.text, value  # shown, as text
    assert "<script>" not in html and 'href="javascript' not in html
    assert f"[user] {HOSTILE['message']}" in page.text


async def test_distributions_count_every_example_and_the_worst_come_first(
    store: RunStore,
) -> None:
    references = [["the cat sat on the mat"]] * 6
    predictions = ["the cat sat on the mat", "a dog", "the cat", "the cat sat on a mat",
                   "mat", "the cat sat on the mat"]  # fmt: skip
    run = await completed_run(store, examples(references), predictions, ["bleu", "rougeL"])
    page = Page(render_report(await load_report(store, run.id, worst=2, metric="rougeL")))
    assert page.tags.count("svg") == 2  # one histogram per metric
    assert page.text.count("n=6") == 2
    section = page.text.split("Worst 2 examples by rougeL", 1)[1]
    assert section.index("ex1") < section.index("ex4")  # "a dog", then "mat"
    assert "ex0" not in section.split("Failed")[0]
    bars = [text for text in page.texts if " example(s) in [" in text]  # each bar's <title>
    assert len(bars) == 20 and sum(int(bar.split()[0]) for bar in bars[:10]) == 6
    # rougeL: 0 (a dog), 0.29 (mat), 0.5 (the cat), 0.83, and 1.0 twice (in the last bin)
    assert [int(bar.split()[0]) for bar in bars[10:]] == [1, 0, 1, 0, 0, 1, 0, 0, 1, 2]
    assert (bars[18], bars[19]) == ("1 example(s) in [0.8, 0.9)", "2 example(s) in [0.9, 1]")


async def test_a_run_not_scored_yet_shows_its_failed_examples_up_to_a_bound(
    store: RunStore,
) -> None:
    rows = examples([["x"]] * (FAILED_SHOWN + 50))
    run = await store.create_run(SPEC, rows, origin="test")
    for row in rows:
        await store.record_failure(run.id, row.id, "<marquee>the target answered 500</marquee>")
    html = render_report(await load_report(store, run.id))
    page = Page(html)
    assert "Not scored yet." in page.text and set(page.tags) <= ALLOWED_TAGS - {"svg"}
    assert f"The first {FAILED_SHOWN} of {FAILED_SHOWN + 50} failed examples." in page.text
    assert page.text.count("<marquee>the target answered 500</marquee>") == FAILED_SHOWN


async def test_ranking_by_a_metric_the_run_was_not_scored_with_is_refused(
    store: RunStore,
) -> None:
    run = await completed_run(store, examples([["a"]]), ["a"], ["bleu"])
    with pytest.raises(InvalidInput, match=f"run {run.id} has no meteor scores; it has bleu"):
        await load_report(store, run.id, metric="meteor")


async def test_a_retrieval_run_shows_what_each_answer_cited_and_what_answers_it(
    store: RunStore,
) -> None:
    run = await completed_retrieval_run(store, [1, None, 2, "none"])
    html = render_report(await load_report(store, run.id, worst=4, metric="hit_rate@1"))
    page = Page(html)
    assert set(page.tags) <= ALLOWED_TAGS
    scores = page.text.split("Checks" if "Checks" in page.text else "Score distributions")[0]
    assert "hit_rate@1" in scores and "k:1|match:id,words|agg:mean" in scores
    worst = page.text.split("Worst 3 examples by hit_rate@1", 1)[1]  # the 3 it applies to
    assert worst.index("q1") < worst.index("q2") < worst.index("q0")
    q0 = worst[worst.index("q0") :]
    assert "cited:gold.md#0 (0.900) answersother-2.md#0 (0.800)" in q0
    assert "answered by: gold.md" in q0
    q1 = worst[worst.index("q1") : worst.index("q2")]
    assert "answers" not in q1.replace("answered by", "")  # nothing it cited answers it
    assert "mrr@3 0, abstention" not in q1  # no abstention score where it does not apply
    unanswerable = render_report(await load_report(store, run.id, worst=1, metric="abstention"))
    assert "unanswerable: nothing answers it" in Page(unanswerable).text
    assert "cited nothing" in Page(unanswerable).text


async def test_citations_reach_the_page_as_text(store: RunStore) -> None:
    row = Example(id="q", prompt="x", references=("y",), passages=(Passage(text=HOSTILE["id"]),))
    run = await store.create_run(SPEC.model_copy(update={"metrics": ("mrr",)}), [row],
                                 origin="test")  # fmt: skip
    cited = (Citation(source=HOSTILE["prompt"], chunk=0, text=f"{HOSTILE['id']} img src x"),)
    await store.record_output(run.id, "q", Generation(prediction="a", latency_s=0.1,
                                                      citations=cited))  # fmt: skip
    run = await RunExecutor(store, score_here).score(run.id)
    html = render_report(await load_report(store, run.id))
    page = Page(html)
    assert set(page.tags) <= ALLOWED_TAGS and "<script>" not in html and "<img" not in html
    assert f"{HOSTILE['prompt']}#0 (" not in page.text  # no score was given: none shown
    assert f"{HOSTILE['prompt']}#0 answers" in page.text
    assert f"answered by: “{HOSTILE['id']}”" in page.text
