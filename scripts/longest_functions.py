"""The longest functions of a package, longest first: length in lines, name, file:line.

    python scripts/longest_functions.py                 # the 15 longest of arerec/
    python scripts/longest_functions.py --top 40 arerec/train
    python scripts/longest_functions.py --max 50        # exit 1, naming them, when any is longer than 50 lines

A function's length runs from its ``def`` line to its last line, docstring, comments and blank lines inside it
included, decorators not. Methods are named ``Class.method`` and nested functions ``outer.inner``; a nested function's
lines count in its own length and in the one around it.
"""

from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Function:
    name: str
    path: Path
    line: int
    length: int

    def row(self) -> str:
        """``length  name  file:line``, the file relative to the current folder where it lies below it."""
        here = Path.cwd().resolve()
        where = self.path.resolve().relative_to(here) if self.path.resolve().is_relative_to(here) else self.path
        return f"{self.length:5d}  {self.name}  {where}:{self.line}"


def functions_in(path: Path) -> list[Function]:
    """Every function and method defined in one Python file, nested ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Function] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                found.append(Function(name, path, child.lineno, (child.end_lineno or child.lineno) - child.lineno + 1))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def longest(paths: list[Path]) -> list[Function]:
    """The functions of ``paths`` (files, or folders searched for ``*.py``), longest first, then by file and line."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts))
        elif path.suffix == ".py" and path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: neither a folder nor a Python file")
    found = [f for file in files for f in functions_in(file)]
    return sorted(found, key=lambda f: (-f.length, str(f.path), f.line))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/longest_functions.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, default=[REPO / "arerec"],
                        help="folders or Python files to read (default: the arerec package)")
    parser.add_argument("--top", type=int, default=15, help="how many of the longest to list (default: 15)")
    parser.add_argument("--max", type=int, default=None, metavar="N",
                        help="exit with status 1, listing them, when any function is longer than N lines")
    args = parser.parse_args(argv)
    if args.top < 0 or (args.max is not None and args.max < 1):
        parser.error(f"--top must be >= 0 and --max >= 1, received: --top {args.top}, --max {args.max}")
    try:
        found = longest(args.paths)
    except (FileNotFoundError, SyntaxError) as exc:
        parser.error(str(exc))
    print(f"{len(found)} functions; the {min(args.top, len(found))} longest (lines, name, file:line):")
    for function in found[: args.top]:
        print(function.row())
    if args.max is not None:
        over = [f for f in found if f.length > args.max]
        if over:
            print(f"{len(over)} functions are longer than {args.max} lines:", file=sys.stderr)
            for function in over:
                print(function.row(), file=sys.stderr)
            return 1
        print(f"none is longer than {args.max} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
