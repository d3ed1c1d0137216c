"""Issue 15: `worker.py work --queues` reads queue names the way an operator types them (commas,
or colons as in a systemd instance name), in the order a worker takes from them, and refuses a
name that is not a queue, saying which are."""
import pytest

from webapp.sync.queues import QUEUES, parse_queues


def test_ops_queue_names_in_the_workers_order_whatever_order_they_were_typed_in():
    assert parse_queues("sync, hooks,default") == ["default", "hooks", "sync"]
    assert parse_queues("initial") == ["initial"]
    assert parse_queues("push:hooks") == ["push", "hooks"]
    assert parse_queues("") == parse_queues(None) == list(QUEUES)


def test_ops_an_unknown_queue_name_is_refused_with_the_list():
    with pytest.raises(ValueError, match="Unknown queue 'imports': the queues are default, push, hooks, sync, initial"):
        parse_queues("sync,imports")
