"""Connected stores, for administrators: the list, the two-step wizard (R-CON-1..6), the store
page with its import progress, editing, deleting (R-CON-7) and the sync log."""
from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from webapp.converters import arg_id
from webapp.extensions import db
from webapp.forms.stores import (
    CREDENTIAL_PREFIX, IDENTIFY_LABELS, ConfirmForm, StoreForm, missing_credentials, store_form,
)
from webapp.htmx import STOP_POLLING, render_page_or_partial
from webapp.models import (
    FailedOrder, ImportState, Location, Order, OrderType, RunKind, Store, SyncLogEntry, SyncRun,
)
from webapp.models.types import utcnow
from webapp.platforms import PLATFORMS
from webapp.platforms.base import PlatformError, normalize_store_url
from webapp import store_setup
from webapp.secrets import SecretUnreadable
from webapp.store_check_messages import wizard_message
from webapp.store_setup import Draft
from webapp.sync import progress, webhooks
from webapp.sync.enqueue import enqueue_initial_import, enqueue_sync

bp = Blueprint("stores", __name__, url_prefix="/settings/stores")
LOG_PAGE = 30


@bp.before_request
def only_administrators():
    """Stores hold shop passwords: only administrators see or change them."""
    if not current_user.is_admin:
        abort(403, description="Only an administrator can connect or change stores. Ask one of them for help.")


def active_store_or_404(store_id: int) -> Store:
    store = db.get_or_404(Store, store_id, description="There is no such store. Find it in the list of stores.")
    if store.deleted_at is not None:
        abort(404, description="This store was deleted. Its imported orders are still in the orders list.")
    return store


# ---------------------------------------------------------------------------------------------
# The list
# ---------------------------------------------------------------------------------------------


@bp.get("/")
def index():
    """Every store with its state, last successful sync and the orders it brought in."""
    stores = db.session.scalars(select(Store).where(Store.deleted_at.is_(None)).order_by(Store.name)).all()
    counts = dict(db.session.execute(select(Order.store_id, func.count(Order.id))
                                     .where(Order.store_id.is_not(None)).group_by(Order.store_id)).all())
    return render_template("stores/index.html", stores=stores, counts=counts, platforms=PLATFORMS)


# ---------------------------------------------------------------------------------------------
# Step 1: the store and its credentials (new and edit)
# ---------------------------------------------------------------------------------------------


@bp.route("/new", methods=["GET", "POST"])
def new():
    """Step 1 for a new store: fields, then a live check of the credentials on Next."""
    form = _back_form(None) or store_form(_chosen_platform(request.values.get("platform")))
    _fill_choices(form)
    return _next(form, form.platform.data, None) or _step_one(form, None)


@bp.route("/<int:store_id>/edit", methods=["GET", "POST"])
def edit(store_id: int):
    """Step 1 for an existing store; blank credential fields keep what is saved."""
    store = active_store_or_404(store_id)
    form = _back_form(store) or store_form(store.platform, obj=_form_values(store))
    _fill_choices(form)
    return _next(form, store.platform, store) or _step_one(form, store)


@bp.post("/form")
def refresh_form():
    """The step-1 fields again for another platform or location (htmx swaps a part of them)."""
    store_id = arg_id("store_id")  # R-SEC-5: a malformed id is a 400, not a 500
    store = active_store_or_404(store_id) if store_id else None
    platform = store.platform if store else _chosen_platform(request.form.get("platform"))
    form = store_form(platform)
    if request.headers.get("HX-Trigger-Name") == "platform":  # R-CLI-5: that platform's default
        form.country.data = form.country.default
    _fill_choices(form)
    typed = store_setup.load_typed(store_setup.draft_token(form.draft.data), current_user.id)
    if typed is not None and typed.platform == platform:
        form.mark_kept(typed.secrets.keys())
    return render_template("stores/partials/step_one.html", form=form, store=store)


def _next(form: StoreForm, platform: str, store: Store | None):
    """Next: every field error at once, then the live check; the redirect to step 2, or None."""
    if not form.is_submitted():
        return None
    valid = form.validate_on_submit()
    typed = _keep_typed(form, platform, store)
    draft = _draft(form, platform, store, typed)  # adds its own field errors even when others failed
    if valid and draft is not None and _checked(form, draft):
        token = store_setup.keep_draft(draft, current_user.id, store_setup.draft_token(form.draft.data))
        return redirect(url_for("stores.mapping", token=token))
    return None


