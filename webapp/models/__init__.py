"""The database models, one module per area; import them from here."""
from webapp.models.catalog import PIECE, Category, Product
from webapp.models.clients import Client
from webapp.models.orders import (
    GROUP_LABELS,
    Counter,
    FeedEntry,
    FeedKind,
    Order,
    OrderItem,
    OrderType,
    Status,
    StatusGroup,
)
from webapp.models.notifications import Notification
from webapp.models.staff import Employee, Location, Role
from webapp.models.stores import (
    FailedOrder, ImportState, LogLevel, RunKind, RunState, Shop, Store, SyncLogEntry, SyncRun,
)
from webapp.models.webhooks import WebhookDelivery

__all__ = [
    "GROUP_LABELS", "PIECE", "Category", "Client", "Counter", "Employee", "FeedEntry", "FeedKind", "Location",
    "Notification",
    "Order", "OrderItem", "OrderType", "Product", "Role", "Status", "StatusGroup", "Store",
    "FailedOrder", "ImportState", "LogLevel", "Shop", "RunKind", "RunState", "SyncLogEntry", "SyncRun",
    "WebhookDelivery",
]
