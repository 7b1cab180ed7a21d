"""Where keys and known_hosts live."""

from __future__ import annotations

import os
from pathlib import Path

from severus_cli.errors import ConfigError

ENV_VAR = "SEVERUS_CONFIG_DIR"


def resolve_config_dir(option: Path | None) -> Path:
    """Return the config dir, creating it private (0700) if it does not exist yet.

    Order: the ``--config-dir`` option, then ``$SEVERUS_CONFIG_DIR``, then platformdirs'
    user config dir (which honours ``$XDG_CONFIG_HOME``). An existing directory's mode
    is left alone: the private key files themselves are 0600.
    """
    if option is not None:
        path = option
    elif os.environ.get(ENV_VAR):
        path = Path(os.environ[ENV_VAR])
    else:
        import platformdirs

        path = Path(platformdirs.user_config_dir("severus"))
    path = path.expanduser()
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"config directory {path} exists but is not a directory") from None
    except OSError as error:
        reason = error.strerror or str(error)
        raise ConfigError(f"cannot create config directory {path}: {reason}") from None
    if not path.is_dir():
        raise ConfigError(f"config directory {path} exists but is not a directory")
    return path
