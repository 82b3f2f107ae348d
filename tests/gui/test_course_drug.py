"""Issue 17: the course view and its forms read the course's own drug: the drugs a course is kept
for, that drug's response choices and warnings, never a list written in the GUI."""

from __future__ import annotations

from infusion_app.gui.course_view import CourseView
from infusion_app.service.course import CourseService
from tests.drugs import BESPONSA, MYLOTARG

from .test_course_view import fill_form, show


def combo_items(combo):
    return [(combo.itemText(i), combo.itemData(i)) for i in range(combo.count())]


def test_the_forms_offer_the_drugs_a_course_is_kept_for_and_their_own_responses(qtbot, service, pharmacist):
    courses = CourseService(service)
    view = CourseView(service, pharmacist, courses=courses)
    qtbot.addWidget(view)
    view.resize(1280, 700)
    view.show()
    show(qtbot, view, "MRN7007")
    drugs = [data for _text, data in combo_items(view.forms.fields["new"]["drug"])]
    # Both drugs keep a course now (a MYLOTARG course follows its regimen: tests/gui/test_course_view_mylotarg.py),
    # and neither is preselected: "— choose —" first (issue 17: no default drug).
    assert drugs[0] is None and sorted(drugs[1:]) == sorted([BESPONSA.id, MYLOTARG.id])
    assert view.warnings_label.text() == ""  # no course shown: no drug's warnings
    assert fill_form(qtbot, view, "new", drug="BESPONSA (inotuzumab ozogamicin)", hsct="no") == "Course created."
    assert courses.course("MRN7007").monograph_id == BESPONSA.id
    responses = combo_items(view.forms.fields["response"]["response"])[1:]
    assert responses == [(words, key) for key, words in BESPONSA.response_choices()]
    assert BESPONSA.items("warnings.other")[0] in view.warnings_label.text()
    assert view.tabs.isTabVisible(view.tabs.indexOf(view.responses_table))


def test_the_course_form_shows_the_services_refusal_of_an_infant(qtbot, service, pharmacist, clock):
    """The label's minimum age refuses the course in the domain; the form only shows why (and stores nothing)."""
    from datetime import timedelta

    courses = CourseService(service)
    view = CourseView(service, pharmacist, courses=courses)
    qtbot.addWidget(view)
    view.resize(1280, 700)
    view.show()
    show(qtbot, view, "MRN7008")
    infant = (clock.now().date() - timedelta(days=183)).isoformat()
    message = fill_form(qtbot, view, "new", drug="BESPONSA (inotuzumab ozogamicin)", hsct="no", dob=infant)
    assert "under 1 year" in message and "not overridden" in message, message
    assert courses.course("MRN7008") is None


def _view(qtbot, service, pharmacist, courses):
    view = CourseView(service, pharmacist, courses=courses)
    qtbot.addWidget(view)
    view.resize(1280, 700)
    view.show()
    return view


def _shown_words(forms) -> str:
    """Every text the course forms show: action titles, row labels, check boxes, placeholders, combo items."""
    from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QLineEdit

    texts = [forms.action.itemText(i) for i in range(forms.action.count())]
    for widget in forms.findChildren(QLabel) + forms.findChildren(QCheckBox):
        texts.append(widget.text())
    texts += [edit.placeholderText() for edit in forms.findChildren(QLineEdit)]
    for combo in forms.findChildren(QComboBox):
        if combo is not forms.fields["new"]["drug"]:
            texts += [combo.itemText(i) for i in range(combo.count())]
    return "\n".join(texts)


def test_with_several_drugs_and_none_picked_the_forms_compute_nothing_of_a_guessed_drug(qtbot, service, pharmacist):
    # Issue 17: with nothing picked the forms took the first drug installed (MYLOTARG, no regimen) and
    # failed to open (DataFileError cycles.first_cycle_extended_length); before that, the site's default
    # drug (BESPONSA) worded every form. Now the service names no drug, so the forms offer and word
    # nothing that is a drug's own until one is picked.
    courses = CourseService(service)
    view = _view(qtbot, service, pharmacist, courses)
    show(qtbot, view, "MRN7011")
    forms = view.forms
    assert forms.drug() is None and forms.fields["new"]["drug"].currentData() is None
    action = forms.action
    for key in ("response", "hsct", "extend"):
        assert not action.model().item(action.findData(key)).isEnabled(), key
    assert not forms.fields["start"]["extend"].isVisibleTo(forms)
    assert combo_items(forms.fields["lab"]["cause"]) == [("none of these", None)]
    words = _shown_words(forms)
    for word in ("28 days", "Gilbert", "hemolysis", "CR/CRi", "CRi"):
        assert word not in words, (word, words)
    # Picking a drug shapes the forms for it, from its monograph.
    fill_form(qtbot, view, "new", drug="BESPONSA (inotuzumab ozogamicin)")
    assert forms.drug().id == BESPONSA.id
    days = f"{BESPONSA.magnitude('cycles.first_cycle_extended_length', 'day'):g} days"
    assert forms.fields["start"]["extend"].text() == f"Cycle 1 only: {days}"
    assert action.itemText(action.findData("extend")) == f"Extend cycle 1 to {days}"
    assert [text for text, _key in combo_items(forms.fields["lab"]["cause"])][1:] == BESPONSA.items("dose_modification.liver.exempt_causes")


def test_a_mylotarg_course_shown_gets_no_besponsa_words_in_its_forms(qtbot, service, pharmacist):
    # Sibling of the guessed drug: the forms were worded once, at start-up, for the default drug, so a
    # MYLOTARG course's lab form offered BESPONSA's liver-hold exemptions (Gilbert's syndrome, hemolysis)
    # and its start form BESPONSA's extended cycle 1 ("Cycle 1 only: 28 days").
    courses = CourseService(service)
    courses.new_course("MRN7012", False, pharmacist, monograph=MYLOTARG, regimen="fractionated")
    view = _view(qtbot, service, pharmacist, courses)
    show(qtbot, view, "MRN7012")
    forms = view.forms
    assert forms.drug().id == MYLOTARG.id
    assert combo_items(forms.fields["lab"]["cause"]) == [("none of these", None)]
    assert not forms.fields["start"]["extend"].isVisibleTo(forms)
    words = _shown_words(forms)
    for word in ("28 days", "Gilbert", "hemolysis", "CR/CRi", "CRi"):
        assert word not in words, (word, words)
    assert "Cycle started" in fill_form(qtbot, view, "start", date="2026-01-16")
