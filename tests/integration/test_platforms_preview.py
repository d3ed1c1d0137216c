"""`flask platforms preview` prints the normalized orders of a saved platform response."""
import json
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from tests.support.simulators import serving
from webapp import create_app

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "platforms" / "fixtures"


@pytest.fixture
def runner(tmp_path):
    app = create_app({"SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path), "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    return app.test_cli_runner()


def preview(runner, platform: str, path: Path, *options: str) -> list[dict]:
    args = ["platforms", "preview", platform, str(path)] + [f"--option={o}" for o in options]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_preview_of_a_saved_cartum_response(runner, tmp_path):
    """A response saved from the Cartum simulator's own API, as an integrator would save it."""
    with serving("cartum", orders=5) as shop:
        token = requests.post(f"{shop.url}/api/auth/", json={"login": "manager", "password": "cartum-demo"},
                              timeout=10).json()["response"]["token"]
        saved = requests.post(f"{shop.url}/api/orders/get/", json={"token": token, "limit": 5}, timeout=10).json()
    path = tmp_path / "cartum.json"
    path.write_text(json.dumps(saved))
    orders = preview(runner, "cartum", path, "timezone=Europe/Kyiv")
    assert len(orders) == len(saved["response"]["orders"]) > 0
    for order in orders:
        assert order["created_at"].endswith("+00:00")
        assert Decimal(order["total"]) == sum(Decimal(i["quantity"]) * Decimal(i["price"]) for i in order["items"])
        assert "raw" not in order


@pytest.mark.skipif(not FIXTURES.exists(), reason=f"the shared sample payloads are not at {FIXTURES}")
def test_preview_of_shopify_and_woocommerce_documentation_samples(runner):
    shopify = preview(runner, "shopify", FIXTURES / "shopify" / "python_api_order.json")
    assert [(o["number"], o["total"], o["currency"]) for o in shopify] == [("#1001", "597.00", "USD")]
    woo = preview(runner, "woocommerce", FIXTURES / "woocommerce" / "docs_orders_02_list_all_orders.json")
    assert [o["number"] for o in woo] == ["727", "723"]
    assert [o["buyer"]["phone"] for o in woo] == ["(555) 555-5555", "(11) 1111-1111"]


def test_preview_says_what_is_wrong_with_a_file(runner, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("[1, 2]")
    result = runner.invoke(args=["platforms", "preview", "woocommerce", str(path)])
    assert result.exit_code == 1 and "holds no orders" in result.output
    path.write_text("{not json")
    result = runner.invoke(args=["platforms", "preview", "woocommerce", str(path)])
    assert result.exit_code == 1 and "is not JSON" in result.output
