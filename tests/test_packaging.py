"""Packaging: the desktop entry, the AppStream metainfo, the icons, the PyInstaller spec and the
CI wiring agree with each other and with pyproject.toml, and the validators accept them.

The validators are Debian's desktop-file-utils and appstream; packaging/ci-checks.sh (run by
.ci/run) installs them. Without them these tests fail, never skip: a skipped validation is a
validation that silently stopped happening.
"""

from __future__ import annotations

import ast
import configparser
import os
import shutil
import struct
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest

from infusion_app.cli import main
from infusion_app.domain.monograph import load_monograph
from infusion_app.gui.icons import APP_ID, APP_NAME, ICON_SIZES

ROOT = Path(__file__).resolve().parents[1]
LINUX = ROOT / "packaging" / "linux"
DESKTOP = LINUX / f"{APP_ID}.desktop"
METAINFO = LINUX / f"{APP_ID}.metainfo.xml"
SPEC = ROOT / "packaging" / "infusion-prep.spec"
HICOLOR = ROOT / "resources" / "icons" / "hicolor"


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive in desktop entries
    parser.read(DESKTOP, encoding="utf-8")
    return parser["Desktop Entry"]


def require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: `apt-get install {package}` (packaging/ci-checks.sh, run by .ci/run, installs it)")
    return path


# -- validators --------------------------------------------------------------------------------


