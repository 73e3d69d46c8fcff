"""A front door defined only in the tests: the seam a new door plugs into.

The "file" door keeps its messages in a :class:`~tests.testapp.filesource.FileSource`
directory (``DJWORKERS["FILEDOOR"]["DIR"]``), and declares everything a
built-in door does. The tests name it in ``DJWORKERS["DOORS"]`` and then expect
checks, ``djworkers_status``, the admin dashboard, ``djworkers_run``, replay,
autodiscovery and the settings reference to pick it up with no core file edited.
"""

from __future__ import annotations

from django.core import checks

from djworkers import conf
from djworkers.doors import Door, WorkerCommand
from djworkers.monitoring.status import column, section


class FileDoor(Door):
    name = "file"
    title = "Files"
    settings_section = "FILEDOOR"
    defaults = {"DIR": None}
    legacy_settings = {"FILEDOOR_DIR": "DIR"}
    autodiscover = ("file_jobs",)

    def _source(self):
        from tests.testapp.filesource import FileSource

        return FileSource(conf.section("FILEDOOR")["DIR"])

    def enqueue(self, message) -> None:
        self._source().enqueue(message)

    def check(self):
        directory = conf.section("FILEDOOR")["DIR"]
        if directory is not None and not isinstance(directory, str):
            yield checks.Error(f'DJWORKERS["FILEDOOR"]["DIR"] must be a path, got {directory!r}.', id="tests.E901")

    def status(self, options):
        if not conf.section("FILEDOOR")["DIR"]:
            return section(self.name, self.title, [], [], ["file door: no DIR configured"])
        source = self._source()
        return section(
            self.name,
            self.title,
            [column("waiting", "Waiting"), column("leased", "Leased")],
            [{"waiting": len(source.waiting()), "leased": len(source.leased())}],
        )

    def workers(self):
        directory = conf.section("FILEDOOR")["DIR"] or ""
        return (
            WorkerCommand(
                "files",
                ("test_worker", "--dir", directory, "--burst"),
                'when DJWORKERS["FILEDOOR"]["DIR"] is set',
                lambda: bool(directory),
            ),
        )


door = FileDoor()
