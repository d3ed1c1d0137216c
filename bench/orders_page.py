"""How fast the orders table answers with a realistic amount of data.

Builds a SQLite database with N orders (default 20,000) across two locations and 2,000 clients,
then times the orders table for an administrator and for an engineer limited to one location:
the first page, a free-text search, a phone search and a status filter. Prints the median and
the 95th percentile of R requests each. Loopback only; nothing leaves the process.

    .venv/bin/python bench/orders_page.py [--orders 20000] [--repeat 30]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from webapp import create_app  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.models import Client, Location, Order, OrderType, Status  # noqa: E402
from webapp.models.types import utcnow  # noqa: E402

CASES = {"first page": "/orders/", "text search": "/orders/?q=Weber", "phone search": "/orders/?q=0151 1234",
         "status filter": "/orders/?status=2", "page 50": "/orders/?page=50"}


def build(app, orders: int) -> None:
    from webapp.demo import seed
    upgrade()
    seed()
    now = utcnow()
    clients = [{"first_name": f"Client{i}", "last_name": ["Weber", "Schmidt", "Koval"][i % 3],
                "phone_raw": f"0151 1234{i:04d}", "phone": f"+49151 1234{i:04d}".replace(" ", ""),
                "email": None, "address": "", "created_at": now} for i in range(2000)]
    db.session.execute(insert(Client), clients)
    client_ids = [c.id for c in db.session.query(Client.id)]
    statuses = [s.id for s in db.session.query(Status.id)]
    kind = db.session.query(OrderType).first()
    locations = [loc.id for loc in db.session.query(Location.id)]
    rows = [{"number": f"B{i:07d}", "location_id": locations[i % len(locations)], "order_type_id": kind.id,
             "status_id": statuses[i % len(statuses)], "client_id": client_ids[i % len(client_ids)],
             "currency": "EUR", "amount": Decimal("10.00"), "created_at": now - timedelta(minutes=i)}
            for i in range(orders)]
    for start in range(0, len(rows), 5000):
        db.session.execute(insert(Order), rows[start:start + 5000])
    db.session.commit()


def measure(client, url: str, repeat: int) -> tuple[float, float, int]:
    client.get(url)  # warm up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.status_code
    rows = response.get_data(as_text=True).count("<tr>") - 1
    assert rows > 0, f"{url} showed no orders"
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.db", "SECRET_KEY": "bench",
                          "INSTANCE_PATH": tmp, "WTF_CSRF_ENABLED": False})
        with app.app_context():
            started = time.perf_counter()
            build(app, args.orders)
            print(f"built {args.orders} orders in {time.perf_counter() - started:.1f} s (SQLite)")
            password = (Path(tmp) / "demo-password").read_text().strip()
            for login in ("admin", "erik"):
                client = app.test_client()
                client.post("/login", data={"login": login, "password": password})
                for name, url in CASES.items():
                    median, p95, rows = measure(client, url, args.repeat)
                    print(f"{login:6} {name:14} median {median:6.1f} ms   p95 {p95:6.1f} ms   ({rows} rows shown)")


if __name__ == "__main__":
    main()
