"""``ios-explorer app``: start the Streamlit app of the installed package, from any folder.

The app is the ``app`` package installed beside ``ios_core`` (``pip install ".[app]"``). This
module only finds its ``main.py`` and replaces this process by ``python -m streamlit run`` on it
(``os.execv``: Streamlit then gets Ctrl-C and SIGTERM itself and its exit status is ours; on
Windows, where exec does not replace a process, it runs as a child). It imports neither the app
nor Streamlit (ios_core imports only torch, numpy and networkx). Arguments after ``app`` go to
``streamlit run`` unchanged (``--server.port 8502``...); Streamlit runs in the folder that holds
the app package, so that ``python -m`` (which puts the current folder first on ``sys.path``)
imports this app and not some folder called ``app/`` where the user is.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from ios_core.cli.errors import CliError

__all__ = ["add_app_parser", "app_script", "cmd_app", "streamlit_command"]


def add_app_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "app", help="start the web app (Streamlit) in your browser",
        formatter_class=argparse.RawDescriptionHelpFormatter,  # keep the lines as written
        description="Start IOS Explorer's Streamlit app. It needs the `app` extra:\n"
                    "  pip install -e \".[app]\"      (from the repository)\n"
                    "  pip install \"ios-explorer[app]\"\n"
                    "Any further arguments go to `streamlit run`, e.g.\n"
                    "  ios-explorer app --server.port 8502 --server.headless true",
        epilog="Stop it with Ctrl-C.")
    p.set_defaults(func=cmd_app, streamlit_args=[])
    return p


def app_script() -> Path:
    """The installed app's ``main.py``; CliError when the ``app`` package is missing or foreign."""
    spec = importlib.util.find_spec("app")
    folder = (Path(next(iter(spec.submodule_search_locations)))
              if spec is not None and spec.submodule_search_locations else None)
    if folder is None:
        raise CliError("the app is not installed; install the package with its app extra: "
                       "pip install -e \".[app]\" (from the repository) or "
                       "pip install \"ios-explorer[app]\"")
    main = folder / "main.py"
    if not (main.is_file() and (folder / "backend" / "__init__.py").is_file()):
        raise CliError(f"the package `app` found at {folder} is not IOS Explorer's app (another "
                       "package of that name comes first on the path); reinstall ios-explorer")
    return main


def streamlit_command(extra: list[str]) -> list[str]:
    """The command line that starts the app: ``python -m streamlit run <main.py> <extra>``."""
    args = extra[1:] if extra[:1] == ["--"] else extra
    return [sys.executable, "-m", "streamlit", "run", str(app_script()), *args]


def cmd_app(args: argparse.Namespace) -> int:
    cmd = streamlit_command(list(args.streamlit_args))
    if importlib.util.find_spec("streamlit") is None:
        raise CliError("the app needs Streamlit, which is not installed; install the app extra: "
                       "pip install -e \".[app]\" (from the repository) or "
                       "pip install \"ios-explorer[app]\"")
    cwd = Path(cmd[4]).parent.parent  # the folder that holds the app package (docstring)
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        os.chdir(cwd)
        os.execv(cmd[0], cmd)  # does not return
    return subprocess.call(cmd, cwd=cwd)
