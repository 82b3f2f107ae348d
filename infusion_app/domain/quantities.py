"""The one pint unit registry every layer shares (pint quantities from two registries cannot mix),
imported and built only when a quantity needs it.

Importing pint and building its registry is about 250 ms (pint's own cache of the parsed
definitions already saves most of the build): most of `infusion-prep calc`. A `Quantity` here is
pint's quantity, made when first needed: until then it holds its magnitude and unit text, and
does without pint the few things the headless commands ask of it, with pint's own answers kept
from an earlier run (`_Known`, in the cache folder beside pint's):

- `.to(unit)`: pint's conversion factor for that pair of units (pint converts a multiplicative
  unit as magnitude * factor, or leaves the magnitude as it is for the same unit), so the
  result is pint's to the last bit;
- `.magnitude`, a comparison of two quantities in the same unit text (pint compares their
  magnitudes), the sum of two in the same multiplicative unit (pint adds their magnitudes);
- `same_dimension(a, b)` for two unit texts.

Anything else (a unit pair not yet seen, offset units, arithmetic, formatting, `.units`) builds
the pint quantity and answers with it; its answer is wrapped again, so no bare pint quantity
reaches the program. A cache that cannot be read or written (a read-only home, a half-written
file from two programs starting at once) only costs the time: pint answers.
"""

from __future__ import annotations

import json
import operator
import os
from pathlib import Path
from typing import Any

APP_NAME = "infusion-prep"
# Tests and scripts may point the cache elsewhere (tests/conftest.py does).
CACHE_DIR_ENV = "INFUSION_PREP_CACHE_DIR"
# One answers file per pint install (named by its stamp): two installs sharing a cache folder (an
# upgrade beside the old one, several checkouts of one user) each keep theirs instead of wiping the
# other's at every start, which cost a whole pint build (about 250 ms) each time.
KNOWN_FILE = "known-units-{stamp}.json"


def _cache_folder() -> Path | None:
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured) / "pint"
    # The XDG rule platformdirs applies on Linux, the one platform this program is packaged for,
    # spelled out because the domain imports nothing but pint (tests/test_layering.py).
    base = os.environ.get("XDG_CACHE_HOME") or ""
    if not os.path.isabs(base):
        try:
            base = str(Path.home() / ".cache")
        except (RuntimeError, KeyError):  # no home folder: no cache
            return None
    return Path(base) / APP_NAME / "pint"


# -- pint itself, at first need ---------------------------------------------------------------
_registry: Any = None


def _build_registry() -> Any:
    import pint

    folder = _cache_folder()
    if folder is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            return pint.UnitRegistry(autoconvert_offset_to_baseunit=True, cache_folder=folder)
        except Exception:
            pass
    return pint.UnitRegistry(autoconvert_offset_to_baseunit=True)


def registry() -> Any:
    """pint's UnitRegistry (imported and built at the first call)."""
    global _registry
    if _registry is None:
        _registry = _build_registry()
    return _registry


def _pint_quantity_type() -> Any:
    return registry().Quantity


