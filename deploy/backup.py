"""One dump of Orderdock's PostgreSQL database (orderdock-backup.service; docs/deploy.md, Backups).

``pg_dump --format=custom`` of DATABASE_URL into ORDERDOCK_BACKUP_DIR (/var/backups/orderdock)
as ``orderdock-<UTC time>.dump``, mode 600, written aside and renamed, so a file there is always
whole; dumps older than ORDERDOCK_BACKUP_KEEP_DAYS (14) are deleted after a good one. The
password goes to pg_dump in its environment (PGPASSWORD), never in its argv, where every user of
the machine could read it. The encryption keys are never in it: they are backed up apart.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy.engine import make_url


def libpq_environment(database_url: str) -> dict[str, str]:
    """PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE from the app's DATABASE_URL."""
    url = make_url(database_url)
    if not url.drivername.startswith("postgres"):
        raise SystemExit(f"backup.py: DATABASE_URL is {url.drivername}, not PostgreSQL; back up SQLite with "
                         "`sqlite3 FILE \".backup COPY\"` (README, Configuration).")
    parts = {"PGHOST": url.host, "PGPORT": url.port, "PGUSER": url.username, "PGPASSWORD": url.password,
             "PGDATABASE": url.database, "PGHOST_QUERY": url.query.get("host")}
    env = {name: str(value) for name, value in parts.items() if value}
    if "PGHOST_QUERY" in env:  # postgresql://user@/db?host=/var/run/postgresql: the socket folder
        env["PGHOST"] = env.pop("PGHOST_QUERY")
    return env


def main() -> int:
    folder = Path(os.environ.get("ORDERDOCK_BACKUP_DIR", "/var/backups/orderdock"))
    keep_days = int(os.environ.get("ORDERDOCK_BACKUP_KEEP_DAYS", "14"))
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    final, partial = folder / f"orderdock-{stamp}.dump", folder / f".orderdock-{stamp}.dump.part"
    env = {**os.environ, **libpq_environment(os.environ["DATABASE_URL"])}
    os.umask(0o077)
    done = subprocess.run(["pg_dump", "--format=custom", "--no-owner", "--file", str(partial)], env=env)
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        print(f"backup.py: pg_dump failed (exit code {done.returncode}); older dumps kept", file=sys.stderr)
        return 1
    partial.rename(final)
    print(f"backup.py: {final} ({final.stat().st_size // 1024} KiB)")
    cutoff = time.time() - keep_days * 86400
    for old in folder.glob("orderdock-*.dump"):
        if old.stat().st_mtime < cutoff:
            old.unlink()
            print(f"backup.py: deleted {old.name}, older than {keep_days} days")
    return 0


if __name__ == "__main__":
    sys.exit(main())
