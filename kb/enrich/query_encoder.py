"""Short queries through onnxruntime: the same MiniLM vectors at about half torch's time.

A query is a few words, for which torch's per-operator overhead dominates: on one core MiniLM takes
about 25 ms a query under torch and about 10 ms under onnxruntime, for vectors equal to 1e-6. The
transformer is exported once from the local model folder (nothing is downloaded) into the user's
cache; bulk embedding stays on sentence-transformers. Any failure falls back to torch.

Once the export is in the cache, a query needs neither torch nor sentence-transformers: the model
folder's own ``tokenizer.json`` (the Rust tokenizers library) and the exported graph answer it, so a
`kb search` from the shell does not pay seconds of imports (``cached_query_encoder``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from kb.core.resources import cache_dir

log = logging.getLogger(__name__)
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_LOCK = threading.Lock()


def _supported(model: Any) -> bool:
    """A transformer, then mean pooling, then (optionally) normalisation, as all-MiniLM-L6-v2 is."""
    names = [type(m).__name__ for m in model]
    pooling = model[1] if len(model) > 1 else None
    mode = getattr(pooling, "pooling_mode", None)  # sentence-transformers 5; earlier: one flag a mode
    mean = mode == "mean" if mode is not None else (
        getattr(pooling, "pooling_mode_mean_tokens", False)
        and not any(getattr(pooling, f"pooling_mode_{m}", False)
                    for m in ("cls_token", "max_tokens", "mean_sqrt_len_tokens")))
    return names[:2] == ["Transformer", "Pooling"] and set(names[2:]) <= {"Normalize"} and bool(mean)


def _export(model: Any, path: Path) -> None:
    import torch

    class Encoder(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    sample = model.tokenizer(["an example query"], return_tensors="pt")
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "hidden")}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(Encoder(model[0].auto_model.eval()), tuple(sample[n] for n in INPUTS), str(tmp),
                          input_names=list(INPUTS), output_names=["hidden"], dynamic_axes=axes,
                          opset_version=17, dynamo=False)
    os.replace(tmp, path)


def export_path(model_dir: str) -> Path:
    """Where the export of the model in ``model_dir`` is cached."""
    key = hashlib.sha256((model_dir + (Path(model_dir) / "config.json").read_text()).encode())
    return cache_dir() / f"query-encoder-{key.hexdigest()[:16]}.onnx"


def _session(path: Path) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _mean_pooled(hidden: np.ndarray, mask: np.ndarray, normalise: bool) -> np.ndarray:
    weights = mask.astype(np.float32)[:, None]
    vector = (hidden * weights).sum(axis=0) / max(float(weights.sum()), 1e-9)
    if normalise:
        vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
    return vector.astype(np.float32)


class OnnxQueryEncoder:
    """Encodes one short text at a time with the exported transformer, on one thread."""

    def __init__(self, model: Any, model_dir: str) -> None:
        path = export_path(model_dir)
        with _LOCK:
            if not path.exists():
                _export(model, path)
        self.session = _session(path)
        self.tokenizer = model.tokenizer
        self.max_tokens = int(model.max_seq_length)
        self.normalise = len(model) > 2

    def encode(self, text: str) -> np.ndarray:
        batch = self.tokenizer([text], truncation=True, max_length=self.max_tokens, return_tensors="np")
        hidden = self.session.run(None, {n: batch[n].astype(np.int64) for n in INPUTS})[0][0]
        return _mean_pooled(hidden, batch["attention_mask"][0], self.normalise)


class CachedQueryEncoder:
    """The same encoder from the cached export and the model folder alone (no torch import)."""

    def __init__(self, model_dir: str, path: Path) -> None:
        from tokenizers import Tokenizer

        folder = Path(model_dir)
        config = json.loads((folder / "sentence_bert_config.json").read_text())
        modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((folder / "modules.json").read_text())]
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(int(config["max_seq_length"]))
        self.tokenizer.no_padding()
        self.normalise = "Normalize" in modules
        self.session = _session(path)

    def encode(self, text: str) -> np.ndarray:
        encoding = self.tokenizer.encode(text)
        inputs = {"input_ids": encoding.ids, "attention_mask": encoding.attention_mask,
                  "token_type_ids": encoding.type_ids}
        hidden = self.session.run(None, {n: np.asarray([v], dtype=np.int64) for n, v in inputs.items()})
        return _mean_pooled(hidden[0][0], np.asarray(encoding.attention_mask), self.normalise)


def cached_query_encoder(model_dir: str) -> CachedQueryEncoder | None:
    """The torch-free encoder when the export is cached and the folder is a supported model."""
    folder = Path(model_dir)
    try:
        path = export_path(model_dir)
        modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((folder / "modules.json").read_text())]
        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
        if not path.exists() or modules[:2] != ["Transformer", "Pooling"] or not set(modules[2:]) <= {
                "Normalize"} or not pooling.get("pooling_mode_mean_tokens"):
            return None
        return CachedQueryEncoder(model_dir, path)
    except Exception as exc:  # a folder of another shape, no tokenizers, an unreadable cache
        log.info("query encoding loads the full model: %s", exc)
        return None


def query_encoder(model: Any, model_dir: str) -> OnnxQueryEncoder | None:
    """The ONNX encoder for a supported model, or None (torch then answers)."""
    if not _supported(model):
        return None
    try:
        return OnnxQueryEncoder(model, model_dir)
    except Exception as exc:  # onnxruntime missing, export refused, unreadable cache: torch answers
        log.info("query encoding stays on torch: %s", exc)
        return None
