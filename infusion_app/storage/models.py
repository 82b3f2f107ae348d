"""The tables, as SQLAlchemy 2 declarative models. `Base.metadata` is what Alembic migrates.

Instants are stored as fixed-width UTC ISO 8601 text (UTCDateTime), so they sort as text, read
back as aware datetimes, and never pass through a driver's local-time conversion.
Other features (the treatment course) add their own models to the same `Base`.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utc_text(instant: datetime) -> str:
    """'2026-01-15T09:00:00.000000+00:00': fixed width, so text order is time order."""
    if instant.tzinfo is None:
        raise ValueError("a stored instant must be timezone-aware")
    return instant.astimezone(timezone.utc).isoformat(timespec="microseconds")


class UTCDateTime(TypeDecorator):
    impl = String(32)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else utc_text(value)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        try:
            parsed = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            raise ValueError(f"{str(value)[:40]!r} is not a stored instant") from None
        if parsed.tzinfo is None:
            raise ValueError(f"{str(value)[:40]!r} is a stored instant without its UTC offset")
        return parsed.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    # Names are unique regardless of case, so "Ana" and "ana" are one person.
    name_key: Mapped[str] = mapped_column(String(80), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    pin_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PreparationRow(Base):
    __tablename__ = "preparations"

    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    patient_name: Mapped[str] = mapped_column(String(200))
    mrn: Mapped[str] = mapped_column(String(40), index=True)
    date_of_birth: Mapped[date] = mapped_column(Date)
    order_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(80))
    monograph_id: Mapped[str] = mapped_column(String(80))
    monograph_revision: Mapped[str] = mapped_column(String(40))
    # Denormalised from the events (kept in the same transaction) so the board's query is cheap.
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    event_count: Mapped[int] = mapped_column(Integer, default=0)


class VialRow(Base):
    __tablename__ = "vials"
    __table_args__ = (UniqueConstraint("preparation_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    preparation_id: Mapped[str] = mapped_column(ForeignKey("preparations.id"))
    position: Mapped[int] = mapped_column(Integer)
    lot: Mapped[str] = mapped_column(String(40))
    expiry: Mapped[date] = mapped_column(Date)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # 0010: NULL = the date alone, its last day of use
    gtin: Mapped[str | None] = mapped_column(String(20), nullable=True)
    ndc: Mapped[str | None] = mapped_column(String(20), nullable=True)
    serial: Mapped[str | None] = mapped_column(String(40), nullable=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    added_by: Mapped[str] = mapped_column(String(80))


class EventRow(Base):
    __tablename__ = "events"
    # (preparation, seq) unique: two writers that both read N events cannot both append event N+1.
    __table_args__ = (UniqueConstraint("preparation_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    preparation_id: Mapped[str] = mapped_column(ForeignKey("preparations.id"))
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    user_name: Mapped[str] = mapped_column(String(80))
    details_json: Mapped[str] = mapped_column(Text, default="{}")
    station: Mapped[str] = mapped_column(String(80), default="", server_default="")


class SettingRow(Base):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value_json: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(80))


class AuditRow(Base):
    """Append-only. Each hash = sha256(previous hash + canonical JSON of the entry)."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(32))  # kept as the exact text that was hashed
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str] = mapped_column(String(120))
    before_json: Mapped[str] = mapped_column(Text)
    after_json: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    station: Mapped[str] = mapped_column(String(80), default="", server_default="")


class AuditHeadRow(Base):
    """The last seq and hash, written with every entry: deleting the newest entries is detected too."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class SignInFailureRow(Base):
    """Wrong PINs in a row for one typed name (known or not): the lockout every process shares."""

    __tablename__ = "sign_in_failures"

    name_key: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)


Index("ix_events_preparation", EventRow.preparation_id)
Index("ix_vials_preparation", VialRow.preparation_id)


def load_all_models() -> type[Base]:
    """Import every `*models` module of this package, so Base.metadata holds every table.

    Features add their tables in their own module (e.g. course_models.py) on this same Base.
    """
    import importlib
    import pkgutil

    from . import __path__ as package_path

    for module in pkgutil.iter_modules(package_path):
        if module.name.endswith("models"):
            importlib.import_module(f"{__package__}.{module.name}")
    return Base