def _keep_typed(form: StoreForm, platform: str, store: Store | None) -> dict[str, str]:
    """R-CON-4: keep step 1 as sent server-side, for a failed Next and for Back (``form.draft``
    names it): the fields as posted, and the secrets, which a password field never shows again
    (R-CON-8) — one left empty takes what was typed into it before. The credentials typed in
    this wizard."""
    token, secret = store_setup.draft_token(form.draft.data), form.secret_names()
    before = store_setup.load_typed(token, current_user.id)
    same = before is not None and (before.platform, before.store_id) == (platform, store.id if store else None)
    typed = {**(before.secrets if same else {}), **form.credentials()}
    unsent = {CREDENTIAL_PREFIX + name for name in secret} | {"csrf_token", "draft"}
    fields = {name: request.form.getlist(name) for name in request.form if name in form and name not in unsent}
    kept = store_setup.Typed(platform=platform, store_id=store.id if store else None, fields=fields,
                             secrets={name: value for name, value in typed.items() if name in secret})
    form.draft.data = store_setup.keep_typed(token, current_user.id, kept)
    form.mark_kept(kept.secrets.keys())
    return typed


def _back_form(store: Store | None) -> StoreForm | None:
    """Back from step 2 (a GET naming the wizard's draft): step 1 as it was last sent, its
    secrets kept server-side and marked so; None when there is nothing to go back to."""
    token = store_setup.draft_token(request.args.get("draft"))
    if request.method != "GET" or token is None:
        return None
    typed = store_setup.load_typed(token, current_user.id)
    if typed is None or typed.store_id != (store.id if store else None):
        flash("What you typed is kept for 30 minutes, and that time is over (or the store was saved). "
              "Enter it again.", "info")
        return None
    form = store_form(store.platform if store else typed.platform, formdata=MultiDict(typed.fields))
    form.draft.data = token
    form.mark_kept(typed.secrets.keys())
    return form


def _step_one(form: StoreForm, store: Store | None):
    status = 422 if form.is_submitted() else 200
    return render_template("stores/step_one.html", form=form, store=store), status


def _chosen_platform(value: str | None) -> str:
    return value if value in PLATFORMS else next(iter(PLATFORMS))


def _fill_choices(form: StoreForm) -> None:
    form.location_id.choices = [(0, "— choose —")] + [
        (row.id, row.name) for row in db.session.scalars(select(Location).order_by(Location.name))]
    form.order_type_id.choices = [(0, "— choose —")] + [
        (row.id, row.name) for row in db.session.scalars(select(OrderType).order_by(OrderType.name))]
    form.manager_ids.choices = [(person.id, person.name)
                                for person in store_setup.offered_managers(form.location_id.data)]


def _form_values(store: Store):
    """What the edit form shows; credentials never (R-CON-8)."""
    class Values:
        enabled, platform, name, url = store.enabled, store.platform, store.name, store.url
        location_id, order_type_id = store.location_id, store.order_type_id
        language, identify_by = store.language, store.identify_by
        timezone = store.timezone or PLATFORMS[store.platform].RULES.default_timezone  # R-IMP-8: what is used
        managers = "all" if store.managers_all else "selected"
        manager_ids = [person.id for person in store.managers]
        country = store.country  # R-CLI-5
    return Values()


def _draft(form: StoreForm, platform: str, store: Store | None, typed: dict[str, str]) -> Draft | None:
    """Step 1 as a Draft, or None with the field errors set."""
    rules = PLATFORMS[platform].RULES
    credentials = {**_saved_credentials(store), **typed}
    for label in missing_credentials(rules, credentials):
        field = next(f for f in form.credential_fields() if f.label.text == label)
        field.errors.append(f"Enter the {label.lower()}; it is needed to connect to {PLATFORMS[platform].title}.")
    url = _normalized_url(form)
    refusal = store_setup.shop_refusal(platform, url, store) if url else None
    if refusal is not None:
        form.url.errors.append(refusal)
    if form.managers.data == "selected" and not form.manager_ids.data:
        form.manager_ids.errors.append("Tick at least one manager, or choose All.")
    if form.errors or any(f.errors for f in form):
        return None
    return Draft(platform=platform, name=form.name.data.strip(), url=url, location_id=form.location_id.data,
                 order_type_id=form.order_type_id.data, credentials=credentials, enabled=form.enabled.data,
                 language=form.language.data if rules.language_choice else "",
                 identify_by=form.identify_by.data, managers_all=form.managers.data != "selected",
                 manager_ids=list(form.manager_ids.data or []), timezone=_time_zone(form, store),
                 store_id=store.id if store else None, country=form.country.data)