# -- pint's answers kept from earlier runs --------------------------------------------------------
def _pint_stamp() -> list[Any] | None:
    """What the kept answers were computed with: pint's files (a new pint computes them again)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("pint")
        if spec is None or spec.origin is None:
            return None
        package = Path(spec.origin).parent
        stamp: list[Any] = [str(package)]
        for name in ("__init__.py", "default_en.txt", "facets/plain/registry.py", "facets/plain/quantity.py"):
            info = (package / name).stat()
            stamp += [name, info.st_size, info.st_mtime_ns]
        return stamp
    except (OSError, ValueError, ImportError):
        return None


def known_path(stamp: list[Any] | None) -> Path | None:
    """The answers file of the pint install `stamp` describes (None: no cache folder or no stamp).
    The stamp is also kept inside the file and compared: the name only keeps installs apart."""
    import binascii

    folder = _cache_folder()
    if folder is None or stamp is None:
        return None
    return folder / KNOWN_FILE.format(stamp=f"{binascii.crc32(json.dumps(stamp).encode()):08x}")


def _only_ours(path: Path) -> bool:
    """A regular file and its folder owned by this user, writable by no one else."""
    import stat

    try:
        for item in (path, path.parent):
            info = item.lstat()
            if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return False
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


class _Known:
    """Per unit pair: pint's conversion factor, or "same" (pint leaves the magnitude), or "pint"
    (ask pint each time); per unit text: its dimensionality and whether it is multiplicative."""

    def __init__(self) -> None:
        self.loaded = False
        self.stamp: list[Any] | None = None
        self.factors: dict[str, Any] = {}
        self.units: dict[str, list[Any]] = {}  # unit text -> [dimensionality items, multiplicative]
        self.dirty = False

    def _path(self) -> Path | None:
        return known_path(self.stamp)

    def load(self) -> None:
        if self.loaded:
            return
        self.loaded = True
        self.stamp = _pint_stamp()
        path = self._path()
        if path is None or self.stamp is None:
            return
        try:
            if not _only_ours(path):
                return  # factors that feed dose arithmetic are read only from a file no one else can change
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("stamp") == self.stamp:
                self.factors = dict(data["factors"])
                self.units = dict(data["units"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            self.factors, self.units = {}, {}

    def save(self) -> None:
        path = self._path()
        if not self.dirty or path is None or self.stamp is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(json.dumps({"stamp": self.stamp, "factors": self.factors, "units": self.units}))
            os.replace(partial, path)
            self.dirty = False
        except OSError:
            pass

    def factor(self, src: str, dst: str) -> Any:
        """pint's factor from unit text `src` to `dst`, "same", or "pint"; None if not known yet."""
        self.load()
        return self.factors.get(f"{src}\x00{dst}")

    def learn_factor(self, src: str, dst: str) -> Any:
        ureg = registry()
        try:
            source, target = ureg.parse_units_as_container(src), ureg.parse_units_as_container(dst)
            if source == target:
                answer: Any = "same"
            elif ureg._validate_and_extract(source) is None and ureg._validate_and_extract(target) is None:
                answer = ureg._get_conversion_factor(source, target)
                if not isinstance(answer, (int, float)) or isinstance(answer, bool):
                    answer = "pint"  # a dimensionality error and its message: pint's, each time
            else:
                answer = "pint"
        except Exception:  # noqa: BLE001 - pint answers (and raises) for itself
            answer = "pint"
        self.load()
        self.factors[f"{src}\x00{dst}"] = answer
        self._changed()
        return answer

    def unit(self, text: str) -> list[Any] | None:
        self.load()
        found = self.units.get(text)
        if found is None:
            try:
                ureg = registry()
                quantity = ureg.Quantity(1, text) if text else ureg.Quantity(1)
                # pint's to_root_units(): the magnitude as it is, or times this factor
                container = quantity._units
                _factor, root = ureg._get_root_units(container)
                to_root: Any = "same" if root == container else ureg._get_conversion_factor(container, root)
                if not isinstance(to_root, (int, float)) or isinstance(to_root, bool):
                    to_root = "pint"
                found = [sorted(quantity.dimensionality.items()), bool(quantity._is_multiplicative), to_root]
            except Exception:  # noqa: BLE001 - not a unit: the caller asks pint, which says why
                return None
            self.units[text] = found
            self._changed()
        return found

    def _changed(self) -> None:
        if not self.dirty:
            self.dirty = True
            import atexit

            atexit.register(self.save)


_known = _Known()


def same_dimension(unit_a: str, unit_b: str) -> bool:
    """Whether two unit texts measure the same thing (pint's dimensionality). ValueError-like
    pint errors for a text that is no unit, as pint raises them."""
    a, b = _known.unit(unit_a), _known.unit(unit_b)
    if a is None or b is None:
        ureg = registry()
        return bool(ureg.parse_units(unit_a).dimensionality == ureg.parse_units(unit_b).dimensionality)
    return [tuple(x) for x in a[0]] == [tuple(x) for x in b[0]]


