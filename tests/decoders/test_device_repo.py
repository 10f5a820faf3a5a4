"""Loading codecs from a (fake, written here) TTN Device Repository checkout."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lorakeet.decoders import device_repo as repo
from lorakeet.decoders import javascript as js
from lorakeet.decoders.errors import CodecError
from lorakeet.decoders.types import DeviceContext

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
    js.clear_cache()
    write(tmp_path, "vendor/acme/toy-codec.yaml", TOY_YAML)
    write(tmp_path, "vendor/acme/toy.js", TOY_JS)
    write(tmp_path, "vendor/acme/index.yaml", "endDevices: [toy]\n")
    write(tmp_path, "vendor/other/legacy-codec.yaml", "uplinkDecoder:\n  fileName: sub/legacy.js\n")
    write(
        tmp_path,
        "vendor/other/sub/legacy.js",
        "function Decoder(bytes, port) { return {counter: bytes[0]}; }",
    )
    return tmp_path


def test_load_codec_and_examples_agree(checkout: Path) -> None:
    codec = repo.load_codec(checkout, "acme", "toy")
    assert codec.name == "acme/toy"
    assert repo.load_codec(checkout, "acme", "toy-codec") is codec  # cached by source
    examples = repo.load_examples(checkout, "acme", "toy")
    assert [e.description for e in examples] == ["Normal uplink", "Wrong port"]
    normal, wrong = examples
    assert normal.payload == bytes([0x0C, 0xE4, 0x3D, 0x01])
    assert normal.data == {"battery": 3.3, "temperature": 21, "state": "on"}  # "on" stays a string
    assert wrong.data is None and wrong.errors == ["unknown FPort"]
    assert wrong.extra_input == {"recvTime": "2024-01-01T00:00:00Z"}
    for ex in examples:
        out = codec.run(ex.payload, ex.f_port, "2024-01-01T00:00:00.000Z")
        assert out.get("data") == ex.data
        assert out.get("errors") == ex.errors
    readings = codec(normal.payload, 1, DeviceContext()).as_dict()
    assert readings == {"battery": 3.3, "temperature": 21.0}


def test_definition_and_listing(checkout: Path) -> None:
    d = repo.load_definition(checkout, "other", "legacy")
    assert d.script_path == (checkout / "vendor/other/sub/legacy.js").resolve()
    assert d.examples == ()
    assert repo.load_codec(checkout, "other", "legacy")(b"\x05", 1, DeviceContext()).as_dict() == {
        "counter": 5.0
    }
    assert repo.list_codecs(checkout) == [("acme", "toy"), ("other", "legacy")]
    assert repo.list_codecs(checkout / "nowhere") == []


@pytest.mark.parametrize(
    ("files", "vendor", "model", "message"),
    [
        ({}, "acme", "missing", "cannot read codec file"),
        ({}, "../etc", "toy", "invalid vendor"),
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
def test_errors(checkout: Path, files: dict[str, str], vendor: str, model: str, message: str) -> None:
    for rel, text in files.items():
        write(checkout, rel, text)
    with pytest.raises(CodecError, match=message):
        repo.load_codec(checkout, vendor, model)


def test_size_limit(checkout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(repo, "MAX_YAML_BYTES", 10)
    with pytest.raises(repo.DeviceRepoError, match="limit 10"):
        repo.load_definition(checkout, "acme", "toy")


def test_not_utf8(checkout: Path) -> None:
    (checkout / "vendor/acme/bad-codec.yaml").write_bytes(b"uplinkDecoder: \xff\xfe\n")
    with pytest.raises(repo.DeviceRepoError, match="cannot read codec file"):
        repo.load_definition(checkout, "acme", "bad")