def _time_zone(form: StoreForm, store: Store | None) -> str:
    """R-IMP-8: the zone typed where the platform's times carry no offset; elsewhere the saved one."""
    if form.timezone_choice:
        return form.timezone.data or ""
    return store.timezone if store else ""


def _saved_credentials(store: Store | None) -> dict:
    if store is None:
        return {}
    try:
        return store.credentials
    except SecretUnreadable:
        return {}  # the key changed: the fields are required again, and say so


def _normalized_url(form: StoreForm) -> str | None:
    if form.url.errors:  # empty: one line says so already
        return None
    try:
        return normalize_store_url(form.url.data)
    except ValueError as error:
        form.url.errors.append(str(error))
        return None


def _checked(form: StoreForm, draft: Draft) -> bool:
    """R-CON-4: the live check; its failure is shown above the fields, nothing typed is lost."""
    try:
        draft.statuses = [{"id": s.id, "name": s.name} for s in store_setup.check(draft)]
    except PlatformError as error:  # worded for the wizard: nothing is saved yet
        form.form_errors.append(wizard_message(error, draft.platform, draft.credentials))
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Step 2: the status mapping, then save (and import)
# ---------------------------------------------------------------------------------------------


@bp.route("/setup/<token>", methods=["GET", "POST"])
def mapping(token: str):
    """R-CON-5: map each platform status; Shopify has none to map. Save starts the import."""
    draft = store_setup.load_draft(token, current_user.id)
    if draft is None:
        flash("The connection form expired (after 30 minutes) or was already saved. Enter the store again.",
              "error")
        return redirect(url_for("stores.index"))
    rules, remote = PLATFORMS[draft.platform].RULES, draft.remote_statuses()
    store = db.session.get(Store, draft.store_id) if draft.store_id else None
    chosen, errors = _mapping_from_request(remote, store)
    if request.method == "POST" and ConfirmForm().validate_on_submit() and not errors:
        return _save(draft, chosen, token)
    context = {"draft": draft, "remote": remote, "rules": rules, "chosen": chosen, "errors": errors,
               "statuses": store_setup.our_statuses(), "store": store, "platform": PLATFORMS[draft.platform],
               "form": ConfirmForm(), "token": token,
               "reconnect": None if store else store_setup.reconnect_note(draft.platform, draft.url)}
    return render_template("stores/mapping.html", **context), (422 if errors else 200)


def _mapping_from_request(remote, store: Store | None) -> tuple[dict[str, int], dict[str, str]]:
    """The mapping shown or posted, and an error per platform status left unmapped."""
    suggested = store_setup.suggested_mapping(remote, store.status_map if store else None)
    if request.method != "POST":
        return suggested, {}
    known = {status.id for status in store_setup.our_statuses()}
    chosen = {s.id: request.form.get(f"status-{s.id}", type=int) for s in remote}
    errors = {key: "Choose the back-office status for this one." for key, value in chosen.items()
              if value not in known}
    return {key: value for key, value in chosen.items() if value in known}, errors


def _save(draft: Draft, mapping: dict[str, int], token: str):
    try:
        store = store_setup.save(draft, mapping)
    except store_setup.ShopTaken as error:  # the address was taken since Next: step 1 again
        db.session.rollback()
        flash(str(error), "error")
        return redirect(url_for("stores.edit", store_id=draft.store_id, draft=token) if draft.store_id
                        else url_for("stores.new", draft=token))
    db.session.commit()
    store_setup.drop_draft(token, current_user.id)
    webhooks.register_later(store)  # R-HOOK-4: with PUBLIC_BASE_URL, in the background
    if store.import_state != ImportState.DONE and store.enabled:
        enqueue_initial_import(store)  # R-CON-6; commits the run before enqueueing
        flash(f"Store {store.name} saved. Its orders of the last two months are being imported.", "success")
    else:
        flash(f"Store {store.name} saved.", "success")
    return redirect(url_for("stores.detail", store_id=store.id))


