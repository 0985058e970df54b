"""``geotrans qgis install|uninstall``: the QGIS Processing provider (``geotrans.qgis``).
"""
from __future__ import annotations

from typing import Optional

import click

from geotrans.cli.console import error_boundary, setup_logging
from geotrans.cli.options import PROFILE_OPTION, PROFILES_PATH_OPTION, QUIET_OPTION, VERBOSE_OPTION


@click.group(short_help="Install or remove the QGIS Processing provider.")
def qgis() -> None:
    """The QGIS plugin: a Processing provider that runs this environment's geotrans.

    \b
    Examples:
      geotrans qgis install                      # into QGIS's default profile
      geotrans qgis install --profile work
      geotrans qgis uninstall
    """


@qgis.command("install", short_help="Copy the plugin into a QGIS profile.")
@PROFILE_OPTION
@PROFILES_PATH_OPTION
@VERBOSE_OPTION
@QUIET_OPTION
def qgis_install(profile: str, profiles_path: Optional[str], verbose: int, quiet: bool) -> None:
    """Copy the plugin into a QGIS profile (again: replace it) and record this geotrans to run."""
    setup_logging(verbose, quiet)
    with error_boundary(verbose):  # the installer needs no torch: it answers at once
        from geotrans.qgis.install import PLUGIN_NAME, geotrans_command, install_plugin

        target = install_plugin(profile, profiles_path)
    if not quiet:
        click.echo(f"installed the geotrans plugin in {target}")
        click.echo(f"it runs {' '.join(geotrans_command())}")
        click.echo("enable it: QGIS > Plugins > Manage and Install Plugins > Installed > tick 'geotrans' "
                   "(restart QGIS if it was open); the algorithms are in the Processing Toolbox under 'geotrans'")
        click.echo(f"headless: qgis_process plugins enable {PLUGIN_NAME}")


@qgis.command("uninstall", short_help="Remove the plugin from a QGIS profile.")
@PROFILE_OPTION
@PROFILES_PATH_OPTION
@VERBOSE_OPTION
@QUIET_OPTION
def qgis_uninstall(profile: str, profiles_path: Optional[str], verbose: int, quiet: bool) -> None:
    """Remove the plugin from a QGIS profile (nothing to do when it is not there)."""
    setup_logging(verbose, quiet)
    with error_boundary(verbose):
        from geotrans.qgis.install import uninstall_plugin

        removed = uninstall_plugin(profile, profiles_path)
    if not quiet:
        click.echo(f"removed {removed}" if removed else f"the geotrans plugin is not installed in profile {profile!r}")
