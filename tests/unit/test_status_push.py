"""What a status push sends: our status read back through the store's mapping (R-STA-1/3)."""
from webapp.models import Status, Store
from webapp.sync.status_push import platform_status_for

# Not one-to-one, as real mappings are not: two WooCommerce statuses on our "New".
STORE = Store(platform="woocommerce",
              status_map={"pending": 1, "processing": 2, "checkout-draft": 1, "on-hold": "3"})


def test_R_STA_1_one_platform_status_per_status_is_sent_as_it_is():
    assert platform_status_for(STORE, Status(id=2)) == "processing"
    assert platform_status_for(STORE, Status(id=3)) == "on-hold"  # ids saved as text match too


def test_R_STA_1_of_several_the_order_keeps_its_own_else_the_platform_s_first():
    new = Status(id=1)
    assert platform_status_for(STORE, new) == "pending"
    assert platform_status_for(STORE, new, current="checkout-draft") == "checkout-draft"
    assert platform_status_for(STORE, new, current="processing") == "pending"  # not one of them


def test_R_STA_1_a_status_nothing_maps_to_is_not_sent():
    assert platform_status_for(STORE, Status(id=9)) is None
    assert platform_status_for(Store(platform="cartum", status_map=None), Status(id=1)) is None
