"""Compile an experiment's LaTeX tables (``tables/*.tex``: the headline and the verdicts) into one PDF, as a paper
would include them, and draw its pages as PNGs to look at.

    python scripts/compile_tables.py reports/ci [OUT_DIR]      (default OUT_DIR: /tmp/tables_<experiment>)

Each table is ``\\input`` into a one-column ``article`` with ``booktabs`` and ``array`` (what the tables need), on a landscape A4 page
so that the verdicts' nine columns fit; ``pdflatex`` runs twice in ``--halt-on-error`` mode. Prints the PDF, its pages
as PNGs (``pdftoppm -r 110``) and any overfull box pdflatex reported. Needs ``pdflatex`` (Debian:
``texlive-latex-recommended``) and ``pdftoppm`` (``poppler-utils``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

DOCUMENT = r"""\documentclass[10pt]{article}
\usepackage[T1]{fontenc}
\usepackage{lmodern}
\usepackage[a4paper,landscape,margin=1.5cm]{geometry}
\usepackage{booktabs,array}
\begin{document}
%s
\end{document}
"""


def compile_tables(folder: Path, out: Path) -> Path:
    """``folder``'s ``tables/*.tex`` in one PDF under ``out``; returns the PDF."""
    for tool in ("pdflatex", "pdftoppm"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing (Debian: apt-get install texlive-latex-recommended poppler-utils)")
    tables = sorted((folder / "tables").glob("*.tex"))
    if not tables:
        sys.exit(f"{folder}/tables holds no .tex")
    out.mkdir(parents=True, exist_ok=True)
    inputs = "\n".join(rf"\input{{{t.resolve()}}}" + "\n\\clearpage" for t in tables)
    (out / "tables.tex").write_text(DOCUMENT % inputs)
    for _ in range(2):
        done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "tables.tex"], cwd=out,
                              capture_output=True, text=True, timeout=300)
        if done.returncode:
            sys.exit(f"pdflatex failed:\n{done.stdout[-3000:]}")
    subprocess.run(["pdftoppm", "-r", "110", "-png", "tables.pdf", "page"], cwd=out, check=True)
    boxes = re.findall(r"Overfull \\hbox.*", done.stdout)
    print(f"{out / 'tables.pdf'}: {len(tables)} tables ({', '.join(t.name for t in tables)}); pages: "
          f"{', '.join(p.name for p in sorted(out.glob('page-*.png')))}; overfull boxes: {len(boxes)}")
    for box in boxes:
        print(f"  {box}")
    return out / "tables.pdf"


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    folder = Path(sys.argv[1])
    compile_tables(folder, Path(sys.argv[2]) if len(sys.argv) > 2 else Path(f"/tmp/tables_{folder.name}"))
