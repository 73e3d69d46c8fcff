"""``manage.py djworkers_settings``: every djworkers setting, its default and the value in effect."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from djworkers import conf
from djworkers.doors import all_doors


def reference() -> list[dict[str, object]]:
    """One row per key: where it lives, its default, the value in effect, old names, owner."""
    owners = {door.settings_section: door.name for door in all_doors() if door.settings_section}
    legacy: dict[str, list[str]] = {}
    for old, (section, key) in conf.legacy_settings().items():
        legacy.setdefault(conf.new_name(section, key), []).append(old)
    effective = conf.all_settings()
    rows = []
    for top, default in conf.defaults().items():
        places = (
            [(top, key, value) for key, value in default.items()]
            if isinstance(default, dict)
            else [(None, top, default)]
        )
        for section, key, value in places:
            name = conf.new_name(section, key)
            current = effective[section][key] if section else effective[key]
            rows.append(
                {
                    "setting": name,
                    "owner": owners.get(section, "core") if section else "core",
                    "default": value,
                    "value": current,
                    "old_names": sorted(legacy.get(name, [])),
                }
            )
    return rows


class Command(BaseCommand):
    help = (
        "List every djworkers setting (the core's and each front door's, doors from other "
        "packages included) with its default, the value in effect in this project and the "
        "old flat names of the original libraries that still set it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the list as JSON.")
        parser.add_argument(
            "--changed", action="store_true", help="Only the settings whose value differs from the default."
        )

    def handle(self, *args, **options):
        rows = reference()
        if options["changed"]:
            rows = [row for row in rows if row["value"] != row["default"]]
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2, default=repr))
            return
        for row in rows:
            mark = "" if row["value"] == row["default"] else "  (changed)"
            self.stdout.write(f"{row['setting']}  [{row['owner']}]{mark}")
            self.stdout.write(f"    value:   {row['value']!r}")
            if row["value"] != row["default"]:
                self.stdout.write(f"    default: {row['default']!r}")
            if row["old_names"]:
                self.stdout.write(f"    old name: {', '.join(row['old_names'])}")
