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
