"""Settings: users, printing (label and paper size), the alarm lead time and the site policies.

Everything is changed through the service, which checks that the signed-in person is a
pharmacist, validates every value against its accepted range (infusion_app.service.settings)
and audits the change before saying it succeeded. Other roles see the settings read-only.
Each field is checked with the service's own validator as soon as the person leaves it, so the
message naming the accepted range appears next to the field, not after Save.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..domain.errors import ValidationError
from ..domain.preparation import StepRefused
from ..domain.records import Role, User
from ..service.settings import LABEL_SIZES, PAPER_SIZES, SETTINGS, validate_setting
from .pin_entry import pin_field
from .widgets import message_label, set_role
from .errors import error_text

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..service.preparations import PreparationService

# What each size choice is called on screen; the stored value is the key.
PAPER_NAMES = {"letter": "US Letter (8.5 x 11 in)", "a4": "A4 (210 x 297 mm)"}
LABEL_NAMES = {
    "4x2in": "4 x 2 in (102 x 51 mm)",
    "4x3in": "4 x 3 in",
    "4x6in": "4 x 6 in",
    "6x4in": "6 x 4 in (landscape)",
    "3x2in": "3 x 2 in",
    "102x51mm": "102 x 51 mm",
    "100x50mm": "100 x 50 mm",
}

# The fields typed as numbers: setting key -> (tab, label, unit shown after the field).
NUMBER_FIELDS = {
    "warning_lead_minutes": ("alarms", "&Warning lead time", "minutes before each deadline"),
    "weight_change_percent_adult": ("policies", "Weight change, &adults", "% (asks for a BSA re-check)"),
    "weight_change_percent_child": ("policies", "Weight change, c&hildren", "% (asks for a BSA re-check)"),
    "weight_max_age_days": ("policies", "Dosing weight valid &for", "days"),
    "lab_max_age_hours": ("policies", "Labs valid fo&r", "hours (CBC, liver tests, VOD/SOS check before a dose)"),
    "ecg_every_days": ("policies", "Repeat &ECG and electrolytes", "days (0: at baseline only)"),
    "draw_syringes": ("policies", "Draw s&yringes", "capacity:graduation in mL, smallest first"),
    "draw_tolerance_percent": ("policies", "Draw &tolerance", "% (beyond it the draw is split across syringes)"),
}


def _display(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class _NumberSetting:
    """A typed setting with its message line; validated by the service's validator."""

    def __init__(self, key: str, label: str, unit: str, parent: QWidget):
        self.key = key
        self.edit = QLineEdit(parent)
        self.edit.setObjectName(f"setting_{key}")
        self.edit.setAccessibleName(SETTINGS[key][1])
        self.edit.setToolTip(SETTINGS[key][1])
        self.edit.setMaximumWidth(260 if key == "draw_syringes" else 140)  # a list of syringes needs room
        self.label = QLabel(label, parent)
        self.label.setBuddy(self.edit)
        self.unit = QLabel(unit, parent)
        self.message = message_label("", "error", parent)
        self.message.setObjectName(f"settingMessage_{key}")
        self.message.hide()
        self.row = QWidget(parent)
        line = QHBoxLayout(self.row)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(self.edit)
        line.addWidget(self.unit, 1)
        self.edit.editingFinished.connect(self.check)
        self.edit.textEdited.connect(lambda _text: self.show_error(None))
        self.saved_text = ""

    def load(self, value: Any) -> None:
        self.saved_text = _display(value)
        self.edit.setText(self.saved_text)
        self.show_error(None)

    def changed(self) -> bool:
        return self.edit.text().strip() != self.saved_text

    def check(self) -> bool:
        try:
            validate_setting(self.key, self.edit.text())
        except ValidationError as exc:
            self.show_error(f"{SETTINGS[self.key][1].capitalize()}: {exc.message}")
            return False
        self.show_error(None)
        return True

    def show_error(self, text: str | None) -> None:
        self.message.setText(text or "")
        self.message.setVisible(bool(text))
        self.edit.setProperty("invalid", bool(text))
        self.edit.style().unpolish(self.edit)
        self.edit.style().polish(self.edit)


