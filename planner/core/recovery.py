"""Crash recovery: every Planner instance keeps its windows' unsaved edits in a folder of its own.

``data_dir/recovery/<instance>/`` holds one file per window (``plan.json`` for the main window's
plan, ``imrt-<n>.json`` for each IMRT window), written after every edit, and the instance's lock.
A clean close removes the folder; a folder whose lock nobody holds belongs to an instance that
stopped without closing (a crash, a kill, a power cut), and its files are offered to the next
instance that looks, each stopped instance's work on its own. Live instances' folders are never
offered: the lock is an OS file lock, which the OS lets go of when its process dies (whatever
becomes of its pid); ``owner.json`` beside it names the process and the files it has open, so a
second instance opening the same plan file is told so.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from planner.core.atomic import atomic_write_text
from planner.core.inverse_plan_file import ImrtRecovery
from planner.core.plan import Plan
from planner.core.plan_file import PlanFileError, load_plan, save_plan

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None
    import msvcrt

FOLDER = "recovery"
LOCK_NAME = "instance.lock"
OWNER_NAME = "owner.json"
PLAN_NAME = "plan.json"
LEGACY_PLAN = "open-plan.json"           # the one shared file of Planner before per-instance folders
LEGACY_IMRT = "imrt-recovery.json"       # beside the recovery folder, in the data folder
_IMRT_FILE = re.compile(r"imrt-[0-9]+\.json")


class _FolderLock:
    """An exclusive, non-blocking OS lock on a folder's lock file."""

    def __init__(self, folder: Path):
        self.path = folder / LOCK_NAME
        self._file = None

    def acquire(self) -> bool:
        try:
            handle = open(self.path, "a+b")
        except OSError:
            return False
        try:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            else:  # pragma: no cover - Windows
                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is not None:
            self._file.close()   # closing lets go of the lock
            self._file = None


class RecoveryStore:
    """One window's recovery file: its plan, and the text typed into its fields but not yet used."""

    def __init__(self, path: str | os.PathLike, session: "RecoverySession | None" = None,
                 kept_dir: Path | None = None):
        self.path = Path(path)
        self.session = session
        self.kept_dir = kept_dir or (session.root if session is not None else self.path.parent)
        self.entries_path = self.path.with_name(self.path.stem + ".fields.json")

    def save(self, plan: Plan, entries: dict[str, str] | None = None) -> None:
        save_plan(self.path, plan, readable=False)
        if entries:
            atomic_write_text(self.entries_path, json.dumps(entries, ensure_ascii=False) + "\n")
        else:
            self.entries_path.unlink(missing_ok=True)

    def pending(self) -> bool:
        return self.path.exists()

    def load(self) -> Plan:
        """The recovered plan; a damaged file is moved aside (kept, not deleted) and reported."""
        try:
            return load_plan(self.path)
        except PlanFileError:
            try:
                self.path.replace(self.path.with_suffix(".damaged.json"))
            except OSError:
                pass  # left where it is; the message still says it is damaged
            raise

    def load_entries(self) -> dict[str, str]:
        """What was typed into the plan's fields and not yet used ({} when nothing, or unreadable)."""
        try:
            entries = json.loads(self.entries_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in entries.items()} if isinstance(entries, dict) else {}

    def set_aside(self) -> Path:
        """Move the recovery file out of the way while its plan is being reopened, so nothing
        that happens meanwhile (opening the demo, a clean close) can delete it."""
        aside = self.path.with_name("restoring-" + self.path.name)
        self.path.replace(aside)
        return aside

    def keep(self, aside: Path) -> Path:
        """The reopening did not finish: keep the recovered plan as a plan file of its own, in the
        recovery folder (no instance removes it), and return where it is."""
        kept = self.kept_dir / f"unrestored-plan-{time.strftime('%Y%m%d-%H%M%S')}.plan.json"
        kept.parent.mkdir(parents=True, exist_ok=True)
        aside.replace(kept)
        return kept

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        self.entries_path.unlink(missing_ok=True)

    def note_open(self, file_path: str | None) -> None:
        """The plan file this window has open (None: none), so another instance can be told."""
        if self.session is not None:
            self.session.note_open(self.path.stem, file_path)


@dataclass
class Orphan:
    """The unsaved work of an instance that stopped without closing, claimed by this instance
    (its lock held) until restored, discarded or let go for later."""

    folder: Path
    kept_dir: Path
    owner: dict = field(default_factory=dict)
    plan_path: Path | None = None
    imrt_files: list[Path] = field(default_factory=list)
    _lock: _FolderLock | None = None

    @property
    def plan_store(self) -> RecoveryStore | None:
        if self.plan_path is None or not self.plan_path.exists():
            return None
        return RecoveryStore(self.plan_path, kept_dir=self.kept_dir)

    def imrt_paths(self) -> list[Path]:
        return [p for p in self.imrt_files if p.exists()]

    def describe(self) -> str:
        """Which session it was, in words: "Planner session 1234 on host, last saved 2025-…"."""
        pid, host = self.owner.get("pid"), self.owner.get("host")
        files = [p for p in (self.plan_path, *self.imrt_files) if p is not None and p.exists()]
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(max(p.stat().st_mtime for p in files))) if files else "?"
        who = f"Planner session {pid}" + (f" on {host}" if host and host != socket.gethostname() else "")
        return f"{who if pid else 'An earlier Planner session'}, last autosaved {when}"

    def release(self) -> None:
        """Let go for now: the work stays and is offered again (to this or another instance)."""
        if self._lock is not None:
            self._lock.release()

    def tidy(self) -> bool:
        """Remove the folder once nothing in it is left to recover; True when it is gone. A damaged
        file set aside in it is kept (and so is the folder)."""
        if self.plan_store is not None or self.imrt_paths():
            return False
        if self._lock is None:   # the old shared files sit in shared folders: only they go
            if self.plan_path is not None:
                RecoveryStore(self.plan_path).discard()
            return True
        if any(p.name not in (LOCK_NAME, OWNER_NAME) and not p.name.endswith(".fields.json")
               for p in self.folder.iterdir()):
            return False
        shutil.rmtree(self.folder, ignore_errors=True)
        self._lock.release()
        return True


