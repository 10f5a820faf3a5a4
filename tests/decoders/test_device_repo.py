"""Loading codecs from a (fake, written here) TTN Device Repository checkout."""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from lorakeet.decoders import device_repo as repo
from lorakeet.decoders.errors import CodecError
from lorakeet.gateway_bridge.codecs import compile_js, repo_codec
from lorakeet.gateway_bridge.sandbox import SandboxedCodec, SandboxHost

# Our own toy device: 2 bytes battery mV, 1 byte temperature + 40 °C, 1 byte switch state.
TOY_JS = """
function decodeUplink(input) {
  if (input.fPort !== 1) { return { errors: ["unknown FPort"] }; }
  var b = input.bytes;
  return { data: {
    battery: ((b[0] << 8) | b[1]) / 1000,
    temperature: b[2] - 40,
    state: b[3] === 1 ? "on" : "off"
  } };
}
"""

TOY_YAML = """
uplinkDecoder:
  fileName: toy.js
  examples:
    - description: Normal uplink
      input:
        fPort: 1
        bytes: [0x0C, 0xE4, 0x3D, 0x01]
      output:
        data:
          battery: 3.3
          temperature: 21
          state: on
    - description: Wrong port
      input:
        fPort: 9
        bytes: [0, 0, 0, 0]
        recvTime: '2024-01-01T00:00:00Z'
      output:
        errors:
          - unknown FPort
downlinkEncoder:
  fileName: toy.js
"""


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    write(tmp_path, "vendor/acme/toy-codec.yaml", TOY_YAML)
    write(tmp_path, "vendor/acme/toy.js", TOY_JS)
    write(tmp_path, "vendor/acme/index.yaml", "endDevices: [toy]\n")
    write(
        tmp_path,
        "vendor/acme/toy.yaml",
        "firmwareVersions:\n  - version: '1.0'\n    profiles:\n      EU863-870: {id: p, codec: toy-codec}\n",
    )
    write(tmp_path, "vendor/other/legacy-codec.yaml", "uplinkDecoder:\n  fileName: sub/legacy.js\n")
    write(
        tmp_path,
        "vendor/other/sub/legacy.js",
        "function Decoder(bytes, port) { return {counter: bytes[0]}; }",
    )
    return tmp_path


TOY_MODEL = """
name: Toy
firmwareVersions:
  - version: '1.0'
    numeric: 1
    profiles:
      EU863-870: {id: toy-eu868, lorawanCertified: true, codec: toy-codec}
      US902-928: {id: toy-us915, codec: toy-codec}
  - version: '2.0'
    numeric: 2
    profiles:
      EU863-870: {id: toy-eu868, codec: toy-v2}
      AS923: {id: toy-as923}
"""

TOY_V2_YAML = """
uplinkDecoder:
  fileName: toy.js
  examples:
    - input: {fPort: 1, bytes: [0x0C, 0xE4, 0x3D, 0x00]}
      output:
        data: {battery: 3.3, temperature: 21, state: off}
"""


@pytest.fixture
def host() -> Iterator[SandboxHost]:
    with SandboxHost() as h:
        yield h


def test_definition_reads_examples_with_yaml_1_2(checkout: Path) -> None:
    d = repo.load_definition(checkout, "acme", "toy-codec")
    assert d.codec_id == "toy-codec"
    # a codec id names <id>.yaml; "-codec" may be left out where no other file has the plain name
    assert repo.load_definition(checkout, "other", "legacy").codec_id == "legacy-codec"
    normal, wrong = d.examples
    assert [e.description for e in d.examples] == ["Normal uplink", "Wrong port"]
    assert normal.payload == bytes([0x0C, 0xE4, 0x3D, 0x01])
    assert normal.data == {"battery": 3.3, "temperature": 21, "state": "on"}  # "on" stays a string
    assert wrong.data is None and wrong.errors == ["unknown FPort"]
    assert wrong.extra_input == {"recvTime": "2024-01-01T00:00:00Z"}


