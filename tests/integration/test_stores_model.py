"""Store rows: credentials encrypted at rest (R-CON-8), never in a repr."""
from sqlalchemy import text

from webapp.extensions import db
from webapp.models import Store
from webapp.secrets import SecretUnreadable


def test_R_CON_8_credentials_are_encrypted_at_rest(app, world):
    store = Store(platform="cartum", name="Shop", url="https://shop.example", location=world.main,
                  order_type=world.repair)
    store.credentials = {"login": "manager", "password": "s3cret-Pa55"}
    db.session.add(store)
    db.session.commit()
    stored = db.session.execute(text("SELECT credentials_encrypted FROM stores")).scalar()
    assert "s3cret-Pa55" not in stored and "manager" not in stored
    db.session.expire_all()
    assert db.session.get(Store, store.id).credentials == {"login": "manager", "password": "s3cret-Pa55"}
    assert "s3cret" not in repr(store)


def test_credentials_under_another_key_say_what_to_do(app, world):
    store = Store(platform="cartum", name="Shop", url="https://shop.example")
    store.credentials = {"password": "x"}
    app.extensions.pop("orderdock_fernet")
    app.config["ENCRYPTION_KEY"] = "q2Bq3eT2i7fQx5rV1R3e2Yk8cQm0Hn4pZ9wK6tJ1uLs="
    try:
        store.credentials
    except SecretUnreadable as error:
        assert "enter its credentials again" in str(error)
    else:
        raise AssertionError("a foreign key must not decrypt")
