"""A real, private CUPS server with virtual PDF printers, for the printing tests.

Started per test session from the Debian packages `cups` and `printer-driver-cups-pdf` (installed
by `packaging/bootstrap.sh --test`): its own configuration, spool and socket under a temporary
folder, so it never touches the machine's own print system and several runs can share a machine.
Each queue's cups-pdf writes into its own output folder (cups-pdf reads a per-queue
/etc/cups/cups-pdf-<name>.conf: the only file written outside the temporary folder, removed at the
end). When the server cannot start (not root, a package missing), the tests FAIL with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PPD = Path("/usr/share/ppd/cups-pdf/CUPS-PDF_noopt.ppd")
BACKEND = Path("/usr/lib/cups/backend/cups-pdf")
CUPS_PDF_CONF_DIR = Path("/etc/cups")


class CupsUnavailable(Exception):
    pass


@dataclass
class CupsServer:
    root: Path
    socket: Path
    process: subprocess.Popen
    outputs: dict[str, Path] = field(default_factory=dict)
    conf_files: list[Path] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return {**os.environ, "CUPS_SERVER": str(self.socket), "LC_ALL": "C"}

    def run(self, *command: str) -> subprocess.CompletedProcess:
        return subprocess.run(list(command), capture_output=True, text=True, env=self.env(), timeout=30)

    def add_pdf_queue(self, name: str) -> Path:
        """A cups-pdf queue writing into its own folder; returns the folder."""
        out = self.root / "out" / name
        out.mkdir(parents=True)
        conf = CUPS_PDF_CONF_DIR / f"cups-pdf-{name}.conf"
        conf.write_text(f"Out {out}\nLabel 1\nTitlePref 1\n")  # Label 1: the job id in the name, one file a job
        self.conf_files.append(conf)
        # pdftocairo keeps the PDF's text as embedded fonts through the PostScript step of this
        # virtual printer (the default Ghostscript renderer turns the glyphs into outlines).
        result = self.run("lpadmin", "-p", name, "-E", "-v", f"cups-pdf:/{name}", "-P", str(PPD), "-o", "pdftops-renderer-default=pdftocairo")
        if result.returncode != 0:
            raise CupsUnavailable(f"lpadmin could not add the queue {name}: {result.stderr.strip()}")
        self.outputs[name] = out
        return out

    def remove_queue(self, name: str) -> None:
        self.run("lpadmin", "-x", name)

    def wait_for_output(self, queue: str, count: int = 1, timeout: float = 60) -> list[Path]:
        """The PDFs cups-pdf wrote for `queue`, once there are `count` of them (polling the real files)."""
        deadline = time.monotonic() + timeout
        folder = self.outputs[queue]
        sizes: dict[Path, int] = {}
        while time.monotonic() < deadline:
            files = sorted(folder.glob("*.pdf"), key=lambda p: p.stat().st_mtime)
            pending = self.run("lpstat", "-o", queue).stdout.strip()
            # Done when CUPS has no job left on the queue and the files stopped growing.
            current = {p: p.stat().st_size for p in files}
            if len(files) >= count and not pending and current == sizes and all(current.values()):
                return files
            sizes = current
            time.sleep(0.3)
        log = (self.root / "log" / "error_log").read_text(errors="replace")[-3000:] if (self.root / "log" / "error_log").exists() else ""
        raise AssertionError(f"no output from queue {queue} within {timeout:g} s; CUPS log tail:\n{log}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        if self.process.stderr is not None:
            # The pipe kept for the start-up error was never closed: the ResourceWarning
            # "unclosed file <_io.BufferedReader>" that pyproject reports instead of failing.
            self.process.stderr.close()
        for conf in self.conf_files:
            conf.unlink(missing_ok=True)
        shutil.rmtree(self.root, ignore_errors=True)


def _die_with_parent() -> None:
    """A killed test run takes its cupsd with it (Linux PR_SET_PDEATHSIG), instead of leaving it running."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except OSError:
        pass


def start_cups_server() -> CupsServer:
    """Start the private server, or raise CupsUnavailable saying exactly what is missing."""
    missing = [name for name in ("cupsd", "lpadmin", "lp", "lpstat") if shutil.which(name) is None and not Path(f"/usr/sbin/{name}").exists()]
    if missing:
        raise CupsUnavailable(f"CUPS commands missing: {', '.join(missing)}; run packaging/bootstrap.sh --test (Debian package cups)")
    if not BACKEND.exists() or not PPD.exists():
        raise CupsUnavailable("the virtual PDF printer is missing; run packaging/bootstrap.sh --test (Debian package printer-driver-cups-pdf)")
    if os.geteuid() != 0:
        raise CupsUnavailable("the private CUPS server for the printing tests must be started as root (cups-pdf runs only as root)")
    root = Path(tempfile.mkdtemp(prefix="infusion-cups-"))
    for sub in ("etc", "spool", "cache", "run", "log", "out"):
        (root / sub).mkdir()
    (root / "tmp").mkdir(mode=0o1777)
    os.chmod(root / "tmp", 0o1777)  # the filters run as the lp user and write here
    os.chmod(root, 0o755)
    socket = root / "run" / "cups.sock"
    (root / "etc" / "cupsd.conf").write_text(
        f"Listen {socket}\nLogLevel debug\nWebInterface No\nBrowsing No\n"
        "<Location />\n  Order allow,deny\n  Allow all\n</Location>\n"
        "<Location /admin>\n  Order allow,deny\n  Allow all\n</Location>\n"
    )
    (root / "etc" / "cups-files.conf").write_text(
        "\n".join(
            [
                f"ServerRoot {root / 'etc'}",
                f"RequestRoot {root / 'spool'}",
                f"CacheDir {root / 'cache'}",
                f"StateDir {root / 'run'}",
                f"TempDir {root / 'tmp'}",
                f"ErrorLog {root / 'log' / 'error_log'}",
                f"AccessLog {root / 'log' / 'access_log'}",
                f"PageLog {root / 'log' / 'page_log'}",
                "ServerBin /usr/lib/cups",
                "DataDir /usr/share/cups",
                "SystemGroup root",
                "",
            ]
        )
    )
    cupsd = shutil.which("cupsd") or "/usr/sbin/cupsd"
    process = subprocess.Popen(
        [cupsd, "-f", "-c", str(root / "etc" / "cupsd.conf"), "-s", str(root / "etc" / "cups-files.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=_die_with_parent,
    )
    server = CupsServer(root, socket, process)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read().decode(errors="replace") if process.stderr else ""
            shutil.rmtree(root, ignore_errors=True)
            raise CupsUnavailable(f"cupsd exited at start (code {process.returncode}): {error.strip()}")
        if socket.exists() and server.run("lpstat", "-r").returncode == 0:
            return server
        time.sleep(0.1)
    server.stop()
    raise CupsUnavailable("cupsd did not answer on its socket within 20 s")
