"""Tables of results: medians over seeds, method lists checked against a registry, Markdown.

Used by the benchmarks (``python -m tutorial_lib bench``) and notebooks 03 and 04, which print the
tables the benchmarks write.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence


def median_over_seeds(runs: Sequence[Mapping], keys: Iterable[str]) -> dict[str, float]:
    """Median of each numeric key over per-seed result dicts (keys with no number are skipped).

    Parameters
    ----------
    runs : sequence of dict
        One result dict per seed (what ``evaluate`` returns).
    keys : iterable of str

    Returns
    -------
    dict
        ``key -> median`` (float) for every key that holds a number in at least one run.
    """
    out = {}
    for key in keys:
        values = [r[key] for r in runs
                  if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool)]
        if values:
            out[key] = float(statistics.median(values))
    return out


def markdown_table(rows: Sequence[Mapping], columns: Sequence[str], first: str = "method") -> str:
    """A Markdown table: ``first`` as the first column, then ``columns``; floats with 3 decimals.

    Parameters
    ----------
    rows : sequence of dict
    columns : sequence of str
        Keys shown after ``first``; a key missing from a row leaves its cell empty.
    first : str
        The key that names each row.
    """
    header = f"| {first} | " + " | ".join(columns) + " |"
    rule = "|" + "---|" * (len(columns) + 1)
    lines = [header, rule]
    for row in rows:
        cells = [f"{row[c]:.3f}" if isinstance(row.get(c), float) else str(row.get(c, "")) for c in columns]
        lines.append(f"| {row.get(first, '')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def method_names(registry: Mapping, task: str, methods: Iterable[str] | None = None) -> list[str]:
    """``methods`` as a list (default: every key of ``registry``), refusing names it lacks.

    Raises
    ------
    ValueError
        Naming the unknown methods and the available ones.
    """
    names = list(methods) if methods else list(registry)
    unknown = [m for m in names if m not in registry]
    if unknown:
        raise ValueError(f"unknown {task} method(s) {unknown}; available: {list(registry)}")
    return names
