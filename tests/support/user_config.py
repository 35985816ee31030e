"""minion's user config as every test has it: no background warming and no standbys (a
`minion warm` or a standby left running after its test would outlive the folders it works
in). Tests of warming and standbys turn them on."""

from pathlib import Path


def write_quiet_user_config(config_home: Path) -> Path:
    """``config_home``/minion/config.toml (XDG_CONFIG_HOME's layout); returns its path."""
    path = config_home / "minion" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("warm = false\nstandby = 0\n")
    return path