def has_dimension(quantity: Any, unit: str) -> bool:
    """Whether a quantity measures what `unit` measures (a mass for "mg", a dose per area for "mg/m**2")."""
    if type(quantity) is _Lazy and quantity._q is None:
        return same_dimension(quantity._u, unit)
    return bool(_plain(quantity).dimensionality == registry().parse_units(unit).dimensionality)


# -- the quantity ---------------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    return value._pint() if type(value) is _Lazy else value


def _wrapped(value: Any) -> Any:
    if _registry is not None and isinstance(value, _registry.Quantity):
        return _Lazy._of(value)
    return value


_PARSED_UNITS: dict[str, Any] = {}
_MOST_PARSED_UNITS = 1024  # unit texts come from the data files and the code; typed ones are few


def _parsed_units(text: str) -> Any:
    """pint's reading of a unit text, as its own `.to(text)` makes it, kept: pint keeps only a bare
    unit name's, so every `.to("mg/m**2")` parsed the text again (about a twentieth of a test run)."""
    found = _PARSED_UNITS.get(text)
    if found is None:
        if len(_PARSED_UNITS) >= _MOST_PARSED_UNITS:
            _PARSED_UNITS.clear()
        from pint.util import to_units_container  # what pint's own .to() reads the text with

        found = _PARSED_UNITS[text] = to_units_container(text, registry())
    return found


def _root(magnitude: Any, factor: Any) -> Any:
    return magnitude if factor == "same" else magnitude * factor


class _QuantityType(type):
    def __instancecheck__(cls, instance: Any) -> bool:
        if type(instance) is _Lazy:
            return True
        return _registry is not None and isinstance(instance, _registry.Quantity)


