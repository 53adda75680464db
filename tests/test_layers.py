"""The layers as executable contracts (issue 16): the import-linter contracts in pyproject.toml, and
no private name taken across a package.

Why: a layer that imports upward (or reaches into another package's private helpers) cannot be
tested, replaced or understood on its own; a test makes the rule hold instead of hoping it does.
"""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Private names that still cross a package, each with the change that removes it. Keep it empty.
PRIVATE_IMPORTS_ALLOWED: set[tuple[str, str, str]] = set()


def test_the_import_linter_contracts_are_kept():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache"],
                            capture_output=True, text=True, cwd=ROOT)
    broken = result.stdout.partition("Broken contracts")[2] or result.stdout + result.stderr
    assert result.returncode == 0, f"a layer contract is broken:\n{broken}"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(module: str) -> str:
    """The package a module belongs to: planner.<layer> or plugins.<technique>."""
    return ".".join(module.split(".")[:2])


def imported_names(path: Path):
    """(imported module, name) for every `from … import name` in a file, relative ones resolved."""
    importer = module_name(path)
    base = importer.split(".") if path.name == "__init__.py" else importer.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.ImportFrom):
            prefix = base[:len(base) - node.level + 1] if node.level else []
            module = ".".join([*prefix, *([node.module] if node.module else [])])
            for alias in node.names:
                yield module, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, ""


def is_private(module: str, name: str) -> bool:
    return any(part.startswith("_") and not part.startswith("__") for part in [*module.split("."), name])


def test_no_module_imports_a_private_name_from_another_package():
    crossings = set()
    for path in sorted([*ROOT.glob("planner/**/*.py"), *ROOT.glob("plugins/**/*.py")]):
        importer = module_name(path)
        for module, name in imported_names(path):
            if module.split(".")[0] not in ("planner", "plugins") or package_of(module) == package_of(importer):
                continue
            if is_private(module, name):
                crossings.add((importer, module, name))
    assert crossings - PRIVATE_IMPORTS_ALLOWED == set()
    assert PRIVATE_IMPORTS_ALLOWED - crossings == set(), "an allowed crossing is gone: remove it from the list"
