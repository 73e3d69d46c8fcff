"""The results: ``benchmarks/results/latest.json`` (everything) and ``latest.md`` (the tables)."""

from __future__ import annotations

import json
import re
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


def format_ratio(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}" if value >= 0.1 else f"{value:.2g}"


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
        ratio = format_ratio(row["ratio"])
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
    parts += ["## Targets from the issues", ""]
    for target in results.get("targets", []):
        ratio = "–" if target["ratio"] is None else f"{target['ratio']:.2f}"
        parts.append(f"- **{target['status']}** ({ratio}, needs ≥ {target['minimum']}): {target['target']}")
    parts += ["", "## Where djworkers loses to a peer", ""]
    parts += [f"- {line}" for line in results.get("losses", [])] or ["- nowhere in this run"]
    parts.append("")
    for scenario in results["scenarios"]:
        parts += [scenario_markdown(scenario), ""]
    return "\n".join(parts)


def _rst_text(text: str) -> str:
    """Markdown-ish cell text to reST: `code` -> ``code``, no bare bold markers."""
    return re.sub(r"(?<!`)`([^`]+)`(?!`)", r"``\1``", text).replace("**", "")


def restructuredtext(results: dict[str, Any]) -> str:
    """The same tables for the docs (``docs/performance.rst`` includes this file)."""
    meta = results["meta"]
    machine = meta["machine"]
    loads = "; ".join(f"{name}: {' / '.join(map(str, load))}" for name, load in meta["load_average"].items())
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items() if v)
    parts = [
        f"Run {meta['started']} to {meta['finished']} ({meta['mode']}, {meta['repetitions']} repetition(s)) on "
        f"{machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, {machine['os']}. "
        f"Load average (1/5/15 min) {loads}. redis-server {meta['redis']}; PostgreSQL {meta['postgres']}. "
        f"{versions}.",
        "",
    ]
    missing = results.get("missing_djworkers") or []
    if missing:
        parts += ["djworkers figures missing in this run: " + _rst_text("; ".join(missing)), ""]
    for scenario in results["scenarios"]:
        metrics = scenario["metrics"]
        head = ["contender", "group"] + [f"{m['name']} [{m['unit']}]" for m in metrics] + ["× djworkers", "notes"]
        title = f"{scenario['title']} ({scenario['name']})"
        parts += [title, "~" * len(title), "", _rst_text(scenario["description"]), "",
                  ".. list-table::", "   :header-rows: 1", ""]
        rows = [head]
        for row in scenario["rows"]:
            notes = []
            if row["unavailable"]:
                notes.append(f"not run: {row['unavailable']}")
            if row["errors"]:
                notes.append(f"ERROR: {row['errors'][0]}")
            notes += [f"{k}={v}" for k, v in row.get("extra", {}).items()]
            name = row["contender"] + (" (ceiling)" if row["role"] == "ceiling" else "")
            ratio = format_ratio(row["ratio"])
            rows.append([name, row["group"] or "–"] + [_cell(row, m) for m in metrics] + [ratio, "; ".join(notes)])
        for cells in rows:
            parts.append("   * - " + (_rst_text(cells[0]) or "–"))
            parts += [f"     - {_rst_text(cell)}".rstrip() for cell in cells[1:]]
        parts.append("")
    return "\n".join(parts)


def losses_restructuredtext(results: dict[str, Any]) -> str:
    """Targets met/missed and every peer that beat djworkers, for docs/performance.rst."""
    lines = ["Targets the issues set, in this run:", ""]
    for target in results.get("targets", []):
        ratio = "not measured" if target["ratio"] is None else f"{target['ratio']:.2f}"
        lines.append(f"- **{target['status']}** ({ratio}, needs ≥ {target['minimum']}): {_rst_text(target['target'])}")
    lines += ["", "Peers that beat djworkers in this run:", ""]
    lines += [f"- {_rst_text(line)}" for line in results.get("losses", [])] or ["- none"]
    return "\n".join(lines)


def write(results: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path, md_path = directory / "latest.json", directory / "latest.md"
    json_path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    md_path.write_text(markdown(results) + "\n")
    (directory / "latest.rst").write_text(restructuredtext(results) + "\n")
    (directory / "losses.rst").write_text(losses_restructuredtext(results) + "\n")
    return json_path, md_path
