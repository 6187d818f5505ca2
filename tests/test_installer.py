"""The Linux desktop integration: install.sh and uninstall.sh on a stand-in bundle, the menu entry,
the .keras file type and the icons. `make installer-test` does the same with the real bundle."""
import configparser
import os
import shutil
import subprocess
import xml.etree.ElementTree as ElementTree
import zipfile
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
LINUX = ROOT / "installer" / "linux"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
MIME_NS = "{http://www.freedesktop.org/standards/shared-mime-info}"

needs = {tool: pytest.mark.skipif(shutil.which(tool) is None, reason=f"{tool} is not installed")
         for tool in ("desktop-file-validate", "xdg-mime", "update-mime-database")}


@pytest.fixture
def desktop(tmp_path):
    """A home, a prefix and an XDG environment of their own, and a stand-in bundle whose program
    prints its arguments."""
    bundle = tmp_path / "bundle"
    (bundle / "_internal").mkdir(parents=True)
    program = bundle / "limelight"
    program.write_text('#!/bin/sh\necho "limelight ran with: $*"\n')
    program.chmod(0o755)
    prefix = tmp_path / "prefix"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home"),
           "XDG_DATA_HOME": str(prefix / "share"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_DATA_DIRS": "/usr/local/share:/usr/share", "XDG_CURRENT_DESKTOP": ""}
    Path(env["HOME"]).mkdir()

    def run(script, *args):
        return subprocess.run([str(LINUX / script), *args], capture_output=True, text=True, env=env,
                              timeout=60)

    return {"bundle": bundle, "prefix": prefix, "env": env, "run": run,
            "config": tmp_path / "config"}


def install(desktop, *args):
    result = desktop["run"]("install.sh", "--prefix", str(desktop["prefix"]), *args,
                            str(desktop["bundle"]))
    assert result.returncode == 0, result.stderr
    return result


def desktop_entry(path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(path, encoding="utf-8")
    return parser["Desktop Entry"]


def test_install_puts_program_entry_icons_and_file_type_under_the_prefix(desktop):
    install(desktop)
    prefix = desktop["prefix"]

    program = prefix / "bin" / "limelight"
    ran = subprocess.run([str(program), "photo.jpg"], capture_output=True, text=True, check=True)
    assert ran.stdout == "limelight ran with: photo.jpg\n"
    assert (prefix / "lib" / "limelight" / "_internal").is_dir()
    # The entry runs the installed program by its full path, so PREFIX/bin need not be on PATH.
    entry = desktop_entry(prefix / "share" / "applications" / "limelight.desktop")
    assert entry["Exec"] == f'"{program}" %F'
    assert entry["TryExec"] == str(program)
    for side in ICON_SIZES:
        with Image.open(prefix / f"share/icons/hicolor/{side}x{side}/apps/limelight.png") as icon:
            assert icon.size == (side, side)
    assert (prefix / "share/icons/hicolor/scalable/apps/limelight.svg").is_file()
    assert (prefix / "share/mime/packages/limelight-keras.xml").is_file()


@needs["desktop-file-validate"]
def test_the_entry_validates_as_shipped_and_as_installed(desktop):
    install(desktop)
    for path in (LINUX / "limelight.desktop",
                 desktop["prefix"] / "share" / "applications" / "limelight.desktop"):
        result = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
        assert result.returncode == 0 and result.stdout == "", result.stdout


def test_the_entry_matches_the_app_and_opens_images_and_models():
    entry = desktop_entry(LINUX / "limelight.desktop")
    # gui/app.py calls setDesktopFileName("limelight"): the file must be limelight.desktop, and
    # Qt names the X11 window class after the application name, "Limelight".
    assert (LINUX / "limelight.desktop").stem == "limelight"
    assert entry["StartupWMClass"] == "Limelight"
    assert entry["Exec"] == "limelight %F"
    assert entry["Icon"] == "limelight"
    types = entry["MimeType"].rstrip(";").split(";")
    assert {"image/png", "image/jpeg", "image/tiff", "image/webp", "application/x-keras"} <= set(types)


def test_the_file_type_makes_keras_files_a_kind_of_zip():
    root = ElementTree.parse(LINUX / "limelight-keras.xml").getroot()
    (mime_type,) = root.findall(f"{MIME_NS}mime-type")
    assert mime_type.get("type") == "application/x-keras"
    assert mime_type.find(f"{MIME_NS}sub-class-of").get("type") == "application/zip"
    assert [g.get("pattern") for g in mime_type.findall(f"{MIME_NS}glob")] == ["*.keras"]
    types = desktop_entry(LINUX / "limelight.desktop")["MimeType"].split(";")
    assert "application/x-keras" in types


@needs["xdg-mime"]
@needs["update-mime-database"]
def test_after_install_keras_files_open_in_limelight(desktop, tmp_path):
    install(desktop)
    model = tmp_path / "net.keras"
    with zipfile.ZipFile(model, "w") as archive:
        archive.writestr("config.json", "{}")

    def xdg_mime(*args):
        return subprocess.run(["xdg-mime", "query", *args], capture_output=True, text=True,
                              env=desktop["env"]).stdout.strip()

    assert xdg_mime("filetype", str(model)) == "application/x-keras"
    assert xdg_mime("default", "application/x-keras") == "limelight.desktop"


@needs["update-mime-database"]
def test_uninstall_removes_what_install_added_and_keeps_other_defaults(desktop):
    desktop["config"].mkdir()
    defaults = desktop["config"] / "mimeapps.list"
    defaults.write_text("[Default Applications]\nimage/png=viewer.desktop\n")
    install(desktop)

    result = desktop["run"]("uninstall.sh", "--prefix", str(desktop["prefix"]))

    assert result.returncode == 0, result.stderr
    prefix = desktop["prefix"]
    assert [p for p in prefix.rglob("*") if "limelight" in p.name] == []
    assert not any("limelight" in p.read_text(errors="replace") for p in prefix.rglob("*") if p.is_file())
    assert defaults.read_text() == "[Default Applications]\nimage/png=viewer.desktop\n"


def test_reinstall_replaces_the_previous_version(desktop):
    install(desktop)
    (desktop["bundle"] / "limelight").write_text('#!/bin/sh\necho "version 2"\n')
    install(desktop)

    ran = subprocess.run([str(desktop["prefix"] / "bin" / "limelight")], capture_output=True,
                         text=True, check=True)
    assert ran.stdout == "version 2\n"
    assert not (desktop["prefix"] / "lib" / "limelight.new").exists()


def test_install_refuses_a_folder_that_is_not_a_bundle(desktop, tmp_path):
    result = desktop["run"]("install.sh", "--prefix", str(desktop["prefix"]), str(tmp_path))

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"install.sh: {tmp_path} is not a Limelight bundle (no limelight program and _internal "
        "folder in it); build one with 'make installer'"]
    assert not desktop["prefix"].exists()


def test_install_never_replaces_another_limelight_program(desktop):
    other = desktop["prefix"] / "bin" / "limelight"
    other.parent.mkdir(parents=True)
    other.write_text("#!/bin/sh\necho pip's limelight\n")

    result = desktop["run"]("install.sh", "--prefix", str(desktop["prefix"]), str(desktop["bundle"]))

    assert result.returncode == 1
    assert f"{other} exists and is not this installer's link" in result.stderr
    assert other.read_text() == "#!/bin/sh\necho pip's limelight\n"
    assert not (desktop["prefix"] / "lib" / "limelight").exists()


def test_uninstall_says_when_there_is_nothing_to_remove(desktop):
    result = desktop["run"]("uninstall.sh", "--prefix", str(desktop["prefix"]))

    assert result.returncode == 1
    assert result.stderr.strip() == (f"uninstall.sh: Limelight is not installed in {desktop['prefix']} "
                                     f"(no {desktop['prefix']}/lib/limelight/limelight)")


def test_the_installer_icons_are_the_app_icon():
    assert ((LINUX / "icons/hicolor/scalable/apps/limelight.svg").read_bytes()
            == (ROOT / "resources/icons/limelight.svg").read_bytes())
    with Image.open(ROOT / "installer/windows/limelight.ico") as ico:
        assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= ico.info["sizes"]
    with Image.open(ROOT / "installer/macos/limelight.icns") as icns:
        assert icns.size[0] >= 512
    # The drawn icon, not a blank: the 256 px PNG has the dark rounded square at its centre-left
    # and transparent corners.
    with Image.open(LINUX / "icons/hicolor/256x256/apps/limelight.png") as png:
        assert png.mode == "RGBA"
        assert png.getpixel((0, 0))[3] == 0
        assert png.getpixel((30, 128))[:3] == (0x1f, 0x29, 0x37)


def test_a_model_file_among_the_paths_opens_as_the_model(tmp_path):
    from limelight.gui.app import build_parser, images_and_model

    photo, model = tmp_path / "cat.jpg", tmp_path / "net.keras"
    images, chosen = images_and_model(build_parser().parse_args([str(photo), str(model)]))
    assert (images, chosen) == ([str(photo)], str(model))
    # --model wins over a model file among the paths, which is then not opened as an image.
    images, chosen = images_and_model(
        build_parser().parse_args([str(model), "--model", "demo_shapes"]))
    assert (images, chosen) == ([], "demo_shapes")
