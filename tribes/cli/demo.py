"""``tribes demo``: a narrated live session cluster (real Tomcat nodes + a Python node, or Python only)."""
from __future__ import annotations

import sys

import click

EXAMPLES = """\b
Examples:
  sudo bash scripts/demo.sh                  # installs what it needs, then runs this
  sudo python3 -m tribes.cli.main demo       # from the repository checkout
  tribes demo --mode python                  # Python-only cluster on loopback (no root needed)
  sudo tribes demo --json                    # machine-readable steps and checks

\b
Modes: auto (default) runs the Tomcat demo when root, iproute2, curl, Java and Tomcat 10.1 are
there (namespaces demo-*, 10.77.200.0/24) and otherwise says what to install and falls back to
the Python-only cluster. The Tomcat mode needs the repository's `interop` package (run it from
the checkout). Exit status: 0 every check passed, 1 a check failed, 4 a step could not be done
(or --mode tomcat without its requirements), 130 interrupted (everything is cleaned up).
"""


@click.command("demo", epilog=EXAMPLES)
@click.option("--mode", type=click.Choice(["auto", "tomcat", "python"]), default="auto", show_default=True,
              help="tomcat: real Tomcat nodes in namespaces; python: Python nodes on loopback.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line (kind step / check / info / summary).")
@click.option("--keep", is_flag=True, help="Tomcat mode: keep the lab up at the end until Enter is pressed.")
@click.option("--web/--no-web", default=True, show_default=True,
              help="Tomcat mode: the web part (httpd, the Python web app, a headless browser).")
@click.option("--screenshots", type=click.Path(file_okay=False), default=None,
              help="Directory for the web part's screenshots (default <tmp>/tribes-demo-web).")
def demo(mode: str, as_json: bool, keep: bool, web: bool, screenshots: str | None) -> None:
    """Start a small session cluster, replicate sessions, kill a node, show the sessions survive."""
    from tribes.demo import run
    sys.exit(run(mode, as_json=as_json, keep=keep, web=web, screenshots=screenshots))
