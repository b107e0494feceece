"""The API's OpenAPI document, generated from the submit function's routes.

python -m prediag_tools.openapi            # write docs/openapi.json (what `make openapi` runs)
python -m prediag_tools.openapi --check    # exit 1 if docs/openapi.json is out of date
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
API_DIR = ROOT / "functions" / "submit"
SPEC_PATH = ROOT / "docs" / "openapi.json"
REGENERATE = "make openapi"


def load_api(api_dir: Path = API_DIR) -> ModuleType:
    """Import the API function's app.py (with its sibling modules importable, as in Lambda)."""
    code_dir = str(api_dir.resolve())
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    spec = importlib.util.spec_from_file_location("_prediag_api_spec", api_dir / "app.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {api_dir / 'app.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def render(api_dir: Path = API_DIR) -> str:
    """The document as committed: indented, keys in the generator's order, newline at the end."""
    document = json.loads(load_api(api_dir).openapi_json())
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    parser.add_argument("--output", type=Path, default=SPEC_PATH)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run `{REGENERATE}`", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