class SettingsDialog(QDialog):
    """Users, printing, alarms and site policies. Saved through the service by a pharmacist."""

    def __init__(self, service: PreparationService, user: User, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("settingsDialog")
        self.setWindowTitle("Settings")
        self.service = service
        self.user = user
        self.may_change = user.role is Role.PHARMACIST

        layout = QVBoxLayout(self)
        self.role_note = message_label(
            "" if self.may_change else f"Only a pharmacist can change settings and users; you are signed in as a {user.role.value}.",
            "" if self.may_change else "warning",
            self,
        )
        self.role_note.setObjectName("roleNote")
        self.role_note.setVisible(not self.may_change)
        layout.addWidget(self.role_note)

        self.numbers: dict[str, _NumberSetting] = {}
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("settingsTabs")
        self.tabs.addTab(self._build_users_tab(), "&Users")
        self.tabs.addTab(self._build_printing_tab(), "&Printing")
        self.tabs.addTab(self._build_number_tab("alarms"), "A&larms")
        self.tabs.addTab(self._build_number_tab("policies"), "&Site policies")
        layout.addWidget(self.tabs, 1)

        self.message = message_label("", "", self)
        self.message.setObjectName("settingsMessage")
        layout.addWidget(self.message)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.save_button = QPushButton("Sa&ve settings", self)
        self.save_button.setObjectName("saveSettingsButton")
        self.save_button.clicked.connect(self.save)
        # After "changed by NAME at TIME; reload": shows what is stored now (this form's edits are lost).
        self.reload_button = QPushButton("Rel&oad", self)
        self.reload_button.setObjectName("reloadSettingsButton")
        self.reload_button.clicked.connect(self.reload)
        self.close_button = QPushButton("&Close", self)
        self.close_button.setObjectName("closeSettingsButton")
        self.close_button.clicked.connect(self.reject)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.reload_button)
        buttons.addWidget(self.close_button)
        layout.addLayout(buttons)

        # In a dialog, Enter in any field presses an auto-default button; here that could
        # deactivate a user or save half-typed settings. Enter does only what its field says.
        for button in self.findChildren(QPushButton):
            button.setAutoDefault(False)
            button.setDefault(False)
        self._apply_permissions()
        self.load()
        self.resize(900, 620)

    # -- layout ------------------------------------------------------------------------------

    def _build_users_tab(self) -> QWidget:
        page = QWidget(self)
        outer = QVBoxLayout(page)
        outer.addWidget(message_label("Changes to users are stored at once, with your name, in the audit log.", "", page))
        columns = QHBoxLayout()
        outer.addLayout(columns, 1)

        left = QVBoxLayout()
        self.users_table = QTableWidget(0, 3, page)
        self.users_table.setObjectName("usersTable")
        self.users_table.setHorizontalHeaderLabels(["Name", "Role", "Status"])
        self.users_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.users_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.users_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.users_table.verticalHeader().hide()
        header = self.users_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.users_table.itemSelectionChanged.connect(self._selection_changed)
        left.addWidget(self.users_table, 1)
        self.toggle_active_button = QPushButton("&Deactivate selected", page)
        self.toggle_active_button.setObjectName("toggleActiveButton")
        self.toggle_active_button.clicked.connect(self.toggle_selected_active)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.toggle_active_button)
        left.addLayout(row)
        columns.addLayout(left, 3)

        self.add_group = QGroupBox("Add a user", page)
        group = QVBoxLayout(self.add_group)
        form = QFormLayout()
        self.new_name = QLineEdit(self.add_group)
        self.new_name.setObjectName("newUserName")
        self.new_name.setPlaceholderText("full name")
        self.new_role = QComboBox(self.add_group)
        self.new_role.setObjectName("newUserRole")
        for role in Role:
            self.new_role.addItem(role.value.capitalize(), role)
        self.new_pin = pin_field(self.add_group, "new user's PIN")
        self.new_pin.setObjectName("newUserPin")
        self.new_pin_again = pin_field(self.add_group, "new user's PIN again")
        self.new_pin_again.setObjectName("newUserPinAgain")
        self.new_pin_again.returnPressed.connect(self.add_user)
        for text, widget in (
            ("&Name:", self.new_name),
            ("&Role:", self.new_role),
            ("P&IN:", self.new_pin),
            ("PIN a&gain:", self.new_pin_again),
        ):
            label = QLabel(text, self.add_group)
            label.setBuddy(widget)
            form.addRow(label, widget)
        group.addLayout(form)
        self.users_message = message_label("", "", self.add_group)
        self.users_message.setObjectName("usersMessage")
        group.addWidget(self.users_message)
        self.add_button = QPushButton("&Add user", self.add_group)
        self.add_button.setObjectName("addUserButton")
        self.add_button.clicked.connect(self.add_user)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.add_button)
        group.addLayout(buttons)
        group.addStretch(1)
        columns.addWidget(self.add_group, 2)
        return page

    def _build_printing_tab(self) -> QWidget:
        page = QWidget(self)
        form = QFormLayout(page)
        self.paper_size = QComboBox(page)
        self.paper_size.setObjectName("paperSize")
        for key in PAPER_SIZES:
            self.paper_size.addItem(PAPER_NAMES.get(key, key), key)
        self.label_size = QComboBox(page)
        self.label_size.setObjectName("labelSize")
        for key in LABEL_SIZES:
            self.label_size.addItem(LABEL_NAMES.get(key, key), key)
        # The CUPS queues, listed from the print system; a name may also be typed (a queue added later).
        from ..service.printing import queues

        known = queues()
        self.label_queue = QComboBox(page)
        self.label_queue.setObjectName("labelQueue")
        self.sheet_queue = QComboBox(page)
        self.sheet_queue.setObjectName("sheetQueue")
        for combo in (self.label_queue, self.sheet_queue):
            combo.setEditable(True)
            combo.addItem("")
            combo.addItems(known)
            combo.lineEdit().setPlaceholderText("not set: choose or type a print queue")
        for text, widget, key in (
            ("Prep sheet &paper:", self.paper_size, "paper_size"),
            ("&Bag label stock:", self.label_size, "label_size"),
            ("&Label printer (queue):", self.label_queue, "label_queue"),
            ("S&heet printer (queue):", self.sheet_queue, "sheet_queue"),
        ):
            label = QLabel(text, page)
            label.setBuddy(widget)
            widget.setToolTip(SETTINGS[key][1])
            form.addRow(label, widget)
        form.addRow(
            message_label(
                "The label prints to its queue in one action (Print label, Ctrl+P), at 100 % on the label stock; "
                "sheets print through Prep sheet…, on the sheet paper." + ("" if known else " No print queue is known to this computer's print system (CUPS)."),
                "",
                page,
            )
        )
        return page

    def _build_number_tab(self, tab: str) -> QWidget:
        page = QWidget(self)
        form = QFormLayout(page)
        for key, (where, label, unit) in NUMBER_FIELDS.items():
            if where != tab:
                continue
            field = _NumberSetting(key, label, unit, page)
            self.numbers[key] = field
            form.addRow(field.label, field.row)
            form.addRow("", field.message)
        if tab == "alarms":
            form.addRow(message_label("A deadline turns yellow and its alarm sounds this many minutes before it is reached.", "", page))
        return page

    def _apply_permissions(self) -> None:
        for widget in (self.add_group, self.toggle_active_button, self.paper_size, self.label_size, self.label_queue, self.sheet_queue, self.save_button):
            widget.setEnabled(self.may_change)
        for field in self.numbers.values():
            field.edit.setReadOnly(not self.may_change)

    # -- reading -----------------------------------------------------------------------------

    def load(self) -> None:
        """Show what is stored now, and remember which version of each setting was shown: saving
        passes it back (expected=), so a change another station made meanwhile is refused, never
        overwritten, and a field left alone is never written back over the other station's value."""
        values = self.service.settings().as_dict()
        self._shown = dict(values)
        versions = getattr(self.service, "setting_version", None)
        self._versions = {key: versions(key) for key in SETTINGS} if versions is not None else {}
        self._select(self.paper_size, values["paper_size"])
        self._select(self.label_size, values["label_size"])
        self.label_queue.setCurrentText(values.get("label_queue", ""))
        self.sheet_queue.setCurrentText(values.get("sheet_queue", ""))
        for key, field in self.numbers.items():
            field.load(values[key])
        self.load_users()

    @staticmethod
    def _select(combo: QComboBox, key: str) -> None:
        index = combo.findData(key)
        combo.setCurrentIndex(max(index, 0))

    def load_users(self, select: str | None = None) -> None:
        users = sorted(self.service.users(include_inactive=True), key=lambda u: (not u.active, u.name.casefold()))
        self.users_table.setRowCount(len(users))
        for row, user in enumerate(users):
            for column, text in enumerate((user.name, user.role.value, "active" if user.active else "deactivated")):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, user.name)
                if not user.active:
                    item.setForeground(Qt.GlobalColor.darkGray)
                self.users_table.setItem(row, column, item)
            if user.name == select:
                self.users_table.selectRow(row)
        self._selection_changed()

    def selected_user(self) -> User | None:
        rows = self.users_table.selectionModel().selectedRows()
        if not rows:
            return None
        name = self.users_table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole)
        return self.service.user(name)

    def _selection_changed(self) -> None:
        user = self.selected_user()
        self.toggle_active_button.setText("&Reactivate selected" if user is not None and not user.active else "&Deactivate selected")
        self.toggle_active_button.setEnabled(self.may_change and user is not None)

    # -- users -------------------------------------------------------------------------------

    def _say(self, label: QLabel, text: str, role: str) -> None:
        label.setText(text)
        set_role(label, role)

    def add_user(self) -> None:
        if self.new_pin.text() != self.new_pin_again.text():
            self.new_pin_again.clear()
            self._say(self.users_message, "PIN again: the two PINs differ; type the same PIN twice.", "error")
            self.new_pin_again.setFocus()
            return
        role = self.new_role.currentData()
        try:
            created = self.service.add_user(self.new_name.text(), role, self.new_pin.text(), actor=self.user)
        except ValidationError as exc:
            if exc.field == "pin":
                self.new_pin.clear()
                self.new_pin_again.clear()
            self._say(self.users_message, error_text(exc), "error")
            ({"pin": self.new_pin}.get(exc.field) or self.new_name).setFocus()
            return
        except StepRefused as exc:
            self._say(self.users_message, exc.message, "hardstop")
            return
        for field in (self.new_name, self.new_pin, self.new_pin_again):
            field.clear()
        self.load_users(select=created.name)
        self._say(self.users_message, f"Added {created.name} ({created.role.value}).", "ok")
        self.new_name.setFocus()

    def toggle_selected_active(self) -> None:
        user = self.selected_user()
        if user is None:
            return
        if user.name.casefold() == self.user.name.casefold() and user.active:
            self._say(self.users_message, "You cannot deactivate yourself; ask another pharmacist.", "error")
            return
        try:
            changed = self.service.set_user_active(user.name, not user.active, actor=self.user)
        except (ValidationError, StepRefused) as exc:
            self._say(self.users_message, getattr(exc, "message", str(exc)), "error")
            return
        self.load_users(select=changed.name)
        self._say(
            self.users_message,
            f"{changed.name} is {'active again' if changed.active else 'deactivated: they can no longer sign in'}.",
            "ok",
        )

    # -- settings ----------------------------------------------------------------------------

    def reload(self) -> None:
        self.load()
        self._say(self.message, "Reloaded: the values stored now are shown.", "")

    def pending_changes(self) -> dict[str, Any]:
        """What this form changes against what it showed (not against what is stored now: that
        may be another station's newer value, which an untouched field must not undo)."""
        values = self._shown
        changes: dict[str, Any] = {}
        for key, combo in (("paper_size", self.paper_size), ("label_size", self.label_size)):
            if combo.currentData() != values[key]:
                changes[key] = combo.currentData()
        for key, combo in (("label_queue", self.label_queue), ("sheet_queue", self.sheet_queue)):
            if combo.currentText().strip() != values.get(key, ""):
                changes[key] = combo.currentText().strip()
        for key, field in self.numbers.items():
            if field.changed():
                changes[key] = field.edit.text().strip()
        return changes

    def save(self) -> bool:
        """Store every changed value; each is validated and audited by the service. True if all stored."""
        invalid = [field for field in self.numbers.values() if field.changed() and not field.check()]
        if invalid:
            self._focus_field(invalid[0])
            self._say(self.message, "Nothing saved: correct the field marked in red.", "error")
            return False
        changes = self.pending_changes()
        if not changes:
            self._say(self.message, "No change to save.", "")
            return True
        saved: list[str] = []
        for key, value in changes.items():
            try:
                if key in self._versions:
                    self.service.set_setting(key, value, self.user, expected=self._versions[key])
                else:
                    self.service.set_setting(key, value, self.user)
            except ValidationError as exc:
                if key in self.numbers:
                    self.numbers[key].show_error(f"{SETTINGS[key][1].capitalize()}: {exc.message}")
                    self._focus_field(self.numbers[key])
                self._say(self.message, f"Not saved: {SETTINGS[key][1]}: {exc.message}", "error")
                self._reload_saved(saved)
                return False
            except StepRefused as exc:
                self._say(self.message, exc.message, "hardstop")
                self._reload_saved(saved)
                return False
            saved.append(key)
        self._reload_saved(saved)
        self._say(self.message, "Saved: " + ", ".join(SETTINGS[k][1] for k in saved) + ".", "ok")
        return True

    def _reload_saved(self, saved: list[str]) -> None:
        values = self.service.settings().as_dict()
        versions = getattr(self.service, "setting_version", None)
        for key in saved:
            self._shown[key] = values[key]
            if versions is not None:
                self._versions[key] = versions(key)  # this form's own change is the version it now shows
            if key in self.numbers:
                self.numbers[key].load(values[key])

    def _focus_field(self, field: _NumberSetting) -> None:
        self.tabs.setCurrentWidget(field.row.parentWidget())
        field.edit.setFocus()
        field.edit.selectAll()
