"""A real PACS for the network tests: Debian's Orthanc on loopback, in a temporary folder.

Why a real one: pynetdicom talking to pynetdicom would only prove that one library agrees with
itself. Orthanc (DCMTK inside) rejects a wrong called AE title, negotiates its own transfer
syntaxes and runs C-GET sub-operations the way a clinical archive does.

Recipe and pitfalls: shared/reference/dicom-notes.md section 4. Orthanc 1.10 cannot bind to one
address, so it listens on every interface; only the registered loopback modality may store,
query or retrieve (``DicomAlwaysAllowStore: false`` + ``DicomCheckModalityHost: true``), and the
REST server refuses remote hosts.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tests.ports import free_port  # noqa: F401  (tests import it from here too)

ORTHANC = Path("/usr/sbin/Orthanc")
PACS_AE_TITLE = "TESTPACS"
CLIENT_AE_TITLE = "PLANNER"
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class OrthancServer:
    host: str
    dicom_port: int
    http_port: int
    ae_title: str
    client_ae_title: str
    folder: Path

    @property
    def log(self) -> Path:
        return self.folder / "orthanc.log"

    def rest(self, path: str, method: str = "GET"):
        """The REST answer as JSON: the test's independent view of what Orthanc stored."""
        request = urllib.request.Request(f"http://{self.host}:{self.http_port}{path}", method=method)
        with urllib.request.urlopen(request, timeout=10) as answer:
            body = answer.read()
        return json.loads(body) if body else None

    def rest_bytes(self, path: str) -> bytes:
        with urllib.request.urlopen(f"http://{self.host}:{self.http_port}{path}", timeout=10) as answer:
            return answer.read()


def orthanc_config(folder: Path, dicom_port: int, http_port: int,
                   client_ae_title: str = CLIENT_AE_TITLE) -> dict:
    storage = str(folder / "storage")
    return {
        "Name": "PLANNER-TEST-PACS",
        "StorageDirectory": storage, "IndexDirectory": storage,
        "StorageCompression": False, "Plugins": [],
        "HttpServerEnabled": True, "HttpPort": http_port,
        "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
        "DicomServerEnabled": True, "DicomAet": PACS_AE_TITLE, "DicomPort": dicom_port,
        "DicomCheckCalledAet": True,
        "DicomAlwaysAllowEcho": True, "DicomAlwaysAllowStore": False,
        "DicomCheckModalityHost": True,
        "DicomModalities": {"planner": [client_ae_title, LOOPBACK, 11112]},
        "DicomScpTimeout": 10,
        "SyncStorageArea": False,
    }


def _die_with_parent() -> None:
    """Linux: Orthanc gets SIGTERM if the test process dies, so no run leaves a PACS behind."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@contextlib.contextmanager
def running_orthanc(folder: Path, client_ae_title: str = CLIENT_AE_TITLE,
                    startup_timeout_s: float = 30.0) -> Iterator[OrthancServer]:
    """Start Orthanc in ``folder``, wait until REST ``/system`` answers, always stop it after."""
    folder.mkdir(parents=True, exist_ok=True)
    dicom_port, http_port = free_port(), free_port()
    while http_port == dicom_port:
        http_port = free_port()
    config = folder / "orthanc.json"
    config.write_text(json.dumps(orthanc_config(folder, dicom_port, http_port, client_ae_title), indent=1))
    server = OrthancServer(LOOPBACK, dicom_port, http_port, PACS_AE_TITLE, client_ae_title, folder)
    with open(server.log, "wb") as log:
        process = subprocess.Popen([str(ORTHANC), str(config)], stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=folder, preexec_fn=_die_with_parent)
    try:
        _wait_until_ready(server, process, startup_timeout_s)
        yield server
    finally:
        _stop(process)


def _wait_until_ready(server: OrthancServer, process: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"Orthanc exited with code {process.returncode} at start-up:\n"
                               + _tail(server.log))
        try:
            if server.rest("/system").get("DicomAet") == server.ae_title:
                return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"Orthanc did not answer on REST within {timeout_s:g} s:\n"
                               + _tail(server.log))
        time.sleep(0.1)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM (clean shutdown takes a few seconds), then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def orthanc_available() -> bool:
    return ORTHANC.is_file() and os.access(ORTHANC, os.X_OK)