class RecoverySession:
    """This instance's recovery folder, locked for as long as the instance runs."""

    def __init__(self, data_dir: str | os.PathLike, instance_id: str | None = None):
        self.data_dir = Path(data_dir)
        self.root = self.data_dir / FOLDER
        self.id = instance_id or f"{os.getpid()}-{secrets.token_hex(4)}"
        self.folder = self.root / self.id
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = _FolderLock(self.folder)
        if not self._lock.acquire():
            raise OSError(f"the recovery folder {self.folder} is in use by another Planner")
        self._open: dict[str, str] = {}
        self._claimed: dict[Path, Orphan] = {}
        self._imrt_count = 0
        self._write_owner()

    # --- this instance's files ---------------------------------------------------------------
    def plan_store(self) -> RecoveryStore:
        return RecoveryStore(self.folder / PLAN_NAME, self)

    def new_imrt_recovery(self) -> ImrtRecovery:
        """A recovery file of its own for each IMRT window this instance opens."""
        self._imrt_count += 1
        return ImrtRecovery(self.folder, f"imrt-{self._imrt_count}.json")

    def note_open(self, key: str, file_path: str | None) -> None:
        if file_path is None:
            self._open.pop(key, None)
        else:
            self._open[key] = str(Path(file_path).resolve())
        self._write_owner()

    def _write_owner(self) -> None:
        owner = {"pid": os.getpid(), "host": socket.gethostname(),
                 "started": getattr(self, "_started", None) or datetime.now().isoformat(timespec="microseconds"),
                 "open": sorted(set(self._open.values()))}
        self._started = owner["started"]
        try:
            atomic_write_text(self.folder / OWNER_NAME, json.dumps(owner) + "\n")
        except OSError:
            pass  # only a courtesy to other instances; recovery itself does not need it

    # --- other instances ----------------------------------------------------------------------
    def _other_folders(self):
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if folder.is_dir() and folder != self.folder and folder not in self._claimed:
                yield folder

    def open_elsewhere(self, file_path: str | os.PathLike) -> list[int]:
        """The process ids of other running instances that have this plan file open."""
        target = str(Path(file_path).resolve())
        pids = []
        for folder in self._other_folders():
            owner = _read_owner(folder)
            if target not in owner.get("open", ()):
                continue
            probe = _FolderLock(folder)
            if probe.acquire():   # nobody holds it: a stopped instance, not an open plan
                probe.release()
                continue
            pids.append(owner.get("pid", 0))
        return pids

    def orphans(self) -> list[Orphan]:
        """The unsaved work of every instance that stopped without closing, oldest first, each
        claimed by this instance until released or tidied away; the old shared files too."""
        for folder in self._other_folders():
            lock = _FolderLock(folder)
            if not lock.acquire():
                continue   # a running instance's
            plan = folder / PLAN_NAME
            imrt = sorted(p for p in folder.glob("imrt-*.json") if _IMRT_FILE.fullmatch(p.name))
            orphan = Orphan(folder, self.root, _read_owner(folder), plan, imrt, lock)
            if orphan.plan_store is None and not orphan.imrt_paths():
                if not orphan.tidy():   # nothing to offer: gone, or only damaged files kept
                    orphan.release()
                continue
            self._claimed[folder] = orphan
        found = [o for o in self._claimed.values() if o.plan_store is not None or o.imrt_paths()]
        legacy = Orphan(self.root, self.root, {}, self.root / LEGACY_PLAN, [self.data_dir / LEGACY_IMRT])
        if legacy.plan_store is not None or legacy.imrt_paths():
            found.insert(0, legacy)
        return sorted(found, key=lambda o: o.owner.get("started", ""))

    def forget(self, orphan: Orphan) -> None:
        """Let go of an orphan for now (offered again later), or drop it once tidied away."""
        if not orphan.tidy():
            orphan.release()
        self._claimed.pop(orphan.folder, None)

    # --- the end ---------------------------------------------------------------------------
    def close(self) -> None:
        """A clean end: the folder goes unless a window's unsaved work is still in it (then it is
        offered to the next instance, as after a crash)."""
        (self.folder / OWNER_NAME).unlink(missing_ok=True)
        if not any(p.name not in (LOCK_NAME,) for p in self.folder.iterdir()):
            shutil.rmtree(self.folder, ignore_errors=True)
        self._lock.release()
        for orphan in list(self._claimed.values()):
            self.forget(orphan)

    def abandon(self) -> None:
        """Let go of the lock and leave every file, as the OS does for a process that dies; tests
        use it to stand in for a crash."""
        self._lock.release()
        for orphan in self._claimed.values():
            orphan.release()
        self._claimed.clear()


def _read_owner(folder: Path) -> dict:
    try:
        owner = json.loads((folder / OWNER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return owner if isinstance(owner, dict) else {}
