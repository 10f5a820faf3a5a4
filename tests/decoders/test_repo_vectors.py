"""Every shared Device Repository example through the resolver and the codec sandbox.

See tests/decoders/repo_checkout.py for how the checkout is built from the vectors.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lorakeet.decoders import device_repo as repo
from lorakeet.gateway_bridge.codecs import repo_codec
from lorakeet.gateway_bridge.sandbox import SandboxHost

from . import repo_checkout

RECV = "2024-06-17T13:10:05.000Z"


def exact(a: Any, b: Any) -> bool:
    """Equal as JSON values: booleans are not numbers, 3 equals 3.0, floats to 1e-9 relative."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b or math.isclose(a, b, rel_tol=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(exact(v, b[k]) for k, v in a.items())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(exact(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, str, str, Any]]]:
    root = tmp_path_factory.mktemp("lorawan-devices")
    return root, repo_checkout.build(root)


@pytest.fixture(scope="module")
def host() -> Iterator[SandboxHost]:
    with SandboxHost() as h:
        yield h


def test_every_vector_example_through_resolver_and_sandbox(
    checkout: tuple[Path, list[tuple[str, str, str, Any]]], host: SandboxHost
) -> None:
    root, models = checkout
    assert len(models) == len(list(repo_checkout.VECTORS.glob("*-codec*.json"))) >= 40
    checked = 0
    for brand, model, codec_id, vectors in models:
        assert model in repo.list_models(root, brand)
        # as The Things Stack asks: version_ids.brand_id / model_id / firmware_version / band_id
        found, codec = repo_codec(root, brand, model, "1.1", "EU_863_870", host)
        assert (found.codec_id, found.firmware_version, found.band) == (codec_id, "1.1", "EU863-870")
        assert found.profile_id == f"{brand}-eu868"
        examples = found.definition.examples
        assert len(examples) == len(vectors)
        for ex, vec in zip(examples, vectors, strict=True):
            where = f"{brand}/{model}: {vec['description']}"
            # the YAML reader reads the example as js-yaml (YAML 1.2 core) does
            assert (ex.f_port, ex.payload.hex()) == (vec["fPort"], vec["bytes_hex"]), where
            assert exact(ex.data, vec["expected"]), where
            assert (ex.errors, ex.warnings) == (vec["errors"], vec["warnings"]), where
            recv = ex.extra_input.get("recvTime", RECV)
            out = codec.run(ex.payload, ex.f_port, recv)
            if vec["expected"] is not None:
                assert exact(out["data"], vec["expected"]), where
            else:
                assert "data" not in out, where
            assert out.get("errors") == vec["errors"], where
            assert out.get("warnings") == vec["warnings"], where
            checked += 1
    assert checked == sum(len(v) for *_, v in models) >= 120


def test_undefined_comes_back_as_null(
    checkout: tuple[Path, list[tuple[str, str, str, Any]]], host: SandboxHost
) -> None:
    """Examples whose expected data holds null: the stand-in codec leaves those undefined."""
    root, models = checkout
    with_null = [
        (brand, model, vec)
        for brand, model, _, vectors in models
        for vec in vectors
        if vec["expected"] is not None and None in _leaves(vec["expected"])
    ]
    assert with_null, "the vectors hold expected nulls"
    for brand, model, vec in with_null:
        _, codec = repo_codec(root, brand, model, host=host)
        out = codec.run(bytes.fromhex(vec["bytes_hex"]), vec["fPort"], RECV)
        assert exact(out["data"], vec["expected"]), (brand, model, vec["description"])


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _leaves(v)]
    if isinstance(value, list):
        return [x for v in value for x in _leaves(v)]
    return [value]