def test_repository_codec_runs_in_the_sandbox(checkout: Path, host: SandboxHost) -> None:
    found, codec = repo_codec(checkout, "acme", "toy", host=host)
    assert isinstance(codec, SandboxedCodec) and codec.host is host
    assert codec.name == "acme/toy-codec"
    for ex in found.definition.examples:
        out = codec.run(ex.payload, ex.f_port, "2024-01-01T00:00:00.000Z")
        assert out.get("data") == ex.data
        assert out.get("errors") == ex.errors
    assert host.pid is not None and host.pid != os.getpid()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: on\nb: yes\nc: no\nd: off\ne: y\n", {"a": "on", "b": "yes", "c": "no", "d": "off", "e": "y"}),
        ("valueCounter: 00012074\n", {"valueCounter": 12074}),
        ("a: 0o17\nb: 0x1F\nc: 017\nd: -3\n", {"a": 15, "b": 31, "c": 17, "d": -3}),
        ("a: 1.5\nb: 1e3\nc: .5\nd: -.inf\n", {"a": 1.5, "b": 1000.0, "c": 0.5, "d": float("-inf")}),
        ("a: true\nb: False\nc: ~\nd:\ne: null\n", {"a": True, "b": False, "c": None, "d": None, "e": None}),
        (
            "a: 2024-01-01\nb: 12:30:00\nc: 1_000\nd: 0b11\n",
            {"a": "2024-01-01", "b": "12:30:00", "c": "1_000", "d": "0b11"},
        ),
        ("a: '07'\nb: \"on\"\n", {"a": "07", "b": "on"}),
    ],
)
def test_yaml_core_schema(text: str, expected: dict[str, object]) -> None:
    assert repo.load_yaml(text) == expected
    assert all(type(v) is type(expected[k]) for k, v in repo.load_yaml(text).items())


def test_nan_is_a_float() -> None:
    assert math.isnan(repo.load_yaml("a: .NaN\n")["a"])


def test_resolve_by_firmware_and_band(checkout: Path) -> None:
    write(checkout, "vendor/acme/toy.yaml", TOY_MODEL)
    write(checkout, "vendor/acme/toy-v2.yaml", TOY_V2_YAML)
    v1 = repo.resolve(checkout, "acme", "toy", "1.0", "EU_863_870")  # TTS band id
    assert (v1.codec_id, v1.firmware_version, v1.band, v1.profile_id) == (
        "toy-codec",
        "1.0",
        "EU863-870",
        "toy-eu868",
    )
    assert repo.resolve(checkout, "acme", "toy", "1.0").codec_id == "toy-codec"  # both bands agree
    assert repo.resolve(checkout, "acme", "toy", band="US902-928").codec_id == "toy-codec"
    v2 = repo.resolve(checkout, "acme", "toy", "2.0", "eu863-870")
    assert v2.codec_id == "toy-v2"  # a codec file without the -codec suffix
    assert v2.definition.examples[0].data == {"battery": 3.3, "temperature": 21, "state": "off"}
    with pytest.raises(repo.DeviceRepoError, match=r"different codecs.*firmware version and band"):
        repo.resolve(checkout, "acme", "toy")
    with pytest.raises(repo.DeviceRepoError, match="different codecs"):
        repo.resolve(checkout, "acme", "toy", band="EU863-870")
    with pytest.raises(repo.DeviceRepoError, match=r"no firmware version '3.0' \(it has 1.0, 2.0\)"):
        repo.resolve(checkout, "acme", "toy", "3.0")
    with pytest.raises(repo.DeviceRepoError, match=r"no profile for band 'KR920-923' .*EU863-870"):
        repo.resolve(checkout, "acme", "toy", "1.0", "KR920-923")
    with pytest.raises(repo.DeviceRepoError, match="names no codec"):
        repo.resolve(checkout, "acme", "toy", "2.0", "AS923")
    with pytest.raises(repo.DeviceRepoError, match="cannot read device model"):
        repo.resolve(checkout, "acme", "nothing")
    with pytest.raises(repo.DeviceRepoError, match="invalid brand"):
        repo.resolve(checkout, "../acme", "toy")
    write(checkout, "vendor/acme/empty.yaml", "name: x\n")
    with pytest.raises(repo.DeviceRepoError, match="no firmwareVersions"):
        repo.resolve(checkout, "acme", "empty")