# ---------------------------------------------------------------------------------------------
# The store page, its progress panel and actions
# ---------------------------------------------------------------------------------------------


@bp.get("/<int:store_id>")
def detail(store_id: int):
    """The store: its settings at a glance, the import or sync in progress, the last runs."""
    store = active_store_or_404(store_id)
    runs = db.session.scalars(select(SyncRun).where(SyncRun.store_id == store.id)
                              .order_by(SyncRun.id.desc()).limit(5)).all()
    orders = db.session.scalar(select(func.count(Order.id)).where(Order.store_id == store.id))
    return render_template("stores/detail.html", store=store, runs=runs, orders=orders, identify=IDENTIFY_LABELS,
                           panel=progress.panel(store), platform=PLATFORMS[store.platform], form=ConfirmForm(),
                           failed=FailedOrder.count_of(store.id), hooks=webhooks.state(store))


@bp.get("/<int:store_id>/progress")
def progress_panel(store_id: int):
    """The self-polling progress panel; 286 stops the polling once nothing runs."""
    store = active_store_or_404(store_id)
    panel = progress.panel(store)
    if not panel.active:
        # It just ended: reload the page once, so the counts and runs beside the panel are fresh.
        response = make_response("", STOP_POLLING)
        response.headers["HX-Refresh"] = "true"
        return response
    return render_template("stores/partials/progress.html", store=store, panel=panel, form=ConfirmForm())


@bp.post("/<int:store_id>/sync")
def sync_now(store_id: int):
    """Start a sync now (or the initial import, if it has not finished)."""
    store = active_store_or_404(store_id)
    ConfirmForm().validate_on_submit() or abort(400, description="Reload the page and try again.")
    if not store.enabled:
        flash("The integration is switched off; switch it on first.", "error")
    elif store.import_state == ImportState.DONE:
        enqueue_sync(store, RunKind.MANUAL)
        flash("Sync started.", "success")
    else:
        enqueue_initial_import(store)
        flash("Import started.", "success")
    return redirect(url_for("stores.detail", store_id=store.id))


@bp.post("/<int:store_id>/enabled")
def switch(store_id: int):
    """Switch the integration off (no more syncs) or on again."""
    store = active_store_or_404(store_id)
    ConfirmForm().validate_on_submit() or abort(400, description="Reload the page and try again.")
    store.enabled = not store.enabled
    db.session.commit()
    flash(f"Integration {'switched on: it syncs every 5 minutes' if store.enabled else 'switched off'}.", "success")
    return redirect(url_for("stores.detail", store_id=store.id))


@bp.route("/<int:store_id>/delete", methods=["GET", "POST"])
def delete(store_id: int):
    """R-CON-7: ask, then delete: syncing stops at once; imported orders, clients and products stay."""
    store = active_store_or_404(store_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        # R-HOOK-4: the job removing its webhooks from the shop takes the credentials along,
        # still encrypted, before the store clears its own.
        removing = webhooks.unregister_later(store)
        store.deleted_at, store.enabled = utcnow(), False
        store.credentials = {}  # nothing left to leak once it is gone
        store.hook_secret = ""
        db.session.commit()
        flash(f"Store {store.name} deleted. Its imported orders stay in the orders list.", "success")
        if not removing:
            flash("Its webhooks could not be removed from the shop (the background service is away): delete the "
                  "ones pointing at this back office in the shop's admin.", "error")
        return redirect(url_for("stores.index"))
    orders = db.session.scalar(select(func.count(Order.id)).where(Order.store_id == store.id))
    return render_template("stores/delete.html", store=store, orders=orders, form=form)


@bp.get("/<int:store_id>/log")
def log(store_id: int):
    """The store's sync log: runs and the orders skipped or failed, newest first."""
    store = active_store_or_404(store_id)
    entries = db.paginate(select(SyncLogEntry).where(SyncLogEntry.store_id == store.id)
                          .order_by(SyncLogEntry.id.desc()), per_page=LOG_PAGE, error_out=False)
    runs = db.session.scalars(select(SyncRun).where(SyncRun.store_id == store.id)
                              .order_by(SyncRun.id.desc()).limit(20)).all()
    return render_page_or_partial("stores/log.html", "stores/partials/log_entries.html",
                                  store=store, entries=entries, runs=runs)

