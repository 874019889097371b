"""Configuration from environment variables (documented in docs/configuration.md)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Settings:
    database_url: str = "sqlite:///var/jig.db"
    apps: list[str] = field(default_factory=lambda: ["apps"])
    secret_key: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    threads: int = 8
    timezone: str = field(default_factory=lambda: os.environ.get("JIG_TIMEZONE", "Asia/Shanghai"))
    redis_url: str | None = None
    auto_migrate: bool = True
    files_dir: str = "var/files"
    var_dir: str = "var"
    public_url: str = ""  # how phones reach Jig, for links in SMS and QR codes (default: the request's host)
    company: dict[str, str] = field(default_factory=dict)  # letterhead of printed documents: name, address, logo
    proxies: int = 0  # reverse proxies in front that append X-Forwarded-For (JIG_PROXIES; 0: trust no header)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        e = dict(os.environ if env is None else env)
        s = cls()
        s.database_url = e.get("JIG_DATABASE_URL", s.database_url)
        if "JIG_APPS" in e:
            s.apps = [p for p in e["JIG_APPS"].split(os.pathsep) if p]
        # Read (or created in var/secret_key) only when a server starts: `jig check` writes nothing.
        s.secret_key = e.get("JIG_SECRET_KEY", "")
        s.var_dir = e.get("JIG_VAR", s.var_dir)
        s.host = e.get("JIG_HOST", s.host)
        s.port = int(e.get("JIG_PORT", s.port))
        s.threads = int(e.get("JIG_THREADS", s.threads))
        s.timezone = e.get("JIG_TIMEZONE", s.timezone)
        s.redis_url = e.get("JIG_REDIS_URL") or None
        s.auto_migrate = e.get("JIG_AUTO_MIGRATE", "1") not in ("0", "false", "no")
        s.files_dir = e.get("JIG_FILES_DIR", s.files_dir)
        s.public_url = e.get("JIG_PUBLIC_URL", s.public_url).rstrip("/")
        s.company = {k: e[f"JIG_COMPANY_{k.upper()}"] for k in ("name", "address", "logo") if e.get(f"JIG_COMPANY_{k.upper()}")}
        s.proxies = int(e.get("JIG_PROXIES", "0") or 0)
        return s


    def session_secret(self) -> str:
        """The secret that signs session cookies: JIG_SECRET_KEY, else one kept in var/secret_key."""
        if not self.secret_key:
            self.secret_key = _persistent_secret(Path(self.var_dir))
        return self.secret_key


def _persistent_secret(var: Path) -> str:
    """A random secret kept in var/secret_key, so sessions survive restarts of a one-PC install."""
    path = var / "secret_key"
    try:
        return path.read_text().strip()
    except OSError:
        var.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key