def test_listing(checkout: Path) -> None:
    d = repo.load_definition(checkout, "other", "legacy")
    assert d.script_path == (checkout / "vendor/other/sub/legacy.js").resolve()
    assert d.examples == ()
    assert repo.list_vendors(checkout) == ["acme", "other"]
    assert repo.list_models(checkout, "acme") == ["toy"]
    assert repo.list_models(checkout, "other") == []
    assert repo.list_codecs(checkout) == [("acme", "toy-codec"), ("other", "legacy-codec")]
    assert repo.list_codecs(checkout / "nowhere") == []


@pytest.mark.parametrize(
    ("files", "vendor", "model", "message"),
    [
        ({}, "acme", "missing", "cannot read codec file"),
        ({}, "../etc", "toy", "invalid brand"),
        ({}, "acme", "../../x", "invalid codec"),
        ({"vendor/acme/bad-codec.yaml": "uplinkDecoder: [\n"}, "acme", "bad", "invalid YAML"),
        ({"vendor/acme/bad-codec.yaml": "name: x\n"}, "acme", "bad", "no uplinkDecoder.fileName"),
        ({"vendor/acme/bad-codec.yaml": "- 1\n"}, "acme", "bad", "no uplinkDecoder.fileName"),
        (
            {"vendor/acme/bad-codec.yaml": "uplinkDecoder:\n  fileName: ../../secret.js\n"},
            "acme",
            "bad",
            "leaves",
        ),
        (
            {"vendor/acme/bad-codec.yaml": "uplinkDecoder:\n  fileName: nope.js\n"},
            "acme",
            "bad",
            "cannot read",
        ),
        (
            {"vendor/acme/bad-codec.yaml": "uplinkDecoder:\n  fileName: toy.js\n  examples: {a: 1}\n"},
            "acme",
            "bad",
            "must be a list",
        ),
        (
            {"vendor/acme/bad-codec.yaml": "uplinkDecoder:\n  fileName: toy.js\n  examples: [3]\n"},
            "acme",
            "bad",
            "needs an input",
        ),
        (
            {
                "vendor/acme/bad-codec.yaml": (
                    "uplinkDecoder:\n  fileName: toy.js\n  examples:\n    - input: {fPort: 1, bytes: [256]}\n"
                )
            },
            "acme",
            "bad",
            "list of bytes",
        ),
        (
            {
                "vendor/acme/bad-codec.yaml": (
                    "uplinkDecoder:\n  fileName: toy.js\n  examples:\n    - input: {fPort: true, bytes: [1]}\n"
                )
            },
            "acme",
            "bad",
            "fPort must be",
        ),
        (
            {
                "vendor/acme/bad-codec.yaml": "uplinkDecoder:\n  fileName: bad.js\n",
                "vendor/acme/bad.js": "function (",
            },
            "acme",
            "bad",
            "SyntaxError",
        ),
    ],
)
def test_errors(
    checkout: Path, host: SandboxHost, files: dict[str, str], vendor: str, model: str, message: str
) -> None:
    for rel, text in files.items():
        write(checkout, rel, text)
    with pytest.raises(CodecError, match=message):
        repo.load_definition(checkout, vendor, model)
        compile_js(repo.load_definition(checkout, vendor, model).source, host=host)


def test_size_limit(checkout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(repo, "MAX_YAML_BYTES", 10)
    with pytest.raises(repo.DeviceRepoError, match="limit 10"):
        repo.load_definition(checkout, "acme", "toy")


def test_not_utf8(checkout: Path) -> None:
    (checkout / "vendor/acme/bad-codec.yaml").write_bytes(b"uplinkDecoder: \xff\xfe\n")
    with pytest.raises(repo.DeviceRepoError, match="cannot read codec file"):
        repo.load_definition(checkout, "acme", "bad")
