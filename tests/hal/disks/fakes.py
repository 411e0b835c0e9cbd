"""Test doubles for the disk layer: a scripted command runner and a temporary sysfs tree."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from hal.disks.errors import CommandTimeout
from hal.disks.runner import CommandResult

FIXTURES = Path(__file__).parent / "fixtures"

Answer = Callable[[tuple[str, ...]], CommandResult | None]


def fixture_result(name: str, argv: Sequence[str] = ("smartctl",)) -> CommandResult:
    """A recorded smartctl JSON document as the runner returns it (exit status included)."""
    text = (FIXTURES / name).read_text()
    return CommandResult(tuple(argv), json.loads(text)["smartctl"]["exit_status"], text, "")


class FakeRunner:
    """Records every argv; answers with the first ``answer`` that returns a result, else
    exit 0 with no output. ``timeouts``: programs that time out; ``missing``: not installed."""

    def __init__(self, *answers: Answer, timeouts: Sequence[str] = (),
                 missing: Sequence[str] = ()) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.timeouts_seen: list[float] = []
        self._answers = list(answers)
        self._timeouts = set(timeouts)
        self._missing = set(missing)

    def answer(self, answer: Answer) -> None:
        self._answers.insert(0, answer)

    async def __call__(self, argv: Sequence[str], *, timeout_s: float) -> CommandResult:
        argv = tuple(argv)
        self.calls.append(argv)
        self.timeouts_seen.append(timeout_s)
        if argv[0] in self._missing:
            raise FileNotFoundError(argv[0])
        if argv[0] in self._timeouts:
            raise CommandTimeout(argv, timeout_s)
        for answer in self._answers:
            result = answer(argv)
            if result is not None:
                return result
        return CommandResult(argv, 0, "", "")

    def programs(self) -> list[str]:
        return [argv[0] for argv in self.calls]


def blkid_answer(table: dict[str, dict[str, str]]) -> Answer:
    """``blkid -p -o export DEV`` answered from ``{devnode: {TYPE:..., UUID:...}}``;
    exit 2 (nothing found) for other devices."""
    def answer(argv: tuple[str, ...]) -> CommandResult | None:
        if argv[0] != "blkid":
            return None
        values = table.get(argv[-1])
        if values is None:
            return CommandResult(argv, 2, "", "")
        text = "".join(f"{k}={v}\n" for k, v in {"DEVNAME": argv[-1], **values}.items())
        return CommandResult(argv, 0, text, "")
    return answer


class SysfsTree:
    """A fake ``/sys`` with ``block/<name>`` entries linked to their DEVPATH, as the
    kernel lays it out (``/sys/block/sda`` → ``../devices/.../block/sda``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "block").mkdir(parents=True, exist_ok=True)

    def add_disk(self, name: str, devpath: str, *, size_bytes: int = 4 << 40,
                 files: dict[str, str | bytes] | None = None,
                 partitions: Sequence[str] = ()) -> Path:
        directory = self.root / devpath.lstrip("/")
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "size").write_text(f"{size_bytes // 512}\n")
        for rel, content in (files or {}).items():
            path = directory / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
        for number, part in enumerate(partitions, 1):
            (directory / part).mkdir()
            (directory / part / "partition").write_text(f"{number}\n")
            (directory / part / "size").write_text("1000\n")
        link = self.root / "block" / name
        if link.is_symlink():
            link.unlink()
        link.symlink_to(directory)
        return directory

    def remove_disk(self, name: str) -> None:
        (self.root / "block" / name).unlink()
