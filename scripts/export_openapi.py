"""Write the API's OpenAPI document to docs/openapi.json (or the path given).

    .venv/bin/python scripts/export_openapi.py [OUT]

Builds the app with create_app() around throw-away SQLite files, the same way
`lorakeet api` builds it, and writes ``app.openapi()``; no server is started.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build_openapi() -> dict[str, object]:
    """The OpenAPI document of the app (imports the API lazily: it changes often)."""
    from lorakeet.api.app import create_app
    from lorakeet.api.deps import Services
    from lorakeet.settings import Settings, StoreSettings
    from lorakeet.storage.factory import open_store
    from lorakeet.storage.registry import Registry

    with tempfile.TemporaryDirectory(prefix="lorakeet-openapi-") as tmp:
        settings = Settings(
            store=StoreSettings(kind="sqlite", sqlite_path=Path(tmp) / "readings.db"),
            registry_url=f"sqlite:///{tmp}/registry.db",
        )
        registry = Registry(settings.registry_url)
        store = open_store(settings.store)
        try:
            doc: dict[str, object] = create_app(Services(settings, registry, store)).openapi()
        finally:
            store.close()
            registry.close()
    return doc


def main() -> None:
    """Write the document."""
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "openapi.json"
    try:
        doc = build_openapi()
    except Exception as exc:
        sys.exit(f"could not build the app: {type(exc).__name__}: {exc}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    paths = doc.get("paths", {})
    print(f"wrote {out} ({len(paths) if isinstance(paths, dict) else 0} paths)")


if __name__ == "__main__":
    main()
