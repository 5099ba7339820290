"""Settings: the table of every setting (`table`), checking and merging them (`values`), and the
TOML files they come from and go to (`files`: presets, user configs, job files)."""

from dreamvid.settings.table import BY_NAME, SETTINGS, Setting, allowed_keys_message, defaults
from dreamvid.settings.values import Resolved, audio_readers, check_schedules, check_value, merge, parse_fps

__all__ = ["BY_NAME", "SETTINGS", "Setting", "Resolved", "allowed_keys_message", "audio_readers", "check_schedules",
           "check_value",
           "defaults", "merge", "parse_fps"]