def test_desktop_entry_passes_desktop_file_validate():
    tool = require_tool("desktop-file-validate", "desktop-file-utils")
    result = subprocess.run([tool, str(DESKTOP)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " error: " not in result.stdout + result.stderr
    assert " warning: " not in result.stdout + result.stderr


def test_metainfo_passes_appstreamcli_validate():
    tool = require_tool("appstreamcli", "appstream")
    result = subprocess.run([tool, "validate", "--no-net", str(METAINFO)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # Infos and pedantic notes are tolerated (see README); warnings and errors are not.
    for line in (result.stdout + result.stderr).splitlines():
        assert not line.startswith(("W:", "E:")), line


def test_validators_catch_a_broken_desktop_entry(tmp_path):
    """The validation test above can fail: a desktop entry without its required Name is refused."""
    tool = require_tool("desktop-file-validate", "desktop-file-utils")
    broken = tmp_path / f"{APP_ID}.desktop"
    broken.write_text(
        "\n".join(line for line in DESKTOP.read_text(encoding="utf-8").splitlines() if not line.startswith("Name=")) + "\n",
        encoding="utf-8",
    )
    assert subprocess.run([tool, str(broken)], capture_output=True).returncode != 0


# -- one identity everywhere -------------------------------------------------------------------


def test_desktop_entry_matches_the_program():
    entry = desktop_entry()
    executable = next(iter(pyproject()["project"]["scripts"]))
    assert entry["Type"] == "Application"
    assert entry["Name"] == APP_NAME
    assert entry["Icon"] == APP_ID
    assert entry["Exec"].split()[0] == executable
    # Qt names the X11 window instance after the executable: the launcher and window match on it.
    assert entry["StartupWMClass"] == executable
    assert set(entry["Categories"].rstrip(";").split(";")) >= {"Office", "MedicalSoftware", "Science"}
    for key in ("GenericName", "Comment"):
        assert entry[key].strip()


def test_metainfo_matches_the_program_and_its_version():
    root = ET.parse(METAINFO).getroot()
    project = pyproject()["project"]
    assert root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.findtext("name") == APP_NAME
    assert root.findtext("metadata_license") == "CC0-1.0"
    assert root.findtext("project_license") == project["license"]
    assert root.findtext("launchable") == DESKTOP.name
    assert root.find("launchable").get("type") == "desktop-id"
    assert root.findtext("summary").strip()
    assert root.find("description") is not None
    assert root.find("content_rating") is not None
    image = root.find("screenshots/screenshot/image")
    assert image is not None and image.text.startswith("https://")
    # The picture to publish at that address is kept in the repository, at the size declared.
    shipped = ROOT / "packaging" / "screenshots" / Path(image.text).name
    assert png_size(shipped.read_bytes()) == (int(image.get("width")), int(image.get("height")))
    # Bumping the version in pyproject.toml without release notes fails here.
    releases = {release.get("version"): release for release in root.findall("releases/release")}
    assert project["version"] in releases, "add a <release> with notes for this version"
    current = releases[project["version"]]
    assert current.get("date")
    assert current.findall("description/ul/li") or current.findall("description/p")


def test_icons_exist_at_every_size_as_valid_pngs_of_that_size():
    assert set(ICON_SIZES) == {16, 32, 48, 64, 128, 256}
    for size in ICON_SIZES:
        path = HICOLOR / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        assert path.is_file(), path
        assert png_size(path.read_bytes()) == (size, size), path


def test_scalable_icon_is_a_square_svg():
    svg = ET.parse(HICOLOR / "scalable" / "apps" / f"{APP_ID}.svg").getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    _x, _y, width, height = (float(v) for v in svg.get("viewBox").split())
    assert width == height > 0


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, after checking its signature, every chunk's CRC and its end."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    offset, chunks, size = 8, [], None
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        chunks.append(kind)
        offset += 12 + length
    assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND" and b"IDAT" in chunks
    return size


def test_png_check_rejects_a_damaged_file():
    good = (HICOLOR / "16x16" / "apps" / f"{APP_ID}.png").read_bytes()
    damaged = good[:40] + bytes([good[40] ^ 0xFF]) + good[41:]
    with pytest.raises(AssertionError):
        png_size(damaged)


# -- the PyInstaller spec ----------------------------------------------------------------------


def spec_tree() -> ast.Module:
    return ast.parse(SPEC.read_text(encoding="utf-8"), filename=str(SPEC))


def spec_constant(name: str):
    for node in ast.walk(spec_tree()):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{SPEC.name} defines no {name}")


def spec_calls(function: str) -> list[str]:
    """The first string argument of every call to `function` in the spec."""
    found = []
    for node in ast.walk(spec_tree()):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == function and node.args:
            if isinstance(node.args[0], ast.Constant):
                found.append(node.args[0].value)
    return found


def test_spec_names_every_resources_folder():
    on_disk = {p.name for p in (ROOT / "resources").iterdir() if p.is_dir() and not p.name.startswith(("_", "."))}
    listed = set(spec_constant("RESOURCE_FOLDERS"))
    assert on_disk - listed == set(), "add these folders to RESOURCE_FOLDERS in packaging/infusion-prep.spec"
    assert {"monographs", "policies", "fonts", "icons"} <= listed


def test_spec_collects_the_data_packages_and_every_module():
    assert {"infusion_app.resources", "infusion_app.storage"} <= set(spec_calls("collect_data_files"))
    assert "infusion_app" in spec_calls("collect_submodules")
    assert "infusion-prep" in spec_calls("copy_metadata"), "--version reads the version from the metadata"


def test_spec_builds_one_folder_from_the_cli_entry_point_without_qtwebengine():
    tree = spec_tree()
    calls = {getattr(n.func, "id", None): n for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert "COLLECT" in calls, "one-folder bundles end in COLLECT"
    exe_keywords = {k.arg: k.value for k in calls["EXE"].keywords}
    assert ast.literal_eval(exe_keywords["exclude_binaries"]) is True
    excluded = set(spec_constant("QT_UNUSED"))
    assert {"PySide6.QtWebEngineCore", "PySide6.QtWebEngineWidgets"} <= excluded
    launcher = (ROOT / "packaging" / "launcher.py").read_text(encoding="utf-8")
    assert "from infusion_app.cli import main" in launcher
    entry_point = pyproject()["project"]["scripts"]["infusion-prep"]
    assert entry_point == "infusion_app.cli:main"


# -- version -----------------------------------------------------------------------------------


def test_version_names_the_program_version_and_monograph_revision(capsys):
    assert main(["--version"]) == 0
    printed = capsys.readouterr().out.strip()
    monograph = load_monograph("inotuzumab-ozogamicin")
    assert printed.startswith(f"infusion-prep {pyproject()['project']['version']} ")
    assert f"revision {monograph.revision}" in printed
    assert monograph.label_revision in printed


# -- CI wiring and the rebuild decision --------------------------------------------------------


def test_ci_runs_the_packaging_checks_before_the_test_suite():
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    checks = [i for i, line in enumerate(lines) if line.strip() == "bash packaging/ci-checks.sh"]
    tests = [i for i, line in enumerate(lines) if "pytest" in line and not line.lstrip().startswith("#")]
    assert checks and tests and checks[0] < tests[0]


def build_inputs_hash(tree: Path) -> str:
    result = subprocess.run(["bash", str(tree / "packaging" / "build-inputs.sh")], capture_output=True, text=True, check=True)
    return result.stdout.strip()


@pytest.fixture
def packaging_copy(tmp_path) -> Path:
    """pyproject.toml and packaging/ copied outside any git work tree."""
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "packaging", tree / "packaging", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_rebuild_is_triggered_by_packaging_and_dependency_changes_only(packaging_copy):
    tree = packaging_copy
    before = build_inputs_hash(tree)
    assert len(before) == 64 and before == build_inputs_hash(tree)

    (tree / "packaging" / "benchmarks").mkdir(exist_ok=True)
    (tree / "packaging" / "benchmarks" / "bench.py").write_text("print(1)\n")
    (tree / "packaging" / "screenshots").mkdir(exist_ok=True)
    (tree / "packaging" / "screenshots" / "board.png").write_bytes(b"new picture")
    (tree / "packaging" / "build-inputs.sha256").write_text("stale\n")
    assert build_inputs_hash(tree) == before, "benchmarks, screenshots and the stamp are not build inputs"

    spec = tree / "packaging" / "infusion-prep.spec"
    spec.write_text(spec.read_text() + "\n# changed\n")
    after_spec = build_inputs_hash(tree)
    assert after_spec != before

    pyproject_file = tree / "pyproject.toml"
    pyproject_file.write_text(pyproject_file.read_text().replace('"pint>=0.23"', '"pint>=0.24"'))
    assert build_inputs_hash(tree) not in (before, after_spec)


# -- the smoke test can fail -------------------------------------------------------------------


def fake_bundle(tmp_path: Path, program: str) -> Path:
    bundle = tmp_path / "bundle"
    (bundle / "_internal" / "infusion_app").mkdir(parents=True)
    os.symlink(ROOT / "resources", bundle / "_internal" / "infusion_app" / "resources")
    launcher = bundle / "infusion-prep"
    launcher.write_text(program)
    launcher.chmod(0o755)
    return bundle


def run_smoke_test(bundle: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SMOKE_GUI_SECONDS": "4"}
    return subprocess.run(
        ["bash", str(ROOT / "packaging" / "smoke-test.sh"), str(bundle)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.slow
def test_smoke_test_passes_a_working_program(tmp_path):
    # The installed program standing in for a bundle: same command, same data layout.
    bundle = fake_bundle(tmp_path, f'#!/bin/sh\nexec "{sys.executable}" -m infusion_app "$@"\n')
    result = run_smoke_test(bundle)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "smoke test passed" in result.stdout


def test_smoke_test_fails_a_program_with_the_wrong_version(tmp_path):
    bundle = fake_bundle(tmp_path, "#!/bin/sh\necho 'infusion-prep 0+unknown (monograph x revision y)'\n")
    result = run_smoke_test(bundle)
    assert result.returncode != 0
    assert "expected the program version" in result.stderr


def test_smoke_test_fails_a_program_that_crashes_at_start(tmp_path):
    # Only the desktop program crashes. The steps before it are answered as a working bundle
    # answers them (the version from the real program; the others' outputs in the shape the
    # script checks), so that this test is about the start check; the real program goes through
    # every step in test_smoke_test_passes_a_working_program. Running them all for real again
    # was about 13 s of the suite on the loaded CI machine.
    program = (
        '#!/bin/sh\ncase "$1" in\n'
        '  "") echo "ImportError: no module PySide6" >&2; exit 1 ;;\n'
        f'  --version) exec "{sys.executable}" -m infusion_app --version ;;\n'
        """  calc) echo '{"dose_mg": 1.46}' ;;\n"""
        '  user) mkdir -p "$4" && echo stored > "$4/infusion-prep.sqlite3" && echo "[]" ;;\n'
        '  db) echo "infusion-prep db: cannot read the database: no server" >&2; exit 3 ;;\n'
        "  sheet|label) printf '%%PDF-1.4' > \"$6\" ;;\n"
        '  *) echo "unexpected: $*" >&2; exit 99 ;;\nesac\n'
    )
    result = run_smoke_test(fake_bundle(tmp_path, program))
    assert result.returncode != 0
    assert "desktop program exited with 1" in result.stderr
