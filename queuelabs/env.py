"""Reading settings from the environment: typed, checked accessors shared by every service.

Each service owns its settings (allocator/settings.py, uploader/settings.py, sandbox/settings.py)
and builds them with `Env`. A bad value stops the process at start with a message naming the
variable; nothing is guessed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import psycopg.conninfo

from queuelabs.caps import DEFAULT_DAILY_CAPS, cap_variable
from queuelabs.platforms import Platform
from queuelabs.security import BadTokens, Security, parse_tokens


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Env:
    """A read-only view of the environment with typed, checked accessors."""

    values: Mapping[str, str]

    @classmethod
    def current(cls) -> Env:
        return cls(dict(os.environ))

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name, "").strip()
        return value or default

    def database_url(self, name: str = "DATABASE_URL") -> str | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            psycopg.conninfo.conninfo_to_dict(value)
        except psycopg.ProgrammingError:
            # libpq's message may quote the URL, password included: do not repeat it.
            raise ConfigError(
                f"{name}: not a PostgreSQL connection string "
                "(expected e.g. postgresql://user@host:5432/dbname)"
            ) from None
        return value

    def listen(self, name: str, default: str) -> str:
        value = self.text(name, default)
        assert value is not None
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ConfigError(f"{name}: {value!r} is not HOST:PORT (e.g. 0.0.0.0:50051)")
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name}: {raw!r} is not a whole number") from None
        if not low <= value <= high:
            raise ConfigError(f"{name}: {value} is outside {low}..{high}")
        return value

    def seconds(self, name: str, default: float, low: float, high: float) -> float:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name}: {raw!r} is not a number of seconds") from None
        if not low <= value <= high:
            raise ConfigError(f"{name}: {value} is outside {low}..{high} seconds")
        return value

    def path(self, name: str) -> Path | None:
        value = self.text(name)
        if value is None:
            return None
        path = Path(value)
        if not path.is_file() or not os.access(path, os.R_OK):
            raise ConfigError(f"{name}: {value!r} is not a readable file")
        return path

    def security(self) -> Security:
        """AUTH_TOKENS, TLS_CERT_FILE, TLS_KEY_FILE, TLS_CLIENT_CA_FILE, TLS_CA_FILE and, for
        the Uploader's calls to the Allocator, ALLOCATOR_TOKEN."""
        try:
            tokens = parse_tokens(self.text("AUTH_TOKENS") or "")
        except BadTokens as problem:
            raise ConfigError(str(problem)) from None
        cert, key = self.path("TLS_CERT_FILE"), self.path("TLS_KEY_FILE")
        if (cert is None) != (key is None):
            raise ConfigError("TLS_CERT_FILE and TLS_KEY_FILE: set both or neither")
        client_ca = self.path("TLS_CLIENT_CA_FILE")
        if client_ca is not None and cert is None:
            raise ConfigError("TLS_CLIENT_CA_FILE: needs TLS_CERT_FILE and TLS_KEY_FILE too")
        client_token = self.text("ALLOCATOR_TOKEN")
        if client_token is None and tokens:  # one token set shared by the services
            client_token = tokens.get("uploader", next(iter(tokens.values())))
        return Security(tokens, cert, key, client_ca, self.path("TLS_CA_FILE"), client_token)

    def metrics_listen(self, default: str) -> str | None:
        """METRICS_LISTEN: HOST:PORT for /metrics, or `off`."""
        if (self.text("METRICS_LISTEN") or "").lower() == "off":
            return None
        return self.listen("METRICS_LISTEN", default)

    def daily_caps(self) -> dict[Platform, int]:
        """UPLOAD_POST_DAILY_CAP_<PLATFORM>: posts per social account in any 24 h."""
        return {
            platform: self.integer(cap_variable(platform), DEFAULT_DAILY_CAPS[platform], 1, 100_000)
            for platform in Platform
        }

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = (self.text(name, default) or default).lower()
        if value not in allowed:
            raise ConfigError(f"{name}: {value!r} is not one of {', '.join(allowed)}")
        return value

    def log_level(self, name: str = "LOG_LEVEL") -> int:
        raw = (self.text(name, "INFO") or "INFO").upper()
        level = logging.getLevelName(raw)
        if not isinstance(level, int):
            raise ConfigError(f"{name}: {raw!r} is not one of DEBUG, INFO, WARNING, ERROR")
        return level


def require_database_url(env: Env, override: str | None = None) -> str:
    """DATABASE_URL (or the flag that overrides it); a missing one stops the process."""
    url = override or env.database_url()
    if url is None:
        raise ConfigError("DATABASE_URL: not set (e.g. postgresql://user@host:5432/dbname)")
    return url
