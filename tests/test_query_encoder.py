"""Short queries through onnxruntime give the vectors sentence-transformers gives."""

from __future__ import annotations

import numpy as np
import pytest

from kb.enrich.embed import SentenceTransformerEmbedder
from kb.enrich.query_encoder import OnnxQueryEncoder, query_encoder

QUERIES = ["Mistral debt and equity", "contrôles à l'exportation des puces", "‏قانون الذكاء الاصطناعي 🤖",
           "chips " * 600]


@pytest.fixture(scope="module")
def embedder():
    return SentenceTransformerEmbedder()


def test_onnx_vectors_equal_torch_vectors(embedder, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    encoder = query_encoder(embedder.model, str(embedder.path))
    assert isinstance(encoder, OnnxQueryEncoder)
    assert list((tmp_path / "aiwatch").glob("query-encoder-*.onnx"))  # exported once, then reused
    reference = embedder.encode(QUERIES)
    for text, expected in zip(QUERIES, reference, strict=True):
        got = encoder.encode(text)
        assert got.dtype == np.float32 and got.shape == expected.shape
        assert np.abs(got - expected).max() < 1e-5, text


def test_encode_query_uses_onnx_and_falls_back_on_a_broken_cache(embedder, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = tmp_path / "aiwatch"
    folder.mkdir()
    encoder = query_encoder(embedder.model, str(embedder.path))  # writes the real file
    broken = next(folder.glob("*.onnx"))
    broken.write_bytes(b"not a model")
    assert query_encoder(embedder.model, str(embedder.path)) is None  # torch answers instead
    assert isinstance(encoder, OnnxQueryEncoder)
    vector = embedder.encode_query("sovereign cloud")
    assert np.abs(vector - embedder.encode(["sovereign cloud"])[0]).max() < 1e-5


def test_a_cached_export_answers_queries_without_torch(embedder, tmp_path, monkeypatch):
    import subprocess
    import sys

    from kb.enrich.query_encoder import CachedQueryEncoder, cached_query_encoder

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cached_query_encoder(str(embedder.path)) is None  # nothing exported yet
    query_encoder(embedder.model, str(embedder.path))
    cached = cached_query_encoder(str(embedder.path))
    assert isinstance(cached, CachedQueryEncoder)
    for text, expected in zip(QUERIES, embedder.encode(QUERIES), strict=True):
        assert np.abs(cached.encode(text) - expected).max() < 1e-5, text
    code = ("import sys; from kb.enrich.embed import SentenceTransformerEmbedder as E; "
            "v = E().encode_query('Mistral debt'); "
            "print(v.shape[0], 'torch' in sys.modules, 'sentence_transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, "XDG_CACHE_HOME": str(tmp_path)}).stdout
    assert out.split() == ["384", "False", "False"]
