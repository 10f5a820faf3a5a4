"""Builds a Device Repository checkout from the shared vectors, for the resolver and sandbox tests.

The vectors carry each codec's examples but no JavaScript (upstream scripts are not ours to
ship). Each script here is a stand-in written from the examples themselves: a table from
(fPort, bytes) to the example's output, where every ``null`` of the expected data is produced
as a JavaScript ``undefined`` (The Things Stack turns those into null, and so must we). What
these tests check is the path a real codec takes: vendor index -> model file -> firmware
version -> band profile -> codec id -> codec YAML (read with YAML 1.2 core rules, examples
written with plain scalars where YAML 1.2 allows them) -> fileName -> sandbox -> output.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from .vectorlib import VECTORS

# The YAML 1.2 core schema's implicit types (spec section 10.3.2), written out independently of
# the reader under test: a string matching one of these must be quoted to stay a string.
_CORE_NON_STRING = re.compile(
    r"^(?:~|null|Null|NULL|true|True|TRUE|false|False|FALSE"
    r"|[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+"
    r"|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_PLAIN_SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ .+/°℃%-]*[A-Za-z0-9_.°℃%]$|^[A-Za-z_]$")


def yaml_value(value: Any) -> str:
    """A YAML 1.2 flow rendering: plain scalars where the core schema keeps them strings."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        if _PLAIN_SAFE.match(value) and not _CORE_NON_STRING.match(value):
            return value
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    items = (f"{json.dumps(str(k), ensure_ascii=False)}: {yaml_value(v)}" for k, v in value.items())
    return "{" + ", ".join(items) + "}"


def _js_literal(value: Any) -> str:
    """JavaScript for ``value`` with every null written as ``undefined``."""
    if value is None:
        return "undefined"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_js_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_js_literal(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _script(examples: list[dict[str, Any]]) -> str:
    rows = []
    seen: dict[str, str] = {}
    for e in examples:
        key = f"{e['fPort']}:{e['bytes_hex']}"
        out: dict[str, Any] = {}
        if e["expected"] is not None:
            out["data"] = e["expected"]
        if e["errors"] is not None:
            out["errors"] = e["errors"]
        if e["warnings"] is not None:
            out["warnings"] = e["warnings"]
        literal = _js_literal(out)
        assert seen.setdefault(key, literal) == literal, f"two outputs for {key}"
        rows.append(f"  {json.dumps(key)}: function () {{ return {literal}; }}")
    return (
        "var OUTPUTS = {\n" + ",\n".join(rows) + "\n};\n"
        "function hex(bytes) {\n"
        "  var s = '';\n"
        "  for (var i = 0; i < bytes.length; i++) { s += (bytes[i] < 16 ? '0' : '') + bytes[i].toString(16); }\n"
        "  return s;\n"
        "}\n"
        "function decodeUplink(input) {\n"
        "  var f = OUTPUTS[input.fPort + ':' + hex(input.bytes)];\n"
        "  return f ? f() : { errors: ['no such example'] };\n"
        "}\n"
    )


def _codec_yaml(file_name: str, examples: list[dict[str, Any]]) -> str:
    lines = ["uplinkDecoder:", f"  fileName: {file_name}", "  examples:"]
    for e in examples:
        lines.append(f"    - description: {json.dumps(e['description'], ensure_ascii=False)}")
        lines.append("      input:")
        lines.append(f"        fPort: {e['fPort']}")
        lines.append(
            "        bytes: [" + ", ".join(f"0x{b:02X}" for b in bytes.fromhex(e["bytes_hex"])) + "]"
        )
        for k, v in (e.get("extra_input") or {}).items():
            lines.append(f"        {k}: {yaml_value(v)}")
        lines.append("      output:")
        for field in ("data", "errors", "warnings"):
            value = e["expected"] if field == "data" else e[field]
            if value is not None:
                lines.append(f"        {field}: {yaml_value(value)}")
    return "\n".join(lines) + "\n"


def model_of(codec_id: str) -> str:
    """The model id a vector's codec stands for: ``ldds75-codec`` -> ``ldds75``."""
    return codec_id.replace("-codec", "", 1)


def build(root: Path) -> list[tuple[str, str, str, list[dict[str, Any]]]]:
    """Write the checkout under ``root``; returns (brand, model, codec id, examples) per vector file.

    Each model gets two firmware versions and two bands, all naming its codec, and every
    vendor an index listing its models.
    """
    scripts: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    out = []
    models: dict[str, list[str]] = defaultdict(list)
    for path in sorted(VECTORS.glob("*-codec*.json")):
        vec = json.loads(path.read_text())
        brand = vec["vendor"]
        codec_id = Path(vec["codec_file"]).stem
        file_name = vec["decoder_js_file"].removeprefix(f"vendor/{brand}/")
        model = model_of(codec_id)
        folder = root / "vendor" / brand
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{codec_id}.yaml").write_text(_codec_yaml(file_name, vec["examples"]), encoding="utf-8")
        (folder / f"{model}.yaml").write_text(
            f"name: {model}\nfirmwareVersions:\n"
            + "".join(
                f"  - version: '{v}'\n    numeric: {n}\n    profiles:\n"
                f"      EU863-870: {{id: {brand}-eu868, lorawanCertified: true, codec: {codec_id}}}\n"
                f"      US902-928: {{id: {brand}-us915, codec: {codec_id}}}\n"
                for n, v in enumerate(("1.0", "1.1"), start=1)
            ),
            encoding="utf-8",
        )
        scripts[(brand, file_name)].extend(vec["examples"])
        models[brand].append(model)
        out.append((brand, model, codec_id, vec["examples"]))
    for (brand, file_name), examples in scripts.items():
        target = root / "vendor" / brand / file_name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_script(examples), encoding="utf-8")
    for brand, names in models.items():
        (root / "vendor" / brand / "index.yaml").write_text(
            "endDevices:\n" + "".join(f"  - {m}\n" for m in names), encoding="utf-8"
        )
    return out
