"""The results: ``benchmarks/results/latest.json`` (everything) and ``latest.md`` (the tables)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RATIO_HELP = ("**× djworkers**: how many times better djworkers' figure is than this row's, on the "
              "scenario's main metric, against djworkers' row of the same group (> 1: djworkers better, "
              "< 1: djworkers worse; for times and latencies, this row's time ÷ djworkers' time).")


def _number(value: float | None, digits: int) -> str:
    if value is None:
        return "–"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _cell(row: dict[str, Any], metric: dict[str, Any]) -> str:
    summary = row["metrics"].get(metric["name"])
    if not summary:
        return "–"
    digits = metric["digits"]
    text = _number(summary["median"], digits)
    if summary["n"] > 1:
        text += f" ({_number(summary['min'], digits)}–{_number(summary['max'], digits)})"
    return text


def scenario_markdown(scenario: dict[str, Any]) -> str:
    metrics = scenario["metrics"]
    head = ["contender", "group"] + [f"{m['name']} [{m['unit']}]" for m in metrics] + ["× djworkers", "notes"]
    lines = [f"### {scenario['title']} (`{scenario['name']}`)", "", scenario["description"], "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in scenario["rows"]:
        notes = []
        if row["unavailable"]:
            notes.append(f"not run: {row['unavailable']}")
        if row["errors"]:
            notes.append(f"ERROR: {row['errors'][0]}" + (f" (+{len(row['errors']) - 1} more)" if len(row["errors"]) > 1 else ""))
        if row["note"]:
            notes.append(row["note"])
        for key, value in row.get("extra", {}).items():
            notes.append(f"{key}={value}")
        name = f"**{row['contender']}**" if row["role"] == "djworkers" else row["contender"]
        if row["role"] == "ceiling":
            name += " (ceiling)"
        ratio = "–" if row["ratio"] is None else f"{row['ratio']:.3g}"
        cells = [name, row["group"] or "–"] + [_cell(row, m) for m in metrics] + [ratio, "; ".join(notes).replace("|", "/")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    machine = meta["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items() if v)
    loads = "; ".join(f"{name}: {' / '.join(map(str, load))}" for name, load in meta["load_average"].items())
    missing = results.get("missing_djworkers") or []
    parts = [
        "# djworkers benchmark results",
        "",
        f"- Run: {meta['started']} → {meta['finished']} ({meta['mode']}, {meta['repetitions']} repetition(s), "
        "contenders alternated each repetition; median (min–max))",
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, {machine['os']}",
        f"- Load average (1/5/15 min) {loads}",
        f"- Servers: redis-server {meta['redis']} (private, this run only); PostgreSQL {meta['postgres']}",
        f"- Versions: {versions}",
        f"- Command: `{meta['command']}`",
        "",
        "The machine is shared: absolute numbers drift between runs, ratios within one run hold better.",
        RATIO_HELP,
        "",
    ]
    if missing:
        parts += ["**djworkers figures missing in this run:** " + "; ".join(missing), ""]
    for scenario in results["scenarios"]:
        parts += [scenario_markdown(scenario), ""]
    return "\n".join(parts)


def write(results: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path, md_path = directory / "latest.json", directory / "latest.md"
    json_path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    md_path.write_text(markdown(results) + "\n")
    return json_path, md_path
