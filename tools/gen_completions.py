"""Write completions/ for bash, zsh and fish from the Typer app.

The scripts call back into ``severus`` for the actual candidates, so they follow the
app's commands and options; ``tests/test_completions.py`` fails when they are stale.
Run: ``python tools/gen_completions.py``.
"""

from __future__ import annotations

from pathlib import Path

from typer.completion import get_completion_script

ROOT = Path(__file__).resolve().parent.parent
FILES = {"bash": "severus.bash", "zsh": "_severus", "fish": "severus.fish"}


# Typer's zsh script only registers its function when it runs: installed in $fpath,
# zsh autoloads the file as ``_severus`` on the first Tab, so that Tab registered and a
# second one completed. This one completes on that first call too. Typer's answer
# writes an apostrophe as '' inside single quotes, which zsh reads as two quotes (and
# drops) unless RC_QUOTES is set; and its unquoted $(...) was split into words first.
ZSH_SCRIPT = """\
#compdef severus

_severus_completion() {
  setopt localoptions rcquotes
  eval "$(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _SEVERUS_COMPLETE=complete_zsh severus)"
}

if [[ ${zsh_eval_context[-1]-} == loadautofunc || ${funcstack[1]-} == _severus ]]; then
  _severus_completion "$@"  # autoloaded from $fpath: this call is the first Tab
else
  compdef _severus_completion severus  # sourced: complete from the next Tab on
fi
"""


def render(shell: str) -> str:
    if shell == "zsh":
        return ZSH_SCRIPT
    script = get_completion_script(
        prog_name="severus", complete_var="_SEVERUS_COMPLETE", shell=shell
    )
    return script.rstrip("\n") + "\n"


def main() -> None:
    for shell, name in FILES.items():
        (ROOT / "completions" / name).write_text(render(shell), encoding="utf-8")


if __name__ == "__main__":
    main()
