#!/usr/bin/env python3
"""Start the Cosmos Workflow Orchestrator: `python launch.py`.

Like the launchers artists know from other generation UIs, the first start sets itself up: if
the running Python lacks the dependencies, it creates `.venv` next to this file, installs the
project into it and restarts inside it. `--skip-install` turns that off, and an already active
virtual environment is installed into rather than replaced.
"""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import logging
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV_DIR = ROOT / ".venv"
REQUIRED_MODULES = ("gradio", "paramiko", "peewee", "PIL", "imageio_ffmpeg", "numpy", "OpenEXR")
REEXEC_MARK = "COSMOS_LAUNCH_REEXEC"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="launch.py", description="Start the Cosmos Workflow Orchestrator web app.")
    parser.add_argument("--host", help="address to serve on (default from config: 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to serve on (default from config: 7860)")
    parser.add_argument("--config", default=str(ROOT / "config.toml"),
                        help="settings file (default: config.toml next to launch.py)")
    parser.add_argument("--data-dir", help="where the database, uploads and outputs live "
                        "(overrides data_dir in the config)")
    parser.add_argument("--share", action="store_true",
                        help="also serve through a public Gradio share link (sign-in required; "
                        "add people with `cosmos user add`)")
    parser.add_argument("--sign-in", action="store_true",
                        help="require sign-in even on 127.0.0.1 (always on with --share or "
                        "another --host)")
    parser.add_argument("--skip-install", action="store_true",
                        help="never create a virtual environment or install packages")
    parser.add_argument("--log-level", default=os.environ.get("COSMOS_LOG_LEVEL", "INFO"),
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser.parse_args(argv)


def missing_modules() -> list[str]:
    return [m for m in REQUIRED_MODULES if importlib.util.find_spec(m) is None]


def in_virtualenv() -> bool:
    return sys.prefix != sys.base_prefix or bool(os.environ.get("VIRTUAL_ENV"))


def venv_python() -> Path:
    return VENV_DIR / "bin" / "python"


def pip_install(python: str | Path) -> None:
    print(f"Installing the Cosmos Workflow Orchestrator into {Path(python).parent.parent} "
          "(first start only; takes a minute)...", flush=True)
    subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                    "-e", str(ROOT)], check=True)


def ensure_environment(args: argparse.Namespace) -> None:
    """Make sure we run in a Python that has everything; re-exec into .venv if needed."""
    if args.skip_install or not missing_modules():
        return
    if in_virtualenv() or os.environ.get(REEXEC_MARK):
        pip_install(sys.executable)  # honour the environment the user chose
        return
    if not venv_python().exists():
        print(f"Creating a virtual environment in {VENV_DIR} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV_DIR)
    check = subprocess.run([str(venv_python()), "-c", "import " + ", ".join(REQUIRED_MODULES)],
                           capture_output=True)
    if check.returncode != 0:
        pip_install(venv_python())
    os.environ[REEXEC_MARK] = "1"
    os.execv(str(venv_python()), [str(venv_python()), str(Path(__file__).resolve()),
                                  *sys.argv[1:]])


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def has_users(settings) -> bool:
    """Whether anyone can sign in (checked before anything is started)."""
    from backend import accounts
    from backend.store import Store

    store = Store(settings.db_path)
    try:
        return accounts.has_users()
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ensure_environment(args)
    logging.basicConfig(level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.path.insert(0, str(ROOT))
    from backend.config import ConfigError, load_config

    try:
        settings = load_config(args.config, data_dir=args.data_dir)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    host = args.host or settings.ui_host
    port = args.port or settings.ui_port
    exposed = args.share or not is_loopback(host)
    sign_in = exposed or args.sign_in
    if sign_in and not has_users(settings):
        why = "--share publishes a public link" if args.share else (
            f"--host {host} lets other machines in" if exposed else "--sign-in was given")
        print(f"error: {why}, so sign-in is required, but no user exists yet. Add one with:\n"
              f"  cosmos --config {settings.config_path} user add NAME --role operator\n"
              "(reviewers: --role reviewer), then start again.", file=sys.stderr)
        return 2
    from backend.wiring import start_backend
    from cosmos_ui.app import input_roots, launch_app

    backend = start_backend(settings, sign_in_required=sign_in,
                            input_roots=input_roots(settings))
    logging.getLogger("launch").info("data in %s; serving on http://%s:%d%s", settings.data_dir,
                                     host, port, " (sign-in required)" if sign_in else "")
    try:
        launch_app(backend, host=host, port=port, share=args.share, sign_in=sign_in,
                   block=True)
    except KeyboardInterrupt:
        pass
    finally:
        backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
