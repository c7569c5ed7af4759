"""MkDocs hook: every lazily loaded command is registered before mkdocs-click reads the group.

mkdocs-click documents a group's ``commands`` when that mapping is not empty, and falls back to
``list_commands``/``get_command`` (which import each command's module) only when it is empty: had
any command module been imported first, the commands not yet loaded would be missing from the
reference. Loading every one first makes the reference whole whatever was imported before.
"""

from __future__ import annotations

import click
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError

from layerforge.cli.app import cli


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    context = click.Context(cli, info_name="layerforge")
    for name in cli.list_commands(context):
        if cli.get_command(context, name) is None:
            raise PluginError(f"layerforge {name} is listed but does not load")
    return config