class _Lazy(metaclass=_QuantityType):
    """pint's Quantity, built when first needed (see the module's docstring)."""

    __slots__ = ("_m", "_u", "_q")
    _m: Any  # the magnitude, until pint's quantity is built (then None)
    _u: Any  # the unit text, likewise
    _q: Any  # pint's quantity, or None until needed

    def __init__(self, value: Any, units: Any = None):
        if type(value) is _Lazy and units is None:
            self._m, self._u, self._q = value._m, value._u, value._q
        elif type(value) in (int, float) and (units is None or (isinstance(units, str) and _known.unit(units) is not None)):
            self._m, self._u, self._q = value, units if units is not None else "", None
        else:  # text to parse, a pint quantity or unit, another magnitude type: pint's own reading
            built = _pint_quantity_type()(_plain(value), _plain(units)) if units is not None else _pint_quantity_type()(_plain(value))
            self._m, self._u, self._q = None, None, built

    @classmethod
    def _of(cls, quantity: Any) -> _Lazy:
        made = object.__new__(cls)
        made._m, made._u, made._q = None, None, quantity
        return made

    def _pint(self) -> Any:
        if self._q is None:
            self._q = _pint_quantity_type()(self._m, self._u) if self._u else _pint_quantity_type()(self._m)
        return self._q

    @property
    def magnitude(self) -> Any:
        return self._m if self._q is None else self._q.magnitude

    m = magnitude

    def to(self, other: Any = None, *contexts: Any, **ctx_kwargs: Any) -> Any:
        if self._q is None and isinstance(other, str) and not contexts and not ctx_kwargs:
            factor = _known.factor(self._u, other)
            if factor is None:
                factor = _known.learn_factor(self._u, other)
            if factor == "same":
                return _Lazy(self._m, other)
            if factor != "pint":
                return _Lazy(self._m * factor, other)
        return _wrapped(self._pint().to(_parsed_units(other) if isinstance(other, str) else _plain(other), *contexts, **ctx_kwargs))

    def m_as(self, units: Any) -> Any:
        return self.to(units).magnitude

    def _compare(self, other: Any, op: Any) -> Any:
        # pint compares the magnitudes in the same units, else in root units after a dimension check
        if self._q is None and type(other) is _Lazy and other._q is None:
            if self._u == other._u:
                return op(self._m, other._m)
            mine, theirs = _known.unit(self._u), _known.unit(other._u)
            if mine is not None and theirs is not None and len(mine) > 2 and len(theirs) > 2:
                if (_known.factor(self._u, other._u) or _known.learn_factor(self._u, other._u)) == "same":
                    return op(self._m, other._m)
                if mine[0] == theirs[0] and "pint" not in (mine[2], theirs[2]):
                    return op(_root(self._m, mine[2]), _root(other._m, theirs[2]))
        return op(self._pint(), _plain(other))

    def __lt__(self, other: Any) -> Any:
        return self._compare(other, operator.lt)

    def __le__(self, other: Any) -> Any:
        return self._compare(other, operator.le)

    def __gt__(self, other: Any) -> Any:
        return self._compare(other, operator.gt)

    def __ge__(self, other: Any) -> Any:
        return self._compare(other, operator.ge)

    def __eq__(self, other: Any) -> Any:
        return _wrapped(self._pint() == _plain(other))

    def __ne__(self, other: Any) -> Any:
        return _wrapped(self._pint() != _plain(other))

    def __hash__(self) -> int:
        return hash(self._pint())

    def __add__(self, other: Any) -> Any:
        if self._q is None and type(other) is _Lazy and other._q is None and self._u == other._u:
            known = _known.unit(self._u)
            if known is not None and known[1]:
                return _Lazy(self._m + other._m, self._u)
        return _wrapped(self._pint() + _plain(other))

    def __radd__(self, other: Any) -> Any:
        return _wrapped(_plain(other) + self._pint())

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        found = getattr(self._pint(), name)
        if callable(found) and not isinstance(found, type):
            return lambda *args, **kwargs: _wrapped(found(*(_plain(a) for a in args), **{k: _plain(v) for k, v in kwargs.items()}))
        return _wrapped(found)

    def __str__(self) -> str:
        return str(self._pint())

    def __repr__(self) -> str:
        return repr(self._pint())

    def __format__(self, spec: str) -> str:
        return format(self._pint(), spec)

    def __bool__(self) -> bool:
        return bool(self._pint())

    def __float__(self) -> float:
        return float(self._pint())

    def __int__(self) -> int:
        return int(self._pint())

    def __round__(self, ndigits: Any = None) -> Any:
        return _wrapped(round(self._pint(), ndigits))

    def __neg__(self) -> Any:
        return _wrapped(-self._pint())

    def __pos__(self) -> Any:
        return _wrapped(+self._pint())

    def __abs__(self) -> Any:
        return _wrapped(abs(self._pint()))

    def __reduce__(self) -> Any:
        return (_Lazy, (self._m, self._u)) if self._q is None else (_Lazy._of, (self._q,))


def _binary(name: str) -> Any:
    def method(self: _Lazy, other: Any) -> Any:
        return _wrapped(getattr(self._pint(), name)(_plain(other)))

    method.__name__ = name
    return method


for _name in (
    "__sub__",
    "__rsub__",
    "__mul__",
    "__rmul__",
    "__truediv__",
    "__rtruediv__",
    "__floordiv__",
    "__rfloordiv__",
    "__mod__",
    "__rmod__",
    "__pow__",
    "__rpow__",
):
    setattr(_Lazy, _name, _binary(_name))


class _LazyRegistry:
    """`ureg`: pint's registry at the first use; calling it parses like pint and wraps the quantity."""

    def __getattr__(self, name: str) -> Any:
        if name == "Quantity":
            return Quantity
        return _wrapped(getattr(registry(), name))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _wrapped(registry()(*args, **kwargs))


Quantity: Any = _Lazy
ureg: Any = _LazyRegistry()

__all__ = ["ureg", "Quantity", "registry", "same_dimension", "has_dimension"]
