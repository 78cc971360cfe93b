"""``phantomkeys completion bash|zsh|fish``: the shell's tab-completion script.

The script calls ``phantomkeys`` back with ``_PHANTOMKEYS_COMPLETE`` set (click's
completion protocol), so completions always match the installed version:
commands, options, choices (``--format``, ``--fail-on``) and file paths.
"""

from __future__ import annotations

import click

SHELLS = ("bash", "zsh", "fish")

#: Where each shell looks for the script (printed by ``--help``).
INSTALL = {
    "bash": 'eval "$(phantomkeys completion bash)"   # in ~/.bashrc',
    "zsh": 'eval "$(phantomkeys completion zsh)"    # in ~/.zshrc, after compinit',
    "fish": "phantomkeys completion fish > ~/.config/fish/completions/phantomkeys.fish",
}


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the tab-completion script for SHELL (bash, zsh or fish).

    \b
    Install it:
      bash:  eval "$(phantomkeys completion bash)"   in ~/.bashrc
      zsh:   eval "$(phantomkeys completion zsh)"    in ~/.zshrc (after compinit)
      fish:  phantomkeys completion fish > ~/.config/fish/completions/phantomkeys.fish
    """
    from click.shell_completion import get_completion_class

    from phantomkeys.cli import cli

    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover - click ships all three
        raise click.UsageError(f"no completion for {shell}")
    click.echo(cls(cli, {}, "phantomkeys", "_PHANTOMKEYS_COMPLETE").source(), nl=False)
