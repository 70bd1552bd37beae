"""The question-answering chain of the reference notebook, made explicit:

1. **Rewrite**: a follow-up question ("and how long does it take?") becomes a standalone
   search query, written by the chat model from the conversation. Only when there is a
   conversation; a first question is its own query. A small model can write a poor query,
   so the chunks are retrieved for both the rewrite and the question itself and merged
   (each chunk keeps its best score).
2. **Retrieve** the ``k`` nearest chunks; those below the collection's ``min_score`` (cosine
   similarity) do not count.
3. **Answer**: nothing relevant means a fixed "I don't know" without calling the model;
   otherwise the gateway answers from the numbered chunks, told to say it does not know when
   they do not hold the answer. Every answer carries its citations: the chunks it was given.

``prepare`` does 1 and 2 and returns the messages for 3; the route streams or collects the
answer, so errors before the first byte keep their HTTP status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from liftoff.retrieval.errors import InvalidRequest, NotFound
from liftoff.retrieval.protocol import ChatCompletionRequest, Message
from liftoff.retrieval.records import Collection, Hit
from liftoff.retrieval.service import Retrieval

MODEL_PREFIX = "rag:"

ANSWER_PROMPT = (
    "Answer the question using only the numbered context passages below. If they do not "
    'contain the answer, say "I don\'t know." Cite the passages you used by their number, '
    "like [1]. Keep the answer short.\n\nContext:\n{context}"
)
REWRITE_PROMPT = (
    "Rewrite the last question of this conversation as one standalone search query that "
    "names everything it refers to. Answer with the query only.\n\n{conversation}\n\n"
    "Last question: {question}\nSearch query:"
)
REWRITE_MAX_TOKENS = 48
DONT_KNOW = "I don't know."


@dataclass(frozen=True)
class Prepared:
    collection: Collection
    search_query: str
    hits: list[Hit]  # relevant ones only, best first
    best_score: float | None
    min_score: float
    messages: list[dict[str, str]] | None  # None: nothing relevant, answer DONT_KNOW

    @property
    def citations(self) -> list[dict[str, Any]]:
        return [citation(number, hit) for number, hit in enumerate(self.hits, start=1)]

    def dont_know(self) -> str:
        best = "nothing" if self.best_score is None else f"best match {self.best_score:.2f}"
        return (
            f"{DONT_KNOW} Nothing in collection {self.collection.name!r} is relevant enough to "
            f"the question ({best}; at least {self.min_score:.2f} is needed)."
        )


def citation(number: int, hit: Hit) -> dict[str, Any]:
    """A citation as it appears in responses: ``index`` is the passage number the model saw
    (``[1]``), ``chunk`` the chunk's position in its document, ``score`` cosine similarity."""
    return {
        "index": number,
        "source": hit.source,
        "chunk": hit.chunk,
        "start": hit.start,
        "score": round(hit.score, 4),
        "text": hit.text,
    }


def collection_of(model: str) -> str:
    """``rag:docs`` → ``docs``; other names are not this service's models (404)."""
    if not model.startswith(MODEL_PREFIX) or len(model) == len(MODEL_PREFIX):
        raise NotFound(
            f"model {model!r} is not served here: this service serves rag:<collection> "
            "(GET /v1/models lists them)",
            param="model",
        )
    return model[len(MODEL_PREFIX) :]


async def prepare(retrieval: Retrieval, request: ChatCompletionRequest) -> Prepared:
    """Steps 1 and 2; raises 400 (empty question), 404 (collection), 409, gateway errors."""
    name = collection_of(request.model)
    *history, last = request.messages
    if last.plain_role != "user":
        raise InvalidRequest("the last message must be the user's question", param="messages")
    question = retrieval.check_query(last.text, param=f"messages.{len(history)}.content")
    collection = await retrieval.collection(name)
    options = request.retrieval
    rewrite = (
        retrieval.settings.rewrite
        if options is None or options.rewrite is None
        else (options.rewrite)
    )
    queries = [question]
    conversation = [m for m in history if m.plain_role in ("user", "assistant")]
    if rewrite and conversation:
        rewritten = await _rewrite(retrieval, conversation, question)
        if rewritten and rewritten.lower() != question.lower():
            queries.insert(0, rewritten)
    k = retrieval.top_k(options.k if options else None)
    vectors = await retrieval.embed_queries(collection, queries, param="messages")
    best: dict[tuple[str, int], Hit] = {}
    for vector in vectors:
        for hit in await retrieval.nearest(collection, vector, k):
            key = (hit.source, hit.chunk)
            if key not in best or hit.score > best[key].score:
                best[key] = hit
    ranked = sorted(best.values(), key=lambda hit: (-hit.score, hit.source, hit.chunk))[:k]
    min_score = retrieval.threshold(collection, options.min_score if options else None)
    relevant = [hit for hit in ranked if hit.score >= min_score]
    messages = _answer_messages(history, question, relevant) if relevant else None
    return Prepared(
        collection=collection,
        search_query=queries[0],
        hits=relevant,
        best_score=ranked[0].score if ranked else None,
        min_score=min_score,
        messages=messages,
    )


async def _rewrite(retrieval: Retrieval, conversation: list[Message], question: str) -> str:
    transcript = "\n".join(f"{m.plain_role}: {m.text}" for m in conversation[-8:])
    prompt = REWRITE_PROMPT.format(conversation=transcript, question=question)
    completion = await retrieval.gateway.chat(
        await retrieval.chat_model(),
        [{"role": "user", "content": prompt}],
        temperature=0,
        max_tokens=REWRITE_MAX_TOKENS,
        stop=["\n"],
    )
    text = completion.choices[0].message.content if completion.choices else None
    return (text or "").strip().strip('"').strip()[: retrieval.settings.max_query_chars]


def _answer_messages(
    history: list[Message], question: str, hits: list[Hit]
) -> list[dict[str, str]]:
    context = "\n\n".join(f"[{n}] {hit.source}\n{hit.text}" for n, hit in enumerate(hits, 1))
    system = ANSWER_PROMPT.format(context=context)
    # The client's own instructions follow ours; the conversation keeps its order.
    extra = [m.text for m in history if m.plain_role == "system"]
    if extra:
        system += "\n\n" + "\n\n".join(extra)
    messages = [{"role": "system", "content": system}]
    messages += [
        {"role": m.plain_role, "content": m.text}
        for m in history
        if m.plain_role in ("user", "assistant")
    ]
    messages.append({"role": "user", "content": question})
    return messages
