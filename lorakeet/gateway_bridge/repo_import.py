"""Import a Device Repository model's codec into the registry, checked against its examples.

Used by ``lorakeet codecs import-repo`` and ``POST /v1/codecs/import-repo``. The model is
resolved as the repository's index does (:func:`lorakeet.decoders.device_repo.resolve`),
its script compiled in the codec sandbox and run on every ``uplinkDecoder.examples`` entry;
the output is compared with the example the way The Things Stack produces it (a property
left ``undefined`` is ``null``; numbers agree to a relative 1e-9, since JavaScript engines
differ in the last bits of ``Math.pow``). A codec that fails an example is not stored.
Importing the same model again returns the stored codec when its source is unchanged.

The stored codec is an ordinary ``js:<id>`` codec owned by the importing account; its
examples are kept in the upload format (``fPort``, ``bytes`` hex, ``expected`` data that may
nest, or ``errors``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lorakeet.decoders.device_repo import CodecExample, DeviceRepoError, ModelCodec
from lorakeet.decoders.errors import CodecLimitError, DecodeError

from .codecs import repo_codec

if TYPE_CHECKING:
    from lorakeet.storage.registry import Codec, Registry

    from .sandbox import SandboxedCodec, SandboxHost

DEFAULT_RECV_TIME = "2024-01-01T00:00:00.000Z"
"""``recvTime`` handed to a codec for an example that gives none."""


class RepoImportError(DeviceRepoError):
    """The model's codec could not be imported (it fails an example, or does not compile)."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    """The stored codec, the model it came from, and whether this call stored it."""

    row: Codec
    found: ModelCodec
    created: bool
    examples_checked: int


def same_output(expected: Any, got: Any) -> bool:
    """``got`` (the codec's output) agrees with ``expected`` (the example's).

    Missing and null are the same where one side has null: the repository checks its
    examples where an ``undefined`` property vanishes (The Things Stack keeps it as null), and
    an example's empty YAML value (``unit:``) is null where the codec set no property at all.
    """
    if isinstance(expected, bool) or isinstance(got, bool):
        return expected is got
    if isinstance(expected, int | float) and isinstance(got, int | float):
        if math.isnan(expected) or math.isnan(got):
            return math.isnan(expected) and math.isnan(got)
        return expected == got or math.isclose(expected, got, rel_tol=1e-9)
    if isinstance(expected, dict) and isinstance(got, dict):
        keys = expected.keys() | got.keys()
        return all(same_output(expected.get(k), got.get(k)) for k in keys)
    if isinstance(expected, list) and isinstance(got, list):
        return len(expected) == len(got) and all(
            same_output(a, b) for a, b in zip(expected, got, strict=True)
        )
    return bool(expected == got) and type(expected) is type(got)


def check_example(codec: SandboxedCodec, i: int, ex: CodecExample) -> str | None:
    """None when the codec's raw output matches the example, else what differs."""
    where = f"example {i} ({ex.description or 'no description'}; fPort {ex.f_port}, bytes {ex.payload.hex()})"
    recv = ex.extra_input.get("recvTime")
    try:
        out = codec.run(ex.payload, ex.f_port, recv if isinstance(recv, str) else DEFAULT_RECV_TIME)
    except CodecLimitError as exc:
        return f"{where}: the codec was stopped: {exc}"
    except DecodeError as exc:
        return f"{where}: the codec failed: {exc}"
    errors = out.get("errors") or None
    if ex.errors is not None or errors is not None:
        if ex.errors != errors:
            return f"{where}: expected errors {ex.errors}, the codec gave {errors}"
        return None
    if ex.warnings is not None and ex.warnings != (out.get("warnings") or []):
        return f"{where}: expected warnings {ex.warnings}, the codec gave {out.get('warnings')}"
    if not same_output(ex.data if ex.data is not None else {}, out.get("data")):
        return f"{where}: expected {ex.data}, the codec gave {out.get('data')}"
    return None


def stored_examples(examples: tuple[CodecExample, ...]) -> list[dict[str, Any]]:
    """The examples in the upload format (what ``GET /v1/codecs/{id}`` shows)."""
    out: list[dict[str, Any]] = []
    for ex in examples:
        item: dict[str, Any] = {"fPort": ex.f_port, "bytes": ex.payload.hex()}
        if ex.errors is not None:
            item["errors"] = ex.errors
        else:
            item["expected"] = ex.data if ex.data is not None else {}
        out.append(item)
    return out


def import_repo_codec(
    registry: Registry,
    repo_path: Path | str,
    brand: str,
    model: str,
    *,
    firmware_version: str | None = None,
    band: str | None = None,
    owner_id: int | None = None,
    host: SandboxHost | None = None,
) -> ImportResult:
    """Resolve, compile, check and store a model's codec (or find the one already stored).

    Raises DeviceRepoError when the checkout lacks the model or codec, RepoImportError when
    the codec does not compile or fails one of its examples.
    """
    try:
        found, codec = repo_codec(repo_path, brand, model, firmware_version, band, host)
    except DeviceRepoError:
        raise
    except DecodeError as exc:
        raise RepoImportError(f"{brand}/{model}: the codec does not compile: {exc}") from exc
    examples = found.definition.examples
    for i, ex in enumerate(examples):
        problem = check_example(codec, i, ex)
        if problem is not None:
            raise RepoImportError(f"{brand}/{model} codec {found.codec_id}: {problem}")
    name = f"{found.brand}/{found.model} ({found.codec_id})"
    source = found.definition.source
    for row in registry.list_codecs(owner_id, limit=10_000):
        if row.owner_id == owner_id and row.name == name and row.source == source:
            return ImportResult(row, found, False, len(examples))
    row = registry.create_codec(owner_id, name, source, stored_examples(examples))
    return ImportResult(row, found, True, len(examples))
