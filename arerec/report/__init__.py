"""From runs to reports: the notebooks' helpers, their parameters, the runner, the index, ``check``, plots.

- ``notebook``: what a notebook calls: its parameters as a Config, its report folder, figures, tables, records;
- ``parameters``: the notebook-only settings and the layered ``params/*.yaml`` files, every key checked;
- ``metrics_json``: ``metrics.json``, merged section by section;
- ``provenance``: seeds, data checksum, packages, machine, git commit;
- ``runner``: ``python -m arerec.report run``: the notebooks headless through papermill into ``reports/``;
- ``index``: ``reports/index.html`` and ``reports/README.md``;
- ``check``: ``python -m arerec.report check``: the rebuilt ``metrics.json`` against the committed one;
- ``plots``: every figure of the notebooks; ``search_figures``: Optuna's views of each search;
- ``tables``: tables formatted for a report page (the CSV beside each keeps every digit);
- ``kernel``: registers the ``arerec`` Jupyter kernel (``python -m arerec.report.kernel``).
"""
