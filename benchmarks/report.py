"""The results: ``benchmarks/results/latest.json`` (everything) and ``latest.md`` (the tables)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

RATIO_HELP = (
    "**× djworkers**: how many times better djworkers' figure is than this row's, on the "
    "scenario's main metric, against djworkers' row of the same group (> 1: djworkers better, "
    "< 1: djworkers worse; for times and latencies, this row's time ÷ djworkers' time)."
)


def _number(value: float | None, digits: int) -> str:
    if value is None:
        return "–"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def needs(target: dict[str, Any]) -> str:
    """The threshold of a target: "≥ 0.8", or "0.77 to 1.3" for a bounded figure."""
    if target.get("maximum") is not None:
        return f"{target['minimum']} to {target['maximum']}"
    return f"≥ {target['minimum']}"


def format_ratio(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}" if value >= 0.1 else f"{value:.2g}"


LOAD_HELP = (
    "**load**: the 1-minute load average and the share of all cores busy (others' work: our "
    "servers idle between measurements) just before the row's measurement(s), the highest of its "
    "samples. **⚠** marks a row with a sample that started while the machine was still busy after "
    "the bounded wait for quiet: compare its rates with care; its CPU per job is steadier."
)


def load_cell(row: dict[str, Any]) -> str:
    """``load1 / busy%`` of a row's samples (the worst), with ⚠ when one started under load."""
    machine = row.get("machine") or {}
    loads = [v for v in machine.get("load1", []) if v is not None]
    busy = [v for v in machine.get("busy", []) if v is not None]
    if not loads and not busy:
        return "–"
    text = " / ".join(
        part for part in (f"{max(loads):.1f}" if loads else "", f"{max(busy) * 100:.0f}%" if busy else "") if part
    )
    return ("⚠ " + text) if machine.get("under_load") else text


def under_load(row: dict[str, Any]) -> bool:
    return bool((row.get("machine") or {}).get("under_load"))


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
    head = ["contender", "group"] + [f"{m['name']} [{m['unit']}]" for m in metrics] + ["× djworkers", "load", "notes"]
    lines = [
        f"### {scenario['title']} (`{scenario['name']}`)",
        "",
        scenario["description"],
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for row in scenario["rows"]:
        notes = []
        if row["unavailable"]:
            notes.append(f"not run: {row['unavailable']}")
        if row["errors"]:
            notes.append(
                f"ERROR: {row['errors'][0]}" + (f" (+{len(row['errors']) - 1} more)" if len(row["errors"]) > 1 else "")
            )
        if row["note"]:
            notes.append(row["note"])
        for key, value in row.get("extra", {}).items():
            notes.append(f"{key}={value}")
        name = f"**{row['contender']}**" if row["role"] == "djworkers" else row["contender"]
        if row["role"] == "ceiling":
            name += " (ceiling)"
        if under_load(row):
            name += " ⚠"
        ratio = format_ratio(row["ratio"])
        cells = (
            [name, row["group"] or "–"]
            + [_cell(row, m) for m in metrics]
            + [ratio, load_cell(row), "; ".join(notes).replace("|", "/")]
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    machine = meta["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items() if v)
    loads = "; ".join(f"{name}: {' / '.join(map(str, load))}" for name, load in meta["load_average"].items())
    missing = results.get("missing_djworkers") or []
    flagged = [f"{s['name']}: {row['contender']}" for s in results["scenarios"] for row in s["rows"] if under_load(row)]
    parts = [
        "# djworkers benchmark results",
        "",
        f"- Run: {meta['started']} → {meta['finished']} ({meta['mode']}, {meta['repetitions']} repetition(s), "
        "contenders alternated each repetition; median (min–max))",
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, {machine['os']}",
        f"- Load average (1/5/15 min) {loads}",
        f"- Before each measurement: waited up to {meta.get('quiet_wait_s', 0):g} s for at most "
        f"{meta.get('quiet_busy_share', 0.25) * 100:.0f}% of the cores busy; "
        + (f"**{len(flagged)} row(s) taken under load** (⚠)" if flagged else "no row taken under load"),
        f"- Servers: redis-server {meta['redis']} (private, this run only); PostgreSQL {meta['postgres']}",
        f"- Versions: {versions}",
        f"- Command: `{meta['command']}`",
        "",
        "The machine is shared: absolute numbers drift between runs, ratios within one run hold better, "
        "and CPU per job (user + system of the worker's process tree over the same jobs) best.",
        RATIO_HELP,
        LOAD_HELP,
        "",
    ]
    if missing:
        parts += ["**djworkers figures missing in this run:** " + "; ".join(missing), ""]
    parts += ["## Targets from the issues", ""]
    for target in results.get("targets", []):
        ratio = "–" if target["ratio"] is None else f"{target['ratio']:.2f}"
        parts.append(f"- **{target['status']}** ({ratio}, needs {needs(target)}): {target['target']}")
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
    flagged = sum(1 for s in results["scenarios"] for row in s["rows"] if under_load(row))
    parts = [
        f"Run {meta['started']} to {meta['finished']} ({meta['mode']}, {meta['repetitions']} repetition(s)) on "
        f"{machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, {machine['os']}. "
        f"Load average (1/5/15 min) {loads}. redis-server {meta['redis']}; PostgreSQL {meta['postgres']}. "
        f"{versions}. Before each measurement the harness waited up to {meta.get('quiet_wait_s', 0):g} s for "
        f"a quiet machine; "
        + (
            f"{flagged} row(s) were taken under load (marked ⚠ in the load column)."
            if flagged
            else "no row was taken under load."
        ),
        "",
    ]
    missing = results.get("missing_djworkers") or []
    if missing:
        parts += ["djworkers figures missing in this run: " + _rst_text("; ".join(missing)), ""]
    for scenario in results["scenarios"]:
        metrics = scenario["metrics"]
        head = (
            ["contender", "group"] + [f"{m['name']} [{m['unit']}]" for m in metrics] + ["× djworkers", "load", "notes"]
        )
        title = f"{scenario['title']} ({scenario['name']})"
        parts += [
            title,
            "~" * len(title),
            "",
            _rst_text(scenario["description"]),
            "",
            ".. list-table::",
            "   :header-rows: 1",
            "",
        ]
        rows = [head]
        for row in scenario["rows"]:
            notes = []
            if row["unavailable"]:
                notes.append(f"not run: {row['unavailable']}")
            if row["errors"]:
                notes.append(f"ERROR: {row['errors'][0]}")
            notes += [f"{k}={v}" for k, v in row.get("extra", {}).items()]
            name = row["contender"] + (" (ceiling)" if row["role"] == "ceiling" else "")
            name += " ⚠" if under_load(row) else ""
            ratio = format_ratio(row["ratio"])
            rows.append(
                [name, row["group"] or "–"]
                + [_cell(row, m) for m in metrics]
                + [ratio, load_cell(row), "; ".join(notes)]
            )
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
        lines.append(f"- **{target['status']}** ({ratio}, needs {needs(target)}): {_rst_text(target['target'])}")
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
