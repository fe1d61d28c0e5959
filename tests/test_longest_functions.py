"""scripts/longest_functions.py: the longest functions of a package, and --max as a gate."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
from conftest import REPO

SCRIPT = REPO / "scripts" / "longest_functions.py"
spec = importlib.util.spec_from_file_location("longest_functions", SCRIPT)
longest_functions = importlib.util.module_from_spec(spec)
sys.modules["longest_functions"] = longest_functions  # dataclasses look the module up while the class is made
spec.loader.exec_module(longest_functions)

SOURCE = '''\
import functools


@functools.cache
def short():
    return 1


class Box:
    def method(self):
        """Four lines,
        the docstring included."""

        return 2

    async def waits(self):
        def inner():
            return 3
        return inner()
'''


@pytest.fixture
def package(tmp_path):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text(SOURCE)
    (tmp_path / "pkg" / "sub" / "b.py").write_text("def long():\n" + "    x = 1\n" * 9)
    return tmp_path / "pkg"


def test_functions_longest_first_with_qualified_names_and_lines(package):
    found = [(f.name, f.path.name, f.line, f.length) for f in longest_functions.longest([package])]
    assert found == [("long", "b.py", 1, 10), ("Box.method", "a.py", 10, 5), ("Box.waits", "a.py", 16, 4),
                     ("short", "a.py", 5, 2), ("Box.waits.inner", "a.py", 17, 2)]


def test_max_fails_naming_the_functions_over_it(package, capsys):
    assert longest_functions.main([str(package), "--top", "2", "--max", "4"]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "5 functions; the 2 longest (lines, name, file:line):" and len(out.splitlines()) == 3
    assert err.splitlines()[0] == "2 functions are longer than 4 lines:"
    assert "   10  long  " in err and "sub/b.py:1" in err and "Box.method" in err and "Box.waits" not in err
    assert longest_functions.main([str(package), "--max", "10"]) == 0
    assert "none is longer than 10 lines" in capsys.readouterr().out


def test_bad_input_is_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        longest_functions.main([str(tmp_path / "nothing")])
    assert "neither a folder nor a Python file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        longest_functions.main(["--max", "0"])
    assert "--max >= 1" in capsys.readouterr().err


def test_it_lists_the_package_from_the_command_line():
    done = subprocess.run([sys.executable, str(SCRIPT), "--top", "3"], capture_output=True, text=True, cwd=REPO)
    lines = done.stdout.splitlines()
    assert done.returncode == 0 and len(lines) == 4 and " arerec/" in lines[1]
    lengths = [int(line.split()[0]) for line in lines[1:]]
    assert lengths == sorted(lengths, reverse=True)


def test_no_function_of_the_package_is_longer_than_50_lines():
    """Issue 31: every function of arerec/, the report pages' code included, fits in 50 lines."""
    over = [f.row() for f in longest_functions.longest([REPO / "arerec"]) if f.length > 50]
    assert not over, "longer than 50 lines:\n" + "\n".join(over)
